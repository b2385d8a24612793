/**
 * The integration events: what the merchant's product (or anything else on the EventBridge bus) is
 * told when something changes here. The envelope is CloudEvents 1.0 (JSON structured mode) with one
 * extension, `dataversion`: the version of `data`'s schema. Additions of optional fields keep the
 * version; anything else (a field removed, renamed or retyped) is a new version, published beside the
 * old one for a deprecation period. The JSON Schema generated from these definitions is committed as
 * shared/events/integration-events.schema.json (README "Integration events").
 *
 * `id` is stable: it is derived from the changed record and its version (or sync time), never from the
 * delivery, so an event published twice (the stream is at-least-once) carries the same id, and a call
 * the marketplace resends (which changes nothing) publishes nothing. Consumers de-duplicate on `id`.
 *
 * No event carries a secret or contact data: no password, client secret, tenant login name, phone,
 * e-mail or person's name. Read those, when the product needs them, through the internal routes. One
 * exception, by necessity: `user.changed` names the Kit user by the `userName` the Kit gave (the
 * product needs it to provision the user), and a Kit user name may be a phone number or an e-mail
 * address — treat those events as personal data.
 */
import * as z from '#shared/zod';

export const EVENT_DATA_VERSION = '1';
export const EVENT_SOURCE = 'koogallery-merchant';

const str = () => z.string();
const opt = <T extends z.ZodMiniType>(t: T) => z.optional(t);

const product = z.object({
  productId: opt(str()),
  skuCode: opt(str()),
  linearValue: opt(z.number()),
  productName: opt(str()),
});

const instance = z.object({
  instanceId: str(),
  orderId: str(),
  orderLineId: str(),
  status: z.enum(['PROVISIONING', 'ACTIVE', 'FROZEN', 'RELEASED', 'FAILED']),
  previousStatus: opt(z.enum(['PROVISIONING', 'ACTIVE', 'FROZEN', 'RELEASED', 'FAILED'])),
  /** what made the change (the callback, scene or job) */
  reason: opt(str()),
  testFlag: z.boolean(),
  chargingMode: str(),
  periodType: opt(str()),
  periodNumber: opt(z.number()),
  trial: z.boolean(),
  expireTime: opt(str()),
  previousExpireTime: opt(str()),
  product,
  previousProduct: opt(product),
  /** where the buyer reaches the tenant (no user name, no password: read them through the internal route) */
  appInfo: opt(z.object({ frontEndUrl: str(), adminUrl: opt(str()) })),
  version: z.number(),
});

const packageData = z.object({
  instanceId: str(),
  /** the package purchase the meter counts */
  generation: str(),
  quota: opt(z.number()),
  remaining: opt(z.number()),
  used: z.number(),
  /** threshold_reached: the rebuy intent raised (one per package generation) */
  intentId: opt(str()),
  /** exhausted: why the package stopped serving */
  reason: opt(str()),
  version: z.number(),
});

const orderAccepted = z.object({
  orderId: str(),
  orderLineId: str(),
  acceptedBy: opt(z.enum(['buyer', 'auto'])),
  acceptedAt: opt(str()),
  productId: opt(str()),
  skuCode: opt(str()),
  testFlag: z.boolean(),
  version: z.number(),
});

/** created: first seen; updated: changed; deleted / revoked: the Kit's delete (or authSync revoke) */
const change = z.enum(['created', 'updated', 'deleted', 'revoked']);

const tenant = z.object({
  tenantId: str(),
  tenantCode: str(),
  domainName: str(),
  instanceId: opt(str()),
  orderId: opt(str()),
  testFlag: z.boolean(),
  status: str(),
  change,
  /** the Kit timeStamp of the sync that made the change (yyyyMMddHHmmssSSS, UTC+8) */
  syncedAt: str(),
});

const application = z.object({
  tenantId: str(),
  appId: str(),
  clientId: str(),
  instanceId: opt(str()),
  testFlag: z.boolean(),
  status: str(),
  change,
  syncedAt: str(),
});

const user = z.object({
  tenantId: str(),
  appId: str(),
  userName: str(),
  orgCode: str(),
  role: str(),
  enabled: z.boolean(),
  status: str(),
  change,
  syncedAt: str(),
});

const department = z.object({
  tenantId: str(),
  orgCode: str(),
  orgName: str(),
  parentCode: opt(str()),
  status: str(),
  change,
  syncedAt: str(),
});

/** a full department sync replaced the tenant's whole tree: read it from GET /internal/tenants/{tenantId} */
const departmentsReplaced = z.object({ tenantId: str(), syncedAt: str() });

const license = z.object({
  code: str(),
  state: z.enum(['ACTIVE', 'FROZEN', 'RELEASED']),
  previousState: opt(z.enum(['ACTIVE', 'FROZEN', 'RELEASED'])),
  marketStatus: opt(str()),
  productId: opt(str()),
  orderId: opt(str()),
  activatedAt: opt(str()),
  expireTime: opt(str()),
  version: z.number(),
});

/** Every event type and the schema of its `data`. */
export const EVENT_DATA = {
  'instance.provisioning_requested': instance,
  'instance.provisioned': instance,
  'instance.active': instance,
  'instance.frozen': instance,
  'instance.unfrozen': instance,
  'instance.renewed': instance,
  'instance.expiry_shortened': instance,
  'instance.upgraded': instance,
  'instance.released': instance,
  'instance.failed': instance,
  'package.threshold_reached': packageData,
  'package.exhausted': packageData,
  'order.accepted': orderAccepted,
  'tenant.changed': tenant,
  'application.changed': application,
  'user.changed': user,
  'department.changed': department,
  'departments.replaced': departmentsReplaced,
  'license.activated': license,
  'license.frozen': license,
  'license.unfrozen': license,
  'license.released': license,
} as const;

export type EventType = keyof typeof EVENT_DATA;
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;

const envelopeFields = {
  specversion: z.literal('1.0'),
  /** stable: the same change always has the same id (de-duplicate on it) */
  id: str(),
  source: str(),
  /** instance/<id>, order/<orderId>/<lineId>, tenant/<id>, license/<code> */
  subject: str(),
  /** when the change was made (the record's own time, not the delivery's) */
  time: str(),
  datacontenttype: z.literal('application/json'),
  dataversion: z.literal(EVENT_DATA_VERSION),
};

/** One envelope schema per type (a discriminated union on `type`). */
export const integrationEventSchema = z.discriminatedUnion(
  'type',
  EVENT_TYPES.map((type) => z.object({ ...envelopeFields, type: z.literal(`koogallery.${type}`), data: EVENT_DATA[type] })) as unknown as [
    z.ZodMiniObject,
    ...z.ZodMiniObject[],
  ],
);

export interface IntegrationEvent<T extends EventType = EventType> {
  specversion: '1.0';
  id: string;
  source: string;
  type: `koogallery.${T}`;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataversion: typeof EVENT_DATA_VERSION;
  data: EventData<T>;
}

/** The JSON Schema of every event (committed as integration-events.schema.json; a test keeps it current). */
export function integrationEventsJsonSchema(): unknown {
  return z.toJSONSchema(integrationEventSchema, { target: 'draft-2020-12' });
}
