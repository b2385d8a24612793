/**
 * KooGallery HMAC-SHA256 schemes (spec section 2): the V2 basic-interface request signature (2.1),
 * the response `Body-Sign` header (2.4) and the usage-push signature (2.7).
 * Strings are UTF-8 encoded before hashing. Nonce replay protection is the caller's job (2.1 step 5).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function hmacSha256(key: string, message: string | Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

/** V2 basic-interface signature (spec 2.1), lower-case hex: hex(HMAC(key, key + nonce + timestamp + lowerhex(HMAC(key, payload)))) */
export function signV2Request(accessKey: string, nonce: string, timestamp: string, payload: string | Buffer): string {
  const inner = hmacSha256(accessKey, payload).toString('hex');
  return hmacSha256(accessKey, accessKey + nonce + timestamp + inner).toString('hex');
}

/** Code-point order (UTF-8 byte order equals code-point order; plain `sort()` compares UTF-16 code units). */
export const byCodePoint = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Serializes by hand instead of rebuilding objects: JS objects always enumerate integer-like keys
 * ("9", "10") first, and a `__proto__` member would be lost on assignment.
 */
function serialize(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value)
      .filter(([, v]) => v !== null)
      .sort(([a], [b]) => byCodePoint(a, b))
      .map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Canonical form of a JSON body (spec 2.1 recommendation): parse, sort object keys recursively (code-point order),
 * drop null-valued object members, compact JSON.stringify (non-ASCII left unescaped). Returns undefined when the text is not JSON.
 * Uncertain (spec 7 item 1): numbers go through a JS double, so `1.0` becomes `1` and integers beyond 2^53 lose
 * precision; Huawei's Java verifier may render them differently. The raw body is always tried first.
 */
export function canonicalJson(body: string): string | undefined {
  try {
    return serialize(JSON.parse(body));
  } catch {
    // not JSON, or nested deeper than the stack allows (hostile input): no canonical form
    return undefined;
  }
}

export type V2Failure = 'missing' | 'timestamp' | 'signature';
export type V2Verdict =
  | { ok: true; form: 'raw' | 'canonical'; keyIndex: number; timestampMs: number }
  | { ok: false; reason: V2Failure; message: string };

const SIGNATURE_FORMAT = /^[0-9a-fA-F]{64}$/;
const TIMESTAMP_FORMAT = /^\d+$/;
/** Visible ASCII, no whitespace (spec 2.1: nonce formats vary, treat as opaque). */
const NONCE_FORMAT = /^[\x21-\x7e]{1,128}$/;

/**
 * Verifies a V2 request: all three params present and sane (signature 64 hex chars any case; timestamp all digits;
 * nonce 1..128 printable chars) else 'missing';
 * timestamp interpreted as milliseconds, or as seconds when < 1e12 (spec 7 item 3: some pages say seconds);
 * |nowMs - ts| <= windowMs (default 60_000) in either direction else 'timestamp' (Huawei's sample is one-sided);
 * then for each key in accessKeys (several keys are allowed so that a key can be rotated without downtime) compute
 * over the raw body first (the bytes as received when given a Buffer), then over canonicalJson(rawBody) when it
 * differs (unless `canonicalForm` is false: a body too large to be parsed); compare lower-cased hex with
 * crypto.timingSafeEqual. Empty keys are skipped (an unset rotation slot must not become a known key).
 */
export function verifyV2Request(input: {
  accessKeys: readonly string[];
  signature?: string;
  timestamp?: string;
  nonce?: string;
  rawBody: string | Buffer;
  nowMs: number;
  windowMs?: number;
  /** also try the canonical form of the body (default true) */
  canonicalForm?: boolean;
}): V2Verdict {
  const { signature, timestamp, nonce, rawBody, nowMs, windowMs = 60_000, canonicalForm = true } = input;
  if (
    signature === undefined || !SIGNATURE_FORMAT.test(signature) ||
    timestamp === undefined || !TIMESTAMP_FORMAT.test(timestamp) ||
    nonce === undefined || !NONCE_FORMAT.test(nonce)
  ) {
    return { ok: false, reason: 'missing', message: 'missing signature, timestamp or nonce' };
  }
  const ts = Number(timestamp);
  const timestampMs = ts < 1e12 ? ts * 1000 : ts;
  if (!(Math.abs(nowMs - timestampMs) <= windowMs)) {
    return { ok: false, reason: 'timestamp', message: `timestamp outside the ${windowMs / 1000} s window` };
  }
  const received = Buffer.from(signature.toLowerCase());
  const matches = (payload: string | Buffer): number =>
    input.accessKeys.findIndex(
      (key) => key !== '' && timingSafeEqual(Buffer.from(signV2Request(key, nonce, timestamp, payload)), received),
    );
  const rawKey = matches(rawBody);
  if (rawKey >= 0) return { ok: true, form: 'raw', keyIndex: rawKey, timestampMs };
  // the canonical form is only computed when the raw body did not verify (the usual case never needs it)
  if (!canonicalForm) return { ok: false, reason: 'signature', message: 'signature mismatch' };
  const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  const canonical = canonicalJson(text);
  const canonicalKey = canonical !== undefined && canonical !== text ? matches(canonical) : -1;
  if (canonicalKey >= 0) return { ok: true, form: 'canonical', keyIndex: canonicalKey, timestampMs };
  return { ok: false, reason: 'signature', message: 'signature mismatch' };
}

/** Response body signature header value (spec 2.4): `sign_type="HMAC-SHA256", signature= "<base64>"` (note the space after `signature=`) */
export function bodySignHeader(key: string, body: string): string {
  return `sign_type="HMAC-SHA256", signature= "${hmacSha256(key, body).toString('base64')}"`;
}

/** Usage-push signature (spec 2.7): base64(HMAC(key, `ts=${ts}&nonce=${nonce}&body=${body}`)) */
export function usagePushSignature(key: string, ts: string, nonce: string, body: string): string {
  return hmacSha256(key, `ts=${ts}&nonce=${nonce}&body=${body}`).toString('base64');
}
