/**
 * The webhook provisioner against a local receiver (node:http, port 0): answers, refusals, failures,
 * timeouts, the one retry, the signature; its configuration; and a purchase through the real newInstance.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '#shared/config';
import type { Instance } from '#shared/domain/instance';
import { ProvisioningError, type ProvisionRequest } from '#shared/domain/provisioner';
import { createProductProvisioner } from '#shared/product/provisioner';
import { getRuntime } from '#shared/runtime';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler as newInstance } from '../../functions/newInstance/handler.ts';
import { createWebhookProvisioner, signWebhook, verifyWebhookSignature, WebhookError } from './webhookProvisioner.ts';

const SECRET = 'webhook-test-secret';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}
type Answerer = (received: Received, res: ServerResponse, index: number) => void;

const received: Received[] = [];
let answer: Answerer = (_r, res) => res.writeHead(204).end();
const receiver = createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  const entry = { headers: req.headers, body };
  received.push(entry);
  answer(entry, res, received.length - 1);
});
let url: string;

beforeAll(async () => {
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/koogallery/hook`;
});
afterAll(() => {
  receiver.closeAllConnections();
  receiver.close();
});
beforeEach(() => {
  received.length = 0;
});

const json = (res: ServerResponse, status: number, value: unknown) =>
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));

const APP_INFO = { frontEndUrl: 'https://app.example.com/t/acme', userName: 'admin', password: 'S3cret!pass', memo: 'Welcome.' };

function request(over: Partial<ProvisionRequest> = {}): ProvisionRequest {
  const order = freshOrder();
  return {
    instanceId: randomUUID(),
    orderId: order.orderId,
    orderLineId: order.orderLine[0]!.orderLineId,
    order,
    line: order.orderLine[0]!,
    testFlag: false,
    attempt: 1,
    ...over,
  };
}

const provisioner = (timeoutMs = 1500) => createWebhookProvisioner({ url, secret: SECRET, timeoutMs });
const never = () => new AbortController().signal;
const verifies = (r: Received, secret = SECRET) =>
  verifyWebhookSignature(secret, String(r.headers['x-koogallery-timestamp']), r.body, String(r.headers['x-koogallery-signature']), Date.now(), 60_000);

describe('webhook provisioner: provision', () => {
  it('posts the signed request and returns the app info the product answered', async () => {
    answer = (_r, res) => json(res, 200, { ...APP_INFO, unknown: 'dropped' });
    const req = request({ attempt: 3 });
    expect(await provisioner().provision(req, never())).toEqual(APP_INFO);
    expect(received).toHaveLength(1);
    const [sent] = received;
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers['x-koogallery-event-id']).toBe(`${req.instanceId}.provision.3`);
    expect(verifies(sent!)).toBe(true);
    const body = JSON.parse(sent!.body);
    expect(body).toMatchObject({ type: 'provision', instanceId: req.instanceId, orderId: req.orderId, orderLineId: req.orderLineId, attempt: 3, testFlag: false });
    expect(body.order.orderLine).toEqual(req.order.orderLine);
    // who bought, not how to reach them
    expect(body.order.buyerInfo).toEqual({ customerId: 'cust-1', customerName: 'acme' });
    expect(sent!.body).not.toContain('owner@acme.example');
    expect(sent!.body).not.toContain('18612345678');
  });

  it('a 200 without a front-end URL is a transient failure', async () => {
    answer = (_r, res) => json(res, 200, { userName: 'admin' });
    const failure = provisioner().provision(request(), never());
    await expect(failure).rejects.toBeInstanceOf(WebhookError);
    await expect(failure).rejects.toMatchObject({ code: 'bad-answer' });
  });

  it('a 4xx with a refusal code is a ProvisioningError with that code', async () => {
    answer = (_r, res) => json(res, 409, { resultCode: '000106', message: 'sold out', permanent: true });
    const failure = provisioner().provision(request(), never());
    await expect(failure).rejects.toBeInstanceOf(ProvisioningError);
    await expect(failure).rejects.toMatchObject({ code: '000106', message: 'sold out', permanent: true });
    expect(received).toHaveLength(1);
  });

  it('a 4xx without a refusal code, and a 500, are transient (no retry of an answer)', async () => {
    answer = (_r, res) => json(res, 400, { resultCode: '000000' });
    await expect(provisioner().provision(request(), never())).rejects.toMatchObject({ name: 'WebhookError', code: 'http-400' });
    answer = (_r, res) => json(res, 500, { resultCode: '000106' });
    const failure = provisioner().provision(request(), never());
    await expect(failure).rejects.toBeInstanceOf(WebhookError);
    await expect(failure).rejects.not.toBeInstanceOf(ProvisioningError);
    await expect(failure).rejects.toMatchObject({ code: 'http-500' });
    expect(received).toHaveLength(2);
  });

  it('a receiver that never answers is given up at the timeout', async () => {
    answer = () => undefined;
    const started = Date.now();
    await expect(provisioner(300).provision(request(), never())).rejects.toMatchObject({ name: 'WebhookError', code: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(received).toHaveLength(1);
  });

  it('… and at the caller\'s signal when that comes first', async () => {
    answer = () => undefined;
    const started = Date.now();
    await expect(provisioner(5000).provision(request(), AbortSignal.timeout(200))).rejects.toMatchObject({ name: 'WebhookError', code: 'aborted' });
    expect(Date.now() - started).toBeLessThan(1000);
    // an already spent signal sends nothing
    await expect(provisioner().provision(request(), AbortSignal.abort())).rejects.toMatchObject({ code: 'aborted' });
    expect(received).toHaveLength(1);
  });

  it('a network error is retried once, with the same event id', async () => {
    answer = (_r, res, index) => (index === 0 ? res.socket!.destroy() : json(res, 200, APP_INFO));
    const req = request({ attempt: 2 });
    expect(await provisioner().provision(req, never())).toEqual(APP_INFO);
    expect(received).toHaveLength(2);
    expect(received.map((r) => r.headers['x-koogallery-event-id'])).toEqual([`${req.instanceId}.provision.2`, `${req.instanceId}.provision.2`]);
    expect(received.every((r) => verifies(r))).toBe(true);
    expect(received[1]!.body).toBe(received[0]!.body);
  });

  it('… but only once', async () => {
    answer = (_r, res) => res.socket!.destroy();
    await expect(provisioner().provision(request(), never())).rejects.toMatchObject({ name: 'WebhookError', code: 'network' });
    expect(received).toHaveLength(2);
  });
});

describe('webhook provisioner: lifecycle', () => {
  const instance: Instance = {
    instanceId: randomUUID(),
    orderId: 'CS1',
    orderLineId: 'CS1-000001',
    status: 'FROZEN',
    testFlag: false,
    chargingMode: 'PERIOD',
    trial: false,
    product: { skuCode: 'sku-basic' },
    buyer: { customerId: 'cust-1', customerName: 'acme', mobilePhone: '18612345678', email: 'owner@acme.example' },
    appInfo: APP_INFO,
    appliedOps: [],
    provisioningAttempts: 1,
    createdAt: '2026-11-24T00:00:00.000Z',
    updatedAt: '2026-11-24T01:00:00.000Z',
    version: 4,
  };

  it('posts the signed change without the tenant password or the buyer contact', async () => {
    answer = (_r, res) => res.writeHead(204).end();
    await provisioner().onLifecycle!({ event: 'FREEZE', from: 'ACTIVE', instance });
    expect(received).toHaveLength(1);
    const [sent] = received;
    expect(verifies(sent!)).toBe(true);
    expect(sent!.headers['x-koogallery-event-id']).toBe(`${instance.instanceId}.lifecycle.FREEZE.4`);
    const body = JSON.parse(sent!.body);
    expect(body).toMatchObject({ type: 'lifecycle', event: 'FREEZE', state: 'FROZEN', from: 'ACTIVE' });
    expect(body.instance.instanceId).toBe(instance.instanceId);
    expect(body.instance.appInfo).toEqual({ frontEndUrl: APP_INFO.frontEndUrl, userName: 'admin', memo: 'Welcome.' });
    expect(body.instance.buyer).toEqual({ customerId: 'cust-1', customerName: 'acme' });
    for (const secret of [APP_INFO.password, 'owner@acme.example', '18612345678']) expect(sent!.body).not.toContain(secret);
  });

  it('a refused lifecycle post fails with the error class and status only, never the body', async () => {
    answer = (_r, res) => json(res, 500, { detail: 'tenant owner@acme.example' });
    const failure = provisioner().onLifecycle!({ event: 'FREEZE', from: 'ACTIVE', instance });
    await expect(failure).rejects.toMatchObject({ name: 'WebhookError', code: 'http-500' });
    await expect(failure).rejects.not.toThrow(/acme/);
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"type":"provision"}';
  const now = 1_790_000_000_000;
  const ts = String(now);
  const signature = signWebhook(SECRET, ts, body);

  it('accepts the signature of the secret, within the window', () => {
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, ts, body, signature, now + 30_000, 60_000)).toBe(true);
    expect(verifyWebhookSignature(SECRET, ts, body, signature.toUpperCase(), now, 60_000)).toBe(true);
  });

  it('refuses a wrong secret, a changed body or timestamp, a stale timestamp and garbage', () => {
    expect(verifyWebhookSignature('another-secret', ts, body, signature, now, 60_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, `${body} `, signature, now, 60_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, String(now + 1), body, signature, now, 60_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, body, signature, now + 60_001, 60_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, ts, body, signature.slice(2), now, 60_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, 'soon', body, signature, now, 60_000)).toBe(false);
  });
});

describe('webhook provisioner configuration', () => {
  const webhook = (env: Record<string, string>) => loadSettings({ PROVISIONER: 'webhook', PROVISIONER_WEBHOOK_URL: 'https://product.example.com/hook', ...env });

  it('the built-in provisioner stays the default', () => {
    expect(loadSettings({})).toMatchObject({ provisioner: 'default' });
    expect(loadSettings({}).provisionerWebhook).toBeUndefined();
    expect(createProductProvisioner(loadSettings({})).sideEffectFree).toBe(true);
  });

  it('PROVISIONER=webhook reads the URL and the timeout (1500 ms by default) and chooses the webhook', () => {
    expect(webhook({}).provisionerWebhook).toEqual({ url: 'https://product.example.com/hook', timeoutMs: 1500 });
    expect(webhook({ PROVISIONER_WEBHOOK_URL: 'http://localhost:9000/hook', PROVISIONER_WEBHOOK_TIMEOUT_MS: '800' }).provisionerWebhook).toEqual({
      url: 'http://localhost:9000/hook',
      timeoutMs: 800,
    });
    expect(webhook({ PROVISIONER_WEBHOOK_URL: 'http://[::1]:9000/' }).provisionerWebhook?.url).toBe('http://[::1]:9000/');
    expect(createProductProvisioner(webhook({})).sideEffectFree).toBe(false);
  });

  it('a bad URL, plain http off loopback, a timeout beyond the budget or an unknown provisioner is a ConfigError', () => {
    for (const env of <Array<Record<string, string>>>[
      { PROVISIONER_WEBHOOK_URL: '' },
      { PROVISIONER_WEBHOOK_URL: 'product.example.com/hook' },
      { PROVISIONER_WEBHOOK_URL: 'http://product.example.com/hook' },
      { PROVISIONER_WEBHOOK_URL: 'ftp://product.example.com/hook' },
      { PROVISIONER_WEBHOOK_URL: 'https://user:pw@product.example.com/hook' },
      { PROVISIONER_WEBHOOK_TIMEOUT_MS: '2500' },
      { PROVISIONER_WEBHOOK_TIMEOUT_MS: '0' },
      { PROVISIONER_WEBHOOK_TIMEOUT_MS: 'fast' },
    ])
      expect(() => webhook(env), JSON.stringify(env)).toThrow(ConfigError);
    expect(() => loadSettings({ PROVISIONER: 'lambda' })).toThrow(ConfigError);
    expect(webhook({ PROVISION_BUDGET_MS: '3000', PROVISIONER_WEBHOOK_TIMEOUT_MS: '2500' }).provisionerWebhook?.timeoutMs).toBe(2500);
  });
});

describe('asynchronous provisioner (PROVISIONER=async): the hand-off', () => {
  const later = (timeoutMs = 1500) => createWebhookProvisioner({ url, secret: SECRET, timeoutMs, answersLater: true, resendAfterMs: 7_200_000 });

  it('asks the product to answer later; a 202 is ACCEPTED with the resend delay, a 200 or a refusal is taken at once', async () => {
    answer = (_r, res) => json(res, 202, {});
    const req = request();
    expect(await later().provision(req, never())).toEqual({ accepted: true, resendAfterMs: 7_200_000 });
    expect(verifies(received[0]!)).toBe(true);
    expect(received[0]!.headers['x-koogallery-event-id']).toBe(`${req.instanceId}.provision.1`);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'provision', reply: 'later', instanceId: req.instanceId, attempt: 1 });
    answer = (_r, res) => json(res, 200, APP_INFO);
    expect(await later().provision(request(), never())).toEqual(APP_INFO);
    answer = (_r, res) => json(res, 409, { resultCode: '000106', message: 'sold out' });
    await expect(later().provision(request(), never())).rejects.toMatchObject({ name: 'ProvisioningError', code: '000106' });
  });

  it('the synchronous webhook neither says "later" nor takes a 202 for an answer', async () => {
    answer = (_r, res) => json(res, 202, {});
    await expect(provisioner().provision(request(), never())).rejects.toMatchObject({ name: 'WebhookError', code: 'http-202' });
    expect(JSON.parse(received[0]!.body)).not.toHaveProperty('reply');
  });

  it('PROVISIONER=async takes the webhook settings and a resend delay (60 min by default, never below the retry delay)', () => {
    const async = (env: Record<string, string>) => loadSettings({ PROVISIONER: 'async', PROVISIONER_WEBHOOK_URL: 'https://product.example.com/hook', ...env });
    expect(async({})).toMatchObject({ provisioner: 'async', provisionerWebhook: { url: 'https://product.example.com/hook', timeoutMs: 1500, resendAfterMs: 3_600_000 } });
    expect(async({ PROVISIONER_ASYNC_RESEND_MINUTES: '15' }).provisionerWebhook?.resendAfterMs).toBe(900_000);
    expect(loadSettings({ PROVISIONER: 'webhook', PROVISIONER_WEBHOOK_URL: 'https://product.example.com/hook' }).provisionerWebhook).not.toHaveProperty('resendAfterMs');
    for (const env of <Array<Record<string, string>>>[
      { PROVISIONER_WEBHOOK_URL: '' },
      { PROVISIONER_WEBHOOK_URL: 'http://product.example.com/hook' },
      { PROVISIONER_ASYNC_RESEND_MINUTES: '0' },
      { PROVISIONER_ASYNC_RESEND_MINUTES: 'hourly' },
      { PROVISIONER_ASYNC_RESEND_MINUTES: '2', PROVISION_RETRY_DELAY_MS: '300000' },
    ])
      expect(() => async(env), JSON.stringify(env)).toThrow(ConfigError);
    expect(createProductProvisioner(async({}), { provisionerWebhookSecret: SECRET }).sideEffectFree).toBe(false);
    // the secret is required at start, as for the webhook
    expect(() => createProductProvisioner(async({}), {})).toThrow(/provisionerWebhookSecret/);
  });
});

describe('newInstance with PROVISIONER=webhook (integration)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ PROVISIONER: 'webhook', PROVISIONER_WEBHOOK_URL: url, PROVISIONER_WEBHOOK_SECRET: SECRET });
  });
  afterAll(() => h.close());

  it('a purchase is answered 000000 with the app info from the receiver', async () => {
    const appInfo = { frontEndUrl: 'https://app.example.com/t/from-webhook', userName: 'owner', password: 'Webhook!pass1' };
    answer = (r, res) => (verifies(r) ? json(res, 200, appInfo) : json(res, 401, {}));
    const order = freshOrder();
    h.marketplace.registerOrder(order);
    const businessId = randomUUID();
    const orderLineId = order.orderLine[0]!.orderLineId;
    const reply = await invoke(newInstance, signedEvent({ activity: 'newInstance', businessId, orderId: order.orderId, orderLineId }));
    expect(reply.json).toMatchObject({ resultCode: '000000', instanceId: businessId });
    const provisions = received.filter((r) => JSON.parse(r.body).type === 'provision');
    expect(provisions).toHaveLength(1);
    expect(JSON.parse(provisions[0]!.body)).toMatchObject({ instanceId: businessId, orderId: order.orderId, orderLineId, attempt: 1, testFlag: false });
    const stored = await (await getRuntime()).services.store.getInstance(businessId);
    expect(stored).toMatchObject({ status: 'ACTIVE', appInfo });
  });
});
