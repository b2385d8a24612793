/**
 * The SaaS instance operations behind the production-interface callbacks (spec 3.1–3.7). Each function
 * reads what it needs, lets the lifecycle table decide, and commits the change together with the call's
 * nonce and audit record in one conditional transaction (Store). Concurrent copies of a call are
 * settled by those conditions: the loser re-reads and answers as a repeat.
 */
import type { OrderInfo, OrderLine } from '#shared/openapi/order';
import { findOrderLine } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import { formatMarketTimeMillis, parseMarketTime } from '#shared/protocol/time';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import type { AppInfo, Instance, ProductSpec } from './instance.ts';
import type { CallReceipt } from './repository.ts';
import { decide, type LifecycleEvent } from './lifecycle.ts';
import { ProvisioningError, type Provisioner } from './provisioner.ts';
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

// ------------------------------------------------------------------ newInstance

/**
 * newInstance (spec 3.1): the same order line always yields the instance id of the first call
 * (its businessId). The order is read through query order, the tenant provisioned within the budget
 * (000000) or left to finish on its own (000004).
 */
export async function createInstance(
  svc: Services,
  call: Call,
  req: { orderId: string; orderLineId: string; businessId: string },
): Promise<Reply> {
  const { orderId, orderLineId, businessId } = req;
  const existing = await svc.store.findInstanceIdByOrderLine(orderId, orderLineId);
  if (existing) return answerRepeatedCreate(svc, call, existing);

  const order = await svc.marketplace.queryOrder(orderId, orderLineId);
  const line = findOrderLine(order, orderLineId);
  if (!line) {
    const reply = failure(ResultCode.INVALID_PARAMETER, `order line ${orderLineId} not found in order ${orderId}`);
    await svc.store.recordCall(receiptOf(call, reply, { orderId, orderLineId }));
    return reply;
  }
  const instance = instanceFromOrder({ instanceId: businessId, order, line, testFlag: call.testFlag, now: call.receivedAt });
  const outcome = await provisionWithin(svc, instance, { order, line }, svc.settings.provisionBudgetMs);
  if (outcome.kind === 'refused') {
    // nothing is created: the marketplace resends (with a new businessId) or gives up and refunds
    const reply = failure(outcome.error.code, outcome.error.message);
    await svc.store.recordCall(receiptOf(call, reply, { orderId, orderLineId }));
    return reply;
  }
  if (outcome.kind === 'done') {
    instance.status = 'ACTIVE';
    instance.appInfo = outcome.appInfo;
  } else {
    instance.provisioningDueAt = dueAfter(call.receivedAt, svc.settings.provisionRetryDelayMs);
  }
  const reply =
    outcome.kind === 'done'
      ? success({ instanceId: instance.instanceId })
      : failure(ResultCode.IN_PROGRESS, 'provisioning in progress', { instanceId: instance.instanceId });
  const created = await svc.store.createInstance(instance, receiptOf(call, reply, { instanceId: instance.instanceId, orderId, orderLineId }));
  if (!created.created) return answerRepeatedCreate(svc, call, created.instanceId);
  if (outcome.kind === 'pending') finishInBackground(svc, instance.instanceId, outcome.promise, 1);
  return reply;
}

/** A newInstance for an order line that already has its instance: same id, state as it is now. */
async function answerRepeatedCreate(svc: Services, call: Call, instanceId: string): Promise<Reply> {
  for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
    const instance = await svc.store.getInstance(instanceId);
    if (!instance) throw new Error(`order line points at missing instance ${instanceId}`);
    const subject = { instanceId, orderId: instance.orderId, orderLineId: instance.orderLineId };
    const decision = decide(instance.status, 'CREATE', factsOf(instance, call));
    const stalled =
      instance.status === 'PROVISIONING' &&
      (!instance.provisioningDueAt || instance.provisioningDueAt <= call.receivedAt.toISOString());
    if (decision.kind !== 'apply' && !stalled) {
      const reply =
        instance.status === 'PROVISIONING'
          ? failure(ResultCode.IN_PROGRESS, 'provisioning in progress', { instanceId })
          : success({ instanceId });
      await svc.store.recordCall(receiptOf(call, reply, subject));
      return reply;
    }
    // Provisioning failed, stalled (its process died) or a debug cycle restarts: take it over.
    const reply = failure(ResultCode.IN_PROGRESS, 'provisioning resumed', { instanceId });
    const claimed = await claimProvisioning(svc, instance, call.receivedAt, receiptOf(call, reply, subject));
    if (!claimed) continue;
    const order = await svc.marketplace.queryOrder(instance.orderId, instance.orderLineId);
    const line = findOrderLine(order, instance.orderLineId);
    if (line) {
      const outcome = await provisionWithin(svc, claimed, { order, line }, svc.settings.provisionBudgetMs);
      if (outcome.kind === 'done') await completeProvisioning(svc, instanceId, outcome.appInfo, call.receivedAt);
      else if (outcome.kind === 'refused') await recordProvisioningFailure(svc, instanceId, outcome.error, call.receivedAt);
      else finishInBackground(svc, instanceId, outcome.promise, claimed.provisioningAttempts);
    }
    return reply;
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under newInstance`);
}

// ------------------------------------------------------------------ provisioning

type ProvisionOutcome =
  | { kind: 'done'; appInfo: AppInfo }
  | { kind: 'pending'; promise: Promise<AppInfo> }
  | { kind: 'refused'; error: ProvisioningError };

const provisionerFor = (svc: Services, instance: Instance): Provisioner =>
  instance.testFlag ? svc.debugProvisioner : svc.provisioner;

/** Runs the provisioner and waits at most `budgetMs` for it. */
async function provisionWithin(
  svc: Services,
  instance: Instance,
  source: { order: OrderInfo; line: OrderLine },
  budgetMs: number,
): Promise<ProvisionOutcome> {
  const promise = provisionerFor(svc, instance).provision(
    {
      instanceId: instance.instanceId,
      orderId: instance.orderId,
      orderLineId: instance.orderLineId,
      order: source.order,
      line: source.line,
      testFlag: instance.testFlag,
      attempt: instance.provisioningAttempts,
    },
    AbortSignal.timeout(Math.max(budgetMs, svc.settings.resumeBudgetMs)),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), budgetMs)));
  try {
    const first = await Promise.race([promise, timeout]);
    if (first === 'timeout') {
      promise.catch(() => undefined); // settled later by finishInBackground
      return { kind: 'pending', promise };
    }
    return { kind: 'done', appInfo: first };
  } catch (error) {
    if (error instanceof ProvisioningError) return { kind: 'refused', error };
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Lets a provisioning that outlived the answer budget finish in this process if it can. */
function finishInBackground(svc: Services, instanceId: string, promise: Promise<AppInfo>, attempt: number): void {
  promise
    .then((appInfo) => completeProvisioning(svc, instanceId, appInfo, new Date()))
    .catch((error: unknown) =>
      error instanceof ProvisioningError
        ? recordProvisioningFailure(svc, instanceId, error, new Date())
        : svc.logger.warn('provisioning attempt failed; the resume job retries it', { instanceId, attempt, error: errorName(error) }),
    )
    .catch((error: unknown) => svc.logger.error('could not record provisioning outcome', { instanceId, error: errorName(error) }));
}

/** Takes over an unfinished provisioning: one more attempt, due again after the retry delay. */
async function claimProvisioning(svc: Services, instance: Instance, now: Date, receipt?: CallReceipt) {
  const next: Instance = {
    ...instance,
    status: 'PROVISIONING',
    provisioningAttempts: instance.provisioningAttempts + 1,
    provisioningDueAt: dueAfter(now, svc.settings.provisionRetryDelayMs),
    updatedAt: now.toISOString(),
  };
  const saved = await svc.store.saveInstance(next, instance.version, receipt);
  return saved === 'saved' ? { ...next, version: instance.version + 1 } : undefined;
}

/** The provisioner finished: the instance becomes ACTIVE (or stays FROZEN with its tenant recorded). */
export async function completeProvisioning(svc: Services, instanceId: string, appInfo: AppInfo, now: Date): Promise<void> {
  await transitionWithoutCall(svc, instanceId, 'PROVISIONED', now, () => ({ appInfo, provisioningDueAt: undefined }));
}

async function recordProvisioningFailure(svc: Services, instanceId: string, error: ProvisioningError, now: Date): Promise<void> {
  const instance = await svc.store.getInstance(instanceId);
  if (!instance) return;
  const giveUp = error.permanent || instance.provisioningAttempts >= svc.settings.maxProvisionAttempts;
  svc.logger.warn('provisioning refused', { instanceId, code: error.code, permanent: error.permanent, giveUp });
  if (giveUp)
    await transitionWithoutCall(svc, instanceId, 'PROVISION_FAILED', now, () => ({
      provisioningDueAt: undefined,
      statusReason: `provisioning failed: ${error.message}`,
    }));
}

/**
 * The scheduled job's work: every provisioning due by `now` is claimed and attempted once more.
 * Claims are conditional writes, so two overlapping runs never work on the same instance.
 */
export async function resumeDueProvisioning(svc: Services, now: Date) {
  const summary = { due: 0, completed: 0, pending: 0, failed: 0, skipped: 0 };
  for (const instanceId of await svc.store.dueProvisioning(now)) {
    summary.due++;
    const instance = await svc.store.getInstance(instanceId);
    const due = instance?.status === 'PROVISIONING' && (instance.provisioningDueAt ?? '') <= now.toISOString();
    const claimed = instance && due ? await claimProvisioning(svc, instance, now) : undefined;
    if (!claimed) {
      summary.skipped++;
      continue;
    }
    try {
      const order = await svc.marketplace.queryOrder(claimed.orderId, claimed.orderLineId);
      const line = findOrderLine(order, claimed.orderLineId);
      if (!line) throw new ProvisioningError(`order line ${claimed.orderLineId} not found`, ResultCode.PRODUCT_ERROR);
      const outcome = await provisionWithin(svc, claimed, { order, line }, svc.settings.resumeBudgetMs);
      if (outcome.kind === 'done') {
        await completeProvisioning(svc, instanceId, outcome.appInfo, now);
        summary.completed++;
      } else if (outcome.kind === 'refused') {
        await recordProvisioningFailure(svc, instanceId, outcome.error, now);
        summary.failed++;
      } else summary.pending++;
    } catch (error) {
      // transient (open API down, product error): the claim already scheduled the next attempt
      svc.logger.warn('resume attempt failed', { instanceId, error: errorName(error) });
      if (claimed.provisioningAttempts >= svc.settings.maxProvisionAttempts)
        await recordProvisioningFailure(svc, instanceId, new ProvisioningError('too many attempts', ResultCode.PRODUCT_ERROR, true), now);
      summary.failed++;
    }
  }
  return summary;
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
      ...m.change?.(instance, call.receivedAt),
      status: decision.to,
      statusReason: m.reason,
      appliedOps: m.opKey ? [...instance.appliedOps, m.opKey].slice(-MAX_APPLIED_OPS) : instance.appliedOps,
      updatedAt: call.receivedAt.toISOString(),
    };
    const reply = success();
    if ((await svc.store.saveInstance(next, instance.version, receiptOf(call, reply, subject))) === 'saved') {
      await notifyLifecycle(svc, { event: m.event, from: instance.status, instance: { ...next, version: instance.version + 1 } });
      return reply;
    }
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under ${call.activity}`);
}

/** Internal transitions (provisioning finished/failed) that answer no call. */
async function transitionWithoutCall(
  svc: Services,
  instanceId: string,
  event: LifecycleEvent,
  now: Date,
  change: (instance: Instance) => Partial<Instance>,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
    const instance = await svc.store.getInstance(instanceId);
    const decision = decide(instance?.status, event, instance && { provisioned: Boolean(instance.appInfo) });
    if (!instance || decision.kind !== 'apply') return;
    const next: Instance = { ...instance, ...change(instance), status: decision.to, updatedAt: now.toISOString() };
    if ((await svc.store.saveInstance(next, instance.version)) === 'saved') {
      await notifyLifecycle(svc, { event, from: instance.status, instance: { ...next, version: instance.version + 1 } });
      return;
    }
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under ${event}`);
}

async function notifyLifecycle(svc: Services, change: Parameters<NonNullable<Provisioner['onLifecycle']>>[0]) {
  const hook = provisionerFor(svc, change.instance).onLifecycle;
  if (!hook) return;
  try {
    await hook(change);
  } catch (error) {
    svc.logger.error('provisioner lifecycle hook failed', { instanceId: change.instance.instanceId, event: change.event, error: errorName(error) });
  }
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
  else if (states.includes('FAILED')) reply = failure(ResultCode.INTERNAL_ERROR, 'provisioning failed; the merchant has been alerted');
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

const factsOf = (instance: Instance, call: Call) => ({
  provisioned: Boolean(instance.appInfo),
  debug: call.testFlag && instance.testFlag,
});

const dueAfter = (now: Date, ms: number) => new Date(now.getTime() + ms).toISOString();

export const errorName = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** Drops undefined members (DynamoDB and the marketplace both prefer absent to null). */
export function definedOnly<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as never;
}
