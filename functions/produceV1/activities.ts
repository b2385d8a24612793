/**
 * The SaaS V1 production URL, `GET /produce/v1?activity=…` (spec 3.14): the seven V1 activities mapped onto
 * the same domain functions, table and state machine as the V2 callbacks (functions/<activity>/callback.ts).
 *
 * | V1 activity       | domain                                   | mapping                                                         |
 * |-------------------|------------------------------------------|-----------------------------------------------------------------|
 * | newInstance       | createInstanceFromOrder (= createInstance) | order read by orderId, its line chosen by productId/skuCode (or the only line); instanceId = first businessId |
 * | refreshInstance   | refreshInstance                          | scene: trialToFormal=1 → TRIAL_TO_FORMAL, orderAmount < 0 → UNSUBSCRIBE_RENEWAL_PERIOD, else RENEWAL; orderLineId := orderId |
 * | expireInstance    | updateInstanceStatus FREEZE              |                                                                 |
 * | instanceStatus    | updateInstanceStatus FREEZE / UNFREEZE   | NORMAL → UNFREEZE                                               |
 * | releaseInstance   | releaseInstance                          | orderId kept in the audit record                                |
 * | upgrade           | upgradeInstance                          | the upgrade order's line chosen as for newInstance              |
 * | queryInstance     | queryInstances                           | appInfo credentials encrypted (spec 2.5)                        |
 *
 * V1 credentials travel encrypted with the V1 key that verified the call (`encryptType` "1", AES-256);
 * the inbound mobilePhone / email are decrypted only after the token verified, and never logged.
 */
import * as z from '#shared/zod';
import type { Reply, Services } from '#shared/domain/call';
import { errorName } from '#shared/domain/errors';
import type { AppInfo } from '#shared/domain/instance';
import { refreshInstance, releaseInstance, updateInstanceStatus, upgradeInstance, type RefreshScene } from '#shared/domain/instanceCallbacks';
import { definedOnly, queryInstances } from '#shared/domain/instances';
import { createInstanceFromOrder } from '#shared/domain/provisioning';
import { defineV1Activity, V1InputError, v1Fields as f } from '#shared/http/v1Route';
import { findOrderLineByProduct } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import { decryptV1, encryptV1 } from '#shared/protocol/v1';

/** The V1 `encryptType` of every answer: AES-256 (spec 2.5). */
const ENCRYPT_TYPE = '1';

/** An inbound encrypted value (mobilePhone, email) in clear; a value that does not decrypt is bad input. */
function decrypt(key: string, value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return decryptV1(key, value);
  } catch {
    throw new V1InputError(`${name}: cannot be decrypted with the V1 key`);
  }
}

/**
 * AppInfo as V1 returns it: userName / password encrypted (spec 2.5). A credential whose encryption would
 * exceed 128 characters (more than 79 UTF-8 bytes) cannot travel in V1: it is left out and an operator is
 * alerted through the ERROR log (the instance exists; the buyer's login must be handed over by other means).
 */
function v1AppInfo(svc: Services, key: string, instanceId: string, appInfo: AppInfo): Record<string, unknown> {
  const out: Record<string, unknown> = definedOnly({ ...appInfo });
  for (const field of ['userName', 'password'] as const) {
    const value = appInfo[field];
    if (value === undefined || value === '') continue;
    try {
      out[field] = encryptV1(key, value, ENCRYPT_TYPE);
    } catch (error) {
      delete out[field];
      svc.logger.error('credential too long for V1 encryption; left out of the answer', { instanceId, field, error: errorName(error) });
    }
  }
  return out;
}

const orderOf = async (svc: Services, deadline: number, orderId: string, productId?: string, skuCode?: string) => {
  const order = await svc.marketplace.queryOrder(orderId, undefined, { deadline });
  const line = findOrderLineByProduct(order, productId, skuCode);
  if (!line) throw new V1InputError(`orderId: order ${orderId} has no line for productId ${productId ?? '(none)'}`);
  return { order, line };
};

/** 1–100 comma-separated instance ids (spec 3.14.7). */
const instanceIds = z.pipe(
  z.pipe(
    z.string().check(z.maxLength(100 * 65, 'too long')),
    z.transform((s: string) => s.split(',').map((id) => id.trim())),
  ),
  z.array(f.id()).check(z.minLength(1), z.maxLength(100, 'at most 100 instance ids')),
);

/** 3.14.1: same orderId → same instanceId; a repeat (e.g. the buyer opening resource details) answers the instance unchanged. */
const newInstance = defineV1Activity({
  activity: 'newInstance',
  schema: z.object({
    orderId: f.id(),
    businessId: f.id(),
    productId: f.id(),
    skuCode: z.optional(f.id()),
    customerId: z.optional(f.id(100)),
    customerName: f.optionalText(64),
    mobilePhone: f.optionalText(256),
    email: f.optionalText(512),
    testFlag: f.testFlag,
  }),
  run: async ({ services: svc, call, key }, p) => {
    const contact = definedOnly({ mobilePhone: decrypt(key, p.mobilePhone, 'mobilePhone'), email: decrypt(key, p.email, 'email') });
    const { order, line } = await orderOf(svc, call.deadline, p.orderId, p.productId, p.skuCode);
    // the buyer's contact as the request gives it (the listing creates the account from it); the order's otherwise
    const buyerInfo = {
      ...order.buyerInfo,
      ...definedOnly({ customerId: order.buyerInfo?.customerId ?? p.customerId, customerName: order.buyerInfo?.customerName ?? p.customerName }),
      ...contact,
    };
    const reply = await createInstanceFromOrder(svc, call, { order: { ...order, buyerInfo }, orderLineId: line.orderLineId, businessId: p.businessId });
    if (reply.resultCode !== ResultCode.SUCCESS || typeof reply.instanceId !== 'string') return reply;
    const instance = await svc.store.getInstance(reply.instanceId);
    const appInfo = instance?.appInfo && instance.status !== 'RELEASED' ? { appInfo: v1AppInfo(svc, key, instance.instanceId, instance.appInfo) } : {};
    return { ...reply, encryptType: ENCRYPT_TYPE, ...appInfo };
  },
});

/** 3.14.2: renewal, trial to paid, unsubscribed renewal period. */
const refresh = defineV1Activity({
  activity: 'refreshInstance',
  schema: z.object({
    instanceId: f.id(),
    orderId: f.id(),
    expireTime: f.marketTime(),
    productId: z.optional(f.id()),
    trialToFormal: f.flag(),
    orderAmount: f.amount(),
    testFlag: f.testFlag,
  }),
  run: ({ services: svc, call }, p) => {
    const scene: RefreshScene =
      p.trialToFormal === '1' ? 'TRIAL_TO_FORMAL' : p.orderAmount !== undefined && p.orderAmount < 0 ? 'UNSUBSCRIBE_RENEWAL_PERIOD' : 'RENEWAL';
    return refreshInstance(svc, call, {
      instanceId: p.instanceId,
      orderId: p.orderId,
      // V1 has no order line: the order stands for it (idempotency per orderId and scene)
      orderLineId: p.orderId,
      scene,
      expireTime: p.expireTime,
      ...(p.productId ? { productId: p.productId } : {}),
    });
  },
});

/** 3.14.3: expired → frozen (data kept); idempotent. */
const expire = defineV1Activity({
  activity: 'expireInstance',
  schema: z.object({ instanceId: f.id(), orderId: f.id(), testFlag: f.testFlag }),
  run: ({ services: svc, call }, p) => updateInstanceStatus(svc, call, { instanceId: p.instanceId, status: 'FREEZE' }),
});

/** 3.14.6: FREEZE / NORMAL. */
const instanceStatus = defineV1Activity({
  activity: 'instanceStatus',
  schema: z.object({ instanceId: f.id(), instanceStatus: z.enum(['FREEZE', 'NORMAL']), testFlag: f.testFlag }),
  run: ({ services: svc, call }, p) =>
    updateInstanceStatus(svc, call, { instanceId: p.instanceId, status: p.instanceStatus === 'FREEZE' ? 'FREEZE' : 'UNFREEZE' }),
});

/** 3.14.4: idempotent; a repeat answers success. */
const release = defineV1Activity({
  activity: 'releaseInstance',
  schema: z.object({ instanceId: f.id(), orderId: z.optional(f.id()), orderAmount: f.amount(), testFlag: f.testFlag }),
  run: ({ services: svc, call }, p) => releaseInstance(svc, call, { instanceId: p.instanceId, ...(p.orderId ? { orderId: p.orderId } : {}) }),
});

/** 3.14.5: the new specification is read from the upgrade order, as V2 does; once per upgrade order line. */
const upgrade = defineV1Activity({
  activity: 'upgrade',
  schema: z.object({
    instanceId: f.id(),
    orderId: f.id(),
    productId: z.optional(f.id()),
    skuCode: z.optional(f.id()),
    testFlag: f.testFlag,
  }),
  run: async ({ services: svc, call }, p) => {
    // an unknown instance is answered 000003 (and recorded) by the domain without reading the order
    if (!(await svc.store.getInstance(p.instanceId))) return upgradeInstance(svc, call, { instanceId: p.instanceId, orderId: p.orderId, orderLineId: p.orderId });
    const { line } = await orderOf(svc, call.deadline, p.orderId, p.productId, p.skuCode);
    return upgradeInstance(svc, call, { instanceId: p.instanceId, orderId: p.orderId, orderLineId: line.orderLineId });
  },
});

/** 3.14.7: credentials encrypted in info[].appInfo. */
const query = defineV1Activity({
  activity: 'queryInstance',
  schema: z.object({ instanceId: instanceIds, testFlag: f.testFlag }),
  run: async ({ services: svc, call, key }, p) => {
    const reply: Reply = await queryInstances(svc, call, p.instanceId);
    if (!Array.isArray(reply.info)) return reply;
    const info = (reply.info as Array<Record<string, unknown>>).map((entry) =>
      entry.appInfo ? { ...entry, appInfo: v1AppInfo(svc, key, String(entry.instanceId), entry.appInfo as AppInfo) } : entry,
    );
    return { ...reply, encryptType: ENCRYPT_TYPE, info };
  },
});

export const v1Activities = [newInstance, refresh, expire, instanceStatus, release, upgrade, query];
/** GET /produce/v1: every V1 activity, one token check. */
