/**
 * The cloud's event sink: PutEvents on the service's EventBridge bus, ten entries per request (the API's
 * limit), entries that EventBridge reports as failed retried twice with a short back-off. The whole
 * CloudEvents envelope is the entry's `detail`; `detail-type` is its type, `source` is EVENTBRIDGE_SOURCE,
 * so a rule can match e.g. `{"source": ["koogallery.merchant"], "detail-type": ["koogallery.instance.active"]}`.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { EventSink } from './publisher.ts';
import type { IntegrationEvent } from './schema.ts';

export const EVENTBRIDGE_SOURCE = 'koogallery.merchant';
const ENTRIES_PER_REQUEST = 10;
const ATTEMPTS = 3;

export function createEventBridgeSink(options: { busName: string; client?: EventBridgeClient; retryDelayMs?: number }): EventSink {
  const client = options.client ?? new EventBridgeClient({});
  const retryDelayMs = options.retryDelayMs ?? 100;
  const entryOf = (event: IntegrationEvent): PutEventsRequestEntry => ({
    EventBusName: options.busName,
    Source: EVENTBRIDGE_SOURCE,
    DetailType: event.type,
    Detail: JSON.stringify(event),
    Time: new Date(event.time || Date.now()),
  });

  /** one request; the events EventBridge did not take (all of them when the request itself failed) */
  async function put(events: IntegrationEvent[]): Promise<IntegrationEvent[]> {
    try {
      const { FailedEntryCount, Entries = [] } = await client.send(new PutEventsCommand({ Entries: events.map(entryOf) }));
      if (!FailedEntryCount) return [];
      // Entries answers the request's entries in order; a failed one has an ErrorCode
      return events.filter((_, i) => Entries[i]?.ErrorCode !== undefined || Entries[i]?.EventId === undefined);
    } catch {
      return events;
    }
  }

  return {
    async publish(events) {
      const failedIds: string[] = [];
      for (let start = 0; start < events.length; start += ENTRIES_PER_REQUEST) {
        let pending = events.slice(start, start + ENTRIES_PER_REQUEST);
        for (let attempt = 1; pending.length > 0 && attempt <= ATTEMPTS; attempt++) {
          if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (attempt - 2)));
          pending = await put(pending);
        }
        failedIds.push(...pending.map((e) => e.id));
        // stream order: nothing after a chunk that could not go out is sent now (it is delivered again)
        if (pending.length > 0) {
          failedIds.push(...events.slice(start + ENTRIES_PER_REQUEST).map((e) => e.id));
          break;
        }
      }
      return { failedIds };
    },
  };
}
