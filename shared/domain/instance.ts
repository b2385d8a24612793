/** The instance as the domain sees it (spec 3.15). Storage seals the secret parts at rest. */
import type { LifecycleState } from './lifecycle.ts';

/** Access information shown to the buyer (spec 3.2 AppInfo); plain text in V2 responses. */
export interface AppInfo {
  frontEndUrl: string;
  adminUrl?: string;
  userName?: string;
  password?: string;
  memo?: string;
}

/** The app info with its absent members left out (as the product or a parser may give them undefined). */
export function appInfoOf({ frontEndUrl, adminUrl, userName, password, memo }: AppInfo): AppInfo {
  return {
    frontEndUrl,
    ...(adminUrl !== undefined ? { adminUrl } : {}),
    ...(userName !== undefined ? { userName } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(memo !== undefined ? { memo } : {}),
  };
}

export interface ProductSpec {
  productId?: string;
  skuCode?: string;
  linearValue?: number;
  productName?: string;
}

/** Buyer contact data from the order (personal data: sealed at rest, never logged). */
export interface BuyerContact {
  customerId?: string;
  customerName?: string;
  mobilePhone?: string;
  email?: string;
}

export interface Instance {
  instanceId: string;
  /** the order line that created the instance (idempotency key of newInstance) */
  orderId: string;
  orderLineId: string;
  status: LifecycleState;
  /** why the last state change happened (callback name, scene, unsubscription order…) */
  statusReason?: string;
  /** created by a console debug call (testFlag=1): never a real tenant */
  testFlag: boolean;
  chargingMode: string;
  periodType?: string;
  periodNumber?: number;
  trial: boolean;
  /** ISO instant; the marketplace's refreshInstance is the authority, the order's value an estimate */
  expireTime?: string;
  product: ProductSpec;
  buyer?: BuyerContact;
  appInfo?: AppInfo;
  /** keys of the order operations already applied (refresh scene, upgrade, release…), for idempotency */
  appliedOps: string[];
  provisioningAttempts: number;
  /** when an unfinished provisioning should be picked up again (scheduled job) */
  provisioningDueAt?: string;
  frozenAt?: string;
  /** frozen by our expiryFreeze timer (the marketplace's FREEZE never arrived): a renewal unfreezes it */
  frozenLocally?: boolean;
  /** a renewal arrived while the marketplace had it frozen: its UNFREEZE is expected */
  renewedWhileFrozenAt?: string;
  /** the expected UNFREEZE did not come within a day and an operator was told */
  stillFrozenAlertedAt?: string;
  /** resourceRelease in report mode reported it (again a day later, not every hour) */
  releaseReportedAt?: string;
  /** when the instance last left FROZEN (the expiry timer waits for the renewal's refreshInstance) */
  unfrozenAt?: string;
  releasedAt?: string;
  createdAt: string;
  updatedAt: string;
  /** optimistic-concurrency counter: every write is conditional on the version it read */
  version: number;
}

/**
 * The instance is waiting for its tenant: provisioning has not finished (it may have been frozen
 * meanwhile). Such an instance answers 000004, stays on the byDue index, and is resumed when due.
 */
export const awaitsTenant = (instance: Pick<Instance, 'appInfo' | 'status'>): boolean =>
  !instance.appInfo && (instance.status === 'PROVISIONING' || instance.status === 'FROZEN');
