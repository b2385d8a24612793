/**
 * The License production URL (`POST /license`): its sample (a License 2.0 renewal) answers through it,
 * and it serves the online-License and SaaS-style callbacks with the same signature check.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler as licenses } from '../licenses/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '3000' });
});
afterAll(() => h.close());

describe('POST /license', () => {
  it('answers its sample (a status change of the code the licenses sample activates), 000003 before', async () => {
    expect((await invoke(handler, sampleEvent('license'))).json.resultCode).toBe('000003');
    const activate = await invoke(licenses as never, sampleEvent('licenses'));
    expect(activate.status, activate.raw).toBe(200);
    expect((await invoke(handler, sampleEvent('license'))).json).toMatchObject({ resultCode: '000000' });
  });

  it('creates an online-License instance and takes its License request; refuses what it does not serve', async () => {
    const order = freshOrder();
    h.marketplace.registerOrder(order);
    const created = await invoke(handler, signedEvent({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
    expect(created.json.resultCode).toBe('000000');
    const request = { activity: 'getLicenseAsync', instanceId: created.json.instanceId, eventId: `evt-${randomUUID()}`, effectiveTime: '2026-11-24 10:30:15 z', expireTime: '20271101000000', deviceFingerprint: 'aa:bb|disk1' };
    expect(['000000', '000004']).toContain((await invoke(handler, signedEvent(request))).json.resultCode);
    const hardware = await invoke(handler, signedEvent({ activity: 'orderNotify', orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
    expect(hardware.json).toMatchObject({ resultCode: '000002', resultMsg: 'unsupported activity orderNotify' });
    expect((await invoke(handler, signedEvent(request, { key: 'wrong' }))).json.resultCode).toBe('000001');
  });
});
