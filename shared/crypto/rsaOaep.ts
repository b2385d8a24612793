/**
 * Decryption of the Kit application-sync `clientSecret` (spec 2.6, 3.9.2): RSA-OAEP with the private key whose
 * public half the merchant registered (≥ 3072 bits). The OAEP hash, the MGF1 hash and the ciphertext encoding are
 * not documented (spec 7 item 13), so every scheme of the spec's recommendation is tried, in order:
 * 1. OAEP-SHA-256 with MGF1-SHA-256 (`crypto.privateDecrypt`, oaepHash sha256);
 * 2. OAEP-SHA-1 with MGF1-SHA-1 (`crypto.privateDecrypt`, oaepHash sha1; also Java's `RSA/ECB/OAEPPadding`);
 * 3. OAEP-SHA-256 with MGF1-SHA-1 (Java's default for `OAEPWithSHA-256AndMGF1Padding`): Node cannot mix the two
 *    hashes, so raw RSA (`RSA_NO_PADDING`) followed by the EME-OAEP decoding of RFC 8017 §7.1.2 step 3 (oaepDecode).
 * The result names the scheme that worked, to be recorded during console debugging.
 * Errors carry a reason and a fixed message: never the key, the ciphertext or the plaintext.
 * Call it only after the request's x-sign verified (2.2): a decryption oracle open to anyone is a padding oracle.
 */
import { constants, createHash, createPrivateKey, privateDecrypt, type KeyObject } from 'node:crypto';

export type OaepScheme = 'oaep-sha256' | 'oaep-sha1' | 'oaep-sha256-mgf1-sha1';

export type ClientSecretFailure = 'key' | 'ciphertext' | 'decrypt' | 'plaintext';

export class ClientSecretError extends Error {
  override readonly name = 'ClientSecretError';
  constructor(
    readonly reason: ClientSecretFailure,
    message: string,
  ) {
    super(message);
  }
}

type Hash = 'sha1' | 'sha256';
const HASH_LENGTH: Record<Hash, number> = { sha1: 20, sha256: 32 };

/** MGF1 (RFC 8017 B.2.1): T = Hash(seed ‖ C(0)) ‖ Hash(seed ‖ C(1)) ‖ … truncated to `length` bytes. */
export function mgf1(hash: Hash, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, produced = 0; produced < length; i++, produced += HASH_LENGTH[hash]) {
    counter.writeUInt32BE(i);
    blocks.push(createHash(hash).update(seed).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2 step 3) of the encoded message `em` (k bytes: the raw RSA output), with the
 * empty label, `hash` for the label hash and `mgfHash` for MGF1. Returns the message, or undefined on any defect.
 * Constant-time-minded: every byte is examined and all checks are folded into one flag before the only branch,
 * so which check failed is not observable (RFC 8017 §7.1.2 note: the failure cases must be indistinguishable).
 */
export function oaepDecode(em: Buffer, hash: Hash, mgfHash: Hash, label: Buffer = Buffer.alloc(0)): Buffer | undefined {
  const hLen = HASH_LENGTH[hash];
  const k = em.length;
  if (k < 2 * hLen + 2) return undefined; // public length check, not secret-dependent
  const lHash = createHash(hash).update(label).digest();
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seed = xor(maskedSeed, mgf1(mgfHash, maskedDb, hLen));
  const db = xor(maskedDb, mgf1(mgfHash, seed, k - hLen - 1));

  let bad = em[0]!; // Y must be 0
  for (let i = 0; i < hLen; i++) bad |= db[i]! ^ lHash[i]!;
  // DB = lHash' ‖ PS (zeros) ‖ 0x01 ‖ M: find the first non-zero byte after lHash' without an early exit
  let found = 0; // 1 once the separator has been seen
  let separator = 0; // index of the 0x01
  let invalid = 0; // a byte other than 0x00 / 0x01 before the separator
  for (let i = hLen; i < db.length; i++) {
    const byte = db[i]!;
    const isZero = ((byte | -byte) >>> 31) ^ 1; // 1 if byte == 0
    const isOne = (((byte ^ 1) | -(byte ^ 1)) >>> 31) ^ 1; // 1 if byte == 1
    const notFound = found ^ 1;
    const take = notFound & isOne;
    separator = (separator & (take - 1)) | (i & -take); // branch-free: separator = take ? i : separator
    invalid |= notFound & (isZero ^ 1) & (isOne ^ 1);
    found |= take;
  }
  bad |= invalid | (found ^ 1);
  if (bad !== 0) return undefined;
  return Buffer.from(db.subarray(separator + 1));
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Standard or URL-safe base64, padding optional; whitespace and line breaks are removed first. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeCiphertext(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  const unpadded = compact.replace(/=+$/, '');
  if (compact === '' || !BASE64.test(compact) || unpadded.length % 4 === 1 || /[+/]/.test(unpadded) && /[-_]/.test(unpadded)) {
    throw new ClientSecretError('ciphertext', 'clientSecret is not base64');
  }
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function loadKey(privateKeyPem: string): { key: KeyObject; k: number } {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new ClientSecretError('key', 'private key cannot be read (PEM, unencrypted RSA expected)');
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) throw new ClientSecretError('key', 'private key is not an RSA key');
  return { key, k: Math.ceil(bits / 8) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decrypts the application-sync `clientSecret` (spec 2.6) and names the OAEP scheme that worked.
 * Throws ClientSecretError: `key` (unreadable or non-RSA private key), `ciphertext` (not base64 / base64url, or
 * not exactly one RSA block of the key's size), `decrypt` (no scheme decodes: wrong key or corrupted ciphertext),
 * `plaintext` (decrypted bytes are not UTF-8).
 */
export function decryptClientSecret(privateKeyPem: string, ciphertextBase64: string): { secret: string; scheme: OaepScheme } {
  const { key, k } = loadKey(privateKeyPem);
  const ciphertext = decodeCiphertext(ciphertextBase64);
  if (ciphertext.length !== k) {
    throw new ClientSecretError('ciphertext', `clientSecret is ${ciphertext.length} bytes, the key needs ${k}`);
  }
  const plaintext = decrypt(key, ciphertext);
  if (plaintext === undefined) throw new ClientSecretError('decrypt', 'clientSecret does not decrypt with this key under any OAEP scheme');
  try {
    return { secret: utf8.decode(plaintext.bytes), scheme: plaintext.scheme };
  } catch {
    throw new ClientSecretError('plaintext', 'decrypted clientSecret is not UTF-8');
  } finally {
    plaintext.bytes.fill(0);
  }
}

function decrypt(key: KeyObject, ciphertext: Buffer): { bytes: Buffer; scheme: OaepScheme } | undefined {
  for (const [scheme, oaepHash] of [['oaep-sha256', 'sha256'], ['oaep-sha1', 'sha1']] as const) {
    try {
      return { bytes: privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ciphertext), scheme };
    } catch {
      // not this scheme (OpenSSL's error says nothing useful and is not passed on)
    }
  }
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    return undefined; // ciphertext ≥ modulus
  }
  // OpenSSL returns k bytes for RSA_NO_PADDING (leading zero included); left-pad defensively if it ever does not
  const k = ciphertext.length;
  const full = em.length === k ? em : Buffer.concat([Buffer.alloc(Math.max(0, k - em.length)), em]);
  const bytes = oaepDecode(full, 'sha256', 'sha1');
  em.fill(0);
  full.fill(0);
  return bytes === undefined ? undefined : { bytes, scheme: 'oaep-sha256-mgf1-sha1' };
}
