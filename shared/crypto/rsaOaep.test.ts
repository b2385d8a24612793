import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientSecretError, decryptClientSecret, oaepDecode, type OaepScheme } from './rsaOaep.ts';

/**
 * The mixed scheme (OAEP-SHA-256 with MGF1-SHA-1) is decoded by hand in rsaOaep.ts, so its ciphertexts come from an
 * independent encryptor: the `openssl` CLI. Where openssl is missing, the test-side EME-OAEP encoder below
 * (written from RFC 8017 §7.1.1, sharing no code with the module) stands in; with openssl present, that encoder is
 * itself checked against `openssl pkeyutl -decrypt`.
 */
const HAS_OPENSSL = (() => {
  try {
    return /OpenSSL [3-9]\./.test(execFileSync('openssl', ['version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

const SECRET = 'c1ient-S3cret/with+chars=';
let privatePem: string;
let publicPem: string;
let otherPrivatePem: string;
let dir: string;
let files = 0;

beforeAll(() => {
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 3072,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  privatePem = pair.privateKey;
  publicPem = pair.publicKey;
  otherPrivatePem = generateKeyPairSync('rsa', {
    modulusLength: 3072,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
  dir = mkdtempSync(join(tmpdir(), 'rsa-oaep-test-'));
  writeFileSync(join(dir, 'pub.pem'), publicPem);
  writeFileSync(join(dir, 'key.pem'), privatePem, { mode: 0o600 });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Md = 'sha1' | 'sha256';

/** `openssl pkeyutl` over temp files; `mode` encrypt with the public key or decrypt with the private key. */
function openssl(mode: 'encrypt' | 'decrypt', input: Buffer, md: Md, mgf1Md: Md): Buffer {
  const n = files++;
  const [inFile, outFile] = [join(dir, `in-${n}`), join(dir, `out-${n}`)];
  writeFileSync(inFile, input);
  const keyArgs = mode === 'encrypt' ? ['-pubin', '-inkey', join(dir, 'pub.pem')] : ['-inkey', join(dir, 'key.pem')];
  execFileSync('openssl', [
    'pkeyutl', `-${mode}`, ...keyArgs,
    '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${md}`, '-pkeyopt', `rsa_mgf1_md:${mgf1Md}`,
    '-in', inFile, '-out', outFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(outFile);
}

// ---- test-side EME-OAEP encoding, RFC 8017 §7.1.1 (independent of rsaOaep.ts) ----
const H_LEN = { sha1: 20, sha256: 32 } as const;
function testMgf1(md: Md, seed: Buffer, length: number): Buffer {
  let t = Buffer.alloc(0);
  for (let counter = 0; t.length < length; counter++) {
    const c = Buffer.from([counter >>> 24, (counter >>> 16) & 0xff, (counter >>> 8) & 0xff, counter & 0xff]);
    t = Buffer.concat([t, createHash(md).update(Buffer.concat([seed, c])).digest()]);
  }
  return t.subarray(0, length);
}
const testXor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]!));
/** EM = 0x00 ‖ maskedSeed ‖ maskedDB for a given DB (so tests can also build defective DBs). */
function encodeDb(db: Buffer, mgf1Md: Md, hLen: number): Buffer {
  const seed = randomBytes(hLen);
  const maskedDb = testXor(db, testMgf1(mgf1Md, seed, db.length));
  const maskedSeed = testXor(seed, testMgf1(mgf1Md, maskedDb, hLen));
  return Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]);
}
/** DB = lHash ‖ PS ‖ 0x01 ‖ M for a k-byte modulus. */
function dataBlock(message: Buffer, md: Md, k: number): Buffer {
  const hLen = H_LEN[md];
  const ps = Buffer.alloc(k - message.length - 2 * hLen - 2);
  return Buffer.concat([createHash(md).update(Buffer.alloc(0)).digest(), ps, Buffer.from([1]), message]);
}
const K = 384; // 3072-bit modulus
const rawEncrypt = (em: Buffer) => publicEncrypt({ key: publicPem, padding: constants.RSA_NO_PADDING }, em);
const testSideEncrypt = (message: Buffer, md: Md, mgf1Md: Md) => rawEncrypt(encodeDb(dataBlock(message, md, K), mgf1Md, H_LEN[md]));

/** OAEP-SHA-256 / MGF1-SHA-1 ciphertext from the independent encryptor. */
const encryptMixed = (message: Buffer) =>
  HAS_OPENSSL ? openssl('encrypt', message, 'sha256', 'sha1') : testSideEncrypt(message, 'sha256', 'sha1');
const nodeEncrypt = (message: Buffer, oaepHash: Md) => publicEncrypt({ key: publicPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, message);

const b64 = (b: Buffer) => b.toString('base64');

/** Runs `fn`, expecting a ClientSecretError with `reason`; returns it. */
function failure(fn: () => unknown, reason: string): ClientSecretError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ClientSecretError);
    expect((error as ClientSecretError).name).toBe('ClientSecretError');
    expect((error as ClientSecretError).reason).toBe(reason);
    return error as ClientSecretError;
  }
  throw new Error('expected a ClientSecretError');
}

describe('decryptClientSecret', () => {
  it('decrypts OAEP-SHA-256/MGF1-SHA-256 (Node encryptor)', () => {
    expect(decryptClientSecret(privatePem, b64(nodeEncrypt(Buffer.from(SECRET), 'sha256')))).toEqual({ secret: SECRET, scheme: 'oaep-sha256' });
  });

  it('decrypts OAEP-SHA-1/MGF1-SHA-1 (Node encryptor)', () => {
    expect(decryptClientSecret(privatePem, b64(nodeEncrypt(Buffer.from(SECRET), 'sha1')))).toEqual({ secret: SECRET, scheme: 'oaep-sha1' });
  });

  it(`decrypts OAEP-SHA-256/MGF1-SHA-1 (${HAS_OPENSSL ? 'openssl CLI' : 'test-side RFC 8017 encoder: openssl missing'})`, () => {
    expect(decryptClientSecret(privatePem, b64(encryptMixed(Buffer.from(SECRET))))).toEqual({ secret: SECRET, scheme: 'oaep-sha256-mgf1-sha1' });
  });

  it.runIf(HAS_OPENSSL)('names the right scheme for each openssl-encrypted variant', () => {
    const variants: [Md, Md, OaepScheme][] = [['sha256', 'sha256', 'oaep-sha256'], ['sha1', 'sha1', 'oaep-sha1'], ['sha256', 'sha1', 'oaep-sha256-mgf1-sha1']];
    for (const [md, mgf1Md, scheme] of variants) {
      const ciphertext = openssl('encrypt', Buffer.from(SECRET), md, mgf1Md);
      expect(decryptClientSecret(privatePem, b64(ciphertext)), `${md}/${mgf1Md}`).toEqual({ secret: SECRET, scheme });
    }
  });

  it('needs the manual path for the mixed scheme: Node decrypts it under neither single hash', () => {
    const ciphertext = encryptMixed(Buffer.from(SECRET));
    for (const oaepHash of ['sha256', 'sha1']) {
      expect(() => privateDecrypt({ key: privatePem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ciphertext)).toThrow();
    }
  });

  it('decrypts non-ASCII, empty and longest-possible secrets under the mixed scheme', () => {
    const longest = 'x'.repeat(K - 2 * 32 - 2);
    for (const secret of ['秘密-ключ-é', longest, '\u0000lead']) {
      expect(decryptClientSecret(privatePem, b64(encryptMixed(Buffer.from(secret)))).secret).toBe(secret);
    }
    // openssl pkeyutl refuses an empty input file; the empty message comes from the test-side encoder
    expect(decryptClientSecret(privatePem, b64(testSideEncrypt(Buffer.alloc(0), 'sha256', 'sha1')))).toEqual({
      secret: '',
      scheme: 'oaep-sha256-mgf1-sha1',
    });
  });

  it('accepts base64url, missing padding, and whitespace or line breaks in the ciphertext', () => {
    const ciphertext = encryptMixed(Buffer.from(SECRET));
    const mime = b64(ciphertext).replace(/.{76}/g, '$&\r\n');
    for (const text of [ciphertext.toString('base64url'), b64(ciphertext).replace(/=+$/, ''), mime, ` ${b64(ciphertext)}\n\t`]) {
      expect(decryptClientSecret(privatePem, text).secret).toBe(SECRET);
    }
    // a ciphertext with + and / in base64 is the interesting case for base64url: make sure one was exercised
    const sample = Array.from({ length: 5 }, () => encryptMixed(Buffer.from(SECRET))).find((c) => /[+/]/.test(b64(c)))!;
    expect(decryptClientSecret(privatePem, sample.toString('base64url')).secret).toBe(SECRET);
  });

  it('accepts a PKCS#1 private key too', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const ciphertext = publicEncrypt({ key: publicKey, oaepHash: 'sha256' }, Buffer.from(SECRET));
    expect(decryptClientSecret(privateKey, b64(ciphertext)).secret).toBe(SECRET);
  });

  it('fails with reason decrypt for the wrong key, under every scheme', () => {
    for (const ciphertext of [nodeEncrypt(Buffer.from(SECRET), 'sha256'), nodeEncrypt(Buffer.from(SECRET), 'sha1'), encryptMixed(Buffer.from(SECRET))]) {
      failure(() => decryptClientSecret(otherPrivatePem, b64(ciphertext)), 'decrypt');
    }
  });

  it('fails with reason decrypt for a corrupted ciphertext, under every scheme', () => {
    for (const ciphertext of [nodeEncrypt(Buffer.from(SECRET), 'sha256'), nodeEncrypt(Buffer.from(SECRET), 'sha1'), encryptMixed(Buffer.from(SECRET))]) {
      for (const at of [0, 1, 100, K - 1]) {
        const corrupted = Buffer.from(ciphertext);
        corrupted[at]! ^= 0x01;
        // at 0 a flip can push the value above the modulus: still a decrypt failure, never a crash
        failure(() => decryptClientSecret(privatePem, b64(corrupted)), 'decrypt');
      }
    }
  });

  it('fails with reason ciphertext for a wrong length or a non-base64 text', () => {
    const ciphertext = encryptMixed(Buffer.from(SECRET));
    const short = failure(() => decryptClientSecret(privatePem, b64(ciphertext.subarray(1))), 'ciphertext');
    expect(short.message).toBe('clientSecret is 383 bytes, the key needs 384');
    failure(() => decryptClientSecret(privatePem, b64(Buffer.concat([ciphertext, Buffer.from([0])]))), 'ciphertext');
    for (const text of ['', '   ', 'not base64!', `${b64(ciphertext)}===`, `${b64(ciphertext).slice(0, -2)}-_`, 'A']) {
      failure(() => decryptClientSecret(privatePem, text), 'ciphertext');
    }
  });

  it('fails with reason key for an unreadable, encrypted or non-RSA key', () => {
    const ciphertext = b64(encryptMixed(Buffer.from(SECRET)));
    const encrypted = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' },
    }).privateKey;
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }).privateKey;
    for (const pem of ['', 'not a key', publicPem.replace(/PUBLIC/g, 'PRIVATE'), encrypted, ec]) {
      failure(() => decryptClientSecret(pem, ciphertext), 'key');
    }
  });

  it('fails with reason plaintext when the decrypted bytes are not UTF-8', () => {
    failure(() => decryptClientSecret(privatePem, b64(encryptMixed(Buffer.from([0x61, 0xff, 0xfe])))), 'plaintext');
  });

  it('never puts the key, the ciphertext or the plaintext in an error', () => {
    const secret = 'TOPSECRET-VALUE-42';
    const ciphertext = b64(encryptMixed(Buffer.from(secret)));
    const keyBody = privatePem.split('\n')[1]!;
    const errors = [
      failure(() => decryptClientSecret(otherPrivatePem, ciphertext), 'decrypt'),
      failure(() => decryptClientSecret(privatePem, `${ciphertext.slice(0, -4)}AAAA`), 'decrypt'),
      failure(() => decryptClientSecret(privatePem.replace(keyBody, keyBody.slice(0, 40)), ciphertext), 'key'),
      failure(() => decryptClientSecret(privatePem, `${ciphertext}!`), 'ciphertext'),
      failure(() => decryptClientSecret(privatePem, b64(encryptMixed(Buffer.from([0xff, ...Buffer.from(secret)])))), 'plaintext'),
    ];
    for (const error of errors) {
      const text = [String(error), error.message, error.stack ?? '', JSON.stringify(error), String(error.cause ?? '')].join('\n');
      expect(error.cause).toBeUndefined();
      for (const leak of [secret, ciphertext.slice(0, 24), keyBody.slice(0, 24), otherPrivatePem.split('\n')[1]!.slice(0, 24)]) {
        expect(text).not.toContain(leak);
      }
    }
  });
});

describe('oaepDecode (RFC 8017 §7.1.2)', () => {
  const rawDecrypt = (ciphertext: Buffer) => privateDecrypt({ key: privatePem, padding: constants.RSA_NO_PADDING }, ciphertext);

  it('decodes what OpenSSL encoded, for every hash combination (Node and openssl encryptors)', () => {
    const message = Buffer.from(SECRET);
    expect(oaepDecode(rawDecrypt(nodeEncrypt(message, 'sha256')), 'sha256', 'sha256')).toEqual(message);
    expect(oaepDecode(rawDecrypt(nodeEncrypt(message, 'sha1')), 'sha1', 'sha1')).toEqual(message);
    expect(oaepDecode(rawDecrypt(encryptMixed(message)), 'sha256', 'sha1')).toEqual(message);
  });

  it('rejects an encoding under the wrong hash combination', () => {
    const em = rawDecrypt(encryptMixed(Buffer.from(SECRET)));
    expect(oaepDecode(em, 'sha256', 'sha256')).toBeUndefined();
    expect(oaepDecode(em, 'sha1', 'sha1')).toBeUndefined();
    expect(oaepDecode(em, 'sha1', 'sha256')).toBeUndefined();
    expect(oaepDecode(em, 'sha256', 'sha1', Buffer.from('label'))).toBeUndefined();
  });

  it('rejects each defect of the encoded message', () => {
    const message = Buffer.from(SECRET);
    const good = dataBlock(message, 'sha256', K);
    expect(oaepDecode(encodeDb(good, 'sha1', 32), 'sha256', 'sha1')).toEqual(message); // the builder is sound
    const nonZeroY = encodeDb(good, 'sha1', 32);
    nonZeroY[0] = 1;
    const wrongLHash = Buffer.from(good);
    wrongLHash[5]! ^= 0x80;
    const separatorIndex = good.length - message.length - 1;
    const noSeparator = Buffer.from(good);
    noSeparator[separatorIndex] = 0; // all zeros up to the message, whose first byte is 'c' (not 0x01)
    const dirtyPs = Buffer.from(good);
    dirtyPs[40] = 0x02;
    const allZero = Buffer.concat([good.subarray(0, 32), Buffer.alloc(good.length - 32)]);
    for (const em of [nonZeroY, encodeDb(wrongLHash, 'sha1', 32), encodeDb(noSeparator, 'sha1', 32), encodeDb(dirtyPs, 'sha1', 32), encodeDb(allZero, 'sha1', 32)]) {
      expect(oaepDecode(em, 'sha256', 'sha1')).toBeUndefined();
    }
    expect(oaepDecode(Buffer.alloc(2 * 32 + 1), 'sha256', 'sha1')).toBeUndefined();
  });

  it('takes the first 0x01 as the separator: later 0x01 and 0x00 bytes belong to the message', () => {
    const message = Buffer.from([0x00, 0x01, 0x00, 0x01, 0x7f]);
    expect(oaepDecode(encodeDb(dataBlock(message, 'sha256', K), 'sha1', 32), 'sha256', 'sha1')).toEqual(message);
  });

  it.runIf(HAS_OPENSSL)('the test-side encoder agrees with openssl (so it is a fair stand-in when openssl is missing)', () => {
    const message = Buffer.from(SECRET);
    expect(openssl('decrypt', testSideEncrypt(message, 'sha256', 'sha1'), 'sha256', 'sha1')).toEqual(message);
    expect(openssl('decrypt', testSideEncrypt(message, 'sha1', 'sha1'), 'sha1', 'sha1')).toEqual(message);
  });
});
