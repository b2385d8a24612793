import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createCipheriv } from 'node:crypto';
import { bodySignHeader } from './signature.ts';
import {
  authTokenParamsOfBody,
  computeAuthToken,
  decryptV1,
  deriveV1AesKey,
  encryptV1,
  parseV1Query,
  randomV1Iv,
  V1CryptoError,
  v1StringToSign,
  verifyAuthToken,
} from './v1.ts';

const KEY = 'test-access-key-0123456789';

// Spec 2.3, TV-V1-1 (computed).
const TS = '20200727073711903';
const TS_MS = Date.UTC(2020, 6, 27, 7, 37, 11, 903);
const TV1_PARAMS: Record<string, string> = {
  activity: 'newInstance',
  businessId: '61e834ba-7b97-4418-b8f7-e5345137278c',
  customerId: '68cbc86abc2018ab880d92f36422fa0e',
  expireTime: '20200727153156',
  orderId: 'CS1906666666ABCDE',
  productId: '00301-666666-0--0',
  testFlag: '1',
  timeStamp: TS,
};
const TV1_STRING =
  'activity=newInstance&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e&expireTime=20200727153156&orderId=CS1906666666ABCDE&productId=00301-666666-0--0&testFlag=1&timeStamp=20200727073711903';
const TV1_TOKEN = '+gY91I4Nb4jWMY6gsXkgA4vJI+2cFV2/LI4dAdCppU8=';
const TV1_TOKEN_IN_URL = '%2BgY91I4Nb4jWMY6gsXkgA4vJI%2B2cFV2%2FLI4dAdCppU8%3D';

// Spec 2.3, TV-V1-2 (computed, shows URL-decoding).
const TV2_QUERY =
  'activity=newInstance&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e&mobilePhone=Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg%3D%3D&orderId=CS1906666666ABCDE&productId=00301-666666-0--0&testFlag=1&timeStamp=20200727073711903';
const TV2_TOKEN = 'w3O4OZm8yE3SQPOfVhpSmDje0yUSbX8L5qB/2UshkEc=';
const TV2_TOKEN_IF_LEFT_ENCODED = 'ms3A08h7LKN5f1a99VsvWoIW30vsPu0GC4FYchcPbyY=';

/** TV-V1-1 as the marketplace sends it: shuffled parameter order, authToken percent-encoded. */
const TV1_QUERY = `testFlag=1&timeStamp=${TS}&authToken=${TV1_TOKEN_IN_URL}&orderId=CS1906666666ABCDE&activity=newInstance&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e&expireTime=20200727153156&productId=00301-666666-0--0`;

const parsed = (query: string): Record<string, string> => {
  const result = parseV1Query(query);
  if (!result.ok) throw new Error(`unexpected refusal: ${result.message}`);
  return result.params;
};

const verify = (over: Partial<Parameters<typeof verifyAuthToken>[0]> = {}) =>
  verifyAuthToken({ keys: [KEY], params: { ...TV1_PARAMS, authToken: TV1_TOKEN }, nowMs: TS_MS, ...over });

describe('v1StringToSign / computeAuthToken (TV-V1-1)', () => {
  it('builds the string to sign and the token of the spec', () => {
    expect(v1StringToSign(TV1_PARAMS)).toBe(TV1_STRING);
    expect(computeAuthToken(KEY, TV1_PARAMS)).toBe(TV1_TOKEN);
  });

  it('leaves authToken out of the string to sign and sorts whatever the insertion order', () => {
    const reversed = Object.fromEntries([['authToken', TV1_TOKEN], ...Object.entries(TV1_PARAMS).reverse()]);
    expect(v1StringToSign(reversed)).toBe(TV1_STRING);
    expect(computeAuthToken(KEY, reversed)).toBe(TV1_TOKEN);
  });

  it('sorts by code point: upper case before lower case, beyond the BMP after U+FF21', () => {
    expect(v1StringToSign({ b: '1', B: '2', a: '3', '😀': '4', 'Ａ': '5', '10': '6', '9': '7' })).toBe(
      '10=6&9=7&B=2&a=3&b=1&Ａ=5&😀=4',
    );
  });

  it('signs __proto__ like any other parameter', () => {
    const params = parsed(`__proto__=x&timeStamp=${TS}`);
    expect(v1StringToSign(params)).toBe(`__proto__=x&timeStamp=${TS}`);
  });

  it('throws without a timeStamp', () => {
    expect(() => computeAuthToken(KEY, { activity: 'newInstance' })).toThrow(RangeError);
  });
});

describe('TV-V1-2 (URL-decoding)', () => {
  it('decoded values give the correct token', () => {
    const params = parsed(TV2_QUERY);
    expect(params.mobilePhone).toBe('Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg==');
    expect(v1StringToSign(params)).toContain('&mobilePhone=Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg==&');
    expect(computeAuthToken(KEY, params)).toBe(TV2_TOKEN);
    const withToken = parsed(`${TV2_QUERY}&authToken=${encodeURIComponent(TV2_TOKEN)}`);
    expect(verifyAuthToken({ keys: [KEY], params: withToken, nowMs: TS_MS })).toEqual({ ok: true, keyIndex: 0, timestampMs: TS_MS });
  });

  it('values left encoded give the wrong token of the spec, which verification refuses', () => {
    const leftEncoded = Object.fromEntries(TV2_QUERY.split('&').map((pair) => pair.split('=') as [string, string]));
    expect(leftEncoded.mobilePhone).toBe('Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg%3D%3D');
    expect(computeAuthToken(KEY, leftEncoded)).toBe(TV2_TOKEN_IF_LEFT_ENCODED);
    const params = { ...parsed(TV2_QUERY), authToken: TV2_TOKEN_IF_LEFT_ENCODED };
    expect(verifyAuthToken({ keys: [KEY], params, nowMs: TS_MS })).toEqual({ ok: false, reason: 'token', message: 'authToken mismatch' });
  });

  it('the encrypted mobilePhone is the TV-AES ciphertext of 15905222222', () => {
    expect(decryptV1(KEY, parsed(TV2_QUERY).mobilePhone ?? '')).toBe('15905222222');
  });
});

describe('parseV1Query', () => {
  it('decodes the TV-V1-1 query including the percent-encoded authToken', () => {
    expect(parsed(TV1_QUERY)).toEqual({ ...TV1_PARAMS, authToken: TV1_TOKEN });
  });

  it('form-decodes: + is a space, %2B is a plus, UTF-8 escapes, names too', () => {
    expect(parsed('a=x+y&b=x%2By&c=%E5%8D%8E%E4%B8%BA&d%5B%5D=1')).toEqual({ a: 'x y', b: 'x+y', c: '华为', 'd[]': '1' });
  });

  it('keeps = in values, reads a bare name as an empty value, ignores empty segments', () => {
    expect(parsed('a=b=c&flag&&x=&')).toEqual({ a: 'b=c', flag: '', x: '' });
    expect(parsed('')).toEqual({});
  });

  it('keeps __proto__ as an own parameter', () => {
    const params = parsed('__proto__=1&a=2');
    expect(Object.keys(params)).toEqual(['__proto__', 'a']);
    expect(Object.hasOwn(params, '__proto__')).toBe(true);
  });

  it.each([
    ['a truncated escape', 'a=%E'],
    ['a non-hex escape', 'a=%zz'],
    ['a lone percent sign', 'a=100%'],
    ['an escape that is not UTF-8', 'a=%FF'],
    ['a truncated UTF-8 sequence', 'a=%E5%8D'],
    ['a malformed name', '%=1'],
    ['an empty name', '=1'],
  ])('refuses %s without throwing', (_, query) => {
    expect(parseV1Query(query)).toMatchObject({ ok: false, reason: 'format' });
  });

  it('refuses duplicates, also when they only coincide after decoding', () => {
    expect(parseV1Query('a=1&a=1')).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(parseV1Query(`${TV1_QUERY}&authToken=x`)).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(parseV1Query('a%20b=1&a+b=2')).toMatchObject({ ok: false, reason: 'duplicate' });
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('%', '+', '=', '&', 'a', 'F', '0', 'E', '8', 'é') }), (query) => {
        const result = parseV1Query(query);
        expect(typeof result.ok).toBe('boolean');
      }),
    );
  });
});

describe('verifyAuthToken', () => {
  it('accepts TV-V1-1', () => {
    expect(verify()).toEqual({ ok: true, keyIndex: 0, timestampMs: TS_MS });
    expect(verifyAuthToken({ keys: [KEY], params: parsed(TV1_QUERY), nowMs: TS_MS }).ok).toBe(true);
  });

  it('accepts the old and the new key of a rotation list, skipping empty slots', () => {
    expect(verify({ keys: ['', 'new-key', KEY] })).toMatchObject({ ok: true, keyIndex: 2 });
    expect(verify({ keys: [KEY, 'old-key'] })).toMatchObject({ ok: true, keyIndex: 0 });
    const newToken = computeAuthToken('new-key', TV1_PARAMS);
    expect(verify({ keys: ['', 'new-key', KEY], params: { ...TV1_PARAMS, authToken: newToken } })).toMatchObject({
      ok: true,
      keyIndex: 1,
    });
  });

  it('refuses a token made with an empty key, and any token with no keys', () => {
    const emptyKeyToken = computeAuthToken('', TV1_PARAMS);
    expect(verify({ keys: [''], params: { ...TV1_PARAMS, authToken: emptyKeyToken } })).toMatchObject({ ok: false, reason: 'token' });
    expect(verify({ keys: [] })).toMatchObject({ ok: false, reason: 'token' });
  });

  it('refuses a wrong key without revealing it or the expected token', () => {
    const verdict = verify({ keys: ['another-key'] });
    expect(verdict).toEqual({ ok: false, reason: 'token', message: 'authToken mismatch' });
    const text = JSON.stringify(verdict);
    expect(text).not.toContain('another-key');
    expect(text).not.toContain(computeAuthToken('another-key', TV1_PARAMS));
  });

  it('refuses a tampered parameter, an added parameter and a removed parameter', () => {
    expect(verify({ params: { ...TV1_PARAMS, testFlag: '0', authToken: TV1_TOKEN } })).toMatchObject({ reason: 'token' });
    expect(verify({ params: { ...TV1_PARAMS, extra: '', authToken: TV1_TOKEN } })).toMatchObject({ reason: 'token' });
    const { expireTime: _, ...withoutExpire } = TV1_PARAMS;
    expect(verify({ params: { ...withoutExpire, authToken: TV1_TOKEN } })).toMatchObject({ reason: 'token' });
  });

  it('refuses a tampered timeStamp even inside the window (it is part of the HMAC key and message)', () => {
    const later = '20200727073711904';
    expect(verify({ params: { ...TV1_PARAMS, timeStamp: later, authToken: TV1_TOKEN } })).toMatchObject({
      ok: false,
      reason: 'token',
    });
  });

  it('accepts ±10 minutes exactly and refuses one millisecond more, in both directions', () => {
    expect(verify({ nowMs: TS_MS + 600_000 }).ok).toBe(true);
    expect(verify({ nowMs: TS_MS - 600_000 }).ok).toBe(true);
    expect(verify({ nowMs: TS_MS + 600_001 })).toEqual({ ok: false, reason: 'timestamp', message: 'timeStamp outside the 10 min window' });
    expect(verify({ nowMs: TS_MS - 600_001 })).toMatchObject({ ok: false, reason: 'timestamp' });
  });

  it('honours a custom window', () => {
    expect(verify({ nowMs: TS_MS + 60_000, windowMs: 60_000 }).ok).toBe(true);
    expect(verify({ nowMs: TS_MS + 60_001, windowMs: 60_000 })).toMatchObject({ reason: 'timestamp' });
  });

  it.each([
    ['no authToken', { authToken: undefined }],
    ['no timeStamp', { timeStamp: undefined }],
  ])('reports %s as missing', (_, over) => {
    const params = Object.fromEntries(
      Object.entries({ ...TV1_PARAMS, authToken: TV1_TOKEN, ...over }).filter(([, v]) => v !== undefined),
    ) as Record<string, string>;
    expect(verify({ params })).toEqual({ ok: false, reason: 'missing', message: 'missing authToken or timeStamp' });
  });

  it('does not read authToken from the prototype chain', () => {
    const params = Object.create({ authToken: TV1_TOKEN }) as Record<string, string>;
    Object.assign(params, TV1_PARAMS);
    expect(verify({ params })).toMatchObject({ ok: false, reason: 'missing' });
  });

  it.each([
    ['a token still percent-encoded', { authToken: TV1_TOKEN_IN_URL }],
    ['a token whose + became a space', { authToken: TV1_TOKEN.replace(/\+/g, ' ') }],
    ['a truncated token', { authToken: TV1_TOKEN.slice(0, 43) }],
    ['a token without padding', { authToken: TV1_TOKEN.slice(0, 43) + 'A' }],
    ['a non-canonical last character', { authToken: `${TV1_TOKEN.slice(0, 42)}V=` }],
    ['a 14-digit timeStamp', { timeStamp: '20200727073711' }],
    ['an 18-digit timeStamp', { timeStamp: '202007270737119030' }],
    ['an impossible date', { timeStamp: '20200230073711903' }],
    ['hour 24', { timeStamp: '20200727243711903' }],
    ['a non-digit timeStamp', { timeStamp: '2020-07-27T07:37:1' }],
  ])('reports %s as format', (_, over) => {
    expect(verify({ params: { ...TV1_PARAMS, authToken: TV1_TOKEN, ...over } })).toEqual({
      ok: false,
      reason: 'format',
      message: 'malformed authToken or timeStamp',
    });
  });

  it('round trip: any parameters survive encode → parse → verify, and a flipped token character is refused', () => {
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const params = fc.dictionary(
      fc.string({ unit: 'grapheme', minLength: 1 }).filter((name) => name !== 'authToken' && name !== 'timeStamp'),
      fc.string({ unit: 'grapheme' }),
      { maxKeys: 8 },
    );
    fc.assert(
      fc.property(params, fc.integer({ min: 0, max: 41 }), fc.integer({ min: 1, max: 63 }), (extra, pos, shift) => {
        const all: Record<string, string> = { ...extra, timeStamp: TS };
        const token = computeAuthToken(KEY, all);
        const query = Object.entries({ ...all, authToken: token })
          .map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v).replace(/%20/g, '+')}`)
          .join('&');
        const received = parsed(query);
        expect(verifyAuthToken({ keys: [KEY], params: received, nowMs: TS_MS })).toMatchObject({ ok: true, keyIndex: 0 });

        const flipped = B64.charAt((B64.indexOf(token.charAt(pos)) + shift) % 64);
        const tampered = token.slice(0, pos) + flipped + token.slice(pos + 1);
        expect(verifyAuthToken({ keys: [KEY], params: { ...received, authToken: tampered }, nowMs: TS_MS })).toMatchObject({
          ok: false,
          reason: 'token',
        });
      }),
    );
  });
});

describe('authTokenParamsOfBody (V1 Kit)', () => {
  // The official V1 Kit body example (spec 2.3).
  const body = JSON.parse(
    '{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86abc2018ab880d92f36422fa0e","tenantCode":"huawei","name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}',
  ) as Record<string, unknown>;

  it('renders numbers as JSON text and strings as received, and signs in code-point order', () => {
    const params = authTokenParamsOfBody(body);
    expect(params).toEqual({
      instanceId: 'huaiweitest123456',
      orderId: 'CS1906666666ABCDE',
      tenantId: '68cbc86abc2018ab880d92f36422fa0e',
      tenantCode: 'huawei',
      name: 'huaiweitest',
      domainName: 'https://example.tenantaccount.com',
      flag: '1',
      testFlag: '0',
      timeStamp: '20220413093539534',
    });
    expect(v1StringToSign(params ?? {})).toBe(
      'domainName=https://example.tenantaccount.com&flag=1&instanceId=huaiweitest123456&name=huaiweitest&orderId=CS1906666666ABCDE&tenantCode=huawei&tenantId=68cbc86abc2018ab880d92f36422fa0e&testFlag=0&timeStamp=20220413093539534',
    );
  });

  it('verifies with the authToken header added, and refuses a changed field', () => {
    const params = authTokenParamsOfBody(body) ?? {};
    const header = computeAuthToken(KEY, params);
    const nowMs = Date.UTC(2022, 3, 13, 9, 35, 39, 534);
    expect(verifyAuthToken({ keys: [KEY], params: { ...params, authToken: header }, nowMs })).toMatchObject({ ok: true });
    const changed = authTokenParamsOfBody({ ...body, flag: 0 }) ?? {};
    expect(verifyAuthToken({ keys: [KEY], params: { ...changed, authToken: header }, nowMs })).toMatchObject({ reason: 'token' });
  });

  it('keeps JSON-string members (userList) as received and renders nested values as compact JSON', () => {
    const userList = '[{"userName":"a","name":"张三"}]';
    expect(authTokenParamsOfBody({ userList, nested: { b: [1, 'x'], a: null }, ok: true, none: null })).toEqual({
      userList,
      nested: '{"b":[1,"x"],"a":null}',
      ok: 'true',
    });
  });

  it('keeps a __proto__ member as an own parameter', () => {
    const params = authTokenParamsOfBody(JSON.parse('{"__proto__":{"a":1},"b":"2"}') as Record<string, unknown>);
    expect(params && Object.keys(params)).toEqual(['__proto__', 'b']);
    expect(params?.['__proto__']).toBe('{"a":1}');
  });

  it('refuses (undefined) a non-object body and a member too deep to render, without throwing', () => {
    expect(authTokenParamsOfBody([] as unknown as Record<string, unknown>)).toBeUndefined();
    expect(authTokenParamsOfBody(null as unknown as Record<string, unknown>)).toBeUndefined();
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    expect(authTokenParamsOfBody({ timeStamp: TS, deep })).toBeUndefined();
    expect(authTokenParamsOfBody({ timeStamp: TS, f: () => 1 })).toBeUndefined();
    expect(authTokenParamsOfBody({ timeStamp: TS, n: 1n })).toBeUndefined();
  });
});

describe('bodySignHeader (TV-BODY, reused from signature.ts)', () => {
  it('produces the header value of the spec', () => {
    const body = '{"resultCode":"000000","resultMsg":"success.","instanceId":"61e834ba-7b97-4418-b8f7-e5345137278c"}';
    expect(bodySignHeader(KEY, body)).toBe('sign_type="HMAC-SHA256", signature= "AkFCaSAWhfy9EedCtda2mQ8UF74ZbW2KInls34KrZBs="');
  });
});

// Spec 2.5, TV-AES (computed; Java and Node agree).
const IV = 'Ab3dE6gH9jK2mN5p';
const TV_AES: [string, '1' | '2', string, string][] = [
  ['AES-256 phone', '1', '15905222222', 'Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg=='],
  ['AES-128 phone', '2', '15905222222', 'Ab3dE6gH9jK2mN5pHb6O73IVg8Onn0TfRMsQtw=='],
  ['AES-256 password', '1', 'Huawei@12345', 'Ab3dE6gH9jK2mN5p4pM+JUXgfHflpz80XIQxrQ=='],
  ['AES-256 e-mail', '1', 'admin@example.com', 'Ab3dE6gH9jK2mN5pVyqY5ONjOxry7bh6LXeL+FQ/RtyY4uiwymMOGNE5qXM='],
  ['AES-128 e-mail', '2', 'admin@example.com', 'Ab3dE6gH9jK2mN5pZ9cwReAVj0BFEg94cMVDrl8SkCBNCbgK9yh4oKsvRig='],
];

describe('deriveV1AesKey (TV-AES)', () => {
  it('derives the keys of the spec', () => {
    expect(deriveV1AesKey(KEY, 256).toString('hex')).toBe('cdfd33cff66669675519443705d1fc6297a201b74335a5344c6ffa88f3bd24c0');
    expect(deriveV1AesKey(KEY, 128).toString('hex')).toBe('cdfd33cff66669675519443705d1fc62');
    expect(deriveV1AesKey('abc', 256).toString('hex')).toBe('0d3ced9bec10a777aec23ccc353a8c08a633045e09554bc3702aec7d7b6e0f28');
  });

  it('the AES-128 key is the prefix of the AES-256 key, and the key is not the raw Key bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (key) => {
        const k256 = deriveV1AesKey(key, 256);
        expect(k256).toHaveLength(32);
        expect(deriveV1AesKey(key, 128)).toEqual(k256.subarray(0, 16));
      }),
    );
    expect(deriveV1AesKey(KEY, 128).equals(Buffer.from(KEY).subarray(0, 16))).toBe(false);
  });
});

describe('encryptV1 / decryptV1 (TV-AES)', () => {
  it.each(TV_AES)('%s: encrypts to the output of the spec and decrypts back', (_, type, plaintext, output) => {
    expect(encryptV1(KEY, plaintext, type, IV)).toBe(output);
    expect(decryptV1(KEY, output)).toBe(plaintext);
  });

  it('defaults to AES-256', () => {
    expect(encryptV1(KEY, '15905222222', undefined, IV)).toBe('Ab3dE6gH9jK2mN5pan1kPgYgG5t2rHOnKg6mEg==');
  });

  it('draws a fresh 16-character [A-Za-z0-9] IV for each call', () => {
    const a = encryptV1(KEY, 'secret');
    const b = encryptV1(KEY, 'secret');
    expect(a.slice(0, 16)).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(a).not.toBe(b);
    expect(randomV1Iv()).toMatch(/^[A-Za-z0-9]{16}$/);
    const seen = new Set(Array.from({ length: 200 }, () => randomV1Iv()).join(''));
    expect(seen.size).toBe(62);
  });

  it('round trip for both encryption types and any plaintext that fits', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => Buffer.byteLength(s) <= 79),
        fc.constantFrom<'1' | '2'>('1', '2'),
        fc.string({ minLength: 1, maxLength: 20 }),
        (plaintext, type, key) => {
          const value = encryptV1(key, plaintext, type);
          expect(value.length).toBeLessThanOrEqual(128);
          expect(decryptV1(key, value)).toBe(plaintext);
        },
      ),
    );
  });

  it('accepts 79 UTF-8 bytes (124 characters) and refuses 80 (144 characters)', () => {
    expect(encryptV1(KEY, 'x'.repeat(79), '1', IV)).toHaveLength(124);
    expect(() => encryptV1(KEY, 'x'.repeat(80), '1', IV)).toThrow(V1CryptoError);
    expect(() => encryptV1(KEY, 'é'.repeat(40), '2', IV)).toThrow(/longer than 128 characters/);
  });

  it('refuses a bad IV, a bad encryptType and a lone surrogate', () => {
    expect(() => encryptV1(KEY, 'x', '1', 'short')).toThrow(V1CryptoError);
    expect(() => encryptV1(KEY, 'x', '1', 'Ab3dE6gH9jK2mN5-')).toThrow(V1CryptoError);
    expect(() => encryptV1(KEY, 'x', '3' as '1', IV)).toThrow(V1CryptoError);
    expect(() => encryptV1(KEY, 'a\ud800b', '1', IV)).toThrow(V1CryptoError);
  });

  it('a wrong key, a tampered ciphertext or a malformed value throws a V1CryptoError revealing nothing', () => {
    const [, , plaintext, output] = TV_AES[3] ?? ['', '1', '', ''];
    const attempts = [
      () => decryptV1('another-key', output),
      () => decryptV1(KEY, output.slice(0, -6) + 'AAAA' + output.slice(-2)),
      () => decryptV1(KEY, output.slice(0, 16)),
      () => decryptV1(KEY, `${output.slice(0, 16)}abc`),
      () => decryptV1(KEY, `${output.slice(0, 16)}${Buffer.alloc(15).toString('base64')}`),
      () => decryptV1(KEY, `${output} `),
      () => decryptV1(KEY, `Ab3dE6gH9jK2mN5${output.slice(16)}`),
      () => decryptV1(KEY, ''),
    ];
    for (const attempt of attempts) {
      let error: unknown;
      try {
        attempt();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(V1CryptoError);
      const { name, message } = error as Error;
      expect(name).toBe('V1CryptoError');
      for (const secret of [plaintext, KEY, 'another-key', output.slice(16)]) expect(message).not.toContain(secret);
    }
  });

  it('refuses a value encrypted with the raw Key bytes (the AES key must be the derived one)', () => {
    const raw = createCipheriv('aes-256-cbc', Buffer.from(KEY.padEnd(32, '0')), Buffer.from(IV));
    const value = IV + Buffer.concat([raw.update('15905222222'), raw.final()]).toString('base64');
    expect(() => decryptV1(KEY, value)).toThrow(V1CryptoError);
  });
});
