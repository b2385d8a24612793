/**
 * The storage port: what the domain needs from the table. shared/storage/store.ts implements it with
 * DynamoDB; every write method commits the domain change together with the call's receipt (nonce +
 * audit record) in one conditional transaction and throws when the nonce was already used.
 */
import type { BuyerContact, Instance } from './instance.ts';
import type { Meter } from './metering.ts';
import type { NotificationRecord } from './notifier.ts';
import type { HardwareOrder } from './supervision.ts';
import type { TimerKind } from './timers.ts';

/** What is recorded about every inbound call that passed signature verification. */
export interface CallReceipt {
  nonce: string;
  receivedAt: Date;
  activity: string;
  resultCode: string;
  resultMsg: string;
  testFlag: boolean;
  instanceId?: string;
  orderId?: string;
  orderLineId?: string;
  /** joint-operation Kit calls: the tenant they concern (their audit records live there) */
  tenantId?: string;
  /** how long this call's nonce must be remembered, when longer than the store's default */
  nonceTtlSeconds?: number;
  /**
   * The call's nonce was stored by its first write (the claim of newInstance); this later write of the
   * same call only rewrites its audit record with the final answer.
   */
  nonceRecorded?: boolean;
  /**
   * The request as it arrived, for redrive (shared/storage/failedCallEntities.ts): when the answer is a
   * failure, the receipt's transaction also keeps it, sealed. Absent for jobs and operator calls.
   */
  request?: InboundRequest;
}

/** A verified inbound request, kept (sealed) if it is answered with a failure, so an operator can redrive it. */
export interface InboundRequest {
  /** the route it came by (API Gateway resource): `/produce`, `/license`, `/produce/v1`, `/produceAPI/v2/tenantSync`… */
  route: string;
  /** the body (V2, Kit) or the query parameters without authToken as JSON (V1), sealed; undefined when too large to keep */
  sealed(): string | undefined;
  /** how long a failure is kept for redrive (seconds) */
  keepSeconds: number;
}

/** The nonce of this request was already used (or is in use by a concurrent copy): nothing was written. */
export class NonceReplayError extends Error {
  override readonly name = 'NonceReplayError';
  constructor() {
    super('nonce already used');
  }
}

export interface OrderNotice {
  orderId: string;
  orderLineId: string;
  testFlag: boolean;
  orderType?: string;
  chargingMode?: string;
  /** order as returned by query order, without buyer info */
  order: unknown;
  buyer?: BuyerContact;
  notifiedAt: string;
}

export interface CallRecord {
  activity: string;
  resultCode: string;
  resultMsg: string;
  receivedAt: string;
  testFlag: boolean;
  orderId?: string;
  orderLineId?: string;
}

/** An item found due on the byDue index: its table key and the ids the index projects. */
export interface DueRef {
  pk: string;
  sk: string;
  dueAt: string;
  instanceId?: string;
  orderId?: string;
  orderLineId?: string;
  hour?: string;
}

export interface DueWork {
  items: DueRef[];
  /** index items read to find them (for the bench and the job's counts) */
  read: number;
}

/** One usage record's write (shared/domain/metering.ts). */
export interface UsageCommit {
  instanceId: string;
  key: string;
  hour: string;
  amount: number;
  packageInstanceId?: string;
  meter: Meter;
  expectedVersion: number;
  /** when the hour's bucket falls due for usagePush */
  pushDueAt: string;
  keyExpiresAt: Date;
}

/** An hour of an instance's usage as the usage-push ledger holds it. */
export interface UsageBucket {
  instanceId: string;
  hour: string;
  value: number;
  records: number;
  packageInstanceId?: string;
  state: 'OPEN' | 'SENDING' | 'PUSHED' | 'FAILED' | 'REJECTED' | 'EXPIRED';
  attempts?: number;
  lastError?: string;
  pushedAt?: string;
}

export interface Repository {
  getInstance(instanceId: string): Promise<Instance | undefined>;
  /** up to 100 ids in one batch read */
  getInstances(instanceIds: readonly string[]): Promise<Map<string, Instance>>;
  findInstanceIdByOrderLine(orderId: string, orderLineId: string): Promise<string | undefined>;
  getOrderNotice(orderId: string, orderLineId: string): Promise<OrderNotice | undefined>;
  /** the calls recorded for an instance, newest first */
  history(instanceId: string, limit?: number): Promise<CallRecord[]>;
  /** instances whose unfinished provisioning is due at or before `now` (index, no scan) */
  dueProvisioning(now: Date, limit?: number): Promise<string[]>;
  /** items whose `kind` timer is due at or before `now` (byDue index, all shards, no scan) */
  dueWork(kind: TimerKind, now: Date, limit?: number): Promise<DueWork>;
  /** the provisioning watch of an instance (written by its claim) */
  getWatch(instanceId: string): Promise<{ dueAt?: string; alerts: number } | undefined>;
  /** moves the watch from `expectedDueAt`; false when another run moved it first */
  moveWatch(instanceId: string, expectedDueAt: string, next: { dueAt?: string; alerts: number; expireAt?: Date }): Promise<boolean>;
  /** the daily reconciliation marker of an instance (written with it; off the index once released) */
  getReconcileMarker(instanceId: string): Promise<{ dueAt?: string; checkedAt?: string } | undefined>;
  /** moves the marker from `expectedDueAt` (undefined dueAt: off the index); false when another writer moved it first */
  moveReconcileMarker(instanceId: string, expectedDueAt: string, next: { dueAt?: string; checkedAt?: string; expireAt?: Date }): Promise<boolean>;
  /** a call that changed nothing (reads, repeats, refusals) */
  recordCall(receipt: CallReceipt): Promise<void>;
  /** creates the instance and claims its order line; a concurrent winner's id comes back instead */
  createInstance(instance: Instance, receipt: CallReceipt, watchAt?: string): Promise<{ created: true } | { created: false; instanceId: string }>;
  /** writes the next version if nobody changed the instance since `expectedVersion`: the stored instance, or undefined (lost race) */
  saveInstance(next: Instance, expectedVersion: number, receipt?: CallReceipt): Promise<Instance | undefined>;
  /** a hardware order line opens its supervision record in the same transaction */
  recordOrderNotice(notice: OrderNotice, receipt: CallReceipt, hardware?: HardwareOrder): Promise<'recorded' | 'duplicate'>;
  getHardwareOrder(orderId: string, orderLineId: string): Promise<HardwareOrder | undefined>;
  /** the supervised lines of an order and its notifications */
  describeOrder(orderId: string): Promise<{ lines: HardwareOrder[]; notifications: NotificationRecord[] }>;
  saveHardwareOrder(next: HardwareOrder, expectedVersion: number, receipt?: CallReceipt): Promise<HardwareOrder | undefined>;
  recordNotification(record: NotificationRecord): Promise<void>;
  notifications(instanceId: string): Promise<NotificationRecord[]>;
  getMeter(instanceId: string): Promise<Meter | undefined>;
  /** up to 100 in one batch read */
  getMeters(instanceIds: readonly string[]): Promise<Map<string, Meter>>;
  saveMeter(next: Meter, expectedVersion: number): Promise<Meter | undefined>;
  commitUsage(u: UsageCommit): Promise<'recorded' | 'duplicate' | 'conflict' | 'sealed'>;
  /** whether a usage record with this key was recorded */
  hasUsageKey(instanceId: string, key: string): Promise<boolean>;
  claimBucket(instanceId: string, hour: string, now: string, leaseUntil: string): Promise<UsageBucket | undefined>;
  settleBucket(
    instanceId: string,
    hour: string,
    outcome: { state: 'PUSHED' | 'FAILED' | 'REJECTED' | 'EXPIRED'; retryAt?: string; lastError?: string; pushedAt?: string },
  ): Promise<void>;
}
