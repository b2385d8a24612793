/**
 * expiryFreeze on DynamoDB Local: due vs not yet due vs already handled, the clock moved by the event's
 * `time`, two runs at once, and the race with a renewal arriving while the job runs.
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
vi.mock('#shared/product/provisioner', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/product/provisioner')>();
  return {
    createProductProvisioner: (settings: Parameters<typeof original.createProductProvisioner>[0]) => ({
      ...original.createProductProvisioner(settings),
      onLifecycle: async ({ event, instance }: { event: string; instance: { instanceId: string; status: string } }) =>
        void hooks.push({ event, status: instance.status, instanceId: instance.instanceId }),
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

const HOUR = 3_600_000;
const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store;
const run = (time: Date) => runJob<JobCounts>(handler, time);

/** A provisioned instance of a fresh order expiring at `expiry` (chargingMode PERIOD unless given). */
async function instanceExpiringAt(expiry: Date, chargingMode = 'PERIOD') {
  const order = freshOrder({ chargingMode, expireTime: formatMarketTime(expiry) });
  h.marketplace.registerOrder(order);
  const orderLineId = order.orderLine[0]!.orderLineId;
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId });
  expect(answer.json.resultCode).toBe('000000');
  return { instanceId: answer.json.instanceId!, orderId: order.orderId, orderLineId };
}

const renew = (instanceId: string, expiry: Date) =>
  call({
    activity: 'refreshInstance',
    instanceId,
    orderId: `RENEW${randomUUID().slice(0, 8)}`,
    orderLineId: `RENEW-${randomUUID().slice(0, 8)}`,
    scene: 'RENEWAL',
    expireTime: formatMarketTime(expiry),
  });

// Each test uses an earlier epoch than the one before, so what an earlier test left not-yet-due never
// falls due in a later one and the counts stay exact.
describe('expiryFreeze', () => {
  it('freezes only what is past expiry + 2 h: not yet due and already frozen instances are left alone', async () => {
    const expiry = new Date('2040-01-01T00:00:00Z');
    const due = await instanceExpiringAt(expiry);
    const notYet = await instanceExpiringAt(new Date(expiry.getTime() + 10 * 24 * HOUR));
    const frozenByMarketplace = await instanceExpiringAt(expiry);
    expect((await call({ activity: 'updateInstanceStatus', instanceId: frozenByMarketplace.instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    const oneTime = await instanceExpiringAt(expiry, 'ONE_TIME');

    // within the grace period nothing is due
    expect(await run(new Date(expiry.getTime() + 2 * HOUR - 1000))).toMatchObject({ due: 0, done: 0 });
    const summary = await run(new Date(expiry.getTime() + 2 * HOUR + 1000));
    expect(summary).toMatchObject({ due: 1, read: 1, done: 1, skipped: 0, failed: 0 });

    const frozen = await (await store()).getInstance(due.instanceId);
    expect(frozen).toMatchObject({ status: 'FROZEN', frozenLocally: true, frozenAt: new Date(expiry.getTime() + 2 * HOUR + 1000).toISOString() });
    expect(frozen?.statusReason).toMatch(/expiryFreeze: still active 2 h after its expiry/);
    expect((await (await store()).getInstance(notYet.instanceId))?.status).toBe('ACTIVE');
    expect((await (await store()).getInstance(frozenByMarketplace.instanceId))?.frozenLocally).toBeUndefined();
    expect((await (await store()).getInstance(oneTime.instanceId))?.status).toBe('ACTIVE');
    // the product was told, the operator alerted, the change audited beside the marketplace's calls
    expect(hooks.filter((x) => x.event === 'EXPIRED')).toEqual([{ event: 'EXPIRED', status: 'FROZEN', instanceId: due.instanceId }]);
    expect(alerts).toEqual([expect.objectContaining({ kind: 'instance-frozen-locally', subject: { instanceId: due.instanceId, orderId: due.orderId } })]);
    expect((await (await store()).history(due.instanceId))[0]).toMatchObject({ activity: 'expiryFreeze', resultCode: '000000' });
    // handled: the next run finds nothing
    expect(await run(new Date(expiry.getTime() + 3 * HOUR))).toMatchObject({ due: 0, done: 0 });
  });

  it('a later renewal restores a locally frozen instance; so does the marketplace UNFREEZE', async () => {
    const expiry = new Date('2039-01-01T00:00:00Z');
    const a = await instanceExpiringAt(expiry);
    const b = await instanceExpiringAt(expiry);
    expect(await run(new Date(expiry.getTime() + 3 * HOUR))).toMatchObject({ due: 2, done: 2 });

    const renewedTo = new Date('2040-06-01T00:00:00Z');
    expect((await renew(a.instanceId, renewedTo)).json.resultCode).toBe('000000');
    expect(await (await store()).getInstance(a.instanceId)).toMatchObject({ status: 'ACTIVE', expireTime: renewedTo.toISOString() });
    expect((await (await store()).getInstance(a.instanceId))?.frozenLocally).toBeUndefined();

    expect((await call({ activity: 'updateInstanceStatus', instanceId: b.instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(b.instanceId))?.status).toBe('ACTIVE');
    // b still has its old expiry: the safety net would freeze it again on its next run
    expect(await run(new Date(expiry.getTime() + 4 * HOUR))).toMatchObject({ due: 1, done: 1 });
    await renew(b.instanceId, renewedTo);
  });

  it('two runs at once freeze each instance once: one alert, one hook, one audit record each', async () => {
    const expiry = new Date('2038-01-01T00:00:00Z');
    const ids = await Promise.all(Array.from({ length: 6 }, () => instanceExpiringAt(expiry)));
    const at = new Date(expiry.getTime() + 3 * HOUR);
    const [first, second] = await Promise.all([run(at), run(at)]);
    expect(first.done + second.done).toBe(6);
    expect(first.failed + second.failed).toBe(0);
    expect(alerts).toHaveLength(6);
    expect(hooks.filter((x) => x.event === 'EXPIRED')).toHaveLength(6);
    for (const { instanceId } of ids) {
      expect((await (await store()).getInstance(instanceId))?.status).toBe('FROZEN');
      expect((await (await store()).history(instanceId)).filter((c) => c.activity === 'expiryFreeze')).toHaveLength(1);
      await renew(instanceId, new Date('2040-06-01T00:00:00Z'));
    }
  });

  it('a renewal that lands between the job reading an instance and writing it wins: the job skips it', async () => {
    const expiry = new Date('2037-01-01T00:00:00Z');
    const { instanceId } = await instanceExpiringAt(expiry);
    const repository = await store();
    const save = repository.saveInstance.bind(repository);
    const spy = vi.spyOn(repository, 'saveInstance').mockImplementationOnce(async (...args) => {
      // the marketplace's renewal arrives after the job decided, before its conditional write
      expect((await renew(instanceId, new Date('2038-06-01T00:00:00Z'))).json.resultCode).toBe('000000');
      return save(...args);
    });
    const summary = await run(new Date(expiry.getTime() + 3 * HOUR));
    spy.mockRestore();
    expect(summary).toMatchObject({ due: 1, done: 0, skipped: 1, failed: 0 });
    expect(await repository.getInstance(instanceId)).toMatchObject({ status: 'ACTIVE', expireTime: '2038-06-01T00:00:00.000Z' });
    expect(alerts).toHaveLength(0);
  });

  it('renewals racing the job end ACTIVE with the new expiry whichever wins', async () => {
    const expiry = new Date('2036-01-01T00:00:00Z');
    const ids = await Promise.all(Array.from({ length: 5 }, () => instanceExpiringAt(expiry)));
    const renewedTo = new Date('2037-06-01T00:00:00Z');
    const [summary] = await Promise.all([run(new Date(expiry.getTime() + 3 * HOUR)), ...ids.map(({ instanceId }) => renew(instanceId, renewedTo))]);
    expect(summary.failed).toBe(0);
    for (const { instanceId } of ids)
      expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'ACTIVE', expireTime: renewedTo.toISOString() });
  });

  it('a console debug instance (dial test) is frozen like any other, without paging anyone', async () => {
    const expiry = new Date('2035-01-01T00:00:00Z');
    const order = freshOrder({ expireTime: formatMarketTime(expiry) });
    h.marketplace.registerOrder(order);
    const created = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId, testFlag: '1' });
    expect(created.json.resultCode).toBe('000000');
    expect(await run(new Date(expiry.getTime() + 3 * HOUR))).toMatchObject({ due: 1, done: 1 });
    expect((await (await store()).getInstance(created.json.instanceId!))?.status).toBe('FROZEN');
    expect(alerts).toHaveLength(0);
  });

  it('an UNFREEZE that arrives before its renewal is not undone by the old expiry: a day is left for the refreshInstance', async () => {
    // (from here on the instances expired in the past, as real ones do when the marketplace acts)
    const expiry = new Date(Date.now() - 2 * 24 * HOUR);
    const { instanceId } = await instanceExpiringAt(expiry);
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' });
    const unfrozenAt = Date.parse((await (await store()).getInstance(instanceId))!.unfrozenAt!);
    // the old expiry is long past, but the renewal's refreshInstance may still be on its way
    expect(await run(new Date(unfrozenAt + 3 * HOUR))).toMatchObject({ due: 0 });
    // it never came: a day later the safety net freezes and alerts
    expect(await run(new Date(unfrozenAt + 27 * HOUR))).toMatchObject({ due: 1, done: 1 });
    expect(alerts).toHaveLength(1);
    await renew(instanceId, new Date('2099-01-01T00:00:00Z'));
  });

  it('a refunded renewal period (expiry moved back) does not restore a locally frozen instance', async () => {
    const expiry = new Date(Date.now() - 10 * 24 * HOUR);
    const { instanceId } = await instanceExpiringAt(expiry);
    expect(await run(new Date(expiry.getTime() + 3 * HOUR))).toMatchObject({ due: 1, done: 1 });
    const refund = await call({
      activity: 'refreshInstance',
      instanceId,
      orderId: 'REFUND1',
      orderLineId: 'REFUND1-1',
      scene: 'UNSUBSCRIBE_RENEWAL_PERIOD',
      expireTime: formatMarketTime(new Date(expiry.getTime() - 30 * 24 * HOUR)),
    });
    expect(refund.json.resultCode).toBe('000000');
    expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'FROZEN', frozenLocally: true });
    await renew(instanceId, new Date('2099-01-01T00:00:00Z'));
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');
  });

  it('a renewal paid while the marketplace had the instance frozen, whose UNFREEZE never comes, is reported once after a day', async () => {
    const { instanceId, orderId } = await instanceExpiringAt(new Date(Date.now() - 24 * HOUR));
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    expect((await renew(instanceId, new Date('2099-01-01T00:00:00Z'))).json.resultCode).toBe('000000');
    const renewedAt = Date.parse((await (await store()).getInstance(instanceId))!.renewedWhileFrozenAt!);
    expect(await run(new Date(renewedAt + 20 * HOUR))).toMatchObject({ due: 0 });
    expect(await run(new Date(renewedAt + 25 * HOUR))).toMatchObject({ due: 1, done: 1 });
    expect(alerts).toEqual([expect.objectContaining({ kind: 'renewed-but-frozen', subject: { instanceId, orderId } })]);
    expect((await (await store()).getInstance(instanceId))?.status).toBe('FROZEN');
    expect(await run(new Date(renewedAt + 50 * HOUR))).toMatchObject({ due: 0 });
    // the UNFREEZE, restarted from the console, still works
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'ACTIVE' });
    expect((await (await store()).getInstance(instanceId))?.renewedWhileFrozenAt).toBeUndefined();
  });

  it('refuses an event whose time is not an instant, changing nothing', async () => {
    await expect(handler({ time: 'yesterday' } as never, {} as never)).rejects.toThrow(/event.time must be an ISO 8601 instant/);
  });
});
