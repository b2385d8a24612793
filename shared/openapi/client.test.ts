import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenApiError, createMarketplaceClient, type MarketplaceClientConfig } from '#shared/openapi/client';
import type { OrderInfo } from '#shared/openapi/order';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';

const AK = 'client-test-ak';
const SK = 'client-test-sk-0123456789';

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
