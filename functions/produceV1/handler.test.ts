/**
 * GET /produce/v1 through the real handler, DynamoDB Local and the local marketplace: the spec's V1 test
 * vectors, Body-Sign on every answer, each activity with its idempotency, the encrypted contact data and
 * credentials, and a V1 and a V2 lifecycle of the same kind of order reaching the same instance state.
 */
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '#shared/domain/instance';
import type { ProvisionRequest } from '#shared/domain/provisioner';
import { bodySignHeader } from '#shared/protocol/signature';
import { formatMarketTime, formatMarketTimeMillis } from '#shared/protocol/time';
import { computeAuthToken, decryptV1, encryptV1 } from '#shared/protocol/v1';
import { getRuntime } from '#shared/runtime';
import { freshOrder, invoke, signedEvent, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { v1Event } from '#shared/testing/apiEvents';
import { handler as produce } from '../produce/handler.ts';
import { findOrderLineByProduct as lineFor } from '#shared/openapi/order';
import { handler } from './handler.ts';

/** the product's provisioner (claim first): a login per order line; `nextPassword` overrides one password */
let nextPassword: string | undefined;
vi.mock('#shared/product/provisioner', () => ({
  createProductProvisioner: () => ({
    onLifecycle: async () => undefined,
    provision: async (request: ProvisionRequest): Promise<AppInfo> => {
      const password = nextPassword ?? `pw-${randomUUID().slice(0, 8)}`;
      nextPassword = undefined;
      return { frontEndUrl: `https://product.example/${request.orderLineId}`, userName: 'admin', password };
    },
  }),
}));

/** the key of the spec's test vectors (2.3, 2.5) */
const KEY = 'test-access-key-0123456789';
const OLD_KEY = 'previous-v1-key';

// ------------------------------------------------------------------ V1 requests as the marketplace sends them

/** The marketplace URL-encodes every value (encodeURIComponent: a `+` becomes %2B, a space %20). */
const rawQuery = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');

/** params + a current timeStamp + the authToken computed by `key` over them (decoded values). */
function signV1(params: Record<string, string>, opts: { key?: string; at?: Date } = {}): Record<string, string> {
  const all = { ...params, timeStamp: params.timeStamp ?? formatMarketTimeMillis(opts.at ?? new Date()) };
  return { ...all, authToken: computeAuthToken(opts.key ?? KEY, all) };
}


/** An event that carries the raw query string (HTTP API style): decoded by parseV1Query. */
function rawEvent(raw: string): APIGatewayProxyEvent {
  return { ...v1Event({}), queryStringParameters: null, multiValueQueryStringParameters: null, rawQueryString: raw } as APIGatewayProxyEvent;
}

/** Sends a V1 call; every answer must carry a Body-Sign by `signKey` over its exact bytes. */
async function v1(event: APIGatewayProxyEvent, signKey = KEY): Promise<Answer> {
  const answer = await invoke(handler as never, event);
  expect(answer.status).toBe(200);
  expect(answer.headers['Body-Sign']).toBe(bodySignHeader(signKey, answer.raw));
  return answer;
}
/** answers are signed with the key that verified, else with the newest V1 key */
const call = (params: Record<string, string>, opts?: { key?: string; at?: Date }) =>
  v1(v1Event(signV1(params, opts)), opts?.key === OLD_KEY ? OLD_KEY : KEY);

const v2 = (body: Record<string, unknown>) => invoke(produce as never, signedEvent(body));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    KOOGALLERY_V1_KEY: `${KEY},${OLD_KEY}`,
    OPEN_API_TIMEOUT_MS: '3000',
    REQUEST_BUDGET_MS: '15000',
  });
});
afterAll(() => h.close());
afterEach(() => vi.useRealTimers());

function order(over: Parameters<typeof freshOrder>[0] = {}) {
  const o = freshOrder(over);
  h.marketplace.registerOrder(o);
  return o;
}
const services = async () => (await getRuntime()).services;
const instance = async (id: string) => (await services()).store.getInstance(id);

async function newV1(o = order(), extra: Record<string, string> = {}) {
  const answer = await call({ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), customerId: 'cust-1', productId: 'OFFI0001', ...extra });
  expect(answer.json.resultCode, answer.json.resultMsg).toBe('000000');
  return { o, id: answer.json.instanceId!, answer };
}

// ------------------------------------------------------------------ the spec's vectors

describe('authToken test vectors (spec 2.3) through the handler', () => {
  const AT = new Date(Date.UTC(2020, 6, 27, 7, 37, 11, 903) + 30_000);
  const TV1: Record<string, string> = {
    activity: 'newInstance',
    businessId: '61e834ba-7b97-4418-b8f7-e5345137278c',
    customerId: '68cbc86abc2018ab880d92f36422fa0e',
    expireTime: '20200727153156',
    orderId: 'CS1906666666ABCDE',
    productId: '00301-666666-0--0',
    testFlag: '1',
    timeStamp: '20200727073711903',
  };
  const TV2_RAW =
    'activity=newInstance&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e&mobilePhone=Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg%3D%3D&orderId=CS1906666666ABCDE&productId=00301-666666-0--0&testFlag=1&timeStamp=20200727073711903';

  it('TV-V1-1 verifies, TV-V1-2 verifies over decoded values only, and both answer the same instance', async () => {
    h.marketplace.registerOrder({
      orderId: 'CS1906666666ABCDE',
      orderType: 'NEW',
      orderLine: [
        { orderLineId: 'CS1906666666ABCDE-000002', chargingMode: 'PERIOD', productInfo: [{ productId: 'other-product', skuCode: 'sku-x' }] },
        { orderLineId: 'CS1906666666ABCDE-000001', chargingMode: 'PERIOD', periodType: 'month', periodNumber: 1, productInfo: [{ productId: '00301-666666-0--0', skuCode: 'sku-basic' }] },
      ],
      buyerInfo: { customerId: '68cbc86abc2018ab880d92f36422fa0e', mobilePhone: '13000000000' },
    });
    vi.useFakeTimers({ toFake: ['Date'], now: AT });
    const tv1 = await v1(v1Event({ ...TV1, authToken: '+gY91I4Nb4jWMY6gsXkgA4vJI+2cFV2/LI4dAdCppU8=' }));
    expect(tv1.json).toMatchObject({ resultCode: '000000', instanceId: TV1.businessId, encryptType: '1' });
    // the line whose productId matches, not the first one
    expect((await instance(TV1.businessId!))?.orderLineId).toBe('CS1906666666ABCDE-000001');

    // the token over the still-encoded values is refused, also when sent through the raw query string
    const encodedToken = 'ms3A08h7LKN5f1a99VsvWoIW30vsPu0GC4FYchcPbyY=';
    for (const event of [rawEvent(`${TV2_RAW}&authToken=${encodeURIComponent(encodedToken)}`), v1Event({ ...Object.fromEntries(new URLSearchParams(TV2_RAW)), authToken: encodedToken })])
      expect((await v1(event)).json.resultCode).toBe('000001');

    const correct = 'w3O4OZm8yE3SQPOfVhpSmDje0yUSbX8L5qB/2UshkEc=';
    const tv2 = await v1(rawEvent(`${TV2_RAW}&authToken=${encodeURIComponent(correct)}`));
    expect(tv2.json).toMatchObject({ resultCode: '000000', instanceId: TV1.businessId });
    // the same request as API Gateway REST delivers it (values decoded) is the same token: its nonce is used
    const rest = await v1(v1Event({ ...Object.fromEntries(new URLSearchParams(TV2_RAW)), authToken: correct }));
    expect(rest.json).toEqual({ resultCode: '000001', resultMsg: 'nonce already used' });
  });

  it('TV-V1-1 signed with the encoded token in the URL decodes it (%2B, %2F, %3D)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: AT });
    const raw = `${rawQuery({ ...TV1, orderId: 'CS-UNKNOWN' })}&authToken=${encodeURIComponent('+gY91I4Nb4jWMY6gsXkgA4vJI+2cFV2/LI4dAdCppU8=')}`;
    // a changed parameter: the token no longer matches
    expect((await v1(rawEvent(raw))).json.resultCode).toBe('000001');
    // a literal '+' in the token (not percent-encoded) becomes a space in form decoding: refused
    expect((await v1(rawEvent(`${rawQuery(TV1)}&authToken=+gY91I4Nb4jWMY6gsXkgA4vJI+2cFV2/LI4dAdCppU8=`))).json.resultCode).toBe('000001');
  });
});

// ------------------------------------------------------------------ verification

describe('verification', () => {
  it('refuses a wrong key, a stale or future timeStamp, a duplicated parameter and a replay (000001, signed)', async () => {
    const o = order();
    const params = { activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001' };
    expect((await call(params, { key: 'not-a-v1-key' })).json.resultCode).toBe('000001');
    // wrong key: the answer is signed with the newest V1 key
    expect((await v1(v1Event(signV1(params, { key: 'not-a-v1-key' })), KEY)).json.resultMsg).toBe('authToken mismatch');
    expect((await call(params, { at: new Date(Date.now() - 11 * 60_000) })).json.resultCode).toBe('000001');
    expect((await call(params, { at: new Date(Date.now() + 2 * 60_000) })).json.resultCode).toBe('000001');
    const signed = signV1(params);
    const dup = await v1(v1Event([...Object.entries(signed), ['orderId', 'CS-OTHER']]));
    expect(dup.json).toMatchObject({ resultCode: '000001', resultMsg: expect.stringContaining('duplicate query parameter "orderId"') });
    expect((await v1(rawEvent(`${rawQuery(signed)}&orderId=x`))).json.resultCode).toBe('000001');
    expect((await v1(rawEvent(`${rawQuery(signed)}%ZZ=1`))).json.resultCode).toBe('000001');
    // nothing of the refused calls was written
    expect(await (await services()).store.findInstanceIdByOrderLine(o.orderId, o.orderLine[0]!.orderLineId)).toBeUndefined();
    const first = await v1(v1Event(signed));
    expect(first.json.resultCode).toBe('000000');
    expect((await v1(v1Event(signed))).json).toEqual({ resultCode: '000001', resultMsg: 'nonce already used' });
  });

  it('verifies with an older V1 key during a rotation and signs the answer with it', async () => {
    const o = order();
    const answer = await call({ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001' }, { key: OLD_KEY });
    expect(answer.json.resultCode).toBe('000000');
    expect(decryptV1(OLD_KEY, answer.json.appInfo.password)).toBe((await instance(answer.json.instanceId!))?.appInfo?.password);
  });

  it('answers 000001 when no V1 key is configured', async () => {
    const { secrets } = await getRuntime();
    const keys = secrets.v1Keys;
    secrets.v1Keys = [];
    try {
      const answer = await invoke(handler as never, v1Event(signV1({ activity: 'queryInstance', instanceId: 'x' })));
      expect(answer.json).toEqual({ resultCode: '000001', resultMsg: 'V1 key not configured' });
    } finally {
      secrets.v1Keys = keys;
    }
  });

  it('reads a `+` that API Gateway left in a value as a space when that is what was signed', async () => {
    const o = order();
    const params = signV1({ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001', customerName: 'Acme Corp' });
    const answer = await v1(v1Event({ ...params, customerName: 'Acme+Corp' }));
    expect(answer.json.resultCode).toBe('000000');
  });

  it('refuses bad input with 000002 naming the parameter, writing nothing', async () => {
    const o = order();
    const { store } = await services();
    const cases: Array<[Record<string, string>, string]> = [
      [{ activity: 'newInstance', businessId: randomUUID(), productId: 'OFFI0001' }, 'orderId'],
      [{ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001', mobilePhone: 'Ab3dE6gH9jK2mN5pZZZZ' }, 'mobilePhone'],
      [{ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001', email: encryptV1('another-key', 'a@b.example') }, 'email'],
      [{ activity: 'newInstance', orderId: o.orderId, businessId: 'x'.repeat(65), productId: 'OFFI0001' }, 'businessId'],
      [{ activity: 'refreshInstance', instanceId: 'i', orderId: o.orderId, expireTime: '2027-01-01' }, 'expireTime'],
      [{ activity: 'refreshInstance', instanceId: 'i', orderId: o.orderId, expireTime: '20270101000000', orderAmount: 'ten' }, 'orderAmount'],
      [{ activity: 'instanceStatus', instanceId: 'i', instanceStatus: 'UNFREEZE' }, 'instanceStatus'],
      [{ activity: 'queryInstance', instanceId: Array.from({ length: 101 }, (_, i) => `i${i}`).join(',') }, 'instanceId'],
      [{ activity: 'getLicense', instanceId: 'i' }, 'unsupported activity getLicense'],
      [{ instanceId: 'i' }, 'activity is missing'],
    ];
    for (const [params, named] of cases) {
      const answer = await call(params);
      expect(answer.json.resultCode, named).toBe('000002');
      expect(answer.json.resultMsg).toContain(named);
    }
    expect(await store.findInstanceIdByOrderLine(o.orderId, o.orderLine[0]!.orderLineId)).toBeUndefined();
    expect(await store.history('i')).toEqual([]);
  });
});

// ------------------------------------------------------------------ activities

describe('activities', () => {
  it('newInstance: same orderId → same instanceId, credentials encrypted with the V1 key, contact decrypted and sealed', async () => {
    const o = order();
    const phone = encryptV1(KEY, '15905222222', '2'); // AES-128: decrypted by the second attempt
    const email = encryptV1(KEY, 'buyer@v1.example');
    const { id, answer } = await newV1(o, { mobilePhone: phone, email });
    const stored = await instance(id);
    expect(stored).toMatchObject({ orderId: o.orderId, orderLineId: o.orderLine[0]!.orderLineId, status: 'ACTIVE' });
    expect(stored?.buyer).toMatchObject({ mobilePhone: '15905222222', email: 'buyer@v1.example', customerId: 'cust-1' });
    expect(answer.json).toMatchObject({ encryptType: '1', appInfo: { frontEndUrl: stored!.appInfo!.frontEndUrl } });
    expect(decryptV1(KEY, answer.json.appInfo.userName)).toBe(stored!.appInfo!.userName);
    expect(decryptV1(KEY, answer.json.appInfo.password)).toBe(stored!.appInfo!.password);
    expect(answer.json.appInfo.password).not.toBe(stored!.appInfo!.password);
    // the contact data and the password are sealed at rest
    const { Items } = await h.table.documentClient.send(new ScanCommand({ TableName: h.table.tableName }));
    const raw = JSON.stringify(Items);
    for (const secret of ['15905222222', 'buyer@v1.example', stored!.appInfo!.password!]) expect(raw).not.toContain(secret);

    // a repeat (a marketplace retry, the buyer opening resource details): the same instance, unchanged
    const again = await call({ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'OFFI0001' });
    expect(again.json).toMatchObject({ resultCode: '000000', instanceId: id });
    expect(decryptV1(KEY, again.json.appInfo.password)).toBe(stored!.appInfo!.password);
    expect((await instance(id))?.version).toBe(stored!.version);
  });

  it('newInstance: a password too long for V1 encryption is left out, the rest answered', async () => {
    nextPassword = 'p'.repeat(80);
    const { id, answer } = await newV1();
    expect(answer.json.appInfo).toMatchObject({ frontEndUrl: expect.any(String) });
    expect(answer.json.appInfo.password).toBeUndefined();
    expect(decryptV1(KEY, answer.json.appInfo.userName)).toBe('admin');
    expect(answer.raw.length).toBeLessThan(1000);
    expect((await instance(id))?.appInfo?.password).toBe('p'.repeat(80));
  });

  it('newInstance: an order with several lines and none for the productId is bad input', async () => {
    const o = freshOrder();
    o.orderLine.push({ ...o.orderLine[0]!, orderLineId: `${o.orderId}-000002` });
    h.marketplace.registerOrder(o);
    const answer = await call({ activity: 'newInstance', orderId: o.orderId, businessId: randomUUID(), productId: 'NOT-IN-ORDER' });
    expect(answer.json).toMatchObject({ resultCode: '000002', resultMsg: expect.stringContaining('orderId') });
    expect(lineFor(o, 'OFFI0001', 'sku-basic')?.orderLineId).toBe(`${o.orderId}-000001`);
    expect(lineFor(o)).toBeUndefined();
  });

  it('queryInstance: credentials encrypted in info[].appInfo; unknown ids 000003', async () => {
    const [a, b] = [await newV1(), await newV1()];
    const answer = await call({ activity: 'queryInstance', instanceId: `${a.id},${b.id}` });
    expect(answer.json).toMatchObject({ resultCode: '000000', encryptType: '1' });
    expect(answer.json.info!.map((i) => i.instanceId)).toEqual([a.id, b.id]);
    for (const entry of answer.json.info!) expect(decryptV1(KEY, entry.appInfo.password)).toBe((await instance(entry.instanceId))?.appInfo?.password);
    expect((await call({ activity: 'queryInstance', instanceId: 'never-seen' })).json.resultCode).toBe('000003');
  });

  it('refreshInstance: renewal sets the expiry; a repeat is acknowledged; trialToFormal and a negative orderAmount map to their scenes', async () => {
    const trial = order({ orderType: 'TRIAL' });
    const { id } = await newV1(trial);
    expect((await instance(id))?.trial).toBe(true);
    const renewal = { activity: 'refreshInstance', instanceId: id, orderId: `R${trial.orderId}`, expireTime: '20291124235959', trialToFormal: '1', orderAmount: '99.5' };
    expect((await call(renewal)).json.resultCode).toBe('000000');
    expect(await instance(id)).toMatchObject({ trial: false, expireTime: '2029-11-24T23:59:59.000Z', statusReason: expect.stringContaining('TRIAL_TO_FORMAL') });
    const repeat = await call(renewal);
    expect(repeat.json).toMatchObject({ resultCode: '000000', resultMsg: 'success. (already applied)' });
    const unsubscribed = await call({ activity: 'refreshInstance', instanceId: id, orderId: `U${trial.orderId}`, expireTime: '20281124235959', orderAmount: '-99.5' });
    expect(unsubscribed.json.resultCode).toBe('000000');
    expect(await instance(id)).toMatchObject({ expireTime: '2028-11-24T23:59:59.000Z', statusReason: expect.stringContaining('UNSUBSCRIBE_RENEWAL_PERIOD') });
    const productChange = await call({ activity: 'refreshInstance', instanceId: id, orderId: `P${trial.orderId}`, expireTime: '20301124235959', productId: 'OFFI-YEAR' });
    expect(productChange.json.resultCode).toBe('000000');
    expect(await instance(id)).toMatchObject({ product: { productId: 'OFFI-YEAR', skuCode: 'sku-basic' }, statusReason: expect.stringContaining('RENEWAL') });
    expect((await call({ ...renewal, instanceId: 'never-seen' })).json.resultCode).toBe('000003');
  });

  it('expireInstance and instanceStatus freeze and unfreeze; repeats succeed; unknown ids 000003', async () => {
    const { o, id } = await newV1();
    const expire = { activity: 'expireInstance', instanceId: id, orderId: o.orderId };
    expect((await call(expire)).json.resultCode).toBe('000000');
    expect((await instance(id))?.status).toBe('FROZEN');
    expect((await call(expire)).json.resultCode).toBe('000000');
    expect((await call({ activity: 'instanceStatus', instanceId: id, instanceStatus: 'FREEZE' })).json.resultCode).toBe('000000');
    expect((await call({ activity: 'instanceStatus', instanceId: id, instanceStatus: 'NORMAL' })).json.resultCode).toBe('000000');
    expect((await instance(id))?.status).toBe('ACTIVE');
    expect((await call({ activity: 'instanceStatus', instanceId: id, instanceStatus: 'NORMAL' })).json.resultCode).toBe('000000');
    expect((await call({ ...expire, instanceId: 'never-seen' })).json.resultCode).toBe('000003');
    expect((await call({ activity: 'instanceStatus', instanceId: 'never-seen', instanceStatus: 'FREEZE' })).json.resultCode).toBe('000003');
  });

  it('releaseInstance: released, a repeat succeeds, the credentials are no longer answered; unknown ids 000003', async () => {
    const { o, id } = await newV1();
    const release = { activity: 'releaseInstance', instanceId: id, orderId: o.orderId };
    expect((await call(release)).json.resultCode).toBe('000000');
    expect((await instance(id))?.status).toBe('RELEASED');
    expect((await call(release)).json.resultCode).toBe('000000');
    const query = await call({ activity: 'queryInstance', instanceId: id });
    expect(query.json.info?.[0]?.appInfo).toBeUndefined();
    expect((await call({ ...release, instanceId: 'never-seen' })).json.resultCode).toBe('000003');
    const history = await (await services()).store.history(id);
    expect(history.map((c) => c.activity)).toContain('v1:releaseInstance');
  });

  it('upgrade: the new specification from the upgrade order, once; unknown ids 000003', async () => {
    const { id } = await newV1();
    const up = order({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 });
    const params = { activity: 'upgrade', instanceId: id, orderId: up.orderId, productId: 'OFFI0001', skuCode: 'sku-pro' };
    expect((await call(params)).json.resultCode).toBe('000000');
    expect((await instance(id))?.product).toMatchObject({ skuCode: 'sku-pro', linearValue: 50 });
    expect((await call(params)).json).toMatchObject({ resultCode: '000000', resultMsg: 'success. (already applied)' });
    expect((await call({ ...params, instanceId: 'never-seen' })).json.resultCode).toBe('000003');
  });
});

// ------------------------------------------------------------------ one domain, two wire formats

describe('V1 and V2 share the domain', () => {
  it('the same lifecycle through V1 and through V2 reaches the same instance state', async () => {
    const ids: string[] = [];
    for (const wire of ['v1', 'v2'] as const) {
      const o = order({ orderType: 'TRIAL' });
      const line = o.orderLine[0]!.orderLineId;
      const renewal = order({ orderType: 'RENEW' });
      const up = order({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 });
      const expireTime = formatMarketTime(new Date(Date.UTC(2030, 0, 1)));
      let id: string;
      if (wire === 'v1') {
        id = (await newV1(o)).id;
        expect((await call({ activity: 'refreshInstance', instanceId: id, orderId: renewal.orderId, expireTime, trialToFormal: '1' })).json.resultCode).toBe('000000');
        expect((await call({ activity: 'upgrade', instanceId: id, orderId: up.orderId, skuCode: 'sku-pro' })).json.resultCode).toBe('000000');
        expect((await call({ activity: 'expireInstance', instanceId: id, orderId: o.orderId })).json.resultCode).toBe('000000');
        expect((await call({ activity: 'instanceStatus', instanceId: id, instanceStatus: 'NORMAL' })).json.resultCode).toBe('000000');
      } else {
        const created = await v2({ activity: 'newInstance', orderId: o.orderId, orderLineId: line, businessId: randomUUID() });
        expect(created.json.resultCode).toBe('000000');
        id = created.json.instanceId!;
        const refresh = { activity: 'refreshInstance', instanceId: id, orderId: renewal.orderId, orderLineId: renewal.orderLine[0]!.orderLineId, scene: 'TRIAL_TO_FORMAL', expireTime };
        expect((await v2(refresh)).json.resultCode).toBe('000000');
        expect((await v2({ activity: 'upgradeInstance', instanceId: id, orderId: up.orderId, orderLineId: up.orderLine[0]!.orderLineId })).json.resultCode).toBe('000000');
        expect((await v2({ activity: 'updateInstanceStatus', instanceId: id, status: 'FREEZE' })).json.resultCode).toBe('000000');
        expect((await v2({ activity: 'updateInstanceStatus', instanceId: id, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
      }
      ids.push(id);
    }
    const [viaV1, viaV2] = await Promise.all(ids.map(instance));
    const state = (i: typeof viaV1) => ({ status: i?.status, expireTime: i?.expireTime, product: i?.product, trial: i?.trial, chargingMode: i?.chargingMode, periodType: i?.periodType });
    expect(state(viaV1)).toEqual(state(viaV2));
    expect(state(viaV1)).toMatchObject({ status: 'ACTIVE', expireTime: '2030-01-01T00:00:00.000Z', trial: false, product: { skuCode: 'sku-pro', linearValue: 50 } });
    // and a release through each
    expect((await call({ activity: 'releaseInstance', instanceId: ids[0]! })).json.resultCode).toBe('000000');
    expect((await v2({ activity: 'releaseInstance', instanceId: ids[1]! })).json.resultCode).toBe('000000');
    const [r1, r2] = await Promise.all(ids.map(instance));
    expect([r1?.status, r2?.status]).toEqual(['RELEASED', 'RELEASED']);
  });
});
