import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { verifyKitRequest } from '#shared/protocol/kitSignature';
import { authTokenParamsOfBody, verifyAuthToken } from '#shared/protocol/v1';
import { bodySignHeader } from '#shared/protocol/signature';
import { parseMarketTime } from '#shared/protocol/time';
import { decryptClientSecret } from '#shared/crypto/rsaOaep';
import {
  createKitDriver,
  formatUtc8Millis,
  type KitDriverOptions,
  type KitRequest,
  type KitResponse,
  type KitUser,
} from '#infra/local/kitDriver';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 3072,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const KIT_KEY = 'test-access-key-0123456789';
const V1_KEY = 'test-v1-key';
const OK = JSON.stringify({ resultCode: '000000', resultMsg: 'Success' });

/** A driver whose deliver records requests and answers `answer` (default 000000). */
function recordingDriver(extra: Partial<KitDriverOptions> = {}, answer: (r: KitRequest) => KitResponse = () => ({ statusCode: 200, headers: {}, body: OK })) {
  const sent: KitRequest[] = [];
  const driver = createKitDriver({
    deliver: async (r) => {
      sent.push(r);
      return answer(r);
    },
    kitAccessKey: KIT_KEY,
    v1Key: V1_KEY,
    merchantPublicKeyPem: publicKey,
    ...extra,
  });
  return { driver, sent };
}

const USER: KitUser = { userName: 'alice', name: 'Alice', orgCode: 'HQ', role: 'admin', enable: 'true', email: 'a@example.com' };
const TENANT = {
  instanceId: 'huaiweitest123456',
  orderId: 'CS1906666666ABCDE',
  tenantId: '68cbc86abc2018ab880d92f36422fa0e',
  tenantCode: 'huawei',
  name: 'huaiweitest',
  domainName: 'https://example.tenantaccount.com',
  flag: 1 as const,
};

describe('Kit driver, V2 (spec 2.2, 3.9)', () => {
  it('reproduces test vector TV-KIT: body, x-sign (upper case), x-timestamp, x-nonce', async () => {
    const nonce = '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA';
    const { driver, sent } = recordingDriver({ now: () => new Date(1680508066618) });
    const reply = await driver.tenantSync(TENANT, { timeStamp: '20220413093539534', nonce });
    expect(reply).toMatchObject({ resultCode: '000000', resultMsg: 'Success' });
    expect(reply.bodySignValid).toBeUndefined();
    expect(sent).toEqual([
      {
        path: '/produceAPI/v2/tenantSync',
        headers: {
          'Content-Type': 'application/json',
          'x-sign': 'b1a88509eb72cef7c0cbdcc8fd8d17250d18bca4281fdd14647cf14ef7f260a7'.toUpperCase(),
          'x-timestamp': '1680508066618',
          'x-nonce': nonce,
        },
        body: '{"domainName":"https://example.tenantaccount.com","flag":1,"instanceId":"huaiweitest123456","name":"huaiweitest","orderId":"CS1906666666ABCDE","tenantCode":"huawei","tenantId":"68cbc86abc2018ab880d92f36422fa0e","testFlag":0,"timeStamp":"20220413093539534"}',
      },
    ]);
  });

  it('signs every call so that verifyKitRequest accepts it over the raw body, with a 64-hex nonce', async () => {
    const nowMs = Date.now();
    const { driver, sent } = recordingDriver();
    await driver.tenantSync(TENANT);
    await driver.authSync({ instanceId: 'i', tenantId: 't', appId: 'a', userList: [USER], flag: 1 });
    await driver.singleOrgSync({ instanceId: 'i', tenantId: 't', orgCode: 'D1', orgName: 'Dev', parentCode: 'HQ', flag: 2 });
    await driver.allOrgSync({ instanceId: 'i', tenantId: 't', orgInfoList: [{ orgCode: 'HQ', orgName: 'Head office' }] });
    for (const r of sent) {
      expect(r.headers['x-nonce']).toMatch(/^[0-9A-F]{64}$/);
      expect(verifyKitRequest({ accessKeys: [KIT_KEY], headers: r.headers, rawBody: r.body, nowMs })).toMatchObject({ ok: true, form: 'raw' });
      expect(verifyKitRequest({ accessKeys: ['another-key'], headers: r.headers, rawBody: r.body, nowMs }).ok).toBe(false);
      expect(verifyKitRequest({ accessKeys: [KIT_KEY], headers: r.headers, rawBody: r.body.replace(/}$/, ',"extra":1}'), nowMs }).ok).toBe(false);
    }
    expect(sent.map((r) => r.path)).toEqual([
      '/produceAPI/v2/tenantSync',
      '/produceAPI/v2/authSync',
      '/produceAPI/v2/singleOrgSync',
      '/produceAPI/v2/allOrgSync',
    ]);
    const auth = JSON.parse(sent[1]!.body) as Record<string, unknown>;
    expect(auth).toEqual({
      appId: 'a',
      currentSyncTime: auth.timeStamp,
      flag: 1,
      instanceId: 'i',
      tenantId: 't',
      testFlag: 0,
      timeStamp: expect.stringMatching(/^\d{17}$/),
      userList: [USER],
    });
    expect(sent[1]!.body).toContain('"userList":[{"email":"a@example.com","enable":"true","name":"Alice"'); // keys sorted, nested too
    expect(JSON.parse(sent[3]!.body)).toMatchObject({ orgInfoList: [{ orgCode: 'HQ', orgName: 'Head office', parentCode: '' }] });
  });

  it('stamps timeStamp in UTC+8 and keeps it strictly increasing on a clock that does not move', async () => {
    const at = new Date('2022-04-13T01:35:39.534Z');
    expect(formatUtc8Millis(at)).toBe('20220413093539534');
    const { driver, sent } = recordingDriver({ now: () => at });
    for (let i = 0; i < 3; i++) await driver.singleOrgSync({ instanceId: '', tenantId: 't', orgCode: `D${i}`, orgName: 'x', flag: 1 });
    await driver.tenantSync(TENANT, { version: 'v1' }); // V1 shares the sequence
    const stamps = sent.map((r) => (JSON.parse(r.body) as { timeStamp: string }).timeStamp);
    expect(stamps.slice(0, 3)).toEqual(['20220413093539534', '20220413093539535', '20220413093539536']);
    expect(stamps[3]).toBe('20220413093539537');
    expect(sent.slice(0, 3).map((r) => r.headers['x-timestamp'])).toEqual(['1649813739534', '1649813739535', '1649813739536']);
  });

  it('encrypts clientSecret with RSA-OAEP SHA-256 so that decryptClientSecret recovers it', async () => {
    const { driver, sent } = recordingDriver();
    await driver.applicationSync({ instanceId: 'i', tenantId: 't', appId: 'app', clientId: 'cid', clientSecret: 's3cr3t-é', flag: 1 });
    const body = JSON.parse(sent[0]!.body) as Record<string, string>;
    expect(body.clientSecret).not.toContain('s3cr3t');
    expect(decryptClientSecret(privateKey, body.clientSecret!)).toEqual({ secret: 's3cr3t-é', scheme: 'oaep-sha256' });
    expect(Object.keys(body)).toEqual(['appId', 'clientId', 'clientSecret', 'flag', 'instanceId', 'tenantId', 'testFlag', 'timeStamp']);
  });

  it('refuses more than 500 users in one authSync call', async () => {
    const { driver, sent } = recordingDriver();
    const userList = Array.from({ length: 501 }, (_, i) => ({ ...USER, userName: `u${i}` }));
    await expect(driver.authSync({ instanceId: '', tenantId: 't', appId: 'a', userList, flag: 1 })).rejects.toThrow(RangeError);
    expect(sent).toHaveLength(0);
  });
});

describe('Kit driver, V1 (spec 2.3, 2.4, 3.9.6)', () => {
  it('sends authToken that verifyAuthToken accepts, with userList as a JSON string', async () => {
    const { driver, sent } = recordingDriver();
    await driver.authSync({ instanceId: 'i', tenantId: 't', appId: 'a', userList: [USER], flag: 3 }, { version: 'v1' });
    const r = sent[0]!;
    expect(r.path).toBe('/produceAPI/authSync');
    expect(r.headers['x-sign']).toBeUndefined();
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(typeof body.userList).toBe('string');
    expect(JSON.parse(body.userList as string)).toEqual([USER]);
    expect(body.flag).toBe(3);
    // UTC+8 like the V2 Kit: verifyAuthToken reads timeStamp as UTC, so its clock is shifted as the backend does
    const nowMs = Date.now() + 8 * 3600_000;
    expect(Math.abs(parseMarketTime(body.timeStamp as string)!.getTime() - nowMs)).toBeLessThan(60_000);

    const params = { ...authTokenParamsOfBody(body)!, authToken: r.headers.authToken! };
    expect(verifyAuthToken({ keys: [V1_KEY], params, nowMs })).toMatchObject({ ok: true, keyIndex: 0 });
    expect(verifyAuthToken({ keys: ['other'], params, nowMs }).ok).toBe(false);
    expect(verifyAuthToken({ keys: [V1_KEY], params: { ...params, flag: '1' }, nowMs }).ok).toBe(false);
  });

  it('sends the full department sync as field orgInfo, a JSON string of {orgCode, name, parentCode}', async () => {
    const { driver, sent } = recordingDriver();
    await driver.allOrgSync(
      { instanceId: 'i', tenantId: 't', orgInfoList: [{ orgCode: 'HQ', orgName: 'Head office' }, { orgCode: 'D', orgName: 'Dev', parentCode: 'HQ' }] },
      { version: 'v1' },
    );
    const body = JSON.parse(sent[0]!.body) as Record<string, unknown>;
    expect(sent[0]!.path).toBe('/produceAPI/allOrgSync');
    expect(body.orgInfoList).toBeUndefined();
    expect(JSON.parse(body.orgInfo as string)).toEqual([
      { orgCode: 'HQ', name: 'Head office', parentCode: '' },
      { orgCode: 'D', name: 'Dev', parentCode: 'HQ' },
    ]);
  });

  it('allows only flag 0 and 1 for V1 tenant and application sync', async () => {
    const { driver, sent } = recordingDriver();
    await expect(driver.tenantSync({ ...TENANT, flag: 2 }, { version: 'v1' })).rejects.toThrow(RangeError);
    await expect(
      driver.applicationSync({ instanceId: '', tenantId: 't', appId: 'a', clientId: 'c', clientSecret: 's', flag: 2 }, { version: 'v1' }),
    ).rejects.toThrow(RangeError);
    expect(sent).toHaveLength(0);
    await driver.tenantSync({ ...TENANT, flag: 0 }, { version: 'v1' });
    expect(sent).toHaveLength(1);
  });

  it('reports whether the reply Body-Sign verifies with the V1 key', async () => {
    const signed = recordingDriver({}, () => ({ statusCode: 200, headers: { 'body-sign': bodySignHeader(V1_KEY, OK) }, body: OK }));
    expect((await signed.driver.tenantSync(TENANT, { version: 'v1' })).bodySignValid).toBe(true);
    const wrongKey = recordingDriver({}, () => ({ statusCode: 200, headers: { 'Body-Sign': bodySignHeader('other', OK) }, body: OK }));
    expect((await wrongKey.driver.tenantSync(TENANT, { version: 'v1' })).bodySignValid).toBe(false);
    const unsigned = recordingDriver();
    expect((await unsigned.driver.tenantSync(TENANT, { version: 'v1' })).bodySignValid).toBe(false);
  });
});

describe('marketplace /__local/kit routes', () => {
  let mkt: LocalMarketplace;
  const sent: KitRequest[] = [];
  let failPath: string | undefined;

  beforeAll(async () => {
    mkt = await startLocalMarketplace({
      port: 0,
      credentials: {},
      kit: {
        backendUrl: 'http://backend.invalid',
        kitAccessKey: KIT_KEY,
        v1Key: V1_KEY,
        merchantPublicKeyPem: publicKey,
        deliver: async (r) => {
          sent.push(r);
          const verdict = verifyKitRequest({ accessKeys: [KIT_KEY], headers: r.headers, rawBody: r.body, nowMs: Date.now() });
          const code = !verdict.ok ? '000001' : r.path === failPath ? '000005' : '000000';
          return { statusCode: 200, headers: {}, body: JSON.stringify({ resultCode: code, resultMsg: code === '000000' ? 'Success' : 'refused' }) };
        },
      },
    });
  });
  afterAll(() => mkt.close());

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${mkt.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const bodyOf = (r: KitRequest) => JSON.parse(r.body) as Record<string, unknown>;

  it('creates a tenant: tenantSync, applicationSync, allOrgSync, authSync in that order, and its users can sign in', async () => {
    sent.length = 0;
    const created = await post('/__local/kit/tenants', { tenantCode: 'acme' });
    expect(created.status).toBe(200);
    const { tenantId, domainName, appId, clientId, results } = created.body as {
      tenantId: string;
      domainName: string;
      appId: string;
      clientId: string;
      results: unknown[];
    };
    expect(tenantId).toMatch(/^[0-9a-f]{32}$/);
    expect(domainName).toBe(`${mkt.url}/idp/acme`);
    expect(sent.map((r) => r.path)).toEqual([
      '/produceAPI/v2/tenantSync',
      '/produceAPI/v2/applicationSync',
      '/produceAPI/v2/allOrgSync',
      '/produceAPI/v2/authSync',
    ]);
    expect(results).toHaveLength(4);
    expect(results.every((r) => (r as { resultCode: string }).resultCode === '000000')).toBe(true);

    const [tenant, app, orgs, auth] = sent.map(bodyOf);
    expect(tenant).toMatchObject({ tenantId, tenantCode: 'acme', domainName, flag: 1, instanceId: '', orderId: '', testFlag: 0 });
    expect(app).toMatchObject({ tenantId, appId, clientId, flag: 1 });
    expect(orgs!.orgInfoList).toEqual([
      { orgCode: 'HQ', orgName: 'Head office', parentCode: '' },
      { orgCode: 'HQ-DEV', orgName: 'Development', parentCode: 'HQ' },
    ]);
    const users = auth!.userList as KitUser[];
    expect(users.map((u) => [u.userName, u.role, u.enable])).toEqual([['admin', 'admin', 'true'], ['user1', 'user', 'true']]);
    expect(auth).toMatchObject({ tenantId, appId, flag: 1 });

    // the secret the backend would decrypt signs in at the identity service
    const { secret } = decryptClientSecret(privateKey, app!.clientSecret as string);
    const redirect = 'http://127.0.0.1:3000/sso/callback';
    const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirect, scope: 'get_user_info', state: 'x', login_hint: 'user1' });
    const approved = await fetch(`${domainName}/api/v1/oauth2/authorize?${q}`, { redirect: 'manual' });
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    const token = await fetch(`${domainName}/api/v1/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, client_secret: secret, code, redirect_uri: redirect }),
    });
    expect(token.status).toBe(200);

    const listed = await (await fetch(`${mkt.url}/__local/kit/tenants`)).text();
    expect(listed).toContain('"tenantCode":"acme"');
    expect(listed).not.toContain(secret);
    expect((await post('/__local/kit/tenants', { tenantCode: 'acme' })).status).toBe(409);
  });

  it('splits more than 500 users into several authSync calls', async () => {
    sent.length = 0;
    const users = Array.from({ length: 1001 }, (_, i) => ({ userName: `u${i}`, name: `User ${i}` }));
    expect((await post('/__local/kit/tenants', { tenantCode: 'big', users, departments: [] })).status).toBe(200);
    const auth = sent.filter((r) => r.path.endsWith('/authSync')).map((r) => (bodyOf(r).userList as KitUser[]).length);
    expect(auth).toEqual([500, 500, 1]);
    expect(bodyOf(sent[2]!).orgInfoList).toEqual([]);
  });

  it('answers 502 with the failing reply and stops when the backend refuses, and forgets the tenant', async () => {
    sent.length = 0;
    failPath = '/produceAPI/v2/applicationSync';
    try {
      const res = await post('/__local/kit/tenants', { tenantCode: 'failing' });
      expect(res.status).toBe(502);
      expect(res.body.failed).toMatchObject({ path: failPath, resultCode: '000005' });
      expect(sent).toHaveLength(2);
    } finally {
      failPath = undefined;
    }
    expect(mkt.identity.tenant('failing')).toBeUndefined();
    expect((await post('/__local/kit/tenants', { tenantCode: 'failing' })).status).toBe(200);
  });

  it('syncs user changes with authSync and updates the identity service (flag 2 disables, 0 removes)', async () => {
    await post('/__local/kit/tenants', { tenantCode: 'users', users: [{ userName: 'amy', name: 'Amy', role: 'admin' }, { userName: 'ben', name: 'Ben' }] });
    sent.length = 0;
    const disabled = await post('/__local/kit/tenants/users/users', { flag: 2, users: [{ userName: 'ben', enable: 'false' }] });
    expect(disabled.status).toBe(200);
    expect(bodyOf(sent[0]!)).toMatchObject({ flag: 2, userList: [{ userName: 'ben', name: 'Ben', role: 'user', enable: 'false', orgCode: 'HQ' }] });
    expect(mkt.identity.tenant('users')!.users.find((u) => u.userName === 'ben')!.enable).toBe('false');

    expect((await post('/__local/kit/tenants/users/users', { flag: 3, users: [{ userName: 'amy' }] })).status).toBe(200);
    expect(mkt.identity.tenant('users')!.users.map((u) => u.userName)).toEqual(['amy', 'ben']);
    expect((await post('/__local/kit/tenants/users/users', { flag: 0, users: [{ userName: 'ben' }] })).status).toBe(200);
    expect(mkt.identity.tenant('users')!.users.map((u) => u.userName)).toEqual(['amy']);
    expect(sent.map((r) => bodyOf(r).flag)).toEqual([2, 3, 0]);

    expect((await post('/__local/kit/tenants/nobody/users', { flag: 1, users: [{ userName: 'x' }] })).status).toBe(404);
    expect((await post('/__local/kit/tenants/users/users', { flag: 4, users: [{ userName: 'x' }] })).status).toBe(400);
  });

  it('validates the tenant body and is off without the kit option', async () => {
    expect((await post('/__local/kit/tenants', { tenantCode: 'bad code/..' })).status).toBe(400);
    expect((await post('/__local/kit/tenants', {})).status).toBe(400);
    const plain = await startLocalMarketplace({ port: 0, credentials: {} });
    try {
      expect((await fetch(`${plain.url}/__local/kit/tenants`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
