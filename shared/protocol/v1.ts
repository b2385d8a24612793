/**
 * KooGallery V1 protocol building blocks (spec section 2): the `authToken` request token (2.3) of the V1 basic
 * interfaces, the old License guide and the V1 Kit, and the V1 credential encryption (2.5) with its SHA1PRNG key
 * derivation. Responses are signed with `bodySignHeader` from ./signature.ts (2.4), not here.
 * Pure functions only: no handlers, no I/O, no logging. Strings are UTF-8 encoded before hashing or encrypting.
 */
import { createCipheriv, createDecipheriv, createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { byCodePoint, hmacSha256 } from './signature.ts';
import { parseMarketTime } from './time.ts';

// ---------------------------------------------------------------------------------------------------------------
// 2.3 authToken
// ---------------------------------------------------------------------------------------------------------------

/** Name of the token parameter (query parameter for V1 basic interfaces, HTTP header for the V1 Kit). */
export const AUTH_TOKEN = 'authToken';
/** Name of the timestamp parameter whose value is appended to the key (2.3 step 5). */
export const TIME_STAMP = 'timeStamp';


/**
 * String to sign (spec 2.3 steps 1, 3, 4): every parameter except `authToken`, sorted by name in code-point order,
 * joined as `name=value` with `&` (no leading `?`, no trailing `&`). Values must already be URL-decoded (step 2):
 * use `parseV1Query` for a raw query string, `authTokenParamsOfBody` for a V1 Kit body.
 */
export function v1StringToSign(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((name) => name !== AUTH_TOKEN)
    .sort(byCodePoint)
    .map((name) => `${name}=${params[name]}`)
    .join('&');
}

/**
 * authToken (spec 2.3 step 5): base64(HMAC-SHA256(key = Key + timeStamp, message = v1StringToSign(params))).
 * Throws a RangeError when `params` has no `timeStamp` (the token is undefined without it).
 */
export function computeAuthToken(key: string, params: Readonly<Record<string, string>>): string {
  const timeStamp = params[TIME_STAMP];
  if (timeStamp === undefined) throw new RangeError('authToken needs a timeStamp parameter');
  return hmacSha256(key + timeStamp, v1StringToSign(params)).toString('base64');
}

export type V1QueryResult =
  | { ok: true; params: Record<string, string> }
  | { ok: false; reason: 'format' | 'duplicate'; message: string };

/** `+` is a space, then percent-decoding (throws URIError on a malformed escape or invalid UTF-8). */
const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));

/**
 * Parses a raw query string (API Gateway `rawQueryString`, without the `?`) with form-decoding semantics, as the
 * servlet API of Huawei's Java sample does (spec 2.3 decoding note): `+` becomes a space, then names and values
 * are percent-decoded as UTF-8. Empty segments (`a=1&&b=2`, a trailing `&`) are ignored; a segment without `=`
 * is a parameter with an empty value. Refused, never thrown: a malformed percent escape or an escape that is not
 * UTF-8 ('format'), an empty name ('format'), a name given twice ('duplicate': which occurrence the marketplace
 * signed is unknowable). The returned map includes `authToken` as received (decoded); it is a plain object whose
 * own properties are exactly the parameters (a `__proto__` parameter is an own property too).
 */
export function parseV1Query(rawQueryString: string): V1QueryResult {
  const entries = new Map<string, string>();
  for (const segment of rawQueryString.split('&')) {
    if (segment === '') continue;
    const eq = segment.indexOf('=');
    const rawName = eq < 0 ? segment : segment.slice(0, eq);
    const rawValue = eq < 0 ? '' : segment.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = formDecode(rawName);
      value = formDecode(rawValue);
    } catch {
      return { ok: false, reason: 'format', message: 'malformed percent-encoding in the query string' };
    }
    if (name === '') return { ok: false, reason: 'format', message: 'query parameter without a name' };
    if (entries.has(name)) {
      return { ok: false, reason: 'duplicate', message: `duplicate query parameter ${JSON.stringify(name.slice(0, 64))}` };
    }
    entries.set(name, value);
  }
  return { ok: true, params: Object.fromEntries(entries) };
}

/**
 * Parameters of a V1 Kit POST body for the authToken (spec 2.3 step 1: "all top-level body fields"; 3.9.6).
 * The caller adds the `authToken` header value under `authToken` before calling `verifyAuthToken`.
 * Rendering of each top-level member value:
 * - string: as received (no URL-decoding: the official body example carries plain values such as a URL);
 * - number / boolean: JSON text (`1`, `0`, `true`);
 * - object / array: compact JSON text in the received member order (JSON.stringify).
 * - null (and undefined, which JSON never produces): the member is left out.
 * Uncertain (spec 2.3, 7 item 14): only a flat example exists. Numbers go through a JS double (`1.0` is rendered
 * `1`; integers beyond 2^53 lose precision) and Huawei's Java side may render nested values or nulls otherwise;
 * V1 sends `userList` / `orgInfo` as JSON *strings*, which are covered exactly (string as received).
 * Returns undefined (the caller refuses the request) when `body` is not a plain object or a member cannot be
 * rendered (nesting too deep for JSON.stringify): leaving such a member out would let a member be added to a
 * captured request without changing its token.
 */
export function authTokenParamsOfBody(body: Readonly<Record<string, unknown>>): Record<string, string> | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string') {
      entries.push([name, value]);
      continue;
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch {
      // nested deeper than the stack allows (hostile input), a BigInt or a cycle (not from JSON.parse)
      return undefined;
    }
    if (text === undefined) return undefined; // a function or symbol: not a JSON value
    entries.push([name, text]);
  }
  return Object.fromEntries(entries);
}

export type V1Failure = 'missing' | 'format' | 'timestamp' | 'token';
export type V1Verdict =
  | { ok: true; keyIndex: number; timestampMs: number }
  | { ok: false; reason: V1Failure; message: string };

/** An HMAC-SHA256 in standard base64: 43 characters and one `=`. The last character carries 4 bits (2 zero bits), hence [AEIMQUYcgkosw048]. */
const AUTH_TOKEN_FORMAT = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const TIME_STAMP_FORMAT = /^\d{17}$/;
/** The spec's recommended tolerance (2.3: none is documented, accept ±10 minutes). */
export const V1_WINDOW_MS = 10 * 60_000;

/**
 * Verifies a V1 authToken (spec 2.3). `params` are the decoded request parameters including `authToken`
 * (from `parseV1Query`, or `authTokenParamsOfBody` plus the header for the V1 Kit).
 * - 'missing': no `authToken` or no `timeStamp`;
 * - 'format': `authToken` is not 44 base64 characters (the length of a base64 HMAC-SHA256; a `+` the marketplace
 *   did not percent-encode would have become a space) or `timeStamp` is not a valid UTC `yyyyMMddHHmmssSSS`;
 * - 'timestamp': |nowMs - timeStamp| > windowMs (default ±10 minutes, both directions);
 * - 'token': no key gives the received token. Tokens are compared with crypto.timingSafeEqual; several keys are
 *   allowed so that a key can be rotated without downtime, and empty keys are skipped (an unset rotation slot
 *   must not become a known key). The verdict never contains a key or the expected token.
 */
export function verifyAuthToken(input: {
  keys: readonly string[];
  params: Readonly<Record<string, string>>;
  nowMs: number;
  windowMs?: number;
}): V1Verdict {
  const { keys, params, nowMs, windowMs = V1_WINDOW_MS } = input;
  const token = Object.hasOwn(params, AUTH_TOKEN) ? params[AUTH_TOKEN] : undefined;
  const timeStamp = Object.hasOwn(params, TIME_STAMP) ? params[TIME_STAMP] : undefined;
  if (token === undefined || timeStamp === undefined) {
    return { ok: false, reason: 'missing', message: 'missing authToken or timeStamp' };
  }
  const date = TIME_STAMP_FORMAT.test(timeStamp) ? parseMarketTime(timeStamp) : undefined;
  if (!AUTH_TOKEN_FORMAT.test(token) || date === undefined) {
    return { ok: false, reason: 'format', message: 'malformed authToken or timeStamp' };
  }
  const timestampMs = date.getTime();
  if (!(Math.abs(nowMs - timestampMs) <= windowMs)) {
    return { ok: false, reason: 'timestamp', message: `timeStamp outside the ${windowMs / 60_000} min window` };
  }
  const received = Buffer.from(token);
  const keyIndex = keys.findIndex(
    (key) => key !== '' && timingSafeEqual(Buffer.from(computeAuthToken(key, params)), received),
  );
  if (keyIndex >= 0) return { ok: true, keyIndex, timestampMs };
  return { ok: false, reason: 'token', message: 'authToken mismatch' };
}

// ---------------------------------------------------------------------------------------------------------------
// 2.5 credential encryption
// ---------------------------------------------------------------------------------------------------------------

/** `"1"` = AES-256-CBC (default), `"2"` = AES-128-CBC (spec 2.5, response field `encryptType`). */
export type EncryptType = '1' | '2';
const BITS_OF: Record<EncryptType, 256 | 128> = { '1': 256, '2': 128 };
/** Maximum length of an encrypted value, IV included (spec 2.5). */
export const V1_ENCRYPTED_MAX_LENGTH = 128;
const IV_LENGTH = 16;
const IV_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const IV_FORMAT = /^[A-Za-z0-9]{16}$/;
/** The IV as received: 16 printable ASCII characters (one byte each). Generated IVs are [A-Za-z0-9]. */
const RECEIVED_IV_FORMAT = /^[\x21-\x7e]{16}$/;
const BASE64_FORMAT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Thrown by encryptV1 / decryptV1. The message never contains a key, a plaintext or a ciphertext. */
export class V1CryptoError extends Error {
  override readonly name = 'V1CryptoError';
}

const sha1 = (data: Buffer): Buffer => createHash('sha1').update(data).digest();
const signedByte = (b: number): number => (b < 128 ? b : b - 256);

/**
 * AES key of the V1 credential encryption (spec 2.5): the first 32 (AES-256) or 16 (AES-128) bytes of Java's
 * SHA1PRNG stream seeded with the UTF-8 bytes of the Key before any output, exactly as the spec's pseudo-code
 * (state = SHA1(seed); each block = SHA1(state); state += block + 1 little-endian with Java's signed-byte carry;
 * if no state byte changed, state[0]++). The AES-128 key is therefore a prefix of the AES-256 key.
 */
export function deriveV1AesKey(key: string, bits: 256 | 128): Buffer {
  const keyBytes = bits / 8;
  const state = sha1(Buffer.from(key, 'utf8'));
  const blocks: Buffer[] = [];
  let produced = 0;
  while (produced < keyBytes) {
    const block = sha1(state);
    blocks.push(block);
    produced += block.length;
    let carry = 1;
    let changed = false;
    for (let i = 0; i < state.length; i++) {
      const v = signedByte(state[i] ?? 0) + signedByte(block[i] ?? 0) + carry;
      const newByte = v & 0xff;
      if (newByte !== state[i]) changed = true;
      state[i] = newByte;
      carry = v >> 8;
    }
    if (!changed) state[0] = ((state[0] ?? 0) + 1) & 0xff;
  }
  return Buffer.concat(blocks).subarray(0, keyBytes);
}

const cipherName = (bits: 256 | 128): string => `aes-${bits}-cbc`;

/** 16 characters from [A-Za-z0-9], each drawn with crypto.randomInt (uniform, CSPRNG). */
export function randomV1Iv(): string {
  let iv = '';
  for (let i = 0; i < IV_LENGTH; i++) iv += IV_ALPHABET.charAt(randomInt(IV_ALPHABET.length));
  return iv;
}

/**
 * Encrypts a credential for a V1 response (spec 2.5): `IV + base64(AES-CBC-PKCS#7(derivedKey, IV, UTF-8 plaintext))`
 * with AES-256 for encryptType "1" (default) and AES-128 for "2"; the IV is 16 random [A-Za-z0-9] characters
 * unless given (tests). Throws V1CryptoError when the given IV is not 16 [A-Za-z0-9] characters, when the plaintext
 * is not well-formed UTF-16 (a lone surrogate would not survive the round trip) or when the result would exceed
 * 128 characters (plaintexts of at most 79 UTF-8 bytes fit).
 */
export function encryptV1(key: string, plaintext: string, encryptType: EncryptType = '1', iv?: string): string {
  const ivText = iv ?? randomV1Iv();
  if (!IV_FORMAT.test(ivText)) throw new V1CryptoError('IV must be 16 characters from [A-Za-z0-9]');
  const bits = BITS_OF[encryptType];
  if (bits === undefined) throw new V1CryptoError('encryptType must be "1" or "2"');
  const data = Buffer.from(plaintext, 'utf8');
  if (data.toString('utf8') !== plaintext) throw new V1CryptoError('plaintext is not well-formed Unicode');
  const cipher = createCipheriv(cipherName(bits), deriveV1AesKey(key, bits), Buffer.from(ivText, 'latin1'));
  const result = ivText + Buffer.concat([cipher.update(data), cipher.final()]).toString('base64');
  if (result.length > V1_ENCRYPTED_MAX_LENGTH) {
    throw new V1CryptoError(`encrypted value longer than ${V1_ENCRYPTED_MAX_LENGTH} characters`);
  }
  return result;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function tryDecrypt(key: string, bits: 256 | 128, iv: Buffer, ciphertext: Buffer): string | undefined {
  try {
    const decipher = createDecipheriv(cipherName(bits), deriveV1AesKey(key, bits), iv);
    // A wrong key passes the PKCS#7 check about once in 256 tries; the fatal UTF-8 decoding turns almost all of
    // those into a failure too, so that the AES-128 attempt still runs.
    return utf8.decode(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch {
    return undefined;
  }
}

/**
 * Decrypts an inbound V1 value (`mobilePhone`, `email`; spec 2.5): the first 16 characters are the IV (as ASCII
 * bytes), the rest is the base64 ciphertext. Which encryptType the marketplace uses is not stated (spec 7 item 12),
 * so AES-256 is tried first, then AES-128; an attempt succeeds when the PKCS#7 padding is valid and the plaintext
 * is valid UTF-8. Throws V1CryptoError (without the value, the key or any partial plaintext) when the value is
 * malformed or neither attempt succeeds. The value must already be URL-decoded (parseV1Query does it).
 */
export function decryptV1(key: string, value: string): string {
  const ivText = value.slice(0, IV_LENGTH);
  const body = value.slice(IV_LENGTH);
  if (!RECEIVED_IV_FORMAT.test(ivText) || !BASE64_FORMAT.test(body)) {
    throw new V1CryptoError('encrypted value is not a 16-character IV followed by base64');
  }
  const ciphertext = Buffer.from(body, 'base64');
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw new V1CryptoError('encrypted value is not a whole number of AES blocks');
  }
  const iv = Buffer.from(ivText, 'latin1');
  const plaintext = tryDecrypt(key, 256, iv, ciphertext) ?? tryDecrypt(key, 128, iv, ciphertext);
  if (plaintext === undefined) throw new V1CryptoError('encrypted value does not decrypt with AES-256 or AES-128');
  return plaintext;
}
