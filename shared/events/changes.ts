/**
 * From a change of one table item to the integration events it means: a pure, table-driven mapping.
 * The table's stream is the outbox: every domain write is one conditional transaction, and DynamoDB
 * writes the stream record of each item it changed in that same write, old and new image. So no write
 * path can forget its event, an event exists only for a change that was committed, and a call that
 * changes nothing (a resend, a lost race, a refused replay) leaves no record and no event.
 *
 * Each rule looks at the item's entity (`_et`, dynamodb-toolbox's entity attribute) and its old and
 * new image; the event id is the item's identity + version (or Kit sync time) + type, so it is the same
 * however often the record is delivered. Items of other entities (nonces, audit records, timers,
 * usage buckets…) are not integration events.
 */
import { KIT_ZONE_OFFSET_MS, parseMarketTime } from '#shared/protocol/time';
import { EVENT_DATA_VERSION, type EventData, type EventType, type IntegrationEvent } from './schema.ts';

type Image = Record<string, unknown>;

/** One item's change as the stream delivers it (images unmarshalled). */
export interface ItemChange {
  old?: Image;
  new?: Image;
}

interface Rule<T extends EventType> {
  type: T;
  when(old: Image | undefined, now: Image): boolean;
  data(old: Image | undefined, now: Image): EventData<T>;
}

interface EntityEvents {
  subject(item: Image): string;
  /** the item among its subject's items (a tenant's users, departments…); default: the subject itself */
  identity?(item: Image): string;
  /** what makes the change unique within the item's history (its version, its sync time) */
  revision(item: Image): string;
  time(item: Image): string;
  rules: Array<Rule<EventType>>;
}

const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
const rec = (v: unknown) => (v && typeof v === 'object' ? (v as Image) : undefined);
/** one component of a subject or id: encoded, so that no value can pass for another's path */
const part = (v: unknown) => encodeURIComponent(s(v) ?? '');
const rule = <T extends EventType>(r: Rule<T>) => r as unknown as Rule<EventType>;
/** drops undefined fields (the schema's optional fields are absent, never null) */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

// ------------------------------------------------------------------ instances

const productOf = (item: Image) => {
  const p = rec(item.product) ?? {};
  return defined({ productId: s(p.productId), skuCode: s(p.skuCode), linearValue: n(p.linearValue), productName: s(p.productName) });
};
const sameProduct = (a: Image, b: Image) => JSON.stringify(productOf(a)) === JSON.stringify(productOf(b));
/**
 * The specification: SKU and amount. A renewal may bring another productId (spec 3.3: a monthly product
 * renewed yearly) or product name for the same specification: that is not an upgrade.
 */
const sameSpecification = (a: Image, b: Image) => {
  const [x, y] = [productOf(a), productOf(b)];
  return x.skuCode === y.skuCode && x.linearValue === y.linearValue;
};
type InstanceData = EventData<'instance.active'>;
const status = (item: Image | undefined) => s(item?.status) as InstanceData['status'] | undefined;

function instanceData(old: Image | undefined, now: Image): InstanceData {
  const app = rec(now.appInfo);
  return defined({
    instanceId: s(now.instanceId)!,
    orderId: s(now.orderId)!,
    orderLineId: s(now.orderLineId)!,
    status: status(now)!,
    previousStatus: status(old),
    reason: s(now.statusReason),
    testFlag: now.testFlag === true,
    chargingMode: s(now.chargingMode) ?? '',
    periodType: s(now.periodType),
    periodNumber: n(now.periodNumber),
    trial: now.trial === true,
    expireTime: s(now.expireTime),
    previousExpireTime: old && s(old.expireTime) !== s(now.expireTime) ? s(old.expireTime) : undefined,
    product: productOf(now),
    previousProduct: old && !sameProduct(old, now) ? productOf(old) : undefined,
    // where the buyer signs in; not who (the user name is half of a credential, and often an e-mail address)
    appInfo: app && defined({ frontEndUrl: s(app.frontEndUrl) ?? '', adminUrl: s(app.adminUrl) }),
    version: n(now.version) ?? 0,
  });
}

const instanceRule = <T extends EventType>(type: T, when: Rule<T>['when']) => rule({ type, when, data: instanceData as Rule<T>['data'] });
const later = (a?: string, b?: string) => a !== undefined && b !== undefined && Date.parse(b) > Date.parse(a);

const INSTANCE: EntityEvents = {
  subject: (i) => `instance/${part(i.instanceId)}`,
  revision: (i) => `v${n(i.version) ?? 0}`,
  time: (i) => s(i.updatedAt) ?? s(i.createdAt) ?? '',
  rules: [
    instanceRule('instance.provisioning_requested', (old) => old === undefined),
    // the tenant exists from now on (also when provisioning finished while the instance was frozen)
    instanceRule('instance.provisioned', (old, now) => !rec(old?.appInfo) && rec(now.appInfo) !== undefined),
    instanceRule('instance.active', (old, now) => status(now) === 'ACTIVE' && status(old) !== 'ACTIVE' && status(old) !== 'FROZEN'),
    instanceRule('instance.frozen', (old, now) => old !== undefined && status(now) === 'FROZEN' && status(old) !== 'FROZEN'),
    instanceRule('instance.unfrozen', (old, now) => status(old) === 'FROZEN' && status(now) === 'ACTIVE'),
    instanceRule('instance.renewed', (old, now) => status(now) !== 'RELEASED' && later(s(old?.expireTime), s(now.expireTime))),
    // a renewal period unsubscribed (refunded): the instance ends earlier
    instanceRule('instance.expiry_shortened', (old, now) => status(now) !== 'RELEASED' && later(s(now.expireTime), s(old?.expireTime))),
    instanceRule('instance.upgraded', (old, now) => old !== undefined && status(now) !== 'RELEASED' && !sameSpecification(old, now)),
    instanceRule('instance.released', (old, now) => status(now) === 'RELEASED' && status(old) !== 'RELEASED'),
    instanceRule('instance.failed', (old, now) => status(now) === 'FAILED' && status(old) !== 'FAILED'),
  ],
};

// ------------------------------------------------------------------ packages (meters)

function packageData(_old: Image | undefined, now: Image): EventData<'package.exhausted'> {
  const pkg = rec(now.package);
  return defined({
    instanceId: s(now.instanceId)!,
    generation: s(now.generation) ?? '',
    quota: n(pkg?.quota),
    remaining: n(pkg?.remaining),
    used: n(now.used) ?? 0,
    intentId: s(rec(now.intent)?.id),
    reason: s(pkg?.stopReason),
    version: n(now.version) ?? 0,
  });
}

const METER: EntityEvents = {
  subject: (i) => `instance/${part(i.instanceId)}`,
  revision: (i) => `v${n(i.version) ?? 0}`,
  time: (i) => s(i.updatedAt) ?? '',
  rules: [
    rule({
      type: 'package.threshold_reached',
      when: (old, now) => s(rec(now.intent)?.id) !== undefined && s(rec(now.intent)?.id) !== s(rec(old?.intent)?.id),
      data: packageData,
    }),
    rule({
      type: 'package.exhausted',
      when: (old, now) => s(rec(now.package)?.stoppedAt) !== undefined && s(rec(now.package)?.stoppedAt) !== s(rec(old?.package)?.stoppedAt),
      data: packageData,
    }),
  ],
};

// ------------------------------------------------------------------ hardware orders

const HARDWARE_ORDER: EntityEvents = {
  subject: (i) => `order/${part(i.orderId)}/${part(i.orderLineId)}`,
  revision: (i) => `v${n(i.version) ?? 0}`,
  time: (i) => s(i.updatedAt) ?? '',
  rules: [
    rule({
      type: 'order.accepted',
      when: (old, now) => s(now.state) === 'ACCEPTED' && s(old?.state) !== 'ACCEPTED',
      data: (_old, now) =>
        defined({
          orderId: s(now.orderId)!,
          orderLineId: s(now.orderLineId)!,
          acceptedBy: s(now.acceptedBy) as 'buyer' | 'auto' | undefined,
          acceptedAt: s(now.acceptedAt),
          productId: s(now.productId),
          skuCode: s(now.skuCode),
          testFlag: now.testFlag === true,
          version: n(now.version) ?? 0,
        }),
    }),
  ],
};

// ------------------------------------------------------------------ joint operation (Kit syncs)

type Change = EventData<'tenant.changed'>['change'];
/** the Kit's own words for what a sync did to the record */
function changeOf(old: Image | undefined, now: Image): Change {
  const st = s(now.status);
  if (st === 'deleted' || st === 'revoked') return st;
  return old === undefined || s(old.status) !== 'active' ? 'created' : 'updated';
}
/** every Kit write is conditional on a newer sync time: a new `syncedAt` is a change */
const synced = (old: Image | undefined, now: Image) => s(now.syncedAt) !== undefined && s(now.syncedAt) !== s(old?.syncedAt);

/** a Kit timeStamp is UTC+8 wall time */
const kitTime = (i: Image) => {
  const stamp = s(i.syncedAt) ?? s(i.at);
  const wall = stamp ? parseMarketTime(stamp) : undefined;
  return wall ? new Date(wall.getTime() - KIT_ZONE_OFFSET_MS).toISOString() : '';
};
const kitEntity = (rules: Array<Rule<EventType>>, identity?: (i: Image) => string): EntityEvents => ({
  subject: (i) => `tenant/${part(i.tenantId)}`,
  identity: identity && ((i) => `tenant/${part(i.tenantId)}/${identity(i)}`),
  revision: (i) => s(i.syncedAt) ?? s(i.at) ?? '',
  time: kitTime,
  rules,
});

const TENANT = kitEntity([
  rule({
    type: 'tenant.changed',
    when: synced,
    data: (old, now) =>
      defined({
        tenantId: s(now.tenantId)!,
        tenantCode: s(now.tenantCode) ?? '',
        domainName: s(now.domainName) ?? '',
        instanceId: s(now.instanceId),
        orderId: s(now.orderId),
        testFlag: now.testFlag === true,
        status: s(now.status) ?? '',
        change: changeOf(old, now),
        syncedAt: s(now.syncedAt)!,
      }),
  }),
]);

const APPLICATION = kitEntity([
  rule({
    type: 'application.changed',
    when: synced,
    data: (old, now) =>
      defined({
        tenantId: s(now.tenantId)!,
        appId: s(now.appId)!,
        clientId: s(now.clientId) ?? '',
        instanceId: s(now.instanceId),
        testFlag: now.testFlag === true,
        status: s(now.status) ?? '',
        change: changeOf(old, now),
        syncedAt: s(now.syncedAt)!,
      }),
  }),
], (i) => `application/${part(i.appId)}`);

const USER = kitEntity([
  rule({
    type: 'user.changed',
    when: synced,
    data: (old, now) => ({
      tenantId: s(now.tenantId)!,
      appId: s(now.appId)!,
      userName: s(now.userName)!,
      orgCode: s(now.orgCode) ?? '',
      role: s(now.role) ?? '',
      enabled: now.enabled === true,
      status: s(now.status) ?? '',
      change: changeOf(old, now),
      syncedAt: s(now.syncedAt)!,
    }),
  }),
], (i) => `application/${part(i.appId)}/user/${part(i.userName)}`);

const DEPARTMENT = kitEntity([
  rule({
    type: 'department.changed',
    when: synced,
    data: (old, now) =>
      defined({
        tenantId: s(now.tenantId)!,
        orgCode: s(now.orgCode)!,
        orgName: s(now.orgName) ?? '',
        parentCode: s(now.parentCode) || undefined,
        status: s(now.status) ?? '',
        change: changeOf(old, now),
        syncedAt: s(now.syncedAt)!,
      }),
  }),
], (i) => `department/${part(i.orgCode)}`);

const ORG_SNAPSHOT = kitEntity([
  rule({
    type: 'departments.replaced',
    when: (old, now) => s(now.at) !== undefined && s(now.at) !== s(old?.at),
    data: (_old, now) => ({ tenantId: s(now.tenantId)!, syncedAt: s(now.at)! }),
  }),
], () => 'departments');

// ------------------------------------------------------------------ License 2.0 codes

type LicenseData = EventData<'license.activated'>;
const licenseState = (i: Image | undefined) => s(i?.state) as LicenseData['state'] | undefined;
const licenseData = (old: Image | undefined, now: Image): LicenseData =>
  defined({
    code: s(now.code)!,
    state: licenseState(now)!,
    previousState: licenseState(old),
    marketStatus: s(now.marketStatus),
    productId: s(now.productId),
    orderId: s(now.orderId),
    activatedAt: s(now.activatedAt),
    expireTime: s(now.expireTime),
    version: n(now.version) ?? 0,
  });
const licenseRule = <T extends EventType>(type: T, when: Rule<T>['when']) => rule({ type, when, data: licenseData as Rule<T>['data'] });

const LICENSE: EntityEvents = {
  subject: (i) => `license/${part(i.code)}`,
  revision: (i) => `v${n(i.version) ?? 0}`,
  time: (i) => s(i.updatedAt) ?? '',
  rules: [
    // registered by activation or first seen by a heartbeat: the code is in use from now on
    licenseRule('license.activated', (old) => old === undefined),
    licenseRule('license.frozen', (old, now) => old !== undefined && licenseState(now) === 'FROZEN' && licenseState(old) !== 'FROZEN'),
    licenseRule('license.unfrozen', (old, now) => licenseState(old) === 'FROZEN' && licenseState(now) === 'ACTIVE'),
    licenseRule('license.released', (old, now) => licenseState(now) === 'RELEASED' && licenseState(old) !== 'RELEASED'),
  ],
};

/** The entities whose changes are integration events, by their `_et` (the stream filter lists the same). */
export const EVENT_ENTITIES: Readonly<Record<string, EntityEvents>> = {
  Instance: INSTANCE,
  Meter: METER,
  HardwareOrder: HARDWARE_ORDER,
  Tenant: TENANT,
  Application: APPLICATION,
  TenantUser: USER,
  Department: DEPARTMENT,
  OrgSnapshot: ORG_SNAPSHOT,
  License: LICENSE,
};

/** The integration events one item change means (none for a removal: nothing is ever deleted to say something). */
export function eventsOfChange(change: ItemChange, source: string): IntegrationEvent[] {
  const now = change.new;
  if (!now) return [];
  const entity = EVENT_ENTITIES[s(now._et) ?? ''];
  if (!entity) return [];
  const subject = entity.subject(now);
  const identity = entity.identity?.(now) ?? subject;
  const revision = entity.revision(now);
  return entity.rules
    .filter((r) => r.when(change.old, now))
    .map((r) => ({
      specversion: '1.0',
      id: `${identity}/${revision}/${r.type}`,
      source,
      type: `koogallery.${r.type}`,
      subject,
      time: entity.time(now),
      datacontenttype: 'application/json',
      dataversion: EVENT_DATA_VERSION,
      data: r.data(change.old, now),
    }));
}
