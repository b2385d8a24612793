import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { internalEvent } from '#shared/testing/apiEvents';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

const DAY = 86_400_000;
let h: Harness;
beforeAll(async () => {
  // a slow shared machine must not turn a marketplace answer into a timeout (the default is 500 ms)
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '3000' });
});
afterAll(() => h.close());

const fresh = (status: 'UNACTIVATED' | 'ALIVE' | 'EXPIRED' | 'RELEASED' = 'UNACTIVATED', claimed = true) => {
  const code = `PLH${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
  h.marketplace.registerLicense({ code, status, claimed, expireTime: formatMarketTime(new Date(Date.now() + 365 * DAY)), productId: 'P1', orderId: 'CSL1', amount: 3 });
  return code;
};
const route = (action: 'activate' | 'heartbeat', code: string, opts: { body?: unknown; at?: number } = {}) => {
  const event = internalEvent({
    method: 'POST',
    resource: `/internal/licenses/{code}/${action}`,
    pathParameters: { code },
    body: opts.body === undefined ? null : JSON.stringify(opts.body),
  });
  if (opts.at !== undefined) (event.requestContext as { requestTimeEpoch?: number }).requestTimeEpoch = opts.at;
  return invoke(handler as never, event);
};
const stored = async (code: string) => (await getRuntime()).services.licenses.getLicense(code);

describe('POST /internal/licenses/{code}/activate', () => {
  it('activates once (v1) and stores the answer; a second call answers the stored facts without calling again', async () => {
    const code = fresh();
    const first = await route('activate', code, { body: { realEffectTime: formatMarketTime(new Date()) } });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ code, status: 'ALIVE', state: 'ACTIVE', usable: true, expireSource: 'activation', fromCache: false, alreadyActivated: false });
    expect(h.marketplace.licenses().find((l) => l.code === code)?.status).toBe('ALIVE');
    expect(await stored(code)).toMatchObject({ amount: 3, orderId: 'CSL1', productId: 'P1', registeredBy: 'activation' });
    const calls = h.marketplace.calls().length;
    const again = await route('activate', code);
    expect(again.json).toMatchObject({ code, fromCache: true, alreadyActivated: true });
    expect(h.marketplace.calls().length).toBe(calls);
  });

  it('92020003 (activated elsewhere) is success with the heartbeat facts, and is the day\'s heartbeat', async () => {
    const code = fresh('ALIVE');
    const answer = await route('activate', code);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ code, status: 'ALIVE', expireSource: 'heartbeat', alreadyActivated: true, fromCache: false });
    expect(h.marketplace.heartbeatCount(code)).toBe(1);
    expect((await route('heartbeat', code)).json.fromCache).toBe(true);
    expect(h.marketplace.heartbeatCount(code)).toBe(1);
  });

  it('maps the marketplace codes: 92020004 → 409, 92020005 → 404, 92020002 → 400; nothing is stored', async () => {
    const unclaimed = fresh('UNACTIVATED', false);
    const a = await route('activate', unclaimed);
    expect(a.status).toBe(409);
    expect(a.json.marketplaceCode).toBe('92020004');
    const b = await route('activate', 'PLDOESNOTEXIST01');
    expect(b.status).toBe(404);
    expect(b.json.marketplaceCode).toBe('92020005');
    expect(await stored(unclaimed)).toBeUndefined();
    expect(await stored('PLDOESNOTEXIST01')).toBeUndefined();
    const bad = await route('activate', fresh(), { body: { realEffectTime: 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^realEffectTime:/);
  });

  it('a marketplace fault (transport or its own error) → 502 and nothing half-written; the next call succeeds', async () => {
    const code = fresh();
    h.marketplace.injectFaults({ count: 4, mode: 'error' });
    const failed = await route('activate', code);
    h.marketplace.injectFaults({ count: 0, mode: 'error' });
    expect(failed.status).toBe(502);
    expect(await stored(code)).toBeUndefined();
    h.marketplace.injectFaults({ count: 1, mode: 'business' });
    const business = await route('activate', code);
    expect(business.status).toBe(502);
    expect(business.json.marketplaceCode).toBe('92020001');
    expect(await stored(code)).toBeUndefined();
    expect((await route('activate', code)).json).toMatchObject({ code, alreadyActivated: false });
  });
});

describe('POST /internal/licenses/{code}/heartbeat', () => {
  it('20 concurrent calls → exactly one marketplace call; the next UTC day one more', async () => {
    const code = fresh();
    expect((await route('activate', code)).status).toBe(200);
    const now = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => route('heartbeat', code, { at: now })));
    expect(h.marketplace.heartbeatCount(code)).toBe(1);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const fromMarketplace = answers.filter((a) => !a.json.fromCache);
    expect(fromMarketplace).toHaveLength(1);
    expect(fromMarketplace[0]!.json).toMatchObject({ code, status: 'ALIVE', expireSource: 'heartbeat', checkedAt: new Date(now).toISOString() });
    for (const a of answers) expect(Object.keys(a.json)).toEqual(expect.arrayContaining(['code', 'status', 'expireTime', 'activatedAt', 'checkedAt', 'fromCache']));
    // later the same day: from the table
    const later = await route('heartbeat', code, { at: now + 60_000 });
    expect(later.json).toMatchObject({ fromCache: true, checkedAt: new Date(now).toISOString() });
    expect(later.json.refreshing).toBeUndefined();
    const tomorrow = now + DAY;
    await Promise.all(Array.from({ length: 5 }, () => route('heartbeat', code, { at: tomorrow })));
    expect(h.marketplace.heartbeatCount(code)).toBe(2);
    // a clock behind the claimed day never calls again
    await route('heartbeat', code, { at: now });
    expect(h.marketplace.heartbeatCount(code)).toBe(2);
  });

  it('while the winner\'s call is in flight the others answer the stored facts, flagged refreshing', async () => {
    const code = fresh();
    await route('activate', code);
    const now = Date.now();
    const { services } = await getRuntime();
    const original = services.marketplace.licenseHeartbeat;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    services.marketplace.licenseHeartbeat = async (c, o) => {
      await gate;
      return original.call(services.marketplace, c, o);
    };
    try {
      const winner = route('heartbeat', code, { at: now });
      await new Promise((r) => setTimeout(r, 300));
      const other = await route('heartbeat', code, { at: now });
      expect(other.json).toMatchObject({ fromCache: true, refreshing: true, status: 'ALIVE', expireSource: 'activation' });
      release();
      expect((await winner).json.fromCache).toBe(false);
    } finally {
      services.marketplace.licenseHeartbeat = original;
    }
    expect(h.marketplace.heartbeatCount(code)).toBe(1);
  });

  it('a marketplace failure → 502, the claim given back: the next call retries', async () => {
    const code = fresh();
    await route('activate', code);
    const now = Date.now();
    h.marketplace.injectFaults({ count: 4, mode: 'error' });
    const failed = await route('heartbeat', code, { at: now });
    h.marketplace.injectFaults({ count: 0, mode: 'error' });
    expect(failed.status).toBe(502);
    expect(h.marketplace.heartbeatCount(code)).toBe(0);
    expect((await stored(code))!.heartbeatDay).toBeUndefined();
    const retried = await route('heartbeat', code, { at: now + 1000 });
    expect(retried.json).toMatchObject({ fromCache: false, status: 'ALIVE' });
    expect(h.marketplace.heartbeatCount(code)).toBe(1);
  });

  it('the marketplace\'s answer is the authority: RELEASED there releases the code here', async () => {
    const code = fresh();
    await route('activate', code);
    h.marketplace.registerLicense({ code, status: 'RELEASED', expireTime: formatMarketTime(new Date(Date.now() - DAY)), productId: 'P1', orderId: 'CSL1', amount: 3 });
    const answer = await route('heartbeat', code);
    expect(answer.json).toMatchObject({ status: 'RELEASED', state: 'RELEASED', usable: false });
  });

  it('an unknown code → 404 without calling the marketplace; a bad code → 400', async () => {
    const unknown = await route('heartbeat', 'PLNEVERACTIVATED1');
    expect(unknown.status).toBe(404);
    expect(h.marketplace.heartbeatCount('PLNEVERACTIVATED1')).toBe(0);
    expect((await route('heartbeat', 'x'.repeat(65))).status).toBe(400);
  });
});
