/** The lifecycle callbacks of spec 3.3–3.6, each one Mutation of shared/domain/instances. */
import { findOrderLine } from '#shared/openapi/order';
import type { Call, Reply, Services } from './call.ts';
import type { Instance } from './instance.ts';
import { definedOnly, mutateInstance, productOf } from './instances.ts';

export type RefreshScene = 'TRIAL_TO_FORMAL' | 'RENEWAL' | 'UNSUBSCRIBE_RENEWAL_PERIOD' | 'RENEWAL_CHANGE';

/** The product spec of an order line, read through query order (upgrades, renewal changes). */
const specFromOrder = (svc: Services, call: Call, orderId: string, orderLineId: string) => async (): Promise<Partial<Instance>> => {
  const order = await svc.marketplace.queryOrder(orderId, orderLineId, { deadline: call.deadline });
  const line = findOrderLine(order, orderLineId);
  if (!line) throw new Error(`query order: line ${orderLineId} missing from order ${orderId}`);
  return { product: productOf(line), ...definedOnly({ periodType: line.periodType, periodNumber: line.periodNumber }) };
};

/**
 * refreshInstance (spec 3.3): sets the expiry the marketplace gives (never computed here). Idempotent
 * per (orderId, orderLineId, scene), so a late resend of an older renewal cannot undo a later change.
 */
export async function refreshInstance(
  svc: Services,
  call: Call,
  req: { instanceId: string; orderId: string; orderLineId: string; scene: RefreshScene; expireTime: Date; productId?: string },
): Promise<Reply> {
  return mutateInstance(svc, call, req.instanceId, {
    event: 'RENEW',
    opKey: `refresh:${req.orderId}:${req.orderLineId}:${req.scene}`,
    orderId: req.orderId,
    orderLineId: req.orderLineId,
    reason: `refreshInstance ${req.scene} (order ${req.orderId})`,
    prepare: req.scene === 'RENEWAL_CHANGE' ? specFromOrder(svc, call, req.orderId, req.orderLineId) : undefined,
    // an instance our expiry timer froze is restored only by a refresh that moves its expiry into the
    // future (a refunded renewal period, moving it back, does not)
    facts: (instance) => ({
      frozenLocally: Boolean(instance.frozenLocally) && req.expireTime.getTime() + svc.settings.timers.expiryGraceMs > call.receivedAt.getTime(),
    }),
    change: (instance) => ({
      expireTime: req.expireTime.toISOString(),
      // renewed while the marketplace has it frozen: its UNFREEZE should follow (expiryFreeze watches)
      ...(instance.status === 'FROZEN' && req.expireTime > call.receivedAt ? { renewedWhileFrozenAt: call.receivedAt.toISOString(), stillFrozenAlertedAt: undefined } : {}),
      trial: req.scene === 'TRIAL_TO_FORMAL' ? false : instance.trial,
      ...(req.productId ? { product: { ...instance.product, productId: req.productId } } : {}),
    }),
  });
}

/** updateInstanceStatus (spec 3.4): FREEZE keeps all data; repeats are acknowledged. */
export async function updateInstanceStatus(
  svc: Services,
  call: Call,
  req: { instanceId: string; status: 'FREEZE' | 'UNFREEZE' },
): Promise<Reply> {
  return mutateInstance(svc, call, req.instanceId, {
    event: req.status,
    reason: `updateInstanceStatus ${req.status}`,
  });
}

/** releaseInstance (spec 3.5): recorded before answering; the product deletes the tenant (lifecycle hook). */
export async function releaseInstance(
  svc: Services,
  call: Call,
  req: { instanceId: string; orderId?: string; orderLineId?: string },
): Promise<Reply> {
  return mutateInstance(svc, call, req.instanceId, {
    event: 'RELEASE',
    orderId: req.orderId,
    orderLineId: req.orderLineId,
    reason: req.orderId ? `releaseInstance (unsubscription order ${req.orderId})` : 'releaseInstance (expired)',
    change: () => ({ releasedAt: call.receivedAt.toISOString(), provisioningDueAt: undefined }),
  });
}

/** upgradeInstance (spec 3.6): the new spec comes from the upgrade order; once per (orderId, orderLineId). */
export async function upgradeInstance(
  svc: Services,
  call: Call,
  req: { instanceId: string; orderId: string; orderLineId: string },
): Promise<Reply> {
  return mutateInstance(svc, call, req.instanceId, {
    event: 'UPGRADE',
    opKey: `upgrade:${req.orderId}:${req.orderLineId}`,
    orderId: req.orderId,
    orderLineId: req.orderLineId,
    reason: `upgradeInstance (order ${req.orderId})`,
    prepare: specFromOrder(svc, call, req.orderId, req.orderLineId),
  });
}
