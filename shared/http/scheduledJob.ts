/**
 * The wiring of every scheduled job: "now" is the scheduled event's `time` (so a test or an operator can
 * run a job as of any moment: `npm run invoke -- expiryFreeze --time 2027-01-01T00:00:00Z`), the run's
 * counts are logged and published as CloudWatch metrics (Powertools, embedded metric format) with the
 * job's name as dimension, and the handler returns them.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { Services } from '#shared/domain/call';
import { metrics } from '#shared/metrics';
import { getRuntime, logger } from '#shared/runtime';
// the open-API client, provisioners and notifier (the Kit and login routes leave them out)
import '#shared/runtime/marketplace';


/** A scheduled event; operators may add job options (e.g. `{"mode":"report"}`) when invoking by hand. */
export type JobEvent = Partial<ScheduledEvent> & Record<string, unknown>;

export interface JobContext {
  now: Date;
  timeLeftMs: () => number;
  event: JobEvent;
}

/** Thrown for an event whose `time` is not an instant: the run does nothing. */
export class JobEventError extends Error {
  override readonly name = 'JobEventError';
}

export function timeOf(event: JobEvent): Date {
  if (event.time === undefined) return new Date();
  const now = new Date(String(event.time));
  if (typeof event.time !== 'string' || Number.isNaN(now.getTime()))
    throw new JobEventError(`event.time must be an ISO 8601 instant, got ${JSON.stringify(event.time)}`);
  return now;
}

export function createScheduledHandler<S extends object>(job: string, run: (services: Services, ctx: JobContext) => Promise<S>) {
  return middy<JobEvent, S, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(async (event, context) => {
      const now = timeOf(event);
      const summary = await run((await getRuntime()).services, {
        now,
        timeLeftMs: () => context.getRemainingTimeInMillis?.() ?? Infinity,
        event,
      });
      logger.info(`${job} done`, { ...summary, now: now.toISOString() });
      metrics.addDimension('job', job);
      for (const [name, value] of Object.entries(summary))
        if (typeof value === 'number') metrics.addMetric(name, MetricUnit.Count, value);
      return summary;
    });
}
