/**
 * The change → event table, rule by rule, on item images as the stream carries them; the entity names
 * it keys on are the storage's own (a renamed entity would silently stop its events); and the committed
 * JSON Schema is the one the definitions generate.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createEntities, createTable } from '#shared/storage/entities';
import { createLicenseEntities } from '#shared/storage/licenseEntities';
import { createTenancyEntities } from '#shared/storage/tenancyEntities';
import { EVENT_ENTITIES, eventsOfChange, type ItemChange } from './changes.ts';
import { EVENT_TYPES, integrationEventSchema, integrationEventsJsonSchema, type IntegrationEvent } from './schema.ts';

const SOURCE = 'koogallery-merchant/test';
const types = (change: ItemChange) => eventsOfChange(change, SOURCE).map((e) => e.type.replace('koogallery.', ''));

const instance = (over: Record<string, unknown> = {}) => ({
  _et: 'Instance',
  instanceId: 'i-1',
  orderId: 'o-1',
  orderLineId: 'l-1',
  status: 'PROVISIONING',
  testFlag: false,
  chargingMode: 'PERIOD',
  trial: false,
  expireTime: '2027-01-01T00:00:00.000Z',
  product: { productId: 'p', skuCode: 'sku-a', linearValue: 1 },
  appliedOps: [],
  provisioningAttempts: 1,
  buyerSealed: 'sealed:xyz',
  createdAt: '2026-11-24T00:00:00.000Z',
  updatedAt: '2026-11-24T00:00:00.000Z',
  version: 1,
  ...over,
});
const app = { frontEndUrl: 'https://t/1', userName: 'admin', passwordSealed: 'sealed:pw' };

describe('instance changes', () => {
  it.each([
    ['created while provisioning', undefined, instance(), ['instance.provisioning_requested']],
    [
      'created finished (one write)',
      undefined,
      instance({ status: 'ACTIVE', appInfo: app }),
      ['instance.provisioning_requested', 'instance.provisioned', 'instance.active'],
    ],
    ['provisioning finished', instance(), instance({ status: 'ACTIVE', appInfo: app, version: 2 }), ['instance.provisioned', 'instance.active']],
    ['provisioning finished while frozen', instance({ status: 'FROZEN' }), instance({ status: 'FROZEN', appInfo: app, version: 2 }), ['instance.provisioned']],
    ['frozen', instance({ status: 'ACTIVE', appInfo: app }), instance({ status: 'FROZEN', appInfo: app, version: 2 }), ['instance.frozen']],
    ['unfrozen', instance({ status: 'FROZEN', appInfo: app }), instance({ status: 'ACTIVE', appInfo: app, version: 2 }), ['instance.unfrozen']],
    [
      'renewed',
      instance({ status: 'ACTIVE', appInfo: app }),
      instance({ status: 'ACTIVE', appInfo: app, expireTime: '2028-01-01T00:00:00.000Z', version: 2 }),
      ['instance.renewed'],
    ],
    [
      'renewal unsubscribed (expiry moves back: not a renewal)',
      instance({ status: 'ACTIVE', appInfo: app, expireTime: '2028-01-01T00:00:00.000Z' }),
      instance({ status: 'ACTIVE', appInfo: app, version: 2 }),
      ['instance.expiry_shortened'],
    ],
    [
      'renewed into another product id of the same specification (monthly → yearly): not an upgrade',
      instance({ status: 'ACTIVE', appInfo: app }),
      instance({ status: 'ACTIVE', appInfo: app, product: { productId: 'p-yearly', skuCode: 'sku-a', linearValue: 1 }, expireTime: '2028-01-01T00:00:00.000Z', version: 2 }),
      ['instance.renewed'],
    ],
    [
      'upgraded',
      instance({ status: 'ACTIVE', appInfo: app }),
      instance({ status: 'ACTIVE', appInfo: app, product: { productId: 'p', skuCode: 'sku-b', linearValue: 5 }, version: 2 }),
      ['instance.upgraded'],
    ],
    ['released', instance({ status: 'FROZEN', appInfo: app }), instance({ status: 'RELEASED', appInfo: app, version: 2 }), ['instance.released']],
    ['failed', instance(), instance({ status: 'FAILED', version: 2 }), ['instance.failed']],
    ['a timer moved (no state change)', instance({ status: 'ACTIVE', appInfo: app }), instance({ status: 'ACTIVE', appInfo: app, dueAt: 'x', version: 2 }), []],
  ])('%s', (_name, old, now, expected) => {
    expect(types({ old, new: now })).toEqual(expected);
  });

  it('ids are the instance, its version and the type; no password or sealed data travels', () => {
    const [event] = eventsOfChange({ old: instance({ status: 'ACTIVE', appInfo: app }), new: instance({ status: 'FROZEN', appInfo: app, version: 7 }) }, SOURCE);
    expect(event).toMatchObject({
      id: 'instance/i-1/v7/instance.frozen',
      subject: 'instance/i-1',
      time: '2026-11-24T00:00:00.000Z',
      data: { status: 'FROZEN', previousStatus: 'ACTIVE', appInfo: { frontEndUrl: 'https://t/1' }, version: 7 },
    });
    expect(JSON.stringify(event)).not.toMatch(/sealed|password|userName|admin/i);
  });

  it('an id cannot be forged by a value that looks like a path', () => {
    const a = eventsOfChange({ new: instance({ instanceId: 'a/v1' }) }, SOURCE)[0]!;
    const b = eventsOfChange({ new: instance({ instanceId: 'a', version: 1 }) }, SOURCE)[0]!;
    expect(a.id).not.toBe(b.id);
  });

  it('a removal or an item of another entity makes no event', () => {
    expect(types({ old: instance() })).toEqual([]);
    expect(types({ new: { _et: 'Nonce', nonce: 'n' } })).toEqual([]);
    expect(types({ new: { _et: 'Call', activity: 'newInstance' } })).toEqual([]);
    expect(types({ new: { pk: 'x', sk: 'y' } })).toEqual([]);
  });
});

describe('packages, hardware orders, Licenses', () => {
  const meter = (over: Record<string, unknown> = {}) => ({
    _et: 'Meter',
    instanceId: 'i-1',
    generation: 'order:o-1',
    package: { quota: 100, remaining: 30, stopWhenExhausted: true },
    used: 70,
    records: 7,
    updatedAt: '2026-11-24T01:00:00.000Z',
    version: 3,
    ...over,
  });
  const intent = { id: 'rebuy-1', generation: 'order:o-1', state: 'PENDING', raisedAt: 'x', remaining: 10, dueAt: 'y' };

  it.each([
    ['threshold reached', meter(), meter({ intent, version: 4 }), ['package.threshold_reached']],
    ['intent handed over (same intent)', meter({ intent }), meter({ intent: { ...intent, state: 'NOTIFIED' }, version: 4 }), []],
    ['exhausted', meter(), meter({ package: { quota: 100, remaining: 0, stopWhenExhausted: true, stoppedAt: 'z', stopReason: 'used up' }, version: 4 }), ['package.exhausted']],
    ['usage counted', meter(), meter({ used: 71, version: 4 }), []],
  ])('%s', (_name, old, now, expected) => expect(types({ old, new: now })).toEqual(expected));

  const line = (state: string, over: Record<string, unknown> = {}) => ({
    _et: 'HardwareOrder',
    orderId: 'o-9',
    orderLineId: 'l-9',
    state,
    testFlag: false,
    rejectionCount: 0,
    remindersSent: 0,
    buyerPhoneSealed: 'sealed:phone',
    updatedAt: '2026-11-24T02:00:00.000Z',
    version: 5,
    ...over,
  });
  it('a hardware order line accepted (by the buyer or automatically) is one event', () => {
    expect(types({ old: line('SIGNED'), new: line('ACCEPTED', { acceptedBy: 'auto', version: 6 }) })).toEqual(['order.accepted']);
    expect(types({ old: line('SHIPPED'), new: line('SIGNED', { version: 6 }) })).toEqual([]);
    const [event] = eventsOfChange({ old: line('SIGNED'), new: line('ACCEPTED', { acceptedBy: 'auto', version: 6 }) }, SOURCE);
    expect(event!.id).toBe('order/o-9/l-9/v6/order.accepted');
    expect(JSON.stringify(event)).not.toMatch(/phone/i);
  });

  const license = (state: string, over: Record<string, unknown> = {}) => ({
    _et: 'License',
    code: 'LIC-1',
    state,
    registeredBy: 'activation',
    appliedOps: [],
    updatedAt: '2026-11-24T03:00:00.000Z',
    version: 1,
    ...over,
  });
  it.each([
    ['activated', undefined, license('ACTIVE'), ['license.activated']],
    ['frozen', license('ACTIVE'), license('FROZEN', { version: 2 }), ['license.frozen']],
    ['unfrozen', license('FROZEN'), license('ACTIVE', { version: 2 }), ['license.unfrozen']],
    ['released', license('ACTIVE'), license('RELEASED', { version: 2 }), ['license.released']],
    ['heartbeat day recorded', license('ACTIVE'), license('ACTIVE', { heartbeatDay: '2026-11-24', version: 2 }), []],
  ])('License %s', (_name, old, now, expected) => expect(types({ old, new: now })).toEqual(expected));
});

describe('joint-operation (Kit) changes', () => {
  const user = (userName: string, syncedAt: string, status = 'active') => ({
    _et: 'TenantUser',
    tenantId: 't-1',
    appId: 'app-1',
    userName,
    name: 'Zhang San',
    orgCode: 'ORG1',
    role: 'user',
    enabled: true,
    mobileSealed: 'sealed:m',
    emailSealed: 'sealed:e',
    status,
    syncedAt,
  });

  it('each user of one sync call is its own event (one sync time, distinct ids), without name or contact data', () => {
    const a = eventsOfChange({ new: user('alice', '20261124120000000') }, SOURCE);
    const b = eventsOfChange({ new: user('bob', '20261124120000000') }, SOURCE);
    expect(a[0]!.id).not.toBe(b[0]!.id);
    expect(a[0]).toMatchObject({ type: 'koogallery.user.changed', subject: 'tenant/t-1', time: '2026-11-24T04:00:00.000Z', data: { change: 'created' } });
    expect(JSON.stringify(a)).not.toMatch(/Zhang|sealed|mobile|email/);
  });

  it('says what the Kit did: created, updated, deleted, revoked; a stale write (same sync time) is nothing', () => {
    const first = user('alice', '20261124120000000');
    expect(eventsOfChange({ old: first, new: user('alice', '20261124120000001') }, SOURCE)[0]!.data).toMatchObject({ change: 'updated' });
    expect(eventsOfChange({ old: first, new: user('alice', '20261124120000001', 'revoked') }, SOURCE)[0]!.data).toMatchObject({ change: 'revoked' });
    expect(eventsOfChange({ old: first, new: user('alice', '20261124120000001', 'deleted') }, SOURCE)[0]!.data).toMatchObject({ change: 'deleted' });
    expect(types({ old: first, new: first })).toEqual([]);
  });

  it('tenants, applications, departments and full department syncs', () => {
    expect(types({ new: { _et: 'Tenant', tenantId: 't', tenantCode: 'c', name: 'n', domainName: 'd', testFlag: false, status: 'active', syncedAt: '20261124120000000' } })).toEqual(['tenant.changed']);
    expect(types({ new: { _et: 'Application', tenantId: 't', appId: 'a', clientId: 'c', clientSecretSealed: 's', testFlag: false, status: 'active', syncedAt: '20261124120000000' } })).toEqual(['application.changed']);
    expect(types({ new: { _et: 'Department', tenantId: 't', orgCode: 'o', orgName: 'n', status: 'active', syncedAt: '20261124120000000' } })).toEqual(['department.changed']);
    expect(types({ new: { _et: 'OrgSnapshot', tenantId: 't', at: '20261124120000000', data: 'gz', parts: 1 } })).toEqual(['departments.replaced']);
    const secret = eventsOfChange({ new: { _et: 'Application', tenantId: 't', appId: 'a', clientId: 'c', clientSecretSealed: 's', testFlag: false, status: 'active', syncedAt: '20261124120000000' } }, SOURCE);
    expect(JSON.stringify(secret)).not.toMatch(/Secret/);
  });
});

describe('the schema', () => {
  it('keys on the storage entities by their real names', () => {
    const table = createTable(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'localhost' })), 'x');
    const names = [createEntities(table), createTenancyEntities(table), createLicenseEntities(table)].flatMap((group) =>
      Object.values(group).map((entity) => entity.entityName),
    );
    for (const name of Object.keys(EVENT_ENTITIES)) expect(names).toContain(name);
  });

  it('every event type has a rule, and every event a rule makes validates', () => {
    const made = new Set<string>();
    const samples: Array<ItemChange> = [
      { new: instance({ status: 'ACTIVE', appInfo: app }) },
      { old: instance({ status: 'ACTIVE', appInfo: app }), new: instance({ status: 'FROZEN', appInfo: app, expireTime: '2029-01-01T00:00:00Z', product: { skuCode: 'z' }, version: 2 }) },
      { old: instance({ status: 'ACTIVE', appInfo: app }), new: instance({ status: 'ACTIVE', appInfo: app, expireTime: '2026-12-01T00:00:00Z', version: 2 }) },
    ];
    for (const change of samples) for (const e of eventsOfChange(change, SOURCE)) made.add(e.type);
    const ruleTypes = Object.values(EVENT_ENTITIES).flatMap((entity) => entity.rules.map((r) => r.type));
    expect([...ruleTypes].sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of made) expect(EVENT_TYPES.map((t) => `koogallery.${t}`)).toContain(type);
    const bad = { ...eventsOfChange(samples[0]!, SOURCE)[0]!, data: { instanceId: 1 } } as unknown as IntegrationEvent;
    expect(integrationEventSchema.safeParse(bad).success).toBe(false);
  });

  it('the committed JSON Schema (integration-events.schema.json, `npm run events-schema`) is the one the definitions generate', () => {
    const committed = JSON.parse(readFileSync(new URL('./integration-events.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(integrationEventsJsonSchema());
  });
});
