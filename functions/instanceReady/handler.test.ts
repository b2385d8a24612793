/**
 * The asynchronous provisioner (PROVISIONER=async) on DynamoDB Local, end to end: real signed
 * newInstance calls through the produce handler, the product a local receiver (node:http) that checks
 * the signature and accepts the hand-off with 202, the scheduled jobs run as of a moved clock, and the
 * product's later answer through `POST /internal/instances/{instanceId}/ready` (or `/failed`).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OperatorAlert } from '#shared/domain/alerts';
import { getRuntime } from '#shared/runtime';
import { internalEvent } from '#shared/testing/apiEvents';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { verifyWebhookSignature } from '#shared/provisioning/webhookProvisioner';
import { handler as produce } from '../produce/handler.ts';
import { handler as newInstanceFunction } from '../newInstance/handler.ts';
import { handler as resumeProvisioning } from '../resumeProvisioning/handler.ts';
import { handler as provisioningWatch } from '../provisioningWatch/handler.ts';
import { handler } from './handler.ts';

const SECRET = 'async-provisioner-test-secret';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** What the product received: every request verified against the shared secret. */
interface Received {
  type: string;
  body: Record<string, any>;
  signed: boolean;
}
const received: Received[] = [];
/** How the product answers the next provision requests (default: 202 Accepted). */
const provisionAnswers: Array<(res: ServerResponse) => void> = [];
const json = (res: ServerResponse, status: number, value: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
const product = createServer(async (req, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  const body = JSON.parse(raw) as Record<string, any>;
  const signed = verifyWebhookSignature(SECRET, String(req.headers['x-koogallery-timestamp']), raw, String(req.headers['x-koogallery-signature']), Date.now(), 60_000);
  received.push({ type: body.type, body, signed });
  if (body.type !== 'provision') return res.writeHead(204).end();
  const answer = provisionAnswers.shift();
  if (answer) return answer(res);
  json(res, 202, { accepted: true });
});

let h: Harness;
let alerts: OperatorAlert[];
beforeAll(async () => {
  product.listen(0, '127.0.0.1');
  await once(product, 'listening');
  h = await startHarness({
    PROVISIONER: 'async',
    PROVISIONER_WEBHOOK_URL: `http://127.0.0.1:${(product.address() as AddressInfo).port}/koogallery`,
    PROVISIONER_WEBHOOK_SECRET: SECRET,
    PROVISION_RETRY_DELAY_MS: String(MINUTE),
    // the default, spelled out: an accepted hand-off is sent again after an hour without an answer
    PROVISIONER_ASYNC_RESEND_MINUTES: '60',
  });
  alerts = await captureAlerts();
});
afterAll(async () => {
  product.closeAllConnections();
  product.close();
  await h.close();
});
beforeEach(() => {
  received.length = 0;
  provisionAnswers.length = 0;
  alerts.length = 0;
});

const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const store = async () => (await getRuntime()).services.store;
const provisions = () => received.filter((r) => r.type === 'provision');
const lifecycle = () => received.filter((r) => r.type === 'lifecycle').map((r) => `${r.body.event}:${r.body.state}`);

const APP_INFO = { frontEndUrl: 'https://product.example/t/acme', adminUrl: 'https://product.example/admin/acme', userName: 'owner@acme', password: 'S3cret!later', memo: 'Welcome' };

function answer(instanceId: string, body: unknown, action: 'ready' | 'failed' = 'ready') {
  return invoke(
    handler,
    internalEvent({
      method: 'POST',
      resource: `/internal/instances/{instanceId}/${action}`,
      pathParameters: { instanceId },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}
const ready = (instanceId: string, body: unknown = APP_INFO) => answer(instanceId, body, 'ready');

/** A purchase of a fresh order: newInstance through the real handler, answered 000004 (handed to the product). */
async function purchase() {
  const order = freshOrder();
  h.marketplace.registerOrder(order);
  const ids = { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
  const businessId = randomUUID();
  const first = await invoke(newInstanceFunction, signedEvent({ activity: 'newInstance', businessId, ...ids }));
  expect(first.json).toEqual({ resultCode: '000004', resultMsg: 'provisioning in progress', instanceId: businessId });
  const claimedAt = Date.parse((await (await store()).getInstance(businessId))!.createdAt);
  return { instanceId: businessId, ids, resend: () => call({ activity: 'newInstance', businessId: randomUUID(), ...ids }), at: (ms: number) => new Date(claimedAt + ms) };
}

describe('PROVISIONER=async: the product answers later through the ready route', () => {
  it('newInstance hands the order over and answers 000004 until the product posts the app info; then 000000 with the app info', async () => {
    const p = await purchase();
    // one signed hand-off, telling the product to answer later
    expect(provisions()).toHaveLength(1);
    expect(provisions()[0]).toMatchObject({ signed: true, body: { type: 'provision', reply: 'later', instanceId: p.instanceId, ...p.ids, attempt: 1, testFlag: false } });
    const waiting = (await (await store()).getInstance(p.instanceId))!;
    expect(waiting).toMatchObject({ status: 'PROVISIONING', provisioningAttempts: 1, statusReason: 'attempt 1 handed to the product; awaiting its answer' });
    // due again an hour after the hand-off, not at the one-minute retry delay
    expect(Date.parse(waiting.provisioningDueAt!)).toBeGreaterThanOrEqual(p.at(HOUR).getTime());

    // the marketplace's resends and polls see 000004, and nothing reaches the product again
    expect((await p.resend()).json).toEqual({ resultCode: '000004', resultMsg: 'provisioning in progress', instanceId: p.instanceId });
    expect((await call({ activity: 'queryInstance', instanceId: p.instanceId })).json.resultCode).toBe('000004');
    // the every-minute job does not re-provision it before the resend delay
    for (const later of [2 * MINUTE, 10 * MINUTE, 59 * MINUTE]) {
      const summary = await runJob<Record<string, number>>(resumeProvisioning, p.at(later));
      expect(summary).toMatchObject({ handedOff: 0, completed: 0, failed: 0 });
      expect((await (await store()).dueProvisioning(p.at(later))).includes(p.instanceId)).toBe(false);
    }
    expect(provisions()).toHaveLength(1);

    // the product is done: the ready route completes the provisioning
    const done = await ready(p.instanceId);
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ instanceId: p.instanceId, status: 'ACTIVE', outcome: 'recorded' });
    expect(await (await store()).getInstance(p.instanceId)).toMatchObject({ status: 'ACTIVE', appInfo: APP_INFO, provisioningAttempts: 1, statusReason: 'tenant provisioned' });
    expect((await (await store()).getInstance(p.instanceId))!.provisioningDueAt).toBeUndefined();
    // the product's lifecycle hook hears of it, like after a synchronous provisioning
    expect(lifecycle()).toEqual(['PROVISIONED:ACTIVE']);

    // the next resend answers exactly as a synchronous provisioning does, and the poll shows the app info
    expect((await p.resend()).json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId: p.instanceId });
    const query = await call({ activity: 'queryInstance', instanceId: p.instanceId });
    expect(query.json).toEqual({ resultCode: '000000', resultMsg: 'success.', info: [{ instanceId: p.instanceId, appInfo: APP_INFO }] });
    // nothing is due any more: the job never hands it over again
    expect((await (await store()).dueProvisioning(p.at(24 * HOUR))).includes(p.instanceId)).toBe(false);
    expect(provisions()).toHaveLength(1);
  });

  it('an accepted hand-off without an answer is sent again after the resend delay; a failed hand-off at the retry delay', async () => {
    const accepted = await purchase();
    // the product could not be reached for the second purchase: 000004, and the job retries at the retry delay
    provisionAnswers.push((res) => json(res, 503, {}));
    const failed = await purchase();
    expect(provisions()).toHaveLength(2);
    expect(Date.parse((await (await store()).getInstance(failed.instanceId))!.provisioningDueAt!)).toBeLessThan(failed.at(2 * MINUTE).getTime());

    const retried = await runJob<Record<string, number>>(resumeProvisioning, failed.at(2 * MINUTE));
    expect(retried).toMatchObject({ handedOff: 1, failed: 0 });
    expect(provisions().slice(2).map((r) => [r.body.instanceId, r.body.attempt])).toEqual([[failed.instanceId, 2]]);
    expect(await (await store()).getInstance(failed.instanceId)).toMatchObject({ status: 'PROVISIONING', provisioningAttempts: 2 });

    const resent = await runJob<Record<string, number>>(resumeProvisioning, accepted.at(HOUR + MINUTE));
    expect(resent).toMatchObject({ handedOff: 1, failed: 0 });
    expect(provisions().slice(3).map((r) => [r.body.instanceId, r.body.attempt, r.signed])).toEqual([[accepted.instanceId, 2, true]]);
    const again = (await (await store()).getInstance(accepted.instanceId))!;
    expect(again).toMatchObject({ status: 'PROVISIONING', provisioningAttempts: 2 });
    expect(Date.parse(again.provisioningDueAt!)).toBeGreaterThanOrEqual(accepted.at(2 * HOUR + MINUTE).getTime());

    // the product's answer to either attempt completes it
    for (const p of [accepted, failed]) expect((await ready(p.instanceId)).json).toMatchObject({ status: 'ACTIVE', outcome: 'recorded' });
  });

  it('an instance still awaiting the product 2 h after the purchase is alerted by provisioningWatch', async () => {
    const p = await purchase();
    await runJob(provisioningWatch, p.at(HOUR + 59 * MINUTE));
    expect(alerts).toEqual([]);
    await runJob(provisioningWatch, p.at(2 * HOUR));
    expect(alerts).toEqual([expect.objectContaining({ kind: 'provisioning-stuck', subject: { instanceId: p.instanceId, ...p.ids } })]);
    // the hand-off was due again (an hour without an answer): the watch sent it once more
    expect(provisions().map((r) => r.body.attempt)).toEqual([1, 2]);
    expect((await ready(p.instanceId)).json).toMatchObject({ status: 'ACTIVE' });
  });

  it('the same answer twice is 200 both times with the same state; a different one after completion is 409', async () => {
    const p = await purchase();
    const first = await ready(p.instanceId);
    const stored = (await (await store()).getInstance(p.instanceId))!;
    const second = await ready(p.instanceId);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.json).toEqual({ instanceId: p.instanceId, status: 'ACTIVE', outcome: 'already recorded' });
    // the repeat wrote nothing and told the product nothing new
    expect((await (await store()).getInstance(p.instanceId))!.version).toBe(stored.version);
    expect(lifecycle()).toEqual(['PROVISIONED:ACTIVE']);

    const other = await ready(p.instanceId, { ...APP_INFO, password: 'another' });
    expect(other.status).toBe(409);
    expect(other.json).toEqual({ error: 'the instance already has its app info', instanceId: p.instanceId, status: 'ACTIVE' });
    expect((await (await store()).getInstance(p.instanceId))).toMatchObject({ appInfo: APP_INFO, version: stored.version });
    // a refusal after completion is refused too
    expect((await answer(p.instanceId, { resultCode: '000106', message: 'sold out' }, 'failed')).status).toBe(409);
  });

  it('an unknown instance is 404; a console debug instance is never the product’s (409)', async () => {
    const unknown = randomUUID();
    expect((await ready(unknown)).json).toEqual({ error: 'instance not found', instanceId: unknown });
    expect((await ready(unknown)).status).toBe(404);
    expect((await answer(unknown, { resultCode: '000106', message: 'sold out' }, 'failed')).status).toBe(404);

    // a debug call is provisioned by the built-in provisioner at once: the product never saw it
    const debug = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    expect(debug.json.resultCode).toBe('000000');
    expect(provisions()).toEqual([]);
    const refused = await ready(debug.json.instanceId!);
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatch(/debug instance/);
  });

  it('bad ids and bodies are 400 with a message naming what is wrong, and change nothing', async () => {
    const p = await purchase();
    const before = (await (await store()).getInstance(p.instanceId))!;
    const cases: Array<[unknown, RegExp]> = [
      ['not json', /^body must be JSON$/],
      ['', /^body must be JSON$/],
      [[], /^body: /],
      [{}, /^frontEndUrl: /],
      [{ ...APP_INFO, frontEndUrl: '   ' }, /^frontEndUrl: must not be empty$/],
      [{ ...APP_INFO, frontEndUrl: `https://x.example/${'a'.repeat(500)}` }, /^frontEndUrl: must be at most 512 characters$/],
      [{ ...APP_INFO, adminUrl: 'a'.repeat(513) }, /^adminUrl: must be at most 512 characters$/],
      [{ ...APP_INFO, userName: 'u'.repeat(129) }, /^userName: must be at most 128 characters$/],
      [{ ...APP_INFO, password: 'p'.repeat(129) }, /^password: must be at most 128 characters$/],
      [{ ...APP_INFO, memo: 'm'.repeat(1025) }, /^memo: must be at most 1024 characters$/],
      [{ ...APP_INFO, password: 12345 }, /^password: /],
      [{ ...APP_INFO, tenantId: 'x' }, /tenantId/],
    ];
    for (const [body, message] of cases) {
      const refused = await ready(p.instanceId, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error, JSON.stringify(body)).toMatch(message);
    }
    for (const [body, message] of [
      [{ resultCode: '000000', message: 'fine' }, /^resultCode: /],
      [{ resultCode: '000106' }, /^message: /],
      [{ resultCode: '000106', message: 'x'.repeat(256) }, /^message: must be at most 255 characters$/],
    ] as const) {
      const refused = await answer(p.instanceId, body, 'failed');
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error).toMatch(message);
    }
    for (const instanceId of ['', '   ', 'x'.repeat(65)]) {
      const refused = await ready(instanceId);
      expect(refused.status).toBe(400);
      expect(refused.json).toEqual({ error: 'instanceId must be 1 to 64 characters' });
    }
    expect(await (await store()).getInstance(p.instanceId)).toEqual(before);
    // the largest answer the marketplace takes is taken
    const largest = { frontEndUrl: `https://x.example/${'a'.repeat(512 - 18)}`, adminUrl: 'a'.repeat(512), userName: 'u'.repeat(128), password: 'p'.repeat(128), memo: 'm'.repeat(1024) };
    expect((await ready(p.instanceId, largest)).status).toBe(200);
    expect((await (await store()).getInstance(p.instanceId))!.appInfo).toEqual(largest);
  });

  it('frozen while awaiting the product: the answer completes it into FROZEN, and the unfreeze activates it', async () => {
    const p = await purchase();
    expect((await call({ activity: 'updateInstanceStatus', instanceId: p.instanceId, status: 'FREEZE' })).json.resultCode).toBe('000000');
    // still waiting for its tenant: the resend says so
    expect((await p.resend()).json.resultCode).toBe('000004');
    expect((await ready(p.instanceId)).json).toEqual({ instanceId: p.instanceId, status: 'FROZEN', outcome: 'recorded' });
    expect(await (await store()).getInstance(p.instanceId)).toMatchObject({ status: 'FROZEN', appInfo: APP_INFO });
    expect((await p.resend()).json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId: p.instanceId });
    expect((await call({ activity: 'updateInstanceStatus', instanceId: p.instanceId, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect((await (await store()).getInstance(p.instanceId))?.status).toBe('ACTIVE');
    expect(lifecycle()).toEqual(['FREEZE:FROZEN', 'PROVISIONED:FROZEN', 'UNFREEZE:ACTIVE']);
  });

  it('released while awaiting the product: the answer is 409 and the product is told to delete the tenant', async () => {
    const p = await purchase();
    expect((await call({ activity: 'releaseInstance', instanceId: p.instanceId })).json.resultCode).toBe('000000');
    const late = await ready(p.instanceId);
    expect(late.status).toBe(409);
    expect(late.json).toEqual({ error: 'the instance was released before provisioning finished: delete the tenant', instanceId: p.instanceId, status: 'RELEASED' });
    expect(await (await store()).getInstance(p.instanceId)).toMatchObject({ status: 'RELEASED' });
    expect((await (await store()).getInstance(p.instanceId))!.appInfo).toBeUndefined();
    // the release, then the late tenant to delete (with its app info, without its password)
    expect(lifecycle()).toEqual(['RELEASE:RELEASED', 'RELEASE:RELEASED']);
    const told = received.filter((r) => r.type === 'lifecycle')[1]!.body;
    expect(told.instance.appInfo).toEqual({ frontEndUrl: APP_INFO.frontEndUrl, adminUrl: APP_INFO.adminUrl, userName: APP_INFO.userName, memo: APP_INFO.memo });
  });

  it('a refusal through /failed fails the instance; the next newInstance hands it over again and the product’s refusal reaches the marketplace', async () => {
    const p = await purchase();
    const refusal = { resultCode: '000106', message: 'sold out' };
    const failed = await answer(p.instanceId, refusal, 'failed');
    expect(failed.json).toEqual({ instanceId: p.instanceId, status: 'FAILED', outcome: 'recorded' });
    expect(await (await store()).getInstance(p.instanceId)).toMatchObject({ status: 'FAILED', statusReason: 'provisioning refused (000106): sold out' });
    expect((await answer(p.instanceId, refusal, 'failed')).json).toEqual({ instanceId: p.instanceId, status: 'FAILED', outcome: 'already recorded' });
    expect((await answer(p.instanceId, { resultCode: '000100', message: 'no resource' }, 'failed')).status).toBe(409);
    // the marketplace's poll sees a failure; nothing is due (no hand-off every hour for a refused order)
    expect((await call({ activity: 'queryInstance', instanceId: p.instanceId })).json.resultCode).toBe('000005');
    expect((await (await store()).dueProvisioning(p.at(3 * HOUR))).includes(p.instanceId)).toBe(false);
    // a resend hands the order line over again; the product answers it with its refusal at once
    provisionAnswers.push((res) => json(res, 409, { ...refusal, permanent: true }));
    expect((await p.resend()).json).toEqual({ resultCode: '000106', resultMsg: 'sold out', instanceId: p.instanceId });
    expect(provisions().map((r) => r.body.attempt)).toEqual([1, 2]);
  });

  it('a late ready after a refusal is taken (the lifecycle table: FAILED + PROVISIONED is ACTIVE)', async () => {
    const p = await purchase();
    expect((await answer(p.instanceId, { resultCode: '000100', message: 'no capacity' }, 'failed')).json.status).toBe('FAILED');
    expect((await ready(p.instanceId)).json).toEqual({ instanceId: p.instanceId, status: 'ACTIVE', outcome: 'recorded' });
    expect((await call({ activity: 'queryInstance', instanceId: p.instanceId })).json.info).toEqual([{ instanceId: p.instanceId, appInfo: APP_INFO }]);
    expect(lifecycle()).toEqual(['PROVISION_FAILED:FAILED', 'PROVISIONED:ACTIVE']);
  });

  it('a ready for an instance that failed more than 3 h after its first newInstance is refused; one still provisioning is taken', async () => {
    const s = await store();
    /** the purchase as if it had been made 3 h and a minute ago (nothing else of the instance changes) */
    const age = async (instanceId: string) => {
      const claimed = (await s.getInstance(instanceId))!;
      expect(await s.saveInstance({ ...claimed, createdAt: new Date(Date.now() - 3 * HOUR - MINUTE).toISOString() }, claimed.version)).toBeDefined();
    };
    // refused, and answered so for 3 h: the marketplace has failed and unsubscribed the order
    const failed = await purchase();
    expect((await answer(failed.instanceId, { resultCode: '000100', message: 'no capacity' }, 'failed')).json.status).toBe('FAILED');
    await age(failed.instanceId);
    const late = await ready(failed.instanceId);
    expect(late.status).toBe(409);
    expect(late.json.error).toMatch(/3 h .*delete the tenant/);
    expect((await s.getInstance(failed.instanceId))?.appInfo).toBeUndefined();
    // answered 000004 all along (not a failure): the marketplace still polls, the tenant is taken
    const waiting = await purchase();
    await age(waiting.instanceId);
    expect((await ready(waiting.instanceId)).json).toMatchObject({ status: 'ACTIVE', outcome: 'recorded' });
  });

  it('a concurrent ready, resend and repeated ready: one write, both answers 200, and the resend answers 000004 or 000000', async () => {
    const p = await purchase();
    const [a, resend, b] = await Promise.all([ready(p.instanceId), p.resend(), ready(p.instanceId)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.json.outcome, b.json.outcome].sort()).toEqual(['already recorded', 'recorded']);
    expect(['000000', '000004']).toContain(resend.json.resultCode);
    expect(resend.json.instanceId).toBe(p.instanceId);
    const stored = (await (await store()).getInstance(p.instanceId))!;
    expect(stored).toMatchObject({ status: 'ACTIVE', appInfo: APP_INFO, provisioningAttempts: 1 });
    expect(lifecycle()).toEqual(['PROVISIONED:ACTIVE']);
    expect((await p.resend()).json).toEqual({ resultCode: '000000', resultMsg: 'success.', instanceId: p.instanceId });
    expect(provisions()).toHaveLength(1);
  });

  it('two different answers at once: exactly one is recorded, the other is 409', async () => {
    const p = await purchase();
    const other = { ...APP_INFO, password: 'the-other-one' };
    const answers = await Promise.all([ready(p.instanceId), ready(p.instanceId, other)]);
    expect(answers.map((x) => x.status).sort()).toEqual([200, 409]);
    const winner = answers[0]!.status === 200 ? APP_INFO : other;
    expect((await (await store()).getInstance(p.instanceId))!.appInfo).toEqual(winner);
  });
});
