import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { UsagePushRecord } from '#shared/openapi/usage';
import { signApigRequest } from '#shared/protocol/apigSigner';
import { usagePushSignature } from '#shared/protocol/signature';
import { LOCAL_DEFAULTS } from '#shared/secrets';
import { mockOrders } from '#infra/local/mockOrders';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

const AK = 'mkt-test-ak';
const SK = 'mkt-test-sk';
const QUERY = '/api/mkp-openapi-public/global/v1/order/query';

let mkt: LocalMarketplace;
beforeAll(async () => {
  mkt = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK } });
});
afterAll(() => mkt.close());

/** A signed order query (or unsigned with `sign: false`); resolves with status and parsed body. */
async function query(search: string, opts: { ak?: string; sign?: boolean } = {}) {
  const url = `${mkt.url}${QUERY}${search}`;
  const headers =
    opts.sign === false
      ? { 'Content-Type': 'application/json' }
      : signApigRequest({ method: 'GET', url, headers: { 'Content-Type': 'application/json' } }, opts.ak ?? AK, SK);
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const post = (path: string, body: string) =>
  fetch(`${mkt.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

describe('local marketplace: order query', () => {
  // the list itself is pinned to spec 6.1 by mockOrders.test.ts
  it.each(mockOrders(new Date()).map((o) => o.orderId))('serves mock order %s', async (id) => {
    const { status, body } = await query(`?orderId=${id}&orderLineId=${id}-000001`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ resultCode: 'MKT.0000', resultMsg: 'Success', orderInfo: { orderId: id } });
  });

  it('rejects unsigned requests and unknown AKs (including prototype keys) with APIGW.0301', async () => {
    const expected = { status: 401, body: { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information' } };
    expect(await query('?orderId=MOCKONDEMAND', { sign: false })).toEqual(expected);
    expect(await query('?orderId=MOCKONDEMAND', { ak: 'constructor' })).toEqual(expected);
  });

  it('answers business codes for a missing orderId, an unknown order and an unknown line', async () => {
    expect((await query('')).body).toMatchObject({ resultCode: 'MKT.0100' });
    expect((await query('?orderId=NOPE')).body).toEqual({ resultCode: 'MKT.0101', resultMsg: 'order not found' });
    expect((await query('?orderId=MOCKONDEMAND&orderLineId=NOPE')).body).toMatchObject({ resultCode: 'MKT.0101' });
  });

  it('answers 404 for other API paths and logs them', async () => {
    const res = await fetch(`${mkt.url}/api/nothing`);
    expect(res.status).toBe(404);
    expect(mkt.calls().at(-1)).toEqual({ method: 'GET', path: '/api/nothing', status: 404 });
  });
});

describe('local marketplace: test-support routes', () => {
  it('registers an order by POST /__local/orders and rejects invalid ones', async () => {
    const order = { orderId: 'LOCAL-1', orderType: 'NEW', orderLine: [{ orderLineId: 'LOCAL-1-1', chargingMode: 'PERIOD' }] };
    expect((await post('/__local/orders', JSON.stringify(order))).status).toBe(204);
    expect((await query('?orderId=LOCAL-1')).body).toMatchObject({ resultCode: 'MKT.0000', orderInfo: order });

    expect((await post('/__local/orders', '{"orderId":"LOCAL-2"}')).status).toBe(400);
    expect((await post('/__local/orders', 'not json')).status).toBe(400);
  });

  it('injects faults by POST /__local/faults and logs calls at GET /__local/calls', async () => {
    expect((await post('/__local/faults', '{"count":1,"mode":"sometimes"}')).status).toBe(400);
    expect((await post('/__local/faults', '{"count":2,"mode":"error"}')).status).toBe(204);
    expect((await query('?orderId=MOCKONDEMAND')).status).toBe(503);
    expect((await query('?orderId=MOCKONDEMAND', { sign: false })).status).toBe(503);
    expect((await query('?orderId=MOCKONDEMAND')).status).toBe(200);

    mkt.injectFaults({ count: 1, mode: 'business' });
    expect((await query('?orderId=MOCKONDEMAND')).body).toMatchObject({ resultCode: 'MKT.0999' });

    const logged = (await (await fetch(`${mkt.url}/__local/calls`)).json()) as unknown[];
    expect(logged).toEqual(mkt.calls());
    expect(mkt.calls().slice(-4).map((c) => c.status)).toEqual([503, 503, 200, 200]);
    expect(mkt.calls().some((c) => c.path.startsWith('/__local'))).toBe(false);
  });

  it('fails a seeded share of calls with {rate, seed, mode}: the same seed fails the same calls, logged with their fault', async () => {
    const run = async (seed: number, mode: 'error' | 'business' | 'mixed', rate = 0.3, calls = 40) => {
      const own = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK } });
      try {
        own.injectFaults({ rate, seed, mode });
        for (let i = 0; i < calls; i++) {
          const url = `${own.url}${QUERY}?orderId=MOCKONDEMAND`;
          const headers = signApigRequest({ method: 'GET', url, headers: { 'Content-Type': 'application/json' } }, AK, SK);
          // 'timeout' leaves the call hanging: cut it short, the log entry is written when the request arrives
          await fetch(url, { headers, signal: AbortSignal.timeout(100) }).then((r) => r.text()).catch(() => undefined);
        }
        return own.calls().map((c) => c.fault ?? '-');
      } finally {
        await own.close();
      }
    };
    const first = await run(7, 'error');
    expect(await run(7, 'error')).toEqual(first);
    expect(await run(8, 'error')).not.toEqual(first);
    const failed = first.filter((f) => f !== '-').length;
    expect(failed).toBeGreaterThan(4);
    expect(failed).toBeLessThan(22);
    expect(new Set(first)).toEqual(new Set(['-', 'error']));
    expect(new Set(await run(3, 'mixed', 1, 15))).toEqual(new Set(['error', 'timeout', 'business']));
    expect(new Set(await run(3, 'business', 0, 10))).toEqual(new Set(['-']));
  });

  it('logs what each injected fault did: 503, no answer (0), or MKT.0999 with HTTP 200', async () => {
    const own = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK } });
    try {
      const url = `${own.url}${QUERY}?orderId=MOCKONDEMAND`;
      const get = () => {
        const headers = signApigRequest({ method: 'GET', url, headers: { 'Content-Type': 'application/json' } }, AK, SK);
        return fetch(url, { headers, signal: AbortSignal.timeout(200) }).then(async (r) => ({ status: r.status, body: await r.json() }), () => 'no answer');
      };
      own.injectFaults({ count: 1, mode: 'timeout' });
      expect(await get()).toBe('no answer');
      own.injectFaults({ rate: 1, seed: 1, mode: 'business' });
      expect(await get()).toEqual({ status: 200, body: { resultCode: 'MKT.0999', resultMsg: 'system error (injected)' } });
      own.injectFaults({ count: 0, mode: 'error' });
      expect(await get()).toMatchObject({ status: 200, body: { resultCode: 'MKT.0000' } });
      expect(own.calls().map(({ status, fault }) => ({ status, fault }))).toEqual([
        { status: 0, fault: 'timeout' },
        { status: 200, fault: 'business' },
        { status: 200, fault: undefined },
      ]);
    } finally {
      await own.close();
    }
  });

  it('accepts the seeded form at POST /__local/faults and refuses a rate outside 0..1', async () => {
    expect((await post('/__local/faults', '{"rate":1.5,"seed":1,"mode":"error"}')).status).toBe(400);
    expect((await post('/__local/faults', '{"rate":0.5,"mode":"error"}')).status).toBe(400);
    expect((await post('/__local/faults', '{"rate":1,"seed":4,"mode":"error"}')).status).toBe(204);
    expect((await query('?orderId=MOCKONDEMAND')).status).toBe(503);
    expect(mkt.calls().at(-1)).toMatchObject({ status: 503, fault: 'error' });
    expect((await post('/__local/faults', '{"count":0,"mode":"error"}')).status).toBe(204);
    expect((await query('?orderId=MOCKONDEMAND')).status).toBe(200);
  });

  it('leaves timed-out queries unanswered and still closes promptly', async () => {
    const own = await startLocalMarketplace({ port: 0, credentials: {} });
    own.injectFaults({ count: 1, mode: 'timeout' });
    const hanging = new Promise<string>((resolve) => {
      request(`${own.url}${QUERY}?orderId=X`)
        .on('response', () => resolve('answered'))
        .on('error', (e) => resolve(`error: ${e.message}`))
        .end();
    });
    await expect.poll(() => own.calls().length).toBe(1);
    expect(own.calls()[0]?.status).toBe(0);
    await own.close();
    expect(await hanging).toMatch(/^error: /);
  });
});

const USAGE = '/api/mkp-openapi-public/global/v1/isv/usage-data';
const USAGE_KEY = 'mkt-usage-key';
const NOW = new Date('2024-03-20T12:00:00Z');

let umkt: LocalMarketplace;
beforeAll(async () => {
  umkt = await startLocalMarketplace({
    port: 0,
    credentials: { [AK]: SK },
    usageKeys: ['old-usage-key', USAGE_KEY],
    now: () => NOW,
  });
});
afterAll(() => umkt.close());

let serial = 0;
/** A valid record (relative to NOW) with a unique metering_sn. */
const record = (over: Partial<Record<keyof UsagePushRecord, unknown>> = {}) => ({
  instance_id: 'inst-1',
  record_time: '20240320T110500Z',
  begin_time: '20240320T100000Z',
  end_time: '20240320T110000Z',
  usage_value: '1.5',
  metering_sn: `sn-${++serial}`,
  ...over,
});

interface PushOptions {
  key?: string;
  ts?: string | null;
  nonce?: string | null;
  signature?: string | null;
  /** sign these bytes instead of what is sent */
  signedBody?: string;
  sk?: string;
  target?: LocalMarketplace;
}

/** A usage push signed as spec 2.7 + 2.8 prescribe (each part can be broken); resolves with status and body. */
async function push(body: unknown, o: PushOptions = {}) {
  const target = o.target ?? umkt;
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const ts = o.ts === undefined ? String(NOW.getTime()) : o.ts;
  const nonce = o.nonce === undefined ? randomBytes(32).toString('hex') : o.nonce;
  const signature =
    o.signature === undefined ? usagePushSignature(o.key ?? USAGE_KEY, ts ?? '', nonce ?? '', o.signedBody ?? raw) : o.signature;
  const extra: Record<string, string> = { 'Content-Type': 'application/json' };
  if (ts !== null) extra.ts = ts;
  if (nonce !== null) extra.nonce = nonce;
  if (signature !== null) extra.signature = signature;
  const url = `${target.url}${USAGE}`;
  const headers = signApigRequest({ method: 'POST', url, headers: extra, body: raw }, AK, o.sk ?? SK, NOW);
  const res = await fetch(url, { method: 'POST', headers, body: raw });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const OK = { status: 200, body: { error_code: 'MKT.0000', error_msg: 'success' } };
const BAD_SIGNATURE = { status: 200, body: { error_code: 'MKT.0102', error_msg: 'invalid body signature' } };

describe('local marketplace: usage push', () => {
  it('accepts a signed push, stores the records and lists them at GET /__local/usage', async () => {
    const records = [record(), record({ relate_pkg_instance: 'pkg-1', usage_value: '0.0001' })];
    expect(await push({ usage_records: records })).toEqual(OK);
    expect(umkt.usageRecords().slice(-2)).toEqual(records);
    const listed = (await (await fetch(`${umkt.url}/__local/usage`)).json()) as { records: unknown[]; duplicates: number };
    expect(listed).toEqual({ records: umkt.usageRecords(), duplicates: umkt.usageDuplicates() });
    expect(umkt.calls().at(-1)).toEqual({ method: 'POST', path: USAGE, status: 200 });
  });

  it('accepts any of the usage keys', async () => {
    expect(await push({ usage_records: [record()] }, { key: 'old-usage-key' })).toEqual(OK);
  });

  it('refuses a bad AK/SK signature with HTTP 401 APIGW.0301 before looking at the body', async () => {
    const before = umkt.usageRecords().length;
    expect(await push({ usage_records: [record()] }, { sk: 'wrong-sk' })).toEqual({
      status: 401,
      body: { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information' },
    });
    expect(umkt.usageRecords()).toHaveLength(before);
  });

  it.each<[string, PushOptions]>([
    ['missing signature', { signature: null }],
    ['missing ts', { ts: null }],
    ['missing nonce', { nonce: null }],
    ['an unknown key', { key: 'not-the-key' }],
    ['a tampered body', { signedBody: '{"usage_records":[]}' }],
    ['ts 6 minutes old', { ts: String(NOW.getTime() - 6 * 60_000) }],
    ['ts 6 minutes ahead', { ts: String(NOW.getTime() + 6 * 60_000) }],
    ['ts in seconds', { ts: String(NOW.getTime() / 1000) }],
    ['a signature of the right length but wrong', { signature: usagePushSignature(USAGE_KEY, '1', '2', '3') }],
  ])('refuses %s with MKT.0102 and stores nothing', async (_, o) => {
    const before = umkt.usageRecords().length;
    expect(await push({ usage_records: [record()] }, o)).toEqual(BAD_SIGNATURE);
    expect(umkt.usageRecords()).toHaveLength(before);
  });

  it('accepts a ts 4 minutes off, and refuses a nonce already used', async () => {
    const nonce = randomBytes(32).toString('hex');
    expect(await push({ usage_records: [record()] }, { nonce, ts: String(NOW.getTime() - 4 * 60_000) })).toEqual(OK);
    expect(await push({ usage_records: [record()] }, { nonce })).toEqual(BAD_SIGNATURE);
  });

  it('defaults the usage key to the local development access key', async () => {
    const own = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK }, now: () => NOW });
    try {
      expect(LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY).toBe('local-access-key');
      expect(await push({ usage_records: [record()] }, { target: own, key: 'local-access-key' })).toEqual(OK);
      expect(await push({ usage_records: [record()] }, { target: own })).toEqual(BAD_SIGNATURE);
    } finally {
      await own.close();
    }
  });

  it.each<[string, string]>([
    ['no records', '{"usage_records":[]}'],
    ['101 records', JSON.stringify({ usage_records: Array.from({ length: 101 }, () => record()) })],
    ['no usage_records', '{"records":[]}'],
    ['usage_records not an array', '{"usage_records":{}}'],
    ['a body that is not JSON', 'usage_records'],
  ])('answers MKT.9003 for %s', async (_, body) => {
    const before = umkt.usageRecords().length;
    expect((await push(body)).body).toMatchObject({ error_code: 'MKT.9003' });
    expect(umkt.usageRecords()).toHaveLength(before);
  });

  it('accepts exactly 100 records', async () => {
    expect(await push({ usage_records: Array.from({ length: 100 }, () => record()) })).toEqual(OK);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a missing instance_id', { instance_id: undefined }],
    ['an empty metering_sn', { metering_sn: '' }],
    ['a numeric usage_value', { usage_value: 1 }],
    ['usage_value 0', { usage_value: '0' }],
    ['usage_value 0.0000', { usage_value: '0.0000' }],
    ['a negative usage_value', { usage_value: '-1' }],
    ['5 decimals', { usage_value: '1.00001' }],
    ['an exponent', { usage_value: '1e3' }],
    ['record_time in yyyyMMddHHmmss', { record_time: '20240320110500' }],
    ['begin_time with milliseconds', { begin_time: '20240320T100000.000Z' }],
    ['an impossible end_time', { end_time: '20240230T100000Z' }],
    ['begin_time after end_time', { begin_time: '20240320T110001Z' }],
    ['an instance_id over 64 characters', { instance_id: 'i'.repeat(65) }],
  ])('answers MKT.9002 listing only the record with %s, storing none', async (_, over) => {
    const bad = record(over);
    const good = record();
    const before = umkt.usageRecords().length;
    const { status, body } = await push({ usage_records: [good, bad] });
    expect(status).toBe(200);
    expect(body).toMatchObject({ error_code: 'MKT.9002', error_msg: 'invalid usage entities' });
    const listed = (body.extra_info as { abnormal_usage_data: Array<{ metering_sn: unknown; reason: string }> }).abnormal_usage_data;
    expect(listed.map((a) => a.metering_sn)).toEqual([bad.metering_sn]);
    expect(listed[0]!.reason.length).toBeGreaterThan(0);
    expect(umkt.usageRecords()).toHaveLength(before);
  });

  it('lists a record that is not an object with a null metering_sn', async () => {
    const { body } = await push({ usage_records: ['x'] });
    expect(body).toMatchObject({ error_code: 'MKT.9002', extra_info: { abnormal_usage_data: [{ metering_sn: null }] } });
  });

  it('answers MKT.9004 for a begin_time more than 21 days before now, listing those records', async () => {
    const old = record({ begin_time: '20240228T115959Z' }); // 21 days + 1 s before NOW
    const edge = record({ begin_time: '20240228T120000Z' }); // exactly 21 days: accepted alone
    const before = umkt.usageRecords().length;
    const { body } = await push({ usage_records: [edge, old] });
    expect(body).toEqual({
      error_code: 'MKT.9004',
      error_msg: 'record begin time too old',
      extra_info: { abnormal_usage_data: [{ metering_sn: old.metering_sn, reason: 'begin_time is more than 21 days ago' }] },
    });
    expect(umkt.usageRecords()).toHaveLength(before);
    expect(await push({ usage_records: [edge] })).toEqual(OK);
  });

  it('de-duplicates by metering_sn: repeats are accepted and counted, never stored twice', async () => {
    const [a, b] = [record(), record()];
    expect(await push({ usage_records: [a] })).toEqual(OK);
    const stored = umkt.usageRecords().length;
    const dups = umkt.usageDuplicates();
    expect(await push({ usage_records: [a, b, { ...b, usage_value: '99' }] })).toEqual(OK);
    expect(umkt.usageRecords()).toHaveLength(stored + 1);
    expect(umkt.usageRecords().filter((r) => r.metering_sn === b.metering_sn)).toEqual([b]);
    expect(umkt.usageDuplicates()).toBe(dups + 2);
    const listed = (await (await fetch(`${umkt.url}/__local/usage`)).json()) as { duplicates: number };
    expect(listed.duplicates).toBe(dups + 2);
  });

  it('applies injected faults to usage pushes, sharing the counter with order queries', async () => {
    const own = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK }, usageKeys: [USAGE_KEY], now: () => NOW });
    try {
      own.injectFaults({ count: 2, mode: 'error' });
      expect((await push({ usage_records: [record()] }, { target: own })).status).toBe(503);
      const url = `${own.url}${QUERY}?orderId=MOCKONDEMAND`;
      const headers = signApigRequest({ method: 'GET', url, headers: { 'Content-Type': 'application/json' } }, AK, SK, NOW);
      expect((await fetch(url, { headers })).status).toBe(503);
      own.injectFaults({ count: 1, mode: 'business' });
      expect(await push({ usage_records: [record()] }, { target: own })).toEqual({
        status: 200,
        body: { error_code: 'MKT.0999', error_msg: 'system error (injected)' },
      });
      expect(own.usageRecords()).toEqual([]);
      expect(await push({ usage_records: [record()] }, { target: own })).toEqual(OK);
      expect(own.calls().map((c) => `${c.method} ${c.path.split('?')[0]} ${c.status}`)).toEqual([
        `POST ${USAGE} 503`,
        `GET ${QUERY} 503`,
        `POST ${USAGE} 200`,
        `POST ${USAGE} 200`,
      ]);
    } finally {
      await own.close();
    }
  });

  it('answers 404 for a GET on the usage path', async () => {
    expect((await fetch(`${umkt.url}${USAGE}`)).status).toBe(404);
  });
});
