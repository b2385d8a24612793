/**
 * The outbox relay: stream records in, integration events out, in stream order. Runs in the
 * publishEvents function (records from the stream's event source mapping, events to EventBridge) and
 * in `npm start` (records read from DynamoDB Local's stream, events printed and forwarded to a webhook).
 *
 * Delivery is at least once: when a sink fails, the records from the first one whose events did not
 * all go out are reported back (Lambda's ReportBatchItemFailures) and delivered again, so events after
 * it may go out twice — with the same ids (shared/events/changes.ts), which is what consumers
 * de-duplicate on. A record that keeps failing is retried by Lambda, then split off
 * (bisectBatchOnFunctionError) and sent to the dead-letter queue (serverless.yml).
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { eventsOfChange } from './changes.ts';
import type { IntegrationEvent } from './schema.ts';

/** Where events go. Resolves with the ids it could not deliver (after its own retries). */
export interface EventSink {
  publish(events: readonly IntegrationEvent[]): Promise<{ failedIds: readonly string[] }>;
}

export interface RelayResult {
  published: number;
  /** the records to deliver again (the first failed one and every later one, by sequence number) */
  batchItemFailures: Array<{ itemIdentifier: string }>;
  /** ids of the events that could not be delivered this time */
  failedIds: string[];
  /** the index of the first record to deliver again (records.length when all went out) */
  retryFrom: number;
}

type Image = Parameters<typeof unmarshall>[0];

/** The events of one stream record (an unreadable image is an error: the record is retried, then dead-lettered). */
export function eventsOfRecord(record: DynamoDBRecord, source: string): IntegrationEvent[] {
  const image = (i: unknown) => (i ? unmarshall(i as Image) : undefined);
  return eventsOfChange({ old: image(record.dynamodb?.OldImage), new: image(record.dynamodb?.NewImage) }, source);
}

export async function relayRecords(records: readonly DynamoDBRecord[], sink: EventSink, source: string): Promise<RelayResult> {
  const perRecord: IntegrationEvent[][] = [];
  let firstBad = records.length;
  for (const [index, record] of records.entries()) {
    try {
      perRecord.push(eventsOfRecord(record, source));
    } catch {
      firstBad = index;
      break;
    }
  }
  const events = perRecord.flat();
  const { failedIds } = events.length ? await sink.publish(events) : { failedIds: [] };
  const failed = new Set(failedIds);
  const firstFailed = perRecord.findIndex((list) => list.some((event) => failed.has(event.id)));
  const retryFrom = Math.min(firstBad, firstFailed === -1 ? records.length : firstFailed);
  // Lambda checkpoints before the lowest sequence number reported and delivers the rest again
  const sequence = records[retryFrom]?.dynamodb?.SequenceNumber;
  return {
    published: events.length - failed.size,
    batchItemFailures: retryFrom < records.length ? [{ itemIdentifier: sequence ?? records[retryFrom]!.eventID ?? '' }] : [],
    failedIds: [...failed],
    retryFrom,
  };
}
