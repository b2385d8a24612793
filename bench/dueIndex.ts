/**
 * `npm run bench` (second part): every scheduled job finds its due work through the sparse byDue index,
 * never a scan. On a fresh table in DynamoDB Local (infra/table.yml), 100 000 items carrying a timer are
 * written the way the store writes them (every kind, `timerPartition` shards, realistic keys): for EVERY
 * timer kind exactly 100 items due by "now" (every tenth exactly at it, the key condition being
 * `dueAt <= now`), the rest of the kind's share not yet due (every fiftieth exactly 1 ms after "now").
 * Then every scheduled job runs its own finding code, the domain function its functions/<job>/handler.ts
 * calls, against a store whose finding methods (`dueWork`, `dueProvisioning`) run for real and are
 * recorded but hand the job nothing (no item is acted on), and every request it sends is counted.
 *
 * The bound checked per job (P4: "every scheduled job reads ≤ 1.05 × due + one page"): items read
 * (ScannedCount summed over every Query of the run) ≤ 1.05 × due + ONE page, where one page is the
 * largest `Limit` one of the run's Queries asked for (store.ts DUE_PAGE_SIZE = 100), not one page per
 * shard. A job that queries several kinds (hardwareAutoAccept: ACCEPT and REMIND) is held to the sum of
 * the bounds of its finding calls, each with its kind's due count and its own page.
 * Fails (exit 1) when a job reads more than its bound, does not find exactly the due items of its
 * kind(s), sends anything but a Query of byDue, or touches anything but the store's finding methods;
 * or when a timer kind is found by no job. BENCH_DUE_ITEMS scales the table down (default 100 000).
 * Merges its figures into bench/results.json under "dueIndex" (one row per job under `jobs`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QueryCommand as RawQueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pMap from 'p-map';
import { ensureTable, freePort, localClient, startDynamoLocal } from '../infra/local/dynamodb.ts';
import { loadSettings } from '../shared/config.ts';
import { createSealer } from '../shared/crypto/sealer.ts';
import type { DomainSettings, Services } from '../shared/domain/call.ts';
import { autoAcceptHardware } from '../shared/domain/hardware.ts';
import { freezeExpired, releaseRetained } from '../shared/domain/lifecycleTimers.ts';
import { resumeDueProvisioning, watchProvisioning } from '../shared/domain/provisioning.ts';
import type { Repository } from '../shared/domain/repository.ts';
import { DEFAULT_INSTANCE_TIMERS, TIMER_KINDS, type TimerKind } from '../shared/domain/timers.ts';
import { reconcileDue } from '../shared/domain/reconcile.ts';
import { checkRebuyIntents, pushDueUsage } from '../shared/domain/usage.ts';
import { instancePk, TIMER_SHARDS, timerPartition, wholeOrderPk } from '../shared/storage/entities.ts';
import { Store } from '../shared/storage/store.ts';

const ITEMS = Number(process.env.BENCH_DUE_ITEMS || 100_000);
/** items due by "now" of every timer kind */
const DUE = 100;
const RUNS = 5;
const WRITE_CONCURRENCY = 16;
const DAY = 86_400_000;

/**
 * Share of the table per kind (EXPIRY takes the rest); every kind gets at least 2 × DUE items, so that at
 * least as many of its items are not due as are. The type makes a new timer kind name its share here.
 */
const SHARES: Record<Exclude<TimerKind, 'EXPIRY'>, number> = {
  RELEASE: 0.06,
  PUSH: 0.06,
  REBUY: 0.03,
  ACCEPT: 0.02,
  PROVISION: 0.01,
  WATCH: 0.01,
  REMIND: 0.01,
  RECONCILE: 0.05,
};

/**
 * Every scheduled job, started the way its functions/<job>/handler.ts starts it (without a time limit;
 * resourceRelease in its configured mode: both modes find the same RELEASE work).
 */
const JOBS: ReadonlyArray<{ job: string; run: (svc: Services, now: Date) => Promise<unknown> }> = [
  { job: 'resumeProvisioning', run: (svc, now) => resumeDueProvisioning(svc, now) },
  { job: 'provisioningWatch', run: (svc, now) => watchProvisioning(svc, now) },
  { job: 'expiryFreeze', run: (svc, now) => freezeExpired(svc, now) },
  { job: 'resourceRelease', run: (svc, now) => releaseRetained(svc, now, svc.settings.releaseMode) },
  { job: 'hardwareAutoAccept', run: (svc, now) => autoAcceptHardware(svc, now) },
  { job: 'autoRebuyCheck', run: (svc, now) => checkRebuyIntents(svc, now) },
  { job: 'usagePush', run: (svc, now) => pushDueUsage(svc, now) },
  { job: 'reconcile', run: (svc, now) => reconcileDue(svc, now) },
];

type Row = Record<string, unknown> & { pk: string; sk: string; timer: string; dueAt: string };

/** The identity of an item: its table keys. */
const keyOf = ({ pk, sk }: { pk: string; sk: string }) => `${pk}|${sk}`;

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
    case 'RECONCILE':
      return instance('Reconcile', 'RECONCILE');
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

/**
 * The table's items, the same way for every timer kind: DUE items due by `now` (spread over the last
 * two days, every tenth exactly at `now`), then the rest of the kind's share not yet due (every
 * fiftieth exactly 1 ms after `now`, the others within 90 days). Returns the keys due per kind.
 */
function population(now: number): { rows: Row[]; dueKeys: Map<TimerKind, Set<string>> } {
  const iso = (ms: number) => new Date(ms).toISOString();
  const random = (ms: number) => Math.floor(Math.random() * ms);
  const counts = new Map<TimerKind, number>(Object.entries(SHARES).map(([kind, share]) => [kind as TimerKind, Math.max(2 * DUE, Math.floor(ITEMS * share))]));
  counts.set('EXPIRY', ITEMS - [...counts.values()].reduce((a, b) => a + b, 0));
  if (counts.get('EXPIRY')! < 2 * DUE) throw new Error(`BENCH_DUE_ITEMS=${ITEMS} is too small for ${DUE} due items of every kind`);
  const rows: Row[] = [];
  const dueKeys = new Map<TimerKind, Set<string>>();
  for (const kind of TIMER_KINDS) {
    const dueOfKind = new Set<string>();
    for (let i = 0; i < counts.get(kind)!; i++) {
      const due = i < DUE;
      const dueAt = due ? now - (i % 10 === 0 ? 0 : 1 + random(2 * DAY)) : now + 1 + ((i - DUE) % 50 === 0 ? 0 : random(90 * DAY));
      const row = itemOf(kind, iso(dueAt));
      rows.push(row);
      if (due) dueOfKind.add(keyOf(row));
    }
    dueKeys.set(kind, dueOfKind);
  }
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

/** One request sent while counting: its command, the index and Limit it asked for, what it read. */
interface SentRequest {
  command: string;
  indexName?: string;
  limit?: number;
  scanned: number;
}
type RequestCounter = { on: boolean; requests: SentRequest[] };

/** Every request sent through `client` while `on`: its command, its input and what it read. */
function countRequests(client: DynamoDBClient): RequestCounter {
  const counter: RequestCounter = { on: false, requests: [] };
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

/** How many index items each shard of `kind` holds, read back from the index itself (COUNT queries, not measured). */
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

/** One call a job made of a store finding method: what it found and the requests it sent. */
interface Finding {
  /** the call as the job made it, e.g. `dueWork(ACCEPT, limit 1000)` */
  call: string;
  kind: TimerKind;
  /** keys of the items found */
  keys: string[];
  /** the method's own count of items read (dueWork's `read`; dueProvisioning returns only ids) */
  read?: number;
  requests: SentRequest[];
}

/** `allowed` as a `T` of which nothing else may be used: any other use fails the run, naming it. */
function only<T extends object>(name: string, allowed: Partial<T> = {}): T {
  return new Proxy(allowed, {
    get(target, property) {
      if (Reflect.has(target, property)) return Reflect.get(target, property);
      throw new Error(`${name}.${String(property)} used while finding due work`);
    },
  }) as T;
}

/**
 * The services a job runs with here: the store's finding methods run for real against the table and are
 * recorded in `findings`, then hand the job nothing found, so no item is acted on (the bench measures
 * how work is found, not what is done with it). Nothing else may be used: finding due work needs the
 * byDue index and the settings only.
 */
function findingServices(store: Store, counter: RequestCounter, settings: DomainSettings, findings: Finding[]): Services {
  async function recorded<T>(kind: TimerKind, call: string, find: () => Promise<T>, describe: (found: T) => Pick<Finding, 'keys' | 'read'>) {
    const from = counter.requests.length;
    const found = await find();
    findings.push({ call, kind, ...describe(found), requests: counter.requests.slice(from) });
    return found;
  }
  const finding: Pick<Repository, 'dueWork' | 'dueProvisioning'> = {
    async dueWork(kind, now, limit) {
      const { read } = await recorded(
        kind,
        `dueWork(${kind}, limit ${limit ?? 'default'})`,
        () => store.dueWork(kind, now, limit),
        ({ items, read }) => ({ keys: items.map(keyOf), read }),
      );
      return { items: [], read };
    },
    async dueProvisioning(now, limit) {
      await recorded('PROVISION', `dueProvisioning(limit ${limit ?? 'default'})`, () => store.dueProvisioning(now, limit), (ids) => ({
        keys: ids.map((id) => keyOf({ pk: instancePk(id), sk: 'INSTANCE' })),
      }));
      return [];
    },
  };
  return {
    store: only<Repository>('store', finding),
    licenses: only('licenses'),
    marketplace: only('marketplace'),
    provisioner: only('provisioner'),
    debugProvisioner: only('debugProvisioner'),
    logger: only('logger'),
    alerts: only('alerts'),
    notifier: only('notifier'),
    catalogue: only('catalogue'),
    onlineLicenses: only('onlineLicenses'),
    licenseSigner: only('licenseSigner'),
    settings,
  };
}

const isDueQuery = (r: SentRequest) => r.command === 'QueryCommand' && r.indexName === 'byDue';
const scannedBy = (requests: SentRequest[]) => requests.reduce((sum, r) => sum + r.scanned, 0);
/** one page of a finding call: the largest Limit one of its Queries asked for */
const pageOf = (f: Finding) => Math.max(0, ...f.requests.filter(isDueQuery).map((r) => r.limit ?? 0));

/** One run of a job, measured against the due items of the kinds it queried; `problems` says what failed, with figures. */
function judge(findings: Finding[], requests: SentRequest[], dueKeys: Map<TimerKind, Set<string>>) {
  const kinds = [...new Set(findings.map((f) => f.kind))];
  const expected = new Set(kinds.flatMap((kind) => [...dueKeys.get(kind)!]));
  const found = findings.flatMap((f) => f.keys);
  const read = scannedBy(requests);
  // the sum of the bounds of the job's finding calls: 1.05 × the kind's due items + one page each
  const pages = findings.map(pageOf);
  const bound = findings.reduce((sum, f, i) => sum + 1.05 * dueKeys.get(f.kind)!.size + pages[i]!, 0);
  const other = requests.filter((r) => !isDueQuery(r)).map((r) => (r.indexName ? `${r.command} on ${r.indexName}` : r.command));
  const problems: string[] = [];
  if (findings.length === 0) problems.push('called no finding method of the store');
  for (const f of findings) {
    const due = dueKeys.get(f.kind)!;
    const hit = new Set(f.keys.filter((key) => due.has(key))).size;
    const fRead = scannedBy(f.requests);
    if (hit < due.size)
      problems.push(
        `${f.call} found ${hit} of ${due.size} due ${f.kind} items: its ${f.requests.filter(isDueQuery).length} Queries asked for at most ${pageOf(f)} items each, ` +
          `read ${fRead} and the store kept ${f.keys.length}; ${due.size - hit} stay due for a later run`,
      );
    if (f.keys.length > hit) problems.push(`${f.call} found ${f.keys.length - hit} items that are not due ${f.kind} items (or found one twice)`);
    if (f.read !== undefined && f.read !== fRead) problems.push(`${f.call} reports ${f.read} items read, ScannedCount on the wire says ${fRead}`);
  }
  if (read > bound) problems.push(`read ${read} > bound ${bound} (${requests.filter(isDueQuery).length} Queries)`);
  if (other.length) problems.push(`sent ${other.join(', ')} besides Queries of byDue`);
  const exact = found.length === expected.size && new Set(found).size === found.length && found.every((key) => expected.has(key));
  if (!exact && problems.length === 0) problems.push(`found ${found.length} items, ${expected.size} due`);
  return { kinds, calls: findings.map((f) => f.call), pages, due: expected.size, found: found.length, read, bound, queries: requests.filter(isDueQuery).length, other, problems };
}

const ratio = (n: number, d: number) => Number((n / d).toFixed(4));
const median = (values: number[]) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startDynamoLocal({ port: await freePort() });
  const tableName = `bench-due-${randomUUID()}`;
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, tableName, { stream: false });
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const counter = countRequests(client);
  const store = new Store({ documentClient, tableName, sealer: createSealer(['bench-data-key']) });
  // the jobs' settings as a Lambda loads them (JOB_BATCH_LIMIT: the limit runDueJob gives dueWork)
  const config = loadSettings();
  const settings: DomainSettings = { ...config, timers: { ...DEFAULT_INSTANCE_TIMERS, expiryGraceMs: config.expiryGraceMs } };

  const now = Date.now();
  const { rows, dueKeys } = population(now);
  console.log(`dueIndex: writing ${rows.length} timer items (${DUE} due of each of ${TIMER_KINDS.length} kinds) to DynamoDB Local…`);
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
  const shards = new Map<TimerKind, number[]>();
  for (const kind of TIMER_KINDS) shards.set(kind, await shardSizes(client, tableName, kind));
  const largestShardShare = (kind: TimerKind) => ratio(Math.max(...shards.get(kind)!), shards.get(kind)!.reduce((a, b) => a + b, 0));
  const unevenKind = TIMER_KINDS.slice().sort((a, b) => largestShardShare(b) - largestShardShare(a))[0]!;

  // the measured runs: every job RUNS times, each run judged on its own
  const jobs = [];
  for (const { job, run } of JOBS) {
    const runs: Array<ReturnType<typeof judge> & { ms: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      const findings: Finding[] = [];
      counter.requests.length = 0;
      counter.on = true;
      const started = performance.now();
      const failure = await run(findingServices(store, counter, settings, findings), new Date(now)).then(
        () => undefined,
        (error: unknown) => `the run failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      const ms = performance.now() - started;
      counter.on = false;
      const judged = judge(findings, counter.requests.slice(), dueKeys);
      if (failure) judged.problems.unshift(failure);
      runs.push({ ...judged, ms });
    }
    const first = runs[0]!;
    const identical = runs.every((r) => r.read === first.read && r.found === first.found);
    const problems = [...new Set(runs.flatMap((r) => r.problems))];
    if (!identical) problems.push(`runs differ: read ${runs.map((r) => r.read).join('/')}, found ${runs.map((r) => r.found).join('/')}`);
    jobs.push({
      job,
      kinds: first.kinds.join('+'),
      calls: first.calls,
      /** one page per finding call: the largest Limit of its Queries */
      pages: first.pages,
      due: first.due,
      found: first.found,
      read: first.read,
      bound: first.bound,
      readPerBound: ratio(first.read, first.bound),
      readPerDue: ratio(first.read, first.due),
      queries: first.queries,
      otherRequests: first.other.length,
      runMs: { median: Math.round(median(runs.map((r) => r.ms))), first: Math.round(first.ms), runs: RUNS },
      verdict: problems.length === 0 ? 'ok' : 'FAILED',
      problems,
    });
  }

  const queried = new Set(jobs.flatMap((j) => j.kinds.split('+')));
  const unqueried = TIMER_KINDS.filter((kind) => !queried.has(kind));
  const expiry = jobs.find((j) => j.job === 'expiryFreeze')!;
  const slowest = jobs.slice().sort((a, b) => b.runMs.median - a.runMs.median)[0]!;
  console.table(
    jobs.map((j) => ({
      job: j.job,
      kinds: j.kinds,
      due: j.due,
      found: j.found,
      read: j.read,
      bound: j.bound,
      'read/bound': j.readPerBound,
      queries: j.queries,
      verdict: j.verdict,
    })),
  );
  for (const j of jobs) for (const problem of j.problems) console.log(`  ${j.job}: ${problem}`);
  if (unqueried.length) console.log(`  no job finds the timer kind(s) ${unqueried.join(', ')}`);
  console.table({
    'items in table (with a timer)': write.written,
    'items due per kind (≤ now)': DUE,
    'job batch limit (JOB_BATCH_LIMIT)': settings.jobBatchLimit,
    'read / items in table (expiryFreeze)': ratio(expiry.read, write.written),
    [`largest partition share of all items (${hottest})`]: ratio(hottestCount, rows.length),
    [`largest partition share of its kind (${hottestKind})`]: ratio(hottestCount, perKind.get(hottestKind)!),
    'largest EXPIRY shard / EXPIRY items (index COUNT; 1/8 = 0.125)': largestShardShare('EXPIRY'),
    [`most uneven kind: largest shard / its items (${unevenKind})`]: largestShardShare(unevenKind),
    [`shards holding items, per kind (of ${TIMER_SHARDS})`]: TIMER_KINDS.map((kind) => `${kind} ${shards.get(kind)!.filter(Boolean).length}`).join(', '),
    'runs per job (identical reads)': `${RUNS} (${jobs.every((j) => !j.problems.some((p) => p.startsWith('runs differ'))) ? 'yes' : 'NO'})`,
    [`run time, median ms (slowest job: ${slowest.job})`]: slowest.runMs.median,
    'timer kinds found by no job': unqueried.join(', ') || 'none',
  });

  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const dueIndex = {
    measuredAt: new Date().toISOString(),
    itemsInTable: write.written,
    itemsDuePerKind: DUE,
    jobBatchLimit: settings.jobBatchLimit,
    // the figures of the first version (EXPIRY, as expiryFreeze finds it), under their names
    itemsDue: expiry.due,
    itemsFound: expiry.found,
    itemsRead: expiry.read,
    readPerDue: expiry.readPerDue,
    onePage: expiry.pages[0],
    bound: expiry.bound,
    readPerBound: expiry.readPerBound,
    readPerTableItem: ratio(expiry.read, write.written),
    queriesPerRun: expiry.queries,
    jobs,
    unqueriedKinds: unqueried,
    itemsPerKind: Object.fromEntries(perKind),
    largestPartition: { timer: hottest, items: hottestCount, shareOfAll: ratio(hottestCount, rows.length), shareOfKind: ratio(hottestCount, perKind.get(hottestKind)!) },
    expiryShardSizes: shards.get('EXPIRY'),
    shardSizes: Object.fromEntries(shards),
    runMs: expiry.runMs,
    verdict: jobs.every((j) => j.verdict === 'ok') && unqueried.length === 0 ? 'ok' : 'FAILED',
  };
  writeFileSync(out, `${JSON.stringify({ ...previous, dueIndex }, null, 2)}\n`);
  console.log(`written ${out} (dueIndex merged)`);
  client.destroy();
  await dynamo.stop();
  process.exit(dueIndex.verdict === 'ok' ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
