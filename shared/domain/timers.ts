/**
 * What falls due when (business rules 1.7, 2.4, 2.2, 3.7). Every item that has timed work carries ONE
 * (kind, dueAt) pair, derived here from its own state; storage puts the pair on the sparse byDue index
 * and the scheduled jobs query that index by kind and time. An item whose state has nothing due is not
 * on the index at all, so a job reads only due work, never the table.
 */
import { createHash } from 'node:crypto';
import { awaitsTenant, type Instance } from './instance.ts';

export const TIMER_KINDS = [
  /** unfinished provisioning, retried (resumeProvisioning) */
  'PROVISION',
  /** a provisioning that may still be running 2 h after its first newInstance (provisioningWatch) */
  'WATCH',
  /** yearly/monthly instance past its expiry plus grace; or renewed while frozen without UNFREEZE (expiryFreeze) */
  'EXPIRY',
  /** frozen instance past its retention period (resourceRelease) */
  'RELEASE',
  /** hardware order signed for: automatic acceptance (hardwareAutoAccept) */
  'ACCEPT',
  /** hardware order whose waybill phone differs: remind the buyer (hardwareAutoAccept) */
  'REMIND',
  /** a package's rebuy intent not yet handed to the notifier (autoRebuyCheck) */
  'REBUY',
  /** an hour of on-demand usage not yet pushed to the marketplace (usagePush) */
  'PUSH',
  /** a live instance's daily comparison with its marketplace order (reconcile): a marker item per instance */
  'RECONCILE',
] as const;
export type TimerKind = (typeof TIMER_KINDS)[number];

export interface Due {
  kind: TimerKind;
  /** ISO instant */
  at: string;
}

/** resourceRelease: release instances past their retention, or only report them */
export type ReleaseMode = 'release' | 'report';

export interface InstanceTimerPolicy {
  /** how long after its expiry a yearly/monthly instance may stay ACTIVE before we freeze it ourselves */
  expiryGraceMs: number;
  /** how long an instance stays FROZEN before we release it ourselves (the product's retention + margin) */
  retentionMs(instance: Instance): number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** Defaults of business rules 3.2 / 3.7: 2 h grace, 15 days of freeze + 1 day margin. */
export const DEFAULT_INSTANCE_TIMERS: InstanceTimerPolicy = {
  expiryGraceMs: 2 * HOUR_MS,
  retentionMs: () => 16 * DAY_MS,
};

export const after = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
/** The later of two ISO instants (the second may be absent). */
export const latest = (a: string, b?: string) => (b && Date.parse(b) > Date.parse(a) ? b : a);

/**
 * After an UNFREEZE the marketplace's refreshInstance (the renewal that was paid) may arrive later or
 * be lost: the old expiry is not acted on for this long after the unfreeze.
 */
export const RENEWAL_AFTER_UNFREEZE_MS = DAY_MS;

/** The one thing an instance waits for in its current state, if any. */
export function instanceDue(instance: Instance, policy: InstanceTimerPolicy = DEFAULT_INSTANCE_TIMERS): Due | undefined {
  // unfinished provisioning stays due, also while frozen (it completes into FROZEN)
  if (awaitsTenant(instance)) return instance.provisioningDueAt ? { kind: 'PROVISION', at: instance.provisioningDueAt } : undefined;
  if (instance.status === 'ACTIVE' && instance.chargingMode === 'PERIOD' && instance.expireTime) {
    // unfrozen by the marketplace: a renewal was paid, its refreshInstance may arrive after the UNFREEZE
    const expiry = latest(instance.expireTime, instance.unfrozenAt && after(instance.unfrozenAt, RENEWAL_AFTER_UNFREEZE_MS));
    return { kind: 'EXPIRY', at: after(expiry, policy.expiryGraceMs) };
  }
  // counted from the freeze, or from the expiry when the instance was renewed (or frozen for another
  // reason) before its expiry: a renewal that arrived first wins even if the UNFREEZE is lost
  // renewed while frozen and the UNFREEZE has not come for a day: expiryFreeze tells an operator (once)
  if (instance.status === 'FROZEN' && instance.renewedWhileFrozenAt && !instance.stillFrozenAlertedAt)
    return { kind: 'EXPIRY', at: after(instance.renewedWhileFrozenAt, RENEWAL_AFTER_UNFREEZE_MS) };
  if (instance.status === 'FROZEN' && instance.frozenAt) {
    const retained = after(latest(instance.frozenAt, instance.expireTime), policy.retentionMs(instance));
    return { kind: 'RELEASE', at: latest(retained, instance.releaseReportedAt && after(instance.releaseReportedAt, DAY_MS)) };
  }
  return undefined;
}

/** Whether `kind` is still due on the instance as it is now (the job re-reads before it acts). */
export function isInstanceDue(instance: Instance, kind: TimerKind, now: Date, policy?: InstanceTimerPolicy): boolean {
  const due = instanceDue(instance, policy);
  return due?.kind === kind && due.at <= now.toISOString();
}

/**
 * reconcile: every live instance is compared with its marketplace order once a day, at its own time of
 * day (a hash of its id, to the second), so the query-order calls spread over the day instead of all
 * falling due at midnight.
 */
export function reconcileSlotMs(instanceId: string): number {
  return (createHash('sha256').update(`RECONCILE#${instanceId}`).digest().readUInt32BE(0) % (DAY_MS / 1000)) * 1000;
}

/** The instance's next daily reconciliation strictly after `after` (ISO instant). */
export function nextReconcileAt(instanceId: string, after: Date | string): string {
  const from = typeof after === 'string' ? Date.parse(after) : after.getTime();
  let at = Math.floor(from / DAY_MS) * DAY_MS + reconcileSlotMs(instanceId);
  if (at <= from) at += DAY_MS;
  return new Date(at).toISOString();
}

/**
 * Whether an instance is reconciled with the marketplace at all: it is not released (released is final)
 * and not a console debug instance (its mock order is canned data that never matches it).
 */
export const isReconciled = (instance: Pick<Instance, 'status' | 'testFlag'>): boolean => !instance.testFlag && instance.status !== 'RELEASED';
