import { currentUser } from '#shared/domain/sso';
import { cookie, createSsoHandler, isSecure, json, refusal, SESSION_COOKIE } from '#shared/http/ssoRoute';

/**
 * `GET /sso/session`: who is signed in (JSON), for the merchant's application. Re-checks the user's
 * authorisation and refreshes the access token shortly before it expires; 401 when not signed in.
 */
export const handler = createSsoHandler(async (sso, { cookies, baseUrl, nowMs }) => {
  const outcome = await currentUser(sso, { sessionSecret: cookies[SESSION_COOKIE], nowMs });
  if (outcome.kind === 'user') return json(200, outcome.user);
  const clear = outcome.clear ? [cookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: isSecure(baseUrl) })] : [];
  return refusal(outcome.status, outcome.message, clear);
});
