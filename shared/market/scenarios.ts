/**
 * The scenarios of `npm run market`: each a list of steps in the documented sequence of the marketplace,
 * with the answer each must get. Order ids derive from the run's id, so runs never share orders (except
 * `dial-test`, which uses the marketplace's own mock orders, as the console's debugger does).
 */
import { randomUUID } from 'node:crypto';
import type { OrderInfo } from '../openapi/order.ts';
import { formatMarketTime } from '../protocol/time.ts';
import { LOCAL_HARDWARE_SKU } from '../../infra/local/catalogue.ts';
import { ANY, type Call, type Expect, type Scenario, type StepDef, type Vars } from './runner.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const line = (orderId: string) => ({ orderId, orderLineId: `${orderId}-000001` });

function order(orderId: string, o: { orderType?: string; chargingMode?: string; periodType?: string; expireTime?: string; skuCode?: string; linearValue?: number }): OrderInfo {
  const chargingMode = o.chargingMode ?? 'PERIOD';
  const periodic = chargingMode === 'PERIOD' || chargingMode === 'ON_DEMAND_PKG';
  return {
    orderId,
    orderType: o.orderType ?? 'NEW',
    createTime: formatMarketTime(new Date()),
    orderLine: [
      {
        orderLineId: `${orderId}-000001`,
        chargingMode,
        ...(periodic ? { periodType: o.periodType ?? 'year', periodNumber: 1, expireTime: o.expireTime ?? '20311124235959' } : {}),
        productInfo: [{ productId: 'OFFIMARKET0001', skuCode: o.skuCode ?? 'sku-basic', linearValue: o.linearValue ?? 10, productName: 'Market scenario product' }],
      },
    ],
    buyerInfo: { customerId: 'cust-market', customerName: 'market', mobilePhone: '18612345678', email: 'owner@market.example' },
  } as OrderInfo;
}

type Body = Record<string, unknown> & { activity: string };

/** A marketplace call. */
const call = (name: string, body: (v: Vars) => Body, expect: (v: Vars) => Expect, extra: Partial<StepDef> = {}): StepDef => ({
  name,
  call: (v) => ({ kind: 'produce', body: body(v) }),
  expect,
  ...extra,
});

const ok = (): Expect => ({ code: '000000' });

/** newInstance of an order line: the instanceId saved (as `var`), a resend must answer the same one. */
const newInstance = (orderId: string, variable = 'instanceId', extra: Record<string, unknown> = {}): StepDef =>
  call(
    'purchase',
    () => ({ activity: 'newInstance', ...line(orderId), businessId: randomUUID(), ...extra }),
    (v) => ({ code: '000000', fields: { instanceId: v[variable] ?? ANY } }),
    { resend: true, save: { [variable]: 'instanceId' } },
  );

/** The instance as the operator route shows it. */
const inspect = (name: string, fields: Record<string, unknown>, variable = 'instanceId'): StepDef => ({
  name,
  needs: 'internal routes',
  call: (v): Call => ({ kind: 'internal', method: 'GET', resource: '/internal/instances/{instanceId}', pathParameters: { instanceId: v[variable]! } }),
  expect: () => ({ code: '200', fields }),
});

const query = (variable = 'instanceId'): StepDef =>
  call('query', (v) => ({ activity: 'queryInstance', instanceId: v[variable]! }), (v) => ({ code: '000000', fields: { 'info.0.instanceId': v[variable] ?? ANY } }));

const job = (name: string, job: string, time: (v: Vars) => Date, expect: Expect = { fields: { failed: 0 } }): StepDef => ({
  name,
  needs: 'clock',
  call: (v) => ({ kind: 'job', job, time: time(v).toISOString() }),
  expect: () => expect,
});

const refresh = (name: string, scene: string, orderId: string, expireTime: string, extra: Partial<StepDef> = {}, body: Record<string, string> = {}): StepDef =>
  call(name, (v) => ({ activity: 'refreshInstance', instanceId: v.instanceId!, ...line(orderId), scene, expireTime, ...body }), ok, { resend: true, ...extra });

// ================================================================ the scenarios

const MOCK = (id: string) => line(id);

/** A market time (yyyyMMddHHmmss, UTC) as the instance stores it (ISO). */
const iso = (t: string) => `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(8, 10)}:${t.slice(10, 12)}:${t.slice(12, 14)}.000Z`;

export const dialTest: Scenario = {
  name: 'dial-test',
  title: "the console's debug calls (testFlag=1) on the marketplace's mock orders",
  steps: () => [
    call('notify', () => ({ activity: 'orderNotify', ...MOCK('MOCKPERIODYEARNEW'), testFlag: '1' }), ok),
    newInstance('MOCKPERIODYEARNEW', 'instanceId', { testFlag: '1' }),
    { ...newInstance('MOCKONETIMENEW', 'oneTime', { testFlag: '1' }), name: 'purchase one-time', resend: false, group: 'dial-new' },
    { ...newInstance('MOCKONDEMAND', 'onDemand', { testFlag: '1' }), name: 'purchase on demand', resend: false, group: 'dial-new' },
    { ...query(), group: 'dial-query' },
    { ...query('oneTime'), group: 'dial-query' },
    { ...query('onDemand'), group: 'dial-query' },
    inspect('instance as the operator sees it', { status: 'ACTIVE' }),
    refresh('renew', 'RENEWAL', 'MOCKMONTYRENEW', '20311124235959', { resend: false }, { testFlag: '1' }),
    call('freeze', (v) => ({ activity: 'updateInstanceStatus', instanceId: v.instanceId!, status: 'FREEZE', testFlag: '1' }), ok),
    call('unfreeze', (v) => ({ activity: 'updateInstanceStatus', instanceId: v.instanceId!, status: 'UNFREEZE', testFlag: '1' }), ok),
    { ...call('release', (v) => ({ activity: 'releaseInstance', instanceId: v.instanceId!, testFlag: '1' }), ok), group: 'dial-release' },
    { ...call('release one-time', (v) => ({ activity: 'releaseInstance', instanceId: v.oneTime!, testFlag: '1' }), ok), group: 'dial-release' },
    { ...call('release on demand', (v) => ({ activity: 'releaseInstance', instanceId: v.onDemand!, testFlag: '1' }), ok), group: 'dial-release' },
  ],
};

export const yearlyPurchase: Scenario = {
  name: 'yearly-purchase',
  title: 'a yearly subscription: notify, purchase (resent), query',
  orders: (id) => [order(id, { periodType: 'year', expireTime: '20311124235959' })],
  steps: (id) => [
    call('notify', () => ({ activity: 'orderNotify', ...line(id), testFlag: '0' }), ok),
    newInstance(id),
    query(),
    inspect('instance active until its expiry', { status: 'ACTIVE', expireTime: iso('20311124235959') }),
  ],
};

/** The expiry of the monthly scenario: a month (31 days) from the start of the run, end of that day (UTC). */
const MONTH_END = formatMarketTime(new Date(Math.floor((Date.now() + 31 * DAY) / DAY) * DAY + DAY - 1000));

export const monthlyPurchase: Scenario = {
  name: 'monthly-purchase',
  title: 'a monthly subscription: notify, purchase (resent), query',
  orders: (id) => [order(id, { periodType: 'month', expireTime: MONTH_END })],
  steps: (id) => [
    call('notify', () => ({ activity: 'orderNotify', ...line(id), testFlag: '0' }), ok),
    newInstance(id),
    query(),
    inspect('instance active for a month', { status: 'ACTIVE', periodType: 'month', expireTime: iso(MONTH_END) }),
  ],
};

export const oneTimePurchase: Scenario = {
  name: 'one-time-purchase',
  title: 'a one-time purchase: purchase, query, release',
  orders: (id) => [order(id, { chargingMode: 'ONE_TIME' })],
  steps: (id) => [
    newInstance(id),
    query(),
    inspect('instance active', { status: 'ACTIVE', chargingMode: 'ONE_TIME' }),
    call('release', (v) => ({ activity: 'releaseInstance', instanceId: v.instanceId! }), ok, { resend: true }),
    inspect('instance released', { status: 'RELEASED' }),
  ],
};

export const trialToPaid: Scenario = {
  name: 'trial-to-paid',
  title: 'a trial converted to a paid subscription (TRIAL_TO_FORMAL)',
  orders: (id) => [order(id, { orderType: 'TRIAL', periodType: 'day', expireTime: '20261231235959' })],
  steps: (id) => [
    newInstance(id),
    inspect('a trial', { status: 'ACTIVE', trial: true }),
    refresh('convert to paid', 'TRIAL_TO_FORMAL', `${id}T`, '20311124235959'),
    inspect('paid until the new expiry', { trial: false, expireTime: iso('20311124235959') }),
  ],
};

export const renewal: Scenario = {
  name: 'renewal',
  title: 'a renewal moves the expiry forward, once',
  orders: (id) => [order(id, {})],
  steps: (id) => [
    newInstance(id),
    refresh('renew', 'RENEWAL', `${id}R1`, '20321124235959'),
    inspect('expiry moved', { expireTime: iso('20321124235959') }),
  ],
};

export const renewalChange: Scenario = {
  name: 'renewal-change',
  title: 'a renewal with a change of spec: changeInstanceCheck, then refreshInstance RENEWAL_CHANGE',
  orders: (id) => [order(id, {}), order(`${id}C1`, { orderType: 'RENEW', skuCode: 'sku-pro', linearValue: 20 })],
  steps: (id) => [
    newInstance(id),
    call('check the change', (v) => ({ activity: 'changeInstanceCheck', instanceId: v.instanceId!, productInfo: { skuCode: 'sku-pro', linearValue: 20 } }), ok),
    refresh('renew with change', 'RENEWAL_CHANGE', `${id}C1`, '20321124235959'),
    inspect('new spec and expiry', { expireTime: iso('20321124235959'), 'product.skuCode': 'sku-pro' }),
  ],
};

export const unsubscribeRenewal: Scenario = {
  name: 'unsubscribe-renewal',
  title: 'a renewal period unsubscribed: the expiry moves back',
  orders: (id) => [order(id, {})],
  steps: (id) => [
    newInstance(id),
    refresh('renew', 'RENEWAL', `${id}R1`, '20321124235959'),
    refresh('unsubscribe the renewal period', 'UNSUBSCRIBE_RENEWAL_PERIOD', `${id}R1`, '20311124235959'),
    inspect('expiry back', { expireTime: iso('20311124235959'), status: 'ACTIVE' }),
  ],
};

/** The expiry of the expiry scenario: an hour from the start of the run (the jobs run as of later moments). */
const EXPIRY = new Date(Math.floor((Date.now() + HOUR) / 1000) * 1000);

export const expiryFreezeRelease: Scenario = {
  name: 'expiry-freeze-release',
  title: 'not renewed: frozen 2 h after expiry (expiryFreeze), released after retention (resourceRelease)',
  orders: (id) => [order(id, { expireTime: formatMarketTime(EXPIRY) })],
  steps: (id) => [
    newInstance(id),
    job('within the grace period', 'expiryFreeze', () => new Date(EXPIRY.getTime() + 2 * HOUR - 60_000)),
    inspect('still active', { status: 'ACTIVE' }),
    job('past expiry + grace', 'expiryFreeze', () => new Date(EXPIRY.getTime() + 2 * HOUR + 60_000)),
    inspect('frozen locally', { status: 'FROZEN', frozenLocally: true }),
    job('before retention ends', 'resourceRelease', () => new Date(EXPIRY.getTime() + 2 * HOUR + 15 * DAY)),
    inspect('still frozen', { status: 'FROZEN' }),
    job('past retention + 1 day', 'resourceRelease', () => new Date(EXPIRY.getTime() + 2 * HOUR + 16 * DAY + 2 * 60_000)),
    inspect('released', { status: 'RELEASED' }),
  ],
};

export const upgrade: Scenario = {
  name: 'upgrade',
  title: 'an upgrade: the service reads the new spec from the change order',
  orders: (id) => [order(id, {}), order(`${id}U1`, { orderType: 'CHANGE', skuCode: 'sku-up', linearValue: 30 })],
  steps: (id) => [
    newInstance(id),
    call('upgrade', (v) => ({ activity: 'upgradeInstance', instanceId: v.instanceId!, ...line(`${id}U1`) }), ok, { resend: true }),
    inspect('new spec', { 'product.skuCode': 'sku-up', 'product.linearValue': 30 }),
  ],
};

/** The hour of usage of the on-demand scenario: two hours ago (ended, within the 20 days). */
const USAGE_HOUR = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR);

export const onDemandUsage: Scenario = {
  name: 'on-demand-usage',
  title: 'on demand: usage reported (and resent), pushed once by usagePush',
  orders: (id) => [order(id, { chargingMode: 'ON_DEMAND', linearValue: 1 })],
  steps: (id) => {
    const usage = (v: Vars) => ({ records: [{ key: `${id}-usage-1`, instanceId: v.instanceId!, amount: 2.5, at: new Date(USAGE_HOUR.getTime() + 60_000).toISOString() }] });
    return [
      newInstance(id),
      {
        name: 'report usage',
        needs: 'internal routes',
        call: (v) => ({ kind: 'internal', method: 'POST', resource: '/internal/usage', body: JSON.stringify(usage(v)) }),
        expect: () => ({ code: '200', fields: { 'results.0.outcome': 'recorded' } }),
      },
      {
        name: 'report usage again (same key)',
        needs: 'internal routes',
        call: (v) => ({ kind: 'internal', method: 'POST', resource: '/internal/usage', body: JSON.stringify(usage(v)) }),
        expect: () => ({ code: '200', fields: { 'results.0.outcome': 'duplicate' } }),
      },
      job('push the ended hour', 'usagePush', () => new Date(USAGE_HOUR.getTime() + HOUR + 5 * 60_000)),
      {
        name: 'the marketplace holds one record',
        needs: 'local marketplace',
        call: () => ({ kind: 'local', method: 'GET', path: '/__local/usage' }),
        expect: (v) => ({
          code: '200',
          check: {
            text: 'one record of 2.5',
            test: (json: { records: Array<{ instance_id: string; usage_value: string }> }) => {
              const mine = json.records.filter((r) => r.instance_id === v.instanceId);
              return mine.length === 1 && Number(mine[0]!.usage_value) === 2.5;
            },
          },
        }),
      },
    ];
  },
};

/** One usage record for the instance, `at` a minute ago. */
const report = (name: string, id: string, key: string, amount: number, expect: Expect): StepDef => ({
  name,
  needs: 'internal routes',
  call: (v) => ({
    kind: 'internal',
    method: 'POST',
    resource: '/internal/usage',
    body: JSON.stringify({ records: [{ key: `${id}-${key}`, instanceId: v.instanceId!, amount, at: new Date(Date.now() - 60_000).toISOString() }] }),
  }),
  expect: () => expect,
});

export const packageExhaustion: Scenario = {
  name: 'package-exhaustion',
  title: 'a usage-stop package used to exhaustion: threshold and rebuy intent, refused overrun, a new package serves again',
  orders: (id) => [order(id, { chargingMode: 'ON_DEMAND_PKG', linearValue: 10 })],
  steps: (id) => [
    newInstance(id),
    {
      name: 'threshold 20 % with auto-rebuy',
      needs: 'internal routes',
      call: (v) => ({
        kind: 'internal',
        method: 'POST',
        resource: '/internal/instances/{instanceId}/package',
        pathParameters: { instanceId: v.instanceId! },
        body: JSON.stringify({ threshold: { percent: 20 }, autoRebuy: true }),
      }),
      expect: () => ({ code: '200' }),
    },
    report('use 7 of 10', id, 'u1', 7, { code: '200', fields: { 'results.0.outcome': 'recorded', 'results.0.remaining': 3, 'results.0.serving': true } }),
    report('use 1.5: the threshold is reached', id, 'u2', 1.5, {
      code: '200',
      fields: { 'results.0.outcome': 'recorded', 'results.0.remaining': 1.5, 'results.0.rebuyIntent': ANY },
    }),
    report('resend of the same record', id, 'u2', 1.5, { code: '200', fields: { 'results.0.outcome': 'duplicate', 'results.0.remaining': 1.5 } }),
    report('use 2: would overrun, refused whole, stops', id, 'u3', 2, { code: '200', fields: { 'results.0.outcome': 'refused', 'results.0.serving': false, 'results.0.remaining': 1.5 } }),
    report('use 0.5 after the stop: refused', id, 'u4', 0.5, { code: '200', fields: { 'results.0.outcome': 'refused', 'results.0.serving': false } }),
    refresh('a new package bought (RENEWAL)', 'RENEWAL', `${id}R1`, '20321124235959'),
    report('use 1 of the new package', id, 'u5', 1, { code: '200', fields: { 'results.0.outcome': 'recorded', 'results.0.remaining': 9, 'results.0.serving': true } }),
  ],
};

/** A V1 call (GET /produce/v1); timeStamp and authToken are added when it is delivered. */
const v1 = (name: string, params: (v: Vars) => Record<string, string> & { activity: string }, expect: (v: Vars) => Expect, extra: Partial<StepDef> = {}): StepDef => ({
  name,
  call: (v) => ({ kind: 'v1', params: params(v) }),
  expect,
  ...extra,
});

export const v1Lifecycle: Scenario = {
  name: 'v1-lifecycle',
  title: 'an existing V1 listing: GET /produce/v1 purchase, renewal, unsubscribed period, freeze, release',
  orders: (id) => [order(id, {})],
  steps: (id) => [
    v1(
      'purchase',
      () => ({ activity: 'newInstance', orderId: id, businessId: randomUUID(), customerId: 'cust-market', productId: 'OFFIMARKET0001', skuCode: 'sku-basic' }),
      (v) => ({ code: '000000', fields: { instanceId: v.instanceId ?? ANY } }),
      { resend: true, save: { instanceId: 'instanceId' } },
    ),
    v1('query', (v) => ({ activity: 'queryInstance', instanceId: v.instanceId! }), ok),
    v1('renew', (v) => ({ activity: 'refreshInstance', instanceId: v.instanceId!, orderId: `${id}R`, expireTime: '20321124235959', orderAmount: '10' }), ok, { resend: true }),
    inspect('expiry moved', { expireTime: iso('20321124235959') }),
    v1('unsubscribe the renewal period', (v) => ({ activity: 'refreshInstance', instanceId: v.instanceId!, orderId: `${id}U`, expireTime: '20311124235959', orderAmount: '-10' }), ok),
    inspect('expiry back', { expireTime: iso('20311124235959') }),
    v1('freeze', (v) => ({ activity: 'instanceStatus', instanceId: v.instanceId!, instanceStatus: 'FREEZE' }), ok),
    inspect('frozen', { status: 'FROZEN' }),
    v1('unfreeze', (v) => ({ activity: 'instanceStatus', instanceId: v.instanceId!, instanceStatus: 'NORMAL' }), ok),
    v1('release', (v) => ({ activity: 'releaseInstance', instanceId: v.instanceId!, orderId: id }), ok, { resend: true }),
    inspect('released', { status: 'RELEASED' }),
  ],
};

/** A call to the License production URL (POST /license, V2 signature). */
const license = (name: string, body: (v: Vars) => Body, expect: (v: Vars) => Expect, extra: Partial<StepDef> = {}): StepDef => ({
  name,
  call: (v) => ({ kind: 'produce', path: '/license', body: body(v) }),
  expect,
  ...extra,
});

export const licenseLifecycle: Scenario = {
  name: 'license-lifecycle',
  title: 'a License 2.0 code: activated by the product, renewed, frozen, unfrozen, released through POST /license',
  local: true,
  steps: (id) => {
    const code = `PL${id}`.slice(0, 64);
    const read = (name: string, fields: Record<string, unknown>): StepDef => ({
      name,
      needs: 'internal routes',
      call: () => ({ kind: 'internal', method: 'GET', resource: '/internal/licenses/{code}', pathParameters: { code } }),
      expect: () => ({ code: '200', fields: { code, ...fields } }),
    });
    return [
      {
        name: 'the marketplace issues the code',
        needs: 'local marketplace',
        call: () => ({
          kind: 'local',
          method: 'POST',
          path: '/__local/licenses',
          body: { code, status: 'UNACTIVATED', expireTime: formatMarketTime(new Date(Date.now() + 365 * DAY)), productId: 'OFFIMARKET0001', orderId: id, amount: 1 },
        }),
        expect: () => ({ code: ['200', '204'] }),
      },
      {
        name: 'the product activates it',
        needs: 'internal routes',
        call: () => ({ kind: 'internal', method: 'POST', resource: '/internal/licenses/{code}/activate', pathParameters: { code } }),
        expect: () => ({ code: '200', fields: { code, usable: true } }),
      },
      license('a callback for an unknown code', () => ({ activity: 'releaseLicenseCode', license: `${code}X` }), () => ({ code: '000003' }), { noDuplicates: true }),
      license(
        'renew',
        () => ({ activity: 'refreshLicenseCode', scene: 'RENEWAL', license: code, ...line(`${id}R`), expireTime: '20331124235959' }),
        ok,
        { resend: true },
      ),
      read('renewed: the new expiry is stored', { state: 'ACTIVE', usable: true, expireTime: '2033-11-24T23:59:59.000Z' }),
      license('freeze', () => ({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' }), ok),
      // the renewed expiry is still ahead: a FREEZE now is one sent before the renewal, arriving late
      read('a freeze older than the renewal changes nothing', { state: 'ACTIVE', usable: true }),
      license('unfreeze', () => ({ activity: 'updateLicenseCodeStatus', license: code, status: 'UNFREEZE' }), ok),
      license('release', () => ({ activity: 'releaseLicenseCode', license: code }), ok, { resend: true }),
      read('released for good', { state: 'RELEASED', usable: false }),
    ];
  },
};

// ================================================================ joint operation (Kit sync, SSO login)

/** A browser's GET of a public route of the API. */
const page = (name: string, path: string, query: (v: Vars) => Record<string, string>, cookies: (v: Vars) => Record<string, string>, expect: (v: Vars) => Expect, extra: Partial<StepDef> = {}): StepDef => ({
  name,
  needs: 'local marketplace', // the tenant lives only in the local marketplace's identity service
  call: (v) => ({ kind: 'route', path, query: query(v), cookies: cookies(v) }),
  expect,
  ...extra,
});

/** The whole sign-in of `user`: /sso/login → the identity service's authorize (login_hint) → /sso/callback. Saves `<as>Session`. */
const signIn = (code: string, user: string, as: string): StepDef[] => [
  page(`${user}: /sso/login redirects to the identity service`, '/sso/login', () => ({ tenant: code }), () => ({}), () => ({
    code: '302',
    fields: { 'redirect.state': ANY, 'cookies.kg_login': ANY },
    check: { text: 'to …/oauth2/authorize', test: (json: { location: string }) => new URL(json.location).pathname.endsWith('/oauth2/authorize') },
  }), { save: { [`${as}Authorize`]: 'location', [`${as}Login`]: 'cookies.kg_login' } }),
  {
    name: `${user}: the identity service approves (login_hint)`,
    needs: 'local marketplace',
    call: (v) => {
      const url = new URL(v[`${as}Authorize`]!);
      url.searchParams.set('login_hint', user);
      return { kind: 'browse', url: url.toString() };
    },
    expect: (v) => ({
      code: '302',
      fields: { 'redirect.code': ANY, 'redirect.state': new URL(v[`${as}Authorize`] ?? 'http://x.invalid/?state=').searchParams.get('state') },
      check: { text: 'back to /sso/callback', test: (json: { location: string }) => new URL(json.location).pathname === '/sso/callback' },
    }),
    save: { [`${as}Code`]: 'redirect.code', [`${as}State`]: 'redirect.state' },
  },
  page(
    `${user}: /sso/callback (kg_login) opens a session`,
    '/sso/callback',
    (v) => ({ code: v[`${as}Code`]!, state: v[`${as}State`]! }),
    (v) => ({ kg_login: v[`${as}Login`]! }),
    () => ({ code: '302', fields: { 'cookies.kg_session': ANY, 'cookies.kg_login': '' } }),
    { save: { [`${as}Session`]: 'cookies.kg_session' } },
  ),
];

const session = (name: string, as: string, expect: Expect): StepDef => page(name, '/sso/session', () => ({}), (v) => ({ kg_session: v[`${as}Session`]! }), () => expect);

export const jointOperation: Scenario = {
  name: 'joint-operation',
  title: 'joint-operation onboarding: the Kit syncs a tenant, its users sign in (SSO), a disabled user loses the session, logout',
  local: true,
  steps: (id) => {
    const code = `t${id}`.toLowerCase().slice(0, 64);
    return [
      {
        name: 'the marketplace creates the tenant (tenant, application, departments, users synced)',
        needs: 'local marketplace',
        call: () => ({
          kind: 'local',
          method: 'POST',
          path: '/__local/kit/tenants',
          body: {
            tenantCode: code,
            name: `Market ${id}`,
            departments: [
              { orgCode: 'HQ', orgName: 'Head office' },
              { orgCode: 'HQ-DEV', orgName: 'Development', parentCode: 'HQ' },
            ],
            users: [
              { userName: 'alice', name: 'Alice', role: 'admin', orgCode: 'HQ' },
              { userName: 'bob', name: 'Bob', role: 'user', orgCode: 'HQ-DEV' },
              { userName: 'carol', name: 'Carol', role: 'user', orgCode: 'HQ-DEV', enable: 'false' },
            ],
          },
        }),
        expect: () => ({
          code: '200',
          fields: { tenantCode: code, tenantId: ANY },
          check: {
            text: 'tenantSync, applicationSync, allOrgSync, authSync all 000000',
            test: (json: { results: Array<{ path: string; resultCode: string }> }) =>
              ['tenantSync', 'applicationSync', 'allOrgSync', 'authSync'].every((n) => json.results.some((r) => r.path.endsWith(n))) &&
              json.results.every((r) => r.resultCode === '000000'),
          },
        }),
        save: { tenantId: 'tenantId' },
      },
      {
        name: 'the operator sees the tenant: user counts and department tree',
        needs: 'internal routes',
        call: (v) => ({ kind: 'internal', method: 'GET', resource: '/internal/tenants/{tenantId}', pathParameters: { tenantId: v.tenantId! } }),
        expect: () => ({
          code: '200',
          fields: {
            tenantCode: code,
            status: 'active',
            'applications.0.hasClientSecret': true,
            'applications.0.users.active': 2,
            'applications.0.users.disabled': 1,
            'departments.count': 2,
          },
          check: {
            text: 'tree HQ > HQ-DEV',
            test: (json: { departments: { tree: Array<{ orgCode: string; children: Array<{ orgCode: string }> }> } }) =>
              json.departments.tree.length === 1 && json.departments.tree[0]!.orgCode === 'HQ' && json.departments.tree[0]!.children.map((c) => c.orgCode).join() === 'HQ-DEV',
          },
        }),
      },
      ...signIn(code, 'bob', 'bob'),
      session('bob: /sso/session says who', 'bob', { code: '200', fields: { 'body.userName': 'bob', 'body.tenantCode': code, 'body.orgCode': 'HQ-DEV' } }),
      ...signIn(code, 'alice', 'alice'),
      session('alice: /sso/session says who', 'alice', { code: '200', fields: { 'body.userName': 'alice', 'body.role': 'admin' } }),
      {
        name: 'the tenant disables bob (authSync flag 2)',
        needs: 'local marketplace',
        call: () => ({ kind: 'local', method: 'POST', path: `/__local/kit/tenants/${code}/users`, body: { flag: 2, users: [{ userName: 'bob', enable: 'false' }] } }),
        expect: () => ({ code: '200', fields: { 'results.0.resultCode': '000000' } }),
      },
      session("bob's session is withdrawn", 'bob', { code: '401', fields: { 'cookies.kg_session': '' } }),
      session('alice is still signed in', 'alice', { code: '200', fields: { 'body.userName': 'alice' } }),
      page('alice logs out (through the identity service)', '/sso/logout', () => ({}), (v) => ({ kg_session: v.aliceSession! }), () => ({
        code: '302',
        fields: { 'cookies.kg_session': '' },
        check: { text: 'to …/logout', test: (json: { location: string }) => new URL(json.location).pathname.endsWith('/logout') },
      })),
      session("alice's session is over", 'alice', { code: '401' }),
    ];
  },
};

// ================================================================ hardware (service supervision)

/** An operator route of a supervised (hardware) order. */
const orderRoute = (name: string, orderId: string, action: '' | 'shipment' | 'sign-off', body: (() => unknown) | undefined, expect: Expect): StepDef => ({
  name,
  needs: 'internal routes',
  call: () => ({
    kind: 'internal',
    method: body ? 'POST' : 'GET',
    resource: `/internal/orders/{orderId}${action ? `/${action}` : ''}`,
    pathParameters: { orderId },
    ...(body ? { body: JSON.stringify(body()) } : {}),
  }),
  expect: () => expect,
});

/** Shipped to `waybillPhone`, signed for 11 days ago (past the 10 days of auto-acceptance). */
const shippedAndSigned = (label: string, orderId: string, waybillPhone: string, phoneMatch: boolean): StepDef[] => [
  call(`${label}: notify`, () => ({ activity: 'orderNotify', ...line(orderId), testFlag: '0' }), ok, { resend: true }),
  orderRoute(`${label}: supervised, awaiting shipment`, orderId, '', undefined, {
    code: '200',
    fields: { 'lines.0.state': 'AWAITING_SHIPMENT', 'lines.0.buyerPhone': '186****5678' },
  }),
  orderRoute(`${label}: shipped`, orderId, 'shipment', () => ({ carrier: 'SF Express', trackingNumber: `SF${orderId}`.slice(0, 64), waybillPhone }), {
    code: '200',
    fields: { state: 'SHIPPED', phoneMatch },
  }),
  orderRoute(`${label}: signed for 11 days ago`, orderId, 'sign-off', () => ({ signedAt: new Date(Date.now() - 11 * DAY).toISOString() }), {
    code: '200',
    fields: { state: 'SIGNED', phoneMatch },
  }),
];

export const hardware: Scenario = {
  name: 'hardware',
  title: `a hardware order (${LOCAL_HARDWARE_SKU}): shipped, signed, auto-accepted after 10 days; a phone mismatch is only reminded`,
  orders: (id) => [
    order(id, { chargingMode: 'ONE_TIME', skuCode: LOCAL_HARDWARE_SKU, linearValue: 1 }),
    order(`${id}M`, { chargingMode: 'ONE_TIME', skuCode: LOCAL_HARDWARE_SKU, linearValue: 1 }),
  ],
  steps: (id) => [
    ...shippedAndSigned('waybill phone = buyer phone', id, '+86 186-1234-5678', true),
    ...shippedAndSigned('another waybill phone', `${id}M`, '13900000000', false),
    job('auto-acceptance as of now', 'hardwareAutoAccept', () => new Date()),
    orderRoute('accepted automatically', id, '', undefined, { code: '200', fields: { 'lines.0.state': 'ACCEPTED', 'lines.0.acceptedBy': 'auto' } }),
    orderRoute('mismatch: not accepted, the buyer reminded', `${id}M`, '', undefined, {
      code: '200',
      fields: { 'lines.0.state': 'SIGNED', 'lines.0.remindersSent': 1 },
      check: { text: 'a reminder notification', test: (json: { notifications: unknown[] }) => json.notifications.length === 1 },
    }),
  ],
};

export const SCENARIOS: readonly Scenario[] = [
  dialTest,
  yearlyPurchase,
  monthlyPurchase,
  oneTimePurchase,
  trialToPaid,
  renewal,
  renewalChange,
  unsubscribeRenewal,
  expiryFreezeRelease,
  upgrade,
  onDemandUsage,
  packageExhaustion,
  v1Lifecycle,
  licenseLifecycle,
  jointOperation,
  hardware,
];

export const scenarioNamed = (name: string) => SCENARIOS.find((s) => s.name === name);
