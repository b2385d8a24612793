/**
 * reconcile on DynamoDB Local against the local marketplace: every instance is created through the real
 * produce handler (so it carries its marker from its creation), then its order is replaced in the local
 * marketplace to create each kind of drift. The job runs as of its marker's due time (the event's
 * `time`). Every test parks the markers of its instances far in the future at its end, so the next
 * test's counts are exact.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import type { ReconcileSummary } from '#shared/domain/reconcile';
import { DAY_MS, nextReconcileAt } from '#shared/domain/timers';
import type { OrderInfo } from '#shared/openapi/order';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { Store } from '#shared/storage/store';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { handler as expiryFreeze } from '../expiryFreeze/handler.ts';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

const hooks: Array<{ event: string; instanceId: string }> = [];
vi.mock('#shared/product/provisioner', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/product/provisioner')>();
  return {
    createProductProvisioner: (settings: Parameters<typeof original.createProductProvisioner>[0]) => ({
      ...original.createProductProvisioner(settings),
      onLifecycle: async ({ event, instance }: { event: string; instance: { instanceId: string } }) => void hooks.push({ event, instanceId: instance.instanceId }),
    }),
  };
});

let h: Harness;
let alerts: OperatorAlert[] = [];
beforeAll(async () => {
  h = await startHarness();
  alerts = await captureAlerts();
});
afterAll(() => h.close());
beforeEach(() => {
  hooks.length = 0;
  alerts.length = 0;
});

const PARKED = '2999-01-01T00:00:00.000Z';
const created: string[] = [];
afterEach(async () => {
  const s = await store();
  for (const id of created.splice(0)) {
    const marker = await s.getReconcileMarker(id);
    if (marker?.dueAt) expect(await s.moveReconcileMarker(id, marker.dueAt, { dueAt: PARKED })).toBe(true);
  }
});

const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store as Store;
const run = (time: Date | string) => runJob<ReconcileSummary>(handler, new Date(time));
const market = (date: Date) => formatMarketTime(date);
const queriesOf = (orderId: string) => h.marketplace.calls().filter((c) => c.path.includes(`orderId=${orderId}`)).length;

/** A provisioned instance of a fresh yearly order (expiring in a year unless given), and its marker. */
async function liveInstance(over: Parameters<typeof freshOrder>[0] = {}) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  const line = order.orderLine[0]!;
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: line.orderLineId });
  expect(answer.json.resultCode).toBe('000000');
  const instanceId = answer.json.instanceId!;
  created.push(instanceId);
  hooks.length = 0; // the product heard of the provisioning: only what the job tells it counts
  const instance = (await (await store()).getInstance(instanceId))!;
  const marker = await (await store()).getReconcileMarker(instanceId);
  // the marker was written with the instance, due at its slot of the day after its creation
  expect(marker?.dueAt).toBe(nextReconcileAt(instanceId, instance.createdAt));
  return { instanceId, order, dueAt: marker!.dueAt!, instance };
}

/** The same order as the marketplace now tells it (the drift), replacing the one registered. */
function marketplaceSays(order: OrderInfo, line: Partial<OrderInfo['orderLine'][number]>) {
  h.marketplace.registerOrder({ ...order, orderLine: [{ ...order.orderLine[0]!, ...line }] });
}

const alertsFor = (instanceId: string) => alerts.filter((a) => a.subject.instanceId === instanceId);

describe('reconcile', () => {
  it('no drift: checked once a day at the instance’s own time, nothing changed, nothing alerted', async () => {
    const i = await liveInstance();
    // "now" is the event's time: a second before the marker's time nothing is due
    expect(await run(new Date(Date.parse(i.dueAt) - 1000))).toMatchObject({ due: 0, checked: 0 });
    const before = queriesOf(i.order.orderId);
    expect(await run(i.dueAt)).toMatchObject({ due: 1, read: 1, done: 1, checked: 1, driftFound: 0, driftFixed: 0, driftAlerted: 0, failed: 0 });
    expect(queriesOf(i.order.orderId)).toBe(before + 1);
    expect(alerts).toEqual([]);
    expect(await (await store()).getInstance(i.instanceId)).toEqual(i.instance);
    // moved to the same time the next day, with the run's time
    const next = new Date(Date.parse(i.dueAt) + DAY_MS).toISOString();
    expect(await (await store()).getReconcileMarker(i.instanceId)).toEqual({ dueAt: next, checkedAt: i.dueAt });
    expect(await run(i.dueAt)).toMatchObject({ due: 0, checked: 0 });
    expect(await run(next)).toMatchObject({ due: 1, checked: 1, driftFound: 0 });
  });

  it('expiry later on the marketplace, instance ACTIVE: the missed renewal is applied as a refresh would (hook, audit record), not alerted', async () => {
    const i = await liveInstance();
    const renewedTo = new Date('2028-11-24T23:59:59Z');
    marketplaceSays(i.order, { expireTime: market(renewedTo) });
    expect(await run(i.dueAt)).toMatchObject({ due: 1, checked: 1, driftFound: 1, driftFixed: 1, driftAlerted: 0, failed: 0 });
    const after = (await (await store()).getInstance(i.instanceId))!;
    expect(after).toMatchObject({ status: 'ACTIVE', expireTime: renewedTo.toISOString(), version: i.instance.version + 1, statusReason: expect.stringMatching(/^reconcile: missed renewal/) });
    expect(hooks).toEqual([{ event: 'RENEW', instanceId: i.instanceId }]);
    expect((await (await store()).history(i.instanceId))[0]).toMatchObject({ activity: 'reconcile', resultCode: '000000', orderId: i.order.orderId });
    expect(alerts).toEqual([]);
    // the next day's check finds nothing left
    expect(await run(new Date(Date.parse(i.dueAt) + DAY_MS))).toMatchObject({ checked: 1, driftFound: 0, driftFixed: 0 });
  });

  it('a renewal missed until our expiry safety net froze the instance: applied, which lifts our own freeze (as the refresh would have)', async () => {
    const i = await liveInstance({ expireTime: market(new Date(Date.now() - DAY_MS)) });
    const frozenAt = new Date(Date.now() + 3 * 3_600_000);
    expect(await runJob<{ done: number }>(expiryFreeze, frozenAt)).toMatchObject({ done: 1 });
    const frozen = (await (await store()).getInstance(i.instanceId))!;
    expect(frozen).toMatchObject({ status: 'FROZEN', frozenLocally: true });
    marketplaceSays(i.order, { expireTime: '20281124235959' });
    hooks.length = 0;
    alerts.length = 0;
    expect(await run([i.dueAt, frozenAt.toISOString()].sort()[1]!)).toMatchObject({ checked: 1, driftFound: 1, driftFixed: 1, driftAlerted: 0 });
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'ACTIVE', expireTime: '2028-11-24T23:59:59.000Z', version: frozen.version + 1 });
    expect((await (await store()).getInstance(i.instanceId))?.frozenLocally).toBeUndefined();
    expect(hooks).toEqual([{ event: 'RENEW', instanceId: i.instanceId }]);
    expect(alerts).toEqual([]);
  });

  it('expiry earlier on the marketplace: alerted, never moved back', async () => {
    const i = await liveInstance();
    marketplaceSays(i.order, { expireTime: '20270524235959' });
    expect(await run(i.dueAt)).toMatchObject({ checked: 1, driftFound: 1, driftFixed: 0, driftAlerted: 1 });
    expect(await (await store()).getInstance(i.instanceId)).toEqual(i.instance);
    expect(alertsFor(i.instanceId)).toEqual([
      {
        kind: 'reconcile-drift',
        subject: { instanceId: i.instanceId, orderId: i.order.orderId, orderLineId: i.order.orderLine[0]!.orderLineId },
        message: expect.stringMatching(/\[expiry\] the marketplace's order line ends 2027-05-24T23:59:59\.000Z, earlier than ours/),
      },
    ]);
    // ids and times only: nothing of the buyer (freshOrder's phone, e-mail, customer)
    for (const personal of ['18612345678', 'owner@acme.example', 'cust-1', 'acme']) expect(JSON.stringify(alerts)).not.toContain(personal);
    expect(hooks).toEqual([]);
  });

  it('state: ACTIVE although the line ended, or FROZEN (by the marketplace) although it runs on: alerted, neither frozen nor unfrozen', async () => {
    const ended = await liveInstance();
    marketplaceSays(ended.order, { expireTime: market(new Date(Date.now() - 3 * DAY_MS)) });
    const frozen = await liveInstance();
    expect((await call({ activity: 'updateInstanceStatus', instanceId: frozen.instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    // renewed on the marketplace too: a later expiry on an instance the marketplace froze is not applied
    marketplaceSays(frozen.order, { expireTime: '20281124235959' });
    const frozenBefore = (await (await store()).getInstance(frozen.instanceId))!;

    hooks.length = 0;
    const latest = [ended.dueAt, frozen.dueAt].sort()[1]!;
    expect(await run(latest)).toMatchObject({ due: 2, checked: 2, driftFound: 4, driftFixed: 0, driftAlerted: 2, failed: 0 });
    expect(alertsFor(ended.instanceId)).toEqual([expect.objectContaining({ kind: 'reconcile-drift', message: expect.stringMatching(/\[expiry\].*\[state\] ACTIVE although/) })]);
    expect(alertsFor(frozen.instanceId)).toEqual([
      expect.objectContaining({ kind: 'reconcile-drift', message: expect.stringMatching(/\[expiry\].*not applied: the instance is FROZEN.*\[state\] FROZEN although/) }),
    ]);
    expect((await (await store()).getInstance(ended.instanceId))?.status).toBe('ACTIVE');
    expect(await (await store()).getInstance(frozen.instanceId)).toEqual(frozenBefore);
    expect(hooks).toEqual([]);
  });

  it('spec: another SKU and linear value on the order line are alerted, the instance keeps its own', async () => {
    const i = await liveInstance();
    marketplaceSays(i.order, { productInfo: [{ productId: 'OFFI0001', skuCode: 'sku-pro', linearValue: 50, productName: 'Test product' }] });
    expect(await run(i.dueAt)).toMatchObject({ checked: 1, driftFound: 2, driftFixed: 0, driftAlerted: 1 });
    expect(alertsFor(i.instanceId)).toEqual([expect.objectContaining({ message: expect.stringMatching(/\[spec\] skuCode is sku-basic here but sku-pro.*\[spec\] linearValue is 10 here but 50/) })]);
    expect((await (await store()).getInstance(i.instanceId))?.product).toEqual(i.instance.product);
  });

  it('order not found: the marketplace no longer returns the instance’s order line: alerted', async () => {
    const i = await liveInstance();
    marketplaceSays(i.order, { orderLineId: `${i.order.orderId}-000009` });
    expect(await run(i.dueAt)).toMatchObject({ checked: 1, driftFound: 1, driftAlerted: 1, failed: 0 });
    expect(alertsFor(i.instanceId)).toEqual([expect.objectContaining({ message: expect.stringMatching(/\[order\] query order answered MKT\.0101 for order /) })]);
  });

  it('renewed through refreshInstance: compared with the renewal order, not the creation order', async () => {
    const i = await liveInstance();
    const renewal = freshOrder({ orderType: 'RENEW', expireTime: '20281124235959' });
    h.marketplace.registerOrder(renewal);
    const refresh = { activity: 'refreshInstance', instanceId: i.instanceId, orderId: renewal.orderId, orderLineId: renewal.orderLine[0]!.orderLineId, scene: 'RENEWAL', expireTime: '20281124235959' };
    expect((await call(refresh)).json.resultCode).toBe('000000');
    const before = queriesOf(i.order.orderId);
    // the creation order still ends in 2027: no drift, because it is not the one compared
    expect(await run(i.dueAt)).toMatchObject({ checked: 1, driftFound: 0 });
    expect(queriesOf(i.order.orderId)).toBe(before);
    expect(queriesOf(renewal.orderId)).toBeGreaterThan(0);
  });

  it('two runs at the same time check an instance once (one query, one alert)', async () => {
    const i = await liveInstance();
    marketplaceSays(i.order, { expireTime: '20270524235959' });
    const before = queriesOf(i.order.orderId);
    const [a, b] = await Promise.all([run(i.dueAt), run(i.dueAt)]);
    expect(a.checked + b.checked).toBe(1);
    expect(a.failed + b.failed).toBe(0);
    expect(queriesOf(i.order.orderId)).toBe(before + 1);
    expect(alertsFor(i.instanceId)).toHaveLength(1);
  });

  it('the marketplace unreachable: counted as failed, the instance is due again within the hour, and the other instances are checked', async () => {
    const unlucky = await liveInstance();
    const fine = await liveInstance();
    const latest = [unlucky.dueAt, fine.dueAt].sort()[1]!;
    // the first order query of this run fails (HTTP 503; the test runtime has one marketplace host)
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    const summary = await run(latest);
    h.marketplace.injectFaults({ count: 0, mode: 'error' });
    expect(summary).toMatchObject({ due: 2, checked: 1, failed: 1 });
    const markers = await Promise.all([unlucky, fine].map((i) => store().then((s) => s.getReconcileMarker(i.instanceId))));
    const retried = markers.find((m) => m?.dueAt === new Date(Date.parse(latest) + 30 * 60_000).toISOString());
    expect(retried).toBeDefined();
    expect(await run(new Date(Date.parse(latest) + 60 * 60_000))).toMatchObject({ due: 1, checked: 1, failed: 0 });
  });

  it('the marker lives with the instance: none for a debug instance, off the index in the release’s own transaction', async () => {
    const debug = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(debug.json.resultCode).toBe('000000');
    expect(await (await store()).getReconcileMarker(debug.json.instanceId!)).toBeUndefined();

    const i = await liveInstance();
    expect((await call({ activity: 'releaseInstance', instanceId: i.instanceId })).json.resultCode).toBe('000000');
    const raw = await h.table.documentClient.send(new GetCommand({ TableName: h.table.tableName, Key: { pk: `INSTANCE#${i.instanceId}`, sk: 'RECONCILE' } }));
    expect(raw.Item).toMatchObject({ expiresAt: expect.any(Number) });
    expect(raw.Item).not.toHaveProperty('timer');
    expect(raw.Item).not.toHaveProperty('dueAt');
    expect(await run(new Date(Date.parse(i.dueAt) + 3 * DAY_MS))).toMatchObject({ due: 0, checked: 0 });

    // a marker whose instance is gone is taken off the index when it falls due, nothing is queried
    const ghost = randomUUID();
    const item = { pk: `INSTANCE#${ghost}`, sk: 'RECONCILE', _et: 'Reconcile', instanceId: ghost, timer: 'RECONCILE#0', dueAt: '2026-01-01T00:00:00.000Z' };
    await h.table.documentClient.send(new PutCommand({ TableName: h.table.tableName, Item: item }));
    const queries = h.marketplace.calls().length;
    expect(await run(new Date(Date.parse(i.dueAt) + 3 * DAY_MS))).toMatchObject({ due: 1, skipped: 1, checked: 0, failed: 0 });
    expect(await (await store()).getReconcileMarker(ghost)).toEqual({ dueAt: undefined, checkedAt: new Date(Date.parse(i.dueAt) + 3 * DAY_MS).toISOString() });
    expect(h.marketplace.calls().length).toBe(queries);
  });

  it('the backfill gives a live instance written before markers existed its marker and keeps existing ones', async () => {
    const old = await liveInstance();
    const current = await liveInstance();
    await h.table.documentClient.send(new DeleteCommand({ TableName: h.table.tableName, Key: { pk: `INSTANCE#${old.instanceId}`, sk: 'RECONCILE' } }));
    expect(await (await store()).getReconcileMarker(old.instanceId)).toBeUndefined();
    const started = Date.now();
    const progress = await (await store()).backfillInstanceTimers();
    // every other instance of this file has its marker, the released and the debug one need none
    expect(progress.markers).toBe(1);
    const restored = await (await store()).getReconcileMarker(old.instanceId);
    expect(Date.parse(restored!.dueAt!)).toBeGreaterThan(started);
    expect(Date.parse(restored!.dueAt!) - started).toBeLessThanOrEqual(DAY_MS);
    expect((await (await store()).getReconcileMarker(current.instanceId))?.dueAt).toBe(current.dueAt);
    expect(await run([restored!.dueAt!, current.dueAt].sort()[1]!)).toMatchObject({ due: 2, checked: 2, driftFound: 0 });
    // nothing else in the table lacks one now: a second backfill adds none
    expect((await (await store()).backfillInstanceTimers()).markers).toBe(0);
  });
});
