/**
 * No secret or personal data in the logs. With the log level at DEBUG, everything written while a whole
 * lifecycle runs through the real handlers (every callback, a failed signature, a replay, a key
 * change-over, an open-API failure, the internal routes, every scheduled job as of a moved clock) is
 * captured: the Powertools logger's own console (process.stdout / process.stderr) and the global
 * console. None of it may contain the V2 access keys, the AK/SK, the data keys, a nonce or signature,
 * a tenant password, or the buyer's phone numbers, e-mail addresses or real name.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';
import type { OrderInfo } from '#shared/openapi/order';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime, logger } from '#shared/runtime';
import { freshOrder, invoke, runJob, signedEvent, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { internalEvent } from '#shared/testing/apiEvents';
import { leaksIn as leaksInOutput, startCapture } from '#shared/testing/logCapture';
import { handler as changeInstanceCheck } from '../functions/changeInstanceCheck/handler.ts';
import { handler as getInstance } from '../functions/getInstance/handler.ts';
import { handler as hardwareOrders } from '../functions/hardwareOrders/handler.ts';
import { handler as newInstance } from '../functions/newInstance/handler.ts';
import { handler as orderNotify } from '../functions/orderNotify/handler.ts';
import { handler as produce } from '../functions/produce/handler.ts';
import { handler as queryInstance } from '../functions/queryInstance/handler.ts';
import { handler as refreshInstance } from '../functions/refreshInstance/handler.ts';
import { handler as releaseInstance } from '../functions/releaseInstance/handler.ts';
import { handler as updateInstanceStatus } from '../functions/updateInstanceStatus/handler.ts';
import { handler as upgradeInstance } from '../functions/upgradeInstance/handler.ts';
import { handler as usageRoute } from '../functions/usage/handler.ts';
import { handler as autoRebuyCheck } from '../functions/autoRebuyCheck/handler.ts';
import { handler as expiryFreeze } from '../functions/expiryFreeze/handler.ts';
import { handler as hardwareAutoAccept } from '../functions/hardwareAutoAccept/handler.ts';
import { handler as provisioningWatch } from '../functions/provisioningWatch/handler.ts';
import { handler as resourceRelease } from '../functions/resourceRelease/handler.ts';
import { handler as resumeProvisioning } from '../functions/resumeProvisioning/handler.ts';
import { handler as usagePush } from '../functions/usagePush/handler.ts';

// The runtime's logger is built when shared/runtime.ts is first imported: the level must be set before.
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});

/**
 * The product's provisioner is the built-in one, scripted: the next attempts may hang (never finish) or
 * fail the way a careless product SDK fails, with the buyer's contact data in the error message; its
 * lifecycle hook may fail with the tenant's password in the message.
 */
const script: Array<'hang' | 'careless-error'> = [];
let carelessHook = false;
vi.mock('#shared/product/provisioner', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/product/provisioner')>();
  return {
    createProductProvisioner: (settings: Parameters<typeof original.createProductProvisioner>[0]) => {
      const builtIn = original.createProductProvisioner(settings);
      return {
        ...builtIn,
        provision: (...args: Parameters<typeof builtIn.provision>) => {
          const buyer = args[0].order.buyerInfo;
          switch (script.shift()) {
            case 'hang':
              return new Promise<never>(() => undefined);
            case 'careless-error':
              return Promise.reject(new Error(`tenant admin ${buyer?.email} / ${buyer?.mobilePhone} already exists`));
            default:
              return builtIn.provision(...args);
          }
        },
        onLifecycle: async ({ instance }: { instance: { appInfo?: { password?: string }; buyer?: { email?: string } } }) => {
          if (carelessHook) throw new Error(`could not set password ${instance.appInfo?.password} for ${instance.buyer?.email}`);
        },
      };
    },
  };
});

// ------------------------------------------------------------------ the secrets, distinctive

const token = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const ACCESS_KEY_NEW = token('v2new');
const ACCESS_KEY_OLD = token('v2old');
const AK = token('AK').toUpperCase();
const SK = token('sk');
const DATA_KEY_NEW = randomBytes(32).toString('base64');
const DATA_KEY_OLD = randomBytes(32).toString('base64');
const phone = () => `139${String(randomInt(10_000_000, 99_999_999))}`;

/** Everything that must never be logged (added to as the run goes: nonces, signatures, passwords). */
const secrets = new Map<string, string>([
  ['access key (new)', ACCESS_KEY_NEW],
  ['access key (old)', ACCESS_KEY_OLD],
  ['AK', AK],
  ['SK', SK],
  ['data key (new)', DATA_KEY_NEW],
  ['data key (old)', DATA_KEY_OLD],
]);
const secret = (what: string, value: string | undefined) => {
  if (value && ![...secrets.values()].includes(value)) secrets.set(`${what} #${secrets.size}`, value);
};

// ------------------------------------------------------------------ the capture

const captured: string[] = [];
const leaksIn = (output: string) => leaksInOutput(output, secrets);

// ------------------------------------------------------------------ the run

let carelessOutput = '';
let h: Harness;
let marketplace: LocalMarketplace;
beforeAll(async () => {
  // the open APIs with our own AK/SK, usage pushes signed with our access keys
  marketplace = await startLocalMarketplace({ port: 0, credentials: { [AK]: SK }, usageKeys: [ACCESS_KEY_NEW, ACCESS_KEY_OLD] });
  h = await startHarness({
    KOOGALLERY_API_URL: marketplace.url,
    KOOGALLERY_ACCESS_KEY: `${ACCESS_KEY_NEW},${ACCESS_KEY_OLD}`,
    KOOGALLERY_AK: AK,
    KOOGALLERY_SK: SK,
    KOOGALLERY_DATA_KEY: `${DATA_KEY_NEW},${DATA_KEY_OLD}`,
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    // generous budgets for a busy test machine; only the scripted hang outlives them
    OPEN_API_TIMEOUT_MS: '3000',
    REQUEST_BUDGET_MS: '15000',
    PROVISION_BUDGET_MS: '1500',
    PRODUCT_CATALOGUE: JSON.stringify([
      { skuCode: 'sku-appliance', kind: 'hardware', name: 'Edge appliance' },
      { skuCode: 'sku-pack', kind: 'package', package: { quota: 100, threshold: { percent: 20 }, autoRebuy: true } },
    ]),
  });
  startCapture(captured);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await h.close();
  await marketplace.close();
});

type Handler = Parameters<typeof invoke>[0];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A signed marketplace call; its nonce and signature join the secrets, so does the answer's Body-Sign. */
async function call(handler: Handler, body: Record<string, unknown>, opts: Parameters<typeof signedEvent>[1] = {}): Promise<Answer> {
  const event = signedEvent(body, { key: ACCESS_KEY_NEW, ...opts });
  secret('nonce', event.queryStringParameters?.nonce);
  secret('signature', event.queryStringParameters?.signature);
  const answer = await invoke(handler, event);
  secret('Body-Sign signature', /signature="?([0-9a-fA-F]{16,})/.exec(answer.headers['Body-Sign'] ?? '')?.[1]);
  return answer;
}

function route(handler: Handler, method: 'GET' | 'POST', resource: string, pathParameters: Record<string, string>, body?: unknown) {
  return invoke(handler, internalEvent({ method, resource, pathParameters, body: body === undefined ? null : JSON.stringify(body) }));
}

/** An order of a buyer with their own phone, e-mail, real name and a buyer-entered parameter. */
function order(over: Parameters<typeof freshOrder>[0] = {}): OrderInfo & { ids: { orderId: string; orderLineId: string }; buyerPhone: string } {
  const o = freshOrder(over);
  const buyerPhone = phone();
  const email = `${token('buyer')}@example.net`;
  const realName = token('Name');
  o.buyerInfo = { customerId: 'cust-logging', customerName: 'acme', customerRealName: realName, mobilePhone: buyerPhone, email };
  o.orderLine[0]!.extendParams = [{ name: 'adminEmail', value: `${token('admin')}@example.org` }];
  secret('buyer phone', buyerPhone);
  secret('buyer e-mail', email);
  secret('buyer real name', realName);
  secret('buyer-entered e-mail', o.orderLine[0]!.extendParams[0]!.value);
  marketplace.registerOrder(o);
  return Object.assign(o, { ids: { orderId: o.orderId, orderLineId: o.orderLine[0]!.orderLineId }, buyerPhone });
}

const ok = (answer: Answer) => expect(answer.json.resultCode, answer.json.resultMsg).toBe('000000');

async function lifecycle() {
  const now = Date.now();
  // purchases: through produce, through the callback's own function, a debug call, one that outlives its answer
  const expired = order({ expireTime: formatMarketTime(new Date(now - DAY)) });
  const a = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...expired.ids });
  ok(a);
  const b = await call(newInstance, { activity: 'newInstance', businessId: randomUUID(), ...order().ids });
  ok(b);
  const [idA, idB] = [a.json.instanceId!, b.json.instanceId!];
  const debug = await call(produce, { activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
  ok(debug);
  script.push('hang');
  const slow = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order().ids });
  expect(slow.json.resultCode).toBe('000004');
  const idSlow = slow.json.instanceId!;

  // the renewal, FREEZE / UNFREEZE, upgrade, change check, release, order notice
  ok(await call(refreshInstance, { activity: 'refreshInstance', instanceId: idB, ...order().ids, scene: 'RENEWAL', expireTime: '20291124235959' }));
  ok(await call(updateInstanceStatus, { activity: 'updateInstanceStatus', instanceId: idB, status: 'FREEZE' }));
  ok(await call(produce, { activity: 'updateInstanceStatus', instanceId: idB, status: 'UNFREEZE' }));
  ok(await call(upgradeInstance, { activity: 'upgradeInstance', instanceId: idB, ...order({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 }).ids }));
  ok(await call(changeInstanceCheck, { activity: 'changeInstanceCheck', instanceId: idB, productInfo: { skuCode: 'sku-small', linearValue: 60 } }));
  const released = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order().ids });
  ok(released);
  ok(await call(releaseInstance, { activity: 'releaseInstance', instanceId: released.json.instanceId }));
  ok(await call(orderNotify, { activity: 'orderNotify', ...order().ids, testFlag: '0' }));

  // the old access key still verifies during a change-over; failures of every kind
  ok(await call(queryInstance, { activity: 'queryInstance', instanceId: idB }, { key: ACCESS_KEY_OLD }));
  const forged = token('forged');
  secret('wrong key', forged);
  expect((await call(produce, { activity: 'queryInstance', instanceId: idB }, { key: forged })).json.resultCode).toBe('000001');
  const replayNonce = randomBytes(32).toString('hex').toUpperCase();
  ok(await call(produce, { activity: 'queryInstance', instanceId: idB }, { nonce: replayNonce }));
  expect((await call(produce, { activity: 'queryInstance', instanceId: idB }, { nonce: replayNonce })).json.resultCode).toBe('000001');
  expect((await call(produce, { activity: 'queryInstance', instanceId: idB }, { timestamp: String(now - 10 * 60_000) })).json.resultCode).toBe('000001');
  expect((await call(produce, { activity: 'queryInstance', instanceId: 12 })).json.resultCode).toBe('000002');
  marketplace.injectFaults({ count: 2, mode: 'error' });
  expect((await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order().ids })).json.resultCode).toBe('000005');
  marketplace.injectFaults({ count: 0, mode: 'error' });

  // the internal routes: operator read, hardware supervision, usage and package settings
  expect((await route(getInstance, 'GET', '/internal/instances/{instanceId}', { instanceId: idB })).status).toBe(200);
  const matching = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
  const differing = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
  const otherPhone = phone();
  secret('waybill phone', otherPhone);
  const spaced = `${matching.buyerPhone.slice(0, 3)} ${matching.buyerPhone.slice(3, 7)} ${matching.buyerPhone.slice(7)}`;
  secret('waybill phone as typed', spaced);
  for (const [o, waybillPhone, signedAt] of [[matching, spaced, now - 11 * DAY], [differing, otherPhone, now - DAY]] as const) {
    ok(await call(orderNotify, { activity: 'orderNotify', ...o.ids, testFlag: '0' }));
    const orderId = { orderId: o.orderId };
    expect((await route(hardwareOrders, 'POST', '/internal/orders/{orderId}/shipment', orderId, { carrier: 'SF Express', trackingNumber: 'SF1', waybillPhone })).status).toBe(200);
    expect((await route(hardwareOrders, 'POST', '/internal/orders/{orderId}/sign-off', orderId, { signedAt: new Date(signedAt).toISOString() })).status).toBe(200);
    expect((await route(hardwareOrders, 'GET', '/internal/orders/{orderId}', orderId)).status).toBe(200);
  }
  const appealed = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
  ok(await call(produce, { activity: 'orderNotify', ...appealed.ids, testFlag: '0' }));
  expect((await route(hardwareOrders, 'POST', '/internal/orders/{orderId}/acceptance', { orderId: appealed.orderId }, { action: 'appeal', note: 'buyer unreachable' })).status).toBe(200);
  const onDemand = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order({ chargingMode: 'ON_DEMAND' }).ids });
  const pack = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order({ chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' }).ids });
  const at = new Date(now - 2 * HOUR).toISOString();
  const records = [
    { key: randomUUID(), instanceId: onDemand.json.instanceId, amount: 2, at },
    { key: randomUUID(), instanceId: pack.json.instanceId, amount: 85, at },
    { key: randomUUID(), instanceId: pack.json.instanceId, amount: 50, at },
  ];
  const usage = await route(usageRoute, 'POST', '/internal/usage', {}, { records });
  expect(usage.json.results.map((r: { outcome: string }) => r.outcome)).toEqual(['recorded', 'recorded', 'refused']);
  expect((await route(usageRoute, 'POST', '/internal/instances/{instanceId}/package', { instanceId: pack.json.instanceId! }, { autoRebuy: true })).status).toBe(200);

  // the scheduled jobs, as of moved clocks, each with work due
  expect(await runJob(resumeProvisioning, new Date(now + 2 * 60_000))).toMatchObject({ completed: 1 });
  expect(await runJob(expiryFreeze, new Date(now + 3 * HOUR))).toMatchObject({ done: 1 });
  expect((await runJob<{ done: number }>(provisioningWatch, new Date(now + 3 * HOUR))).done).toBeGreaterThanOrEqual(1);
  expect(await runJob(resourceRelease, new Date(now + 20 * DAY))).toMatchObject({ done: 1 });
  expect((await runJob<{ done: number }>(hardwareAutoAccept, new Date(now))).done).toBe(2);
  expect((await runJob<{ done: number }>(usagePush, new Date(now))).done).toBeGreaterThanOrEqual(2);
  await runJob(autoRebuyCheck, new Date(now + 15 * 60_000));

  // every tenant password handed out: queryInstance answers (and the store, for the released ones)
  const ids = [idA, idB, idSlow, debug.json.instanceId!, onDemand.json.instanceId!, pack.json.instanceId!];
  const query = await call(queryInstance, { activity: 'queryInstance', instanceId: ids.join(',') });
  ok(query);
  for (const info of query.json.info ?? []) secret('tenant password', info.appInfo?.password);
  const { store } = (await getRuntime()).services;
  for (const id of [...ids, released.json.instanceId!]) secret('tenant password', (await store.getInstance(id))?.appInfo?.password);
}

describe('logs', () => {
  it('a whole lifecycle at DEBUG logs none of the secrets, passwords, phone numbers or e-mail addresses', async () => {
    expect(logger.getLevelName()).toBe('DEBUG');
    await lifecycle();
    const output = captured.join('\n');
    const lines = output.split('\n').filter((l) => l.trim());
    // the capture saw the run: JSON log lines of the callbacks, the failures, the routes and the jobs
    expect(lines.length).toBeGreaterThan(30);
    const messages = new Set(lines.flatMap((l) => {
      try {
        return [JSON.parse(l).message as string];
      } catch {
        return [];
      }
    }));
    for (const message of ['answered', 'refused', 'expiryFreeze done', 'resourceRelease done', 'hardwareAutoAccept done', 'usagePush done', 'integration event', 'operator alert: instance-frozen-locally'])
      expect(messages, message).toContain(message);
    const passwords = [...secrets.keys()].filter((k) => k.startsWith('tenant password'));
    expect(passwords.length).toBeGreaterThanOrEqual(6);
    expect(secrets.size).toBeGreaterThan(60);
    expect(leaksIn(output)).toEqual([]);
  }, 180_000);

  it('a careless product: provisioning and hook errors carrying contact data and a password', async () => {
    const before = captured.length;
    script.push('careless-error');
    const failing = await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order().ids });
    expect(failing.json.resultCode).toBe('000004');
    carelessHook = true;
    const instanceId = (await call(produce, { activity: 'newInstance', businessId: randomUUID(), ...order().ids })).json.instanceId!;
    ok(await call(produce, { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' }));
    carelessHook = false;
    const { store } = (await getRuntime()).services;
    secret('tenant password', (await store.getInstance(instanceId))?.appInfo?.password);
    carelessOutput = captured.slice(before).join('\n');
    // the failures were logged (the scenario ran): what they carry is checked below
    expect(carelessOutput).toContain('provisioning attempt failed');
    expect(carelessOutput).toContain('provisioner lifecycle hook failed');
  });

  // errors thrown by the product's provisioner and lifecycle hook are logged by class and code only
  // (foreignErrorName): their messages are the product's and may carry anything
  it('a careless product error puts no contact data or password in the logs', () => {
    expect(carelessOutput).toBeTruthy();
    expect(leaksIn(carelessOutput)).toEqual([]);
  });

  it('the capture and the check would catch a leak (positive control, every kind of secret)', () => {
    const before = captured.length;
    for (const [what, value] of secrets) logger.debug('positive control', { what, value });
    const control = captured.slice(before).join('\n');
    expect(leaksIn(control).sort()).toEqual([...secrets.keys()].sort());
    // and through the global console, should any code print there
    console.error(`control ${SK}`);
    expect(leaksIn(captured.slice(-1).join('\n'))).toEqual(['SK']);
    captured.length = before;
  });
});
