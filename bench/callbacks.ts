/**
 * `npm run bench` (callbacks): what a callback costs beyond the DynamoDB work it cannot avoid, measured
 * in one process on one DynamoDB Local, every figure a ratio against a baseline of the same run.
 *
 * - P1: newInstance through the real handler (middleware, signature check, parsing, order read,
 *   provisioning, sealing, the transaction, the signed answer) against a bare TransactWriteItems of the
 *   same items (the very transaction the handler sent, captured and replayed with fresh keys), runs
 *   interleaved. Targets: median ≤ 1.25×, p99 ≤ 1.5×.
 * - P2: DynamoDB requests per callback, counted by a middleware on the store's client (one count per
 *   request; SDK retries happen inside it). Targets: ≤ 1 write round trip for every mutating callback,
 *   1 BatchGetItem for a 100-id queryInstance.
 * - P5: 2 000 mixed callbacks (whole lifecycles) at 8 in flight against the same writes replayed raw at
 *   8 in flight. Targets: zero errors, throughput ≥ 0.8×.
 *
 * The marketplace's open API answers in-process here (an in-memory order book): its latency is the
 * marketplace's, not ours, and is measured with the local marketplace over HTTP in bench/answerTime.ts.
 * Merges its figures into bench/results.json under "callbacks"; exit 1 when a target is missed.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  BatchGetCommand,
  GetCommand,
  TransactWriteCommand,
  type BatchGetCommandInput,
  type GetCommandInput,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import pMap from 'p-map';
import { startBenchTable } from './benchTable.ts';
import type { OrderInfo } from '../shared/openapi/order.ts';
import { OpenApiError, type LicenseClient, type MarketplaceClient } from '../shared/openapi/client.ts';
import type { Store } from '../shared/storage/store.ts';

const P1_RUNS = Number(process.env.BENCH_P1_RUNS || 300);
const P5_CALLBACKS = Number(process.env.BENCH_P5_CALLBACKS || 2000);
const CONCURRENCY = 8;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/** Query order answered from memory (the marketplace's latency is not ours to measure here). */
function inMemoryMarketplace(): MarketplaceClient & LicenseClient & { register(order: OrderInfo): void } {
  const orders = new Map<string, OrderInfo>();
  const notHere = async (): Promise<never> => {
    throw new OpenApiError('License APIs are not part of this bench', { kind: 'request' });
  };
  return {
    activateLicense: notHere,
    activateLicenses: notHere,
    licenseHeartbeat: notHere,
    uploadLicense: notHere,
    register: (order) => void orders.set(order.orderId, order),
    async queryOrder(orderId, orderLineId) {
      const order = orders.get(orderId);
      if (!order) throw new OpenApiError(`query order: ${orderId} unknown`, { kind: 'business' });
      return orderLineId ? { ...order, orderLine: order.orderLine.filter((l) => l.orderLineId === orderLineId) } : order;
    },
    async pushUsage() {},
  };
}

/**
 * A captured transaction as a raw conditional write of the same items on fresh keys: every item keeps
 * its attributes and its partition key gets a new suffix. `conditions: 'kept'` sends the original
 * conditions (newInstance's all hold on new keys: "not there yet"); `'not-exists'` replaces each by
 * "not there yet" (a lifecycle write is conditioned on the version it read, which a replay lacks).
 */
function withFreshKeys(input: TransactWriteCommandInput, conditions: 'kept' | 'not-exists' = 'not-exists'): TransactWriteCommandInput {
  const suffix = `#${randomUUID()}`;
  const fresh = (condition?: string) => (condition ? { ConditionExpression: 'attribute_not_exists(pk)' } : {});
  if (conditions === 'kept')
    return {
      ...input,
      TransactItems: input.TransactItems!.map(({ Put }) => {
        if (!Put) throw new Error('newInstance writes Put items only');
        return { Put: { ...Put, Item: { ...Put.Item, pk: `${Put.Item!.pk}${suffix}` } } };
      }),
    };
  return {
    TransactItems: input.TransactItems!.map(({ Put, Update }) => {
      if (Put) {
        const { ConditionExpression, ExpressionAttributeNames: _n, ExpressionAttributeValues: _v, ...rest } = Put;
        return { Put: { ...rest, Item: { ...Put.Item, pk: `${Put.Item!.pk}${suffix}` }, ...fresh(ConditionExpression) } };
      }
      if (Update) {
        const { ConditionExpression, ...rest } = Update;
        return { Update: { ...rest, Key: { ...Update.Key, pk: `${Update.Key!.pk}${suffix}` }, ...fresh(ConditionExpression) } };
      }
      throw new Error('only Put and Update items are replayed');
    }),
  };
}

async function main() {
  const { dynamo } = await startBenchTable();
  // imported once the environment is set: the runtime reads it when it loads
  const { freshOrder, signedEvent } = await import('../shared/testing/harness.ts');
  const { probeDynamo, writeRoundTrips } = await import('../shared/testing/dynamoProbe.ts');
  const { handler } = await import('../functions/produce/handler.ts');
  const { getRuntime } = await import('../shared/runtime.ts');
  const { services } = await getRuntime();
  const marketplace = inMemoryMarketplace();
  services.marketplace = marketplace;
  const store = services.store as Store;
  const client = store.documentClient;
  const probe = probeDynamo(client);

  // the TransactWriteItems inputs the store sends, and its reads (as the document client receives them)
  let lastTransaction: TransactWriteCommandInput | undefined;
  const transactions: TransactWriteCommandInput[] = [];
  const reads: Array<{ command: 'GetItemCommand' | 'BatchGetItemCommand'; input: unknown }> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName;
      if (command === 'TransactWriteItemsCommand') {
        lastTransaction = args.input as TransactWriteCommandInput; // never mutated after it is sent
        transactions.push(lastTransaction);
      } else if (command === 'GetItemCommand' || command === 'BatchGetItemCommand') {
        reads.push({ command, input: args.input });
      }
      return next(args);
    },
    { step: 'initialize', priority: 'low', name: 'bench-capture' },
  );

  // time spent inside DynamoDB requests (to tell our own work from the database's)
  let dynamoMs = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const started = performance.now();
      try {
        return await next(args);
      } finally {
        dynamoMs += performance.now() - started;
      }
    },
    { step: 'initialize', priority: 'high', name: 'bench-timing', override: true },
  );

  const context = { getRemainingTimeInMillis: () => 6000, functionName: 'bench', awsRequestId: 'bench' } as unknown as Context;
  async function call(body: Record<string, unknown>) {
    const event = signedEvent(body);
    const started = performance.now();
    const result = (await handler(event as never, context)) as APIGatewayProxyResult;
    const json = JSON.parse(result.body) as { resultCode: string; instanceId?: string };
    return { ms: performance.now() - started, json, nonce: event.queryStringParameters!.nonce! };
  }
  async function newOrder(over: { orderType?: string; skuCode?: string; linearValue?: number } = {}) {
    const order = freshOrder(over);
    marketplace.register(order);
    return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
  }

  // ------------------------------------------------------------------ P1
  async function newInstanceOnce() {
    const ids = await newOrder();
    const businessId = randomUUID();
    const { ms, json } = await call({ activity: 'newInstance', businessId, ...ids });
    if (json.resultCode !== '000000') throw new Error(`newInstance answered ${json.resultCode}`);
    return { ms, transaction: lastTransaction! };
  }
  async function bareOnce(captured: { transaction: TransactWriteCommandInput }) {
    const input = withFreshKeys(captured.transaction, 'kept');
    const started = performance.now();
    await client.send(new TransactWriteCommand(input));
    return performance.now() - started;
  }
  for (let i = 0; i < 20; i++) await bareOnce(await newInstanceOnce()); // warm-up: JIT, connections
  const handled: number[] = [];
  const bare: number[] = [];
  const outside: number[] = [];
  // the baseline replays the transaction of the previous handler run; the order alternates (ABBA) so
  // that neither side always runs first
  let last = await newInstanceOnce();
  for (let i = 0; i < P1_RUNS; i++) {
    const bareFirst = i % 2 === 1;
    if (bareFirst) bare.push(await bareOnce(last));
    dynamoMs = 0;
    const run = await newInstanceOnce();
    handled.push(run.ms);
    outside.push(run.ms - dynamoMs);
    if (!bareFirst) bare.push(await bareOnce(run));
    last = run;
  }
  outside.sort((a, b) => a - b);
  handled.sort((a, b) => a - b);
  bare.sort((a, b) => a - b);
  const p1 = {
    runs: P1_RUNS,
    handlerMedianMs: round(percentile(handled, 50), 2),
    bareMedianMs: round(percentile(bare, 50), 2),
    medianRatio: round(percentile(handled, 50) / percentile(bare, 50)),
    handlerP99Ms: round(percentile(handled, 99), 2),
    bareP99Ms: round(percentile(bare, 99), 2),
    p99Ratio: round(percentile(handled, 99) / percentile(bare, 99)),
    /** the handler's own work (everything but waiting for DynamoDB), median */
    ownWorkMedianMs: round(percentile(outside, 50), 2),
  };
  const p1ok = p1.medianRatio <= 1.25 && p1.p99Ratio <= 1.5;
  console.log('\nP1  newInstance in-process vs a bare TransactWriteItems of the same items');
  console.table([{ ...p1, target: 'median ≤ 1.25×, p99 ≤ 1.5×', verdict: p1ok ? 'ok' : 'MISSED' }]);

  // ------------------------------------------------------------------ P2
  const rows: Array<Record<string, unknown>> = [];
  async function counted(name: string, body: Record<string, unknown>, mutating = true) {
    probe.reset();
    const { json } = await call(body);
    const counts = probe.counts();
    const writes = writeRoundTrips(counts);
    rows.push({
      callback: name,
      resultCode: json.resultCode,
      reads: (counts.GetItemCommand ?? 0) + (counts.QueryCommand ?? 0),
      batchGets: counts.BatchGetItemCommand ?? 0,
      writeRoundTrips: writes,
      verdict: !mutating || writes <= 1 ? 'ok' : 'MISSED',
    });
    return json;
  }
  {
    const ids = await newOrder();
    const { instanceId } = await counted('newInstance', { activity: 'newInstance', businessId: randomUUID(), ...ids });
    await counted('newInstance (resend)', { activity: 'newInstance', businessId: randomUUID(), ...ids });
    await counted('queryInstance (1 id)', { activity: 'queryInstance', instanceId }, false);
    await counted('refreshInstance RENEWAL', { activity: 'refreshInstance', instanceId, orderId: 'CSRENEW', orderLineId: 'CSRENEW-1', scene: 'RENEWAL', expireTime: '20291124000000' });
    await counted('refreshInstance (resend)', { activity: 'refreshInstance', instanceId, orderId: 'CSRENEW', orderLineId: 'CSRENEW-1', scene: 'RENEWAL', expireTime: '20291124000000' });
    await counted('changeInstanceCheck', { activity: 'changeInstanceCheck', instanceId, productInfo: { skuCode: 'sku-pro', linearValue: 20 } }, false);
    await counted('updateInstanceStatus FREEZE', { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    await counted('updateInstanceStatus UNFREEZE', { activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' });
    const upgrade = await newOrder({ orderType: 'UPGRADE', skuCode: 'sku-pro', linearValue: 20 });
    await counted('upgradeInstance', { activity: 'upgradeInstance', instanceId, ...upgrade });
    await counted('releaseInstance', { activity: 'releaseInstance', instanceId });
    await counted('releaseInstance (resend)', { activity: 'releaseInstance', instanceId });
    await counted('orderNotify', { activity: 'orderNotify', ...(await newOrder()), testFlag: '0' });
    const hundred: string[] = [];
    await pMap(Array.from({ length: 100 }), async () => hundred.push((await call({ activity: 'newInstance', businessId: randomUUID(), ...(await newOrder()) })).json.instanceId!), { concurrency: CONCURRENCY });
    await counted('queryInstance (100 ids)', { activity: 'queryInstance', instanceId: hundred.join(',') }, false);
  }
  const hundredRow = rows.at(-1)!;
  if (hundredRow.batchGets !== 1 || hundredRow.reads !== 0) hundredRow.verdict = 'MISSED';
  const p2ok = rows.every((r) => r.verdict === 'ok');
  console.log('\nP2  DynamoDB requests per callback (write round trips ≤ 1; 100-id query: 1 BatchGetItem)');
  console.table(rows);

  // ------------------------------------------------------------------ P5
  /** One whole lifecycle: the mix of callbacks the marketplace sends an order over its life. */
  const lifecycle = async (ids: { orderId: string; orderLineId: string }) => {
    const businessId = randomUUID();
    const instanceId = businessId;
    const upgrade = await newOrder({ orderType: 'UPGRADE', skuCode: 'sku-pro', linearValue: 20 });
    return [
      { activity: 'newInstance', businessId, ...ids },
      { activity: 'queryInstance', instanceId },
      { activity: 'refreshInstance', instanceId, orderId: `R${ids.orderId}`, orderLineId: `R${ids.orderId}-1`, scene: 'RENEWAL', expireTime: '20291124000000' },
      { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' },
      { activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' },
      { activity: 'upgradeInstance', instanceId, ...upgrade },
      { activity: 'releaseInstance', instanceId },
    ];
  };
  const perOrder = 7;
  const orders = Math.ceil(P5_CALLBACKS / perOrder);
  const scripts = await Promise.all(Array.from({ length: orders }, async () => lifecycle(await newOrder())));
  transactions.length = 0;
  reads.length = 0;
  let errors = 0;
  let callbacks = 0;
  probe.reset();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await pMap(
    scripts,
    async (script) => {
      for (const body of script) {
        const { json } = await call(body);
        callbacks++;
        if (json.resultCode !== '000000') errors++;
      }
    },
    { concurrency: CONCURRENCY },
  );
  const callbackSeconds = (performance.now() - started) / 1000;
  const callbackCpu = process.cpuUsage(cpuBefore);
  const requestsPerCallback = Object.values(probe.counts()).reduce((a, b) => a + b, 0) / callbacks;
  // the raw baseline: the transactions the callbacks sent, replayed as conditional writes, same concurrency
  const replays = transactions.map((t) => withFreshKeys(t));
  const rawCpuBefore = process.cpuUsage();
  const rawStarted = performance.now();
  let rawErrors = 0;
  await pMap(replays, (input) => client.send(new TransactWriteCommand(input)).catch(() => void rawErrors++), { concurrency: CONCURRENCY });
  const rawSeconds = (performance.now() - rawStarted) / 1000;
  const rawCpu = process.cpuUsage(rawCpuBefore);
  // a second baseline: every request the callbacks sent (their reads too), replayed raw: what is left
  // between it and the callbacks is this service's own work
  const allRequests: Array<() => Promise<unknown>> = [
    ...transactions.map((t) => withFreshKeys(t)).map((input) => () => client.send(new TransactWriteCommand(input))),
    ...reads.map(({ command, input }) =>
      command === 'GetItemCommand' ? () => client.send(new GetCommand(input as GetCommandInput)) : () => client.send(new BatchGetCommand(input as BatchGetCommandInput)),
    ),
  ].sort(() => Math.random() - 0.5);
  const allStarted = performance.now();
  let allErrors = 0;
  await pMap(allRequests, (send) => send().then(() => undefined, () => void allErrors++), { concurrency: CONCURRENCY });
  const allSeconds = (performance.now() - allStarted) / 1000;
  const cpuMsPer = (u: NodeJS.CpuUsage, n: number) => round((u.user + u.system) / 1000 / n, 2);
  const p5 = {
    callbacks,
    errors,
    callbacksPerSecond: round(callbacks / callbackSeconds, 1),
    rawWrites: replays.length,
    rawErrors,
    rawWritesPerSecond: round(replays.length / rawSeconds, 1),
    throughputRatio: round(callbacks / callbackSeconds / (replays.length / rawSeconds)),
    /** callbacks/s against the same requests (reads and writes) replayed raw, per callback */
    vsSameRequestsRaw: round(callbacks / callbackSeconds / (callbacks / allSeconds)),
    sameRequestsRawErrors: allErrors,
    dynamoRequestsPerCallback: round(requestsPerCallback, 2),
    nodeCpuMsPerCallback: cpuMsPer(callbackCpu, callbacks),
    nodeCpuMsPerRawWrite: cpuMsPer(rawCpu, replays.length),
  };
  const p5ok = errors === 0 && p5.throughputRatio >= 0.8;
  console.log(`\nP5  ${callbacks} mixed callbacks at ${CONCURRENCY} in flight vs the same writes replayed raw`);
  console.table([{ ...p5, target: '0 errors, ≥ 0.8×', verdict: p5ok ? 'ok' : 'MISSED' }]);

  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const callbacksFigures = { measuredAt: new Date().toISOString(), p1: { ...p1, ok: p1ok }, p2: { rows, ok: p2ok }, p5: { ...p5, ok: p5ok } };
  writeFileSync(out, `${JSON.stringify({ ...previous, callbacks: callbacksFigures }, null, 2)}\n`);
  console.log(`written ${out}`);
  await dynamo.stop();
  process.exit(p1ok && p2ok && p5ok ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
