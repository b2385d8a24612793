/**
 * The SaaS instance operations behind the production-interface callbacks (spec 3.1–3.7). Each function
 * reads what it needs, lets the lifecycle table decide, and commits the change together with the call's
 * nonce and audit record in one conditional transaction (Store). Concurrent copies of a call are
 * settled by those conditions: the loser re-reads and answers as a repeat.
 */
import type { OrderInfo, OrderLine } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import { formatMarketTimeMillis, parseMarketTime } from '#shared/protocol/time';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import type { Instance, ProductSpec } from './instance.ts';
import type { CallReceipt } from './repository.ts';
import { decide, type LifecycleEvent } from './lifecycle.ts';
import type { LifecycleChange, Provisioner } from './provisioner.ts';
import { failure, success } from './replies.ts';

/** Several writers raced on one instance and we kept losing: answer 000005, the marketplace retries. */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
}

const MAX_SAVE_ATTEMPTS = 5;
/** applied operation keys kept per instance (renewals, upgrades… a long-lived instance sees many) */
const MAX_APPLIED_OPS = 200;
const ON_DEMAND_MODES = new Set(['ON_DEMAND', 'ON_DEMAND_PKG']);

// ------------------------------------------------------------------ mapping

export function productOf(line: OrderLine): ProductSpec {
  const { productId, skuCode, linearValue, productName } = line.productInfo?.[0] ?? {};
  return definedOnly({ productId, skuCode, linearValue, productName });
}

export function instanceFromOrder(args: {
  instanceId: string;
  order: OrderInfo;
  line: OrderLine;
  testFlag: boolean;
  now: Date;
}): Instance {
  const { instanceId, order, line, testFlag, now } = args;
  const { customerId, customerName, mobilePhone, email } = order.buyerInfo ?? {};
  const buyer = definedOnly({ customerId, customerName, mobilePhone, email });
  return {
    instanceId,
    orderId: order.orderId,
    orderLineId: line.orderLineId,
    status: 'PROVISIONING',
    testFlag,
    chargingMode: line.chargingMode,
    ...definedOnly({ periodType: line.periodType, periodNumber: line.periodNumber }),
    trial: order.orderType === 'TRIAL',
    ...definedOnly({ expireTime: line.expireTime && parseMarketTime(line.expireTime)?.toISOString() }),
    product: productOf(line),
    ...(Object.keys(buyer).length ? { buyer } : {}),
    usage: [],
    appliedOps: [],
    provisioningAttempts: 1,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    version: 1,
  };
}

/** The entry of queryInstance's `info` (spec 3.2). */
export function instanceInfo(instance: Instance, now: Date): Record<string, unknown> {
  const info: Record<string, unknown> = { instanceId: instance.instanceId };
  if (instance.appInfo && instance.status !== 'RELEASED') info.appInfo = definedOnly({ ...instance.appInfo });
  if (ON_DEMAND_MODES.has(instance.chargingMode)) {
    info.usageInfo = instance.usage.length
      ? instance.usage.map((u) => definedOnly({ ...u }))
      : [{ usageValue: 0, statisticalTime: formatMarketTimeMillis(now) }];
  }
  return info;
}

// ------------------------------------------------------------------ lifecycle callbacks

interface Mutation {
  event: LifecycleEvent;
  /** idempotency key of an order operation (a renewal, an upgrade…): applied at most once */
  opKey?: string;
  /** ids recorded in the audit record besides the instance id */
  orderId?: string;
  orderLineId?: string;
  reason: string;
  /** computed once, only when the event will be applied (may call the open API) */
  prepare?: (instance: Instance) => Promise<Partial<Instance>>;
  change?: (instance: Instance, now: Date) => Partial<Instance>;
}

/** Applies one lifecycle event to an instance, idempotently and race-safely. */
export async function mutateInstance(svc: Services, call: Call, instanceId: string, m: Mutation): Promise<Reply> {
  const subject = definedOnly({ instanceId, orderId: m.orderId, orderLineId: m.orderLineId });
  let prepared: Partial<Instance> | undefined;
  for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
    const instance = await svc.store.getInstance(instanceId);
    if (instance && m.opKey && instance.appliedOps.includes(m.opKey)) {
      const reply = success({}, 'success. (already applied)');
      await svc.store.recordCall(receiptOf(call, reply, subject));
      return reply;
    }
    const decision = decide(instance?.status, m.event, instance && factsOf(instance, call));
    if (!instance || decision.kind !== 'apply') {
      const reply =
        decision.kind === 'reject' ? failure(decision.code, decision.why) : success({}, `success. (${decision.kind === 'noop' ? decision.why : ''})`);
      await svc.store.recordCall(receiptOf(call, reply, subject));
      return reply;
    }
    prepared ??= m.prepare ? await m.prepare(instance) : {};
    const next: Instance = {
      ...instance,
      ...prepared,
      ...m.change?.({ ...instance, ...prepared }, call.receivedAt),
      status: decision.to,
      statusReason: m.reason,
      appliedOps: m.opKey ? [...instance.appliedOps, m.opKey].slice(-MAX_APPLIED_OPS) : instance.appliedOps,
      updatedAt: call.receivedAt.toISOString(),
    };
    const reply = success();
    if ((await svc.store.saveInstance(next, instance.version, receiptOf(call, reply, subject))) === 'saved') {
      await notifyLifecycle(svc, { event: m.event, from: instance.status, instance: { ...next, version: instance.version + 1 } }, call.deadline);
      return reply;
    }
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under ${call.activity}`);
}

/**
 * A transition that is not the direct answer to a lifecycle callback (provisioning finished or failed).
 * With `receipt` (the call whose answer this is, its nonce already stored) the call's audit record is
 * rewritten in the same transaction. Returns the instance as it was before, or undefined if unknown.
 */
export async function transition(
  svc: Services,
  instanceId: string,
  event: LifecycleEvent,
  now: Date,
  change: (instance: Instance) => Partial<Instance>,
  receipt?: CallReceipt,
  deadline?: number,
): Promise<{ before: Instance; applied: boolean } | undefined> {
  for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
    const instance = await svc.store.getInstance(instanceId);
    if (!instance) return undefined;
    const decision = decide(instance.status, event, { provisioned: Boolean(instance.appInfo) });
    if (decision.kind !== 'apply') {
      if (receipt) await svc.store.recordCall(receipt);
      return { before: instance, applied: false };
    }
    const next: Instance = { ...instance, ...change(instance), status: decision.to, updatedAt: now.toISOString() };
    if ((await svc.store.saveInstance(next, instance.version, receipt)) === 'saved') {
      await notifyLifecycle(svc, { event, from: instance.status, instance: { ...next, version: instance.version + 1 } }, deadline);
      return { before: instance, applied: true };
    }
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under ${event}`);
}

/**
 * Tells the product of a committed change; a failing hook is logged (the state is already recorded).
 * When a call is waiting for its answer the hook gets what is left of the call's deadline, then the
 * answer goes out and the hook runs on.
 */
export async function notifyLifecycle(svc: Services, change: LifecycleChange, deadline?: number) {
  const hook = provisionerFor(svc, change.instance).onLifecycle;
  if (!hook) return;
  const log = (error: unknown) =>
    svc.logger.error('provisioner lifecycle hook failed', { instanceId: change.instance.instanceId, event: change.event, error: errorName(error) });
  const running = Promise.resolve()
    .then(() => hook(change))
    .catch(log);
  if (deadline === undefined) return running;
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now() - 200))));
  await Promise.race([running, budget]);
  clearTimeout(timer);
}

// ------------------------------------------------------------------ reads

/** queryInstance (spec 3.2): 1–100 ids, one batch read. */
export async function queryInstances(svc: Services, call: Call, instanceIds: readonly string[]): Promise<Reply> {
  const found = await svc.store.getInstances(instanceIds);
  const unknown = instanceIds.filter((id) => !found.has(id));
  const subject = instanceIds.length === 1 ? { instanceId: instanceIds[0] } : {};
  const states = [...found.values()].map((i) => i.status);
  let reply: Reply;
  if (found.size === 0) reply = failure(ResultCode.INSTANCE_NOT_FOUND, `instance not found: ${unknown.join(',')}`);
  else if (states.includes('PROVISIONING')) reply = failure(ResultCode.IN_PROGRESS, 'provisioning in progress');
  else if (states.includes('FAILED')) reply = failure(ResultCode.INTERNAL_ERROR, 'provisioning failed; please contact the merchant');
  else
    reply = success(
      { info: instanceIds.filter((id) => found.has(id)).map((id) => instanceInfo(found.get(id)!, call.receivedAt)) },
      unknown.length ? `success. (unknown ids left out: ${unknown.join(',')})` : 'success.',
    );
  await svc.store.recordCall(receiptOf(call, reply, subject));
  return reply;
}

/**
 * changeInstanceCheck (spec 3.7): may the instance be renewed with the target specification? Refused
 * (000005, spec recommendation) when the usage recorded on the instance exceeds the target's linear value.
 */
export async function checkInstanceChange(
  svc: Services,
  call: Call,
  req: { instanceId: string; productInfo: { linearValue?: number; skuCode?: string; productId?: string } },
): Promise<Reply> {
  const instance = await svc.store.getInstance(req.instanceId);
  const usage = instance?.usage.reduce((sum, u) => sum + u.usageValue, 0) ?? 0;
  const target = req.productInfo.linearValue;
  const reply = !instance || instance.status === 'RELEASED'
    ? failure(ResultCode.INSTANCE_NOT_FOUND, instance ? 'instance has been released' : 'instance not found')
    : target !== undefined && usage > target
      ? failure(ResultCode.INTERNAL_ERROR, `change refused: recorded usage ${usage} exceeds the target specification's ${target}`)
      : success({}, 'success. (change allowed)');
  await svc.store.recordCall(receiptOf(call, reply, { instanceId: req.instanceId }));
  return reply;
}

// ------------------------------------------------------------------ helpers

/** Console debug instances never reach the product's provisioner. */
export const provisionerFor = (svc: Services, instance: Instance): Provisioner =>
  instance.testFlag ? svc.debugProvisioner : svc.provisioner;

export const factsOf = (instance: Instance, call: Call) => ({
  provisioned: Boolean(instance.appInfo),
  debug: call.testFlag && instance.testFlag,
});

export const dueAfter = (now: Date, ms: number) => new Date(now.getTime() + ms).toISOString();

export const errorName = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** Drops undefined members (DynamoDB and the marketplace both prefer absent to null). */
export function definedOnly<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as never;
}
