/**
 * resourceRelease on DynamoDB Local: frozen past retention vs not yet, the product's retention from the
 * catalogue, report mode, two runs at once, and a renewal that comes first.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

const hooks: Array<{ event: string; status: string; instanceId: string }> = [];
let hookFails = false;
vi.mock('#shared/product/provisioner', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/product/provisioner')>();
  return {
    createProductProvisioner: (settings: Parameters<typeof original.createProductProvisioner>[0]) => ({
      ...original.createProductProvisioner(settings),
      onLifecycle: async ({ event, instance }: { event: string; instance: { instanceId: string; status: string } }) => {
        if (hookFails && instance.status === 'RELEASED') throw new Error('tenant service unreachable');
        hooks.push({ event, status: instance.status, instanceId: instance.instanceId });
      },
    }),
  };
});

let h: Harness;
let alerts: OperatorAlert[] = [];
beforeAll(async () => {
  h = await startHarness({ PRODUCT_CATALOGUE: JSON.stringify([{ skuCode: 'sku-short-retention', kind: 'saas', retentionDays: 3 }]) });
  alerts = await captureAlerts();
});
afterAll(() => h.close());
beforeEach(() => {
  hookFails = false;
  hooks.length = 0;
  alerts.length = 0;
});

const DAY = 86_400_000;
const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store;
const run = (time: Date, extra?: Record<string, unknown>) => runJob<JobCounts>(handler, time, extra);
const releasedHooks = () => hooks.filter((x) => x.status === 'RELEASED');

/** A provisioned instance that expired yesterday and that the marketplace froze just now. */
async function frozenInstance(skuCode?: string) {
  const order = freshOrder({ skuCode, expireTime: formatMarketTime(new Date(Date.now() - DAY)) });
  h.marketplace.registerOrder(order);
  const orderLineId = order.orderLine[0]!.orderLineId;
  const created = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId });
  const instanceId = created.json.instanceId!;
  expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
  return { instanceId, orderId: order.orderId, frozenAt: Date.parse((await (await store()).getInstance(instanceId))!.frozenAt!) };
}

// Every test ends with nothing of its own left due, so each run's counts are exact.
describe('resourceRelease', () => {
  it('releases what has been frozen longer than 15 + 1 days, tells the product, alerts, and leaves younger freezes', async () => {
    const old = await frozenInstance();
    const summaryEarly = await run(new Date(old.frozenAt + 16 * DAY - 60_000));
    expect(summaryEarly).toMatchObject({ due: 0, done: 0 });

    const summary = await run(new Date(old.frozenAt + 16 * DAY + 60_000));
    expect(summary).toMatchObject({ due: 1, read: 1, done: 1, skipped: 0, failed: 0 });
    const released = await (await store()).getInstance(old.instanceId);
    expect(released).toMatchObject({ status: 'RELEASED', releasedAt: new Date(old.frozenAt + 16 * DAY + 60_000).toISOString() });
    expect(released?.statusReason).toMatch(/^resourceRelease: frozen since/);
    expect(releasedHooks()).toEqual([{ event: 'RETENTION_ENDED', status: 'RELEASED', instanceId: old.instanceId }]);
    expect(alerts.map((a) => a.kind)).toEqual(['instance-released-locally']);
    // released is final: a later queryInstance shows no access info, the next run finds nothing
    const query = await call({ activity: 'queryInstance', instanceId: old.instanceId });
    expect(query.json.info?.[0]?.appInfo).toBeUndefined();
    expect(await run(new Date(old.frozenAt + 30 * DAY))).toMatchObject({ due: 0 });
  });

  it("takes the product's retention from the catalogue", async () => {
    const short = await frozenInstance('sku-short-retention');
    expect(await run(new Date(short.frozenAt + 4 * DAY - 60_000))).toMatchObject({ due: 0 });
    expect(await run(new Date(short.frozenAt + 4 * DAY + 60_000))).toMatchObject({ due: 1, done: 1 });
    expect((await (await store()).getInstance(short.instanceId))?.status).toBe('RELEASED');
  });

  it('report mode only reports; the next release run releases', async () => {
    const a = await frozenInstance();
    const at = new Date(a.frozenAt + 17 * DAY);
    expect(await run(at, { mode: 'report' })).toMatchObject({ due: 1, done: 1 });
    expect((await (await store()).getInstance(a.instanceId))?.status).toBe('FROZEN');
    expect(releasedHooks()).toHaveLength(0);
    expect(alerts).toEqual([expect.objectContaining({ kind: 'instance-release-due', subject: { instanceId: a.instanceId, orderId: a.orderId } })]);
    await expect(run(at, { mode: 'delete-everything' })).rejects.toThrow(/event.mode must be release or report/);
    // reported once a day, not at every hourly run
    expect(await run(new Date(at.getTime() + 3_600_000), { mode: 'report' })).toMatchObject({ due: 0 });
    expect(alerts).toHaveLength(1);
    expect(await run(new Date(at.getTime() + DAY + 60_000))).toMatchObject({ due: 1, done: 1 });
  });

  it('a renewal that came first wins: renewed + unfrozen instances are never released', async () => {
    const a = await frozenInstance();
    const renewal = await call({
      activity: 'refreshInstance',
      instanceId: a.instanceId,
      orderId: 'RENEWAL1',
      orderLineId: 'RENEWAL1-000001',
      scene: 'RENEWAL',
      expireTime: '20991231235959',
    });
    expect(renewal.json.resultCode).toBe('000000');
    expect((await call({ activity: 'updateInstanceStatus', instanceId: a.instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect(await run(new Date(a.frozenAt + 20 * DAY))).toMatchObject({ due: 0, done: 0 });
    expect((await (await store()).getInstance(a.instanceId))?.status).toBe('ACTIVE');
  });

  it('a renewal wins even when the UNFREEZE that should follow it is lost: retention counts from the new expiry', async () => {
    const a = await frozenInstance();
    const renewedTo = '20991231235959';
    expect((await call({ activity: 'refreshInstance', instanceId: a.instanceId, orderId: 'RENEW9', orderLineId: 'RENEW9-1', scene: 'RENEWAL', expireTime: renewedTo })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(a.instanceId))?.status).toBe('FROZEN');
    expect(await run(new Date(a.frozenAt + 40 * DAY))).toMatchObject({ due: 0, done: 0 });
    expect((await (await store()).getInstance(a.instanceId))?.status).toBe('FROZEN');
    expect(releasedHooks()).toHaveLength(0);
    await call({ activity: 'updateInstanceStatus', instanceId: a.instanceId, status: 'UNFREEZE' });
  });

  it('an instance frozen before its expiry (not for expiry) is kept until its expiry plus retention', async () => {
    const order = freshOrder({ expireTime: formatMarketTime(new Date(Date.now() + 30 * DAY)) });
    h.marketplace.registerOrder(order);
    const created = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId });
    const instanceId = created.json.instanceId!;
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    expect(await run(new Date(Date.now() + 20 * DAY))).toMatchObject({ due: 0 });
    expect(await run(new Date(Date.now() + 47 * DAY))).toMatchObject({ due: 1, done: 1 });
    expect((await (await store()).getInstance(instanceId))?.status).toBe('RELEASED');
  });

  it('an UNFREEZE that lands between the job reading an instance and writing it wins', async () => {
    const a = await frozenInstance();
    const repository = await store();
    const save = repository.saveInstance.bind(repository);
    const spy = vi.spyOn(repository, 'saveInstance').mockImplementationOnce(async (...args) => {
      expect((await call({ activity: 'updateInstanceStatus', instanceId: a.instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
      return save(...args);
    });
    const summary = await run(new Date(a.frozenAt + 17 * DAY));
    spy.mockRestore();
    expect(summary).toMatchObject({ due: 1, done: 0, skipped: 1 });
    expect((await repository.getInstance(a.instanceId))?.status).toBe('ACTIVE');
    expect(releasedHooks()).toHaveLength(0);
    expect(alerts).toHaveLength(0);
  });

  it('when the product cannot be told to delete the data, the operator is told so (not that it was done)', async () => {
    const a = await frozenInstance();
    hookFails = true;
    expect(await run(new Date(a.frozenAt + 17 * DAY))).toMatchObject({ due: 1, done: 1 });
    expect((await (await store()).getInstance(a.instanceId))?.status).toBe('RELEASED');
    expect(alerts.map((x) => x.kind)).toEqual(['product-hook-failed', 'instance-released-locally']);
    expect(alerts[0]!.message).toMatch(/hook failed; make the product act on it/);
  });

  it('two runs at once release each instance once and tell the product once', async () => {
    const frozen = await Promise.all(Array.from({ length: 5 }, () => frozenInstance()));
    const at = new Date(Math.max(...frozen.map((f) => f.frozenAt)) + 17 * DAY);
    const [first, second] = await Promise.all([run(at), run(at)]);
    expect(first.done + second.done).toBe(5);
    expect(first.failed + second.failed).toBe(0);
    expect(releasedHooks()).toHaveLength(5);
    expect(alerts).toHaveLength(5);
    for (const { instanceId } of frozen) expect((await (await store()).getInstance(instanceId))?.status).toBe('RELEASED');
  });
});
