/**
 * The client side of the tenant identity service (spec 3.10, OAuth 2.0 authorization code): the
 * authorize URL, the token endpoint (code and refresh grants), userinfo and the logout URL, all under
 * the tenant's `domainName` from tenant sync. Plain fetch with a timeout; tokens never reach a log or
 * an error message.
 */
export interface TokenSet {
  accessToken: string;
  /** Uncertain (spec 7 item 25): a refresh may or may not return a new one; keep the old one if not */
  refreshToken?: string;
  /** seconds */
  expiresIn: number;
}

export interface IdentityUserInfo {
  userName: string;
  name?: string;
  /** the tenant the user signed in to (code or id: Uncertain, both are matched) */
  tenant?: string;
  role?: string;
  organizationCode?: string;
}

/** Why the identity service did not give what was asked: the login answers accordingly. */
export type IdentityFailure = 'invalid_grant' | 'invalid_client' | 'unauthorized' | 'unavailable' | 'protocol' | 'domain';

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  constructor(
    readonly reason: IdentityFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface IdentityClient {
  authorizeUrl(domain: string, request: { clientId: string; redirectUri: string; state: string }): string;
  exchangeCode(domain: string, request: { clientId: string; clientSecret: string; code: string; redirectUri: string }): Promise<TokenSet>;
  refresh(domain: string, request: { clientId: string; clientSecret: string; refreshToken: string }): Promise<TokenSet>;
  userInfo(domain: string, accessToken: string): Promise<IdentityUserInfo>;
  logoutUrl(domain: string, redirectUrl: string): string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The tenant's identity base URL, checked: https (http only on this machine's loopback, for the local
 * identity service). Anything else — the console's "any value works" debugging domains included — cannot
 * serve a login.
 */
export function identityBase(domain: string): URL {
  let url: URL;
  try {
    url = new URL(domain);
  } catch {
    throw new IdentityError('domain', 'the tenant domainName is not a URL');
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!secure || url.username || url.password)
    throw new IdentityError('domain', 'the tenant domainName is not an https URL');
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url;
}

const endpoint = (domain: string, path: string) => {
  const base = identityBase(domain);
  return new URL(`${base.pathname}${path}`, base);
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

export function createIdentityClient(options: { timeoutMs: number; fetch?: typeof fetch }): IdentityClient {
  const doFetch = options.fetch ?? fetch;

  async function call(url: URL, init: RequestInit): Promise<{ status: number; json: unknown }> {
    let response: Response;
    try {
      response = await doFetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
    } catch {
      throw new IdentityError('unavailable', 'identity service unreachable');
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }

  async function token(domain: string, form: Record<string, string>): Promise<TokenSet> {
    const { status, json } = await call(endpoint(domain, '/api/v1/oauth2/token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
    if (status >= 500) throw new IdentityError('unavailable', `token endpoint answered ${status}`);
    if (status !== 200 || !isRecord(json)) {
      const error = isRecord(json) ? text(json.error) : undefined;
      if (error === 'invalid_grant') throw new IdentityError('invalid_grant', 'authorization code or refresh token refused');
      if (error === 'invalid_client' || status === 401) throw new IdentityError('invalid_client', 'client credentials refused');
      throw new IdentityError('protocol', `token endpoint answered ${status}${error ? ` (${error.slice(0, 40)})` : ''}`);
    }
    const accessToken = text(json.access_token);
    const expiresIn = Number(json.expires_in ?? 7200);
    if (!accessToken || !Number.isFinite(expiresIn) || expiresIn <= 0) throw new IdentityError('protocol', 'token answer without access_token');
    const refreshToken = text(json.refresh_token);
    return { accessToken, expiresIn, ...(refreshToken ? { refreshToken } : {}) };
  }

  return {
    authorizeUrl(domain, { clientId, redirectUri, state }) {
      const url = endpoint(domain, '/api/v1/oauth2/authorize');
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: 'get_user_info',
        state,
      }).toString();
      return url.toString();
    },
    exchangeCode: (domain, { clientId, clientSecret, code, redirectUri }) =>
      token(domain, { grant_type: 'authorization_code', client_id: clientId, client_secret: clientSecret, code, redirect_uri: redirectUri }),
    refresh: (domain, { clientId, clientSecret, refreshToken }) =>
      token(domain, { grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }),
    async userInfo(domain, accessToken) {
      const { status, json } = await call(endpoint(domain, '/api/v1/oauth2/userinfo'), {
        method: 'GET',
        headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' },
      });
      if (status === 401) throw new IdentityError('unauthorized', 'access token refused');
      if (status >= 500) throw new IdentityError('unavailable', `userinfo answered ${status}`);
      if (status !== 200 || !isRecord(json)) throw new IdentityError('protocol', `userinfo answered ${status}`);
      const userName = text(json.userName);
      if (!userName) throw new IdentityError('protocol', 'userinfo without userName');
      const info: IdentityUserInfo = { userName };
      for (const key of ['name', 'tenant', 'role', 'organizationCode'] as const) {
        const value = json[key];
        if (typeof value === 'string' || typeof value === 'number') info[key] = String(value);
      }
      return info;
    },
    logoutUrl(domain, redirectUrl) {
      const url = endpoint(domain, '/api/v1/logout');
      url.search = new URLSearchParams({ redirect_url: redirectUrl }).toString();
      return url.toString();
    },
  };
}
