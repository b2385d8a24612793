/**
 * `npm start`'s stand-in for the cloud's stream → publishEvents → EventBridge: it reads the local
 * table's stream (infra/local/stream.ts) every `intervalMs`, maps the records with the same relay code
 * (shared/events/publisher.ts), prints one line per event and, with EVENTS_WEBHOOK_URL, forwards each
 * event to that URL signed with EVENTS_WEBHOOK_SECRET (default: the local provisioner webhook secret).
 * Records whose events could not be forwarded are kept and tried again at the next read, in order, as
 * Lambda would deliver them again.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { relayRecords, type EventSink } from '../../shared/events/publisher.ts';
import { EVENT_SOURCE, type IntegrationEvent } from '../../shared/events/schema.ts';
import { createWebhookSink } from '../../shared/events/webhookSink.ts';
import { openTableStream } from './stream.ts';

export interface LocalEventRelay {
  stop(): Promise<void>;
}

export interface LocalEventRelayOptions {
  endpoint: string;
  tableName: string;
  webhook?: { url: string; secret: string };
  intervalMs?: number;
  print?: (line: string) => void;
}

/** One line per event: its type, subject and id. */
export const eventLine = (event: IntegrationEvent) => `${event.type} ${event.subject} (${event.id})`;

export async function startLocalEventRelay(options: LocalEventRelayOptions): Promise<LocalEventRelay> {
  const stream = await openTableStream(options.endpoint, options.tableName, 'now');
  const print = options.print ?? ((line: string) => console.log(`[events] ${line}`));
  const forward = options.webhook && createWebhookSink(options.webhook);
  /** printed once per id, even when a failed forward makes the relay deliver the same records again */
  const printed = new Set<string>();
  const sink: EventSink = {
    async publish(events) {
      for (const event of events) if (!printed.has(event.id) && printed.add(event.id)) print(eventLine(event));
      if (printed.size > 10_000) printed.clear();
      return forward ? forward.publish(events) : { failedIds: [] };
    },
  };
  let pending: DynamoDBRecord[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      const records = [...pending, ...(await stream.read())];
      if (records.length === 0) return;
      const result = await relayRecords(records, sink, `${EVENT_SOURCE}/local`);
      if (result.retryFrom < records.length && pending.length === 0)
        print(`could not forward ${result.failedIds.length} event(s) to ${options.webhook?.url}: trying again`);
      pending = records.slice(result.retryFrom);
    } catch (error) {
      print(`stream read failed: ${(error as Error).message}`);
    }
  };
  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, options.intervalMs ?? 500);
    });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      stream.close();
    },
  };
}
