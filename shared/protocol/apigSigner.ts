/**
 * Huawei API Gateway AK/SK signing, `SDK-HMAC-SHA256` (spec 2.8), used for the marketplace open APIs (spec 6)
 * and checked by our local marketplace emulator.
 *
 * Choices where the spec is silent, matching Huawei's signers (the Node SDK core `AKSKSigner`, the APIG demos):
 * - Query names and values are percent-decoded, then sorted by decoded name, then decoded value, then RFC 3986
 *   encoded. `+` is a literal plus (not a space): encode spaces as `%20` in the URL.
 * - Path segments are percent-decoded before encoding, so `/a%20b` and `/a b` sign the same.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from './signature.ts';
import { formatCompactUtc, parseMarketTime } from './time.ts';

export interface ApigRequest {
  method: string;
  url: string /* absolute URL */;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const ALGORITHM = 'SDK-HMAC-SHA256';

/** yyyyMMdd'T'HHmmss'Z' UTC */
export function formatSdkDate(d: Date): string {
  return formatCompactUtc(d);
}

const byCodePoint = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
/** strings as UTF-8; bytes (a multipart upload) exactly as sent */
const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** RFC 3986: unreserved `A-Z a-z 0-9 - _ . ~` kept, everything else UTF-8 `%XY` (encodeURIComponent also keeps `!'()*`). */
const encode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // malformed escape: sign it literally ('%' becomes %25)
  }
};

function canonicalUri(path: string): string {
  const uri = path.split('/').map((segment) => encode(decode(segment))).join('/');
  return uri.endsWith('/') ? uri : `${uri}/`;
}

function canonicalQuery(search: string): string {
  return search
    .replace(/^\?/, '')
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair): [string, string] => {
      const eq = pair.indexOf('=');
      return eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))];
    })
    .sort(([n1, v1], [n2, v2]) => byCodePoint(n1, n2) || byCodePoint(v1, v2))
    .map(([name, value]) => `${encode(name)}=${encode(value)}`)
    .join('&');
}

/** `headers`: lower-case name → value, in SignedHeaders order. Returns the hex signature. */
function computeSignature(
  sk: string,
  method: string,
  path: string,
  search: string,
  headers: ReadonlyArray<readonly [string, string]>,
  sdkDate: string,
  body: string | Uint8Array,
): string {
  const canonicalRequest = [
    method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(search),
    headers.map(([name, value]) => `${name}:${value.trim()}\n`).join(''),
    headers.map(([name]) => name).join(';'),
    sha256Hex(body),
  ].join('\n');
  return hmacSha256(sk, `${ALGORITHM}\n${sdkDate}\n${sha256Hex(canonicalRequest)}`).toString('hex');
}

/**
 * Returns the headers to send: the given headers plus `X-Sdk-Date`, `Host` (host[:port] only if port non-default) and
 * `Authorization: SDK-HMAC-SHA256 Access=<ak>, SignedHeaders=<list>, Signature=<hex>`. Signs every given header plus
 * host and x-sdk-date (lower-cased, sorted). Canonical URI must end with '/', path segments RFC 3986 encoded; query
 * RFC 3986 encoded, sorted by name then value. A Host, X-Sdk-Date or Authorization among the given headers is replaced.
 * Throws if two given headers differ only in case.
 */
export function signApigRequest(req: ApigRequest, ak: string, sk: string, now: Date = new Date()): Record<string, string> {
  const url = new URL(req.url);
  const sdkDate = formatSdkDate(now);
  const out: Record<string, string> = {};
  const signed = new Map<string, string>();
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'x-sdk-date' || lower === 'authorization') continue;
    if (signed.has(lower)) throw new Error(`header ${name} given twice`);
    signed.set(lower, value);
    out[name] = value;
  }
  signed.set('host', url.host); // WHATWG URL drops the scheme's default port
  signed.set('x-sdk-date', sdkDate);
  const headers = [...signed].sort(([a], [b]) => byCodePoint(a, b));
  const signature = computeSignature(sk, req.method, url.pathname, url.search, headers, sdkDate, req.body ?? '');
  const signedHeaders = headers.map(([name]) => name).join(';');
  return {
    ...out,
    'X-Sdk-Date': sdkDate,
    Host: url.host,
    Authorization: `${ALGORITHM} Access=${ak}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

const AUTHORIZATION = /^SDK-HMAC-SHA256\s+Access=([^\s,]+),\s*SignedHeaders=([^\s,]+),\s*Signature=([0-9a-fA-F]{64})$/;
const SDK_DATE = /^(\d{8})T(\d{6})Z$/;

/**
 * Server-side check used by our local marketplace emulator: parses Authorization, finds the secret with lookupSecret(ak),
 * checks X-Sdk-Date within windowMs (default 15 min) of nowMs, recomputes the signature over the SignedHeaders listed
 * (header names case-insensitive, used in the listed order), constant-time compare. A signed header that arrives
 * more than once (array value) is rejected. Reasons never contain the secret or the expected signature.
 */
export function verifyApigRequest(
  req: { method: string; url: string /* absolute or path+query */; headers: Record<string, string | string[] | undefined>; body?: string | Uint8Array },
  lookupSecret: (ak: string) => string | undefined,
  nowMs: number,
  windowMs: number = 15 * 60_000,
): { ok: true; ak: string } | { ok: false; reason: string } {
  const headers = new Map(Object.entries(req.headers).map(([name, value]) => [name.toLowerCase(), value]));

  const authorization = headers.get('authorization');
  const auth = typeof authorization === 'string' ? AUTHORIZATION.exec(authorization) : null;
  if (!auth) return { ok: false, reason: 'missing or malformed Authorization header' };
  const [, ak = '', signedList = '', signature = ''] = auth;

  const sk = lookupSecret(ak);
  if (sk === undefined) return { ok: false, reason: 'unknown access key' };

  const names = signedList.toLowerCase().split(';');
  if (!names.includes('host') || !names.includes('x-sdk-date')) {
    return { ok: false, reason: 'SignedHeaders must include host and x-sdk-date' };
  }
  const signedHeaders: Array<[string, string]> = [];
  for (const name of names) {
    const value = headers.get(name);
    if (typeof value !== 'string') return { ok: false, reason: `signed header ${name} missing or repeated` };
    signedHeaders.push([name, value]);
  }

  const sdkDate = new Map(signedHeaders).get('x-sdk-date') ?? '';
  const date = SDK_DATE.exec(sdkDate);
  const dateMs = date ? parseMarketTime(`${date[1]}${date[2]}`)?.getTime() : undefined;
  if (dateMs === undefined) return { ok: false, reason: 'malformed X-Sdk-Date' };
  if (!(Math.abs(nowMs - dateMs) <= windowMs)) return { ok: false, reason: 'X-Sdk-Date outside the allowed window' };

  // A path+query is resolved against a dummy origin by concatenation, so a path starting with '//' stays a path.
  const url = new URL(req.url.startsWith('/') ? `http://localhost${req.url}` : req.url);
  const expected = computeSignature(sk, req.method, url.pathname, url.search, signedHeaders, sdkDate, req.body ?? '');
  return timingSafeEqual(Buffer.from(expected), Buffer.from(signature.toLowerCase()))
    ? { ok: true, ak }
    : { ok: false, reason: 'signature mismatch' };
}
