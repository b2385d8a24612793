import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { resumeDueProvisioning } from '#shared/domain/provisioning';
import { getRuntime, logger } from '#shared/runtime';

/**
 * Every minute: provisioning that outlived newInstance's answer budget (or whose process died) is
 * picked up again from the byDue index. "Now" is the scheduled event's time, so tests move the clock.
 */
export const handler = middy<ScheduledEvent>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event, context) => {
    const now = event.time ? new Date(event.time) : new Date();
    const timeLeft = () => context.getRemainingTimeInMillis?.() ?? Infinity;
    const summary = await resumeDueProvisioning((await getRuntime()).services, now, timeLeft);
    logger.info('resumeProvisioning done', { ...summary, now: now.toISOString() });
    return summary;
  });
