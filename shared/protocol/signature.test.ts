import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  bodySignHeader,
  canonicalJson,
  hmacSha256,
  signV2Request,
  usagePushSignature,
  verifyV2Request,
} from './signature.ts';

// Spec 2.1, TV-V2 (computed).
const KEY = 'test-access-key-0123456789';
const TS = '1680508066618';
const TS_MS = 1680508066618;
const NONCE = '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA';
const BODY =
  '{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}';
const INNER = 'a163fd7da9ea3e12b9c6f842f6a283f1098f0f1e923bb279cfef9705b675d45a';
const SIGNATURE = '3e6c441280dda9ba2661d872ed105e09b73cb40364bd7872a3d75b378738f63f';

/** A request as the marketplace would send it: TV-V2 values, upper-case signature. */
const request = (over: Partial<Parameters<typeof verifyV2Request>[0]> = {}) => ({
  accessKeys: [KEY],
  signature: SIGNATURE.toUpperCase(),
  timestamp: TS,
  nonce: NONCE,
  rawBody: BODY,
  nowMs: TS_MS,
  ...over,
});

describe('signV2Request (TV-V2)', () => {
  it('computes the inner HMAC and the signature of the spec', () => {
    expect(hmacSha256(KEY, BODY).toString('hex')).toBe(INNER);
    expect(hmacSha256(KEY, `${KEY}${NONCE}${TS}${INNER}`).toString('hex')).toBe(SIGNATURE);
    expect(signV2Request(KEY, NONCE, TS, BODY)).toBe(SIGNATURE);
  });

  it('hmacSha256 gives the same MAC for a string and its UTF-8 bytes', () => {
    expect(hmacSha256(KEY, 'é€')).toEqual(hmacSha256(KEY, Buffer.from('é€', 'utf8')));
  });
});

describe('verifyV2Request', () => {
  it('accepts the upper-case signature Huawei sends', () => {
    expect(verifyV2Request(request())).toEqual({ ok: true, form: 'raw', keyIndex: 0, timestampMs: TS_MS });
  });

  it('accepts a lower-case signature too', () => {
    expect(verifyV2Request(request({ signature: SIGNATURE })).ok).toBe(true);
  });

  it('accepts the canonical form when the raw body has another key order and whitespace', () => {
    const raw = '{ "testFlag": "1", "orderLineId": "CS2211181819B4LVS-000001",\n "orderId": "CS2211181819B4LVS", "businessId": "87b94795-0603-4e24-8ae5-69420d60e3c8", "activity": "newInstance" }';
    expect(canonicalJson(raw)).toBe(BODY);
    expect(verifyV2Request(request({ rawBody: raw }))).toEqual({ ok: true, form: 'canonical', keyIndex: 0, timestampMs: TS_MS });
  });

  it('accepts a body whose null members were dropped before signing', () => {
    const raw = BODY.replace('{', '{"extendParams":null,');
    expect(verifyV2Request(request({ rawBody: raw }))).toMatchObject({ ok: true, form: 'canonical' });
  });

  it('rejects a tampered body', () => {
    const verdict = verifyV2Request(request({ rawBody: BODY.replace('"testFlag":"1"', '"testFlag":"0"') }));
    expect(verdict).toEqual({ ok: false, reason: 'signature', message: 'signature mismatch' });
  });

  it('rejects a wrong key without revealing the key or the expected signature', () => {
    const verdict = verifyV2Request(request({ accessKeys: ['another-key'] }));
    expect(verdict).toMatchObject({ ok: false, reason: 'signature' });
    const text = JSON.stringify(verdict).toLowerCase();
    expect(text).not.toContain('another-key');
    expect(text).not.toContain(SIGNATURE);
  });

  it('accepts the second key of a rotation list', () => {
    expect(verifyV2Request(request({ accessKeys: ['old-key', KEY] }))).toMatchObject({ ok: true, keyIndex: 1 });
  });

  it('skips empty keys and fails with no keys', () => {
    const emptyKeySig = signV2Request('', NONCE, TS, BODY);
    expect(verifyV2Request(request({ accessKeys: [''], signature: emptyKeySig })).ok).toBe(false);
    expect(verifyV2Request(request({ accessKeys: [] }))).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('accepts |now - ts| = 60 000 ms in both directions and rejects 60 001 ms', () => {
    expect(verifyV2Request(request({ nowMs: TS_MS + 60_000 })).ok).toBe(true);
    expect(verifyV2Request(request({ nowMs: TS_MS - 60_000 })).ok).toBe(true);
    const late = verifyV2Request(request({ nowMs: TS_MS + 60_001 }));
    expect(late).toEqual({ ok: false, reason: 'timestamp', message: 'timestamp outside the 60 s window' });
    expect(verifyV2Request(request({ nowMs: TS_MS - 60_001 }))).toMatchObject({ ok: false, reason: 'timestamp' });
  });

  it('honours a custom window', () => {
    expect(verifyV2Request(request({ nowMs: TS_MS + 120_000, windowMs: 120_000 })).ok).toBe(true);
    expect(verifyV2Request(request({ nowMs: TS_MS + 120_001, windowMs: 120_000 })).ok).toBe(false);
  });

  it('reads a seconds-magnitude timestamp as seconds (signed over the string as sent)', () => {
    const ts = '1680508066';
    const signature = signV2Request(KEY, NONCE, ts, BODY);
    expect(verifyV2Request(request({ timestamp: ts, signature, nowMs: 1680508066000 + 30_000 }))).toEqual({
      ok: true,
      form: 'raw',
      keyIndex: 0,
      timestampMs: 1680508066000,
    });
  });

  it.each([
    ['no signature', { signature: undefined }],
    ['short signature', { signature: SIGNATURE.slice(0, 63) }],
    ['non-hex signature', { signature: `${SIGNATURE.slice(0, 63)}g` }],
    ['no timestamp', { timestamp: undefined }],
    ['non-digit timestamp', { timestamp: '1680508066618.5' }],
    ['negative timestamp', { timestamp: '-1680508066618' }],
    ['no nonce', { nonce: undefined }],
    ['empty nonce', { nonce: '' }],
    ['nonce with whitespace', { nonce: 'abc def' }],
    ['nonce longer than 128', { nonce: 'a'.repeat(129) }],
  ])('reports %s as missing', (_, over) => {
    expect(verifyV2Request(request(over))).toEqual({
      ok: false,
      reason: 'missing',
      message: 'missing signature, timestamp or nonce',
    });
  });

  it('verifies a non-JSON body over the raw text only', () => {
    const raw = 'activity=newInstance&testFlag=1';
    expect(canonicalJson(raw)).toBeUndefined();
    const signature = signV2Request(KEY, NONCE, TS, raw);
    expect(verifyV2Request(request({ rawBody: raw, signature }))).toMatchObject({ ok: true, form: 'raw' });
    expect(verifyV2Request(request({ rawBody: `${raw} ` , signature })).ok).toBe(false);
  });
});

describe('canonicalJson', () => {
  it('sorts nested keys, drops null members (not array elements), keeps non-ASCII unescaped', () => {
    expect(canonicalJson('{"z":{"b":1,"a":[{"d":1,"c":null},null]},"y":"华为 é","x":null}')).toBe(
      '{"y":"华为 é","z":{"a":[{"d":1},null],"b":1}}',
    );
  });

  it('orders integer-like keys by code point, not the JS enumeration order', () => {
    expect(canonicalJson('{"b":1,"9":2,"10":3}')).toBe('{"10":3,"9":2,"b":1}');
  });

  it('orders by code point beyond the BMP', () => {
    // UTF-16 code units would put U+1F600 (D83D…) before U+FF21; code points put it after.
    expect(canonicalJson('{"😀":1,"Ａ":2}')).toBe('{"Ａ":2,"😀":1}');
  });

  it('keeps a __proto__ member', () => {
    expect(canonicalJson('{"__proto__":{"b":1,"a":2}}')).toBe('{"__proto__":{"a":2,"b":1}}');
  });

  it('handles scalars and rejects non-JSON', () => {
    expect(canonicalJson(' "x" ')).toBe('"x"');
    expect(canonicalJson('null')).toBe('null');
    expect(canonicalJson('')).toBeUndefined();
    expect(canonicalJson('{a:1}')).toBeUndefined();
  });
});

describe('bodySignHeader (TV-BODY)', () => {
  it('produces the exact header value of the spec', () => {
    const body = '{"resultCode":"000000","resultMsg":"success.","instanceId":"61e834ba-7b97-4418-b8f7-e5345137278c"}';
    expect(bodySignHeader(KEY, body)).toBe('sign_type="HMAC-SHA256", signature= "AkFCaSAWhfy9EedCtda2mQ8UF74ZbW2KInls34KrZBs="');
  });
});

describe('usagePushSignature (TV-USAGE)', () => {
  it('produces the signature of the spec', () => {
    expect(usagePushSignature(KEY, TS, NONCE, '{"usage_records":[{"instance_id":"x"}]}')).toBe(
      'OyY/WsapNAjcu2kcVD8JCddpyL6J3g9GEnaqq8NpmKE=',
    );
  });
});

describe('properties', () => {
  const HEX = '0123456789abcdef';
  /** Unique-keyed members in random order, serialized with random spacing. */
  const rawObject = fc
    .tuple(fc.uniqueArray(fc.tuple(fc.string(), fc.jsonValue()), { selector: ([k]) => k, maxLength: 8 }), fc.boolean())
    .map(([members, spaced]) => {
      const sep = spaced ? ', ' : ',';
      return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(sep)}}`;
    });

  it('a signature over the canonical form verifies whatever the key order', () => {
    fc.assert(
      fc.property(rawObject, fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 15 }), (raw, pos, shift) => {
        const canonical = canonicalJson(raw);
        expect(canonical).toBeDefined();
        const signature = signV2Request(KEY, NONCE, TS, canonical ?? '');
        expect(verifyV2Request(request({ rawBody: raw, signature: signature.toUpperCase() })).ok).toBe(true);

        const flipped = HEX[(HEX.indexOf(signature.charAt(pos)) + shift) % 16] ?? '';
        const tampered = signature.slice(0, pos) + flipped + signature.slice(pos + 1);
        expect(verifyV2Request(request({ rawBody: raw, signature: tampered }))).toMatchObject({ ok: false, reason: 'signature' });
      }),
    );
  });
});
