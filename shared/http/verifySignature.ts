/**
 * middy middleware: checks the V2 request signature (spec 2.1) once for whatever activity follows.
 * Raw body first, canonical form second, ±window timestamp, constant-time compare (shared/protocol).
 * The nonce is not written here: it goes into the same transaction as the call's domain change, so
 * a replay is refused by DynamoDB and a refused request writes nothing.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ResultCode } from '#shared/protocol/resultCodes';
import { verifyV2Request } from '#shared/protocol/signature';
import { getRuntime, refreshAccessKeys } from '#shared/runtime';
import { MarketplaceError } from './errors.ts';

export interface VerifiedRequest {
  nonce: string;
  /** which configured access key verified it (it also signs the answer) */
  keyIndex: number;
  rawBody: string;
  receivedAt: Date;
}

export type SignedEvent = APIGatewayProxyEvent & { verified?: VerifiedRequest };

export function rawBodyOf(event: APIGatewayProxyEvent): string {
  if (event.body == null) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

export function verifySignature(): MiddlewareObj<SignedEvent, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      // the clock starts when the request arrives, before a cold start reads its secrets
      const now = Date.now();
      const { settings, secrets } = await getRuntime();
      const event = request.event;
      const rawBody = rawBodyOf(event);
      if (Buffer.byteLength(rawBody, 'utf8') > settings.maxBodyBytes)
        throw new MarketplaceError(ResultCode.INVALID_PARAMETER, `request body larger than ${settings.maxBodyBytes} bytes`);
      const query = event.queryStringParameters ?? {};
      const verify = () =>
        verifyV2Request({
          accessKeys: secrets.accessKeys,
          signature: query.signature,
          timestamp: query.timestamp,
          nonce: query.nonce,
          rawBody,
          nowMs: now,
          windowMs: settings.timestampWindowMs,
        });
      let verdict = verify();
      // a key rotated in SSM after this container started: look once more with fresh keys
      if (!verdict.ok && verdict.reason === 'signature' && (await refreshAccessKeys())) verdict = verify();
      if (!verdict.ok) throw new MarketplaceError(ResultCode.AUTH_FAILED, verdict.message);
      event.verified = { nonce: query.nonce!, keyIndex: verdict.keyIndex, rawBody, receivedAt: new Date(now) };
    },
  };
}
