/**
 * publishEvents: stream records in, PutEvents out. EventBridge has no local stand-in, so its answers
 * are played by a middleware at the front of the real client's stack (the request is built and
 * serialised as it would be sent); the records are real stream records from DynamoDB Local.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBridgeSink, EVENTBRIDGE_SOURCE } from '#shared/events/eventBridgeSink';
import type { EventSink } from '#shared/events/publisher';
import { createTestTable } from '#shared/testing/table';
import { EVENT_ENTITIES } from '#shared/events/changes';
import { loadYaml } from '#infra/serverlessConfig';
import { openTableStream } from '#infra/local/stream';
import { handler, useSink } from './handler.ts';

type Answer = (input: PutEventsCommandInput) => PutEventsCommandOutput | Error;

/** A real EventBridge client whose sends are answered by `answer` (and recorded). */
function fakeEventBridge(answer: Answer) {
  const client = new EventBridgeClient({ region: 'ap-southeast-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const calls: PutEventsCommandInput[] = [];
  client.middlewareStack.add(
    () => async (args) => {
      const input = args.input as PutEventsCommandInput;
      calls.push(input);
      const out = answer(input);
      if (out instanceof Error) throw out;
      return { output: out, response: {} } as never;
    },
    { step: 'initialize', name: 'fakeEventBridge' },
  );
  return { client, calls };
}
const ok = (input: PutEventsCommandInput): PutEventsCommandOutput => ({
  $metadata: {},
  FailedEntryCount: 0,
  Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `e${i}` })),
});

let records: DynamoDBRecord[];
const context = { functionName: 'publishEvents', awsRequestId: 'r', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

beforeAll(async () => {
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
  const table = await createTestTable({ stream: true });
  const stream = await openTableStream(table.endpoint, table.tableName, 'start');
  // 25 instances created (25 events), a nonce between them (no event)
  for (let i = 0; i < 25; i++) {
    await table.documentClient.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk: `INSTANCE#i-${i}`,
          sk: 'INSTANCE',
          _et: 'Instance',
          instanceId: `i-${i}`,
          orderId: `o-${i}`,
          orderLineId: 'l',
          status: 'PROVISIONING',
          testFlag: false,
          chargingMode: 'PERIOD',
          trial: false,
          product: {},
          appliedOps: [],
          provisioningAttempts: 1,
          createdAt: '2026-11-24T00:00:00.000Z',
          updatedAt: '2026-11-24T00:00:00.000Z',
          version: 1,
        },
      }),
    );
    if (i === 10) await table.documentClient.send(new PutCommand({ TableName: table.tableName, Item: { pk: 'NONCE#n', sk: 'NONCE', _et: 'Nonce' } }));
  }
  records = await stream.read();
  stream.close();
  expect(records).toHaveLength(26);
});
afterAll(() => useSink(undefined));

const invoke = (list: DynamoDBRecord[]) => handler({ Records: list } as DynamoDBStreamEvent, context);

describe('publishEvents', () => {
  it('is triggered by exactly the entities whose changes are events (the stream filter in serverless.yml)', () => {
    const [trigger] = loadYaml('serverless.yml').functions.publishEvents.events;
    const [pattern] = trigger.stream.filterPatterns;
    expect([...pattern.dynamodb.NewImage._et.S].sort()).toEqual(Object.keys(EVENT_ENTITIES).sort());
  });

  it('puts every event on the bus in stream order, ten per request, the envelope as detail', async () => {
    const bus = fakeEventBridge(ok);
    useSink(createEventBridgeSink({ busName: 'koogallery-test', client: bus.client }));
    const result = await invoke(records);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(bus.calls.map((c) => c.Entries?.length)).toEqual([10, 10, 5]);
    const entries = bus.calls.flatMap((c) => c.Entries ?? []);
    expect(entries.map((e) => JSON.parse(e.Detail!).subject)).toEqual(Array.from({ length: 25 }, (_, i) => `instance/i-${i}`));
    expect(entries[0]).toMatchObject({ EventBusName: 'koogallery-test', Source: EVENTBRIDGE_SOURCE, DetailType: 'koogallery.instance.provisioning_requested' });
  });

  it('retries entries EventBridge failed, and sends each only until it is taken', async () => {
    let first = true;
    const bus = fakeEventBridge((input) => {
      const entries = input.Entries ?? [];
      if (!first) return ok(input);
      first = false;
      return { $metadata: {}, FailedEntryCount: 2, Entries: entries.map((_, i) => (i === 3 || i === 7 ? { ErrorCode: 'ThrottlingException' } : { EventId: `e${i}` })) };
    });
    useSink(createEventBridgeSink({ busName: 'b', client: bus.client, retryDelayMs: 1 }));
    expect(await invoke(records)).toEqual({ batchItemFailures: [] });
    const sent = bus.calls.flatMap((c) => (c.Entries ?? []).map((e) => JSON.parse(e.Detail!).id as string));
    expect(bus.calls[1]!.Entries).toHaveLength(2);
    expect(new Set(sent).size).toBe(25);
    expect(sent.length).toBe(27);
  });

  it('when the bus keeps failing, reports the first record whose event did not go out; nothing after it is sent', async () => {
    const bus = fakeEventBridge((input) => {
      if ((input.Entries ?? []).some((e) => JSON.parse(e.Detail!).subject === 'instance/i-13')) return new Error('service unavailable');
      return ok(input);
    });
    useSink(createEventBridgeSink({ busName: 'b', client: bus.client, retryDelayMs: 1 }));
    const result = await invoke(records);
    // i-13 is the 15th record (the nonce sits after i-10); its chunk (events 10–19) never went out
    const firstOfChunk = records.find((r) => r.dynamodb?.NewImage?.instanceId?.S === 'i-10')!;
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: firstOfChunk.dynamodb!.SequenceNumber }] });
    const sent = bus.calls.flatMap((c) => (c.Entries ?? []).map((e) => JSON.parse(e.Detail!).subject as string));
    expect(sent.filter((s) => s === 'instance/i-20')).toEqual([]);
    expect(bus.calls.length).toBe(1 + 3); // the first chunk, then three attempts of the second
  });

  it('delivered again from the reported record, the same events carry the same ids', async () => {
    const ids: string[][] = [];
    const sink: EventSink = { publish: async (events) => (ids.push(events.map((e) => e.id)), { failedIds: [] }) };
    useSink(sink);
    await invoke(records);
    await invoke(records.slice(12));
    expect(ids[0]!.slice(-ids[1]!.length)).toEqual(ids[1]);
  });

  it('on the local stage (npm run invoke) the events are logged, not sent to a bus', async () => {
    const stage = process.env.STAGE;
    process.env.STAGE = 'local';
    useSink(undefined);
    try {
      // the EventBridge sink would fail here (no bus, no credentials) and report the first record
      expect(await invoke(records.slice(0, 3))).toEqual({ batchItemFailures: [] });
    } finally {
      process.env.STAGE = stage;
    }
    process.env.STAGE = 'prod';
    useSink(undefined);
    try {
      // a deployed stage's sink is EventBridge: with no bus (or no credentials) here the record comes back
      const result = await invoke(records.slice(0, 1));
      expect(result.batchItemFailures).toHaveLength(1);
    } finally {
      process.env.STAGE = stage;
      useSink(undefined);
    }
  }, 60_000);

  it('a record it cannot read is reported (and later dead-lettered), the ones before it are published', async () => {
    const published: string[] = [];
    useSink({ publish: async (events) => (published.push(...events.map((e) => e.subject)), { failedIds: [] }) });
    const broken = { ...records[5]!, dynamodb: { ...records[5]!.dynamodb, NewImage: { x: { BAD: 'nope' } } } } as unknown as DynamoDBRecord;
    const result = await invoke([...records.slice(0, 5), broken, ...records.slice(6)]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: records[5]!.dynamodb!.SequenceNumber }]);
    expect(published).toEqual(Array.from({ length: 5 }, (_, i) => `instance/i-${i}`));
  });
});

// the command the sink sends is the SDK's own (a typo in an input field would fail typechecking)
void PutEventsCommand;
