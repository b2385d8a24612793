/**
 * The browser-facing login routes (`/sso/*`, spec 3.10): cookies, redirects and refusals as HTTP, around
 * the login domain (domain/sso.ts). Every answer is `Cache-Control: no-store`; cookies are HttpOnly,
 * SameSite=Lax and Secure whenever the API is served over https. Query strings (codes, states) and
 * cookies are never logged.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { errorName } from '#shared/domain/errors';
import type { SsoOutcome, SsoServices } from '#shared/domain/sso';
import { getRuntime, logger } from '#shared/runtime';
import type { SsoSettings } from '#shared/config';
import '#shared/runtime/joint';

/** The session cookie, and the one binding a login under way to its browser. */
export const SESSION_COOKIE = 'kg_session';
export const LOGIN_COOKIE = 'kg_login';

export interface SsoRequest {
  event: APIGatewayProxyEvent;
  query: Record<string, string | undefined>;
  cookies: Record<string, string>;
  /** this API's public base URL (SSO_BASE_URL, else from the request's Host) */
  baseUrl: string;
  nowMs: number;
}

export type SsoAnswer = APIGatewayProxyResult;

/** Cookies of the request (both header spellings, and API Gateway's multi-value form). */
export function cookiesOf(event: APIGatewayProxyEvent): Record<string, string> {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(event.headers ?? {})) if (name.toLowerCase() === 'cookie' && value) lines.push(value);
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {}))
    if (name.toLowerCase() === 'cookie' && values) lines.push(...values);
  const cookies: Record<string, string> = {};
  for (const line of lines)
    for (const part of line.split(';')) {
      const at = part.indexOf('=');
      if (at < 0) continue;
      const name = part.slice(0, at).trim();
      if (name && !(name in cookies)) cookies[name] = part.slice(at + 1).trim();
    }
  return cookies;
}

function header(event: APIGatewayProxyEvent, wanted: string): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) if (name.toLowerCase() === wanted) return value ?? undefined;
  return undefined;
}

/**
 * SSO_BASE_URL, else what API Gateway says it was called as (its domain, and the stage or base-path
 * mapping in front of the route: requestContext.path = <prefix> + path), else the Host header.
 */
export function baseUrlOf(event: APIGatewayProxyEvent, settings: SsoSettings): string {
  if (settings.baseUrl) return settings.baseUrl;
  const { domainName, path: fullPath } = (event.requestContext ?? {}) as { domainName?: string; path?: string };
  if (domainName && !domainName.startsWith('offline') && fullPath && event.path && fullPath.endsWith(event.path))
    return `https://${domainName}${fullPath.slice(0, fullPath.length - event.path.length)}`;
  const host = header(event, 'host') ?? '127.0.0.1';
  const proto = header(event, 'x-forwarded-proto') ?? (/^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host) ? 'http' : 'https');
  return `${proto}://${host}`;
}

export function cookie(name: string, value: string, options: { maxAgeSeconds: number; path?: string; secure: boolean }): string {
  return [
    `${name}=${value}`,
    `Path=${options.path ?? '/'}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export function redirect(location: string, setCookies: string[] = []): SsoAnswer {
  return { statusCode: 302, headers: { ...noStore, Location: location }, multiValueHeaders: setCookies.length ? { 'Set-Cookie': setCookies } : {}, body: '' };
}

export function refusal(status: number, message: string, setCookies: string[] = []): SsoAnswer {
  return {
    statusCode: status,
    headers: { ...noStore, 'Content-Type': 'application/json' },
    multiValueHeaders: setCookies.length ? { 'Set-Cookie': setCookies } : {},
    body: JSON.stringify({ error: message }),
  };
}

export function json(status: number, body: unknown, setCookies: string[] = []): SsoAnswer {
  return {
    statusCode: status,
    headers: { ...noStore, 'Content-Type': 'application/json' },
    multiValueHeaders: setCookies.length ? { 'Set-Cookie': setCookies } : {},
    body: JSON.stringify(body),
  };
}

/**
 * The application's home as an absolute URL (SSO_HOME_URL, a path under this API when relative), and
 * a `returnTo` path resolved against its origin: the signed-in user lands on the merchant's application.
 */
export function homeUrlOf(baseUrl: string, homeUrl: string): string {
  return /^https?:\/\//.test(homeUrl) ? homeUrl : `${baseUrl}${homeUrl}`;
}
export function landingUrl(location: string, baseUrl: string, homeUrl: string): string {
  if (!location.startsWith('/')) return location;
  // a path under this API keeps its stage or base path (…/dev/app); else it is on the application's origin
  return /^https?:\/\//.test(homeUrl) ? new URL(location, homeUrl).toString() : `${baseUrl}${location}`;
}

/** The path the login cookie is sent on: this API's `/sso` routes, behind whatever stage or base path it has. */
export const loginCookiePath = (baseUrl: string) => `${new URL(baseUrl).pathname.replace(/\/+$/, '')}/sso`;

/** A login outcome as HTTP: the redirect with its cookies, or the refusal. */
export function answerOf(outcome: SsoOutcome, baseUrl: string, homeUrl: string): SsoAnswer {
  const secure = isSecure(baseUrl);
  const path = loginCookiePath(baseUrl);
  if (outcome.kind === 'refused') return refusal(outcome.status, outcome.message, [cookie(LOGIN_COOKIE, '', { maxAgeSeconds: 0, path, secure })]);
  if (outcome.kind === 'signedIn')
    return redirect(landingUrl(outcome.location, baseUrl, homeUrl), [
      cookie(SESSION_COOKIE, outcome.session.value, { maxAgeSeconds: outcome.session.maxAgeSeconds, secure }),
      cookie(LOGIN_COOKIE, '', { maxAgeSeconds: 0, path, secure }),
    ]);
  const cookies = outcome.setLoginCookie
    ? [cookie(LOGIN_COOKIE, outcome.setLoginCookie.value, { maxAgeSeconds: outcome.setLoginCookie.maxAgeSeconds, path, secure })]
    : [];
  return redirect(outcome.location, cookies);
}

export function createSsoHandler(run: (sso: SsoServices, request: SsoRequest) => Promise<SsoAnswer>) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      const nowMs = Date.now();
      try {
        const { sso, settings } = await getRuntime();
        const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
        return await run(sso, { event, query, cookies: cookiesOf(event), baseUrl: baseUrlOf(event, settings.sso), nowMs });
      } catch (error) {
        logger.error('login route failed', { error: errorName(error) });
        return refusal(500, 'internal error; try again');
      }
    });
}

export const isSecure = (baseUrl: string) => baseUrl.startsWith('https:');
export const CALLBACK_PATH = '/sso/callback';
export const LOGIN_PATH = '/sso/login';
