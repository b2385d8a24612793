/**
 * The two ways newInstance creates (shared/domain/provisioning.ts): a provisioner without side effects
 * is run before the order line is claimed and the finished instance is committed in one transaction;
 * any other is run only by the copy that claimed the order line, and its outcome is a second write.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppInfo } from '#shared/domain/instance';
import type { Provisioner } from '#shared/domain/provisioner';
import { getRuntime } from '#shared/runtime';
import { probeRuntime, writeRoundTrips, type DynamoProbe } from '#shared/testing/dynamoProbe';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

let h: Harness;
let probe: DynamoProbe;
beforeAll(async () => {
  h = await startHarness();
  probe = await probeRuntime();
});
afterAll(() => {
  probe.remove();
  return h.close();
});

/** A provisioner that counts its calls and hands out a different login each time. */
function countingProvisioner(sideEffectFree: boolean) {
  const calls: string[] = [];
  const provisioner: Provisioner = {
    sideEffectFree,
    async provision({ instanceId }) {
      calls.push(instanceId);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { frontEndUrl: `https://app.example/${instanceId}`, userName: 'admin', password: `pw-${calls.length}` } satisfies AppInfo;
    },
  };
  return { provisioner, calls };
}

async function use(provisioner: Provisioner) {
  (await getRuntime()).services.provisioner = provisioner;
}

function newOrder() {
  const order = freshOrder();
  h.marketplace.registerOrder(order);
  return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
}

const create = (ids: { orderId: string; orderLineId: string }) =>
  invoke(handler, signedEvent({ activity: 'newInstance', businessId: randomUUID(), ...ids }));

const writes = () => writeRoundTrips(probe.counts());

describe.each([
  { path: 'provision first, commit once', sideEffectFree: true, writeRoundTrips: 1 },
  { path: 'claim first', sideEffectFree: false, writeRoundTrips: 2 },
])('newInstance, $path', ({ sideEffectFree, writeRoundTrips }) => {
  it(`a first call costs ${writeRoundTrips} write round trip(s) and stores the tenant it answered`, async () => {
    const { provisioner, calls } = countingProvisioner(sideEffectFree);
    await use(provisioner);
    const ids = newOrder();
    probe.reset();
    const answer = await create(ids);
    expect(answer.json.resultCode).toBe('000000');
    expect(writes()).toBe(writeRoundTrips);
    expect(calls).toEqual([answer.json.instanceId]);
    const stored = await (await getRuntime()).services.store.getInstance(answer.json.instanceId!);
    expect(stored).toMatchObject({ status: 'ACTIVE', appInfo: { password: 'pw-1' } });
  });

  it('eight copies in flight: one instance, one id answered to all, the stored login is the one kept', async () => {
    const { provisioner, calls } = countingProvisioner(sideEffectFree);
    await use(provisioner);
    const ids = newOrder();
    const answers = await Promise.all(Array.from({ length: 8 }, () => create(ids)));
    const instanceIds = new Set(answers.map((a) => a.json.instanceId));
    expect(instanceIds.size).toBe(1);
    expect(answers.every((a) => ['000000', '000004'].includes(a.json.resultCode))).toBe(true);
    const [instanceId] = [...instanceIds] as [string];
    const stored = await (await getRuntime()).services.store.getInstance(instanceId);
    expect(stored?.status).toBe('ACTIVE');
    if (sideEffectFree) {
      // every copy may compute a login; the one committed with the order line is the one kept
      expect(calls.length).toBeGreaterThanOrEqual(1);
      expect(calls).toContain(instanceId);
    } else {
      // the product is reached once, by the copy that claimed the order line
      expect(calls).toEqual([instanceId]);
    }
    const again = await create(ids);
    expect(again.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId });
    expect((await (await getRuntime()).services.store.getInstance(instanceId))?.appInfo).toEqual(stored?.appInfo);
  });
});

describe('newInstance, provision first: outcomes other than success', () => {
  it('a refusal is committed FAILED with the order line in one write; the resend provisions again', async () => {
    let refuse = true;
    const { ProvisioningError } = await import('#shared/domain/provisioner');
    await use({
      sideEffectFree: true,
      async provision() {
        if (refuse) throw new ProvisioningError('sold out', '000106' as never);
        return { frontEndUrl: 'https://app.example', userName: 'admin', password: 'pw' };
      },
    });
    const ids = newOrder();
    probe.reset();
    const first = await create(ids);
    expect(first.json.resultCode).toBe('000106');
    expect(writes()).toBe(1);
    const instanceId = first.json.instanceId!;
    expect((await (await getRuntime()).services.store.getInstance(instanceId))?.status).toBe('FAILED');
    refuse = false;
    expect((await create(ids)).json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId });
  });

  it('a provisioner that outlives the budget leaves the instance PROVISIONING, due, and finishes it in the background', async () => {
    let release: (info: AppInfo) => void = () => undefined;
    await use({ sideEffectFree: true, provision: () => new Promise<AppInfo>((resolve) => (release = resolve)) });
    const { services } = await getRuntime();
    const budget = services.settings.provisionBudgetMs;
    services.settings.provisionBudgetMs = 100;
    try {
      const ids = newOrder();
      const first = await create(ids);
      expect(first.json.resultCode).toBe('000004');
      const instanceId = first.json.instanceId!;
      expect(await services.store.getInstance(instanceId)).toMatchObject({ status: 'PROVISIONING' });
      expect(await services.store.getWatch(instanceId)).toBeDefined();
      release({ frontEndUrl: 'https://app.example', userName: 'admin', password: 'late' });
      await expect.poll(async () => (await services.store.getInstance(instanceId))?.status).toBe('ACTIVE');
      expect((await services.store.getInstance(instanceId))?.appInfo?.password).toBe('late');
    } finally {
      services.settings.provisionBudgetMs = budget;
    }
  });
});
