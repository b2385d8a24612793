/**
 * usagePush on DynamoDB Local against the local marketplace's usage-data API (signatures checked):
 * ended hours pushed once with a deterministic metering_sn, a marketplace failure retried later
 * without a second record, the 21-day window, two runs at once, and usage arriving for a pushed hour.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import { hourOf } from '#shared/domain/metering';
import { meteringSn } from '#shared/domain/usage';
import { getRuntime } from '#shared/runtime';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler as usageRoute } from '../usage/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
let alerts: OperatorAlert[] = [];
beforeAll(async () => {
  h = await startHarness();
  alerts = await captureAlerts();
});
afterAll(() => h.close());
beforeEach(() => void (alerts.length = 0));

const HOUR = 3_600_000;
const run = (time: Date) => runJob<JobCounts>(handler, time);

async function onDemandInstance() {
  const order = freshOrder({ chargingMode: 'ON_DEMAND' });
  h.marketplace.registerOrder(order);
  const answer = await invoke(produce, signedEvent({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
  return answer.json.instanceId!;
}

async function report(instanceId: string, amount: number, at: Date) {
  const answer = await invoke(usageRoute, {
    httpMethod: 'POST',
    resource: '/internal/usage',
    body: JSON.stringify({ records: [{ key: randomUUID(), instanceId, amount, at: at.toISOString() }] }),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEvent);
  expect(answer.json.results[0].outcome).toBe('recorded');
}

const bucket = async (instanceId: string, hour: string) =>
  (await h.table.documentClient.send(new GetCommand({ TableName: h.table.tableName, Key: { pk: `INSTANCE#${instanceId}`, sk: `USAGE#${hour}` } }))).Item;
const pushedFor = (instanceId: string) => h.marketplace.usageRecords().filter((r) => r.instance_id === instanceId);

// every test leaves its buckets settled (pushed, expired), so the counts of later runs stay exact
describe('usagePush', () => {
  it('pushes an ended hour once, summed, with a deterministic metering_sn; nothing before the hour ends', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 2 * HOUR);
    await report(id, 1.5, new Date(hour.getTime() + 60_000));
    await report(id, 2.25, new Date(hour.getTime() + 120_000));
    expect(await run(new Date(hour.getTime() + HOUR - 1000))).toMatchObject({ due: 0 });

    expect(await run(new Date(hour.getTime() + HOUR + 5 * 60_000))).toMatchObject({ due: 1, done: 1, failed: 0 });
    expect(pushedFor(id)).toEqual([
      expect.objectContaining({
        usage_value: '3.75',
        metering_sn: meteringSn(id, hour.toISOString()),
        begin_time: hour.toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z',
      }),
    ]);
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'PUSHED', value: 3.75, records: 2 });
    expect((await bucket(id, hour.toISOString()))?.timer).toBeUndefined();
    expect(await run(new Date(hour.getTime() + 3 * HOUR))).toMatchObject({ due: 0 });
  });

  it('a marketplace failure is retried later from the ledger, and the marketplace holds one record', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 3 * HOUR);
    await report(id, 4, new Date(hour.getTime() + 60_000));
    const at = new Date(hour.getTime() + HOUR + 5 * 60_000);
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    expect(await run(at)).toMatchObject({ due: 1, done: 0, failed: 1 });
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'FAILED', attempts: 1 });
    expect(pushedFor(id)).toHaveLength(0);
    // not due again before its backoff; then pushed
    expect(await run(new Date(at.getTime() + 10 * 60_000))).toMatchObject({ due: 0 });
    expect(await run(new Date(at.getTime() + 16 * 60_000))).toMatchObject({ due: 1, done: 1 });
    expect(pushedFor(id)).toHaveLength(1);
    expect(h.marketplace.usageDuplicates()).toBe(0);
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'PUSHED', attempts: 2 });
  });

  it('usage arriving for an hour already pushed goes into the current hour, never into the pushed record', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 4 * HOUR);
    await report(id, 1, new Date(hour.getTime() + 60_000));
    await run(new Date(hour.getTime() + HOUR + 60_000));
    await report(id, 2, new Date(hour.getTime() + 120_000));
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'PUSHED', value: 1 });
    const current = hourOf(new Date());
    expect(await bucket(id, current)).toMatchObject({ state: 'OPEN', value: 2 });
    expect(await run(new Date(Date.parse(current) + HOUR + 60_000))).toMatchObject({ due: 1, done: 1 });
    expect(pushedFor(id).map((r) => r.usage_value).sort()).toEqual(['1', '2']);
  });

  it('two runs at once push each hour once', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => onDemandInstance()));
    const hour = new Date(Date.parse(hourOf(new Date())) - 5 * HOUR);
    for (const id of ids) await report(id, 3, new Date(hour.getTime() + 60_000));
    const at = new Date(hour.getTime() + HOUR + 60_000);
    const [a, b] = await Promise.all([run(at), run(at)]);
    expect(a.done + b.done).toBe(4);
    for (const id of ids) expect(pushedFor(id)).toHaveLength(1);
    expect(h.marketplace.usageDuplicates()).toBe(0);
  });

  it('a push that succeeded is never marked failed nor pushed again when recording it fails once', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 6 * HOUR);
    await report(id, 6, new Date(hour.getTime() + 60_000));
    const repository = (await getRuntime()).services.store;
    const settle = repository.settleBucket.bind(repository);
    const spy = vi.spyOn(repository, 'settleBucket').mockImplementationOnce(async () => {
      throw new Error('throttled');
    });
    spy.mockImplementation(settle);
    const at = new Date(hour.getTime() + HOUR + 60_000);
    expect(await run(at)).toMatchObject({ due: 1, done: 1, failed: 0 });
    spy.mockRestore();
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'PUSHED' });
    expect(await run(new Date(at.getTime() + 2 * HOUR))).toMatchObject({ due: 0 });
    expect(pushedFor(id)).toHaveLength(1);
  });

  it('a push that keeps failing is alerted at its third attempt, long before the usage is lost', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 7 * HOUR);
    await report(id, 2, new Date(hour.getTime() + 60_000));
    let at = new Date(hour.getTime() + HOUR + 60_000);
    for (let attempt = 1; attempt <= 3; attempt++) {
      h.marketplace.injectFaults({ count: 1, mode: 'business' });
      expect(await run(at)).toMatchObject({ due: 1, failed: 1 });
      at = new Date(at.getTime() + 6 * HOUR);
    }
    expect(alerts.map((a) => a.kind)).toEqual(['usage-push-failing']);
    expect(await run(at)).toMatchObject({ due: 1, done: 1 });
    expect(pushedFor(id)).toHaveLength(1);
  });

  it('never pushes usage older than the marketplace’s 21-day window: it is set aside and alerted', async () => {
    const id = await onDemandInstance();
    const hour = new Date(Date.parse(hourOf(new Date())) - 9 * HOUR);
    await report(id, 5, new Date(hour.getTime() + 60_000));
    expect(await run(new Date(hour.getTime() + 22 * 24 * HOUR))).toMatchObject({ due: 1, done: 1 });
    expect(pushedFor(id)).toHaveLength(0);
    expect(await bucket(id, hour.toISOString())).toMatchObject({ state: 'EXPIRED' });
    expect(alerts.map((a) => a.kind)).toEqual(['usage-too-old']);
  });
});
