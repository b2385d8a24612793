import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
// Deep imports of Huawei's Node SDK core (CommonJS, no "exports" map): the signer the official SDKs use.
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials.js';
import { formatSdkDate, signApigRequest, verifyApigRequest, type ApigRequest } from './apigSigner.ts';
import { hmacSha256 } from './signature.ts';

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
const signatureOf = (authorization: string | undefined) => /Signature=([0-9a-f]{64})$/.exec(authorization ?? '')?.[1];
/** Signature over a StringToSign built from a known canonical-request hash (spec 2.8 steps 2-3). */
const signHash = (sk: string, sdkDate: string, hash: string) =>
  hmacSha256(sk, `SDK-HMAC-SHA256\n${sdkDate}\n${hash}`).toString('hex');

describe('TV-APIG-1 (official)', () => {
  const AK = 'QTWAOYTTINDUT2QVKYUC';
  const SK = 'MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc';
  const HASH = 'b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a';
  const now = new Date('2019-11-15T03:36:55Z');
  const headers = signApigRequest(
    {
      method: 'GET',
      url: 'https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0',
      headers: { 'Content-Type': 'application/json' },
    },
    AK,
    SK,
    now,
  );

  it('the canonical request of the spec hashes to the published value', () => {
    const canonical = [
      'GET',
      '/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/',
      'limit=2&marker=13551d6b-755d-4757-b956-536f674975c0',
      'content-type:application/json',
      'host:service.region.example.com',
      'x-sdk-date:20191115T033655Z',
      '',
      'content-type;host;x-sdk-date',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ].join('\n');
    expect(sha256Hex(canonical)).toBe(HASH);
  });

  it('our signature is the HMAC of the StringToSign over that canonical-request hash', () => {
    expect(signatureOf(headers.Authorization)).toBe(signHash(SK, '20191115T033655Z', HASH));
  });

  it('produces the exact headers', () => {
    expect(headers).toEqual({
      'Content-Type': 'application/json',
      'X-Sdk-Date': '20191115T033655Z',
      Host: 'service.region.example.com',
      Authorization:
        'SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    });
  });
});

describe('TV-APIG-2', () => {
  it('signs the License activate call', () => {
    const headers = signApigRequest(
      {
        method: 'POST',
        url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate',
        headers: { 'x-stage': 'RELEASE', 'Content-Type': 'application/json' },
      },
      'test',
      '123',
      new Date('2024-03-17T14:42:37Z'),
    );
    const signature = '77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d';
    expect(headers.Authorization).toBe(
      `SDK-HMAC-SHA256 Access=test, SignedHeaders=content-type;host;x-sdk-date;x-stage, Signature=${signature}`,
    );
    expect(signHash('123', '20240317T144237Z', '9a33b07351104f6c775075faa7dc0db58ec18bc532feaa8fd0b8fcf7990b1a9e')).toBe(signature);
  });
});

describe('formatSdkDate', () => {
  it('formats UTC without milliseconds', () => {
    expect(formatSdkDate(new Date('2019-11-15T03:36:55.999Z'))).toBe('20191115T033655Z');
  });
});

describe('signApigRequest details', () => {
  const now = new Date('2024-03-17T14:42:37Z');
  const sign = (url: string, headers?: Record<string, string>) => signApigRequest({ method: 'GET', url, headers }, 'ak', 'sk', now);

  it('keeps a non-default port in Host and drops a default one', () => {
    expect(sign('https://example.com:8443/x').Host).toBe('example.com:8443');
    expect(sign('https://example.com:443/x').Host).toBe('example.com');
    expect(sign('http://example.com:80/x').Host).toBe('example.com');
  });

  it('signs equivalent spellings of a path or query identically', () => {
    expect(sign('https://h.example.com/a b/é').Authorization).toBe(sign('https://h.example.com/a%20b/%C3%A9').Authorization);
    expect(sign('https://h.example.com/v1/x').Authorization).toBe(sign('https://h.example.com/v1/x/').Authorization);
    expect(sign('https://h.example.com/?b=2&a=1&a=0').Authorization).toBe(sign('https://h.example.com/?a=0&a=1&b=2').Authorization);
    expect(sign('https://h.example.com/?q=%7E%2a').Authorization).toBe(sign('https://h.example.com/?q=~*').Authorization);
    expect(sign('https://h.example.com/?a').Authorization).toBe(sign('https://h.example.com/?a=').Authorization);
  });

  it("takes '+' in the query literally, not as a space", () => {
    expect(sign('https://h.example.com/?q=a+b').Authorization).toBe(sign('https://h.example.com/?q=a%2Bb').Authorization);
    expect(sign('https://h.example.com/?q=a+b').Authorization).not.toBe(sign('https://h.example.com/?q=a%20b').Authorization);
  });

  it('replaces caller-supplied Host / X-Sdk-Date / Authorization and rejects case-duplicated headers', () => {
    const headers = sign('https://h.example.com/', { host: 'evil', 'x-sdk-date': 'x', authorization: 'x', Accept: 'application/json' });
    expect(Object.keys(headers).sort()).toEqual(['Accept', 'Authorization', 'Host', 'X-Sdk-Date']);
    expect(headers.Authorization).toContain('SignedHeaders=accept;host;x-sdk-date,');
    expect(() => sign('https://h.example.com/', { 'X-A': '1', 'x-a': '2' })).toThrow();
  });
});

describe('verifyApigRequest', () => {
  const AK = 'merchant-ak';
  const SK = 'merchant-sk';
  const lookup = (ak: string) => (ak === AK ? SK : undefined);
  const NOW = Date.parse('2024-03-17T14:42:37Z');
  const req: ApigRequest = {
    method: 'POST',
    url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/isv/usage-data?lang=zh%20CN&x=1',
    headers: { 'Content-Type': 'application/json' },
    body: '{"usage_records":[{"instance_id":"x"}]}',
  };
  const signed = signApigRequest(req, AK, SK, new Date(NOW));
  /** What a server sees: lower-case header names, path+query only. */
  const incoming = {
    method: 'POST',
    url: '/api/mkp-openapi-public/global/v1/isv/usage-data?lang=zh%20CN&x=1',
    headers: Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toLowerCase(), v])),
    body: req.body,
  };

  it('round-trips with an absolute URL and original header case', () => {
    expect(verifyApigRequest({ ...req, headers: signed }, lookup, NOW)).toEqual({ ok: true, ak: AK });
  });

  it('round-trips with path+query and lower-case header names', () => {
    expect(verifyApigRequest(incoming, lookup, NOW)).toEqual({ ok: true, ak: AK });
  });

  it('accepts dates up to 15 minutes away and rejects stale ones', () => {
    expect(verifyApigRequest(incoming, lookup, NOW + 15 * 60_000).ok).toBe(true);
    expect(verifyApigRequest(incoming, lookup, NOW - 15 * 60_000).ok).toBe(true);
    expect(verifyApigRequest(incoming, lookup, NOW + 15 * 60_000 + 1000)).toEqual({
      ok: false,
      reason: 'X-Sdk-Date outside the allowed window',
    });
    expect(verifyApigRequest(incoming, lookup, NOW + 61_000, 60_000).ok).toBe(false);
  });

  it.each([
    ['tampered query', { url: incoming.url.replace('x=1', 'x=2') }],
    ['added query parameter', { url: `${incoming.url}&y=1` }],
    ['tampered path', { url: incoming.url.replace('usage-data', 'usage-datb') }],
    ['tampered body', { body: '{"usage_records":[{"instance_id":"y"}]}' }],
    ['tampered method', { method: 'PUT' }],
    ['tampered signed header', { headers: { ...incoming.headers, 'content-type': 'text/plain' } }],
  ])('rejects a %s', (_, over) => {
    expect(verifyApigRequest({ ...incoming, ...over }, lookup, NOW)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('rejects a wrong SK without revealing the secret or the expected signature', () => {
    const verdict = verifyApigRequest(incoming, () => 'other-sk', NOW);
    expect(verdict).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('rejects an unknown AK, a missing or malformed Authorization and missing signed headers', () => {
    expect(verifyApigRequest(incoming, () => undefined, NOW)).toEqual({ ok: false, reason: 'unknown access key' });
    const { authorization, ...noAuth } = incoming.headers;
    expect(verifyApigRequest({ ...incoming, headers: noAuth }, lookup, NOW).ok).toBe(false);
    expect(verifyApigRequest({ ...incoming, headers: { ...noAuth, authorization: `${authorization}x` } }, lookup, NOW).ok).toBe(false);
    const { 'content-type': _ct, ...noContentType } = incoming.headers;
    expect(verifyApigRequest({ ...incoming, headers: noContentType }, lookup, NOW)).toMatchObject({ ok: false });
    const repeated = { ...incoming.headers, 'content-type': ['application/json', 'application/json'] };
    expect(verifyApigRequest({ ...incoming, headers: repeated }, lookup, NOW).ok).toBe(false);
    const withoutDate = (authorization ?? '').replace('content-type;host;x-sdk-date', 'content-type;host');
    expect(verifyApigRequest({ ...incoming, headers: { ...noAuth, authorization: withoutDate } }, lookup, NOW)).toEqual({
      ok: false,
      reason: 'SignedHeaders must include host and x-sdk-date',
    });
  });

  it('rejects a malformed X-Sdk-Date', () => {
    const headers = { ...incoming.headers, 'x-sdk-date': '2024-03-17T14:42:37Z' };
    expect(verifyApigRequest({ ...incoming, headers }, lookup, NOW)).toEqual({ ok: false, reason: 'malformed X-Sdk-Date' });
  });
});

/**
 * Cross-check against Huawei's Node SDK core signer. Its quirks, avoided by the cases below:
 * - it hashes `JSON.stringify(request.data)`, so a JSON body is passed as the object (a string would get quoted);
 * - it takes query parameters as a decoded object and the path from `endpoint` without decoding it first;
 * - it does not trim header values and orders canonical headers with `localeCompare`.
 */
describe('agrees with @huaweicloud/huaweicloud-sdk-core AKSKSigner', () => {
  const AK = 'QTWAOYTTINDUT2QVKYUC';
  const SK = 'MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc';
  const credentials = new BasicCredentials().withAk(AK).withSk(SK);
  const now = new Date('2024-03-17T14:42:37Z');

  const cases: Array<{
    name: string;
    ours: ApigRequest;
    sdk: { method: string; endpoint: string; queryParams?: Record<string, string | string[]>; data?: unknown; headers: Record<string, string> };
  }> = [
    {
      name: 'GET with a query needing encoding, repeated names and reserved characters in names',
      ours: {
        method: 'GET',
        url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query?orderId=CS2211181819B4LVS&q=a%20b%2Bc%2F%C3%A9~*%26%3D&tag=b&tag=a&aZ=1&a%5B=2&empty=',
        headers: { 'Content-Type': 'application/json' },
      },
      sdk: {
        method: 'GET',
        endpoint: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query',
        queryParams: { orderId: 'CS2211181819B4LVS', q: 'a b+c/é~*&=', tag: ['b', 'a'], aZ: '1', 'a[': '2', empty: '' },
        headers: { 'Content-Type': 'application/json' },
      },
    },
    {
      name: 'POST with a JSON body',
      ours: {
        method: 'POST',
        url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/isv/usage-data',
        headers: { 'Content-Type': 'application/json', 'X-Stage': 'RELEASE' },
        body: JSON.stringify({ usage_records: [{ instance_id: 'x', usage_value: 1.5, note: '华为' }] }),
      },
      sdk: {
        method: 'POST',
        endpoint: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/isv/usage-data',
        data: { usage_records: [{ instance_id: 'x', usage_value: 1.5, note: '华为' }] },
        headers: { 'Content-Type': 'application/json', 'X-Stage': 'RELEASE' },
      },
    },
    {
      name: 'path without trailing slash on a non-default port',
      ours: { method: 'DELETE', url: 'https://example.com:8443/v1/items/item-1', headers: { Accept: 'application/json' } },
      sdk: { method: 'DELETE', endpoint: 'https://example.com:8443/v1/items/item-1', headers: { Accept: 'application/json' } },
    },
  ];

  it.each(cases)('$name', ({ ours, sdk }) => {
    const expected = AKSKSigner.sign({ ...sdk, headers: { ...sdk.headers, 'X-Sdk-Date': formatSdkDate(now) } }, credentials) as Record<
      string,
      string
    >;
    const actual = signApigRequest(ours, AK, SK, now);
    expect(actual.Authorization).toBe(expected.Authorization);
    expect(actual.Host).toBe(expected.host);
    expect(verifyApigRequest({ ...ours, headers: expected }, (ak) => (ak === AK ? SK : undefined), now.getTime())).toEqual({
      ok: true,
      ak: AK,
    });
  });
});
