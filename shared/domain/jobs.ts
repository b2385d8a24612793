/**
 * How every scheduled job walks its due work (business rules 6): the items of one timer kind due by
 * "now" (the scheduled event's time) are read from the byDue index, then handled with bounded
 * concurrency. Each item's transition is a conditional write made by its handler, so two runs at once
 * (or a run racing a marketplace callback) change an item once. A failure on one item is logged and
 * counted; the item stays due and the next run takes it again. The run stops starting items when it
 * runs out of time (they stay due too).
 */
import pMap from 'p-map';
import type { Services } from './call.ts';
import { errorName } from './errors.ts';
import type { CallReceipt, DueRef } from './repository.ts';
import type { TimerKind } from './timers.ts';

/** What a handler did with one due item. */
export type ItemOutcome = 'done' | 'skipped';

export interface JobSummary {
  job: string;
  now: string;
  /** items found due */
  due: number;
  /** index items read to find them */
  read: number;
  /** items changed (or, in a report mode, reported) */
  done: number;
  /** items no longer due when read again (a callback or another run came first) */
  skipped: number;
  /** items whose handling failed: still due, retried by the next run */
  failed: number;
  /** items left for the next run because this one ran out of time */
  deferred: number;
}

export interface JobRun {
  job: string;
  kind: TimerKind;
  now: Date;
  /** what the Lambda has left (ms); default unlimited */
  timeLeftMs?: () => number;
  /** time one item may need; no item is started with less left */
  itemBudgetMs?: number;
  handle(item: DueRef): Promise<ItemOutcome>;
}

export async function runDueJob(svc: Services, run: JobRun): Promise<JobSummary> {
  const { items, read } = await svc.store.dueWork(run.kind, run.now, svc.settings.jobBatchLimit);
  const summary: JobSummary = { job: run.job, now: run.now.toISOString(), due: items.length, read, done: 0, skipped: 0, failed: 0, deferred: 0 };
  const timeLeft = run.timeLeftMs ?? (() => Infinity);
  await pMap(
    items,
    async (item) => {
      if (timeLeft() < (run.itemBudgetMs ?? 5000)) {
        summary.deferred++;
        return;
      }
      try {
        summary[await run.handle(item)]++;
      } catch (error) {
        summary.failed++;
        svc.logger.warn(`${run.job}: item failed; it stays due for the next run`, { pk: item.pk, sk: item.sk, error: errorName(error) });
      }
    },
    { concurrency: svc.settings.jobConcurrency },
  );
  return summary;
}

/** One job's counts over several timer kinds (the first summary names the job and its time). */
export function combineSummaries(first: JobSummary, ...rest: JobSummary[]): JobSummary {
  const total = { ...first };
  for (const part of rest)
    for (const key of ['due', 'read', 'done', 'skipped', 'failed', 'deferred'] as const) total[key] += part[key];
  return total;
}

/**
 * The audit record of a job's change, written in the same transaction as the change (on the item's
 * call history, beside the marketplace's calls). A job has no nonce to protect: none is stored.
 */
export const jobReceipt = (job: string, now: Date, resultMsg: string, subject: Pick<CallReceipt, 'instanceId' | 'orderId' | 'orderLineId' | 'testFlag'>): CallReceipt => ({
  nonce: `${job}:${crypto.randomUUID()}`,
  nonceRecorded: true,
  receivedAt: now,
  activity: job,
  resultCode: '000000',
  resultMsg,
  ...subject,
});
