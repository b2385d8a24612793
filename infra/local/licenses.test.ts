import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { signApigRequest } from '#shared/protocol/apigSigner';
import {
  LICENSE_ACTIVATE_V1_PATH,
  LICENSE_ACTIVATE_V2_PATH,
  LICENSE_HEARTBEAT_V1_PATH,
  buildLicenseUpload,
  marketEventFilePath,
} from '#shared/openapi/license';
import { formatMarketTime } from '#shared/protocol/time';
import { licenseRoute, mockLicenses } from '#infra/local/licenses';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

const AK = 'lic-mock-ak';
const SK = 'lic-mock-sk';

let mkt: LocalMarketplace;
beforeAll(async () => {
  mkt = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK } });
});
afterAll(() => mkt.close());

/** A signed POST (or unsigned with `sign: false`) of `body` bytes; resolves with status and parsed body. */
async function call(path: string, body: string | Buffer, opts: { contentType?: string; sign?: boolean } = {}) {
  const url = `${mkt.url}${path}`;
  const contentType = opts.contentType ?? 'application/json';
  const headers =
    opts.sign === false
      ? { 'Content-Type': contentType }
      : signApigRequest({ method: 'POST', url, headers: { 'Content-Type': contentType }, body: body as string }, AK, SK);
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const json = (path: string, value: unknown) => call(path, JSON.stringify(value));
const local = async (path: string, body?: unknown) => {
  const res = await fetch(`${mkt.url}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as unknown) };
};

const inAYear = formatMarketTime(new Date(Date.now() + 365 * 86_400_000));
const license = (code: string, over: Record<string, unknown> = {}) => ({
  code,
  status: 'UNACTIVATED',
  expireTime: inAYear,
  productId: 'OFFI-1',
  orderId: 'CS-1',
  amount: 1,
  ...over,
});

describe('local marketplace: License mock codes and test routes', () => {
  it('preloads the mock codes, listed at GET /__local/licenses', async () => {
    expect(mockLicenses(new Date()).map((l) => l.code)).toEqual([
      'PLMOCKUNACTIVATED01',
      'PLMOCKUNACTIVATED02',
      'PLMOCKUNCLAIMED01',
      'PLMOCKALIVE01',
      'PLMOCKEXPIRED01',
      'PLMOCKRELEASED01',
    ]);
    const { status, body } = await local('/__local/licenses');
    expect(status).toBe(200);
    const byCode = new Map((body as Array<{ code: string; status: string; claimed: boolean }>).map((l) => [l.code, l]));
    expect(byCode.get('PLMOCKUNACTIVATED01')).toMatchObject({ status: 'UNACTIVATED', claimed: true });
    expect(byCode.get('PLMOCKUNCLAIMED01')).toMatchObject({ status: 'UNACTIVATED', claimed: false });
    expect(byCode.get('PLMOCKALIVE01')).toMatchObject({ status: 'ALIVE', activateTime: expect.stringMatching(/^\d{14}$/) });
    expect(byCode.get('PLMOCKEXPIRED01')?.status).toBe('EXPIRED');
    expect(byCode.get('PLMOCKRELEASED01')?.status).toBe('RELEASED');
  });

  it('registers a code by POST /__local/licenses and refuses invalid ones with 400', async () => {
    expect((await local('/__local/licenses', license('PLLOCAL1', { amount: 9 }))).status).toBe(204);
    expect(mkt.licenses().find((l) => l.code === 'PLLOCAL1')).toMatchObject({ amount: 9, claimed: true, heartbeats: 0 });
    expect((await local('/__local/licenses', license('PLLOCAL2', { status: 'FROZEN' }))).status).toBe(400);
    expect((await local('/__local/licenses', license('PLLOCAL3', { expireTime: '20240230000000' }))).status).toBe(400);
    expect((await local('/__local/licenses', { code: 'PLLOCAL4' })).status).toBe(400);
    expect(() => mkt.registerLicense(license('') as never)).toThrow();
  });

  it('routes only POSTs of the four License paths (event id decoded)', () => {
    expect(licenseRoute('POST', LICENSE_ACTIVATE_V1_PATH)).toEqual({ api: 'activate-v1' });
    expect(licenseRoute('POST', LICENSE_ACTIVATE_V2_PATH)).toEqual({ api: 'activate-v2' });
    expect(licenseRoute('POST', LICENSE_HEARTBEAT_V1_PATH)).toEqual({ api: 'heartbeat-v1' });
    expect(licenseRoute('POST', marketEventFilePath('a/b c'))).toEqual({ api: 'upload', eventId: 'a/b c' });
    expect(licenseRoute('GET', LICENSE_ACTIVATE_V1_PATH)).toBeUndefined();
    expect(licenseRoute('POST', '/api/mkp-openapi-public/global/v2/license/heartbeat')).toBeUndefined();
  });

  it('answers 404 APIGW.0101 for a GET on a License path', async () => {
    const res = await fetch(`${mkt.url}${LICENSE_ACTIVATE_V1_PATH}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error_code: 'APIGW.0101' });
  });
});

describe('local marketplace: License activate', () => {
  it('activates a mock code once (v1 body of the spec example); the second time 92020003', async () => {
    const first = await json(LICENSE_ACTIVATE_V1_PATH, { license: 'PLMOCKUNACTIVATED01' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ error_code: '92020000', error_msg: 'success' });
    const info = JSON.parse((first.body.data as { license_code_info: string }).license_code_info) as unknown;
    expect(info).toEqual({
      status: 'ALIVE',
      expire_time: expect.stringMatching(/^\d{14}$/),
      product_id: 'OFFI000000000000000010',
      amount: 1,
      order_id: 'CSMOCKLICENSE01',
    });
    expect((await json(LICENSE_ACTIVATE_V1_PATH, { license: 'PLMOCKUNACTIVATED01' })).body).toMatchObject({
      error_code: '92020003',
    });
  });

  it('answers 92020004 unclaimed, 92020005 unknown, 92020002 bad parameters, 95000004 unreadable body', async () => {
    const code = async (path: string, body: unknown) => (await json(path, body)).body.error_code;
    expect(await code(LICENSE_ACTIVATE_V1_PATH, { license: 'PLMOCKUNCLAIMED01' })).toBe('92020004');
    expect(await code(LICENSE_ACTIVATE_V1_PATH, { license: 'PLNOPE' })).toBe('92020005');
    expect(await code(LICENSE_ACTIVATE_V1_PATH, {})).toBe('92020002');
    expect(await code(LICENSE_ACTIVATE_V1_PATH, [])).toBe('92020002');
    expect(await code(LICENSE_ACTIVATE_V1_PATH, { license: 'PLMOCKUNACTIVATED02', real_effect_time: '2024-01-01' })).toBe(
      '92020002',
    );
    expect((await call(LICENSE_ACTIVATE_V1_PATH, 'not json')).body.error_code).toBe('95000004');
    expect(mkt.licenses().find((l) => l.code === 'PLMOCKUNACTIVATED02')?.status).toBe('UNACTIVATED');
  });

  it('v2: 92020002 for a list that is not 1..100 distinct strings; 92020020 lists the invalid codes', async () => {
    const code = async (body: unknown) => (await json(LICENSE_ACTIVATE_V2_PATH, body)).body;
    for (const list of [undefined, 'PL1', [], ['PL1', 'PL1'], ['PL1', 2], Array.from({ length: 101 }, (_, i) => `PL${i}`)]) {
      expect((await code({ license_list: list })).error_code).toBe('92020002');
    }
    mkt.registerLicense(license('PLBATCH1') as never);
    expect(await code({ license_list: ['PLBATCH1', 'PLMOCKUNCLAIMED01', 'PLMOCKRELEASED01'] })).toEqual({
      error_code: '92020020',
      error_msg: 'the batch contains invalid license codes',
      data: {
        invalid_license_list: [
          { license: 'PLMOCKUNCLAIMED01', error_code: '92020004' },
          { license: 'PLMOCKRELEASED01', error_code: '92020003' },
        ],
      },
    });
    const ok = await code({ license_list: ['PLBATCH1'], real_effect_time: '20260102153555' });
    expect(ok).toMatchObject({ error_code: '92020000', data: { license_code_info_list: [{ license: 'PLBATCH1' }] } });
    expect(mkt.licenses().find((l) => l.code === 'PLBATCH1')).toMatchObject({ status: 'ALIVE', realEffectTime: '20260102153555' });
  });
});

describe('local marketplace: License heartbeat', () => {
  it('counts every authenticated call naming a code, not unsigned ones', async () => {
    const before = mkt.heartbeatCount('PLMOCKALIVE01');
    const answer = await json(LICENSE_HEARTBEAT_V1_PATH, { license: 'PLMOCKALIVE01' });
    expect(answer.body).toMatchObject({
      error_code: '92020000',
      data: { license_code: 'PLMOCKALIVE01', status: 'ALIVE', activate_time: expect.stringMatching(/^\d{14}$/) },
    });
    const unsigned = await call(LICENSE_HEARTBEAT_V1_PATH, JSON.stringify({ license: 'PLMOCKALIVE01' }), { sign: false });
    expect(unsigned).toEqual({ status: 401, body: { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information' } });
    expect(mkt.heartbeatCount('PLMOCKALIVE01')).toBe(before + 1);
    const listed = ((await local('/__local/licenses')).body as Array<{ code: string; heartbeats: number }>).find(
      (l) => l.code === 'PLMOCKALIVE01',
    );
    expect(listed?.heartbeats).toBe(before + 1);
    expect(mkt.heartbeatCount('PLNEVERSEEN')).toBe(0);
  });

  it('answers 92020011 for a code not activated and 92020005 for an unknown one', async () => {
    expect((await json(LICENSE_HEARTBEAT_V1_PATH, { license: 'PLMOCKUNCLAIMED01' })).body.error_code).toBe('92020011');
    expect((await json(LICENSE_HEARTBEAT_V1_PATH, { license: 'PLNOPE' })).body.error_code).toBe('92020005');
    expect((await json(LICENSE_HEARTBEAT_V1_PATH, {})).body.error_code).toBe('92020002');
  });
});

describe('local marketplace: License upload', () => {
  const path = marketEventFilePath('evt-local-1');

  it('stores a file upload, listed at GET /__local/uploads with the file as base64', async () => {
    const file = Buffer.from([0, 0xff, 0x10, 0x80]);
    const built = buildLicenseUpload({ file, fileName: 'x.lic' });
    const answer = await call(path, built.body, { contentType: built.contentType });
    expect(answer.body).toEqual({ error_code: '92020000', error_msg: 'success' });
    const uploads = (await local('/__local/uploads')).body as Array<Record<string, unknown>>;
    expect(uploads.at(-1)).toEqual({
      eventId: 'evt-local-1',
      type: 'FILE',
      fileName: 'x.lic',
      file: file.toString('base64'),
      sha256: createHash('sha256').update(file).digest('hex'),
    });
  });

  it('accepts an upper-case sha256, and a FormData body built by the platform', async () => {
    const form = new FormData();
    form.set('type', 'CHARACTERS');
    form.set('characters', 'LIC-1');
    form.set('sha256', createHash('sha256').update('LIC-1').digest('hex').toUpperCase());
    const res = new Response(form);
    const body = Buffer.from(await res.arrayBuffer());
    const answer = await call(path, body, { contentType: res.headers.get('content-type')! });
    expect(answer.body.error_code).toBe('92020000');
    expect(mkt.uploads().at(-1)).toMatchObject({ type: 'CHARACTERS', characters: 'LIC-1' });
  });

  it('refuses a body that is not multipart (95000003), unreadable (95000004), or missing fields (92020002)', async () => {
    const before = mkt.uploads().length;
    expect((await json(path, { type: 'CHARACTERS' })).body.error_code).toBe('95000003');
    expect((await call(path, 'garbage', { contentType: 'multipart/form-data; boundary=XYZ' })).body.error_code).toBe('95000004');
    const sha = createHash('sha256').update('a').digest('hex');
    const form = async (fields: Record<string, string>) => {
      const f = new FormData();
      for (const [k, v] of Object.entries(fields)) f.set(k, v);
      const res = new Response(f);
      return (await call(path, Buffer.from(await res.arrayBuffer()), { contentType: res.headers.get('content-type')! })).body;
    };
    expect(await form({ type: 'CHARACTERS', characters: 'a' })).toMatchObject({ error_code: '92020002', error_msg: 'sha256 must be 64 hex digits' });
    expect((await form({ type: 'TEXT', characters: 'a', sha256: sha })).error_code).toBe('92020002');
    expect((await form({ type: 'CHARACTERS', sha256: sha })).error_code).toBe('92020002');
    expect((await form({ type: 'FILE', file_name: 'a', sha256: sha })).error_code).toBe('92020002');
    const long = 'a'.repeat(1025);
    expect((await form({ type: 'CHARACTERS', characters: long, sha256: createHash('sha256').update(long).digest('hex') })).error_code).toBe(
      '92020002',
    );
    expect(mkt.uploads()).toHaveLength(before);
  });
});

describe('local marketplace: faults on License APIs', () => {
  it('share the fault counter with the other APIs and are logged; business faults answer 92020001', async () => {
    mkt.injectFaults({ count: 2, mode: 'business' });
    expect((await json(LICENSE_HEARTBEAT_V1_PATH, { license: 'PLMOCKALIVE01' })).body).toEqual({
      error_code: '92020001',
      error_msg: 'system error (injected)',
    });
    const built = buildLicenseUpload({ characters: 'x' });
    expect((await call(marketEventFilePath('evt-f'), built.body, { contentType: built.contentType })).body.error_code).toBe(
      '92020001',
    );
    mkt.injectFaults({ count: 1, mode: 'error' });
    expect((await json(LICENSE_ACTIVATE_V2_PATH, { license_list: ['PLMOCKALIVE01'] })).status).toBe(503);
    expect(mkt.calls().slice(-3)).toEqual([
      { method: 'POST', path: LICENSE_HEARTBEAT_V1_PATH, status: 200, fault: 'business' },
      { method: 'POST', path: marketEventFilePath('evt-f'), status: 200, fault: 'business' },
      { method: 'POST', path: LICENSE_ACTIVATE_V2_PATH, status: 503, fault: 'error' },
    ]);
    expect((await json(LICENSE_HEARTBEAT_V1_PATH, { license: 'PLMOCKALIVE01' })).body.error_code).toBe('92020000');
  });
});
