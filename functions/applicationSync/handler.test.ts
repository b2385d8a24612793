import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { getRuntime } from '#shared/runtime';
import { startHarness, invoke, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp, merchantKeyPair } from '#shared/testing/kitCalls';
import { handler } from './handler.ts';

const keys = merchantKeyPair();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey });
});
afterAll(() => h.close());

let n = 0;
const SECRET = 'client-secret-value-0123456789';
const app = (over: Record<string, unknown> = {}) => ({
  instanceId: 'huaiweitest123456',
  tenantId: `tenant-app-${++n}-${Date.now()}`,
  appId: `app-${n}`,
  clientId: `client-${n}`,
  clientSecret: keys.encrypt(SECRET),
  flag: 1,
  testFlag: 0,
  timeStamp: kitStamp(),
  ...over,
});
const send = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(handler, kitEvent('applicationSync', body, opts));
const stored = async (tenantId: string, appId: string) => (await getRuntime()).kit.tenancy.application(tenantId, appId);

describe('applicationSync (spec 3.9.2)', () => {
  it('decrypts the RSA-OAEP clientSecret and stores it sealed, never in clear', async () => {
    const body = app();
    expect((await send(body)).json).toEqual({ resultCode: '000000', resultMsg: 'Success' });
    expect(await stored(body.tenantId, body.appId)).toMatchObject({ clientId: body.clientId, clientSecret: SECRET, status: 'active' });
    const { Items = [] } = await h.table.documentClient.send(
      new QueryCommand({ TableName: h.table.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `TENANT#${body.tenantId}` } }),
    );
    const raw = JSON.stringify(Items);
    expect(raw).toContain('clientSecretSealed');
    expect(raw).not.toContain(SECRET);
    expect(raw).not.toContain(body.clientSecret);
  });

  it('takes OAEP with SHA-1 too (the hash is not documented, spec 2.6)', async () => {
    const body = app({ clientSecret: keys.encrypt(SECRET, 'sha1') });
    expect((await send(body)).json.resultCode).toBe('000000');
    expect((await stored(body.tenantId, body.appId))?.clientSecret).toBe(SECRET);
  });

  it('modify replaces the client; delete needs no secret and succeeds again and again', async () => {
    const body = app();
    await send(body);
    await send({ ...body, flag: 2, clientId: 'client-new', clientSecret: keys.encrypt('rotated-secret'), timeStamp: kitStamp() });
    expect(await stored(body.tenantId, body.appId)).toMatchObject({ clientId: 'client-new', clientSecret: 'rotated-secret' });
    const del = { ...body, flag: 0, clientSecret: '', timeStamp: kitStamp() };
    expect((await send(del)).json.resultCode).toBe('000000');
    expect((await send(del)).json.resultCode).toBe('000000');
    expect(await stored(body.tenantId, body.appId)).toMatchObject({ status: 'deleted' });
  });

  it('a clientSecret that does not decrypt with the merchant key is refused with 000002 and nothing is stored', async () => {
    const other = merchantKeyPair();
    const body = app({ clientSecret: other.encrypt(SECRET) });
    const answer = await send(body);
    expect(answer.json).toEqual({ resultCode: '000002', resultMsg: 'clientSecret: cannot be decrypted with the merchant private key' });
    expect(await stored(body.tenantId, body.appId)).toBeUndefined();
    expect((await send(app({ clientSecret: 'not base64 !' }))).json.resultCode).toBe('000002');
    expect((await send(app({ clientSecret: '' }))).json).toMatchObject({ resultCode: '000002', resultMsg: 'clientSecret: must not be empty' });
  });

  it('V1: flags 0 and 1, authToken, same store', async () => {
    const body = app();
    expect((await send(body, { version: 'v1' })).json.resultCode).toBe('000000');
    expect((await stored(body.tenantId, body.appId))?.clientSecret).toBe(SECRET);
    expect((await send({ ...body, flag: 2, timeStamp: kitStamp() }, { version: 'v1' })).json.resultCode).toBe('000002');
  });
});
