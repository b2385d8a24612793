import { logout } from '#shared/domain/sso';
import { cookie, createSsoHandler, homeUrlOf, isSecure, redirect, SESSION_COOKIE } from '#shared/http/ssoRoute';

/** `GET /sso/logout`: ends the session and signs out at the tenant's identity service too. */
export const handler = createSsoHandler(async (sso, { cookies, baseUrl, nowMs }) => {
  const home = homeUrlOf(baseUrl, sso.settings.homeUrl);
  const location = await logout(sso, { sessionSecret: cookies[SESSION_COOKIE], homeUrl: home, nowMs });
  return redirect(location, [cookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: isSecure(baseUrl) })]);
});
