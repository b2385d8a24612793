import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { OpenApiError, createMarketplaceClient, type MarketplaceClientConfig } from '#shared/openapi/client';
import {
  LICENSE_ACTIVATE_V1_PATH,
  LICENSE_ACTIVATE_V2_PATH,
  LICENSE_HEARTBEAT_V1_PATH,
  LicenseResult,
  buildLicenseUpload,
  licenseErrorCode,
  marketEventFilePath,
  parseActivatedLicense,
  parseLicenseInfo,
} from '#shared/openapi/license';
import { signApigRequest, verifyApigRequest } from '#shared/protocol/apigSigner';
import { formatMarketTime } from '#shared/protocol/time';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';
import type { RegisterLicense } from '#infra/local/licenses';

const AK = 'license-test-ak';
const SK = 'license-test-sk-0123456789';

let mkt: LocalMarketplace;
let backup: LocalMarketplace;

beforeAll(async () => {
  [mkt, backup] = await Promise.all([
    startLocalMarketplace({ port: 0, credentials: { [AK]: SK } }),
    startLocalMarketplace({ port: 0, credentials: { [AK]: SK } }),
  ]);
});
afterAll(async () => {
  await Promise.all([mkt.close(), backup.close()]);
});
beforeEach(() => {
  mkt.injectFaults({ count: 0, mode: 'error' });
  backup.injectFaults({ count: 0, mode: 'error' });
});

const client = (over: Partial<MarketplaceClientConfig> = {}, fetchImpl?: typeof fetch) =>
  createMarketplaceClient({ baseUrls: [mkt.url], ak: AK, sk: SK, ...over }, fetchImpl);

async function failure(p: Promise<unknown>): Promise<OpenApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenApiError);
  return err as OpenApiError;
}

let serial = 0;
const inAYear = formatMarketTime(new Date(Date.now() + 365 * 86_400_000));
/** Registers a fresh code on the given marketplaces (default: primary only) and returns it. */
function code(over: Partial<RegisterLicense> = {}, on: LocalMarketplace[] = [mkt]): string {
  const license = {
    code: `PLTEST${++serial}${Date.now()}`,
    status: 'UNACTIVATED' as const,
    expireTime: inAYear,
    productId: 'OFFI-LIC-1',
    orderId: `CS-LIC-${serial}`,
    amount: 3,
    ...over,
  };
  for (const m of on) m.registerLicense(license);
  return license.code;
}
const stateOf = (m: LocalMarketplace, c: string) => m.licenses().find((l) => l.code === c);

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** Records what the client sends, then forwards it to the real network (optionally altered). */
function recordingFetch(alter?: (req: Sent) => Sent) {
  const sent: Sent[] = [];
  const fetchImpl: typeof fetch = async (url, init) => {
    const req: Sent = {
      url: String(url),
      method: init?.method ?? 'GET',
      headers: init?.headers as Record<string, string>,
      body: init?.body as string | Buffer,
    };
    sent.push(req);
    const out = alter ? alter(req) : req;
    return fetch(out.url, { ...init, headers: out.headers, body: out.body });
  };
  return { sent, fetchImpl };
}

/** The spec 2.8 signature of a recorded request, checked over `body` (default: the bytes sent). */
const apigVerdict = (req: Sent, body: string | Buffer = req.body) =>
  verifyApigRequest(
    { method: req.method, url: req.url, headers: req.headers, body: body as string },
    (ak) => (ak === AK ? SK : undefined),
    Date.now(),
  );

describe('activateLicense (v1) against the local marketplace', () => {
  it('activates a code and parses license_code_info', async () => {
    const c = code({ amount: 7, productId: 'OFFI-P', orderId: 'CS-O' });
    const { sent, fetchImpl } = recordingFetch();
    const result = await client({}, fetchImpl).activateLicense(c, { realEffectTime: '20240317144237' });
    expect(result).toEqual({
      status: 'ALIVE',
      expireTime: inAYear,
      productId: 'OFFI-P',
      orderId: 'CS-O',
      amount: 7,
      raw: { status: 'ALIVE', expire_time: inAYear, product_id: 'OFFI-P', amount: 7, order_id: 'CS-O' },
    });
    expect(stateOf(mkt, c)).toMatchObject({ status: 'ALIVE', realEffectTime: '20240317144237' });

    const [req] = sent as [Sent];
    expect(req.url).toBe(`${mkt.url}${LICENSE_ACTIVATE_V1_PATH}`);
    expect(req.body).toBe(JSON.stringify({ license: c, real_effect_time: '20240317144237' }));
    expect(req.headers['Content-Type']).toBe('application/json');
    expect(apigVerdict(req)).toEqual({ ok: true, ak: AK });
    expect(apigVerdict(req, JSON.stringify({ license: 'PLOTHER' }))).toMatchObject({ ok: false });
    expect(mkt.calls().at(-1)).toEqual({ method: 'POST', path: LICENSE_ACTIVATE_V1_PATH, status: 200 });
  });

  it('sends only {license} without realEffectTime, and formats a Date as UTC yyyyMMddHHmmss', async () => {
    const { sent, fetchImpl } = recordingFetch();
    const c1 = code();
    await client({}, fetchImpl).activateLicense(c1);
    expect(sent[0]!.body).toBe(JSON.stringify({ license: c1 }));
    const c2 = code();
    await client({}, fetchImpl).activateLicense(c2, { realEffectTime: new Date(Date.UTC(2025, 0, 2, 3, 4, 5)) });
    expect(JSON.parse(sent[1]!.body as string)).toEqual({ license: c2, real_effect_time: '20250102030405' });
  });

  it.each<[string, () => string, string, string]>([
    ['already activated', () => code({ status: 'ALIVE' }), LicenseResult.ILLEGAL_STATE, '92020003'],
    ['expired', () => 'PLMOCKEXPIRED01', LicenseResult.ILLEGAL_STATE, '92020003'],
    ['not claimed', () => code({ claimed: false }), LicenseResult.NOT_CLAIMED, '92020004'],
    ['unknown', () => 'PLNOSUCHCODE', LicenseResult.NOT_FOUND, '92020005'],
  ])('%s -> a business error with its code, without falling back', async (_, make, expected, literal) => {
    expect(expected).toBe(literal);
    const c = make();
    const before = backup.calls().length;
    const err = await failure(client({ baseUrls: [mkt.url, backup.url] }).activateLicense(c));
    expect(err).toMatchObject({ kind: 'business', code: literal });
    expect(err.message).toMatch(new RegExp(`^activate license: ${literal} \\(`));
    expect(licenseErrorCode(err)).toBe(literal);
    expect(backup.calls()).toHaveLength(before);
  });

  it('a second activation of the same code answers 92020003 (callers treat it as done)', async () => {
    const c = code();
    await client().activateLicense(c);
    const err = await failure(client().activateLicense(c));
    expect(licenseErrorCode(err)).toBe(LicenseResult.ILLEGAL_STATE);
  });

  it('refuses an empty or too long code and a malformed realEffectTime before sending', async () => {
    const { sent, fetchImpl } = recordingFetch();
    for (const [c, options] of [
      ['', {}],
      ['P'.repeat(65), {}],
      ['PLX', { realEffectTime: '2024-03-17 14:42:37' }],
      ['PLX', { realEffectTime: '20240230000000' }],
      ['PLX', { realEffectTime: new Date(NaN) }],
    ] as const) {
      const err = await failure(client({}, fetchImpl).activateLicense(c, options));
      expect(err.kind).toBe('request');
      expect(licenseErrorCode(err)).toBeUndefined();
    }
    expect(sent).toEqual([]);
  });
});

describe('activateLicenses (v2 batch) against the local marketplace', () => {
  it('activates every code and returns data as received', async () => {
    const codes = [code(), code()];
    const { sent, fetchImpl } = recordingFetch();
    const result = await client({}, fetchImpl).activateLicenses(codes, { realEffectTime: '20260102153555' });
    expect(sent[0]!.url).toBe(`${mkt.url}${LICENSE_ACTIVATE_V2_PATH}`);
    expect(sent[0]!.body).toBe(JSON.stringify({ license_list: codes, real_effect_time: '20260102153555' }));
    expect(apigVerdict(sent[0]!)).toEqual({ ok: true, ak: AK });
    const list = (result.data as { license_code_info_list: Array<{ license: string; license_code_info: string }> })
      .license_code_info_list;
    expect(list.map((i) => i.license)).toEqual(codes);
    expect(parseActivatedLicense(list[0])).toMatchObject({ status: 'ALIVE', amount: 3 });
    for (const c of codes) expect(stateOf(mkt, c)?.status).toBe('ALIVE');
  });

  it('92020020 for a batch holding an invalid code: nothing is activated, the marketplace data is in details', async () => {
    const good = code();
    const alive = code({ status: 'ALIVE' });
    const err = await failure(client().activateLicenses([good, 'PLNOSUCHCODE', alive]));
    expect(err).toMatchObject({ kind: 'business', code: '92020020' });
    expect(err.details).toEqual({
      invalid_license_list: [
        { license: 'PLNOSUCHCODE', error_code: '92020005' },
        { license: alive, error_code: '92020003' },
      ],
    });
    expect(stateOf(mkt, good)?.status).toBe('UNACTIVATED');
  });

  it('refuses 0 or 101 codes, duplicates and invalid codes before sending; 100 are sent', async () => {
    const { sent, fetchImpl } = recordingFetch();
    const hundred = Array.from({ length: 100 }, () => code());
    for (const codes of [[], [...hundred, code()], ['PLA', 'PLA'], ['PLA', '']]) {
      const err = await failure(client({}, fetchImpl).activateLicenses(codes));
      expect(err.kind).toBe('request');
      expect(err.message).toMatch(/^activate licenses: /);
    }
    expect(sent).toEqual([]);
    await client({}, fetchImpl).activateLicenses(hundred);
    expect(sent).toHaveLength(1);
    expect(hundred.every((c) => stateOf(mkt, c)?.status === 'ALIVE')).toBe(true);
  });
});

describe('licenseHeartbeat against the local marketplace', () => {
  it('parses LicenseInfo, sends only {license}, and the mock counts the calls per code', async () => {
    const c = code();
    await client().activateLicense(c);
    const { sent, fetchImpl } = recordingFetch();
    const info = await client({}, fetchImpl).licenseHeartbeat(c);
    expect(info).toEqual({
      licenseCode: c,
      status: 'ALIVE',
      activateTime: expect.stringMatching(/^\d{14}$/),
      expireTime: inAYear,
      raw: { license_code: c, status: 'ALIVE', activate_time: info.activateTime, expire_time: inAYear },
    });
    expect(sent[0]!.url).toBe(`${mkt.url}${LICENSE_HEARTBEAT_V1_PATH}`);
    expect(sent[0]!.body).toBe(JSON.stringify({ license: c })); // no deprecated heartbeatInfo
    expect(apigVerdict(sent[0]!)).toEqual({ ok: true, ak: AK });
    expect(mkt.heartbeatCount(c)).toBe(1);
    await client().licenseHeartbeat(c);
    expect(mkt.heartbeatCount(c)).toBe(2);
  });

  it('reports EXPIRED and RELEASED codes (mock codes, and an ALIVE code past its expiry)', async () => {
    expect((await client().licenseHeartbeat('PLMOCKEXPIRED01')).status).toBe('EXPIRED');
    expect((await client().licenseHeartbeat('PLMOCKRELEASED01')).status).toBe('RELEASED');
    expect((await client().licenseHeartbeat('PLMOCKALIVE01')).status).toBe('ALIVE');
    const lapsed = code({ status: 'ALIVE', expireTime: '20200101000000', activateTime: '20190101000000' });
    expect(await client().licenseHeartbeat(lapsed)).toMatchObject({ status: 'EXPIRED', activateTime: '20190101000000' });
  });

  it('92020011 for a code not activated, 92020005 for an unknown one', async () => {
    const c = code();
    expect(licenseErrorCode(await failure(client().licenseHeartbeat(c)))).toBe('92020011');
    expect(mkt.heartbeatCount(c)).toBe(1);
    expect(licenseErrorCode(await failure(client().licenseHeartbeat('PLNOSUCHCODE')))).toBe('92020005');
  });

  it('a success without the mandatory LicenseInfo fields is malformed; unknown fields are kept in raw', async () => {
    const stub = (body: unknown) => async () => new Response(JSON.stringify(body), { status: 200 });
    const err = await failure(
      client({}, stub({ error_code: '92020000', error_msg: 'success', data: { status: 'ALIVE' } })).licenseHeartbeat('PL1'),
    );
    expect(err.kind).toBe('malformed');
    const data = { license_code: 'PL1', status: 'FROZEN', activate_time: '20240101000000', extra: 1 };
    expect(await client({}, stub({ error_code: '92020000', data })).licenseHeartbeat('PL1')).toEqual({
      licenseCode: 'PL1',
      status: 'FROZEN',
      activateTime: '20240101000000',
      raw: data,
    });
    expect((await failure(client({}, stub({ data })).licenseHeartbeat('PL1'))).kind).toBe('malformed');
    expect(parseLicenseInfo(null)).toBeUndefined();
  });
});

describe('fallback host (same rule as the other open APIs)', () => {
  it('takes over after an HTTP 503 on the primary', async () => {
    const c = code({}, [mkt, backup]);
    mkt.injectFaults({ count: 1, mode: 'error' });
    const result = await client({ baseUrls: [mkt.url, backup.url] }).activateLicense(c);
    expect(result.status).toBe('ALIVE');
    expect(mkt.calls().at(-1)).toEqual({ method: 'POST', path: LICENSE_ACTIVATE_V1_PATH, status: 503, fault: 'error' });
    expect(backup.calls().at(-1)).toEqual({ method: 'POST', path: LICENSE_ACTIVATE_V1_PATH, status: 200 });
    expect(stateOf(mkt, c)?.status).toBe('UNACTIVATED');
    expect(stateOf(backup, c)?.status).toBe('ALIVE');
  });

  it('takes over when the primary cannot be reached, and after a timeout', async () => {
    const closed = await startLocalMarketplace({ port: 0, credentials: {} });
    await closed.close();
    expect((await client({ baseUrls: [closed.url, mkt.url] }).licenseHeartbeat('PLMOCKALIVE01')).status).toBe('ALIVE');

    mkt.injectFaults({ count: 1, mode: 'timeout' });
    const info = await client({ baseUrls: [mkt.url, backup.url], timeoutMs: 150 }).licenseHeartbeat('PLMOCKALIVE01');
    expect(info.status).toBe('ALIVE');
    expect(mkt.calls().at(-1)).toMatchObject({ path: LICENSE_HEARTBEAT_V1_PATH, status: 0, fault: 'timeout' });
  });

  it('does NOT take over after a business error (injected 92020001, or a real 92020004)', async () => {
    const before = backup.calls().length;
    mkt.injectFaults({ count: 1, mode: 'business' });
    const injected = await failure(client({ baseUrls: [mkt.url, backup.url] }).activateLicense(code({}, [mkt, backup])));
    expect(injected).toMatchObject({ kind: 'business', code: '92020001' });
    const unclaimed = await failure(client({ baseUrls: [mkt.url, backup.url] }).activateLicenses([code({ claimed: false })]));
    expect(unclaimed).toMatchObject({ kind: 'business', code: '92020020' });
    expect(backup.calls()).toHaveLength(before);
  });

  it('a wrong SK is refused by the mock with HTTP 401 APIGW.0301, not retried, credentials not leaked', async () => {
    const before = backup.calls().length;
    const err = await failure(client({ baseUrls: [mkt.url, backup.url], sk: 'wrong-sk-5150' }).licenseHeartbeat('PLMOCKALIVE01'));
    expect(err).toMatchObject({ kind: 'http', status: 401, code: 'APIGW.0301' });
    expect(err.message).not.toContain('wrong-sk-5150');
    expect(err.message).not.toContain(AK);
    expect(licenseErrorCode(err)).toBeUndefined();
    expect(backup.calls()).toHaveLength(before);
  });
});

describe('uploadLicense against the local marketplace', () => {
  it('uploads a License string; the mock verifies the sha256 and stores it by event id', async () => {
    const characters = 'LICENSE-é-∑-' + 'x'.repeat(100);
    const { sent, fetchImpl } = recordingFetch();
    const result = await client({}, fetchImpl).uploadLicense('evt-chars-1', { characters });
    const sha256 = createHash('sha256').update(characters, 'utf8').digest('hex');
    expect(result).toEqual({ sha256 });
    expect(mkt.uploads().at(-1)).toEqual({ eventId: 'evt-chars-1', type: 'CHARACTERS', characters, sha256 });

    const [req] = sent as [Sent];
    expect(req.url).toBe(`${mkt.url}${marketEventFilePath('evt-chars-1')}`);
    expect(req.headers['Content-Type']).toMatch(/^multipart\/form-data; boundary=\S+$/);
    expect(Buffer.isBuffer(req.body)).toBe(true);
    expect(apigVerdict(req)).toEqual({ ok: true, ak: AK });
    expect(mkt.calls().at(-1)).toEqual({ method: 'POST', path: marketEventFilePath('evt-chars-1'), status: 200 });
  });

  it('uploads a binary file: the signature and the sha256 cover the exact bytes (not valid UTF-8)', async () => {
    const file = Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x2d, 0x2d, 0x80, ...Buffer.from('end')]);
    const { sent, fetchImpl } = recordingFetch();
    const { sha256 } = await client({}, fetchImpl).uploadLicense('evt/file 2', { file, fileName: 'lic"ense.dat' });
    expect(sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(mkt.uploads().at(-1)).toEqual({ eventId: 'evt/file 2', type: 'FILE', fileName: 'lic"ense.dat', file, sha256 });
    expect(sent[0]!.url).toBe(`${mkt.url}/api/mkp-openapi-public/global/v1/market-event/evt%2Ffile%202/file`);
    const asText = Buffer.from(sent[0]!.body as Buffer).toString('utf8');
    expect(apigVerdict(sent[0]!, asText)).toMatchObject({ ok: false }); // a string round trip would break it
    expect(apigVerdict(sent[0]!)).toEqual({ ok: true, ak: AK });
  });

  it('a body altered after signing is refused by the mock (HTTP 401 APIGW.0301); nothing is stored', async () => {
    const before = mkt.uploads().length;
    const { fetchImpl } = recordingFetch((req) => {
      const body = Buffer.from(req.body as Buffer);
      body[body.indexOf('ORIGINAL')] = 'T'.charCodeAt(0);
      return { ...req, body };
    });
    const err = await failure(client({}, fetchImpl).uploadLicense('evt-tamper', { characters: 'ORIGINAL' }));
    expect(err).toMatchObject({ kind: 'http', status: 401, code: 'APIGW.0301' });
    expect(mkt.uploads()).toHaveLength(before);
  });

  it('a sha256 not matching the content is refused by the mock with 92020002 (the request itself correctly signed)', async () => {
    const before = mkt.uploads().length;
    const built = buildLicenseUpload({ characters: 'ORIGINAL' }, 'FIXEDBOUNDARY');
    const forged = Buffer.from(built.body.toString('utf8').replace('ORIGINAL', 'ORIGINAX')); // hash part left stale
    const url = `${mkt.url}${marketEventFilePath('evt-bad-hash')}`;
    const headers = signApigRequest(
      { method: 'POST', url, headers: { 'Content-Type': built.contentType }, body: forged.toString('utf8') },
      AK,
      SK,
    );
    const res = await fetch(url, { method: 'POST', headers, body: forged });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ error_code: '92020002', error_msg: 'sha256 does not match the content' });
    expect(mkt.uploads()).toHaveLength(before);

    // the same request with the original bytes is accepted
    const good = signApigRequest(
      { method: 'POST', url, headers: { 'Content-Type': built.contentType }, body: built.body.toString('utf8') },
      AK,
      SK,
    );
    expect(await (await fetch(url, { method: 'POST', headers: good, body: built.body })).json()).toMatchObject({
      error_code: '92020000',
    });
  });

  it('refuses an invalid event id, empty or over-long characters and an empty file before sending', async () => {
    const { sent, fetchImpl } = recordingFetch();
    for (const [eventId, upload] of [
      ['', { characters: 'x' }],
      ['e'.repeat(65), { characters: 'x' }],
      ['evt', { characters: '' }],
      ['evt', { characters: 'x'.repeat(1025) }],
      ['evt', { file: Buffer.alloc(0), fileName: 'a' }],
      ['evt', { file: Buffer.from('a'), fileName: '' }],
    ] as const) {
      expect((await failure(client({}, fetchImpl).uploadLicense(eventId, upload))).kind).toBe('request');
    }
    expect(sent).toEqual([]);
    await client({}, fetchImpl).uploadLicense('evt', { characters: 'x'.repeat(1024) });
    expect(sent).toHaveLength(1);
  });

  it('a business answer from the upload API is an error with its code; MKT.0000 counts as success', async () => {
    const stub = (body: unknown) => async () => new Response(JSON.stringify(body), { status: 200 });
    const err = await failure(
      client({}, stub({ error_code: '95000001', error_msg: 'bad' })).uploadLicense('e', { characters: 'x' }),
    );
    expect(err).toMatchObject({ kind: 'business', code: '95000001' });
    await client({}, stub({ error_code: 'MKT.0000', error_msg: 'success' })).uploadLicense('e', { characters: 'x' });
  });
});

describe('buildLicenseUpload (multipart layout, Uncertain: spec 6.4)', () => {
  it('serializes type, characters and sha256 as form fields that a standard parser reads back', async () => {
    const built = buildLicenseUpload({ characters: 'abc' }, 'B0UNDARY');
    expect(built.contentType).toBe('multipart/form-data; boundary=B0UNDARY');
    expect(built.body.toString('utf8')).toBe(
      '--B0UNDARY\r\nContent-Disposition: form-data; name="type"\r\n\r\nCHARACTERS\r\n' +
        '--B0UNDARY\r\nContent-Disposition: form-data; name="characters"\r\n\r\nabc\r\n' +
        `--B0UNDARY\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n${built.sha256}\r\n` +
        '--B0UNDARY--\r\n',
    );
    const form = await new Response(built.body, { headers: { 'content-type': built.contentType } }).formData();
    expect([...form.keys()]).toEqual(['type', 'characters', 'sha256']);
    expect(form.get('sha256')).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('sends a file as a file part with file_name, and never uses a boundary found in the content', async () => {
    const file = Buffer.from('--B0UNDARY inside the file');
    const built = buildLicenseUpload({ file, fileName: 'a.lic' }, 'B0UNDARY');
    expect(built.contentType).not.toBe('multipart/form-data; boundary=B0UNDARY');
    const form = await new Response(built.body, { headers: { 'content-type': built.contentType } }).formData();
    expect([...form.keys()]).toEqual(['type', 'file_name', 'file', 'sha256']);
    expect(form.get('type')).toBe('FILE');
    expect(form.get('file_name')).toBe('a.lic');
    const part = form.get('file') as File;
    expect(part.name).toBe('a.lic');
    expect(Buffer.from(await part.arrayBuffer())).toEqual(file);
  });
});

describe('parseActivatedLicense', () => {
  it('parses the spec example, tolerates an object and a numeric-string amount, and never throws', () => {
    const example = {
      license_code_info: '{"status":"ALIVE","expire_time":"20230726121646","product_id":"12345","amount":2,"order_id":"CS123"}',
    };
    expect(parseActivatedLicense(example)).toMatchObject({
      status: 'ALIVE',
      expireTime: '20230726121646',
      productId: '12345',
      amount: 2,
      orderId: 'CS123',
    });
    expect(parseActivatedLicense({ license_code_info: { status: 'ALIVE', amount: '4' } })).toMatchObject({ amount: 4 });
    expect(parseActivatedLicense({ license_code_info: 'not json' })).toEqual({});
    expect(parseActivatedLicense(undefined)).toEqual({});
  });

  it('a v1 success without data still resolves (the code is activated)', async () => {
    const stub = async () => new Response('{"error_code":"92020000","error_msg":"success"}', { status: 200 });
    expect(await client({}, stub).activateLicense('PL1')).toEqual({});
  });
});
