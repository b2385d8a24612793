/**
 * Joint-operation Kit V2 request signature (spec 2.2): headers `x-sign`, `x-timestamp`, `x-nonce`;
 * `x-sign = hex(HMAC_SHA256(accessKey, accessKey + nonce + timestamp + RequestPayload))` — the body itself,
 * not an HMAC of it as in the basic interfaces (2.1).
 * Uncertain (spec 7 item 2): which formula Huawei really uses for the Kit calls. The verifier therefore also
 * accepts the 2.1 inner-HMAC variant and reports which one matched (`form`), so that console debugging settles it.
 * Nonce replay protection is the caller's job (the verdict returns the nonce to cache).
 */
import { timingSafeEqual } from 'node:crypto';
import { canonicalJson, hmacSha256, signV2Request } from './signature.ts';

/** Kit V2 signature (spec 2.2), lower-case hex: hex(HMAC(key, key + nonce + timestamp + payload)) */
export function signKitRequest(accessKey: string, nonce: string, timestamp: string, payload: string | Buffer): string {
  const prefix = Buffer.from(accessKey + nonce + timestamp, 'utf8');
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return hmacSha256(accessKey, Buffer.concat([prefix, body])).toString('hex');
}

/** Header bag as Node (`IncomingHttpHeaders`) or API Gateway (`APIGatewayProxyEvent['headers']`) hands it over. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Marker for a header sent several times with different values. */
export const CONFLICTING_HEADER: unique symbol = Symbol('conflicting header');

/**
 * Case-insensitive header lookup (HTTP field names are case-insensitive; API Gateway keeps the sender's case).
 * Returns undefined when absent, CONFLICTING_HEADER when several spellings or array entries carry different
 * values (a repeated signature header is ambiguous, never "pick one"), else the value.
 */
export function headerValue(headers: HeaderBag, name: string): string | undefined | typeof CONFLICTING_HEADER {
  const wanted = name.toLowerCase();
  const values = new Set<string>();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    for (const v of typeof value === 'string' ? [value] : value) values.add(v);
  }
  if (values.size > 1) return CONFLICTING_HEADER;
  return values.values().next().value;
}

/**
 * Which scheme verified: the 2.2 formula over the raw body or its canonical form, or the 2.1 inner-HMAC
 * formula (`signV2Request`) over the raw body or its canonical form.
 */
export type KitForm = 'raw' | 'canonical' | 'v2-raw' | 'v2-canonical';
/** Tried in this order; the first form any key verifies wins. */
export const KIT_FORMS: readonly KitForm[] = ['raw', 'canonical', 'v2-raw', 'v2-canonical'];

export type KitFailure = 'missing' | 'format' | 'timestamp' | 'signature';
export type KitVerdict =
  | { ok: true; form: KitForm; keyIndex: number; timestampMs: number; nonce: string }
  | { ok: false; reason: KitFailure; message: string };

const SIGNATURE_FORMAT = /^[0-9a-fA-F]{64}$/;
/** Milliseconds (spec 2.2); 16 digits is far beyond any plausible date and keeps Number() exact. */
const TIMESTAMP_FORMAT = /^\d{1,16}$/;
/** Visible ASCII, no whitespace (spec 2.1: nonce formats vary, treat as opaque). */
const NONCE_FORMAT = /^[\x21-\x7e]{1,128}$/;

const HEADERS = ['x-sign', 'x-timestamp', 'x-nonce'] as const;

/**
 * Verifies a Kit V2 request (spec 2.2):
 * - `missing` when `x-sign`, `x-timestamp` or `x-nonce` is absent or empty (header names case-insensitive);
 * - `format` when one is present but malformed (signature not 64 hex chars of either case, timestamp not
 *   all digits, nonce not 1..128 visible ASCII chars) or sent twice with different values;
 * - `timestamp` unless |nowMs − x-timestamp| ≤ windowMs (default 60 000), x-timestamp in **milliseconds**
 *   (spec 2.2; unlike verifyV2Request no seconds fallback: the Kit pages only show milliseconds);
 * - `signature` unless some key of `accessKeys` (several for rotation; empty keys skipped so that an unset slot
 *   never becomes a known key) verifies one of `forms` (default KIT_FORMS, in that order: raw body as received,
 *   canonicalJson of it when it differs, then the same two with the 2.1 inner-HMAC formula — the spec's
 *   recommended fallback). Comparison of lower-cased hex with crypto.timingSafeEqual.
 * Messages name the failing check only, never a key, the body or an expected signature.
 */
export function verifyKitRequest(input: {
  accessKeys: readonly string[];
  headers: HeaderBag;
  rawBody: string | Buffer;
  nowMs: number;
  windowMs?: number;
  /** forms to try (default all, in KIT_FORMS order); narrow it once console debugging has shown the real one */
  forms?: readonly KitForm[];
}): KitVerdict {
  const { headers, rawBody, nowMs, windowMs = 60_000, forms = KIT_FORMS } = input;
  const values = HEADERS.map((name) => headerValue(headers, name));
  const absent = HEADERS.filter((_, i) => values[i] === undefined || values[i] === '');
  if (absent.length > 0) return { ok: false, reason: 'missing', message: `missing header ${absent.join(', ')}` };
  const [sig, ts, nc] = values;
  if (typeof sig !== 'string' || !SIGNATURE_FORMAT.test(sig))
    return { ok: false, reason: 'format', message: 'malformed x-sign header' };
  if (typeof ts !== 'string' || !TIMESTAMP_FORMAT.test(ts))
    return { ok: false, reason: 'format', message: 'malformed x-timestamp header' };
  if (typeof nc !== 'string' || !NONCE_FORMAT.test(nc))
    return { ok: false, reason: 'format', message: 'malformed x-nonce header' };

  const timestampMs = Number(ts);
  if (!(Math.abs(nowMs - timestampMs) <= windowMs)) {
    return { ok: false, reason: 'timestamp', message: `x-timestamp outside the ${windowMs / 1000} s window (milliseconds expected)` };
  }

  const received = Buffer.from(sig.toLowerCase());
  const matches = (sign: typeof signKitRequest, payload: string | Buffer): number =>
    input.accessKeys.findIndex(
      (key) => key !== '' && timingSafeEqual(Buffer.from(sign(key, nc, ts, payload)), received),
    );
  // the canonical form is only computed when a form needs it (the usual raw match never does)
  let canonical: string | undefined | null = null;
  const canonicalBody = (): string | undefined => {
    if (canonical === null) {
      const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
      const c = canonicalJson(text);
      canonical = c !== undefined && c !== text ? c : undefined; // identical to raw: already tried
    }
    return canonical;
  };
  for (const form of forms) {
    const sign = form === 'raw' || form === 'canonical' ? signKitRequest : signV2Request;
    const payload = form === 'raw' || form === 'v2-raw' ? rawBody : canonicalBody();
    if (payload === undefined) continue;
    const keyIndex = matches(sign, payload);
    if (keyIndex >= 0) return { ok: true, form, keyIndex, timestampMs, nonce: nc };
  }
  return { ok: false, reason: 'signature', message: 'x-sign mismatch' };
}
