/**
 * The production URL end to end: real handler, real signatures, DynamoDB Local, local marketplace.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { getRuntime } from '#shared/runtime';
import { ACCESS_KEY, freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler as getInstance } from '../getInstance/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const call = (body: Record<string, unknown>, opts?: Parameters<typeof signedEvent>[1]) => invoke(handler, signedEvent(body, opts));
const store = async () => (await getRuntime()).services.store;

async function newOrder(over?: Parameters<typeof freshOrder>[0]) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
}

async function created(over?: Parameters<typeof freshOrder>[0]) {
  const ids = await newOrder(over);
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
  expect(answer.json.resultCode).toBe('000000');
  return { ...ids, instanceId: answer.json.instanceId! };
}

describe('POST /produce — lifecycle', () => {
  it('create → query → refresh → freeze → unfreeze → release, every answer signed', async () => {
    const ids = await newOrder();
    const businessId = randomUUID();
    const create = await call({ activity: 'newInstance', businessId, ...ids });
    expect(create.status).toBe(200);
    expect(create.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId: businessId });
    expect(create.headers['Body-Sign']).toBe(bodySignHeader(ACCESS_KEY, create.raw));
    const instanceId = businessId;

    const query = await call({ activity: 'queryInstance', instanceId });
    expect(query.json.resultCode).toBe('000000');
    expect(query.json.info![0]!.instanceId).toBe(instanceId);
    expect(query.json.info![0]!.appInfo.frontEndUrl).toContain(instanceId);
    expect(query.json.info![0]!.appInfo.password).toMatch(/^.{16}$/);
    expect(query.json.info![0]!.usageInfo).toBeUndefined();

    const refresh = await call({ activity: 'refreshInstance', instanceId, orderId: 'CSRENEW1', orderLineId: 'CSRENEW1-000001', scene: 'RENEWAL', expireTime: '20281124023618256' });
    expect(refresh.json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.expireTime).toBe('2028-11-24T02:36:18.256Z');

    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.status).toBe('FROZEN');
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');

    const release = await call({ activity: 'releaseInstance', instanceId });
    expect(release.json.resultCode).toBe('000000');
    const released = await (await store()).getInstance(instanceId);
    expect(released?.status).toBe('RELEASED');
    expect(released?.releasedAt).toBeDefined();

    const after = await call({ activity: 'queryInstance', instanceId });
    expect(after.json.resultCode).toBe('000000');
    expect(after.json.info![0]!.appInfo).toBeUndefined();

    const history = await (await store()).history(instanceId);
    expect(history.map((c) => c.activity).reverse()).toEqual([
      'newInstance', 'queryInstance', 'refreshInstance', 'updateInstanceStatus', 'updateInstanceStatus', 'releaseInstance', 'queryInstance',
    ]);
  });

  it('the operator read shows the instance and its history, never the password or buyer contact', async () => {
    const { instanceId, orderId } = await created();
    const res = (await getInstance(
      { pathParameters: { instanceId } } as never,
      { getRemainingTimeInMillis: () => 1000 } as never,
    )) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(200);
    const view = JSON.parse(res.body);
    expect(view).toMatchObject({ instanceId, status: 'ACTIVE', orderId, chargingMode: 'PERIOD', expireTime: '2027-11-24T23:59:59.000Z' });
    expect(view.appInfo.password).toBe('********');
    expect(res.body).not.toContain('18612345678');
    expect(res.body).not.toContain('owner@acme.example');
    expect(view.history[0].activity).toBe('newInstance');
    const missing = (await getInstance({ pathParameters: { instanceId: 'nope' } } as never, {} as never)) as { statusCode: number };
    expect(missing.statusCode).toBe(404);
  });

  it('upgrade reads the new spec from the upgrade order, once', async () => {
    const { instanceId } = await created();
    const upgrade = freshOrder({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 });
    h.marketplace.registerOrder(upgrade);
    const body = { activity: 'upgradeInstance', instanceId, orderId: upgrade.orderId, orderLineId: upgrade.orderLine[0]!.orderLineId };
    expect((await call(body)).json.resultCode).toBe('000000');
    const once = await (await store()).getInstance(instanceId);
    expect(once?.product).toMatchObject({ skuCode: 'sku-pro', linearValue: 50 });
    expect((await call(body)).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.version).toBe(once?.version);
  });

  it('RENEWAL_CHANGE re-reads the order; TRIAL_TO_FORMAL ends the trial; changeInstanceCheck answers', async () => {
    const { instanceId } = await created({ orderType: 'TRIAL' });
    expect((await (await store()).getInstance(instanceId))?.trial).toBe(true);
    await call({ activity: 'refreshInstance', instanceId, orderId: 'CSCONV', orderLineId: 'CSCONV-1', scene: 'TRIAL_TO_FORMAL', expireTime: '20271231235959' });
    expect((await (await store()).getInstance(instanceId))?.trial).toBe(false);

    const change = freshOrder({ orderType: 'RENEW', skuCode: 'sku-small', linearValue: 2 });
    h.marketplace.registerOrder(change);
    const check = await call({ activity: 'changeInstanceCheck', instanceId, productInfo: { skuCode: 'sku-small', linearValue: 2 } });
    expect(check.json.resultCode).toBe('000000');
    const refresh = await call({ activity: 'refreshInstance', instanceId, orderId: change.orderId, orderLineId: change.orderLine[0]!.orderLineId, scene: 'RENEWAL_CHANGE', expireTime: '20281231235959', productId: 'OFFI-NEW' });
    expect(refresh.json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.product).toEqual({ skuCode: 'sku-small', linearValue: 2, productId: 'OFFI-NEW', productName: 'Test product' });
  });

  it('on-demand instances report usage in queryInstance; up to 100 ids in one call', async () => {
    const a = await created({ chargingMode: 'ON_DEMAND' });
    const b = await created();
    const query = await call({ activity: 'queryInstance', instanceId: `${a.instanceId}, ${b.instanceId},never-seen` });
    expect(query.json.resultCode).toBe('000000');
    expect(query.json.info!.map((i) => i.instanceId)).toEqual([a.instanceId, b.instanceId]);
    expect(query.json.info![0]!.usageInfo[0]).toMatchObject({ usageValue: 0 });
    expect(query.json.info![0]!.usageInfo[0].statisticalTime).toMatch(/^\d{17}$/);
    expect(query.json.resultMsg).toContain('never-seen');
    const tooMany = await call({ activity: 'queryInstance', instanceId: Array.from({ length: 101 }, (_, i) => `id${i}`).join(',') });
    expect(tooMany.json.resultCode).toBe('000002');
    const hundredUnknown = await call({ activity: 'queryInstance', instanceId: Array.from({ length: 100 }, () => randomUUID()).join(',') });
    expect(hundredUnknown.json.resultCode).toBe('000003');
    expect(hundredUnknown.json.resultMsg.length).toBeLessThanOrEqual(255);
  });

  it('orderNotify records the order once and fetches it once', async () => {
    const ids = await newOrder();
    const before = h.marketplace.calls().length;
    expect((await call({ activity: 'orderNotify', ...ids, testFlag: '0' })).json.resultCode).toBe('000000');
    expect((await call({ activity: 'orderNotify', ...ids, testFlag: '0' })).json).toMatchObject({ resultCode: '000000', resultMsg: 'success. (already notified)' });
    expect(h.marketplace.calls().length - before).toBe(1);
    const notice = await (await store()).getOrderNotice(ids.orderId, ids.orderLineId);
    expect(notice?.chargingMode).toBe('PERIOD');
    expect(notice?.buyer?.mobilePhone).toBe('18612345678');
  });

  it('console debug calls (testFlag=1) run on the mock order ids and never reach the product', async () => {
    const businessId = randomUUID();
    const create = await call({ activity: 'newInstance', businessId, orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(create.json.resultCode).toBe('000000');
    const instanceId = create.json.instanceId!;
    const info = (await call({ activity: 'queryInstance', instanceId, testFlag: '1' })).json.info![0]!;
    expect(info.appInfo.memo).toContain('testFlag=1');
    expect((await (await store()).getInstance(instanceId))?.testFlag).toBe(true);
    // the next day's dial test replays the same cases, release included
    expect((await call({ activity: 'releaseInstance', instanceId, testFlag: '1' })).json.resultCode).toBe('000000');
    const again = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(again.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId });
    const reborn = await (await store()).getInstance(instanceId);
    expect(reborn).toMatchObject({ status: 'ACTIVE', statusReason: 'tenant provisioned', provisioningAttempts: 2 });
    expect(reborn?.releasedAt).toBeUndefined();
    // the next cycle fails to read the order once: 000005 with nothing changed, and the resend provisions
    expect((await call({ activity: 'releaseInstance', instanceId, testFlag: '1' })).json.resultCode).toBe('000000');
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    const failed = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(failed.json.resultCode).toBe('000005');
    expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'RELEASED', provisioningAttempts: 2 });
    const resent = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(resent.json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId });
    expect(await (await store()).getInstance(instanceId)).toMatchObject({ status: 'ACTIVE', provisioningAttempts: 3 });
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE', testFlag: '1' })).json.resultCode).toBe('000000');
  });
});

describe('POST /produce — idempotency', () => {
  it('the same order line always yields the first businessId, also on resends', async () => {
    const ids = await newOrder();
    const first = randomUUID();
    const answers = [];
    for (const businessId of [first, randomUUID(), randomUUID()]) answers.push(await call({ activity: 'newInstance', businessId, ...ids }));
    expect(answers.map((a) => a.json.instanceId)).toEqual([first, first, first]);
    expect(answers.every((a) => a.json.resultCode === '000000')).toBe(true);
  });

  it('eight concurrent copies of newInstance create exactly one instance', async () => {
    const ids = await newOrder();
    const businessIds = Array.from({ length: 8 }, () => randomUUID());
    const answers = await Promise.all(businessIds.map((businessId) => call({ activity: 'newInstance', businessId, ...ids })));
    // every copy reads the order first: on a loaded machine one may miss the open API's timeout and answer
    // 000005 (no id; the marketplace resends it). All the others answer the one id.
    const answered = answers.filter((a) => a.json.resultCode !== '000005');
    expect(answers.filter((a) => a.json.resultCode === '000005').every((a) => a.json.instanceId === undefined)).toBe(true);
    const instanceIds = new Set(answered.map((a) => a.json.instanceId));
    expect(instanceIds.size).toBe(1);
    // the winner answers 000000; a copy that arrives while it provisions answers 000004 (same id)
    expect(answered.filter((a) => a.json.resultCode === '000000').length).toBeGreaterThanOrEqual(1);
    expect(answered.every((a) => ['000000', '000004'].includes(a.json.resultCode))).toBe(true);
    const winner = [...instanceIds][0]!;
    expect(businessIds).toContain(winner);
    const found = await (await store()).getInstances(businessIds);
    expect([...found.keys()]).toEqual([winner]);
  });

  it('repeated and concurrent lifecycle calls do the work once', async () => {
    const { instanceId } = await created();
    const v = (await (await store()).getInstance(instanceId))!.version;
    const freeze = { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => call(freeze)));
    expect(answers.every((a) => a.json.resultCode === '000000')).toBe(true);
    const frozen = await (await store()).getInstance(instanceId);
    expect(frozen?.status).toBe('FROZEN');
    expect(frozen?.version).toBe(v + 1);

    const renewal = { activity: 'refreshInstance', instanceId, orderId: 'CSR', orderLineId: 'CSR-1', scene: 'RENEWAL', expireTime: '20290101000000' };
    await Promise.all([call(renewal), call(renewal), call(renewal)]);
    const renewed = await (await store()).getInstance(instanceId);
    expect(renewed?.appliedOps.filter((op) => op.startsWith('refresh:CSR:'))).toHaveLength(1);
    expect(renewed?.version).toBe(v + 2);

    // a later unsubscription of that renewal moves the expiry back; a late resend of the renewal cannot undo it
    await call({ ...renewal, scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: '20280101000000' });
    await call(renewal);
    expect((await (await store()).getInstance(instanceId))?.expireTime).toBe('2028-01-01T00:00:00.000Z');

    await Promise.all([call({ activity: 'releaseInstance', instanceId }), call({ activity: 'releaseInstance', instanceId })]);
    expect((await call({ activity: 'releaseInstance', instanceId })).json.resultCode).toBe('000000');
    // a late freeze after the release is acknowledged and changes nothing
    expect((await call(freeze)).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(instanceId))?.status).toBe('RELEASED');
  });

  it('calls on instances that were never seen answer 000003', async () => {
    const instanceId = randomUUID();
    for (const body of [
      { activity: 'refreshInstance', instanceId, orderId: 'O', orderLineId: 'O-1', scene: 'RENEWAL', expireTime: '20290101000000' },
      { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' },
      { activity: 'releaseInstance', instanceId },
      { activity: 'upgradeInstance', instanceId, orderId: 'O', orderLineId: 'O-1' },
      { activity: 'queryInstance', instanceId },
      { activity: 'changeInstanceCheck', instanceId, productInfo: { linearValue: 1 } },
    ])
      expect((await call(body)).json.resultCode, body.activity).toBe('000003');
    expect(await (await store()).getInstance(instanceId)).toBeUndefined();
  });

  it('a renewal of a released instance is refused with 000003', async () => {
    const { instanceId } = await created();
    await call({ activity: 'releaseInstance', instanceId });
    const refresh = await call({ activity: 'refreshInstance', instanceId, orderId: 'X', orderLineId: 'X-1', scene: 'RENEWAL', expireTime: '20290101000000' });
    expect(refresh.json).toMatchObject({ resultCode: '000003', resultMsg: 'instance has been released' });
  });
});

describe('POST /produce — authentication', () => {
  const body = () => ({ activity: 'queryInstance', instanceId: randomUUID() });
  const countCalls = async (instanceId: string) => (await (await store()).history(instanceId)).length;

  it('a replayed nonce is refused and writes nothing', async () => {
    const { instanceId } = await created();
    expect((await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    const fresh = signedEvent({ activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' });
    expect((await invoke(handler, fresh)).json.resultCode).toBe('000000');
    // the replay comes after a FREEZE would have been legal again: it must still change nothing
    await call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' });
    const frozenVersion = (await (await store()).getInstance(instanceId))?.version;
    const replay = await invoke(handler, fresh);
    expect(replay.json).toEqual({ resultCode: '000001', resultMsg: 'nonce already used' });
    expect((await (await store()).getInstance(instanceId))?.status).toBe('FROZEN');
    expect((await (await store()).getInstance(instanceId))?.version).toBe(frozenVersion);
    expect(replay.headers['Body-Sign']).toBe(bodySignHeader(ACCESS_KEY, replay.raw));
    expect(await countCalls(instanceId)).toBe(4);
  });

  it('stale or future timestamps beyond 60 s are refused; seconds are accepted', async () => {
    for (const offset of [-61_000, 61_000])
      expect((await call(body(), { timestamp: String(Date.now() + offset) })).json).toMatchObject({ resultCode: '000001' });
    expect((await call(body(), { timestamp: String(Math.floor(Date.now() / 1000)) })).json.resultCode).toBe('000003');
  });

  it('tampered body, wrong key, bad or missing parameters are refused without a write', async () => {
    const b = body();
    expect((await call(b, { signedBody: JSON.stringify({ ...b, instanceId: 'other' }) })).json.resultCode).toBe('000001');
    expect((await call(b, { key: 'not-the-key' })).json.resultCode).toBe('000001');
    expect((await call(b, { query: null })).json.resultCode).toBe('000001');
    expect((await call(b, { signature: 'zz' })).json.resultCode).toBe('000001');
    expect(await countCalls(b.instanceId)).toBe(0);
  });

  it('accepts a body signed in canonical form but sent with other key order and spacing', async () => {
    const instanceId = randomUUID();
    const canonical = JSON.stringify({ activity: 'queryInstance', instanceId });
    const sent = `{ "instanceId" : "${instanceId}", "activity":"queryInstance" }`;
    expect((await call({}, { rawBody: sent, signedBody: canonical })).json.resultCode).toBe('000003');
  });

  it('base64-encoded bodies (API Gateway binary mode) are verified over the decoded bytes', async () => {
    const event = signedEvent({ activity: 'queryInstance', instanceId: 'b64' });
    event.body = Buffer.from(event.body!).toString('base64');
    event.isBase64Encoded = true;
    expect((await invoke(handler, event)).json.resultCode).toBe('000003');
  });
});

describe('POST /produce — bad input', () => {
  const cases: Array<[string, string]> = [
    ['not json', 'request body must be a JSON object'],
    ['[1,2]', 'request body must be a JSON object'],
    ['{"activity":"dance"}', 'unsupported activity dance'],
    ['{"orderId":"x"}', 'activity is missing'],
    ['{"activity":"newInstance","orderLineId":"L","businessId":"B"}', 'orderId'],
    ['{"activity":"newInstance","orderId":12,"orderLineId":"L","businessId":"B"}', 'orderId'],
    [`{"activity":"newInstance","orderId":"${'x'.repeat(65)}","orderLineId":"L","businessId":"B"}`, 'at most 64'],
    ['{"activity":"updateInstanceStatus","instanceId":"i","status":"PAUSE"}', 'status'],
    ['{"activity":"refreshInstance","instanceId":"i","orderId":"o","orderLineId":"l","scene":"RENEWAL","expireTime":"2029"}', 'expireTime'],
    ['{"activity":"refreshInstance","instanceId":"i","orderId":"o","orderLineId":"l","scene":"RENEWAL","expireTime":"20291340000000"}', 'expireTime'],
  ];
  for (const [raw, message] of cases)
    it(`answers 000002 for ${raw.slice(0, 60)}`, async () => {
      const answer = await call({}, { rawBody: raw });
      expect(answer.status).toBe(200);
      expect(answer.json.resultCode).toBe('000002');
      expect(answer.json.resultMsg).toContain(message);
    });

  it('oversized or deeply nested bodies are refused with 000002, never a 5xx', async () => {
    const huge = JSON.stringify({ activity: 'queryInstance', instanceId: 'x', pad: 'y'.repeat(70_000) });
    expect((await call({}, { rawBody: huge })).json.resultCode).toBe('000002');
    const nested = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const answer = await call({}, { rawBody: nested });
    expect(answer.status).toBe(200);
    expect(answer.json.resultCode).toBe('000002');
  });

  it('an open-API failure answers 000005 with nothing written; the resend succeeds', async () => {
    const ids = await newOrder();
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    const businessId = randomUUID();
    const failed = await call({ activity: 'newInstance', businessId, ...ids });
    expect(failed.json).toMatchObject({ resultCode: '000005' });
    expect(await (await store()).findInstanceIdByOrderLine(ids.orderId, ids.orderLineId)).toBeUndefined();
    expect(await (await store()).getInstance(businessId)).toBeUndefined();
    const retry = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(retry.json.resultCode).toBe('000000');
  });

  it('a hanging open API is cut off inside the answer budget', async () => {
    const ids = await newOrder();
    h.marketplace.injectFaults({ count: 1, mode: 'timeout' });
    const started = Date.now();
    const answer = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(answer.json.resultCode).toBe('000005');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a business error from query order (unknown order) answers 000005', async () => {
    const answer = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'NOSUCHORDER', orderLineId: 'NOSUCHORDER-1' });
    expect(answer.json.resultCode).toBe('000005');
  });
});
