/**
 * No secret or personal data of the joint-operation side in the logs. At DEBUG, Kit syncs (V2 and V1,
 * refused ones too) and whole logins (refusals, a token refresh, logout) run through the real handlers
 * while every log line is captured. None may carry the Kit or V1 key, the merchant's private key, a
 * client secret (clear or encrypted), a signature, nonce or authToken, a user's phone or e-mail, an
 * authorization code, a state, a browser-binding cookie, an access or refresh token or a session id.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';
import type { Deliver } from '#infra/local/kitDriver';
import { secretHash } from '#shared/domain/sso';
import { getRuntime, logger } from '#shared/runtime';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp, merchantKeyPair } from '#shared/testing/kitCalls';
import { leaksIn, startCapture } from '#shared/testing/logCapture';
import { Browser } from '#shared/testing/ssoBrowser';
import { handler as allOrgSync } from '../allOrgSync/handler.ts';
import { handler as applicationSync } from '../applicationSync/handler.ts';
import { handler as authSync } from '../authSync/handler.ts';
import { handler as singleOrgSync } from '../singleOrgSync/handler.ts';
import { handler as login } from '../ssoLogin/handler.ts';
import { handler as logout } from '../ssoLogout/handler.ts';
import { handler as session } from '../ssoSession/handler.ts';
import { handler as tenantSync } from '../tenantSync/handler.ts';
import { handler as callback } from './handler.ts';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});

const token = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const KIT_KEY = token('kit');
const V1_KEY = token('v1key');
const keys = merchantKeyPair();
const CLIENT_SECRET = token('clientsecret');
const phone = () => `137${String(randomInt(10_000_000, 99_999_999))}`;

const secrets = new Map<string, string>([
  ['Kit key', KIT_KEY],
  ['V1 key', V1_KEY],
  ['client secret', CLIENT_SECRET],
  // a line of the private key's base64 body
  ['private key', keys.privateKey.split('\n')[5]!],
]);
const secret = (what: string, value: string | undefined) => {
  if (value && ![...secrets.values()].includes(value)) secrets.set(`${what} #${secrets.size}`, value);
};

const kitHandlers = { tenantSync, applicationSync, authSync, singleOrgSync, allOrgSync } as Record<string, (e: APIGatewayProxyEvent, c: Context) => Promise<unknown>>;
const context = { functionName: 'test', awsRequestId: 'test', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
/** the driver's calls to the real handlers, their signatures and nonces recorded as secrets */
const inProcess: Deliver = async ({ path, headers, body }) => {
  for (const name of ['x-sign', 'x-nonce', 'authToken']) secret(name, headers[name]);
  for (const match of body.matchAll(/"clientSecret":"([^"]+)"/g)) secret('encrypted client secret', match[1]);
  const event = { httpMethod: 'POST', path, resource: path, body, isBase64Encoded: false, headers, multiValueHeaders: {}, queryStringParameters: null, requestContext: {} } as unknown as APIGatewayProxyEvent;
  const result = (await kitHandlers[path.split('/').pop()!]!(event, context)) as APIGatewayProxyResult;
  return { statusCode: result.statusCode, headers: result.headers as Record<string, string>, body: result.body };
};

const captured: string[] = [];
let h: Harness;
let mkt: LocalMarketplace;
beforeAll(async () => {
  h = await startHarness({
    KOOGALLERY_KIT_ACCESS_KEY: KIT_KEY,
    KOOGALLERY_V1_KEY: V1_KEY,
    KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey,
    SSO_BASE_URL: 'http://127.0.0.1:3000',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
  });
  mkt = await startLocalMarketplace({
    port: 0,
    credentials: {},
    identity: { accessTokenTtlSeconds: 60 },
    kit: { backendUrl: 'http://unused', kitAccessKey: KIT_KEY, v1Key: V1_KEY, merchantPublicKeyPem: keys.publicKey, deliver: inProcess },
  });
  startCapture(captured);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await mkt.close();
  await h.close();
});

describe('joint-operation logs', () => {
  it('Kit syncs and logins at DEBUG log none of the keys, secrets, tokens or contact data', async () => {
    expect(logger.getLevelName()).toBe('DEBUG');
    const users = Array.from({ length: 4 }, (_, i) => ({ userName: `user${i}`, name: `User ${i}`, role: i ? 'user' : 'admin', enable: i === 3 ? 'false' : 'true', orgCode: 'HQ', mobile: phone(), email: `${token('mail')}@corp.example` }));
    for (const u of users) (secret('phone', u.mobile), secret('e-mail', u.email));
    const tenantCode = `logs${Date.now()}`;
    const created = await fetch(`${mkt.url}/__local/kit/tenants`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ tenantCode, users }) });
    const tenant = (await created.json()) as { tenantId: string; appId: string; clientId: string };
    expect(created.status, JSON.stringify(tenant)).toBe(200);
    secret('client secret (local identity)', mkt.identity.tenant(tenantCode)!.clients[0]!.clientSecret);

    // V1 and refused calls too: a wrong signature, a clientSecret that does not decrypt, a replay
    const v1 = kitEvent('applicationSync', { instanceId: '', tenantId: tenant.tenantId, appId: 'v1-app', clientId: 'v1-client', clientSecret: keys.encrypt(CLIENT_SECRET), flag: 1, testFlag: 0, timeStamp: kitStamp() }, { version: 'v1', key: V1_KEY });
    secret('authToken', v1.headers.authToken);
    expect((await invoke(applicationSync as never, v1)).json.resultCode).toBe('000000');
    const bad = kitEvent('applicationSync', { instanceId: '', tenantId: tenant.tenantId, appId: 'x', clientId: 'x', clientSecret: merchantKeyPair().encrypt(CLIENT_SECRET), flag: 1, testFlag: 0, timeStamp: kitStamp() }, { key: KIT_KEY });
    secret('x-sign', bad.headers['x-sign']);
    secret('x-nonce', bad.headers['x-nonce']);
    // refused: nothing recorded, so the same request is refused the same way again
    expect((await invoke(applicationSync as never, bad)).json.resultCode).toBe('000002');
    expect((await invoke(applicationSync as never, bad)).json.resultCode).toBe('000002');
    expect((await invoke(applicationSync as never, v1)).json).toMatchObject({ resultCode: '000001', resultMsg: 'nonce already used' });
    expect((await invoke(tenantSync as never, kitEvent('tenantSync', { tenantId: 't' }, { key: 'wrong-key' }))).json.resultCode).toBe('000001');

    // logins: a good one with a refresh and a logout, a disabled user, a replayed callback
    const b = new Browser({ login, callback, session, logout });
    // two applications now: the login names one
    const done = await b.signIn(tenantCode, 'user0', { appId: tenant.appId });
    for (const [what, value] of [['code', done.code], ['state', done.state]]) secret(what!, value);
    expect(done.page.status).toBe(302);
    secret('session id', b.cookies.get('kg_session'));
    const hash = secretHash(b.cookies.get('kg_session')!);
    const stored = (await (await getRuntime()).kit.tenancy.session(hash, Math.floor(Date.now() / 1000)))!;
    secret('access token', stored.accessToken);
    secret('refresh token', stored.refreshToken);
    expect((await b.get('session')).status).toBe(200);
    const refreshed = (await (await getRuntime()).kit.tenancy.session(hash, Math.floor(Date.now() / 1000)))!;
    secret('access token (refreshed)', refreshed.accessToken);
    secret('refresh token (refreshed)', refreshed.refreshToken);
    expect((await b.get('callback', { code: done.code, state: done.state })).status).toBe(400);
    expect((await b.get('logout')).status).toBe(302);
    const other = new Browser({ login, callback, session, logout });
    const start = await other.get('login', { tenant: tenantCode, appId: tenant.appId });
    secret('login cookie', other.cookies.get('kg_login'));
    const refused = await other.authorize(start.location!, 'user3');
    (secret('code', refused.code), secret('state', refused.state));
    expect((await other.get('callback', { code: refused.code, state: refused.state })).status).toBe(403);

    const output = captured.join('\n');
    expect(output).toContain('kit sync applied');
    expect(output).toContain('signed in');
    expect(output).toContain('access token refreshed');
    expect(output).toContain('login refused: user not authorised');
    expect(secrets.size).toBeGreaterThan(20);
    expect(leaksIn(output, secrets)).toEqual([]);
  });

  it('the check would catch each of them (positive control)', () => {
    const before = captured.length;
    for (const [what, value] of secrets) logger.debug('positive control', { what, value });
    expect(leaksIn(captured.slice(before).join('\n'), secrets).sort()).toEqual([...secrets.keys()].sort());
    captured.length = before;
  });
});
