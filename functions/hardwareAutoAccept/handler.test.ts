/**
 * Hardware supervision on DynamoDB Local: orderNotify opens it for a catalogue hardware product, the
 * operator routes move it, and hardwareAutoAccept accepts after 10 days on a matching waybill phone,
 * reminds the buyer (at most daily) on a mismatch, and leaves rejected and appealed orders alone.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import type { BuyerNotice } from '#shared/domain/notifier';
import { getRuntime } from '#shared/runtime';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { handler as routes } from '../hardwareOrders/handler.ts';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
let alerts: OperatorAlert[] = [];
const notices: BuyerNotice[] = [];
let failNotices = 0;
beforeAll(async () => {
  h = await startHarness({ PRODUCT_CATALOGUE: JSON.stringify([{ skuCode: 'sku-appliance', kind: 'hardware', name: 'Edge appliance' }]) });
  const { services } = await getRuntime();
  alerts = await captureAlerts();
  const recording = services.notifier;
  services.notifier = {
    ...recording,
    notifyBuyer: async (n) => {
      if (failNotices > 0 && failNotices--) throw new Error('SMS gateway down');
      notices.push(n);
      await recording.notifyBuyer(n);
    },
  };
});
afterAll(() => h.close());
beforeEach(() => {
  alerts.length = 0;
  notices.length = 0;
  failNotices = 0;
});

const DAY = 86_400_000;
const BUYER_PHONE = '18612345678';
const run = (time: Date) => runJob<JobCounts>(handler, time);
const store = async () => (await getRuntime()).services.store;

function route(method: 'GET' | 'POST', orderId: string, action?: string, body?: unknown) {
  const resource = `/internal/orders/{orderId}${action ? `/${action}` : ''}`;
  return invoke(routes, {
    httpMethod: method,
    resource,
    path: resource.replace('{orderId}', orderId),
    pathParameters: { orderId },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    headers: {},
  } as unknown as APIGatewayProxyEvent);
}

/** A hardware order notified by the marketplace (orderNotify + query order). */
async function hardwareOrder(skuCode = 'sku-appliance') {
  const order = freshOrder({ skuCode, chargingMode: 'ONE_TIME' });
  h.marketplace.registerOrder(order);
  const orderLineId = order.orderLine[0]!.orderLineId;
  const notify = await invoke(produce, signedEvent({ activity: 'orderNotify', orderId: order.orderId, orderLineId, testFlag: '0' }));
  expect(notify.json.resultCode).toBe('000000');
  return { orderId: order.orderId, orderLineId };
}

async function shippedAndSigned(waybillPhone: string, signedAt: Date) {
  const ids = await hardwareOrder();
  expect((await route('POST', ids.orderId, 'shipment', { carrier: 'SF Express', trackingNumber: 'SF1234567890', waybillPhone })).status).toBe(200);
  const signed = await route('POST', ids.orderId, 'sign-off', { signedAt: signedAt.toISOString() });
  expect(signed.status).toBe(200);
  return { ...ids, signed: signed.json };
}

const line = async (orderId: string, orderLineId: string) => (await store()).getHardwareOrder(orderId, orderLineId);

// each test signs its parcels earlier than the test before, so leftovers are never due in a later test
describe('hardware supervision', () => {
  it('orderNotify opens supervision only for catalogue hardware; GET shows it with phones masked', async () => {
    const ids = await hardwareOrder();
    const view = await route('GET', ids.orderId);
    expect(view.status).toBe(200);
    expect(view.json.lines).toEqual([expect.objectContaining({ orderLineId: ids.orderLineId, state: 'AWAITING_SHIPMENT', buyerPhone: '186****5678' })]);
    expect(view.raw).not.toContain(BUYER_PHONE);
    const saas = await hardwareOrder('sku-basic');
    expect((await route('GET', saas.orderId)).status).toBe(404);
  });

  it('accepts 10 days after sign-off when the waybill phone matches (in any notation), not a minute before', async () => {
    const signedAt = new Date('2026-03-01T08:00:00Z');
    const o = await shippedAndSigned('+86 186-1234-5678', signedAt);
    expect(o.signed).toMatchObject({ state: 'SIGNED', phoneMatch: true, autoAcceptAt: '2026-03-11T08:00:00.000Z', waybillPhone: '186****5678' });
    expect(await run(new Date(signedAt.getTime() + 10 * DAY - 60_000))).toMatchObject({ due: 0, done: 0 });
    expect(await run(new Date(signedAt.getTime() + 10 * DAY + 60_000))).toMatchObject({ due: 1, read: 1, done: 1, failed: 0 });
    expect(await line(o.orderId, o.orderLineId)).toMatchObject({
      state: 'ACCEPTED',
      acceptedBy: 'auto',
      expectedCompletedBy: new Date(signedAt.getTime() + 10 * DAY + 60_000 + 3 * 3_600_000).toISOString(),
    });
    expect(notices).toHaveLength(0);
    // accepted is final for the operator routes too
    expect((await route('POST', o.orderId, 'acceptance', { action: 'reject' })).status).toBe(409);
    expect((await route('POST', o.orderId, 'acceptance', { action: 'accept' })).status).toBe(200);
  });

  it('never auto-accepts on a phone mismatch: reminds the buyer at most once a day and alerts the operator once', async () => {
    const signedAt = new Date('2025-03-01T08:00:00Z');
    const o = await shippedAndSigned('13900000000', signedAt);
    expect(o.signed).toMatchObject({ state: 'SIGNED', phoneMatch: false });
    expect(await run(new Date(signedAt.getTime() + 3_600_000))).toMatchObject({ due: 1, done: 1 });
    expect(notices).toEqual([expect.objectContaining({ kind: 'accept-reminder', to: { mobilePhone: BUYER_PHONE }, subject: { orderId: o.orderId, orderLineId: o.orderLineId } })]);
    expect(alerts.map((a) => a.kind)).toEqual(['hardware-phone-mismatch']);
    // later the same day: nothing; a day later: one more reminder, no new alert
    expect(await run(new Date(signedAt.getTime() + 20 * 3_600_000))).toMatchObject({ due: 0 });
    expect(await run(new Date(signedAt.getTime() + 26 * 3_600_000))).toMatchObject({ due: 1, done: 1 });
    expect(notices).toHaveLength(2);
    expect(alerts).toHaveLength(1);
    // far past 10 days it is still only reminded, never accepted
    await run(new Date(signedAt.getTime() + 12 * DAY));
    expect(await line(o.orderId, o.orderLineId)).toMatchObject({ state: 'SIGNED', remindersSent: 3 });
    // the notification records are visible to the operator
    expect((await route('GET', o.orderId)).json.notifications).toHaveLength(3);
    expect((await route('POST', o.orderId, 'acceptance', { action: 'accept' })).json).toMatchObject({ state: 'ACCEPTED', acceptedBy: 'buyer' });
    expect(await run(new Date(signedAt.getTime() + 14 * DAY))).toMatchObject({ due: 0 });
  });

  it('correcting the sign-off time does not bring the next reminder forward', async () => {
    const signedAt = new Date('2024-09-01T08:00:00Z');
    const o = await shippedAndSigned('13900000000', signedAt);
    // the first reminder goes out at the next run (the route's clock is real, the job's is moved)
    await run(new Date(Date.parse((await line(o.orderId, o.orderLineId))!.nextReminderAt!) + 60_000));
    expect(notices).toHaveLength(1);
    const { lastReminderAt } = (await line(o.orderId, o.orderLineId))!;
    await route('POST', o.orderId, 'sign-off', { signedAt: new Date(signedAt.getTime() - 3_600_000).toISOString() });
    expect((await line(o.orderId, o.orderLineId))?.nextReminderAt).toBe(new Date(Date.parse(lastReminderAt!) + DAY).toISOString());
    await route('POST', o.orderId, 'acceptance', { action: 'accept' });
  });

  it('a reminder that could not be sent is tried again within the hour, not the next day', async () => {
    const signedAt = new Date('2024-03-01T08:00:00Z');
    const o = await shippedAndSigned('13900000000', signedAt);
    failNotices = 2;
    expect(await run(new Date(signedAt.getTime() + 60_000))).toMatchObject({ due: 1, failed: 1 });
    expect(await line(o.orderId, o.orderLineId)).toMatchObject({ remindersSent: 0, reminderFailures: 1, nextReminderAt: new Date(signedAt.getTime() + 60_000 + 3_600_000).toISOString() });
    // the operator hears of the mismatch and of the failing reminder once, not at every hourly retry
    expect(alerts.map((a) => a.kind).sort()).toEqual(['buyer-reminder-failed', 'hardware-phone-mismatch']);
    expect(await run(new Date(signedAt.getTime() + 2 * 3_600_000))).toMatchObject({ due: 1, failed: 1 });
    expect(alerts).toHaveLength(2);
    expect(await run(new Date(signedAt.getTime() + 4 * 3_600_000))).toMatchObject({ due: 1, done: 1 });
    expect(notices).toHaveLength(1);
    await route('POST', o.orderId, 'acceptance', { action: 'accept' });
  });

  it('a rejection or an open appeal stops the automatic acceptance', async () => {
    const signedAt = new Date('2023-03-01T08:00:00Z');
    const rejected = await shippedAndSigned(BUYER_PHONE, signedAt);
    const appealed = await shippedAndSigned(BUYER_PHONE, signedAt);
    expect((await route('POST', rejected.orderId, 'acceptance', { action: 'reject', note: 'box damaged' })).json).toMatchObject({ state: 'REJECTED', rejectionCount: 1 });
    expect((await route('POST', appealed.orderId, 'acceptance', { action: 'appeal' })).json).toMatchObject({ state: 'APPEALED' });
    expect(await run(new Date(signedAt.getTime() + 11 * DAY))).toMatchObject({ due: 0, done: 0 });
    expect((await line(rejected.orderId, rejected.orderLineId))?.state).toBe('REJECTED');
    expect((await line(appealed.orderId, appealed.orderLineId))?.state).toBe('APPEALED');
    // after a rejection the merchant ships again; the new sign-off starts a new 10 days
    expect((await route('POST', rejected.orderId, 'sign-off', {})).status).toBe(409);
    await route('POST', rejected.orderId, 'shipment', { carrier: 'SF Express', trackingNumber: 'SF2', waybillPhone: BUYER_PHONE });
    expect((await route('POST', rejected.orderId, 'sign-off', { signedAt: new Date(signedAt.getTime() + DAY).toISOString() })).status).toBe(200);
    expect(await run(new Date(signedAt.getTime() + 11 * DAY - 60_000))).toMatchObject({ due: 0 });
    expect(await run(new Date(signedAt.getTime() + 11 * DAY + 60_000))).toMatchObject({ due: 1, done: 1 });
    await route('POST', appealed.orderId, 'acceptance', { action: 'accept' });
  });

  it('two runs at once accept each order once', async () => {
    const signedAt = new Date('2022-03-01T08:00:00Z');
    const orders = await Promise.all(Array.from({ length: 4 }, () => shippedAndSigned(BUYER_PHONE, signedAt)));
    const mismatched = await shippedAndSigned('13900000000', signedAt);
    const at = new Date(signedAt.getTime() + 10 * DAY + 60_000);
    const [a, b] = await Promise.all([run(at), run(at)]);
    expect(a.done + b.done).toBe(5);
    expect(a.failed + b.failed).toBe(0);
    expect(notices).toHaveLength(1);
    for (const o of orders) expect((await line(o.orderId, o.orderLineId))?.state).toBe('ACCEPTED');
    await route('POST', mismatched.orderId, 'acceptance', { action: 'accept' });
  });

  it('answers bad operator input with 400 / 404 / 409 and a reason, never a 500', async () => {
    const ids = await hardwareOrder();
    expect((await route('POST', ids.orderId, 'shipment', '{not json')).status).toBe(400);
    const missing = await route('POST', ids.orderId, 'shipment', { carrier: 'SF' });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatch(/trackingNumber/);
    expect((await route('POST', ids.orderId, 'acceptance', { action: 'cancel' })).status).toBe(400);
    expect((await route('POST', ids.orderId, 'sign-off', {})).status).toBe(409);
    expect((await route('POST', ids.orderId, 'sign-off', { signedAt: '2999-01-01T00:00:00Z' })).status).toBe(400);
    expect((await route('POST', 'NO-SUCH-ORDER', 'shipment', { carrier: 'SF', trackingNumber: '1', waybillPhone: '1' })).status).toBe(404);
    expect((await route('POST', ids.orderId, 'shipment', { orderLineId: 'other-line', carrier: 'SF', trackingNumber: '1', waybillPhone: '1' })).status).toBe(404);
    expect((await route('GET', 'X'.repeat(3000))).status).toBe(400);
  });
});
