/**
 * The notifier port: how the buyer and the merchant's sales side hear of things that need a person.
 * The default (shared/notify/notifier.ts) records each notification in the table and logs an event
 * for it; the merchant replaces it in shared/product/notifier.ts to send SMS / e-mail / in-site
 * messages or to call their ordering system. Throwing means "not delivered": the caller records the
 * failure with its reason and retries or escalates.
 */
import type { Threshold } from './catalogue.ts';
import type { BuyerContact } from './instance.ts';

export type BuyerChannel = 'sms' | 'email' | 'in-site';

export interface BuyerNotice {
  kind: 'accept-reminder' | 'rebuy-failed' | 'package-exhausted';
  /** where to reach the buyer (personal data: the notifier must not log it) */
  to: BuyerContact;
  /** ids of what the notice is about */
  subject: Record<string, string | undefined>;
  message: string;
}

/** A package reached its threshold with auto-rebuy on: buy the next package (once per generation). */
export interface RebuyIntent {
  /** stable id: instance + package generation (de-duplicate on it) */
  intentId: string;
  instanceId: string;
  orderId: string;
  generation: string;
  quota: number;
  remaining: number;
  threshold: Threshold;
  productId?: string;
  skuCode?: string;
  customerId?: string;
  raisedAt: string;
}

export interface Notifier {
  /** the channel buyer notices go out on (config BUYER_NOTICE_CHANNEL) */
  channel: BuyerChannel;
  notifyBuyer(notice: BuyerNotice): Promise<void>;
  rebuy(intent: RebuyIntent): Promise<void>;
}

/** A notification as recorded by the default notifier (no contact data: only that there was one). */
export interface NotificationRecord {
  id: string;
  kind: string;
  channel?: BuyerChannel;
  subject: Record<string, string | undefined>;
  message: string;
  at: string;
}
