import * as z from '#shared/zod';
import { appInfoOf } from '#shared/domain/instance';
import { ProvisioningError, REFUSAL_CODES } from '#shared/domain/provisioner';
import { completeFromProduct, failFromProduct } from '#shared/domain/provisioning';
import { createInternalHandler, parseJsonBody, pathId } from '#shared/http/internalRoute';
import { appInfoFields, MARKETPLACE_APP_INFO_MAX } from '#shared/provisioning/appInfo';

/** The app info as queryInstance shows it to the buyer (spec 3.2 AppInfo lengths); nothing else. */
const Ready = z.strictObject(appInfoFields(MARKETPLACE_APP_INFO_MAX));

/** A refusal the marketplace can show (000100–000107), with its message (resultMsg is at most 255). */
const Failed = z.strictObject({
  resultCode: z.enum(REFUSAL_CODES),
  message: z.string().check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(255, 'must be at most 255 characters')),
});

/**
 * The product's later answer to a provisioning it accepted (PROVISIONER=async, README "Asynchronous
 * provisioner"), IAM-authorised: `POST /internal/instances/{instanceId}/ready` with the app info, or
 * `POST /internal/instances/{instanceId}/failed` with `{ resultCode, message }`. 200 `{ instanceId,
 * status, outcome }` (`recorded`, or `already recorded` for a repeat), 404 unknown instance, 409 not
 * awaiting this answer, 400 a bad id or body.
 */
export const handler = createInternalHandler(async (services, event) => {
  const path = pathId(event, 'instanceId');
  if ('refused' in path) return path.refused;
  const now = new Date();
  const action = event.resource?.split('/').pop();
  if (event.httpMethod === 'POST' && action === 'ready')
    return parseJsonBody(event, Ready, (body) => completeFromProduct(services, path.id, appInfoOf(body), now));
  if (event.httpMethod === 'POST' && action === 'failed')
    return parseJsonBody(event, Failed, ({ resultCode, message }) => failFromProduct(services, path.id, new ProvisioningError(message, resultCode, true), now));
  return { status: 404, body: { error: `no route ${event.httpMethod} ${event.resource}` } };
});
