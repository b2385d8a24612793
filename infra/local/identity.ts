/**
 * Local joint-operation identity service (spec 3.10: OAuth 2.0 authorization code, userinfo, logout), mounted by the
 * local marketplace under `/idp/{tenantCode}`; a tenant's `domainName` (spec 3.9.1) is `${baseUrl}/idp/${tenantCode}`.
 *
 * Served, relative to the tenant's domain:
 * - `GET  /api/v1/oauth2/authorize?response_type=code&client_id&redirect_uri&scope=get_user_info&state[&login_hint]`:
 *   a small HTML page listing the tenant's users (pick one, POST back to the same URL), or, with `login_hint={userName}`
 *   (local convenience for automated tests), direct approval. Approval -> 302 to `redirect_uri?code=…&state=…`.
 *   Codes are random, single use, valid 5 minutes, bound to client_id + redirect_uri + user.
 * - `POST /api/v1/oauth2/token` (form): `grant_type=authorization_code` or `refresh_token`. A refresh issues a new
 *   access token and a new refresh token; the old refresh token stops working (spec 7 item 25: OUR choice).
 * - `GET  /api/v1/oauth2/userinfo` with `Authorization: Bearer …` -> user JSON, 401 when the token is unknown/expired.
 * - `GET  /api/v1/logout?redirect_url=…` -> 302 to `redirect_url` (http/https only).
 * Error bodies are `{error, error_description}` (RFC 6749 5.2); the only one Huawei documents is
 * `{"error":"invalid_grant","error_description":"Invalid authorization code"}`, used for every bad code or refresh token.
 *
 * On purpose, a user disabled (`enable: "false"`) or removed here can still sign in: refusing them is the merchant
 * backend's job, based on its authSync data, and that refusal must stay testable.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/** Path prefix under which the marketplace mounts the identity service. */
export const IDP_PREFIX = '/idp';
export const AUTHORIZATION_CODE_TTL_SECONDS = 300;
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 7200;
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const SCOPE = 'get_user_info';

export interface IdpUser {
  userName: string;
  name: string;
  /** `admin` or `user` (spec 3.9.3) */
  role: string;
  /** `"true"` / `"false"` as in authSync; informational only here (see the file comment) */
  enable: string;
  email?: string;
  mobile?: string;
  orgCode?: string;
  /** stable id; default derived from tenantId + userName */
  userId: string;
}

/** a user to add: only `userName` is required (name defaults to userName, role to `user`, enable to `"true"`) */
export type IdpUserInput = Pick<IdpUser, 'userName'> & Partial<Omit<IdpUser, 'userName'>>;

export interface IdpClient {
  clientId: string;
  clientSecret: string;
  appId: string;
}

export interface IdpDepartment {
  orgCode: string;
  orgName: string;
  parentCode?: string;
}

export interface TenantRegistration {
  tenantId: string;
  tenantCode: string;
  name?: string;
  clients: IdpClient[];
  users?: IdpUserInput[];
  departments?: IdpDepartment[];
}

/** A tenant as the service holds it (client secrets included: do not hand it out as is). */
export interface IdpTenant {
  tenantId: string;
  tenantCode: string;
  name: string;
  domainName: string;
  clients: IdpClient[];
  users: IdpUser[];
  departments: IdpDepartment[];
}

export interface IdentityOptions {
  /** the marketplace base URL (a function: it is known only once the server listens) */
  baseUrl: string | (() => string);
  now?: () => Date;
  /** access-token life, default 7200 s (spec 3.10) */
  accessTokenTtlSeconds?: number;
}

/** What the marketplace hands over for one request under IDP_PREFIX. */
export interface IdpRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface IdentityService {
  registerTenant(registration: TenantRegistration): IdpTenant;
  removeTenant(tenantCode: string): boolean;
  /** adds or replaces (merges into) a user; throws for an unknown tenant */
  setUser(tenantCode: string, user: IdpUserInput): IdpUser;
  removeUser(tenantCode: string, userName: string): boolean;
  setDepartments(tenantCode: string, departments: IdpDepartment[]): void;
  tenant(tenantCode: string): IdpTenant | undefined;
  tenants(): IdpTenant[];
  domainName(tenantCode: string): string;
  /** replaces the clock (tests expire codes and tokens with it) */
  setClock(now: () => Date): void;
  /** answers a request whose path starts with IDP_PREFIX; returns the HTTP status sent */
  handle(req: IdpRequest, res: ServerResponse): number;
}

interface Grant {
  tenantCode: string;
  clientId: string;
  /** user as it was when the grant was made (it may be removed later and still sign in) */
  user: IdpUser;
  expiresAt: number;
}
interface CodeGrant extends Grant {
  redirectUri: string;
}

class OAuthError {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {}
}
const invalidGrant = () => new OAuthError(400, 'invalid_grant', 'Invalid authorization code');
const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description);

export function createIdentityService(opts: IdentityOptions): IdentityService {
  let now = opts.now ?? (() => new Date());
  const accessTtl = opts.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  const baseUrl = () => (typeof opts.baseUrl === 'string' ? opts.baseUrl : opts.baseUrl());
  const tenants = new Map<string, IdpTenant>();
  const codes = new Map<string, CodeGrant>();
  const accessTokens = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();

  const domainName = (tenantCode: string) => `${baseUrl()}${IDP_PREFIX}/${encodeURIComponent(tenantCode)}`;
  const nowMs = () => now().getTime();

  function toUser(tenantId: string, input: IdpUserInput, previous?: IdpUser): IdpUser {
    const merged = { ...previous, ...definedOnly(input) };
    return {
      ...merged,
      userName: input.userName,
      name: merged.name ?? input.userName,
      role: merged.role ?? 'user',
      enable: merged.enable ?? 'true',
      userId: merged.userId ?? createHash('sha256').update(`${tenantId}\n${input.userName}`).digest('hex').slice(0, 32),
    };
  }

  function mustTenant(tenantCode: string): IdpTenant {
    const tenant = tenants.get(tenantCode);
    if (!tenant) throw new Error(`unknown tenant ${tenantCode}`);
    return tenant;
  }

  const service: IdentityService = {
    registerTenant(r) {
      const tenant: IdpTenant = {
        tenantId: r.tenantId,
        tenantCode: r.tenantCode,
        name: r.name ?? r.tenantCode,
        domainName: domainName(r.tenantCode),
        clients: r.clients.map((c) => ({ ...c })),
        users: (r.users ?? []).map((u) => toUser(r.tenantId, u)),
        departments: (r.departments ?? []).map((d) => ({ ...d })),
      };
      tenants.set(r.tenantCode, tenant);
      return tenant;
    },
    removeTenant: (tenantCode) => tenants.delete(tenantCode),
    setUser(tenantCode, input) {
      const tenant = mustTenant(tenantCode);
      const index = tenant.users.findIndex((u) => u.userName === input.userName);
      const user = toUser(tenant.tenantId, input, index >= 0 ? tenant.users[index] : undefined);
      if (index >= 0) tenant.users[index] = user;
      else tenant.users.push(user);
      return user;
    },
    removeUser(tenantCode, userName) {
      const tenant = mustTenant(tenantCode);
      const before = tenant.users.length;
      tenant.users = tenant.users.filter((u) => u.userName !== userName);
      return tenant.users.length !== before;
    },
    setDepartments(tenantCode, departments) {
      mustTenant(tenantCode).departments = departments.map((d) => ({ ...d }));
    },
    tenant: (tenantCode) => tenants.get(tenantCode),
    tenants: () => [...tenants.values()],
    domainName,
    setClock(clock) {
      now = clock;
    },
    handle(req, res) {
      const rest = req.url.pathname.slice(IDP_PREFIX.length + 1); // `{tenantCode}/api/v1/...`
      const slash = rest.indexOf('/');
      let tenantCode: string;
      try {
        tenantCode = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      } catch {
        return sendJson(res, 404, { error: 'not_found', error_description: 'unknown tenant' });
      }
      const tenant = tenants.get(tenantCode);
      if (!tenant) return sendJson(res, 404, { error: 'not_found', error_description: 'unknown tenant' });
      const route = `${req.method} ${slash < 0 ? '' : rest.slice(slash)}`;
      try {
        switch (route) {
          case 'GET /api/v1/oauth2/authorize':
          case 'POST /api/v1/oauth2/authorize':
            return authorize(tenant, req, res);
          case 'POST /api/v1/oauth2/token':
            return token(tenant, req, res);
          case 'GET /api/v1/oauth2/userinfo':
            return userinfo(tenant, req, res);
          case 'GET /api/v1/logout':
            return logout(req, res);
          default:
            return sendJson(res, 404, { error: 'not_found', error_description: 'no such identity-service endpoint' });
        }
      } catch (e) {
        if (!(e instanceof OAuthError)) throw e;
        const headers: Record<string, string> =
          e.status === 401 && e.error === 'invalid_client' ? { 'WWW-Authenticate': 'Basic realm="idp"' } : {};
        return sendJson(res, e.status, { error: e.error, error_description: e.description }, headers);
      }
    },
  };

  /** GET shows the login page (or approves with login_hint); POST approves the picked user. */
  function authorize(tenant: IdpTenant, req: IdpRequest, res: ServerResponse): number {
    const q = req.url.searchParams;
    const responseType = q.get('response_type');
    const clientId = q.get('client_id');
    const redirectUri = q.get('redirect_uri');
    const scope = q.get('scope');
    if (!clientId) throw invalidRequest('client_id is required');
    if (!tenant.clients.some((c) => c.clientId === clientId)) {
      throw new OAuthError(400, 'unauthorized_client', 'client_id is not registered for this tenant');
    }
    if (responseType !== 'code') throw new OAuthError(400, 'unsupported_response_type', 'response_type must be code');
    if (!redirectUri || !httpUrl(redirectUri)) throw invalidRequest('redirect_uri must be an absolute http(s) URL');
    if (scope !== null && scope !== SCOPE) throw new OAuthError(400, 'invalid_scope', `scope must be ${SCOPE}`);

    const picked = req.method === 'POST' ? new URLSearchParams(req.body).get('userName') : q.get('login_hint');
    if (picked === null) return sendHtml(res, 200, loginPage(tenant, req.url));
    const user = tenant.users.find((u) => u.userName === picked);
    if (!user) throw invalidRequest('unknown user');

    const code = randomToken();
    codes.set(code, {
      tenantCode: tenant.tenantCode,
      clientId,
      redirectUri,
      user: { ...user },
      expiresAt: nowMs() + AUTHORIZATION_CODE_TTL_SECONDS * 1000,
    });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    const state = q.get('state');
    if (state !== null) target.searchParams.set('state', state);
    return redirect(res, target.href);
  }

  function token(tenant: IdpTenant, req: IdpRequest, res: ServerResponse): number {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/x-www-form-urlencoded') {
      throw invalidRequest('Content-Type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(req.body);
    const grantType = form.get('grant_type');
    if (!grantType) throw invalidRequest('grant_type is required');
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    }
    const clientId = form.get('client_id');
    const clientSecret = form.get('client_secret');
    if (!clientId || !clientSecret) throw invalidRequest('client_id and client_secret are required');
    const client = tenant.clients.find((c) => c.clientId === clientId);
    if (!client || !sameSecret(client.clientSecret, clientSecret)) {
      throw new OAuthError(401, 'invalid_client', 'Client authentication failed');
    }

    let grant: Grant;
    if (grantType === 'authorization_code') {
      const code = form.get('code');
      if (!code) throw invalidRequest('code is required');
      const found = codes.get(code);
      codes.delete(code); // single use, also when this attempt fails
      const redirectUri = form.get('redirect_uri');
      if (
        !found ||
        found.expiresAt <= nowMs() ||
        found.tenantCode !== tenant.tenantCode ||
        found.clientId !== clientId ||
        (redirectUri !== null && redirectUri !== found.redirectUri)
      ) {
        throw invalidGrant();
      }
      grant = found;
    } else {
      const refreshToken = form.get('refresh_token');
      if (!refreshToken) throw invalidRequest('refresh_token is required');
      const found = refreshTokens.get(refreshToken);
      if (!found || found.expiresAt <= nowMs() || found.tenantCode !== tenant.tenantCode || found.clientId !== clientId) {
        throw invalidGrant();
      }
      refreshTokens.delete(refreshToken); // rotated
      grant = found;
    }

    const accessToken = randomToken();
    const refreshToken = randomToken();
    const base = { tenantCode: grant.tenantCode, clientId: grant.clientId, user: grant.user };
    accessTokens.set(accessToken, { ...base, expiresAt: nowMs() + accessTtl * 1000 });
    refreshTokens.set(refreshToken, { ...base, expiresAt: nowMs() + REFRESH_TOKEN_TTL_SECONDS * 1000 });
    return sendJson(
      res,
      200,
      { access_token: accessToken, token_type: 'Bearer', expires_in: accessTtl, scope: SCOPE, refresh_token: refreshToken },
      { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    );
  }

  function userinfo(tenant: IdpTenant, req: IdpRequest, res: ServerResponse): number {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const grant = match ? accessTokens.get(match[1]!) : undefined;
    if (!grant || grant.expiresAt <= nowMs() || grant.tenantCode !== tenant.tenantCode) {
      if (grant && grant.expiresAt <= nowMs()) accessTokens.delete(match![1]!);
      return sendJson(
        res,
        401,
        { error: 'invalid_token', error_description: 'The access token is missing, unknown or expired' },
        { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      );
    }
    // the current record when the user still exists, else the one the grant was made for
    const user = tenant.users.find((u) => u.userName === grant.user.userName) ?? grant.user;
    const department = tenant.departments.find((d) => d.orgCode === user.orgCode);
    return sendJson(res, 200, {
      id: user.userId,
      userId: user.userId,
      userName: user.userName,
      name: user.name,
      email: user.email ?? '',
      mobile: user.mobile ?? '',
      role: user.role,
      organizationName: department?.orgName ?? '',
      organizationCode: user.orgCode ?? '',
      projectName: tenant.name,
      tenant: tenant.tenantCode,
    });
  }

  function logout(req: IdpRequest, res: ServerResponse): number {
    const target = req.url.searchParams.get('redirect_url');
    if (!target || !httpUrl(target)) throw invalidRequest('redirect_url must be an absolute http(s) URL');
    return redirect(res, new URL(target).href);
  }

  return service;
}

function loginPage(tenant: IdpTenant, url: URL): string {
  const action = `${url.pathname}${url.search}`;
  const choices = tenant.users
    .map(
      (u, i) =>
        `<li><label><input type="radio" name="userName" value="${escapeHtml(u.userName)}"${i === 0 ? ' checked' : ''}> ` +
        `${escapeHtml(u.name)} (${escapeHtml(u.userName)}, ${escapeHtml(u.role)}${u.enable === 'false' ? ', disabled' : ''})</label></li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in: ${escapeHtml(tenant.name)}</title></head>
<body>
<h1>Local identity service: ${escapeHtml(tenant.name)} (${escapeHtml(tenant.tenantCode)})</h1>
<p>Pick a user to sign in as. This page is the local stand-in for the KooGallery joint-operation login.</p>
<form method="post" action="${escapeHtml(action)}">
<ul>
${choices || '<li>This tenant has no users.</li>'}
</ul>
<button type="submit"${tenant.users.length === 0 ? ' disabled' : ''}>Sign in</button>
</form>
</body></html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function httpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function sameSecret(expected: string, received: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(received).digest();
  return timingSafeEqual(a, b);
}

const randomToken = () => randomBytes(32).toString('base64url');

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers }).end(JSON.stringify(body));
  return status;
}

function sendHtml(res: ServerResponse, status: number, html: string): number {
  res
    .writeHead(status, {
      'Content-Type': 'text/html;charset=UTF-8',
      // no form-action: the approval's 302 goes to another origin (the backend), which form-action would block
      'Content-Security-Policy': "default-src 'none'",
      'Cache-Control': 'no-store',
    })
    .end(html);
  return status;
}

function redirect(res: ServerResponse, location: string): number {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' }).end();
  return 302;
}
