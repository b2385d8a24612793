/**
 * autoRebuyCheck on DynamoDB Local: a rebuy intent left PENDING (the deduction that raised it died
 * before handing it over) is handed to the notifier by the sweep once its grace has passed, exactly
 * once even with two runs at once; handed-over and failed intents are never picked up again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Meter } from '#shared/domain/metering';
import type { RebuyIntent } from '#shared/domain/notifier';
import { getRuntime } from '#shared/runtime';
import { freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
const intents: RebuyIntent[] = [];
beforeAll(async () => {
  h = await startHarness({ PRODUCT_CATALOGUE: JSON.stringify([{ skuCode: 'sku-pack', kind: 'package', package: { quota: 100, threshold: { percent: 20 }, autoRebuy: true } }]) });
  const { services } = await getRuntime();
  services.notifier = { ...services.notifier, rebuy: async (intent) => void intents.push(intent) };
});
afterAll(() => h.close());
beforeEach(() => void (intents.length = 0));

const store = async () => (await getRuntime()).services.store;
const run = (time: Date) => runJob<JobCounts>(handler, time);

/** A package instance whose meter holds an intent raised at `raisedAt` and never handed over. */
async function pendingIntent(raisedAt: Date) {
  const order = freshOrder({ chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' });
  h.marketplace.registerOrder(order);
  const answer = await invoke(produce, signedEvent({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
  const instanceId = answer.json.instanceId!;
  const generation = `order:${order.orderId}`;
  const meter: Meter = {
    instanceId,
    generation,
    package: { quota: 100, remaining: 15, stopWhenExhausted: true },
    used: 85,
    records: 3,
    intent: { id: `rebuy:${instanceId}:${generation}`, generation, state: 'PENDING', raisedAt: raisedAt.toISOString(), remaining: 15, dueAt: new Date(raisedAt.getTime() + 120_000).toISOString() },
    updatedAt: raisedAt.toISOString(),
    version: 0,
  };
  expect(await (await store()).saveMeter(meter, 0)).toBeDefined();
  return instanceId;
}

describe('autoRebuyCheck', () => {
  it('hands a pending intent over once its grace has passed, then never again', async () => {
    const raisedAt = new Date('2030-01-01T10:00:00Z');
    const id = await pendingIntent(raisedAt);
    expect(await run(new Date(raisedAt.getTime() + 60_000))).toMatchObject({ due: 0 });
    expect(await run(new Date(raisedAt.getTime() + 15 * 60_000))).toMatchObject({ due: 1, done: 1, failed: 0 });
    expect(intents).toEqual([expect.objectContaining({ instanceId: id, remaining: 15, quota: 100, threshold: { percent: 20 } })]);
    expect((await (await store()).getMeter(id))?.intent?.state).toBe('NOTIFIED');
    expect(await run(new Date(raisedAt.getTime() + 30 * 60_000))).toMatchObject({ due: 0 });
  });

  it('two runs at once hand each intent over once', async () => {
    const raisedAt = new Date('2029-01-01T10:00:00Z');
    await Promise.all(Array.from({ length: 3 }, () => pendingIntent(raisedAt)));
    const at = new Date(raisedAt.getTime() + 15 * 60_000);
    const [a, b] = await Promise.all([run(at), run(at)]);
    expect(a.done + b.done).toBe(3);
    expect(intents).toHaveLength(3);
    expect(new Set(intents.map((i) => i.intentId)).size).toBe(3);
  });
});
