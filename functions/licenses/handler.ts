import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from '#shared/zod';
import { activateLicenseCode, heartbeatLicenseCode, readLicenseCode } from '#shared/domain/licenseService';
import { fields } from '#shared/http/callback';
import { createInternalHandler, parseJsonBody, pathId } from '#shared/http/internalRoute';
import '#shared/runtime/licensing';

const Activate = z.strictObject({ realEffectTime: z.optional(fields.marketTime()) });

/** The request's time as API Gateway stamped it (the heartbeat's "today"), else now. */
const requestTime = (event: APIGatewayProxyEvent) => {
  const epoch = event.requestContext?.requestTimeEpoch;
  return typeof epoch === 'number' && Number.isFinite(epoch) ? new Date(epoch) : new Date();
};

/**
 * License 2.0 codes for the product, IAM-authorised:
 * `POST /internal/licenses/{code}/activate` (body optional: `{ realEffectTime?: "yyyyMMddHHmmss" }`) and
 * `POST /internal/licenses/{code}/heartbeat` (at most one marketplace call per code and UTC day).
 * Both answer `{ code, status, state, usable, expireTime, expireSource, activatedAt, checkedAt, fromCache }`;
 * `GET /internal/licenses/{code}` answers the same from the table alone (no marketplace call).
 */
export const handler = createInternalHandler(async (services, event) => {
  const path = pathId(event, 'code');
  if ('refused' in path) return path.refused;
  const now = requestTime(event);
  const action = event.resource?.split('/').pop();
  if (event.httpMethod === 'GET' && action === '{code}') return readLicenseCode(services, path.id);
  if (event.httpMethod === 'POST' && action === 'heartbeat') return heartbeatLicenseCode(services, path.id, now);
  if (event.httpMethod === 'POST' && action === 'activate') {
    if (event.body === null || event.body === undefined || event.body.trim() === '') return activateLicenseCode(services, path.id, {}, now);
    return parseJsonBody(event, Activate, (body) => activateLicenseCode(services, path.id, body, now));
  }
  return { status: 404, body: { error: `no route ${event.httpMethod} ${event.resource}` } };
});
