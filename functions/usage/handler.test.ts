/**
 * Usage reported by the product, on DynamoDB Local: idempotency keys, a usage-stop package refused at
 * exactly zero (and lifted by a new package), one rebuy intent per package generation even under
 * concurrent deductions, the notifier's failure path, and queryInstance's usageInfo.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BuyerNotice, RebuyIntent } from '#shared/domain/notifier';
import { getRuntime } from '#shared/runtime';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
const intents: RebuyIntent[] = [];
const notices: BuyerNotice[] = [];
let rebuyFails = false;
beforeAll(async () => {
  h = await startHarness({
    PRODUCT_CATALOGUE: JSON.stringify([
      { skuCode: 'sku-pack', kind: 'package', package: { quota: 100, threshold: { percent: 20 }, autoRebuy: true } },
      { skuCode: 'sku-pack-manual', kind: 'package', package: { quota: 50, threshold: { amount: 10 } } },
    ]),
  });
  const { services } = await getRuntime();
  const recording = services.notifier;
  services.notifier = {
    ...recording,
    rebuy: async (intent) => {
      if (rebuyFails) throw new Error('ordering system unavailable');
      intents.push(intent);
      await recording.rebuy(intent);
    },
    notifyBuyer: async (n) => void notices.push(n),
  };
});
afterAll(() => h.close());
beforeEach(() => {
  intents.length = 0;
  notices.length = 0;
  rebuyFails = false;
});

const store = async () => (await getRuntime()).services.store;
const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));

function post(resource: string, body: unknown, pathParameters: Record<string, string> | null = null) {
  return invoke(handler, {
    httpMethod: 'POST',
    resource,
    path: resource,
    pathParameters,
    body: JSON.stringify(body),
    isBase64Encoded: false,
    headers: {},
  } as unknown as APIGatewayProxyEvent);
}
const usage = (records: Array<{ key?: string; instanceId: string; amount: number; at?: string }>) =>
  post('/internal/usage', { records: records.map((r) => ({ key: r.key ?? randomUUID(), ...r })) });

async function instance(over: Parameters<typeof freshOrder>[0]) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId });
  expect(answer.json.resultCode).toBe('000000');
  return answer.json.instanceId!;
}
const pack = (skuCode = 'sku-pack') => instance({ chargingMode: 'ON_DEMAND_PKG', skuCode });

describe('usage of a usage-stop package', () => {
  it('deducts each record once: a resent key changes nothing', async () => {
    const id = await pack();
    const first = await usage([{ key: 'k-1', instanceId: id, amount: 12.5 }]);
    expect(first.status).toBe(200);
    expect(first.json.results).toEqual([{ key: 'k-1', outcome: 'recorded', serving: true, remaining: 87.5 }]);
    const again = await usage([{ key: 'k-1', instanceId: id, amount: 12.5 }]);
    expect(again.json.results[0]).toMatchObject({ outcome: 'duplicate', remaining: 87.5 });
    expect((await (await store()).getMeter(id))).toMatchObject({ used: 12.5, records: 1, package: { remaining: 87.5 } });
  });

  it('a deduction to exactly zero is accepted and stops the package; the next one is refused; a renewal (new package) lifts it', async () => {
    const id = await pack('sku-pack-manual');
    expect((await usage([{ instanceId: id, amount: 30 }])).json.results[0]).toMatchObject({ outcome: 'recorded', remaining: 20, serving: true });
    const zero = await usage([{ instanceId: id, amount: 20 }]);
    expect(zero.json.results[0]).toMatchObject({ outcome: 'recorded', remaining: 0, serving: false });
    const over = await usage([{ instanceId: id, amount: 0.0001 }]);
    expect(over.json.results[0]).toMatchObject({ outcome: 'refused', remaining: 0, serving: false });
    expect(over.json.results[0].reason).toMatch(/package exhausted/);
    const meter = await (await store()).getMeter(id);
    expect(meter?.package).toMatchObject({ remaining: 0, stopReason: 'quota used up' });

    const renewal = await call({ activity: 'refreshInstance', instanceId: id, orderId: 'PKG2', orderLineId: 'PKG2-1', scene: 'RENEWAL', expireTime: '20991231235959' });
    expect(renewal.json.resultCode).toBe('000000');
    expect((await usage([{ instanceId: id, amount: 5 }])).json.results[0]).toMatchObject({ outcome: 'recorded', remaining: 45, serving: true });
  });

  it('a record that would overrun is refused whole and stops the package; nothing goes below zero', async () => {
    const id = await pack('sku-pack-manual');
    await usage([{ instanceId: id, amount: 45 }]);
    const over = await usage([{ instanceId: id, amount: 6 }]);
    expect(over.json.results[0]).toMatchObject({ outcome: 'refused', remaining: 5, serving: false });
    expect(over.json.results[0].reason).toMatch(/6 exceeds the remaining 5/);
    expect((await usage([{ instanceId: id, amount: 1 }])).json.results[0]).toMatchObject({ outcome: 'refused', serving: false });
    expect((await (await store()).getMeter(id))?.package).toMatchObject({ remaining: 5 });
  });

  it('concurrent deductions never overrun and cross the threshold with exactly one rebuy intent', async () => {
    const id = await pack();
    // 14 records of 8 against a quota of 100 sent at once: 12 fit, 2 are refused; 20 % is crossed once
    const answers = await Promise.all(Array.from({ length: 14 }, () => usage([{ instanceId: id, amount: 8 }])));
    expect(answers.map((a) => a.status)).toEqual(Array(14).fill(200));
    const results = answers.map((a) => a.json.results[0]);
    expect(results.filter((r) => r.outcome === 'recorded')).toHaveLength(12);
    expect(results.filter((r) => r.outcome === 'refused')).toHaveLength(2);
    const meter = await (await store()).getMeter(id);
    expect(meter).toMatchObject({ used: 96, records: 12, package: { remaining: 4 }, intent: { state: 'NOTIFIED' } });
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ instanceId: id, quota: 100, threshold: { percent: 20 } });
    expect(intents[0]!.remaining).toBeLessThanOrEqual(20);
    expect(results.filter((r) => r.rebuyIntent)).toHaveLength(1);
    // recorded by the default notifier too, once
    expect((await (await store()).notifications(id)).filter((n) => n.kind === 'package-rebuy-intent')).toHaveLength(1);
  });

  it('auto-rebuy off: no intent; turning it on per instance past the threshold raises it at once', async () => {
    const id = await pack('sku-pack-manual');
    await usage([{ instanceId: id, amount: 45 }]);
    expect(intents).toHaveLength(0);
    const settings = await post('/internal/instances/{instanceId}/package', { autoRebuy: true }, { instanceId: id });
    expect(settings.status).toBe(200);
    expect(settings.json).toMatchObject({ autoRebuy: true, intent: { state: 'NOTIFIED' } });
    expect(intents).toHaveLength(1);
    expect((await post('/internal/instances/{instanceId}/package', { threshold: { ratio: 2 } }, { instanceId: id })).status).toBe(400);
  });

  it('a rebuy the notifier cannot place is recorded with its reason and the buyer is told', async () => {
    rebuyFails = true;
    const id = await pack();
    await usage([{ instanceId: id, amount: 85 }]);
    const meter = await (await store()).getMeter(id);
    expect(meter?.intent).toMatchObject({ state: 'FAILED', reason: 'Error: ordering system unavailable' });
    expect(notices).toEqual([expect.objectContaining({ kind: 'rebuy-failed', subject: expect.objectContaining({ instanceId: id }) })]);
    // not raised again within the same package
    rebuyFails = false;
    await usage([{ instanceId: id, amount: 1 }]);
    expect(intents).toHaveLength(0);
  });

  it('a package never runs dry silently: an overrun refused above the threshold raises the rebuy intent', async () => {
    const id = await pack();
    await usage([{ instanceId: id, amount: 70 }]);
    expect(intents).toHaveLength(0);
    const over = await usage([{ instanceId: id, amount: 40 }]);
    expect(over.json.results[0]).toMatchObject({ outcome: 'refused', remaining: 30, serving: false });
    expect(intents).toEqual([expect.objectContaining({ instanceId: id, remaining: 30 })]);
  });

  it('without auto-rebuy the buyer is told once when the package stops', async () => {
    const id = await pack('sku-pack-manual');
    await usage([{ instanceId: id, amount: 50 }]);
    await usage([{ instanceId: id, amount: 1 }]);
    expect(notices).toEqual([expect.objectContaining({ kind: 'package-exhausted', subject: expect.objectContaining({ instanceId: id }) })]);
    expect(intents).toHaveLength(0);
  });

  it('a resent record that was counted is a duplicate even after the package stopped', async () => {
    const id = await pack('sku-pack-manual');
    expect((await usage([{ key: 'last', instanceId: id, amount: 50 }])).json.results[0]).toMatchObject({ outcome: 'recorded', remaining: 0 });
    expect((await usage([{ key: 'last', instanceId: id, amount: 50 }])).json.results[0]).toMatchObject({ outcome: 'duplicate', remaining: 0 });
  });

  it('a failed rebuy is re-armed when the buyer fixes the settings, as a new intent downstream', async () => {
    rebuyFails = true;
    const id = await pack();
    await usage([{ instanceId: id, amount: 85 }]);
    const failed = (await (await store()).getMeter(id))?.intent;
    expect(failed?.state).toBe('FAILED');
    rebuyFails = false;
    const fixed = await post('/internal/instances/{instanceId}/package', { autoRebuy: true }, { instanceId: id });
    expect(fixed.json.intent).toMatchObject({ state: 'NOTIFIED' });
    expect(intents).toHaveLength(1);
    expect(intents[0]!.intentId).not.toBe(failed!.id);
  });

  it('queryInstance reports the package usage in usageInfo', async () => {
    const id = await pack();
    expect((await call({ activity: 'queryInstance', instanceId: id })).json.info![0]!.usageInfo).toEqual([{ usageValue: 0, statisticalTime: expect.stringMatching(/^\d{17}$/) }]);
    await usage([{ instanceId: id, amount: 7.25 }, { instanceId: id, amount: 1 }]);
    const query = await call({ activity: 'queryInstance', instanceId: id });
    expect(query.json.info![0]!.usageInfo).toEqual([{ usageValue: 8.25, statisticalTime: expect.stringMatching(/^\d{17}$/) }]);
  });
});

describe('usage input', () => {
  it('refuses usage for yearly/monthly, unknown and frozen instances, per record', async () => {
    const period = await instance({});
    const frozen = await pack();
    await call({ activity: 'updateInstanceStatus', instanceId: frozen, status: 'FREEZE' });
    const onDemand = await instance({ chargingMode: 'ON_DEMAND' });
    const answer = await usage([
      { instanceId: period, amount: 1 },
      { instanceId: 'no-such-instance', amount: 1 },
      { instanceId: frozen, amount: 1 },
      { instanceId: onDemand, amount: 1 },
    ]);
    expect(answer.json.results.map((r: { outcome: string }) => r.outcome)).toEqual(['refused', 'refused', 'refused', 'recorded']);
    expect(answer.json.results[0].reason).toMatch(/not metered/);
    expect(answer.json.results[2].reason).toMatch(/frozen/);
  });

  it('reads each instance once per request, however many records it carries', async () => {
    const id = await instance({ chargingMode: 'ON_DEMAND' });
    const repository = await store();
    const reads = vi.spyOn(repository, 'getInstance');
    const answer = await usage(Array.from({ length: 10 }, () => ({ instanceId: id, amount: 1 })));
    expect(answer.json.results.every((r: { outcome: string }) => r.outcome === 'recorded')).toBe(true);
    expect(reads.mock.calls.filter(([read]) => read === id)).toHaveLength(1);
    reads.mockRestore();
  });

  it('answers malformed bodies with 400 and a reason', async () => {
    expect((await usage([])).status).toBe(400);
    const decimals = await usage([{ instanceId: 'x', amount: 1.23456 }]);
    expect(decimals.status).toBe(400);
    expect(decimals.json.error).toMatch(/4 decimals/);
    expect((await usage([{ instanceId: 'x', amount: -1 }])).status).toBe(400);
    expect((await post('/internal/usage', { records: Array.from({ length: 101 }, (_, i) => ({ key: `${i}`, instanceId: 'x', amount: 1 })) })).status).toBe(400);
    expect((await post('/internal/instances/{instanceId}/package', { autoRebuy: true }, { instanceId: 'x'.repeat(3000) })).status).toBe(400);
  });

  it('refuses usage too old to reach the marketplace within its 21-day window', async () => {
    const id = await instance({ chargingMode: 'ON_DEMAND' });
    const old = await usage([{ instanceId: id, amount: 1, at: new Date(Date.now() - 22 * 86_400_000).toISOString() }]);
    expect(old.json.results[0]).toMatchObject({ outcome: 'refused' });
    expect(old.json.results[0].reason).toMatch(/older than 20 days/);
  });
});
