/**
 * The pure parts of reconcile: the drift table (compare), the order an instance is compared with, and
 * the daily slot of its check. The job itself runs against DynamoDB Local and the local marketplace in
 * functions/reconcile/handler.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { OrderLine } from '#shared/openapi/order';
import type { Instance } from './instance.ts';
import { compare, referenceOrder, type Drift } from './reconcile.ts';
import { DAY_MS, HOUR_MS, isReconciled, nextReconcileAt, reconcileSlotMs } from './timers.ts';

const now = new Date('2026-11-24T10:00:00.000Z');
const ctx = { now, graceMs: 2 * HOUR_MS };

const instance = (over: Partial<Instance> = {}): Instance => ({
  instanceId: 'i-1',
  orderId: 'CS1',
  orderLineId: 'CS1-000001',
  status: 'ACTIVE',
  testFlag: false,
  chargingMode: 'PERIOD',
  trial: false,
  expireTime: '2027-11-24T23:59:59.000Z',
  product: { productId: 'OFFI1', skuCode: 'sku-basic', linearValue: 10 },
  appliedOps: [],
  provisioningAttempts: 1,
  createdAt: '2026-11-24T09:00:00.000Z',
  updatedAt: '2026-11-24T09:00:00.000Z',
  version: 2,
  ...over,
});
const line = (over: Partial<OrderLine> = {}): OrderLine => ({
  orderLineId: 'CS1-000001',
  chargingMode: 'PERIOD',
  expireTime: '20271124235959',
  productInfo: [{ productId: 'OFFI1', skuCode: 'sku-basic', linearValue: 10 }],
  ...over,
});
/** the drifts as `kind:field[:fix]`, for the table */
const brief = (drifts: Drift[]) => drifts.map((d) => [d.kind, d.field, d.fix].filter(Boolean).join(':'));

describe('compare (the drift table)', () => {
  it.each<[string, Partial<Instance>, Partial<OrderLine>, string[]]>([
    ['nothing differs', {}, {}, []],
    ['an expiry less than a day apart (precision, time zone) is not drift', {}, { expireTime: '20271125100000' }, []],
    ['marketplace expiry later, ACTIVE: a missed renewal, fixed', {}, { expireTime: '20281124235959' }, ['expiry:expireTime:renewal']],
    [
      'later, frozen by our own expiry timer and the new end ahead: fixed (a refresh would lift our freeze)',
      { status: 'FROZEN', frozenLocally: true, expireTime: '2026-11-20T00:00:00.000Z' },
      { expireTime: '20271124235959' },
      ['expiry:expireTime:renewal'],
    ],
    [
      'later, frozen by the marketplace: alerted (expiry and state), its UNFREEZE must come',
      { status: 'FROZEN', expireTime: '2026-11-20T00:00:00.000Z' },
      { expireTime: '20271124235959' },
      ['expiry:expireTime', 'state:status'],
    ],
    ['marketplace expiry earlier (still ahead): alerted, never moved back', {}, { expireTime: '20270524235959' }, ['expiry:expireTime']],
    ['ACTIVE although the line ended and ours has not: expiry and state alerted', {}, { expireTime: '20261120000000' }, ['expiry:expireTime', 'state:status']],
    ['line ended within the grace: only the expiry', {}, { expireTime: '20261124090000' }, ['expiry:expireTime']],
    ['both ended: the expiry safety net freezes it, nothing here', { expireTime: '2026-11-20T00:00:00.000Z' }, { expireTime: '20261120000000' }, []],
    ['FROZEN by the marketplace while the line runs on: state', { status: 'FROZEN' }, {}, ['state:status']],
    ['later, frozen by our own timer, but the new end is past too: alerted', { status: 'FROZEN', frozenLocally: true, expireTime: '2026-10-01T00:00:00.000Z' }, { expireTime: '20261101000000' }, ['expiry:expireTime']],
    ['FROZEN after the line ended: nothing', { status: 'FROZEN', expireTime: '2026-11-01T00:00:00.000Z' }, { expireTime: '20261101000000' }, []],
    ['no expiry recorded on a yearly/monthly instance: alerted', { expireTime: undefined }, {}, ['expiry:expireTime']],
    ['on-demand: expiries are not compared', { chargingMode: 'ON_DEMAND', expireTime: undefined }, { chargingMode: 'ON_DEMAND', expireTime: '20300101000000' }, []],
    ['another SKU: spec', {}, { productInfo: [{ productId: 'OFFI1', skuCode: 'sku-pro', linearValue: 10 }] }, ['spec:skuCode']],
    ['another linear value and product: spec twice', {}, { productInfo: [{ productId: 'OFFI2', skuCode: 'sku-basic', linearValue: 50 }] }, ['spec:productId', 'spec:linearValue']],
    ['a spec the line does not state is not drift', {}, { productInfo: [{ skuCode: 'sku-basic' }] }, []],
    ['renewal with a spec change: the expiry fixed, the spec alerted', {}, { expireTime: '20281124235959', productInfo: [{ productId: 'OFFI1', skuCode: 'sku-pro', linearValue: 10 }] }, ['expiry:expireTime:renewal', 'spec:skuCode']],
  ])('%s', (_name, over, lineOver, expected) => {
    expect(brief(compare(instance(over), line(lineOver), ctx))).toEqual(expected);
  });

  it('states both values and never anything of the buyer', () => {
    const [drift] = compare(instance({ buyer: { email: 'owner@acme.example', mobilePhone: '18612345678' } }), line({ expireTime: '20281124235959' }), ctx);
    expect(drift).toMatchObject({ ours: '2027-11-24T23:59:59.000Z', theirs: '2028-11-24T23:59:59.000Z', fix: 'renewal' });
    expect(JSON.stringify(drift)).not.toMatch(/acme|18612345678/);
  });

  it('the fix is only offered while the instance is ACTIVE or frozen by our own timer', () => {
    for (const status of ['ACTIVE', 'FROZEN'] as const)
      for (const frozenLocally of [false, true]) {
        const drifts = compare(instance({ status, frozenLocally: status === 'FROZEN' ? frozenLocally : undefined }), line({ expireTime: '20281124235959' }), ctx);
        const fixable = status === 'ACTIVE' || frozenLocally;
        expect(drifts.some((d) => d.fix === 'renewal'), `${status} ${frozenLocally}`).toBe(fixable);
      }
  });

  it('never after a renewal period was unsubscribed: the refunded renewal order still shows the longer period', () => {
    const refunded = instance({ appliedOps: ['refresh:CS2:CS2-000001:RENEWAL', 'refresh:CS3:CS3-000001:UNSUBSCRIBE_RENEWAL_PERIOD'] });
    const drifts = compare(refunded, line({ orderLineId: 'CS3-000001', expireTime: '20281124235959' }), ctx);
    expect(brief(drifts)).toEqual(['expiry:expireTime']);
    expect(drifts[0]!.message).toMatch(/unsubscribed/);
  });
});

describe('referenceOrder', () => {
  it('is the creation order until a renewal or upgrade is applied, then the latest of those', () => {
    expect(referenceOrder(instance())).toEqual({ orderId: 'CS1', orderLineId: 'CS1-000001', via: 'newInstance' });
    expect(referenceOrder(instance({ appliedOps: ['refresh:CS2:CS2-000001:RENEWAL'] }))).toEqual({ orderId: 'CS2', orderLineId: 'CS2-000001', via: 'refreshInstance RENEWAL' });
    expect(
      referenceOrder(instance({ appliedOps: ['refresh:CS2:CS2-000001:RENEWAL', 'upgrade:CS3:CS3-000002', 'reconcile:CS3:CS3-000002:2028-01-01T00:00:00.000Z'] })),
    ).toEqual({ orderId: 'CS3', orderLineId: 'CS3-000002', via: 'upgradeInstance' });
  });

  it('a SaaS V1 renewal names only its order: the line is left to be chosen by product', () => {
    expect(referenceOrder(instance({ appliedOps: ['refresh:CSV1:CSV1:RENEWAL'] }))).toEqual({ orderId: 'CSV1', via: 'refreshInstance RENEWAL' });
  });
});

describe('the daily slot', () => {
  it('is the same time of day for an instance, strictly after the given instant, within a day', () => {
    const id = 'i-slot';
    const first = nextReconcileAt(id, now);
    expect(Date.parse(first)).toBeGreaterThan(now.getTime());
    expect(Date.parse(first) - now.getTime()).toBeLessThanOrEqual(DAY_MS);
    expect(Date.parse(first) % DAY_MS).toBe(reconcileSlotMs(id));
    // taken at its due time: the next one is a day later
    expect(nextReconcileAt(id, first)).toBe(new Date(Date.parse(first) + DAY_MS).toISOString());
  });

  it('spreads instances over the day', () => {
    const hours = new Set(Array.from({ length: 200 }, (_, i) => Math.floor(reconcileSlotMs(`instance-${i}`) / HOUR_MS)));
    expect(hours.size).toBeGreaterThan(20);
  });

  it('only live production instances are reconciled', () => {
    expect(isReconciled(instance())).toBe(true);
    expect(isReconciled(instance({ status: 'FROZEN' }))).toBe(true);
    expect(isReconciled(instance({ status: 'RELEASED' }))).toBe(false);
    expect(isReconciled(instance({ testFlag: true }))).toBe(false);
  });
});
