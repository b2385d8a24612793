import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { getRuntime } from '#shared/runtime';
import { startHarness, invoke, type Harness } from '#shared/testing/harness';
import { KIT_KEY, kitEvent, kitStamp, V1_KEY } from '#shared/testing/kitCalls';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

let n = 0;
const tenant = (over: Record<string, unknown> = {}) => ({
  instanceId: 'huaiweitest123456',
  orderId: 'CS1906666666ABCDE',
  tenantId: `tenant-${++n}-${Date.now()}`,
  tenantCode: `code-${n}-${Date.now()}`,
  name: 'huaiweitest',
  domainName: 'https://example.tenantaccount.com',
  flag: 1,
  testFlag: 0,
  timeStamp: kitStamp(),
  ...over,
});
const send = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(handler, kitEvent('tenantSync', body, opts));
const stored = async (tenantId: string) => (await getRuntime()).kit.tenancy.tenant(tenantId);

describe('tenantSync (spec 3.9.1)', () => {
  it('adds, modifies (name and domain) and deletes a tenant; the code finds it for login', async () => {
    const body = tenant();
    expect((await send(body)).json).toEqual({ resultCode: '000000', resultMsg: 'Success' });
    const { tenancy } = (await getRuntime()).kit;
    expect(await tenancy.tenantByCode(body.tenantCode as string)).toMatchObject({ tenantId: body.tenantId, status: 'active', syncedAt: body.timeStamp });
    const renamed = { ...body, flag: 2, name: 'renamed', domainName: 'https://new.example.com', timeStamp: kitStamp() };
    expect((await send(renamed)).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId as string)).toMatchObject({ name: 'renamed', domainName: 'https://new.example.com', instanceId: 'huaiweitest123456', orderId: 'CS1906666666ABCDE' });
    expect((await send({ ...body, flag: 0, timeStamp: kitStamp() })).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId as string)).toMatchObject({ status: 'deleted' });
    expect(await tenancy.tenantByCode(body.tenantCode as string)).toMatchObject({ status: 'deleted' });
  });

  it('a repeated add creates nothing new and succeeds; a repeated delete succeeds; a delete needs nothing to exist', async () => {
    const body = tenant();
    await send(body);
    const again = await send(body); // same body, fresh nonce: a resend
    expect(again.json).toEqual({ resultCode: '000000', resultMsg: 'Success (already up to date)' });
    const del = { ...body, flag: 0, timeStamp: kitStamp() };
    expect((await send(del)).json.resultCode).toBe('000000');
    expect((await send(del)).json.resultCode).toBe('000000');
    const never = tenant({ flag: 0, instanceId: '', orderId: '' });
    expect((await send(never)).json.resultCode).toBe('000000');
    expect(await stored(never.tenantId as string)).toMatchObject({ status: 'deleted' });
  });

  it('an out-of-date call never overwrites newer data, and a late add cannot revive a deleted tenant', async () => {
    const older = tenant({ flag: 1, name: 'old name' });
    const newer = { ...older, flag: 2, name: 'new name', timeStamp: kitStamp() };
    expect((await send(newer)).json.resultCode).toBe('000000');
    expect((await send(older)).json.resultCode).toBe('000000');
    expect(await stored(older.tenantId as string)).toMatchObject({ name: 'new name', syncedAt: newer.timeStamp });
    const deleted = { ...older, flag: 0, timeStamp: kitStamp() };
    await send(deleted);
    await send({ ...older, flag: 1, name: 'late add' });
    expect(await stored(older.tenantId as string)).toMatchObject({ status: 'deleted', name: 'old name' });
  });

  it('credential application: empty instanceId and orderId are accepted', async () => {
    const body = tenant({ instanceId: '', orderId: '' });
    expect((await send(body)).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId as string)).not.toHaveProperty('instanceId');
  });

  it('refuses a wrong x-sign, a stale x-timestamp and a replayed nonce with 000001, writing nothing', async () => {
    const body = tenant();
    expect((await send(body, { key: 'another-key' })).json.resultCode).toBe('000001');
    expect((await send(body, { timestamp: String(Date.now() - 61_000) })).json.resultCode).toBe('000001');
    expect(await stored(body.tenantId as string)).toBeUndefined();
    const nonce = 'A'.repeat(64);
    expect((await send(body, { nonce })).json.resultCode).toBe('000000');
    const replay = await send({ ...body, flag: 0, timeStamp: kitStamp() }, { nonce });
    expect(replay.json).toMatchObject({ resultCode: '000001', resultMsg: 'nonce already used' });
    expect(await stored(body.tenantId as string)).toMatchObject({ status: 'active' });
  });

  it('answers 000002 naming the field for bad input, and writes nothing', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [tenant({ flag: 3 }), /^flag: must be one of 0, 1, 2/],
      [tenant({ timeStamp: '20221399093539534' }), /^timeStamp: /],
      [tenant({ tenantId: '' }), /^tenantId: must not be empty/],
      [tenant({ tenantCode: 'x'.repeat(65) }), /^tenantCode: must be at most 64/],
      [tenant({ domainName: undefined }), /^domainName: /],
    ];
    for (const [body, message] of cases) {
      const answer = await send(body);
      expect(answer.json.resultCode, JSON.stringify(body)).toBe('000002');
      expect(answer.json.resultMsg).toMatch(message);
      if (body.tenantId) expect(await stored(body.tenantId as string)).toBeUndefined();
    }
    const notJson = await send({}, { rawBody: '{"tenantId":' });
    expect(notJson.json).toMatchObject({ resultCode: '000002', resultMsg: 'request body must be a JSON object' });
  });

  it('serves the V2 Kit under the production URL path too (/produce/produceAPI/v2/tenantSync)', async () => {
    const body = tenant();
    expect((await send(body, { base: '/produce' })).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId as string)).toMatchObject({ status: 'active' });
  });

  it('signs the V2 answer with the Kit key (Body-Sign)', async () => {
    const answer = await send(tenant());
    expect(answer.headers['Body-Sign']).toBe(bodySignHeader(KIT_KEY, answer.raw));
  });
});

describe('V1 tenantSync (spec 3.9.6)', () => {
  it('verifies authToken over the body fields, signs the answer with the V1 key, adds and deletes', async () => {
    const body = tenant();
    const answer = await send(body, { version: 'v1' });
    expect(answer.json.resultCode).toBe('000000');
    expect(answer.headers['Body-Sign']).toBe(bodySignHeader(V1_KEY, answer.raw));
    expect(await stored(body.tenantId as string)).toMatchObject({ status: 'active' });
    expect((await send({ ...body, flag: 0, timeStamp: kitStamp() }, { version: 'v1' })).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId as string)).toMatchObject({ status: 'deleted' });
  });

  it('remembers a V1 token as long as it is accepted (its UTC+8 and UTC readings are 8 h apart)', async () => {
    const event = kitEvent('tenantSync', tenant(), { version: 'v1' });
    expect((await invoke(handler, event)).json.resultCode).toBe('000000');
    const { Item } = await h.table.documentClient.send(new GetCommand({ TableName: h.table.tableName, Key: { pk: `NONCE#v1:${event.headers.authToken}`, sk: 'NONCE' } }));
    expect(Item!.expiresAt - Date.now() / 1000).toBeGreaterThan(8 * 3600 + 10 * 60);
  });

  it('knows flags 0 and 1 only; a wrong token, a missing one or one signed with the Kit key is refused', async () => {
    expect((await send(tenant({ flag: 2 }), { version: 'v1' })).json).toMatchObject({ resultCode: '000002', resultMsg: 'flag: V1 tenantSync accepts 0 or 1' });
    const body = tenant();
    expect((await send(body, { version: 'v1', key: KIT_KEY })).json.resultCode).toBe('000001');
    expect((await send(body, { version: 'v1', signature: '' })).json.resultCode).toBe('000001');
    expect((await send({ ...body, timeStamp: '20200101000000000' }, { version: 'v1' })).json.resultCode).toBe('000001');
    expect(await stored(body.tenantId as string)).toBeUndefined();
  });
});
