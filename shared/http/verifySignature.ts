/**
 * middy middleware: checks the V2 request signature (spec 2.1) once for whatever activity follows.
 * Raw body first, canonical form second, ±window timestamp, constant-time compare (shared/protocol).
 * Then the body's size and encoding: a signed body over MAX_BODY_BYTES or not UTF-8 answers 000002.
 * The nonce is not written here: it goes into the same transaction as the call's domain change, so
 * a replay is refused by DynamoDB and a refused request writes nothing.
 */
import { isUtf8 } from 'node:buffer';
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
  return rawBytesOf(event).toString('utf8');
}

/** The body's bytes as the marketplace sent them (API Gateway base64-encodes binary bodies). */
export function rawBytesOf(event: APIGatewayProxyEvent): Buffer {
  if (event.body == null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** An unpaired UTF-16 surrogate: text that has no UTF-8 form. */
export const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The path of the first string (value or key) with an unpaired surrogate in a parsed body, if any
 * (a JSON escape like "\ud800" is text no id, URL or table key can hold); '' = the body itself.
 */
export function illFormedText(value: unknown, path = '', depth = 0): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : undefined;
  if (typeof value !== 'object' || value === null || depth > 16) return undefined;
  for (const [key, member] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (LONE_SURROGATE.test(key)) return at;
    const found = illFormedText(member, at, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Valid UTF-8 as received: decoding changed nothing (no invalid bytes, no unpaired surrogate in a text body). */
function isWellFormedBody(event: APIGatewayProxyEvent, bytes: Buffer): boolean {
  if (event.body == null) return true;
  return event.isBase64Encoded ? isUtf8(bytes) : !LONE_SURROGATE.test(event.body);
}

export function verifySignature(): MiddlewareObj<SignedEvent, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      // the clock starts when the request arrives, before a cold start reads its secrets
      const now = Date.now();
      const { settings, secrets } = await getRuntime();
      const event = request.event;
      // Authentication comes first, whatever the body: an unsigned request answers 000001, also when it
      // is too large or not UTF-8. The signature is computed over the bytes as received; a body too
      // large to be accepted is never parsed (no canonical form).
      const bytes = rawBytesOf(event);
      const oversized = bytes.length > settings.maxBodyBytes;
      const query = event.queryStringParameters ?? {};
      const verify = () =>
        verifyV2Request({
          accessKeys: secrets.accessKeys,
          signature: query.signature,
          timestamp: query.timestamp,
          nonce: query.nonce,
          rawBody: bytes,
          nowMs: now,
          windowMs: settings.timestampWindowMs,
          canonicalForm: !oversized,
        });
      let verdict = verify();
      // a key rotated in SSM after this container started: look once more with fresh keys
      if (!verdict.ok && verdict.reason === 'signature' && (await refreshAccessKeys())) verdict = verify();
      if (!verdict.ok) throw new MarketplaceError(ResultCode.AUTH_FAILED, verdict.message);
      event.verified = { nonce: query.nonce!, keyIndex: verdict.keyIndex, rawBody: oversized ? '' : bytes.toString('utf8'), receivedAt: new Date(now) };
      // signed, but not a body we accept: refused before anything reads it (nothing is written)
      if (oversized) throw new MarketplaceError(ResultCode.INVALID_PARAMETER, `request body larger than ${settings.maxBodyBytes} bytes`);
      if (!isWellFormedBody(event, bytes)) throw new MarketplaceError(ResultCode.INVALID_PARAMETER, 'request body is not valid UTF-8');
    },
  };
}
