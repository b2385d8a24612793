/**
 * The instance lifecycle as one pure, table-driven function (business rules 3.1; interfaces 3.3–3.6).
 *
 * Every callback that touches an existing instance is turned into a LifecycleEvent and looked up in
 * TABLE[state][event]. The cell says whether the event changes the instance (`apply`, possibly into the
 * same state, e.g. a renewal), is an idempotent repeat or an out-of-order arrival that must simply be
 * acknowledged (`noop`), or must be refused with a marketplace result code (`reject`).
 * Nothing here reads a clock, a table or the network, so the whole matrix is unit-tested.
 */
import { ResultCode } from '#shared/protocol/resultCodes';

export const LIFECYCLE_STATES = ['PROVISIONING', 'ACTIVE', 'FROZEN', 'RELEASED', 'FAILED'] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

export const LIFECYCLE_EVENTS = [
  /** newInstance again for an order line that already has an instance */
  'CREATE',
  /** the provisioner finished (synchronously or later) */
  'PROVISIONED',
  /** the provisioner gave up for good */
  'PROVISION_FAILED',
  /** refreshInstance: any scene; the new expiry is data, not a state */
  'RENEW',
  'FREEZE',
  'UNFREEZE',
  'RELEASE',
  /** upgradeInstance (new spec read from the upgrade order) */
  'UPGRADE',
  /** timer (expiryFreeze): a yearly/monthly instance is still ACTIVE past its expiry plus the grace period */
  'EXPIRED',
  /** timer (resourceRelease): an instance has been FROZEN longer than its product's retention period */
  'RETENTION_ENDED',
] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

export type Decision =
  | { kind: 'apply'; to: LifecycleState }
  | { kind: 'noop'; why: string }
  | { kind: 'reject'; code: ResultCode; why: string };

/** A table cell: its decision, and what differs for an instance whose tenant does not exist yet or for a debug call. */
export type Cell = Decision & {
  /** the tenant was never provisioned (e.g. the instance was frozen while provisioning ran) */
  whenUnprovisioned?: Decision;
  /** a console debug call (testFlag=1) on a debug instance */
  whenDebug?: Decision;
  /** a timer event whose condition no longer holds when the instance is read again (a renewal won the race) */
  whenNotDue?: Decision;
  /** the instance was frozen by our expiry timer, not by the marketplace (which will send no UNFREEZE) */
  whenFrozenLocally?: Decision;
};

const apply = (to: LifecycleState): Decision => ({ kind: 'apply', to });
const noop = (why: string): Decision => ({ kind: 'noop', why });
const gone = (why: string): Decision => ({ kind: 'reject', code: ResultCode.INSTANCE_NOT_FOUND, why });

const RELEASED = gone('instance has been released');
const NEVER_DELIVERED = gone('instance failed to provision and was never delivered');

/** The documented table. Keep README section "Lifecycle" in step with it. */
export const TABLE: Readonly<Record<LifecycleState, Readonly<Record<LifecycleEvent, Cell>>>> = {
  PROVISIONING: {
    CREATE: noop('provisioning is still running'),
    PROVISIONED: apply('ACTIVE'),
    PROVISION_FAILED: apply('FAILED'),
    RENEW: apply('PROVISIONING'),
    FREEZE: apply('FROZEN'),
    UNFREEZE: noop('instance is not frozen'),
    RELEASE: apply('RELEASED'),
    UPGRADE: apply('PROVISIONING'),
    // an unfinished provisioning has the provisioning timer, not these; should one arrive, it waits
    EXPIRED: noop('instance is still provisioning'),
    RETENTION_ENDED: noop('instance is still provisioning'),
  },
  ACTIVE: {
    CREATE: noop('instance already exists for this order line'),
    PROVISIONED: noop('instance is already provisioned'),
    PROVISION_FAILED: noop('instance is already provisioned'),
    RENEW: apply('ACTIVE'),
    FREEZE: apply('FROZEN'),
    UNFREEZE: noop('instance is not frozen'),
    RELEASE: apply('RELEASED'),
    UPGRADE: apply('ACTIVE'),
    // the safety net when the marketplace's FREEZE never arrived; a renewal that came first wins
    EXPIRED: { ...apply('FROZEN'), whenNotDue: noop('instance was renewed before the freeze') },
    RETENTION_ENDED: noop('instance is active (unfrozen after a renewal)'),
  },
  FROZEN: {
    CREATE: noop('instance already exists for this order line'),
    // The tenant finished provisioning while frozen: keep it frozen, the unfreeze will activate it.
    // A late second completion must not replace the tenant already recorded.
    PROVISIONED: { ...noop('tenant already recorded'), whenUnprovisioned: apply('FROZEN') },
    PROVISION_FAILED: { ...noop('instance is provisioned'), whenUnprovisioned: apply('FAILED') },
    // A renewal only moves the expiry; the marketplace sends UNFREEZE separately (business rules 3.1).
    // An instance frozen by our own expiry timer gets no UNFREEZE (the marketplace never froze it):
    // the renewal restores it.
    RENEW: { ...apply('FROZEN'), whenFrozenLocally: apply('ACTIVE') },
    FREEZE: noop('instance is already frozen'),
    UNFREEZE: { ...apply('ACTIVE'), whenUnprovisioned: apply('PROVISIONING') },
    RELEASE: apply('RELEASED'),
    UPGRADE: apply('FROZEN'),
    EXPIRED: noop('instance is already frozen'),
    // the safety net when the marketplace's release never arrived; a renewal that came first wins
    RETENTION_ENDED: { ...apply('RELEASED'), whenNotDue: noop('instance was renewed during its retention period') },
  },
  RELEASED: {
    // Dial tests replay the same saved cases (same mock order line) every day, release included: a
    // debug newInstance on a released debug instance starts its next cycle under the same id.
    CREATE: { ...noop('instance was released; the order line keeps its instance id'), whenDebug: apply('PROVISIONING') },
    PROVISIONED: noop('instance was released before provisioning finished'),
    PROVISION_FAILED: noop('instance was released'),
    RENEW: RELEASED,
    // A late freeze (its retries outlived the release) changes nothing: released is final.
    FREEZE: noop('instance is already released'),
    UNFREEZE: RELEASED,
    RELEASE: noop('instance is already released'),
    UPGRADE: RELEASED,
    EXPIRED: noop('instance is already released'),
    RETENTION_ENDED: noop('instance is already released'),
  },
  FAILED: {
    // The marketplace resends newInstance: try to provision again.
    CREATE: apply('PROVISIONING'),
    PROVISIONED: apply('ACTIVE'),
    PROVISION_FAILED: noop('instance already failed'),
    RENEW: NEVER_DELIVERED,
    FREEZE: noop('instance failed to provision; nothing to freeze'),
    UNFREEZE: NEVER_DELIVERED,
    RELEASE: apply('RELEASED'),
    UPGRADE: NEVER_DELIVERED,
    EXPIRED: noop('instance failed to provision; nothing to freeze'),
    RETENTION_ENDED: noop('instance failed to provision; nothing to release'),
  },
};

const UNKNOWN = { kind: 'reject', code: ResultCode.INSTANCE_NOT_FOUND, why: 'instance not found' } as const;

export interface Facts {
  /** the tenant exists (app info recorded); default true */
  provisioned?: boolean;
  /** a console debug call (testFlag=1) on a debug instance; default false */
  debug?: boolean;
  /** a timer event's condition still holds on the instance as read now; default true */
  due?: boolean;
  /** frozen by our expiry timer rather than by the marketplace; default false */
  frozenLocally?: boolean;
}

/** Decides what an event does to an instance. `state` undefined = the instance id was never seen. */
export function decide(state: undefined, event: LifecycleEvent, facts?: Facts): Extract<Decision, { kind: 'reject' }>;
export function decide(state: LifecycleState | undefined, event: LifecycleEvent, facts?: Facts): Decision & { from?: LifecycleState };
export function decide(
  state: LifecycleState | undefined,
  event: LifecycleEvent,
  { provisioned = true, debug = false, due = true, frozenLocally = false }: Facts = {},
): Decision & { from?: LifecycleState } {
  if (state === undefined) return UNKNOWN;
  const { whenUnprovisioned, whenDebug, whenNotDue, whenFrozenLocally, ...cell } = TABLE[state][event];
  const decision =
    (!due && whenNotDue) ||
    (debug && whenDebug) ||
    (!provisioned && whenUnprovisioned) ||
    (frozenLocally && whenFrozenLocally) ||
    (cell as Decision);
  return { ...decision, from: state };
}
