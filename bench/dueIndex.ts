/**
 * `npm run bench` (second part): due work is found through the sparse byDue index, never a scan.
 * On a fresh table in DynamoDB Local (infra/table.yml), 100 000 items carrying a timer are written the
 * way the store writes them (every kind, `timerPartition` shards, realistic keys; most are EXPIRY
 * instances not yet due, other kinds partly overdue), 100 EXPIRY instances due by "now". Then
 * `Store.dueWork('EXPIRY', now)` runs and every request it sends is counted.
 *
 * The bound checked (the issue: "a run reads at most 1.05 × due + one page"): items read (ScannedCount
 * summed over every Query of the run) ≤ 1.05 × due + ONE page, where one page is the largest `Limit`
 * one of the run's Queries asked for (store.ts DUE_PAGE_SIZE = 100), not one page per shard.
 * Fails (exit 1) when read > bound, found ≠ due, the found set is not exactly the due set, or anything
 * but a Query of byDue was sent. BENCH_DUE_ITEMS scales the table down (default 100 000).
 * Merges its figures into bench/results.json under "dueIndex".
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QueryCommand as RawQueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pMap from 'p-map';
import { ensureTable, freePort, localClient, startDynamoLocal } from '../infra/local/dynamodb.ts';
import { createSealer } from '../shared/crypto/sealer.ts';
import { TIMER_KINDS, type TimerKind } from '../shared/domain/timers.ts';
import { instancePk, TIMER_SHARDS, timerPartition, wholeOrderPk } from '../shared/storage/entities.ts';
import { Store } from '../shared/storage/store.ts';

const ITEMS = Number(process.env.BENCH_DUE_ITEMS || 100_000);
const DUE = Math.min(100, ITEMS);
const RUNS = 5;
const WRITE_CONCURRENCY = 16;
const DAY = 86_400_000;

/** Share of the table per kind (EXPIRY takes the rest); about half of the other kinds are overdue. */
const OTHER_KINDS: Partial<Record<TimerKind, number>> = {
  RELEASE: 0.06,
  PUSH: 0.06,
  REBUY: 0.03,
  ACCEPT: 0.02,
  PROVISION: 0.01,
  WATCH: 0.01,
  REMIND: 0.01,
};

type Row = Record<string, unknown> & { pk: string; sk: string; timer: string; dueAt: string };

/** One item with a timer of `kind`, keyed and sharded as shared/storage/store.ts writes it. */
function itemOf(kind: TimerKind, dueAt: string): Row {
  const instanceId = randomUUID();
  const orderId = `CS${randomUUID().replace(/-/g, '').slice(0, 14).toUpperCase()}`;
  const orderLineId = `${orderId}-000001`;
  const instance = (entity: string, sk: string, extra: Record<string, unknown> = {}): Row => ({
    pk: instancePk(instanceId),
    sk,
    _et: entity,
    instanceId,
    timer: timerPartition(kind, instancePk(instanceId) + (typeof extra.hour === 'string' ? extra.hour : '')),
    dueAt,
    ...extra,
  });
  switch (kind) {
    case 'EXPIRY':
    case 'RELEASE':
    case 'PROVISION':
      return instance('Instance', 'INSTANCE', {
        orderId,
        orderLineId,
        status: kind === 'RELEASE' ? 'FROZEN' : kind === 'PROVISION' ? 'PROVISIONING' : 'ACTIVE',
        chargingMode: 'PERIOD',
        periodType: 'year',
        periodNumber: 1,
        testFlag: false,
        trial: false,
        product: { productId: 'OFFI0001', skuCode: 'sku-basic', linearValue: 10 },
        appliedOps: [],
        usage: [],
        provisioningAttempts: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
        version: 1,
      });
    case 'WATCH':
      return instance('Watch', 'WATCH', { alerts: 0 });
    case 'REBUY':
      return instance('Meter', 'METER', { version: 1 });
    case 'PUSH': {
      const hour = `${dueAt.slice(0, 13)}:00:00.000Z`;
      return instance('UsageBucket', `USAGE#${hour}`, { hour, state: 'OPEN', value: 1, records: 1 });
    }
    case 'ACCEPT':
    case 'REMIND':
      return {
        pk: wholeOrderPk(orderId),
        sk: `SUPERVISION#${orderLineId}`,
        _et: 'HardwareOrder',
        orderId,
        orderLineId,
        state: 'SIGNED',
        timer: timerPartition(kind, wholeOrderPk(orderId) + orderLineId),
        dueAt,
        version: 1,
      };
  }
}

/** The table's items: DUE EXPIRY items due by `now` (a few exactly at it), the rest not due for EXPIRY. */
function population(now: number): { rows: Row[]; dueKeys: Set<string> } {
  const iso = (ms: number) => new Date(ms).toISOString();
  const rows: Row[] = [];
  const dueKeys = new Set<string>();
  for (let i = 0; i < DUE; i++) {
    // spread over the last two days; every tenth exactly at "now" (the key condition is `dueAt <= now`)
    const row = itemOf('EXPIRY', iso(i % 10 === 0 ? now : now - 1 - Math.floor(Math.random() * 2 * DAY)));
    rows.push(row);
    dueKeys.add(`${row.pk}|${row.sk}`);
  }
  for (const [kind, share] of Object.entries(OTHER_KINDS) as Array<[TimerKind, number]>) {
    const count = Math.floor(ITEMS * share);
    for (let i = 0; i < count; i++) rows.push(itemOf(kind, iso(now + (i % 2 ? -1 : 1) * (1 + Math.floor(Math.random() * 30 * DAY)))));
  }
  // the remaining EXPIRY instances, not yet due: some 1 ms after "now", the rest within a year
  for (let i = rows.length; i < ITEMS; i++) rows.push(itemOf('EXPIRY', iso(now + 1 + (i % 50 === 0 ? 0 : Math.floor(Math.random() * 365 * DAY)))));
  return { rows, dueKeys };
}

async function writeAll(documentClient: DynamoDBDocumentClient, tableName: string, rows: Row[]) {
  const batches: Row[][] = [];
  for (let i = 0; i < rows.length; i += 25) batches.push(rows.slice(i, i + 25));
  let written = 0;
  let retried = 0;
  let nextReport = 0.1;
  const started = performance.now();
  await pMap(
    batches,
    async (batch) => {
      let requests = batch.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 10) throw new Error('BatchWriteItem kept leaving items unprocessed');
        const { UnprocessedItems } = await documentClient.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        const left = (UnprocessedItems?.[tableName] ?? []) as typeof requests;
        written += requests.length - left.length;
        retried += left.length;
        requests = left;
      }
      if (written / rows.length >= nextReport) {
        console.log(`  written ${written} / ${rows.length} (${Math.round((written / (performance.now() - started)) * 1000)} items/s)`);
        while (written / rows.length >= nextReport) nextReport += 0.1;
      }
    },
    { concurrency: WRITE_CONCURRENCY },
  );
  return { written, retried, seconds: (performance.now() - started) / 1000 };
}

/** Every request sent through `client` while `on`: its command, its input and what it read. */
function countRequests(client: DynamoDBClient) {
  const counter = { on: false, requests: [] as Array<{ command: string; indexName?: string; limit?: number; scanned: number }> };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (counter.on) {
        const input = args.input as { IndexName?: string; Limit?: number };
        const output = result.output as { ScannedCount?: number };
        counter.requests.push({ command: context.commandName ?? '?', indexName: input.IndexName, limit: input.Limit, scanned: output.ScannedCount ?? 0 });
      }
      return result;
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return counter;
}

/** How many index items each EXPIRY shard holds, read back from the index itself (COUNT queries, not measured). */
async function shardSizes(client: DynamoDBClient, tableName: string, kind: TimerKind) {
  const sizes: number[] = [];
  for (let shard = 0; shard < TIMER_SHARDS; shard++) {
    let count = 0;
    let ExclusiveStartKey: Record<string, never> | undefined;
    do {
      const page = await client.send(
        new RawQueryCommand({
          TableName: tableName,
          IndexName: 'byDue',
          KeyConditionExpression: '#t = :t',
          ExpressionAttributeNames: { '#t': 'timer' },
          ExpressionAttributeValues: { ':t': { S: `${kind}#${shard}` } },
          Select: 'COUNT',
          ExclusiveStartKey,
        }),
      );
      count += page.Count ?? 0;
      ExclusiveStartKey = page.LastEvaluatedKey as typeof ExclusiveStartKey;
    } while (ExclusiveStartKey);
    sizes.push(count);
  }
  return sizes;
}

const ratio = (n: number, d: number) => Number((n / d).toFixed(4));

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startDynamoLocal({ port: await freePort() });
  const tableName = `bench-due-${randomUUID()}`;
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, tableName);
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const counter = countRequests(client);
  const store = new Store({ documentClient, tableName, sealer: createSealer(['bench-data-key']) });

  const now = Date.now();
  const { rows, dueKeys } = population(now);
  console.log(`dueIndex: writing ${rows.length} timer items (${DUE} due) to DynamoDB Local…`);
  const write = await writeAll(documentClient, tableName, rows);
  console.log(`  ${write.written} items in ${write.seconds.toFixed(1)} s (${write.retried} unprocessed items retried)`);

  // the index partitions the items land in: the largest one, of all items and of one kind
  const perPartition = new Map<string, number>();
  const perKind = new Map<string, number>();
  for (const { timer } of rows) {
    perPartition.set(timer, (perPartition.get(timer) ?? 0) + 1);
    perKind.set(timer.split('#')[0]!, (perKind.get(timer.split('#')[0]!) ?? 0) + 1);
  }
  const [hottest, hottestCount] = [...perPartition.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const hottestKind = hottest.split('#')[0]!;
  const expiryShards = await shardSizes(client, tableName, 'EXPIRY');
  const expiryTotal = expiryShards.reduce((a, b) => a + b, 0);

  // the measured runs
  const runs: Array<{ found: number; read: number; ms: number; queries: number; other: number; maxLimit: number; readCounted: number; exact: boolean }> = [];
  for (let i = 0; i < RUNS; i++) {
    counter.requests.length = 0;
    counter.on = true;
    const started = performance.now();
    const { items, read } = await store.dueWork('EXPIRY', new Date(now));
    const ms = performance.now() - started;
    counter.on = false;
    const queries = counter.requests.filter((r) => r.command === 'QueryCommand' && r.indexName === 'byDue');
    const found = new Set(items.map((item) => `${item.pk}|${item.sk}`));
    runs.push({
      found: items.length,
      read,
      ms,
      queries: queries.length,
      other: counter.requests.length - queries.length,
      maxLimit: Math.max(0, ...queries.map((q) => q.limit ?? 0)),
      readCounted: queries.reduce((sum, q) => sum + q.scanned, 0),
      exact: found.size === dueKeys.size && [...dueKeys].every((key) => found.has(key)),
    });
  }
  const first = runs[0]!;
  const onePage = first.maxLimit;
  const bound = 1.05 * DUE + onePage;
  const sortedMs = runs.map((r) => r.ms).sort((a, b) => a - b);
  const checks = {
    'found = due (and exactly the due items)': runs.every((r) => r.found === DUE && r.exact),
    'read ≤ bound': runs.every((r) => r.read <= bound),
    'read = ScannedCount counted on the wire': runs.every((r) => r.read === r.readCounted),
    'only Queries of byDue sent (no Scan)': runs.every((r) => r.other === 0),
  };
  const figures = {
    'items in table (with a timer)': write.written,
    'items due (EXPIRY, ≤ now)': DUE,
    'items found': first.found,
    'items read (ScannedCount)': first.read,
    'read / due': ratio(first.read, DUE),
    'one page (largest Limit of a Query)': onePage,
    'bound = 1.05 × due + one page': bound,
    'read / bound': ratio(first.read, bound),
    'read / items in table': ratio(first.read, write.written),
    'Query requests per run': first.queries,
    'other requests per run': first.other,
    [`largest partition share of all items (${hottest})`]: ratio(hottestCount, rows.length),
    [`largest partition share of its kind (${hottestKind})`]: ratio(hottestCount, perKind.get(hottestKind)!),
    'largest EXPIRY shard / EXPIRY items (index COUNT; 1/8 = 0.125)': ratio(Math.max(...expiryShards), expiryTotal),
    'runs (identical reads)': `${RUNS} (${runs.every((r) => r.read === first.read && r.found === first.found) ? 'yes' : 'NO'})`,
    'run time, median ms': Math.round(sortedMs[Math.floor(RUNS / 2)]!),
    'run time, first run ms': Math.round(first.ms),
  };
  console.table(figures);
  console.table(Object.fromEntries(Object.entries(checks).map(([name, ok]) => [name, ok ? 'ok' : 'FAILED'])));

  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const dueIndex = {
    measuredAt: new Date().toISOString(),
    itemsInTable: write.written,
    itemsDue: DUE,
    itemsFound: first.found,
    itemsRead: first.read,
    readPerDue: ratio(first.read, DUE),
    onePage,
    bound,
    readPerBound: ratio(first.read, bound),
    readPerTableItem: ratio(first.read, write.written),
    queriesPerRun: first.queries,
    itemsPerKind: Object.fromEntries(perKind),
    largestPartition: { timer: hottest, items: hottestCount, shareOfAll: ratio(hottestCount, rows.length), shareOfKind: ratio(hottestCount, perKind.get(hottestKind)!) },
    expiryShardSizes: expiryShards,
    runMs: { median: Math.round(sortedMs[Math.floor(RUNS / 2)]!), first: Math.round(first.ms), runs: RUNS },
    verdict: Object.values(checks).every(Boolean) ? 'ok' : 'FAILED',
  };
  writeFileSync(out, `${JSON.stringify({ ...previous, dueIndex }, null, 2)}\n`);
  console.log(`written ${out} (dueIndex merged)`);
  client.destroy();
  await dynamo.stop();
  process.exit(dueIndex.verdict === 'ok' ? 0 : 1);
}

// every timer kind the store knows has a place in the population (a new kind should be added here)
const missing = TIMER_KINDS.filter((kind) => kind !== 'EXPIRY' && !(kind in OTHER_KINDS));
if (missing.length) console.warn(`dueIndex: no items of kind ${missing.join(', ')} in the population`);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
