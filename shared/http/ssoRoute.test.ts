import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { answerOf, baseUrlOf, cookiesOf, landingUrl, loginCookiePath } from './ssoRoute.ts';

const settings = { homeUrl: '/app', sessionMaxMs: 1, loginStateMs: 1, refreshAheadMs: 1, identityTimeoutMs: 1 };
const event = (over: Partial<APIGatewayProxyEvent>) => ({ path: '/sso/login', headers: {}, requestContext: {}, ...over }) as APIGatewayProxyEvent;

describe('login routes behind a stage or base path', () => {
  it('derives the base URL from API Gateway: its domain and the prefix in front of the route', () => {
    expect(baseUrlOf(event({ requestContext: { domainName: 'abc.execute-api.ap-southeast-1.amazonaws.com', path: '/dev/sso/login' } as never }), settings)).toBe(
      'https://abc.execute-api.ap-southeast-1.amazonaws.com/dev',
    );
    expect(baseUrlOf(event({ requestContext: { domainName: 'api.example.com', path: '/sso/login' } as never }), settings)).toBe('https://api.example.com');
    expect(baseUrlOf(event({ headers: { Host: '127.0.0.1:3000' } }), settings)).toBe('http://127.0.0.1:3000');
    expect(baseUrlOf(event({}), { ...settings, baseUrl: 'https://login.example.com/base' })).toBe('https://login.example.com/base');
  });

  it('sends the login cookie on the prefixed callback path, and lands under the prefix', () => {
    expect(loginCookiePath('https://abc.execute-api.amazonaws.com/dev')).toBe('/dev/sso');
    expect(loginCookiePath('http://127.0.0.1:3000')).toBe('/sso');
    const redirect = answerOf({ kind: 'redirect', location: 'https://idp/authorize', setLoginCookie: { value: 'v', maxAgeSeconds: 600 } }, 'https://abc.example.com/dev', '/app');
    expect(redirect.multiValueHeaders?.['Set-Cookie']).toEqual(['kg_login=v; Path=/dev/sso; Max-Age=600; HttpOnly; SameSite=Lax; Secure']);
    expect(landingUrl('/app/x?y=1', 'https://abc.example.com/dev', '/app')).toBe('https://abc.example.com/dev/app/x?y=1');
    expect(landingUrl('/x', 'https://abc.example.com/dev', 'https://app.example.com/home')).toBe('https://app.example.com/x');
    const signedIn = answerOf({ kind: 'signedIn', location: '/app', session: { value: 's', maxAgeSeconds: 60 } }, 'https://abc.example.com/dev', '/app');
    expect(signedIn.headers?.Location).toBe('https://abc.example.com/dev/app');
  });

  it('reads cookies from either header spelling, first value wins', () => {
    expect(cookiesOf(event({ headers: { cookie: 'a=1; kg_session=x=y' }, multiValueHeaders: { Cookie: ['a=2'] } }))).toEqual({ a: '1', kg_session: 'x=y' });
  });
});
