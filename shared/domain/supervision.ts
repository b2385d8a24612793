/**
 * Service supervision of hardware orders, mirrored (business rules 1.4 Hardware, 1.7 T1). The platform
 * accepts a hardware order automatically 10 days after the carrier reports the parcel signed for,
 * unless the phone on the waybill differs from the phone the buyer entered (then it cannot track the
 * parcel and never auto-accepts: the merchant must remind the buyer), the buyer rejected, or an appeal
 * is open. We keep the same record so that operators see what the platform will do and when.
 *
 * The state machine is one pure table, like the instance lifecycle; every change is one conditional
 * write (version) with its audit record.
 */
import type { BuyerContact } from './instance.ts';
import { after, DAY_MS, HOUR_MS, type Due } from './timers.ts';

export const SUPERVISION_STATES = ['AWAITING_SHIPMENT', 'SHIPPED', 'SIGNED', 'ACCEPTED', 'REJECTED', 'APPEALED'] as const;
export type SupervisionState = (typeof SUPERVISION_STATES)[number];

export const SUPERVISION_EVENTS = ['SHIP', 'SIGN', 'ACCEPT', 'REJECT', 'APPEAL', 'AUTO_ACCEPT'] as const;
export type SupervisionEvent = (typeof SUPERVISION_EVENTS)[number];

/** The platform's delay between sign-off and automatic acceptance (calendar days, Uncertain 7.1). */
export const AUTO_ACCEPT_AFTER_MS = 10 * DAY_MS;
/** Orders are COMPLETED on the platform within 3 h of acceptance (T2). */
export const COMPLETION_LAG_MS = 3 * HOUR_MS;
/** A buyer is reminded to accept at most once a day. */
export const REMINDER_INTERVAL_MS = DAY_MS;
/** A reminder that could not be sent is tried again after this. */
export const REMINDER_RETRY_MS = HOUR_MS;

export type SupervisionDecision = { kind: 'apply'; to: SupervisionState } | { kind: 'noop'; why: string } | { kind: 'refuse'; why: string };

const to = (state: SupervisionState): SupervisionDecision => ({ kind: 'apply', to: state });
const noop = (why: string): SupervisionDecision => ({ kind: 'noop', why });
const refuse = (why: string): SupervisionDecision => ({ kind: 'refuse', why });

const ACCEPTED_FINAL = refuse('the order is accepted; supervision is over');

/** The documented table (README "Hardware orders"). */
export const SUPERVISION_TABLE: Readonly<Record<SupervisionState, Readonly<Record<SupervisionEvent, SupervisionDecision>>>> = {
  AWAITING_SHIPMENT: {
    SHIP: to('SHIPPED'),
    SIGN: refuse('record the shipment before its sign-off'),
    ACCEPT: refuse('nothing has been shipped yet'),
    REJECT: refuse('nothing has been shipped yet'),
    APPEAL: to('APPEALED'),
    AUTO_ACCEPT: noop('not signed for'),
  },
  SHIPPED: {
    // correcting the carrier or tracking number before sign-off
    SHIP: to('SHIPPED'),
    SIGN: to('SIGNED'),
    ACCEPT: to('ACCEPTED'),
    REJECT: to('REJECTED'),
    APPEAL: to('APPEALED'),
    AUTO_ACCEPT: noop('not signed for'),
  },
  SIGNED: {
    SHIP: refuse('the parcel was signed for; a new shipment needs a rejection first'),
    // correcting the sign-off time
    SIGN: to('SIGNED'),
    ACCEPT: to('ACCEPTED'),
    REJECT: to('REJECTED'),
    APPEAL: to('APPEALED'),
    AUTO_ACCEPT: to('ACCEPTED'),
  },
  ACCEPTED: {
    SHIP: ACCEPTED_FINAL,
    SIGN: ACCEPTED_FINAL,
    ACCEPT: noop('already accepted'),
    REJECT: ACCEPTED_FINAL,
    APPEAL: ACCEPTED_FINAL,
    AUTO_ACCEPT: noop('already accepted'),
  },
  // back to the merchant: ship again (Uncertain 7.3)
  REJECTED: {
    SHIP: to('SHIPPED'),
    SIGN: refuse('the buyer rejected the delivery; record the new shipment first'),
    ACCEPT: to('ACCEPTED'),
    REJECT: noop('already rejected'),
    APPEAL: to('APPEALED'),
    AUTO_ACCEPT: noop('the buyer rejected the delivery'),
  },
  // an open appeal freezes the flow until it is resolved by an acceptance, a rejection or a new shipment
  APPEALED: {
    SHIP: to('SHIPPED'),
    SIGN: refuse('an appeal is open'),
    ACCEPT: to('ACCEPTED'),
    REJECT: to('REJECTED'),
    APPEAL: noop('an appeal is already open'),
    AUTO_ACCEPT: noop('an appeal is open'),
  },
};

export const decideSupervision = (state: SupervisionState, event: SupervisionEvent): SupervisionDecision => SUPERVISION_TABLE[state][event];

export interface HardwareOrder {
  orderId: string;
  orderLineId: string;
  state: SupervisionState;
  testFlag: boolean;
  productId?: string;
  skuCode?: string;
  /** the buyer's phone from the order (personal data: sealed at rest, never logged or shown) */
  buyerPhone?: string;
  carrier?: string;
  trackingNumber?: string;
  /** the phone printed on the waybill (personal data) */
  waybillPhone?: string;
  /** waybill phone = buyer's phone: the platform can track the parcel and will auto-accept */
  phoneMatch?: boolean;
  shippedAt?: string;
  signedAt?: string;
  acceptedAt?: string;
  acceptedBy?: 'buyer' | 'auto';
  /** the platform should show COMPLETED by then (T2) */
  expectedCompletedBy?: string;
  rejectionCount: number;
  appealedAt?: string;
  remindersSent: number;
  /** reminders that could not be sent (the notifier failed) */
  reminderFailures?: number;
  lastReminderAt?: string;
  nextReminderAt?: string;
  stateReason?: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** What a hardware order waits for: automatic acceptance, or the next reminder when it never comes. */
export function supervisionDue(order: HardwareOrder): Due | undefined {
  if (order.state !== 'SIGNED' || !order.signedAt) return undefined;
  if (order.phoneMatch) return { kind: 'ACCEPT', at: after(order.signedAt, AUTO_ACCEPT_AFTER_MS) };
  return { kind: 'REMIND', at: order.nextReminderAt ?? order.signedAt };
}

/** Digits only, without the China country code: `+86 186-1234-5678` = `18612345678`. */
export function normalizePhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.startsWith('0086') && digits.length === 15) return digits.slice(4);
  if (digits.startsWith('86') && digits.length === 13) return digits.slice(2);
  return digits;
}

/** An unknown phone on either side is a mismatch: the platform could not track it either. */
export const phonesMatch = (buyer?: string, waybill?: string): boolean =>
  Boolean(buyer && waybill && normalizePhone(buyer).length > 0 && normalizePhone(buyer) === normalizePhone(waybill));

/** `186****5678`: what an operator sees of a phone number. */
export function maskPhone(phone?: string): string | undefined {
  if (!phone) return undefined;
  const digits = normalizePhone(phone);
  return digits.length >= 7 ? `${digits.slice(0, 3)}****${digits.slice(-4)}` : '****';
}

export const newHardwareOrder = (args: {
  orderId: string;
  orderLineId: string;
  testFlag: boolean;
  productId?: string;
  skuCode?: string;
  buyer?: BuyerContact;
  now: Date;
}): HardwareOrder => ({
  orderId: args.orderId,
  orderLineId: args.orderLineId,
  state: 'AWAITING_SHIPMENT',
  testFlag: args.testFlag,
  ...(args.productId ? { productId: args.productId } : {}),
  ...(args.skuCode ? { skuCode: args.skuCode } : {}),
  ...(args.buyer?.mobilePhone ? { buyerPhone: args.buyer.mobilePhone } : {}),
  rejectionCount: 0,
  remindersSent: 0,
  createdAt: args.now.toISOString(),
  updatedAt: args.now.toISOString(),
  version: 1,
});
