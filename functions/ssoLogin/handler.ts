import { startLogin } from '#shared/domain/sso';
import { answerOf, CALLBACK_PATH, createSsoHandler } from '#shared/http/ssoRoute';

/** `GET /sso/login?tenant=<code or id>[&appId=…][&returnTo=/path]`: off to the tenant's identity service. */
export const handler = createSsoHandler(async (sso, { query, baseUrl, nowMs }) =>
  answerOf(
    await startLogin(sso, { tenant: query.tenant, appId: query.appId, returnTo: query.returnTo, redirectUri: `${baseUrl}${CALLBACK_PATH}`, nowMs }),
    baseUrl,
    sso.settings.homeUrl,
  ),
);
