import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import {
  OpenApiError,
  createMarketplaceClient,
  type MarketplaceClientConfig,
  type UsagePushRecord,
} from '#shared/openapi/client';
import type { OrderInfo } from '#shared/openapi/order';
import { verifyApigRequest } from '#shared/protocol/apigSigner';
import { formatCompactUtc } from '#shared/protocol/time';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

// randomBytes stays real unless a test forces the next nonce (TV-USAGE)
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, randomBytes: vi.fn(actual.randomBytes) };
});

const AK = 'client-test-ak';
const SK = 'client-test-sk-0123456789';
const USAGE_KEY = 'client-test-usage-key';

let mkt: LocalMarketplace;
let backup: LocalMarketplace;

beforeAll(async () => {
  [mkt, backup] = await Promise.all([
    startLocalMarketplace({ port: 0, credentials: { [AK]: SK }, usageKeys: [USAGE_KEY] }),
    startLocalMarketplace({ port: 0, credentials: { [AK]: SK }, usageKeys: [USAGE_KEY] }),
  ]);
});
afterAll(async () => {
  await Promise.all([mkt.close(), backup.close()]);
});
beforeEach(() => {
  mkt.injectFaults({ count: 0, mode: 'error' });
  backup.injectFaults({ count: 0, mode: 'error' });
});

const client = (over: Partial<MarketplaceClientConfig> = {}) =>
  createMarketplaceClient({ baseUrls: [mkt.url], ak: AK, sk: SK, ...over });

/** The rejection of `p` as an OpenApiError (fails the test if `p` resolves or throws something else). */
async function failure(p: Promise<unknown>): Promise<OpenApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenApiError);
  return err as OpenApiError;
}

const TWO_LINES: OrderInfo = {
  orderId: 'CS2207261447AUY4H',
  orderType: 'NEW',
  createTime: '20240101000000',
  orderLine: [
    { orderLineId: 'CS2207261447AUY4H-000001', chargingMode: 'PERIOD', periodType: 'month', periodNumber: 3 },
    { orderLineId: 'CS2207261447AUY4H-000002', chargingMode: 'ON_DEMAND' },
  ],
};

/** A fetch that answers every request with `body` (HTTP 200) without touching the network. */
const fakeFetch = (body: string): typeof fetch => async () => new Response(body, { status: 200 });

describe('queryOrder against the local marketplace', () => {
  it('returns a built-in mock order', async () => {
    const order = await client().queryOrder('MOCKPERIODYEARNEW');
    expect(order.orderId).toBe('MOCKPERIODYEARNEW');
    expect(order.orderType).toBe('NEW');
    expect(order.orderLine[0]).toMatchObject({ orderLineId: 'MOCKPERIODYEARNEW-000001', chargingMode: 'PERIOD' });
  });

  it('returns a registered order, and only the requested line when orderLineId is given', async () => {
    mkt.registerOrder(TWO_LINES);
    expect(await client().queryOrder(TWO_LINES.orderId)).toEqual(TWO_LINES);

    const filtered = await client().queryOrder(TWO_LINES.orderId, 'CS2207261447AUY4H-000002');
    expect(filtered.orderLine).toEqual([TWO_LINES.orderLine[1]]);
    expect(mkt.calls().at(-1)).toEqual({
      method: 'GET',
      path: '/api/mkp-openapi-public/global/v1/order/query?orderId=CS2207261447AUY4H&orderLineId=CS2207261447AUY4H-000002',
      status: 200,
    });
  });

  it('reports a business error with its code and does not fall back', async () => {
    const err = await failure(client({ baseUrls: [mkt.url, backup.url] }).queryOrder('NO-SUCH-ORDER'));
    expect(err).toMatchObject({ name: 'OpenApiError', kind: 'business', code: 'MKT.0101' });
    expect(err.message).toMatch(/^query order: MKT\.0101/);

    const before = backup.calls().length;
    mkt.injectFaults({ count: 1, mode: 'business' });
    const injected = await failure(client({ baseUrls: [mkt.url, backup.url] }).queryOrder('MOCKONDEMAND'));
    expect(injected).toMatchObject({ kind: 'business', code: 'MKT.0999' });
    expect(backup.calls()).toHaveLength(before);
  });

  it('reports a wrong SK as an HTTP 401 without retrying and without leaking credentials', async () => {
    const before = backup.calls().length;
    const err = await failure(
      client({ baseUrls: [mkt.url, backup.url], sk: 'wrong-sk-987654' }).queryOrder('MOCKPERIODYEARNEW'),
    );
    expect(err).toMatchObject({ kind: 'http', status: 401, code: 'APIGW.0301' });
    expect(err.message).toMatch(/^query order: /);
    expect(err.message).not.toContain(AK);
    expect(err.message).not.toContain('wrong-sk-987654');
    expect(backup.calls()).toHaveLength(before);
  });

  it('falls back to the second base URL after an HTTP 503', async () => {
    mkt.injectFaults({ count: 1, mode: 'error' });
    const order = await client({ baseUrls: [mkt.url, backup.url] }).queryOrder('MOCKMONTYRENEW');
    expect(order.orderType).toBe('RENEW');
    expect(mkt.calls().at(-1)?.status).toBe(503);
    expect(backup.calls().at(-1)?.status).toBe(200);
  });

  it('falls back to the second base URL when the first cannot be reached', async () => {
    const closed = await startLocalMarketplace({ port: 0, credentials: {} });
    await closed.close();
    const order = await client({ baseUrls: [closed.url, mkt.url] }).queryOrder('MOCKONETIMENEW');
    expect(order.orderLine[0]?.chargingMode).toBe('ONE_TIME');

    const err = await failure(client({ baseUrls: [closed.url] }).queryOrder('MOCKONETIMENEW'));
    expect(err.kind).toBe('network');
  });

  it('gives up with kind timeout after at most two bounded attempts', async () => {
    mkt.injectFaults({ count: 3, mode: 'timeout' });
    const backupCalls = backup.calls().length;
    const started = Date.now();
    const err = await failure(
      client({ baseUrls: [mkt.url, mkt.url, backup.url], timeoutMs: 150 }).queryOrder('MOCKPERIODYEARNEW'),
    );
    expect(err.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(mkt.calls().slice(-2).map((c) => c.status)).toEqual([0, 0]);
    expect(backup.calls()).toHaveLength(backupCalls); // the third base URL is never tried
  });
});

describe('queryOrder with malformed answers', () => {
  const stubbed = (body: string) =>
    createMarketplaceClient({ baseUrls: ['https://mkt.example.invalid'], ak: AK, sk: SK }, fakeFetch(body));

  it.each([
    ['invalid JSON', '<html>oops</html>'],
    ['no resultCode', '{"orderInfo":{}}'],
    ['success without orderInfo', '{"resultCode":"MKT.0000","resultMsg":"Success"}'],
    ['an orderInfo failing the schema', '{"resultCode":"MKT.0000","resultMsg":"Success","orderInfo":{"orderId":1}}'],
  ])('%s -> kind malformed', async (_, body) => {
    const err = await failure(stubbed(body).queryOrder('X'));
    expect(err.kind).toBe('malformed');
    expect(err.message).toMatch(/^query order: /);
  });
});

describe('queryOrder deadline', () => {
  it('bounds all attempts together by the caller deadline', async () => {
    const hang: typeof fetch = (_url, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    const client = createMarketplaceClient({ baseUrls: ['https://a.example', 'https://b.example'], ak: 'ak', sk: 'sk', timeoutMs: 2000 }, hang);
    const started = Date.now();
    await expect(client.queryOrder('O', undefined, { deadline: Date.now() + 300 })).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

const USAGE_PATH = '/api/mkp-openapi-public/global/v1/isv/usage-data';
const SUCCESS_BODY = '{"error_code":"MKT.0000","error_msg":"success"}';

const usageClient = (over: Partial<MarketplaceClientConfig> = {}, fetchImpl?: typeof fetch) =>
  createMarketplaceClient({ baseUrls: [mkt.url], ak: AK, sk: SK, usageSigningKey: USAGE_KEY, ...over }, fetchImpl);

let serial = 0;
/** A record valid now (begin an hour ago) with a unique metering_sn. */
function usageRecord(over: Partial<UsagePushRecord> = {}, nowMs = Date.now()): UsagePushRecord {
  return {
    instance_id: 'inst-1',
    record_time: formatCompactUtc(new Date(nowMs)),
    begin_time: formatCompactUtc(new Date(nowMs - 3600_000)),
    end_time: formatCompactUtc(new Date(nowMs - 60_000)),
    usage_value: '2.5',
    metering_sn: `client-sn-${++serial}-${nowMs}`,
    ...over,
  };
}

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch answering with the given (status, body) pairs in turn (the last repeats), recording what was sent. */
function recordingFetch(...answers: Array<[number, string]>) {
  const sent: Sent[] = [];
  const fetchImpl: typeof fetch = async (url, init) => {
    sent.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: init?.headers as Record<string, string>,
      body: init?.body as string,
    });
    const [status, body] = answers[Math.min(sent.length, answers.length) - 1] ?? [200, SUCCESS_BODY];
    return new Response(body, { status });
  };
  return { sent, fetchImpl };
}

const hmacBase64 = (key: string, message: string) => createHmac('sha256', key).update(message).digest('base64');

/** The spec 2.8 signature of a recorded request, checked as the marketplace would. */
const apigVerdict = (req: Sent, body = req.body) =>
  verifyApigRequest({ method: req.method, url: req.url, headers: req.headers, body }, (ak) => (ak === AK ? SK : undefined), Date.now());

describe('pushUsage: TV-USAGE (spec 2.7)', () => {
  const TV = {
    key: 'test-access-key-0123456789',
    ts: 1680508066618,
    nonce: '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA',
    body: '{"usage_records":[{"instance_id":"x"}]}',
    signature: 'OyY/WsapNAjcu2kcVD8JCddpyL6J3g9GEnaqq8NpmKE=',
  };
  const tvRecords = [{ instance_id: 'x' }] as unknown as UsagePushRecord[];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(TV.ts);
    vi.mocked(randomBytes).mockImplementationOnce((() => Buffer.from(TV.nonce, 'hex')) as never);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.mocked(randomBytes).mockReset();
  });

  it('sends the vector body, ts, nonce and signature', async () => {
    const { sent, fetchImpl } = recordingFetch([200, SUCCESS_BODY]);
    await usageClient({ baseUrls: ['https://mkt.example.invalid/'], usageSigningKey: TV.key }, fetchImpl).pushUsage(tvRecords);
    expect(sent).toHaveLength(1);
    const [req] = sent as [Sent];
    expect(req.url).toBe(`https://mkt.example.invalid${USAGE_PATH}`);
    expect(req.method).toBe('POST');
    expect(req.body).toBe(TV.body);
    expect(req.headers).toMatchObject({
      signature: TV.signature,
      ts: String(TV.ts),
      nonce: TV.nonce,
      'Content-Type': 'application/json',
      'X-Sdk-Date': '20230403T074746Z',
      Host: 'mkt.example.invalid',
    });
    expect(apigVerdict(req)).toEqual({ ok: true, ak: AK });
    expect(apigVerdict(req, '{"usage_records":[]}')).toMatchObject({ ok: false }); // the body is AK/SK-signed too
  });

  it('is accepted by the local marketplace: the signature verifies and the record is judged (MKT.9002)', async () => {
    const own = await startLocalMarketplace({
      port: 0,
      credentials: { [AK]: SK },
      usageKeys: [TV.key],
      now: () => new Date(TV.ts),
    });
    try {
      const err = await failure(usageClient({ baseUrls: [own.url], usageSigningKey: TV.key }).pushUsage(tvRecords));
      expect(err).toMatchObject({ kind: 'business', code: 'MKT.9002', details: { abnormal_usage_data: [{ metering_sn: null }] } });

      const good = usageRecord({}, TV.ts);
      await usageClient({ baseUrls: [own.url], usageSigningKey: TV.key }).pushUsage([good]);
      expect(own.usageRecords()).toEqual([good]);
    } finally {
      await own.close();
    }
  });
});

describe('pushUsage: the request', () => {
  it('signs exactly the body it sends: ts=..&nonce=..&body=<sorted compact JSON>, base64 HMAC-SHA256', async () => {
    const { sent, fetchImpl } = recordingFetch([200, SUCCESS_BODY]);
    const record: UsagePushRecord = {
      usage_value: '3',
      relate_pkg_instance: 'pkg-9',
      metering_sn: 'sn-é-1',
      instance_id: 'inst-"1"',
      end_time: '20240320T110000Z',
      begin_time: '20240320T100000Z',
      record_time: '20240320T110500Z',
    };
    const before = Date.now();
    const client = usageClient({ baseUrls: ['https://mkt.example.invalid'] }, fetchImpl);
    await client.pushUsage([record, { ...record, relate_pkg_instance: undefined, metering_sn: 'sn-2' }]);
    await client.pushUsage([record]);
    const after = Date.now();

    const [first, second] = sent as [Sent, Sent];
    expect(first.body).toBe(
      '{"usage_records":[' +
        '{"begin_time":"20240320T100000Z","end_time":"20240320T110000Z","instance_id":"inst-\\"1\\"","metering_sn":"sn-é-1",' +
        '"record_time":"20240320T110500Z","relate_pkg_instance":"pkg-9","usage_value":"3"},' +
        '{"begin_time":"20240320T100000Z","end_time":"20240320T110000Z","instance_id":"inst-\\"1\\"","metering_sn":"sn-2",' +
        '"record_time":"20240320T110500Z","usage_value":"3"}]}',
    );
    for (const req of sent) {
      const { ts, nonce, signature } = req.headers;
      expect(Number(ts)).toBeGreaterThanOrEqual(before);
      expect(Number(ts)).toBeLessThanOrEqual(after);
      expect(nonce).toMatch(/^[0-9A-F]{64}$/);
      expect(signature).toBe(hmacBase64(USAGE_KEY, `ts=${ts}&nonce=${nonce}&body=${req.body}`));
      expect(req.headers['Content-Type']).toBe('application/json');
      expect(apigVerdict(req)).toEqual({ ok: true, ak: AK });
    }
    expect(second.headers.nonce).not.toBe(first.headers.nonce);
  });

  it('refuses 0 or more than 100 records, or a missing usageSigningKey, before any network call', async () => {
    const { sent, fetchImpl } = recordingFetch([200, SUCCESS_BODY]);
    const hundredOne = Array.from({ length: 101 }, () => usageRecord());
    for (const [client, records] of [
      [usageClient({}, fetchImpl), hundredOne],
      [usageClient({}, fetchImpl), []],
      [usageClient({ usageSigningKey: undefined }, fetchImpl), [usageRecord()]],
      [usageClient({ usageSigningKey: '' }, fetchImpl), [usageRecord()]],
    ] as const) {
      const err = await failure(client.pushUsage(records));
      expect(err.kind).toBe('request');
      expect(err.message).toMatch(/^push usage: /);
    }
    expect(sent).toEqual([]);

    await usageClient({}, fetchImpl).pushUsage(hundredOne.slice(1));
    expect(sent).toHaveLength(1);
    expect((JSON.parse(sent[0]!.body) as { usage_records: unknown[] }).usage_records).toHaveLength(100);
  });
});

describe('pushUsage against the local marketplace', () => {
  it('resolves on MKT.0000 and the records are stored', async () => {
    const records = [usageRecord(), usageRecord({ relate_pkg_instance: 'pkg-1', usage_value: '0.1234' })];
    await usageClient().pushUsage(records);
    expect(mkt.usageRecords().slice(-2)).toEqual(records);
    expect(mkt.calls().at(-1)).toEqual({ method: 'POST', path: USAGE_PATH, status: 200 });
  });

  it('reports MKT.9004 with the abnormal records in details', async () => {
    const old = usageRecord({ begin_time: formatCompactUtc(new Date(Date.now() - 22 * 24 * 3600_000)) });
    const before = mkt.usageRecords().length;
    const err = await failure(usageClient().pushUsage([usageRecord(), old]));
    expect(err).toMatchObject({
      name: 'OpenApiError',
      kind: 'business',
      code: 'MKT.9004',
      details: { abnormal_usage_data: [{ metering_sn: old.metering_sn }] },
    });
    expect(err.message).toMatch(/^push usage: MKT\.9004/);
    expect(mkt.usageRecords()).toHaveLength(before);
  });

  it('reports MKT.9002 with the abnormal records in details, without falling back', async () => {
    const bad = [usageRecord({ usage_value: '0' }), usageRecord({ usage_value: '1.23456' })];
    const backupCalls = backup.calls().length;
    const err = await failure(usageClient({ baseUrls: [mkt.url, backup.url] }).pushUsage([usageRecord(), ...bad]));
    expect(err).toMatchObject({ kind: 'business', code: 'MKT.9002' });
    const listed = (err.details as { abnormal_usage_data: Array<{ metering_sn: string }> }).abnormal_usage_data;
    expect(listed.map((a) => a.metering_sn)).toEqual(bad.map((r) => r.metering_sn));
    expect(backup.calls()).toHaveLength(backupCalls);
  });

  it('reports a wrong usage key as MKT.0102 without leaking it', async () => {
    const err = await failure(usageClient({ usageSigningKey: 'wrong-usage-key-42' }).pushUsage([usageRecord()]));
    expect(err).toMatchObject({ kind: 'business', code: 'MKT.0102' });
    expect(err.message).not.toContain('wrong-usage-key-42');
  });

  it('reports a wrong SK as HTTP 401 APIGW.0301 without falling back', async () => {
    const backupCalls = backup.calls().length;
    const err = await failure(usageClient({ baseUrls: [mkt.url, backup.url], sk: 'wrong-sk' }).pushUsage([usageRecord()]));
    expect(err).toMatchObject({ kind: 'http', status: 401, code: 'APIGW.0301' });
    expect(backup.calls()).toHaveLength(backupCalls);
  });

  it('falls back to the second base URL after an HTTP 503, where the records land once', async () => {
    mkt.injectFaults({ count: 1, mode: 'error' });
    const record = usageRecord();
    await usageClient({ baseUrls: [mkt.url, backup.url] }).pushUsage([record]);
    expect(mkt.calls().at(-1)).toEqual({ method: 'POST', path: USAGE_PATH, status: 503, fault: 'error' });
    expect(backup.calls().at(-1)).toEqual({ method: 'POST', path: USAGE_PATH, status: 200 });
    expect(backup.usageRecords().at(-1)).toEqual(record);
    expect(mkt.usageRecords().some((r) => r.metering_sn === record.metering_sn)).toBe(false);
  });

  it('does not fall back on a business error (MKT.0999)', async () => {
    mkt.injectFaults({ count: 1, mode: 'business' });
    const backupCalls = backup.calls().length;
    const err = await failure(usageClient({ baseUrls: [mkt.url, backup.url] }).pushUsage([usageRecord()]));
    expect(err).toMatchObject({ kind: 'business', code: 'MKT.0999' });
    expect(err.details).toBeUndefined();
    expect(backup.calls()).toHaveLength(backupCalls);
  });

  it('a retried push never bills twice: repeats are counted, not stored', async () => {
    const records = [usageRecord(), usageRecord()];
    const stored = mkt.usageRecords().length;
    const dups = mkt.usageDuplicates();
    await usageClient().pushUsage(records);
    await usageClient().pushUsage(records); // e.g. after the first answer was lost
    expect(mkt.usageRecords()).toHaveLength(stored + 2);
    expect(mkt.usageDuplicates()).toBe(dups + 2);
  });
});

describe('pushUsage with stubbed answers', () => {
  const HOSTS = ['https://a.example.invalid', 'https://b.example.invalid'];

  it('signs each attempt anew (fresh ts/nonce) over the same body when falling back', async () => {
    const { sent, fetchImpl } = recordingFetch([503, '{"error_code":"APIGW.0202"}'], [200, SUCCESS_BODY]);
    await usageClient({ baseUrls: HOSTS }, fetchImpl).pushUsage([usageRecord()]);
    expect(sent.map((r) => new URL(r.url).host)).toEqual(['a.example.invalid', 'b.example.invalid']);
    const [a, b] = sent as [Sent, Sent];
    expect(b.body).toBe(a.body);
    expect(b.headers.nonce).not.toBe(a.headers.nonce);
    expect(b.headers.signature).toBe(hmacBase64(USAGE_KEY, `ts=${b.headers.ts}&nonce=${b.headers.nonce}&body=${b.body}`));
  });

  it.each<[string, string, Partial<OpenApiError>]>([
    ['MKT.9003 without extra_info', '{"error_code":"MKT.9003","error_msg":"too many"}', { code: 'MKT.9003', details: undefined }],
    [
      'MKT.9005 with extra_info',
      '{"error_code":"MKT.9005","error_msg":"x","extra_info":{"abnormal_usage_data":[{"metering_sn":"s1"}]}}',
      { code: 'MKT.9005', details: { abnormal_usage_data: [{ metering_sn: 's1' }] } },
    ],
    [
      'MKT.9002 with a top-level abnormal_usage_data',
      '{"error_code":"MKT.9002","abnormal_usage_data":["s2"]}',
      { code: 'MKT.9002', details: { abnormal_usage_data: ['s2'] } },
    ],
  ])('%s -> business error', async (_, answer, expected) => {
    const { sent, fetchImpl } = recordingFetch([200, answer]);
    const err = await failure(usageClient({ baseUrls: HOSTS }, fetchImpl).pushUsage([usageRecord()]));
    expect(err).toMatchObject({ kind: 'business', ...expected });
    expect(err.details).toEqual(expected.details);
    expect(sent).toHaveLength(1);
  });

  it.each([
    ['invalid JSON', '<html>oops</html>'],
    ['no error_code', '{"resultCode":"MKT.0000"}'],
  ])('%s -> kind malformed', async (_, answer) => {
    const err = await failure(usageClient({}, recordingFetch([200, answer]).fetchImpl).pushUsage([usageRecord()]));
    expect(err.kind).toBe('malformed');
  });

  it('reports HTTP 401 with a marketplace error_code as kind http', async () => {
    const { sent, fetchImpl } = recordingFetch([401, '{"error_code":"MKT.0150","error_msg":"illegal operation"}']);
    const err = await failure(usageClient({ baseUrls: HOSTS }, fetchImpl).pushUsage([usageRecord()]));
    expect(err).toMatchObject({ kind: 'http', status: 401, code: 'MKT.0150' });
    expect(sent).toHaveLength(1);
  });

  it('bounds all attempts together by the caller deadline', async () => {
    let attempts = 0;
    const hang: typeof fetch = (_url, init) => {
      attempts++;
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    };
    const client = usageClient({ baseUrls: HOSTS, timeoutMs: 2000 }, hang);
    const started = Date.now();
    await expect(client.pushUsage([usageRecord()], { deadline: Date.now() + 300 })).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(attempts).toBe(1); // the fallback host gets no attempt once the budget is spent
  });
});
