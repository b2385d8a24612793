/**
 * provisioningWatch on DynamoDB Local (business rules 3.7, T8): every first claim leaves a watch due
 * 2 h later. A provisioning still unfinished then is alerted once, retried, and watched again 2 h
 * later; a finished one's watch just leaves the index. The clock is moved through the event's `time`,
 * relative to the instance's real claim time (signatures must be within ±60 s of now).
 *
 * Every test ends with none of its watches left due (its instances provisioned, their watches run
 * off the index), so the next test's counts are exact.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import type { AppInfo } from '#shared/domain/instance';
import type { ProvisionRequest } from '#shared/domain/provisioner';
import { getRuntime } from '#shared/runtime';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

/** The product's provisioner, scripted per test: each call takes the next behaviour. */
const script: Array<'hang' | 'ok'> = [];
const calls: ProvisionRequest[] = [];
vi.mock('#shared/product/provisioner', () => ({
  createProductProvisioner: () => ({
    onLifecycle: async () => undefined,
    provision: async (request: ProvisionRequest): Promise<AppInfo> => {
      calls.push(request);
      if ((script.shift() ?? 'ok') === 'hang') return new Promise<AppInfo>(() => undefined);
      return { frontEndUrl: `https://product.example/${request.orderLineId}`, userName: 'admin', password: 'pw' };
    },
  }),
}));

let h: Harness;
let alerts: OperatorAlert[] = [];
beforeAll(async () => {
  // the watch delay is the default (2 h, PROVISIONING_WATCH_MINUTES unset)
  h = await startHarness({ PROVISION_BUDGET_MS: '50', RESUME_BUDGET_MS: '500', PROVISION_RETRY_DELAY_MS: '60000' });
  alerts = await captureAlerts();
});
afterAll(() => h.close());
beforeEach(() => {
  script.length = 0;
  calls.length = 0;
  alerts.length = 0;
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store;
const run = (time: Date) => runJob<JobCounts>(handler, time);

/** newInstance of a fresh order through the real produce handler; times are relative to its claim. */
async function newInstance(expectedCode: '000000' | '000004') {
  const order = freshOrder();
  h.marketplace.registerOrder(order);
  const orderLineId = order.orderLine[0]!.orderLineId;
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId });
  expect(answer.json.resultCode).toBe(expectedCode);
  const instanceId = answer.json.instanceId!;
  const instance = (await (await store()).getInstance(instanceId))!;
  const claimedAt = Date.parse(instance.createdAt);
  // the watch is due exactly 2 h after the claim
  expect(await (await store()).getWatch(instanceId)).toEqual({ dueAt: new Date(claimedAt + 2 * HOUR).toISOString(), alerts: 0 });
  return { instanceId, orderId: order.orderId, orderLineId, at: (ms: number) => new Date(claimedAt + ms) };
}

/** Runs the job once more at the watch's due time (the instance must be provisioned by now): it leaves the index. */
async function runOff(instanceId: string) {
  const watch = await (await store()).getWatch(instanceId);
  expect(watch?.dueAt).toBeDefined();
  expect(await run(new Date(watch!.dueAt!))).toMatchObject({ due: 1, done: 1, skipped: 0, failed: 0 });
  expect((await (await store()).getWatch(instanceId))?.dueAt).toBeUndefined();
}

describe('provisioningWatch', () => {
  it('a hanging provisioning is not due before 2 h; then it is alerted once, retried to ACTIVE, and watched again 2 h later', async () => {
    script.push('hang', 'ok');
    const i = await newInstance('000004');
    expect(calls).toHaveLength(1);

    expect(await run(i.at(HOUR + 59 * MINUTE))).toMatchObject({ due: 0, read: 0, done: 0 });
    expect(alerts).toHaveLength(0);

    expect(await run(i.at(2 * HOUR + MINUTE))).toMatchObject({ due: 1, read: 1, done: 1, skipped: 0, failed: 0 });
    expect(alerts).toEqual([
      {
        kind: 'provisioning-stuck',
        subject: { instanceId: i.instanceId, orderId: i.orderId, orderLineId: i.orderLineId },
        message: expect.stringMatching(/still provisioning 121 min after/),
      },
    ]);
    // ids only: nothing of the buyer (freshOrder's phone, e-mail, customer) in the alert
    const text = JSON.stringify(alerts);
    for (const personal of ['18612345678', 'owner@acme.example', 'cust-1', 'acme']) expect(text).not.toContain(personal);

    // retried: the product was asked again and the tenant is there
    expect(calls.map((c) => [c.instanceId, c.attempt])).toEqual([
      [i.instanceId, 1],
      [i.instanceId, 2],
    ]);
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'ACTIVE', provisioningAttempts: 2 });

    // the watch moved 2 h on: the same run again finds nothing, alerts nothing
    expect(await (await store()).getWatch(i.instanceId)).toEqual({ dueAt: i.at(4 * HOUR + MINUTE).toISOString(), alerts: 1 });
    expect(await run(i.at(2 * HOUR + MINUTE))).toMatchObject({ due: 0, read: 0, done: 0 });
    expect(await run(i.at(4 * HOUR))).toMatchObject({ due: 0, done: 0 });
    expect(alerts).toHaveLength(1);

    // provisioned now: its next watch ends without an alert
    await runOff(i.instanceId);
    expect(alerts).toHaveLength(1);
    expect(calls).toHaveLength(2);
  });

  it('a provisioned instance’s watch is done at 2 h without an alert and leaves the index', async () => {
    const i = await newInstance('000000');
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'ACTIVE' });

    expect(await run(i.at(2 * HOUR))).toMatchObject({ due: 1, read: 1, done: 1, skipped: 0, failed: 0 });
    expect(alerts).toHaveLength(0);
    expect(calls).toHaveLength(1);
    expect(await (await store()).getWatch(i.instanceId)).toEqual({ dueAt: undefined, alerts: 0 });
    expect(await run(i.at(10 * HOUR))).toMatchObject({ due: 0, read: 0, done: 0 });
  });

  it('two runs at once on the same stuck instance alert exactly once and retry once', async () => {
    script.push('hang', 'ok');
    const i = await newInstance('000004');
    const at = i.at(2 * HOUR + MINUTE);
    const [first, second] = await Promise.all([run(at), run(at)]);
    expect(first.done + second.done).toBe(1);
    expect(first.failed + second.failed).toBe(0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'provisioning-stuck', subject: { instanceId: i.instanceId } });
    expect(calls).toHaveLength(2);
    expect(await (await store()).getWatch(i.instanceId)).toEqual({ dueAt: i.at(4 * HOUR + MINUTE).toISOString(), alerts: 1 });
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'ACTIVE' });

    await runOff(i.instanceId);
    expect(alerts).toHaveLength(1);
  });

  it('an instance still stuck at 4 h is alerted again (the watch repeats every 2 h while stuck)', async () => {
    script.push('hang', 'hang', 'ok');
    const i = await newInstance('000004');

    expect(await run(i.at(2 * HOUR))).toMatchObject({ due: 1, done: 1, failed: 0 });
    expect(alerts).toHaveLength(1);
    expect(calls).toHaveLength(2);
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'PROVISIONING', provisioningAttempts: 2 });
    expect(await (await store()).getWatch(i.instanceId)).toEqual({ dueAt: i.at(4 * HOUR).toISOString(), alerts: 1 });

    expect(await run(i.at(4 * HOUR - MINUTE))).toMatchObject({ due: 0, done: 0 });
    expect(alerts).toHaveLength(1);

    expect(await run(i.at(4 * HOUR))).toMatchObject({ due: 1, done: 1, failed: 0 });
    expect(alerts).toHaveLength(2);
    expect(alerts[1]).toEqual({
      kind: 'provisioning-stuck',
      subject: { instanceId: i.instanceId, orderId: i.orderId, orderLineId: i.orderLineId },
      message: expect.stringMatching(/still provisioning 240 min after .*attempt 2\)/),
    });
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(await (await store()).getInstance(i.instanceId)).toMatchObject({ status: 'ACTIVE', provisioningAttempts: 3 });
    expect(await (await store()).getWatch(i.instanceId)).toEqual({ dueAt: i.at(6 * HOUR).toISOString(), alerts: 2 });

    await runOff(i.instanceId);
    expect(alerts).toHaveLength(2);
  });
});
