/**
 * Joint-operation Kit calls as the marketplace sends them, for the tests and the bench: V2 with
 * x-sign / x-timestamp / x-nonce (spec 2.2), V1 with the authToken header (2.3), as API Gateway
 * events for the real handlers. Kit timeStamps (UTC+8) come from one clock that never repeats.
 */
import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { KitSyncName } from '../domain/kit.ts';
import { signKitRequest } from '../protocol/kitSignature.ts';
import { formatMarketTimeMillis, KIT_ZONE_OFFSET_MS } from '../protocol/time.ts';
import { authTokenParamsOfBody, computeAuthToken } from '../protocol/v1.ts';
import { LOCAL_DEFAULTS } from '../secrets.ts';

export const KIT_KEY = LOCAL_DEFAULTS.KOOGALLERY_KIT_ACCESS_KEY;
export const V1_KEY = LOCAL_DEFAULTS.KOOGALLERY_V1_KEY;

let lastStamp = 0;
/** A Kit timeStamp (UTC+8 yyyyMMddHHmmssSSS) later than every one this process made before. */
export function kitStamp(at: number = Date.now()): string {
  lastStamp = Math.max(at, lastStamp + 1);
  return formatMarketTimeMillis(new Date(lastStamp + KIT_ZONE_OFFSET_MS));
}

/** The Kit stamp of a given instant, without touching the clock above (for out-of-order tests). */
export const kitStampAt = (at: number) => formatMarketTimeMillis(new Date(at + KIT_ZONE_OFFSET_MS));

export interface KitEventOptions {
  version?: 'v1' | 'v2';
  key?: string;
  nonce?: string;
  /** x-timestamp (V2, ms) */
  timestamp?: string;
  /** send these bytes instead of JSON.stringify(body) */
  rawBody?: string;
  /** replace the computed x-sign / authToken */
  signature?: string;
  headers?: Record<string, string>;
  /** the path prefix the production URL has (e.g. `/produce`) */
  base?: string;
}

export function kitEvent(name: KitSyncName, body: Record<string, unknown>, opts: KitEventOptions = {}): APIGatewayProxyEvent {
  const version = opts.version ?? 'v2';
  const raw = opts.rawBody ?? JSON.stringify(body);
  let headers: Record<string, string>;
  if (version === 'v2') {
    const nonce = opts.nonce ?? randomBytes(32).toString('hex').toUpperCase();
    const timestamp = opts.timestamp ?? String(Date.now());
    const sign = opts.signature ?? signKitRequest(opts.key ?? KIT_KEY, nonce, timestamp, raw).toUpperCase();
    headers = { 'Content-Type': 'application/json', 'x-sign': sign, 'x-timestamp': timestamp, 'x-nonce': nonce };
  } else {
    const token = opts.signature ?? computeAuthToken(opts.key ?? V1_KEY, authTokenParamsOfBody(body)!);
    headers = { 'Content-Type': 'application/json', authToken: token };
  }
  const resource = `${opts.base ?? ''}/produceAPI/${version === 'v2' ? 'v2/' : ''}${name}`;
  return {
    httpMethod: 'POST',
    path: resource,
    resource,
    body: raw,
    isBase64Encoded: false,
    headers: { ...headers, ...opts.headers },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}

/** A merchant key pair for application sync (3072 bits, spec 2.6) and the marketplace's side of it. */
export function merchantKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 3072,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    privateKey,
    publicKey,
    /** what the marketplace sends: RSA-OAEP (SHA-256) with the merchant's public key, base64 */
    encrypt: (secret: string, oaepHash: 'sha256' | 'sha1' = 'sha256') =>
      publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, Buffer.from(secret, 'utf8')).toString('base64'),
  };
}

/** A tenant's live departments as `code<parent:name`, sorted: what the department tests compare. */
export async function liveDepartments(tenancy: { departments(tenantId: string): Promise<Array<{ orgCode: string; parentCode?: string; orgName: string; status: string }>> }, tenantId: string): Promise<string[]> {
  return (await tenancy.departments(tenantId))
    .filter((d) => d.status === 'active')
    .map((d) => `${d.orgCode}<${d.parentCode ?? ''}:${d.orgName}`)
    .sort();
}
