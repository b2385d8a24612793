/**
 * The outbox relay in the cloud: the table's stream (filtered to the entities that make events, see
 * serverless.yml) in, integration events out on the EventBridge bus EVENT_BUS_NAME. Records whose
 * events could not be put are reported back (ReportBatchItemFailures) and delivered again; a record
 * that keeps failing ends in the dead-letter queue. Counts go out as metrics (EventsPublished,
 * EventsFailed).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createEventBridgeSink } from '#shared/events/eventBridgeSink';
import { relayRecords, type EventSink } from '#shared/events/publisher';
import { EVENT_SOURCE } from '#shared/events/schema';
import { logger } from '#shared/logger';
import { metrics } from '#shared/metrics';

const source = `${EVENT_SOURCE}/${process.env.STAGE || 'local'}`;

/** `npm run invoke -- publishEvents` on the local stage: there is no bus, the events are logged instead */
const logSink: EventSink = {
  async publish(events) {
    for (const { type, id, subject } of events) logger.info('integration event', { type, id, subject });
    return { failedIds: [] };
  },
};

let sink: EventSink | undefined;
/** tests hand in their own sink; otherwise the bus named by EVENT_BUS_NAME (the log on the local stage) */
export function useSink(next: EventSink | undefined) {
  sink = next;
}

export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async (event) => {
    sink ??= process.env.STAGE === 'local' ? logSink : createEventBridgeSink({ busName: process.env.EVENT_BUS_NAME || 'default' });
    const result = await relayRecords(event.Records, sink, source);
    metrics.addMetric('EventsPublished', MetricUnit.Count, result.published);
    metrics.addMetric('EventsFailed', MetricUnit.Count, result.failedIds.length);
    if (result.batchItemFailures.length > 0)
      logger.warn('events not delivered; the records from the first of them are delivered again', {
        records: event.Records.length,
        retryFrom: result.retryFrom,
        failedEvents: result.failedIds.length,
      });
    else logger.info('events published', { records: event.Records.length, events: result.published });
    return { batchItemFailures: result.batchItemFailures };
  });
