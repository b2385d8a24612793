/**
 * The joint-operation login end to end: the local marketplace creates a tenant and syncs it (tenant,
 * application with an RSA-encrypted secret, departments, users) to the real Kit handlers, then a
 * scripted browser signs in through /sso/login → the local identity service (HTTP) → /sso/callback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';
import type { Deliver } from '#infra/local/kitDriver';
import { secretHash } from '#shared/domain/sso';
import { getRuntime } from '#shared/runtime';
import { startHarness, type Harness } from '#shared/testing/harness';
import { KIT_KEY, merchantKeyPair, V1_KEY } from '#shared/testing/kitCalls';
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

const keys = merchantKeyPair();
const kitHandlers = { tenantSync, applicationSync, authSync, singleOrgSync, allOrgSync } as Record<string, (e: APIGatewayProxyEvent, c: Context) => Promise<unknown>>;
const context = { functionName: 'test', awsRequestId: 'test', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

/** The Kit driver's requests, delivered to the real handlers in this process. */
const inProcess: Deliver = async ({ path, headers, body }) => {
  const name = path.split('/').pop()!;
  const event = { httpMethod: 'POST', path, resource: path, body, isBase64Encoded: false, headers, multiValueHeaders: {}, queryStringParameters: null, requestContext: {} } as unknown as APIGatewayProxyEvent;
  const result = (await kitHandlers[name]!(event, context)) as APIGatewayProxyResult;
  return { statusCode: result.statusCode, headers: result.headers as Record<string, string>, body: result.body };
};

let h: Harness;
let mkt: LocalMarketplace;
const browser = () => new Browser({ login, callback, session, logout });
let tenant: { tenantId: string; tenantCode: string; domainName: string; appId: string };

async function local(path: string, body: unknown) {
  const response = await fetch(`${mkt.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey, SSO_BASE_URL: 'http://127.0.0.1:3000', SSO_HOME_URL: '/app' });
  mkt = await startLocalMarketplace({
    port: 0,
    credentials: {},
    // short access tokens: every session read is within the refresh-ahead window
    identity: { accessTokenTtlSeconds: 120 },
    kit: { backendUrl: 'http://unused', kitAccessKey: KIT_KEY, v1Key: V1_KEY, merchantPublicKeyPem: keys.publicKey, deliver: inProcess },
  });
  const created = await local('/__local/kit/tenants', {
    tenantCode: `acme${Date.now()}`,
    name: 'ACME',
    users: [
      { userName: 'alice', name: 'Alice', role: 'admin', orgCode: 'HQ' },
      { userName: 'bob', name: 'Bob', role: 'user', orgCode: 'HQ' },
      { userName: 'carol', name: 'Carol', role: 'user', enable: 'false', orgCode: 'HQ' },
    ],
    departments: [{ orgCode: 'HQ', orgName: 'Head office' }],
  });
  expect(created.status, JSON.stringify(created.json)).toBe(200);
  tenant = created.json as typeof tenant;
});
afterAll(async () => {
  await mkt.close();
  await h.close();
});

describe('joint-operation login (spec 3.10), end to end', () => {
  it('an authorised user signs in: redirect with state, code exchanged, session cookie, /sso/session says who', async () => {
    const b = browser();
    const start = await b.get('login', { tenant: tenant.tenantCode });
    expect(start.status).toBe(302);
    const authorize = new URL(start.location!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${tenant.domainName}/api/v1/oauth2/authorize`);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({ response_type: 'code', redirect_uri: 'http://127.0.0.1:3000/sso/callback', scope: 'get_user_info' });
    expect(authorize.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    expect(start.setCookies[0]).toMatch(/^kg_login=[\w-]{43}; Path=\/sso; Max-Age=600; HttpOnly; SameSite=Lax$/);
    const { code, state } = await b.authorize(start.location!, 'alice');
    const done = await b.get('callback', { code, state });
    expect(done.status).toBe(302);
    expect(done.location).toBe('http://127.0.0.1:3000/app');
    expect(b.cookies.get('kg_session')).toMatch(/^[\w-]{43}$/);
    expect(b.cookies.has('kg_login')).toBe(false);
    const me = await b.get('session');
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ tenantId: tenant.tenantId, tenantCode: tenant.tenantCode, appId: tenant.appId, userName: 'alice', name: 'Alice', role: 'admin', orgCode: 'HQ' });
    // only hashes of the browser's secrets are stored
    const stored = await (await getRuntime()).kit.tenancy.session(secretHash(b.cookies.get('kg_session')!), Math.floor(Date.now() / 1000));
    expect(stored?.userName).toBe('alice');
  });

  it('returnTo is honoured as a path only', async () => {
    const b = browser();
    expect((await b.signIn(tenant.tenantId, 'bob', { returnTo: '/app/reports?x=1' })).page.location).toBe('http://127.0.0.1:3000/app/reports?x=1');
    expect((await browser().signIn(tenant.tenantCode, 'bob', { returnTo: '//evil.example/x' })).page.location).toBe('http://127.0.0.1:3000/app');
  });

  it('a replayed callback (same code and state) is refused: the state is single use', async () => {
    const b = browser();
    const first = await b.signIn(tenant.tenantCode, 'bob');
    expect(first.page.status).toBe(302);
    const again = await b.get('callback', { code: first.code, state: first.state });
    expect(again).toMatchObject({ status: 400, json: { error: 'this login has expired or was already used; start again' } });
  });

  it('a replayed code with a fresh state is refused by the identity service', async () => {
    const b = browser();
    const first = await b.signIn(tenant.tenantCode, 'bob');
    const restart = await b.get('login', { tenant: tenant.tenantCode });
    const state = new URL(restart.location!).searchParams.get('state')!;
    const replay = await b.get('callback', { code: first.code, state });
    expect(replay).toMatchObject({ status: 400, json: { error: 'the authorization code was refused (expired or already used); start again' } });
  });

  it('a wrong state, and a state carried to another browser, are refused', async () => {
    const b = browser();
    const start = await b.get('login', { tenant: tenant.tenantCode });
    const { code, state } = await b.authorize(start.location!, 'bob');
    expect((await b.get('callback', { code, state: `${state}x` })).status).toBe(400);
    const other = browser(); // no kg_login cookie: an attacker's link opened in the victim's browser
    expect(await other.get('callback', { code, state })).toMatchObject({ status: 400, json: { error: 'this login was started in another browser; start again' } });
    expect(other.cookies.has('kg_session')).toBe(false);
  });

  it('a disabled user and a user the tenant never authorised are refused', async () => {
    expect((await browser().signIn(tenant.tenantCode, 'carol')).page).toMatchObject({ status: 403, json: { error: 'your account is disabled for this application' } });
    mkt.identity.setUser(tenant.tenantCode, { userName: 'mallory', name: 'Mallory' });
    expect((await browser().signIn(tenant.tenantCode, 'mallory')).page).toMatchObject({ status: 403, json: { error: 'you are not authorised to use this application' } });
  });

  it('an unknown tenant is refused before anything is stored', async () => {
    expect(await browser().get('login', { tenant: 'no-such-tenant' })).toMatchObject({ status: 404, json: { error: 'unknown tenant' } });
    expect(await browser().get('login', {})).toMatchObject({ status: 400, json: { error: 'tenant is required' } });
  });

  it('the workbench entry (code + tenant, no state) starts a login of our own instead of trusting the code', async () => {
    const page = await browser().get('callback', { code: 'whatever', tenant: tenant.tenantCode });
    expect(page.status).toBe(302);
    expect(page.location).toBe(`http://127.0.0.1:3000/sso/login?tenant=${tenant.tenantCode}`);
  });

  it('refreshes the access token before it expires, once for concurrent requests', async () => {
    const b = browser();
    await b.signIn(tenant.tenantCode, 'alice');
    const hash = secretHash(b.cookies.get('kg_session')!);
    const { tenancy } = (await getRuntime()).kit;
    const before = (await tenancy.session(hash, Math.floor(Date.now() / 1000)))!;
    const pages = await Promise.all(Array.from({ length: 4 }, () => b.get('session')));
    expect(pages.map((p) => p.status)).toEqual([200, 200, 200, 200]);
    const after = (await tenancy.session(hash, Math.floor(Date.now() / 1000)))!;
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.version).toBe(before.version + 2); // one claim, one refresh
    expect((await b.get('session')).status).toBe(200);
  });

  it('a user disabled after signing in loses the session at the next request', async () => {
    const b = browser();
    await b.signIn(tenant.tenantCode, 'bob');
    expect((await b.get('session')).status).toBe(200);
    const disabled = await local(`/__local/kit/tenants/${tenant.tenantCode}/users`, { flag: 2, users: [{ userName: 'bob', enable: 'false' }] });
    expect(disabled.status, JSON.stringify(disabled.json)).toBe(200);
    expect(await b.get('session')).toMatchObject({ status: 401, json: { error: 'your authorisation to this application was withdrawn' } });
    expect(b.cookies.has('kg_session')).toBe(false);
  });

  it('logout ends the session and goes through the identity service logout', async () => {
    const b = browser();
    await b.signIn(tenant.tenantCode, 'alice');
    const out = await b.get('logout');
    expect(out.status).toBe(302);
    expect(out.location).toBe(`${tenant.domainName}/api/v1/logout?redirect_url=${encodeURIComponent('http://127.0.0.1:3000/app')}`);
    expect(b.cookies.has('kg_session')).toBe(false);
    expect((await b.get('session')).status).toBe(401);
  });
});
