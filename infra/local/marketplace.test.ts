import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { signApigRequest } from '#shared/protocol/apigSigner';
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
