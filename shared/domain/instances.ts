/**
 * The SaaS instance operations behind the production-interface callbacks (spec 3.1–3.7). Each function
 * reads what it needs, lets the lifecycle table decide, and commits the change together with the call's
 * nonce and audit record in one conditional transaction (Store). Concurrent copies of a call are
 * settled by those conditions: the loser re-reads and answers as a repeat.
 */
import type { OrderInfo, OrderLine } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import { parseMarketTime } from '#shared/protocol/time';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { awaitsTenant, type BuyerContact, type Instance, type ProductSpec } from './instance.ts';
import type { CallReceipt } from './repository.ts';
import { decide, type Decision, type Facts, type LifecycleEvent } from './lifecycle.ts';
import type { LifecycleChange, Provisioner } from './provisioner.ts';
import { foreignErrorName } from './errors.ts';
import { packageGeneration } from './metering.ts';
import { failure, success } from './replies.ts';
import { usageInfoOf } from './usage.ts';

/** Several writers raced on one instance and we kept losing: answer 000005, the marketplace retries. */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
}

const MAX_SAVE_ATTEMPTS = 5;
/** applied operation keys kept per instance (renewals, upgrades… a long-lived instance sees many) */
const MAX_APPLIED_OPS = 200;

// ------------------------------------------------------------------ mapping

export function productOf(line: OrderLine): ProductSpec {
  const { productId, skuCode, linearValue, productName } = line.productInfo?.[0] ?? {};
  return definedOnly({ productId, skuCode, linearValue, productName });
}

/** The buyer's contact data from an order (personal data: storage seals it), undefined when there is none. */
export function buyerContactOf(order: OrderInfo): BuyerContact | undefined {
  const { customerId, customerName, mobilePhone, email } = order.buyerInfo ?? {};
  const buyer = definedOnly({ customerId, customerName, mobilePhone, email });
  return Object.keys(buyer).length ? buyer : undefined;
}

export function instanceFromOrder(args: {
  instanceId: string;
  order: OrderInfo;
  line: OrderLine;
  testFlag: boolean;
  now: Date;
}): Instance {
  const { instanceId, order, line, testFlag, now } = args;
  const buyer = buyerContactOf(order);
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
    ...(buyer ? { buyer } : {}),
    appliedOps: [],
    provisioningAttempts: 1,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    version: 1,
  };
}

/** The entry of queryInstance's `info` (spec 3.2); `usageInfo` for metered instances (usage.ts). */
export function instanceInfo(instance: Instance, usageInfo?: Array<Record<string, unknown>>): Record<string, unknown> {
  const info: Record<string, unknown> = { instanceId: instance.instanceId };
  if (instance.appInfo && instance.status !== 'RELEASED') info.appInfo = definedOnly({ ...instance.appInfo });
  if (usageInfo) info.usageInfo = usageInfo;
  return info;
}

// ------------------------------------------------------------------ applying events

/** What an event did to an instance. */
export type Outcome =
  | { kind: 'applied'; before: Instance; after: Instance; hook?: HookResult }
  /** the order operation (opKey) was applied before: a repeat */
  | { kind: 'repeat'; before: Instance }
  /** the table said noop or reject (or the instance was never seen) */
  | { kind: 'declined'; before?: Instance; decision: Exclude<Decision, { kind: 'apply' }> };

export interface EventOptions {
  now: Date;
  /** facts for the lifecycle table; default: provisioned = the tenant is recorded */
  facts?: (instance: Instance) => Facts;
  /** idempotency key of an order operation (a renewal, an upgrade…): applied at most once */
  opKey?: string;
  /** computed once, only when the event will be applied (may call the open API) */
  prepare?: (instance: Instance) => Promise<Partial<Instance>>;
  change?: (instance: Instance) => Partial<Instance>;
  /** the audit record to commit with the outcome (with the change, or alone when nothing changes) */
  receipt?: (outcome: Outcome) => CallReceipt | undefined;
  /** the instance as the caller just stored it: saves the first read */
  current?: Instance;
  /** when a call waits for its answer: the product's lifecycle hook gets what is left of it */
  deadline?: number;
}

/**
 * Applies one lifecycle event to an instance, idempotently and race-safely: read, let the table decide,
 * write conditional on the version read (with the call's audit record), re-read and decide again when
 * another writer won. The only place where instances change after their creation.
 */
export async function applyEvent(svc: Services, instanceId: string, event: LifecycleEvent, o: EventOptions): Promise<Outcome> {
  let prepared: Partial<Instance> | undefined;
  let known = o.current;
  for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
    const instance = known ?? (await svc.store.getInstance(instanceId));
    known = undefined;
    if (!instance) return declined(svc, o, { kind: 'declined', decision: decide(undefined, event) });
    if (o.opKey && instance.appliedOps.includes(o.opKey)) return declined(svc, o, { kind: 'repeat', before: instance });
    const decision = decide(instance.status, event, {
      provisioned: Boolean(instance.appInfo),
      frozenLocally: Boolean(instance.frozenLocally),
      ...o.facts?.(instance),
    });
    if (decision.kind !== 'apply') return declined(svc, o, { kind: 'declined', before: instance, decision });
    prepared ??= o.prepare ? await o.prepare(instance) : {};
    const merged = { ...instance, ...prepared };
    const next: Instance = {
      ...merged,
      // entering FROZEN records when (the release timer counts from it); leaving it forgets the freeze
      ...(decision.to === 'FROZEN'
        ? { frozenAt: merged.frozenAt ?? o.now.toISOString() }
        : { frozenAt: undefined, frozenLocally: undefined, ...(instance.status === 'FROZEN' ? { unfrozenAt: o.now.toISOString() } : {}) }),
      // what a freeze waited for belongs to that freeze
      ...((decision.to === 'FROZEN') !== (instance.status === 'FROZEN') ? { renewedWhileFrozenAt: undefined, stillFrozenAlertedAt: undefined } : {}),
      ...o.change?.(merged),
      status: decision.to,
      appliedOps: o.opKey ? [...instance.appliedOps, o.opKey].slice(-MAX_APPLIED_OPS) : instance.appliedOps,
      updatedAt: o.now.toISOString(),
    };
    const after = await svc.store.saveInstance(next, instance.version, o.receipt?.({ kind: 'applied', before: instance, after: next }));
    if (after) {
      const hook = await notifyLifecycle(svc, { event, from: instance.status, instance: after }, o.deadline);
      return { kind: 'applied', before: instance, after, hook };
    }
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under ${event}`);
}

async function declined(svc: Services, o: EventOptions, outcome: Outcome): Promise<Outcome> {
  const receipt = o.receipt?.(outcome);
  if (receipt) await svc.store.recordCall(receipt);
  return outcome;
}

/** The marketplace's answer to a lifecycle callback, from what the event did. */
export function replyOf(outcome: Outcome): Reply {
  if (outcome.kind === 'applied') return success();
  if (outcome.kind === 'repeat') return success({}, 'success. (already applied)');
  const { decision } = outcome;
  return decision.kind === 'reject' ? failure(decision.code, decision.why) : success({}, `success. (${decision.why})`);
}

interface Mutation {
  event: LifecycleEvent;
  opKey?: string;
  /** ids recorded in the audit record besides the instance id */
  orderId?: string;
  orderLineId?: string;
  reason: string;
  prepare?: EventOptions['prepare'];
  change?: EventOptions['change'];
  /** facts of this mutation beyond those of every call */
  facts?: (instance: Instance) => Facts;
}

/** A lifecycle callback (refresh, status, release, upgrade): one event, answered and audited. */
export async function mutateInstance(svc: Services, call: Call, instanceId: string, m: Mutation): Promise<Reply> {
  const subject = definedOnly({ instanceId, orderId: m.orderId, orderLineId: m.orderLineId });
  const outcome = await applyEvent(svc, instanceId, m.event, {
    now: call.receivedAt,
    facts: (instance) => ({ ...factsOf(instance, call), ...m.facts?.(instance) }),
    opKey: m.opKey,
    prepare: m.prepare,
    change: (instance) => ({ ...m.change?.(instance), statusReason: m.reason }),
    receipt: (o) => receiptOf(call, replyOf(o), subject),
    deadline: call.deadline,
  });
  return replyOf(outcome);
}

/** What became of the product's lifecycle hook: told, failed (logged), still running at the deadline, or no hook. */
export type HookResult = 'told' | 'failed' | 'running' | 'none';

/**
 * Tells the product of a committed change; a failing hook is logged (the state is already recorded).
 * When a call is waiting for its answer the hook gets what is left of the call's deadline, then the
 * answer goes out and the hook runs on.
 */
export async function notifyLifecycle(svc: Services, change: LifecycleChange, deadline?: number): Promise<HookResult> {
  const hook = provisionerFor(svc, change.instance).onLifecycle;
  if (!hook) return 'none';
  const running: Promise<HookResult> = Promise.resolve()
    .then(() => hook(change))
    .then(
      () => 'told' as const,
      (error: unknown) => {
        svc.logger.error('provisioner lifecycle hook failed', { instanceId: change.instance.instanceId, event: change.event, error: foreignErrorName(error) });
        return 'failed' as const;
      },
    );
  if (deadline === undefined) return running;
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<HookResult>((resolve) => (timer = setTimeout(() => resolve('running'), Math.max(0, deadline - Date.now() - 200))));
  const result = await Promise.race([running, budget]);
  clearTimeout(timer);
  return result;
}

// ------------------------------------------------------------------ reads

/** queryInstance (spec 3.2): 1–100 ids, one batch read. */
export async function queryInstances(svc: Services, call: Call, instanceIds: readonly string[]): Promise<Reply> {
  const found = await svc.store.getInstances(instanceIds);
  const unknown = instanceIds.filter((id) => !found.has(id));
  const subject = instanceIds.length === 1 ? { instanceId: instanceIds[0] } : {};
  const instances = [...found.values()];
  let reply: Reply;
  if (found.size === 0) reply = failure(ResultCode.INSTANCE_NOT_FOUND, `instance not found: ${unknown.join(',')}`);
  else if (instances.some(awaitsTenant)) reply = failure(ResultCode.IN_PROGRESS, 'provisioning in progress');
  else if (instances.some((i) => i.status === 'FAILED')) reply = failure(ResultCode.INTERNAL_ERROR, 'provisioning failed; please contact the merchant');
  else {
    // metered instances: their meters in one more batch read (none for yearly/monthly instances)
    const usage = await usageInfoOf(svc, instances, call.receivedAt);
    reply = success(
      { info: instanceIds.filter((id) => found.has(id)).map((id) => instanceInfo(found.get(id)!, usage.get(id))) },
      unknown.length ? `success. (unknown ids left out: ${unknown.join(',')})` : 'success.',
    );
  }
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
  const [instance, meter] = await Promise.all([svc.store.getInstance(req.instanceId), svc.store.getMeter(req.instanceId)]);
  const usage = instance && meter?.generation === packageGeneration(instance) ? meter.used : 0;
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

export const factsOf = (instance: Instance, call: Call): Facts => ({
  provisioned: Boolean(instance.appInfo),
  frozenLocally: Boolean(instance.frozenLocally),
  debug: call.testFlag && instance.testFlag,
});



/** Drops undefined and empty-string members (DynamoDB and the marketplace both prefer absent to empty). */
export function definedOnly<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as never;
}
