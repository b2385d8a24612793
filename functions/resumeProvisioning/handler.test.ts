/**
 * Provisioning slower than the answer budget: newInstance answers 000004, the tenant is finished in
 * the background or by the scheduled job (clock moved through the event's `time`), and a refusal by
 * the product never leaves anything half-written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '#shared/domain/instance';
import { ResultCode } from '#shared/protocol/resultCodes';
import { ProvisioningError, type ProvisionRequest } from '#shared/domain/provisioner';
import { getRuntime } from '#shared/runtime';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

/** The product's provisioner, scripted per test: each call takes the next behaviour. */
const script: Array<'hang' | 'slow' | 'ok' | 'sold-out' | 'crash'> = [];
const calls: ProvisionRequest[] = [];
const hooks: Array<{ event: string; instanceId: string }> = [];
let hookDelayMs = 0;
vi.mock('#shared/product/provisioner', () => ({
  createProductProvisioner: () => ({
    onLifecycle: async ({ event, instance }: { event: string; instance: { instanceId: string } }) => {
      await new Promise((resolve) => setTimeout(resolve, hookDelayMs));
      hooks.push({ event, instanceId: instance.instanceId });
    },
    provision: async (request: ProvisionRequest): Promise<AppInfo> => {
      calls.push(request);
      const app = { frontEndUrl: `https://product.example/${request.orderLineId}`, userName: 'admin', password: 'pw' };
      switch (script.shift() ?? 'ok') {
        case 'hang':
          return new Promise<AppInfo>(() => undefined);
        case 'slow':
          return new Promise<AppInfo>((resolve) => setTimeout(() => resolve(app), 150));
        case 'sold-out':
          throw new ProvisioningError('sold out', ResultCode.SOLD_OUT, true);
        case 'crash':
          throw new Error('product API down');
        default:
          return app;
      }
    },
  }),
}));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ PROVISION_BUDGET_MS: '50', RESUME_BUDGET_MS: '500', PROVISION_RETRY_DELAY_MS: '60000', MAX_PROVISION_ATTEMPTS: '3' });
});
afterAll(() => h.close());
beforeEach(() => {
  script.length = 0;
  calls.length = 0;
  hooks.length = 0;
  hookDelayMs = 0;
});

const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store;
const runJob = (time: Date) =>
  handler({ 'detail-type': 'Scheduled Event', source: 'aws.events', time: time.toISOString() } as never, { getRemainingTimeInMillis: () => 60_000 } as never) as Promise<{
    due: number;
    completed: number;
    failed: number;
    skipped: number;
  }>;

async function order() {
  const o = freshOrder();
  h.marketplace.registerOrder(o);
  return { orderId: o.orderId, orderLineId: o.orderLine[0]!.orderLineId };
}

describe('slow provisioning', () => {
  it('answers 000004, finishes in the background, then queryInstance returns the app info', async () => {
    script.push('slow');
    const ids = await order();
    const create = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(create.json.resultCode).toBe('000004');
    const instanceId = create.json.instanceId!;
    expect((await call({ activity: 'queryInstance', instanceId })).json.resultCode).toBe('000004');
    await vi.waitFor(async () => expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE'), { timeout: 3000 });
    const query = await call({ activity: 'queryInstance', instanceId });
    expect(query.json.resultCode).toBe('000000');
    expect(query.json.info![0]!.appInfo).toMatchObject({ frontEndUrl: `https://product.example/${ids.orderLineId}`, password: 'pw' });
  });

  it('a provisioning whose process died is resumed by the scheduled job once it is due, not before', async () => {
    script.push('hang', 'ok');
    const ids = await order();
    const create = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(create.json.resultCode).toBe('000004');
    const instanceId = create.json.instanceId!;
    // a resend within the retry delay answers 000004 with the same id and starts nothing new
    const resend = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(resend.json).toMatchObject({ resultCode: '000004', instanceId });
    expect(calls).toHaveLength(1);

    const early = await runJob(new Date(Date.now() + 10_000));
    expect((await (await store()).getInstance(instanceId))?.status).toBe('PROVISIONING');
    expect(early.completed).toBe(0);

    const later = await runJob(new Date(Date.now() + 120_000));
    expect(later.completed).toBeGreaterThanOrEqual(1);
    const done = await (await store()).getInstance(instanceId);
    expect(done).toMatchObject({ status: 'ACTIVE', provisioningAttempts: 2 });
    expect(done?.provisioningDueAt).toBeUndefined();
    expect(calls.map((c) => c.attempt)).toEqual([1, 2]);
    expect((await call({ activity: 'queryInstance', instanceId })).json.resultCode).toBe('000000');
    // nothing left due: the next run finds no work
    expect((await (await store()).dueProvisioning(new Date(Date.now() + 600_000))).includes(instanceId)).toBe(false);
  });

  it('a provisioning frozen before it finished stays due, completes into FROZEN, and unfreezes to ACTIVE', async () => {
    script.push('hang', 'ok');
    const ids = await order();
    const instanceId = (await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json.instanceId!;
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).dueProvisioning(new Date(Date.now() + 120_000))).includes(instanceId)).toBe(true);
    await runJob(new Date(Date.now() + 120_000));
    const frozen = await (await store()).getInstance(instanceId);
    expect(frozen?.status).toBe('FROZEN');
    expect(frozen?.appInfo?.frontEndUrl).toContain(ids.orderLineId);
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');
  });

  it('a provisioning frozen before it finished and then refused for good ends FAILED, not retried forever', async () => {
    script.push('hang', 'sold-out');
    const ids = await order();
    const instanceId = (await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json.instanceId!;
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    // a resend while the frozen instance has no tenant yet is still "in progress", not a success
    expect((await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json.resultCode).toBe('000004');
    await runJob(new Date(Date.now() + 120_000));
    expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'FAILED', statusReason: 'provisioning refused (000106): sold out' });
    await runJob(new Date(Date.now() + 600_000));
    expect(calls).toHaveLength(2);
  });

  it('the product hears of every committed change; a slow hook does not hold the answer past the deadline', async () => {
    const ids = await order();
    const instanceId = (await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json.instanceId!;
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    expect(hooks.map((h) => h.event)).toEqual(['PROVISIONED', 'FREEZE']);
    hookDelayMs = 10_000;
    const started = Date.now();
    expect((await call({ activity: 'releaseInstance', instanceId })).json.resultCode).toBe('000000');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a marketplace resend after the retry delay resumes a stalled provisioning itself', async () => {
    script.push('hang', 'ok');
    const ids = await order();
    const instanceId = (await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json.instanceId!;
    const instance = (await (await store()).getInstance(instanceId))!;
    // pretend the retry delay passed
    await (await store()).saveInstance({ ...instance, provisioningDueAt: new Date(Date.now() - 1000).toISOString() }, instance.version);
    const resend = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(resend.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId });
    expect((await (await store()).getInstance(instanceId))).toMatchObject({ status: 'ACTIVE', provisioningAttempts: 2 });
    // the audit record of the resend holds the answer it got
    expect((await (await store()).history(instanceId))[0]).toMatchObject({ activity: 'newInstance', resultCode: '000000' });
  });

  it('a refusal by the product answers its result code; the resend tries again under the same id', async () => {
    script.push('sold-out');
    const ids = await order();
    const businessId = randomUUID();
    const create = await call({ activity: 'newInstance', businessId, ...ids });
    expect(create.json).toEqual({ resultCode: '000106', resultMsg: 'sold out', instanceId: businessId });
    expect(await (await store()).getInstance(businessId)).toMatchObject({ status: 'FAILED', statusReason: 'provisioning refused (000106): sold out' });
    expect((await (await store()).history(businessId))[0]).toMatchObject({ resultCode: '000106' });
    script.push('ok');
    const resend = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(resend.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId: businessId });
  });

  it('concurrent copies and replays never reach the product twice', async () => {
    const ids = await order();
    const answers = await Promise.all(Array.from({ length: 6 }, () => call({ activity: 'newInstance', businessId: randomUUID(), ...ids })));
    expect(new Set(answers.map((a) => a.json.instanceId)).size).toBe(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.instanceId).toBe(answers[0]!.json.instanceId);
    // a replay of a refused call is refused before the product is asked again
    script.push('sold-out');
    const other = await order();
    const event = signedEvent({ activity: 'newInstance', businessId: randomUUID(), ...other });
    expect((await invoke(produce, event)).json.resultCode).toBe('000106');
    expect((await invoke(produce, event)).json.resultCode).toBe('000001');
    expect(calls).toHaveLength(2);
  });

  it('an unexpected product error answers 000004 and is retried; attempts are bounded in the job', async () => {
    // MAX_PROVISION_ATTEMPTS=3: the first attempt crashes, the job's two attempts crash, then it gives up
    script.push('crash', 'crash', 'crash');
    const ids = await order();
    const create = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(create.json.resultCode).toBe('000004');
    const instanceId = create.json.instanceId!;
    expect((await (await store()).getInstance(instanceId))?.status).toBe('PROVISIONING');
    let clock = Date.now();
    for (let i = 0; i < 3; i++) await runJob(new Date((clock += 120_000)));
    const failed = await (await store()).getInstance(instanceId);
    expect(failed).toMatchObject({ status: 'FAILED', provisioningAttempts: 3 });
    expect(script).toHaveLength(0);
    expect((await call({ activity: 'queryInstance', instanceId })).json.resultCode).toBe('000005');
    // the marketplace's next newInstance retries provisioning from FAILED
    script.push('ok');
    expect((await call({ activity: 'newInstance', businessId: randomUUID(), ...ids })).json).toMatchObject({ resultCode: '000000', instanceId });
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');
  });
});
