/**
 * Joint-operation web login (spec 3.10): OAuth 2.0 authorization code against the tenant's identity
 * service, for the users the tenant authorised to the application (authSync).
 *
 * - start: the tenant (code or id) and application are looked up; a random `state` (stored hashed,
 *   single use, minutes long) is bound to this browser by a second random value in a cookie.
 * - finish: the state is taken (deleted) whatever happens next, the browser binding compared, the code
 *   exchanged, userinfo read; the user must be an active, enabled, authorised user of that tenant and
 *   application. Then a session (random id in an HttpOnly cookie; only its hash and sealed tokens stored).
 * - session: re-checks the authorisation on every read (a user disabled or revoked later loses the
 *   session) and refreshes the access token shortly before it expires (one refresh wins a race).
 * - An identity-service-initiated login (the workbench: `code` + `tenant`, no state) starts a fresh
 *   login instead of trusting a code nobody asked for (login CSRF).
 * Tokens, codes, states and session ids never reach a log.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { IdentityError, type IdentityClient } from '#shared/sso/identityClient';
import { maySignIn, type Application, type Tenant } from './tenancy.ts';
import type { Session, TenancyRepository } from './tenancyRepository.ts';

export interface SsoServices {
  tenancy: TenancyRepository;
  identity: IdentityClient;
  logger: Logger;
  settings: {
    homeUrl: string;
    sessionMaxMs: number;
    loginStateMs: number;
    refreshAheadMs: number;
  };
}

/** An answer for the browser: a redirect, or a refusal with an HTTP status and a plain reason. */
export type SsoOutcome =
  | { kind: 'redirect'; location: string; setLoginCookie?: { value: string; maxAgeSeconds: number }; clearLoginCookie?: boolean }
  | { kind: 'signedIn'; location: string; session: { value: string; maxAgeSeconds: number } }
  | { kind: 'refused'; status: 400 | 401 | 403 | 404 | 502 | 503; message: string };

export const randomSecret = () => randomBytes(32).toString('base64url');
export const secretHash = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const seconds = (ms: number) => Math.floor(ms / 1000);

/** A page of this site to come back to: a path, never another origin (`//host`, `/\host`, schemes). */
export function safeReturnTo(value: string | undefined, fallback: string): string {
  if (!value || value.length > 512 || !value.startsWith('/') || value.startsWith('//') || /[\\\s]/.test(value)) return fallback;
  return value;
}

const refused = (status: 400 | 401 | 403 | 404 | 502 | 503, message: string): SsoOutcome => ({ kind: 'refused', status, message });

/** The tenant by code (what users and the identity service know) or by id. */
async function findTenant(tenancy: TenancyRepository, tenant: string): Promise<Tenant | undefined> {
  const found = (await tenancy.tenantByCode(tenant)) ?? (await tenancy.tenant(tenant));
  return found?.status === 'active' ? found : undefined;
}

/** The application: the one named, or the tenant's only live one. */
async function findApplication(tenancy: TenancyRepository, tenantId: string, appId: string | undefined): Promise<Application | undefined> {
  if (appId) {
    const app = await tenancy.application(tenantId, appId);
    return app?.status === 'active' ? app : undefined;
  }
  const live = (await tenancy.applications(tenantId)).filter((a) => a.status === 'active');
  return live.length === 1 ? live[0] : undefined;
}

export async function startLogin(
  sso: SsoServices,
  input: { tenant?: string; appId?: string; returnTo?: string; redirectUri: string; nowMs: number },
): Promise<SsoOutcome> {
  if (!input.tenant) return refused(400, 'tenant is required');
  const tenant = await findTenant(sso.tenancy, input.tenant);
  if (!tenant) return refused(404, 'unknown tenant');
  const app = await findApplication(sso.tenancy, tenant.tenantId, input.appId);
  if (!app || !app.clientSecret) return refused(404, input.appId ? 'unknown application' : 'the tenant has no single application; name appId');
  const state = randomSecret();
  const browser = randomSecret();
  let location: string;
  try {
    location = sso.identity.authorizeUrl(tenant.domainName, { clientId: app.clientId, redirectUri: input.redirectUri, state });
  } catch (error) {
    if (error instanceof IdentityError) return refused(502, error.message);
    throw error;
  }
  await sso.tenancy.putLoginState({
    stateHash: secretHash(state),
    browserHash: secretHash(browser),
    tenantId: tenant.tenantId,
    appId: app.appId,
    returnTo: safeReturnTo(input.returnTo, sso.settings.homeUrl),
    expiresAt: seconds(input.nowMs + sso.settings.loginStateMs),
  });
  sso.logger.info('login started', { tenantId: tenant.tenantId, appId: app.appId });
  return { kind: 'redirect', location, setLoginCookie: { value: browser, maxAgeSeconds: seconds(sso.settings.loginStateMs) } };
}

export async function finishLogin(
  sso: SsoServices,
  input: { code?: string; state?: string; tenant?: string; browserSecret?: string; redirectUri: string; loginPath: string; nowMs: number },
): Promise<SsoOutcome> {
  // the workbench opens the application with code + tenant and no state: start a login of our own
  if (!input.state && input.code && input.tenant)
    return { kind: 'redirect', location: `${input.loginPath}?${new URLSearchParams({ tenant: input.tenant })}` };
  if (!input.state || !input.code) return refused(400, 'code and state are required');
  const login = await sso.tenancy.takeLoginState(secretHash(input.state), seconds(input.nowMs));
  if (!login) return refused(400, 'this login has expired or was already used; start again');
  if (!input.browserSecret || !sameHash(secretHash(input.browserSecret), login.browserHash))
    return refused(400, 'this login was started in another browser; start again');
  const [tenant, app] = await Promise.all([sso.tenancy.tenant(login.tenantId), sso.tenancy.application(login.tenantId, login.appId)]);
  if (tenant?.status !== 'active' || app?.status !== 'active' || !app.clientSecret) return refused(403, 'the application is no longer bound to this tenant');
  try {
    const tokens = await sso.identity.exchangeCode(tenant.domainName, {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      code: input.code,
      redirectUri: input.redirectUri,
    });
    const info = await sso.identity.userInfo(tenant.domainName, tokens.accessToken);
    if (info.tenant && info.tenant !== tenant.tenantCode && info.tenant !== tenant.tenantId)
      return refused(403, 'the identity service signed the user in to another tenant');
    const user = await sso.tenancy.user(tenant.tenantId, app.appId, info.userName);
    if (!user || !maySignIn(user)) {
      sso.logger.warn('login refused: user not authorised', { tenantId: tenant.tenantId, appId: app.appId, reason: user ? (user.enabled ? user.status : 'disabled') : 'unknown' });
      return refused(403, user && user.status === 'active' ? 'your account is disabled for this application' : 'you are not authorised to use this application');
    }
    const sessionId = randomSecret();
    const session: Session = {
      sessionHash: secretHash(sessionId),
      tenantId: tenant.tenantId,
      appId: app.appId,
      userName: user.userName,
      role: user.role,
      accessToken: tokens.accessToken,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      accessExpiresAt: seconds(input.nowMs) + tokens.expiresIn,
      createdAt: seconds(input.nowMs),
      expiresAt: seconds(input.nowMs + sso.settings.sessionMaxMs),
      version: 1,
    };
    await sso.tenancy.putSession(session);
    sso.logger.info('signed in', { tenantId: tenant.tenantId, appId: app.appId, role: user.role });
    return { kind: 'signedIn', location: login.returnTo, session: { value: sessionId, maxAgeSeconds: seconds(sso.settings.sessionMaxMs) } };
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    sso.logger.warn('login refused by the identity service', { reason: error.reason });
    if (error.reason === 'invalid_grant') return refused(400, 'the authorization code was refused (expired or already used); start again');
    if (error.reason === 'unavailable') return refused(503, 'the identity service is unavailable; try again');
    return refused(502, 'the identity service gave an unexpected answer');
  }
}

export interface SignedInUser {
  tenantId: string;
  tenantCode: string;
  appId: string;
  userName: string;
  name: string;
  role: string;
  orgCode: string;
  /** epoch seconds */
  sessionExpiresAt: number;
}

export type SessionOutcome = { kind: 'user'; user: SignedInUser } | { kind: 'refused'; status: 401 | 503; message: string; clear: boolean };

/** The signed-in user of a session cookie, with the authorisation re-checked and the token kept fresh. */
export async function currentUser(sso: SsoServices, input: { sessionSecret?: string; nowMs: number }): Promise<SessionOutcome> {
  if (!input.sessionSecret) return { kind: 'refused', status: 401, message: 'not signed in', clear: false };
  const hash = secretHash(input.sessionSecret);
  let session = await sso.tenancy.session(hash, seconds(input.nowMs));
  if (!session) return { kind: 'refused', status: 401, message: 'not signed in', clear: true };
  const end = async (message: string): Promise<SessionOutcome> => {
    await sso.tenancy.deleteSession(hash);
    return { kind: 'refused', status: 401, message, clear: true };
  };
  const [tenant, app, user] = await Promise.all([
    sso.tenancy.tenant(session.tenantId),
    sso.tenancy.application(session.tenantId, session.appId),
    sso.tenancy.user(session.tenantId, session.appId, session.userName),
  ]);
  if (tenant?.status !== 'active' || app?.status !== 'active' || !app.clientSecret) return end('the application is no longer bound to this tenant');
  if (!user || !maySignIn(user)) return end('your authorisation to this application was withdrawn');

  if (session.accessExpiresAt * 1000 - input.nowMs <= sso.settings.refreshAheadMs) {
    const refreshed = await refreshOnce(sso, session, { domain: tenant.domainName, clientId: app.clientId, clientSecret: app.clientSecret }, input.nowMs);
    if (refreshed === 'ended') return end('the sign-in has expired');
    if (refreshed === 'unavailable') return { kind: 'refused', status: 503, message: 'the identity service is unavailable; try again', clear: false };
    session = refreshed;
  }
  return {
    kind: 'user',
    user: {
      tenantId: tenant.tenantId,
      tenantCode: tenant.tenantCode,
      appId: app.appId,
      userName: user.userName,
      name: user.name,
      role: user.role,
      orgCode: user.orgCode,
      sessionExpiresAt: session.expiresAt,
    },
  };
}

/** How long one request may hold the right to refresh a session's token. */
const REFRESH_CLAIM_MS = 10_000;

/**
 * Refreshes the session's access token once however many requests want it at the same moment: the
 * first claims the refresh with a conditional write (identity services may rotate refresh tokens, so
 * two refreshes with the same token would end the sign-in); the others carry on with the current
 * token while it is valid. 'ended' = the identity service refused the refresh token.
 */
async function refreshOnce(
  sso: SsoServices,
  session: Session,
  client: { domain: string; clientId: string; clientSecret: string },
  nowMs: number,
): Promise<Session | 'ended' | 'unavailable'> {
  const stillValid = session.accessExpiresAt * 1000 > nowMs;
  if (!session.refreshToken) return stillValid ? session : 'ended';
  if ((session.refreshClaimedUntil ?? 0) > nowMs) return stillValid ? session : 'unavailable';
  const claimed: Session = { ...session, refreshClaimedUntil: nowMs + REFRESH_CLAIM_MS, version: session.version + 1 };
  if (!(await sso.tenancy.replaceSession(claimed, session.version))) {
    const latest = await sso.tenancy.session(session.sessionHash, seconds(nowMs));
    if (!latest) return 'ended';
    return latest.accessExpiresAt * 1000 > nowMs ? latest : 'unavailable';
  }
  try {
    const tokens = await sso.identity.refresh(client.domain, { clientId: client.clientId, clientSecret: client.clientSecret, refreshToken: session.refreshToken });
    const { refreshClaimedUntil: _claim, ...rest } = claimed;
    const next: Session = {
      ...rest,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken ?? session.refreshToken,
      accessExpiresAt: seconds(nowMs) + tokens.expiresIn,
      version: claimed.version + 1,
    };
    if (!(await sso.tenancy.replaceSession(next, claimed.version))) return 'ended'; // signed out meanwhile
    sso.logger.info('access token refreshed', { tenantId: session.tenantId, appId: session.appId });
    return next;
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    sso.logger.warn('token refresh failed', { reason: error.reason });
    if (error.reason === 'invalid_grant' || error.reason === 'invalid_client') return 'ended';
    // the identity service is down: release the claim; a token that is still valid carries on
    await sso.tenancy.replaceSession({ ...session, version: claimed.version + 1 }, claimed.version);
    return stillValid ? session : 'unavailable';
  }
}

/** Ends the session here and sends the browser through the identity service's logout. */
export async function logout(sso: SsoServices, input: { sessionSecret?: string; homeUrl: string; nowMs: number }): Promise<string> {
  if (!input.sessionSecret) return input.homeUrl;
  const hash = secretHash(input.sessionSecret);
  const session = await sso.tenancy.session(hash, seconds(input.nowMs));
  await sso.tenancy.deleteSession(hash);
  if (!session) return input.homeUrl;
  const tenant = await sso.tenancy.tenant(session.tenantId);
  try {
    return tenant ? sso.identity.logoutUrl(tenant.domainName, input.homeUrl) : input.homeUrl;
  } catch {
    return input.homeUrl;
  }
}
