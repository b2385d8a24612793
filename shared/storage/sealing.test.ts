/**
 * Credentials and personal data are sealed at rest, read back from the raw table. After a lifecycle
 * through the real handlers (purchases, a debug call, an order notice, hardware supervision with
 * waybill phones, usage and a rebuy intent, buyer reminders, the timers), no item anywhere in the
 * table holds a tenant password, a buyer's phone number, e-mail address or real name, a buyer-entered
 * parameter, a waybill phone, or a key (the real name is not kept at all). The sealed values are AES-GCM under the newest data key, open
 * to what was sealed, and after a data-key rotation the old values still open and a rewrite re-seals
 * them under the new key.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealer, SealerError } from '#shared/crypto/sealer';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { Store } from '#shared/storage/store';
import { ACCESS_KEY, freshOrder, invoke, runJob, signedEvent, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { internalEvent } from '#shared/testing/apiEvents';
import { LOCAL_DEFAULTS } from '#shared/secrets';
import { handler as getInstance } from '../../functions/getInstance/handler.ts';
import { handler as hardwareAutoAccept } from '../../functions/hardwareAutoAccept/handler.ts';
import { handler as hardwareOrders } from '../../functions/hardwareOrders/handler.ts';
import { handler as expiryFreeze } from '../../functions/expiryFreeze/handler.ts';
import { handler as produce } from '../../functions/produce/handler.ts';
import { handler as usageRoute } from '../../functions/usage/handler.ts';

const DATA_KEY_NEW = randomBytes(32).toString('base64');
const DATA_KEY_OLD = randomBytes(32).toString('base64');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** plaintext that must never be stored, by what it is */
const plaintext = new Map<string, string>([
  ['data key (new)', DATA_KEY_NEW],
  ['data key (old)', DATA_KEY_OLD],
  ['access key', ACCESS_KEY],
  ['SK', LOCAL_DEFAULTS.KOOGALLERY_SK],
]);
const remember = (what: string, value: string | undefined) => {
  if (value) plaintext.set(`${what} #${plaintext.size}`, value);
};
const token = (prefix: string) => `${prefix}${randomBytes(10).toString('hex')}`;
const phone = () => `138${String(randomInt(10_000_000, 99_999_999))}`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    KOOGALLERY_DATA_KEY: `${DATA_KEY_NEW},${DATA_KEY_OLD}`,
    OPEN_API_TIMEOUT_MS: '3000',
    REQUEST_BUDGET_MS: '15000',
    PRODUCT_CATALOGUE: JSON.stringify([
      { skuCode: 'sku-appliance', kind: 'hardware', name: 'Edge appliance' },
      { skuCode: 'sku-pack', kind: 'package', package: { quota: 100, threshold: { percent: 20 }, autoRebuy: true } },
    ]),
  });
});
afterAll(() => h.close());

const call = (body: Record<string, unknown>) => invoke(produce, signedEvent(body));
const ok = (answer: Answer) => expect(answer.json.resultCode, answer.json.resultMsg).toBe('000000');
const route = (handler: Parameters<typeof invoke>[0], method: 'GET' | 'POST', resource: string, pathParameters: Record<string, string>, body?: unknown) =>
  invoke(handler, internalEvent({ method, resource, pathParameters, body: body === undefined ? null : JSON.stringify(body) }));

/** An order of a buyer with distinctive contact data and a buyer-entered parameter. */
function order(over: Parameters<typeof freshOrder>[0] = {}) {
  const o = freshOrder(over);
  const buyerPhone = phone();
  const email = `${token('buyer')}@example.net`;
  o.buyerInfo = { customerId: 'cust-sealing', customerName: 'acme', customerRealName: token('Real'), mobilePhone: buyerPhone, email };
  o.orderLine[0]!.extendParams = [{ name: 'adminEmail', value: `${token('admin')}@example.org` }];
  remember('buyer phone', buyerPhone);
  remember('buyer e-mail', o.buyerInfo.email);
  remember('buyer real name', o.buyerInfo.customerRealName);
  remember('buyer-entered e-mail', o.orderLine[0]!.extendParams[0]!.value);
  h.marketplace.registerOrder(o);
  return { orderId: o.orderId, orderLineId: o.orderLine[0]!.orderLineId, buyerPhone, email };
}
/** contact data of the orders the service read (a purchase, an order notice): kept, sealed */
const kept: string[] = [];
const read = <T extends { buyerPhone: string; email: string }>(o: T) => (kept.push(o.buyerPhone, o.email), o);

async function scan(): Promise<Array<Record<string, any>>> {
  const items: Array<Record<string, any>> = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await h.table.documentClient.send(new ScanCommand({ TableName: h.table.tableName, ExclusiveStartKey, ConsistentRead: true }));
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/** Every string attribute, however deep, with its path: `sk=INSTANCE appInfo.passwordSealed`. */
function strings(item: Record<string, any>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (value: unknown, path: string) => {
    if (typeof value === 'string') out.push([`${item.pk} ${item.sk} ${path}`, value]);
    else if (value instanceof Set || Array.isArray(value)) [...value].forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(item, '');
  return out;
}

/** `what in where` for every plaintext found in the items */
function plaintextIn(items: Array<Record<string, any>>): string[] {
  const found = new Set<string>();
  for (const item of items)
    for (const [where, value] of strings(item)) {
      const lower = value.toLowerCase();
      // a phone in any spelling too: the digits of the string, separators and the +86 prefix dropped
      const digits = value.replace(/[\s-]/g, '').replace(/^\+?86/, '');
      for (const [what, secret] of plaintext) {
        if (lower.includes(secret.toLowerCase())) found.add(`${what} in ${where}`);
        else if (/^\d{11}$/.test(secret) && digits.includes(secret)) found.add(`${what} (digits) in ${where}`);
      }
    }
  return [...found];
}

const passwords: string[] = [];
const instanceIds: string[] = [];

describe('sealed at rest', () => {
  it('after a lifecycle no item holds a password, phone number, e-mail address, real name or key in plaintext', async () => {
    const now = Date.now();
    for (const over of [{ expireTime: formatMarketTime(new Date(now - DAY)) }, {}, { chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' }]) {
      const { buyerPhone: _, email: __, ...ids } = read(order(over));
      const created = await call({ activity: 'newInstance', businessId: randomUUID(), ...ids });
      ok(created);
      instanceIds.push(created.json.instanceId!);
    }
    const debug = await call({ activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' });
    ok(debug);
    instanceIds.push(debug.json.instanceId!);
    const query = await call({ activity: 'queryInstance', instanceId: instanceIds.join(',') });
    ok(query);
    for (const info of query.json.info!) passwords.push(info.appInfo.password);
    expect(passwords).toHaveLength(4);
    passwords.forEach((p) => remember('tenant password', p));
    // a renewal's order is not read (the expiry comes with the call): its buyer data is never kept
    const renewal = order();
    ok(await call({ activity: 'refreshInstance', instanceId: instanceIds[1], orderId: renewal.orderId, orderLineId: renewal.orderLineId, scene: 'RENEWAL', expireTime: '20291124235959' }));
    const { orderId, orderLineId } = read(order());
    ok(await call({ activity: 'orderNotify', orderId, orderLineId, testFlag: '0' }));

    // hardware supervision: waybill phones as typed (matching with separators, and a different one)
    const matching = read(order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' }));
    const differing = read(order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' }));
    const spaced = `+86 ${matching.buyerPhone.slice(0, 3)}-${matching.buyerPhone.slice(3, 7)}-${matching.buyerPhone.slice(7)}`;
    const otherPhone = phone();
    remember('waybill phone as typed', spaced);
    remember('waybill phone', otherPhone);
    for (const [o, waybillPhone, signedAt] of [[matching, spaced, now - 11 * DAY], [differing, otherPhone, now - DAY]] as const) {
      ok(await call({ activity: 'orderNotify', orderId: o.orderId, orderLineId: o.orderLineId, testFlag: '0' }));
      expect((await route(hardwareOrders, 'POST', '/internal/orders/{orderId}/shipment', { orderId: o.orderId }, { carrier: 'SF Express', trackingNumber: 'SF1', waybillPhone })).status).toBe(200);
      expect((await route(hardwareOrders, 'POST', '/internal/orders/{orderId}/sign-off', { orderId: o.orderId }, { signedAt: new Date(signedAt).toISOString() })).status).toBe(200);
    }
    // the first is accepted, the second's buyer is reminded (the notifier gets the contact, the record does not)
    expect(await runJob(hardwareAutoAccept, new Date(now))).toMatchObject({ done: 2 });
    // usage that raises a rebuy intent, the operator view, a timer
    const usage = await route(usageRoute, 'POST', '/internal/usage', {}, { records: [{ key: randomUUID(), instanceId: instanceIds[2], amount: 85 }] });
    expect(usage.json.results[0].outcome).toBe('recorded');
    expect((await route(getInstance, 'GET', '/internal/instances/{instanceId}', { instanceId: instanceIds[0]! })).status).toBe(200);
    expect(await runJob(expiryFreeze, new Date(now + 3 * HOUR))).toMatchObject({ done: 1 });
    ok(await call({ activity: 'releaseInstance', instanceId: instanceIds[1] }));

    const items = await scan();
    expect(items.length).toBeGreaterThan(30);
    // every kind of item the run writes is looked at (instances, order lines, notices, calls, nonces,
    // supervision, notifications, meters, usage buckets and keys, reconciliation markers)
    const kinds = new Set(items.map((i) => String(i.sk).replace(/#.*/, '')));
    expect([...kinds].sort()).toEqual(['CALL', 'INSTANCE', 'KEY', 'METER', 'NONCE', 'NOTICE', 'NOTIFY', 'RECONCILE', 'SUPERVISION', 'USAGE']);
    expect(plaintextIn(items)).toEqual([]);
    // the check finds a value however deep and however spelt (positive control)
    const [, aPhone] = [...plaintext].find(([what]) => what.startsWith('buyer phone'))!;
    const planted = { pk: 'X', sk: 'Y', deep: { list: [`+86 ${aPhone.slice(0, 3)} ${aPhone.slice(3)}`, passwords[0]] } };
    expect(plaintextIn([planted]).length).toBe(2);
    expect(plaintext.size).toBeGreaterThan(25);
  }, 120_000);

  it('the sealed values are AES-GCM under the newest data key and open to what was sealed', async () => {
    const items = await scan();
    const sealed = items.flatMap((item) => strings(item).filter(([where]) => /Sealed$/.test(where)));
    const fields = new Set(sealed.map(([where]) => where.split(' ').at(-1)));
    for (const field of ['appInfo.passwordSealed', 'buyerSealed', 'orderSealed', 'buyerPhoneSealed', 'waybillPhoneSealed']) expect(fields).toContain(field);
    const newest = createSealer([DATA_KEY_NEW]);
    const previous = createSealer([DATA_KEY_OLD]);
    const opened = sealed.map(([where, value]) => {
      expect(value, where).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]*$/);
      expect(() => previous.open(value), where).toThrow(SealerError);
      return newest.open(value);
    });
    // what was sealed: every password handed out, every buyer's phone and e-mail, every waybill phone
    for (const password of passwords) expect(opened).toContain(password);
    const all = opened.join('\n');
    expect(kept.length).toBeGreaterThanOrEqual(12);
    for (const value of kept) expect(all).toContain(value);
    for (const [what, value] of plaintext) if (what.startsWith('waybill')) expect(all, what).toContain(value);
    // buyer-entered parameters are kept with the order notices (sealed order), not with the instances
    expect([...plaintext].filter(([what, value]) => what.startsWith('buyer-entered') && all.includes(value)).length).toBeGreaterThanOrEqual(3);
    // the buyer's real name is not kept at all (the contact kept is id, name, phone, e-mail)
    for (const [what, value] of plaintext) if (/real name/.test(what)) expect(all, what).not.toContain(value);
  });

  it('after a data-key rotation the old values still open, and a rewrite re-seals them under the new key', async () => {
    const rotatedKey = randomBytes(32).toString('base64');
    const { settings } = (await getRuntime()).services;
    const rotated = new Store({ documentClient: h.table.documentClient, tableName: h.table.tableName, sealer: createSealer([rotatedKey, DATA_KEY_NEW, DATA_KEY_OLD]), instanceTimers: settings.timers });
    const instanceId = instanceIds[0]!;
    const before = await rotated.getInstance(instanceId);
    expect(before?.appInfo?.password).toBe(passwords[0]);
    expect(await rotated.saveInstance(before!, before!.version)).toBeDefined();
    const raw = (await scan()).find((i) => i.pk === `INSTANCE#${instanceId}` && i.sk === 'INSTANCE')!;
    expect(createSealer([rotatedKey]).open(raw.appInfo.passwordSealed)).toBe(passwords[0]);
    expect(() => createSealer([DATA_KEY_NEW, DATA_KEY_OLD]).open(raw.appInfo.passwordSealed)).toThrow(SealerError);
    expect(JSON.parse(createSealer([rotatedKey]).open(raw.buyerSealed)).email).toMatch(/@example\.net$/);
  });
});
