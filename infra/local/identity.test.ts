import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

const CLIENT = { clientId: 'client-1', clientSecret: 'secret-1', appId: 'app-1' };
const REDIRECT = 'http://127.0.0.1:3000/sso/callback?from=test';
const T0 = Date.parse('2026-01-01T00:00:00Z');

let mkt: LocalMarketplace;
let clock = T0;
let domain: string;

beforeAll(async () => {
  mkt = await startLocalMarketplace({ port: 0, credentials: {}, identity: { now: () => new Date(clock), accessTokenTtlSeconds: 60 } });
  const tenant = mkt.identity.registerTenant({
    tenantId: 'a'.repeat(32),
    tenantCode: 'acme',
    name: 'ACME Ltd.',
    clients: [CLIENT],
    users: [
      { userName: 'alice', name: 'Alice', role: 'admin', email: 'alice@example.com', mobile: '123', orgCode: 'HQ' },
      { userName: 'bob', name: 'Bob', enable: 'false' },
    ],
    departments: [{ orgCode: 'HQ', orgName: 'Head office' }],
  });
  domain = tenant.domainName;
  mkt.identity.registerTenant({ tenantId: 'b'.repeat(32), tenantCode: 'other', clients: [{ ...CLIENT, clientId: 'client-2' }] });
});
afterAll(() => mkt.close());
beforeEach(() => {
  clock = T0;
});

function authorizeUrl(params: Record<string, string>): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT,
    scope: 'get_user_info',
    ...params,
  });
  return `${domain}/api/v1/oauth2/authorize?${q}`;
}

/** authorize with login_hint; returns the redirect target */
async function authorize(params: Record<string, string> = {}): Promise<URL> {
  const res = await fetch(authorizeUrl({ login_hint: 'alice', state: 'st', ...params }), { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

async function token(form: Record<string, string>) {
  const res = await fetch(`${domain}/api/v1/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const exchange = (code: string, extra: Record<string, string> = {}) =>
  token({ grant_type: 'authorization_code', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, code, ...extra });

async function userinfo(accessToken: string) {
  const res = await fetch(`${domain}/api/v1/oauth2/userinfo`, { headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const INVALID_GRANT = { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid authorization code' } };

describe('local identity service (spec 3.10)', () => {
  it('serves under the tenant domain /idp/{tenantCode} of the marketplace', () => {
    expect(domain).toBe(`${mkt.url}/idp/acme`);
  });

  it('authorize redirects to redirect_uri with a code and the state unchanged, keeping the redirect query', async () => {
    const state = 'a b&c=d/é+%';
    const target = await authorize({ state });
    expect(`${target.origin}${target.pathname}`).toBe('http://127.0.0.1:3000/sso/callback');
    expect(target.searchParams.get('from')).toBe('test');
    expect(target.searchParams.get('state')).toBe(state);
    expect(target.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });

  it('exchanges a code for tokens once; a reused code is invalid_grant', async () => {
    const code = (await authorize()).searchParams.get('code')!;
    const first = await exchange(code, { redirect_uri: REDIRECT });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 60,
      scope: 'get_user_info',
      refresh_token: expect.any(String),
    });
    expect(await exchange(code)).toEqual(INVALID_GRANT);
  });

  it('refuses a code with another redirect_uri, an expired code, and a code of another client', async () => {
    const code = (await authorize()).searchParams.get('code')!;
    expect(await exchange(code, { redirect_uri: 'http://127.0.0.1:3000/elsewhere' })).toEqual(INVALID_GRANT);
    expect(await exchange(code)).toEqual(INVALID_GRANT); // burnt by the failed attempt

    const late = (await authorize()).searchParams.get('code')!;
    clock += 5 * 60_000 + 1;
    expect(await exchange(late)).toEqual(INVALID_GRANT);
    expect(await exchange('no-such-code')).toEqual(INVALID_GRANT);
  });

  it('refuses a wrong client secret or unknown client with 401 invalid_client', async () => {
    const code = (await authorize()).searchParams.get('code')!;
    const wrong = await exchange(code, { client_secret: 'secret-2' });
    expect(wrong).toEqual({ status: 401, body: { error: 'invalid_client', error_description: expect.any(String) } });
    expect((await exchange(code, { client_id: 'client-2' })).status).toBe(401); // another tenant's client
    expect((await exchange(code)).status).toBe(200); // not burnt: the client was not authenticated
  });

  it('answers unsupported_grant_type and invalid_request', async () => {
    expect(await token({ grant_type: 'password', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret })).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    expect(await token({ client_id: CLIENT.clientId })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await exchange('')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const json = await fetch(`${domain}/api/v1/oauth2/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
  });

  it('rotates the refresh token: the new one works, the old one is invalid_grant', async () => {
    const first = await exchange((await authorize()).searchParams.get('code')!);
    const refresh = (rt: string, secret = CLIENT.clientSecret) =>
      token({ grant_type: 'refresh_token', client_id: CLIENT.clientId, client_secret: secret, refresh_token: rt });
    const second = await refresh(first.body.refresh_token as string);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(await refresh(first.body.refresh_token as string)).toEqual(INVALID_GRANT);
    expect((await refresh(second.body.refresh_token as string, 'wrong')).status).toBe(401);
    expect((await refresh(second.body.refresh_token as string)).status).toBe(200);
    expect((await userinfo(second.body.access_token as string)).status).toBe(200);
  });

  it('answers userinfo for a valid token and 401 once it expired (injected clock), or for no or an unknown token', async () => {
    const { body } = await exchange((await authorize()).searchParams.get('code')!);
    const at = body.access_token as string;
    expect(await userinfo(at)).toEqual({
      status: 200,
      body: {
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        userId: expect.stringMatching(/^[0-9a-f]{32}$/),
        userName: 'alice',
        name: 'Alice',
        email: 'alice@example.com',
        mobile: '123',
        role: 'admin',
        organizationName: 'Head office',
        organizationCode: 'HQ',
        projectName: 'ACME Ltd.',
        tenant: 'acme',
      },
    });
    clock += 59_000;
    expect((await userinfo(at)).status).toBe(200);
    clock += 1_000;
    expect((await userinfo(at)).status).toBe(401);
    expect((await userinfo('unknown')).status).toBe(401);
    const none = await fetch(`${domain}/api/v1/oauth2/userinfo`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it("does not accept a token at another tenant's userinfo", async () => {
    const { body } = await exchange((await authorize()).searchParams.get('code')!);
    const res = await fetch(`${mkt.url}/idp/other/api/v1/oauth2/userinfo`, { headers: { Authorization: `Bearer ${String(body.access_token)}` } });
    expect(res.status).toBe(401);
  });

  it('still signs in a disabled user and a user removed after the grant (the backend must refuse them)', async () => {
    expect((await authorize({ login_hint: 'bob' })).searchParams.get('code')).toBeTruthy();
    mkt.identity.setUser('acme', { userName: 'carol', name: 'Carol' });
    const { body } = await exchange((await authorize({ login_hint: 'carol' })).searchParams.get('code')!);
    expect(mkt.identity.removeUser('acme', 'carol')).toBe(true);
    expect(await userinfo(body.access_token as string)).toMatchObject({ status: 200, body: { userName: 'carol', role: 'user' } });
  });

  it('refuses bad authorize requests with 400 JSON errors', async () => {
    const bad = async (params: Record<string, string>) => {
      const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await bad({ login_hint: 'mallory' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await bad({ client_id: 'client-2', login_hint: 'alice' })).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(await bad({ response_type: 'token', login_hint: 'alice' })).toMatchObject({ status: 400, body: { error: 'unsupported_response_type' } });
    expect(await bad({ redirect_uri: 'javascript:alert(1)', login_hint: 'alice' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect((await fetch(`${mkt.url}/idp/nobody/api/v1/oauth2/authorize`)).status).toBe(404);
  });

  it('shows a login page listing the users, whose form POSTs back and approves the picked user', async () => {
    const url = authorizeUrl({ state: 's1' });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('value="alice"');
    expect(html).toContain('value="bob"');
    const action = /<form method="post" action="([^"]*)"/.exec(html)![1]!.replace(/&#38;/g, '&');
    const res = await fetch(new URL(action, mkt.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'userName=bob',
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    const target = new URL(res.headers.get('location')!);
    expect(target.searchParams.get('state')).toBe('s1');
    const { body } = await exchange(target.searchParams.get('code')!);
    expect((await userinfo(body.access_token as string)).body.userName).toBe('bob');
  });

  it('HTML-escapes a hostile state and user name on the login page', async () => {
    mkt.identity.setUser('acme', { userName: '<img src=x onerror=alert(1)>', name: '"><script>alert(2)</script>' });
    const html = await (await fetch(authorizeUrl({ state: '"><script>alert(3)</script>' }))).text();
    expect(html).not.toMatch(/<script|<img/i);
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
    expect(html).toContain('&#34;&#62;&#60;script&#62;alert(2)');
    mkt.identity.removeUser('acme', '<img src=x onerror=alert(1)>');
  });

  it('logout redirects to redirect_url and refuses non-http(s) targets', async () => {
    const target = 'http://127.0.0.1:3000/signed-out?x=1&y=2';
    const res = await fetch(`${domain}/api/v1/logout?redirect_url=${encodeURIComponent(target)}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(target);
    for (const bad of ['javascript:alert(1)', 'not a url', '']) {
      const r = await fetch(`${domain}/api/v1/logout?redirect_url=${encodeURIComponent(bad)}`, { redirect: 'manual' });
      expect(r.status).toBe(400);
    }
  });
});
