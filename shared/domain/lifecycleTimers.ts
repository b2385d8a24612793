/**
 * The safety nets behind the marketplace's own lifecycle calls (business rules 3.2, 3.7 T6/T7): the
 * marketplace stops retrying a failed FREEZE or release after one to three hours, so an instance could
 * run past its paid time or stay frozen forever. These jobs apply the timer events EXPIRED and
 * RETENTION_ENDED through the same lifecycle table and commit loop as the callbacks; a renewal that
 * arrives first (or concurrently) always wins, because the job re-checks the timer on the instance it
 * read before each conditional write.
 */
import { raiseQuietly } from './alerts.ts';
import type { Services } from './call.ts';
import type { Instance } from './instance.ts';
import { applyEvent } from './instances.ts';
import { jobReceipt, runDueJob, type ItemOutcome, type JobSummary } from './jobs.ts';
import type { LifecycleEvent } from './lifecycle.ts';
import type { DueRef } from './repository.ts';
import { isInstanceDue, type ReleaseMode, type TimerKind } from './timers.ts';

/** how long a job waits for the product's lifecycle hook on one instance */
const HOOK_BUDGET_MS = 30_000;

const hours = (ms: number) => `${Math.round((ms / 3_600_000) * 10) / 10} h`;

/**
 * expiryFreeze: yearly/monthly instances still ACTIVE past expiry + grace are frozen locally. An instance
 * renewed while frozen whose UNFREEZE has not come for a day is reported (once): the buyer has paid.
 */
export function freezeExpired(svc: Services, now: Date, timeLeftMs?: () => number): Promise<JobSummary> {
  const grace = svc.settings.timers.expiryGraceMs;
  return runTimerEvent(svc, {
    other: async (instance) => {
      if (instance.status !== 'FROZEN') return undefined;
      if (!isInstanceDue(instance, 'EXPIRY', now, svc.settings.timers)) return 'skipped';
      const noted = await svc.store.saveInstance({ ...instance, stillFrozenAlertedAt: now.toISOString() }, instance.version);
      if (!noted) return 'skipped';
      await raiseQuietly(svc.alerts, svc.logger, {
        kind: 'renewed-but-frozen',
        subject: { instanceId: instance.instanceId, orderId: instance.orderId },
        message: `renewed at ${instance.renewedWhileFrozenAt} (expiry ${instance.expireTime}) but still frozen: the marketplace's UNFREEZE never arrived; restart it in the seller console`,
      });
      return 'done';
    },
    job: 'expiryFreeze',
    kind: 'EXPIRY',
    event: 'EXPIRED',
    now,
    timeLeftMs,
    change: (i) => ({
      frozenLocally: true,
      statusReason: `expiryFreeze: still active ${hours(grace)} after its expiry ${i.expireTime} with no renewal`,
    }),
    alert: 'instance-frozen-locally',
    message: (i) =>
      `frozen by the expiry safety net: expiry ${i.expireTime} + ${hours(grace)} passed without FREEZE or renewal; check the seller console for failed calls`,
  });
}

/**
 * resourceRelease: instances FROZEN longer than their product's retention are released and the product
 * is told to delete the tenant's data (its lifecycle hook). In `report` mode nothing changes: each due
 * instance is only reported.
 */
export function releaseRetained(svc: Services, now: Date, mode: ReleaseMode, timeLeftMs?: () => number): Promise<JobSummary> {
  if (mode === 'report') {
    return runDueJob(svc, {
      job: 'resourceRelease',
      kind: 'RELEASE',
      now,
      timeLeftMs,
      handle: async (item) => {
        const instance = await svc.store.getInstance(instanceIdOf(item));
        if (!instance || !isInstanceDue(instance, 'RELEASE', now, svc.settings.timers)) return 'skipped';
        // reported once a day, not at every hourly run (a conditional write: two runs report once)
        const reported = await svc.store.saveInstance({ ...instance, releaseReportedAt: now.toISOString() }, instance.version);
        if (!reported) return 'skipped';
        await raiseQuietly(svc.alerts, svc.logger, {
          kind: 'instance-release-due',
          subject: { instanceId: instance.instanceId, orderId: instance.orderId },
          message: `frozen since ${instance.frozenAt} and past its retention; report mode: not released`,
        });
        return 'done';
      },
    });
  }
  return runTimerEvent(svc, {
    job: 'resourceRelease',
    kind: 'RELEASE',
    event: 'RETENTION_ENDED',
    now,
    timeLeftMs,
    change: (i) => ({
      releasedAt: now.toISOString(),
      provisioningDueAt: undefined,
      statusReason: `resourceRelease: frozen since ${i.frozenAt}, past its retention with no renewal or release call`,
    }),
    alert: 'instance-released-locally',
    message: (i) => `released by the retention safety net (frozen since ${i.frozenAt}); the product is told to delete the tenant's data`,
  });
}

interface TimerEventJob {
  /** handles an instance the timer event is not for (undefined: apply the event) */
  other?: (instance: Instance) => Promise<ItemOutcome | undefined>;
  job: string;
  kind: TimerKind;
  event: LifecycleEvent;
  now: Date;
  timeLeftMs?: () => number;
  change: (instance: Instance) => Partial<Instance>;
  alert: string;
  message: (instance: Instance) => string;
}

function runTimerEvent(svc: Services, t: TimerEventJob): Promise<JobSummary> {
  return runDueJob(svc, {
    job: t.job,
    kind: t.kind,
    now: t.now,
    timeLeftMs: t.timeLeftMs,
    // an item may wait for the product's hook
    itemBudgetMs: HOOK_BUDGET_MS + 5000,
    handle: async (item) => {
      const instanceId = instanceIdOf(item);
      const current = await svc.store.getInstance(instanceId);
      const handled = current && (await t.other?.(current));
      if (handled) return handled;
      const outcome = await applyEvent(svc, instanceId, t.event, {
        current,
        now: t.now,
        deadline: Date.now() + HOOK_BUDGET_MS,
        facts: (i) => ({ due: isInstanceDue(i, t.kind, t.now, svc.settings.timers) }),
        change: t.change,
        // only a change is audited: a skipped item writes nothing
        receipt: (o) =>
          o.kind === 'applied' ? jobReceipt(t.job, t.now, o.after.statusReason ?? t.job, { instanceId, orderId: o.after.orderId, testFlag: o.after.testFlag }) : undefined,
      });
      if (outcome.kind !== 'applied') return 'skipped';
      const subject = { instanceId, orderId: outcome.after.orderId };
      if (outcome.hook === 'failed' || outcome.hook === 'running')
        // the state is recorded but the product may not have acted (blocked access, deleted the data):
        // nothing retries the hook yet, so a person must (even for debug instances)
        await raiseQuietly(svc.alerts, svc.logger, {
          kind: 'product-hook-failed',
          subject,
          message: `${t.job}: the instance is ${outcome.after.status} but the product's lifecycle hook ${outcome.hook === 'failed' ? 'failed' : `did not finish within ${HOOK_BUDGET_MS / 1000} s`}; make the product act on it`,
        });
      const alert = { kind: t.alert, subject, message: t.message(outcome.before) };
      // console debug instances (dial tests on mock orders that expired long ago) follow the same
      // timers, but nobody is paged for them
      if (outcome.after.testFlag) svc.logger.info(`debug instance: ${alert.message}`, alert.subject);
      else await raiseQuietly(svc.alerts, svc.logger, alert);
      return 'done';
    },
  });
}

const instanceIdOf = (item: DueRef) => {
  if (!item.instanceId) throw new Error(`due item ${item.pk}/${item.sk} has no instance id`);
  return item.instanceId;
};
