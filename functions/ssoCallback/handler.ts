import { finishLogin } from '#shared/domain/sso';
import { answerOf, CALLBACK_PATH, createSsoHandler, LOGIN_COOKIE, LOGIN_PATH } from '#shared/http/ssoRoute';

/** `GET /sso/callback?code&state`: the identity service sends the browser back here (redirect_uri). */
export const handler = createSsoHandler(async (sso, { query, cookies, baseUrl, nowMs }) =>
  answerOf(
    await finishLogin(sso, {
      code: query.code,
      state: query.state,
      tenant: query.tenant,
      browserSecret: cookies[LOGIN_COOKIE],
      redirectUri: `${baseUrl}${CALLBACK_PATH}`,
      loginPath: `${baseUrl}${LOGIN_PATH}`,
      nowMs,
    }),
    baseUrl,
    sso.settings.homeUrl,
  ),
);
