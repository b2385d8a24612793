import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { CONFLICTING_HEADER, headerValue, signKitRequest, verifyKitRequest, type HeaderBag } from './kitSignature.ts';
import { canonicalJson, signV2Request } from './signature.ts';

// Spec 2.2, TV-KIT (computed).
const KEY = 'test-access-key-0123456789';
const TS = '1680508066618';
const TS_MS = 1680508066618;
const NONCE = '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA';
const BODY =
  '{"domainName":"https://example.tenantaccount.com","flag":1,"instanceId":"huaiweitest123456","name":"huaiweitest","orderId":"CS1906666666ABCDE","tenantCode":"huawei","tenantId":"68cbc86abc2018ab880d92f36422fa0e","testFlag":0,"timeStamp":"20220413093539534"}';
const X_SIGN = 'b1a88509eb72cef7c0cbdcc8fd8d17250d18bca4281fdd14647cf14ef7f260a7';
/** The same tenant-sync body with another key order and whitespace (a re-serializing proxy, say). */
const REORDERED =
  '{ "timeStamp": "20220413093539534", "testFlag": 0, "tenantId": "68cbc86abc2018ab880d92f36422fa0e",\n  "tenantCode": "huawei", "orderId": "CS1906666666ABCDE", "name": "huaiweitest", "instanceId": "huaiweitest123456", "flag": 1, "domainName": "https://example.tenantaccount.com" }';

const headers = (over: Record<string, string | string[] | undefined> = {}): HeaderBag => ({
  'x-sign': X_SIGN.toUpperCase(),
  'x-timestamp': TS,
  'x-nonce': NONCE,
  ...over,
});

/** A request as the marketplace would send it: TV-KIT values, upper-case signature. */
const request = (over: Partial<Parameters<typeof verifyKitRequest>[0]> = {}) => ({
  accessKeys: [KEY],
  headers: headers(),
  rawBody: BODY,
  nowMs: TS_MS,
  ...over,
});

describe('signKitRequest (TV-KIT)', () => {
  it('computes the x-sign of the spec', () => {
    expect(signKitRequest(KEY, NONCE, TS, BODY)).toBe(X_SIGN);
  });

  it('is the HMAC of key + nonce + timestamp + body itself (no inner HMAC, unlike 2.1)', () => {
    expect(createHmac('sha256', KEY).update(`${KEY}${NONCE}${TS}${BODY}`).digest('hex')).toBe(X_SIGN);
    expect(signV2Request(KEY, NONCE, TS, BODY)).not.toBe(X_SIGN);
  });

  it('gives the same signature for a string and its UTF-8 bytes', () => {
    const body = '{"name":"华为测试 é"}';
    expect(signKitRequest(KEY, NONCE, TS, Buffer.from(body, 'utf8'))).toBe(signKitRequest(KEY, NONCE, TS, body));
  });
});

describe('headerValue', () => {
  it('finds a header whatever the case of its name', () => {
    expect(headerValue({ 'X-Sign': 'a' }, 'x-sign')).toBe('a');
    expect(headerValue({ 'x-sign': 'a' }, 'X-SIGN')).toBe('a');
    expect(headerValue({ 'x-signature': 'a' }, 'x-sign')).toBeUndefined();
  });

  it('takes an array with one distinct value, and reports different values as a conflict', () => {
    expect(headerValue({ 'x-nonce': ['n', 'n'] }, 'x-nonce')).toBe('n');
    expect(headerValue({ 'x-nonce': ['n', 'm'] }, 'x-nonce')).toBe(CONFLICTING_HEADER);
    expect(headerValue({ 'x-nonce': 'n', 'X-Nonce': 'm' }, 'x-nonce')).toBe(CONFLICTING_HEADER);
    expect(headerValue({ 'x-nonce': undefined, 'X-Nonce': 'm' }, 'x-nonce')).toBe('m');
  });
});

describe('verifyKitRequest', () => {
  it('accepts TV-KIT with the upper-case x-sign Huawei sends, over the raw body', () => {
    expect(verifyKitRequest(request())).toEqual({ ok: true, form: 'raw', keyIndex: 0, timestampMs: TS_MS, nonce: NONCE });
  });

  it('accepts a lower-case x-sign and header names in any case', () => {
    expect(verifyKitRequest(request({ headers: { 'X-Sign': X_SIGN, 'X-Timestamp': TS, 'X-NONCE': NONCE } }))).toMatchObject({
      ok: true,
      form: 'raw',
    });
  });

  it('accepts a raw body given as the bytes received', () => {
    expect(verifyKitRequest(request({ rawBody: Buffer.from(BODY, 'utf8') }))).toMatchObject({ ok: true, form: 'raw' });
  });

  it('accepts the canonical form when the raw body has another key order and whitespace', () => {
    expect(canonicalJson(REORDERED)).toBe(BODY);
    expect(verifyKitRequest(request({ rawBody: REORDERED }))).toMatchObject({ ok: true, form: 'canonical', keyIndex: 0 });
  });

  it('accepts the 2.1 inner-HMAC variant over the raw body and says so', () => {
    const v2 = signV2Request(KEY, NONCE, TS, BODY);
    expect(verifyKitRequest(request({ headers: headers({ 'x-sign': v2.toUpperCase() }) }))).toMatchObject({
      ok: true,
      form: 'v2-raw',
    });
  });

  it('accepts the 2.1 inner-HMAC variant over the canonical form and says so', () => {
    const v2 = signV2Request(KEY, NONCE, TS, BODY);
    const verdict = verifyKitRequest(request({ rawBody: REORDERED, headers: headers({ 'x-sign': v2 }) }));
    expect(verdict).toMatchObject({ ok: true, form: 'v2-canonical' });
  });

  it('tolerates trailing whitespace only through the canonical form', () => {
    expect(verifyKitRequest(request({ rawBody: `${BODY}\n` }))).toMatchObject({ ok: true, form: 'canonical' });
  });

  it('tries only the forms it is given', () => {
    const v2 = signV2Request(KEY, NONCE, TS, BODY);
    const only22 = { forms: ['raw', 'canonical'] as const };
    expect(verifyKitRequest(request({ ...only22, headers: headers({ 'x-sign': v2 }) }))).toMatchObject({ ok: false, reason: 'signature' });
    expect(verifyKitRequest(request({ forms: ['raw'], rawBody: REORDERED }))).toMatchObject({ ok: false, reason: 'signature' });
    expect(verifyKitRequest(request({ forms: ['v2-raw'] }))).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('rejects a tampered body, in every form', () => {
    for (const rawBody of [BODY.replace('"flag":1', '"flag":0'), REORDERED.replace('"flag": 1', '"flag": 2'), BODY.replace('{', '{"extra":"1",')]) {
      expect(verifyKitRequest(request({ rawBody }))).toEqual({ ok: false, reason: 'signature', message: 'x-sign mismatch' });
    }
  });

  it('rejects a tampered signature, nonce or timestamp', () => {
    const flipped = (X_SIGN[0] === 'b' ? 'c' : 'b') + X_SIGN.slice(1);
    expect(verifyKitRequest(request({ headers: headers({ 'x-sign': flipped }) }))).toMatchObject({ ok: false, reason: 'signature' });
    expect(verifyKitRequest(request({ headers: headers({ 'x-nonce': NONCE.slice(1) }) }))).toMatchObject({ ok: false, reason: 'signature' });
    expect(verifyKitRequest(request({ headers: headers({ 'x-timestamp': String(TS_MS + 1) }) }))).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('accepts timestamps up to the window on either side and rejects stale or future ones', () => {
    expect(verifyKitRequest(request({ nowMs: TS_MS + 60_000 })).ok).toBe(true);
    expect(verifyKitRequest(request({ nowMs: TS_MS - 60_000 })).ok).toBe(true);
    expect(verifyKitRequest(request({ nowMs: TS_MS + 60_001 }))).toMatchObject({ ok: false, reason: 'timestamp' });
    expect(verifyKitRequest(request({ nowMs: TS_MS - 60_001 }))).toMatchObject({ ok: false, reason: 'timestamp' });
    expect(verifyKitRequest(request({ nowMs: TS_MS + 10_000, windowMs: 5_000 }))).toMatchObject({ ok: false, reason: 'timestamp' });
    expect(verifyKitRequest(request({ nowMs: Number.NaN }))).toMatchObject({ ok: false, reason: 'timestamp' });
  });

  it('reads x-timestamp as milliseconds: a correctly signed timestamp in seconds is out of the window', () => {
    const seconds = TS.slice(0, 10);
    const sign = signKitRequest(KEY, NONCE, seconds, BODY);
    const verdict = verifyKitRequest(request({ headers: headers({ 'x-sign': sign, 'x-timestamp': seconds }) }));
    expect(verdict).toMatchObject({ ok: false, reason: 'timestamp' });
  });

  it('reports each missing or empty header by name', () => {
    for (const name of ['x-sign', 'x-timestamp', 'x-nonce']) {
      for (const value of [undefined, '']) {
        const verdict = verifyKitRequest(request({ headers: headers({ [name]: value }) }));
        expect(verdict).toEqual({ ok: false, reason: 'missing', message: `missing header ${name}` });
      }
    }
    expect(verifyKitRequest(request({ headers: {} }))).toEqual({
      ok: false,
      reason: 'missing',
      message: 'missing header x-sign, x-timestamp, x-nonce',
    });
  });

  it('rejects malformed headers as format errors', () => {
    const cases: Record<string, string | string[]>[] = [
      { 'x-sign': X_SIGN.slice(1) },
      { 'x-sign': `${X_SIGN}0` },
      { 'x-sign': `g${X_SIGN.slice(1)}` },
      { 'x-sign': Buffer.from(X_SIGN, 'hex').toString('base64') },
      { 'x-timestamp': `${TS}.0` },
      { 'x-timestamp': `-${TS}` },
      { 'x-timestamp': '12345678901234567' },
      { 'x-nonce': 'has space' },
      { 'x-nonce': 'n'.repeat(129) },
      { 'x-nonce': 'é' },
      { 'x-sign': [X_SIGN, X_SIGN.replace('b', 'c')] },
    ];
    for (const over of cases) {
      expect(verifyKitRequest(request({ headers: headers(over) })), JSON.stringify(over)).toMatchObject({ ok: false, reason: 'format' });
    }
    const conflicting = { ...headers(), 'X-Sign': X_SIGN.replace('b', 'c') };
    expect(verifyKitRequest(request({ headers: conflicting }))).toEqual({ ok: false, reason: 'format', message: 'malformed x-sign header' });
  });

  it('accepts a header repeated with the same value', () => {
    expect(verifyKitRequest(request({ headers: headers({ 'x-sign': [X_SIGN.toUpperCase(), X_SIGN.toUpperCase()] }) })).ok).toBe(true);
  });

  it('accepts the second key of a rotation list and skips empty keys', () => {
    expect(verifyKitRequest(request({ accessKeys: ['old-key', KEY] }))).toMatchObject({ ok: true, keyIndex: 1 });
    expect(verifyKitRequest(request({ accessKeys: ['', KEY] }))).toMatchObject({ ok: true, keyIndex: 1 });
    expect(verifyKitRequest(request({ accessKeys: [] }))).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('never accepts a signature made with the empty key', () => {
    const sign = signKitRequest('', NONCE, TS, BODY);
    expect(verifyKitRequest(request({ accessKeys: ['', KEY], headers: headers({ 'x-sign': sign }) }))).toMatchObject({
      ok: false,
      reason: 'signature',
    });
  });

  it('rejects a wrong key without revealing the key, the body or the expected signature', () => {
    const verdict = verifyKitRequest(request({ accessKeys: ['another-key'] }));
    expect(verdict).toMatchObject({ ok: false, reason: 'signature' });
    const text = JSON.stringify(verdict).toLowerCase();
    expect(text).not.toContain('another-key');
    expect(text).not.toContain(X_SIGN);
    expect(text).not.toContain('huaiweitest');
    expect(text).not.toContain(signKitRequest('another-key', NONCE, TS, BODY));
  });

  it('verifies any body signed with any key, and no other body', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), fc.string(), (key, body, other) => {
        const sign = signKitRequest(key, NONCE, TS, body);
        const base = { accessKeys: [key], headers: headers({ 'x-sign': sign }), nowMs: TS_MS };
        expect(verifyKitRequest({ ...base, rawBody: body })).toMatchObject({ ok: true, form: 'raw' });
        if (other !== body && canonicalJson(other) !== body) {
          expect(verifyKitRequest({ ...base, rawBody: other }).ok).toBe(false);
        }
      }),
    );
  });
});
