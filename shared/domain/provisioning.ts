/**
 * newInstance and everything that provisions (spec 3.1; business rules 3.1, T8).
 *
 * Two ways to create, chosen by the provisioner (provisioner.ts `sideEffectFree`):
 * - Claim first, provision second (a product that creates anything real): the order line, the
 *   instance (PROVISIONING, due for a retry later) and the call's nonce and audit record are committed
 *   in one conditional transaction before the product is asked for anything. So concurrent copies of
 *   a call and replayed nonces never reach the product; only the call that won the order line
 *   provisions, under the instance id that is answered. Its final answer (000000, 000004 or the
 *   product's refusal) then rewrites the audit record together with the instance's new state: two
 *   write round trips.
 * - Provision first, commit once (a provisioner that only derives a login, like the built-in one): the
 *   outcome is computed first and the instance is committed in its final state (ACTIVE, FAILED, or
 *   PROVISIONING when the provisioner outlived the budget) with the order line, nonce and audit record
 *   in ONE transaction. Concurrent copies each compute a login; the one that wins the order line is
 *   kept and answered to all of them, the others' are never seen. One write round trip.
 *
 * A product that provisions in its own time (PROVISIONER=async) accepts the request (`ACCEPTED`): the
 * instance stays PROVISIONING and answers 000004, due again only after the provisioner's
 * `resendAfterMs` (not every minute), until the product posts its answer (completeFromProduct and
 * failFromProduct: the `/internal/instances/{instanceId}/ready` and `/failed` routes).
 */
import { findOrderLine, type OrderInfo, type OrderLine } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { awaitsTenant, type AppInfo, type Instance } from './instance.ts';
import {
  ConcurrencyError,
  type Outcome,
  factsOf,
  instanceFromOrder,
  notifyLifecycle,
  provisionerFor,
  applyEvent,
} from './instances.ts';
import { decide, type LifecycleState } from './lifecycle.ts';
import { raiseQuietly } from './alerts.ts';
import { errorName, foreignErrorName } from './errors.ts';
import { runDueJob, type JobSummary } from './jobs.ts';
import { after } from './timers.ts';
import { DEFAULT_RESEND_AFTER_MS, isAccepted, ProvisioningError, type Accepted } from './provisioner.ts';
import type { CallReceipt } from './repository.ts';
import { failure, success } from './replies.ts';

const MAX_CLAIM_ATTEMPTS = 5;
/** time kept back from the answer budget for the final write and the response */
const WRITE_RESERVE_MS = 400;

const inProgress = (instanceId: string, resultMsg = 'provisioning in progress') =>
  failure(ResultCode.IN_PROGRESS, resultMsg, { instanceId });

const subjectOf = (i: Pick<Instance, 'instanceId' | 'orderId' | 'orderLineId'>) => ({
  instanceId: i.instanceId,
  orderId: i.orderId,
  orderLineId: i.orderLineId,
});

interface CreateRequest {
  orderId: string;
  orderLineId: string;
  businessId: string;
}

/** newInstance: the same order line always yields the instance id of its first call (its businessId). */
export function createInstance(svc: Services, call: Call, req: CreateRequest): Promise<Reply> {
  return create(svc, call, req);
}

/**
 * newInstance for a caller that has already read the order through query order (the V1 interface, whose
 * request names the order but not its line): the same path as createInstance, with `order` used instead
 * of a second query. The instance (its product, period and buyer contact) and the provisioner both see
 * this order, so a caller may complete its buyerInfo with contact data the request carried.
 */
export function createInstanceFromOrder(
  svc: Services,
  call: Call,
  req: { order: OrderInfo; orderLineId: string; businessId: string },
): Promise<Reply> {
  const { order, orderLineId, businessId } = req;
  return create(svc, call, { orderId: order.orderId, orderLineId, businessId }, order);
}

async function create(svc: Services, call: Call, req: CreateRequest, known?: OrderInfo): Promise<Reply> {
  const provisioner = call.testFlag ? svc.debugProvisioner : svc.provisioner;
  if (provisioner.sideEffectFree) return createProvisioned(svc, call, req, known);
  const { orderId, orderLineId } = req;
  const existing = await svc.store.findInstanceIdByOrderLine(orderId, orderLineId);
  if (existing) return answerRepeatedCreate(svc, call, existing);
  const created = await newInstanceFromOrder(svc, call, req, known);
  if ('reply' in created) return created.reply;
  const { instance, source } = created;
  instance.provisioningDueAt = after(call.receivedAt.toISOString(), svc.settings.provisionRetryDelayMs);
  const claim = await svc.store.createInstance(instance, receiptOf(call, inProgress(instance.instanceId), subjectOf(instance)), watchAt(svc, call));
  if (!claim.created) return answerRepeatedCreate(svc, call, claim.instanceId);
  return provisionClaimed(svc, call, instance, source);
}

/**
 * Provision first, commit once: the instance is written in the state its provisioning reached within
 * the budget, with the order line, the nonce and the answer, in one transaction. A repeated call finds
 * the order line taken only at that write, and is answered as a repeat (its own outcome is dropped).
 */
async function createProvisioned(svc: Services, call: Call, req: CreateRequest, known?: OrderInfo): Promise<Reply> {
  const created = await newInstanceFromOrder(svc, call, req, known);
  if ('reply' in created) return created.reply;
  const { instance, source } = created;
  const outcome = await provisionWithin(svc, instance, source, answerBudget(svc, call));
  const settled = settle(svc, instance, outcome, call.receivedAt);
  const unfinished = outcome.kind === 'pending' || outcome.kind === 'accepted';
  const claim = await svc.store.createInstance(
    settled.instance,
    receiptOf(call, settled.reply, subjectOf(instance)),
    unfinished ? watchAt(svc, call) : undefined,
  );
  if (!claim.created) {
    if (outcome.kind === 'pending') outcome.promise.catch(() => undefined); // not ours to finish
    return answerRepeatedCreate(svc, call, claim.instanceId, source);
  }
  if (outcome.kind === 'pending') finishInBackground(svc, instance.instanceId, outcome.promise);
  else if (outcome.kind === 'refused') logRefusal(svc, instance.instanceId, outcome.error);
  else await notifyLifecycle(svc, { event: 'PROVISIONED', from: 'PROVISIONING', instance: settled.instance }, call.deadline);
  return settled.reply;
}

/** A provisioning outcome as the instance to store and the answer to give (lifecycle table decides the state). */
function settle(svc: Services, instance: Instance, outcome: ProvisionOutcome, now: Date): { instance: Instance; reply: Reply } {
  const { instanceId } = instance;
  if (outcome.kind === 'pending')
    return {
      instance: { ...instance, provisioningDueAt: after(now.toISOString(), svc.settings.provisionRetryDelayMs) },
      reply: inProgress(instanceId),
    };
  if (outcome.kind === 'accepted')
    return { instance: awaitingAnswer(svc, instance, outcome.resendAfterMs, now), reply: inProgress(instanceId) };
  const event = outcome.kind === 'done' ? 'PROVISIONED' : 'PROVISION_FAILED';
  const decision = decide(instance.status, event, { provisioned: false });
  if (decision.kind !== 'apply') throw new Error(`lifecycle table: ${event} does not apply to a new instance`);
  if (outcome.kind === 'done')
    return {
      instance: { ...instance, status: decision.to, appInfo: outcome.appInfo, statusReason: 'tenant provisioned' },
      reply: success({ instanceId }),
    };
  const { error } = outcome;
  return {
    instance: { ...instance, status: decision.to, statusReason: refusalReason(error) },
    reply: failure(error.code, error.message, { instanceId }),
  };
}

/** The order line of a newInstance call and the instance it would create; or the refusal already recorded. */
async function newInstanceFromOrder(
  svc: Services,
  call: Call,
  { orderId, orderLineId, businessId }: CreateRequest,
  /** the order as the caller already read it (createInstanceFromOrder) */
  known?: OrderInfo,
): Promise<{ instance: Instance; source: { order: OrderInfo; line: OrderLine } } | { reply: Reply }> {
  const order = known ?? (await svc.marketplace.queryOrder(orderId, orderLineId, { deadline: call.deadline }));
  const line = findOrderLine(order, orderLineId);
  if (!line) {
    const reply = failure(ResultCode.INVALID_PARAMETER, `order line ${orderLineId} not found in order ${orderId}`);
    await svc.store.recordCall(receiptOf(call, reply, { orderId, orderLineId }));
    return { reply };
  }
  const instance = instanceFromOrder({ instanceId: businessId, order, line, testFlag: call.testFlag, now: call.receivedAt });
  return { instance, source: { order, line } };
}

/** The provisioning watch of a first claim (provisioningWatch alerts if it is still unfinished then). */
const watchAt = (svc: Services, call: Call) => after(call.receivedAt.toISOString(), svc.settings.provisioningWatchMs);

/** What is left of the call's budget for the provisioner. */
const answerBudget = (svc: Services, call: Call) =>
  Math.min(svc.settings.provisionBudgetMs, call.deadline - Date.now() - WRITE_RESERVE_MS);

/**
 * newInstance for an order line that has its instance: the same id, as the instance is now. A failed
 * provisioning, one whose process died (due again) or a new dial-test cycle is taken over by this call.
 */
async function answerRepeatedCreate(
  svc: Services,
  call: Call,
  instanceId: string,
  /** the order as this call already read it */
  known?: { order: OrderInfo; line: OrderLine },
): Promise<Reply> {
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const instance = await svc.store.getInstance(instanceId);
    if (!instance) throw new Error(`order line points at missing instance ${instanceId}`);
    const decision = decide(instance.status, 'CREATE', factsOf(instance, call));
    if (decision.kind !== 'apply' && !isStalled(instance, call.receivedAt)) {
      const reply = awaitsTenant(instance) ? inProgress(instanceId) : success({ instanceId });
      await svc.store.recordCall(receiptOf(call, reply, subjectOf(instance)));
      return reply;
    }
    const target = decision.kind === 'apply' ? decision.to : instance.status;
    const receipt = receiptOf(call, inProgress(instanceId, 'provisioning resumed'), subjectOf(instance));
    const claimed = await claimProvisioning(svc, instance, target, call.receivedAt, receipt);
    if (!claimed) continue;
    let source = known;
    try {
      source ??= await orderLineOf(svc, claimed, call.deadline);
    } catch (error) {
      // the claim made it due again: the job (or the next resend) retries
      svc.logger.warn('order unavailable to resume provisioning', { instanceId, error: errorName(error) });
      return inProgress(instanceId, 'provisioning resumed');
    }
    return provisionClaimed(svc, call, claimed, source);
  }
  throw new ConcurrencyError(`instance ${instanceId} kept changing under newInstance`);
}

/** Unfinished and due: its last attempt outlived the retry delay (its process died, or it keeps failing). */
const isDue = (instance: Instance, now: Date) => awaitsTenant(instance) && (instance.provisioningDueAt ?? '') <= now.toISOString();

/** A resend takes over a due provisioning; a frozen one is left to the job (the resend answers 000004). */
const isStalled = (instance: Instance, now: Date) => instance.status === 'PROVISIONING' && isDue(instance, now);

/** Provisions a claimed instance within what is left of the call's budget and answers accordingly. */
async function provisionClaimed(
  svc: Services,
  call: Call,
  claimed: Instance,
  source: { order: OrderInfo; line: OrderLine },
): Promise<Reply> {
  const { instanceId } = claimed;
  const outcome = await provisionWithin(svc, claimed, source, answerBudget(svc, call));
  // the outcome is written with the call's audit record (its nonce was stored by the claim), starting
  // from the claimed instance: no re-read unless another writer changed it meanwhile
  const answering = (reply: Reply): CommitOptions => ({
    receipt: { ...receiptOf(call, reply, subjectOf(claimed)), nonceRecorded: true },
    current: claimed,
    deadline: call.deadline,
  });
  try {
    switch (outcome.kind) {
      case 'done': {
        const reply = success({ instanceId });
        await completeProvisioning(svc, instanceId, outcome.appInfo, call.receivedAt, answering(reply));
        return reply;
      }
      case 'refused': {
        const reply = failure(outcome.error.code, outcome.error.message, { instanceId });
        await markFailed(svc, instanceId, outcome.error, call.receivedAt, answering(reply));
        return reply;
      }
      case 'pending':
        finishInBackground(svc, instanceId, outcome.promise);
        return inProgress(instanceId); // the claim recorded this answer already
      case 'accepted':
        await awaitProduct(svc, claimed, outcome.resendAfterMs, call.receivedAt);
        return inProgress(instanceId); // the claim recorded this answer already
    }
  } catch (error) {
    // the outcome could not be stored: the instance is still PROVISIONING and due, which is what the
    // claim's audit record says; answer that, and the job (or a resend) finishes it
    svc.logger.warn('could not store the provisioning outcome; it will be retried', { instanceId, error: errorName(error) });
    return inProgress(instanceId);
  }
}

type ProvisionOutcome =
  | { kind: 'done'; appInfo: AppInfo }
  /** the product took the request and posts its answer later (PROVISIONER=async) */
  | { kind: 'accepted'; resendAfterMs?: number }
  | { kind: 'pending'; promise: Promise<AppInfo | Accepted> }
  | { kind: 'refused'; error: ProvisioningError };

/**
 * Runs the provisioner and waits at most `budgetMs`. A refusal (ProvisioningError) is an answer; any
 * other failure is transient: the instance stays due and is tried again.
 */
async function provisionWithin(
  svc: Services,
  instance: Instance,
  source: { order: OrderInfo; line: OrderLine },
  budgetMs: number,
): Promise<ProvisionOutcome> {
  const promise = Promise.resolve().then(() =>
    provisionerFor(svc, instance).provision(
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
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, budgetMs))));
  try {
    const first = await Promise.race([promise, timeout]);
    if (first === 'timeout') return { kind: 'pending', promise };
    return isAccepted(first) ? { kind: 'accepted', resendAfterMs: first.resendAfterMs } : { kind: 'done', appInfo: first };
  } catch (error) {
    if (error instanceof ProvisioningError) return { kind: 'refused', error };
    svc.logger.warn('provisioning attempt failed; it will be retried', { instanceId: instance.instanceId, error: foreignErrorName(error) });
    return { kind: 'pending', promise };
  } finally {
    clearTimeout(timer);
  }
}

/** Lets a provisioning that outlived the answer budget finish in this process if it can. */
function finishInBackground(svc: Services, instanceId: string, promise: Promise<AppInfo | Accepted>): void {
  promise
    .then(async (answer) => {
      if (!isAccepted(answer)) return void (await completeProvisioning(svc, instanceId, answer, new Date()));
      const instance = await svc.store.getInstance(instanceId);
      if (instance) await awaitProduct(svc, instance, answer.resendAfterMs, new Date());
    })
    .catch(async (error: unknown) => {
      if (error instanceof ProvisioningError) return giveUpIfFinal(svc, instanceId, error, new Date());
      svc.logger.warn('provisioning attempt failed; the resume job retries it', { instanceId, error: foreignErrorName(error) });
    })
    .catch((error: unknown) => svc.logger.error('could not record provisioning outcome', { instanceId, error: errorName(error) }));
}

/**
 * The instance after the product accepted its hand-off: still unfinished (000004), due again only when
 * the product has not answered for `resendAfterMs` (never sooner than a failed attempt's retry delay).
 */
function awaitingAnswer(svc: Services, instance: Instance, resendAfterMs: number | undefined, now: Date): Instance {
  const wait = Math.max(resendAfterMs ?? DEFAULT_RESEND_AFTER_MS, svc.settings.provisionRetryDelayMs);
  return {
    ...instance,
    statusReason: `attempt ${instance.provisioningAttempts} handed to the product; awaiting its answer`,
    provisioningDueAt: after(new Date(Math.max(now.getTime(), Date.now())).toISOString(), wait),
    updatedAt: now.toISOString(),
  };
}

/**
 * The product accepted the attempt `claimed` made (PROVISIONER=async): the instance waits for its
 * answer (the ready route) instead of being tried again at the retry delay. Nothing is written if the
 * product answered meanwhile or a later attempt has claimed it; if the write keeps losing, the claim's
 * retry delay stands and the hand-off is simply sent again then.
 */
async function awaitProduct(svc: Services, claimed: Instance, resendAfterMs: number | undefined, now: Date): Promise<void> {
  let current: Instance | undefined = claimed;
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS && current; attempt++) {
    if (!awaitsTenant(current) || current.provisioningAttempts !== claimed.provisioningAttempts) return;
    if (await svc.store.saveInstance(awaitingAnswer(svc, current, resendAfterMs, now), current.version)) return;
    current = await svc.store.getInstance(claimed.instanceId);
  }
  if (current) svc.logger.warn('could not record the hand-off; it is sent again at the retry delay', { instanceId: claimed.instanceId });
}

/**
 * One more attempt at an unfinished provisioning: counted, and due again after the retry delay, counted
 * from the moment of the claim (not from a job's scheduled time), so an attempt still running is never
 * due for another one. The retry delay must exceed an attempt's budget (checked in config).
 */
async function claimProvisioning(
  svc: Services,
  instance: Instance,
  status: LifecycleState,
  now: Date,
  receipt?: CallReceipt,
): Promise<Instance | undefined> {
  const restarted = instance.status === 'RELEASED' || instance.status === 'FAILED';
  const next: Instance = {
    ...instance,
    status,
    statusReason: `provisioning attempt ${instance.provisioningAttempts + 1}`,
    // a new cycle provisions a new tenant: nothing of the previous one is kept as if it were current
    ...(restarted ? { releasedAt: undefined, frozenAt: undefined, appInfo: undefined } : {}),
    provisioningAttempts: instance.provisioningAttempts + 1,
    provisioningDueAt: after(new Date(Math.max(now.getTime(), Date.now())).toISOString(), svc.settings.provisionRetryDelayMs),
    updatedAt: now.toISOString(),
  };
  return svc.store.saveInstance(next, instance.version, receipt);
}

async function orderLineOf(svc: Services, instance: Instance, deadline?: number) {
  const order = await svc.marketplace.queryOrder(instance.orderId, instance.orderLineId, { deadline });
  const line = findOrderLine(order, instance.orderLineId);
  if (!line) throw new Error(`query order: line ${instance.orderLineId} missing from order ${instance.orderId}`);
  return { order, line };
}

/**
 * The provisioner finished: ACTIVE (or FROZEN with its tenant recorded). If the instance was released
 * meanwhile, the product is told to delete the tenant it just created.
 */
/** For an outcome that answers a waiting call: its audit record, the instance it just stored, its deadline. */
interface CommitOptions {
  receipt?: CallReceipt;
  current?: Instance;
  deadline?: number;
}

export async function completeProvisioning(
  svc: Services,
  instanceId: string,
  appInfo: AppInfo,
  now: Date,
  { receipt, current, deadline }: CommitOptions = {},
): Promise<Outcome> {
  const outcome = await applyEvent(svc, instanceId, 'PROVISIONED', {
    now,
    change: () => ({ appInfo, provisioningDueAt: undefined, statusReason: 'tenant provisioned' }),
    receipt: () => receipt,
    current,
    deadline,
  });
  if (outcome.kind === 'declined' && outcome.before?.status === 'RELEASED')
    await notifyLifecycle(svc, { event: 'RELEASE', from: 'RELEASED', instance: { ...outcome.before, appInfo } }, deadline);
  return outcome;
}

/** The product refused this provisioning: FAILED; the marketplace's next newInstance retries it. */
async function markFailed(svc: Services, instanceId: string, error: ProvisioningError, now: Date, { receipt, current, deadline }: CommitOptions = {}) {
  logRefusal(svc, instanceId, error);
  return applyEvent(svc, instanceId, 'PROVISION_FAILED', {
    now,
    change: () => ({ provisioningDueAt: undefined, statusReason: refusalReason(error) }),
    receipt: () => receipt,
    current,
    deadline,
  });
}

const refusalReason = (error: ProvisioningError) => `provisioning refused (${error.code}): ${error.message}`;

/** after a 000004 the marketplace only polls: an operator must see a refusal (ERROR log → alarm) */
const logRefusal = (svc: Services, instanceId: string, error: ProvisioningError) =>
  svc.logger.error('provisioning failed', { instanceId, code: error.code, permanent: error.permanent });

/** A background or scheduled attempt failed: give up when the product says so or attempts are spent. */
async function giveUpIfFinal(svc: Services, instanceId: string, error: ProvisioningError, now: Date) {
  const instance = await svc.store.getInstance(instanceId);
  if (instance && (error.permanent || instance.provisioningAttempts >= svc.settings.maxProvisionAttempts))
    await markFailed(svc, instanceId, error, now);
}

/**
 * The scheduled job's work: every provisioning due by `now` (the scheduled time) is claimed (a
 * conditional write: two overlapping runs never take the same instance) and attempted once more.
 * It stops claiming when the run has no time left for another attempt.
 */
export async function resumeDueProvisioning(svc: Services, now: Date, timeLeftMs: () => number = () => Infinity) {
  // handedOff: handed to the product again (PROVISIONER=async), which answers through the ready route
  const summary = { due: 0, completed: 0, pending: 0, handedOff: 0, failed: 0, skipped: 0, deferred: 0 };
  const attemptMs = svc.settings.resumeBudgetMs + 5000;
  for (const instanceId of await svc.store.dueProvisioning(now, svc.settings.jobBatchLimit)) {
    summary.due++;
    if (timeLeftMs() < attemptMs) {
      summary.deferred++; // still due: the next run takes it
      continue;
    }
    try {
      summary[await resumeOne(svc, instanceId, now)]++;
    } catch (error) {
      svc.logger.warn('resume attempt failed', { instanceId, error: errorName(error) });
      summary.failed++;
    }
  }
  return summary;
}

async function resumeOne(svc: Services, instanceId: string, now: Date): Promise<'completed' | 'pending' | 'handedOff' | 'failed' | 'skipped'> {
  const instance = await svc.store.getInstance(instanceId);
  const claimed = instance && isDue(instance, now) ? await claimProvisioning(svc, instance, instance.status, now) : undefined;
  if (!claimed) return 'skipped';
  const lastAttempt = claimed.provisioningAttempts >= svc.settings.maxProvisionAttempts;
  let outcome: ProvisionOutcome;
  try {
    outcome = await provisionWithin(svc, claimed, await orderLineOf(svc, claimed), svc.settings.resumeBudgetMs);
  } catch (error) {
    svc.logger.warn('resume attempt failed', { instanceId, error: errorName(error) });
    outcome = { kind: 'pending', promise: Promise.reject(error) };
  }
  if (outcome.kind === 'done') {
    await completeProvisioning(svc, instanceId, outcome.appInfo, now, { current: claimed });
    return 'completed';
  }
  if (outcome.kind === 'accepted') {
    await awaitProduct(svc, claimed, outcome.resendAfterMs, now);
    return 'handedOff';
  }
  if (outcome.kind === 'pending') outcome.promise.catch(() => undefined); // still running or failed: due again
  const refusal = outcome.kind === 'refused' ? outcome.error : undefined;
  if (refusal?.permanent || lastAttempt)
    await markFailed(svc, instanceId, refusal ?? new ProvisioningError('too many attempts', ResultCode.PRODUCT_ERROR, true), now);
  return outcome.kind === 'refused' || lastAttempt ? 'failed' : 'pending';
}

// ------------------------------------------------------------------ the product's later answer

/** What the product routes answer (shared/http/internalRoute.ts InternalResult). */
export interface ProductAnswerResult {
  status: 200 | 404 | 409;
  body: Record<string, unknown>;
}

type ProductAnswer = { appInfo: AppInfo } | { refusal: ProvisioningError };

/**
 * `POST /internal/instances/{instanceId}/ready`: the product finished a tenant it accepted to create
 * later (PROVISIONER=async). PROVISIONED goes through the lifecycle table with a write conditional on
 * the version read: ACTIVE, or FROZEN with its tenant if it was frozen meanwhile (FAILED, the product's
 * late success, too); the marketplace's next newInstance or queryInstance then answers 000000.
 * 200 again for the same app info (a retry), whatever the state is now; 409 for a different one, for
 * a console debug instance (never the product's) and for a released one (the product is told, through
 * its lifecycle hook as well, to delete the tenant); 404 for an unknown id.
 */
export async function completeFromProduct(svc: Services, instanceId: string, appInfo: AppInfo, now: Date): Promise<ProductAnswerResult> {
  const before = await svc.store.getInstance(instanceId);
  const settled = judgeAnswer(instanceId, before, { appInfo }) ?? tooLate(instanceId, before!, now);
  // released before the product finished: completeProvisioning tells its hook to delete the new tenant
  if (settled && !(before?.status === 'RELEASED' && !before.appInfo && !before.testFlag)) return settled;
  const outcome = await completeProvisioning(svc, instanceId, appInfo, now, { current: before });
  return productAnswered(svc, instanceId, outcome, { appInfo });
}

/**
 * `POST /internal/instances/{instanceId}/failed`: the product refuses a purchase it accepted to create
 * later, with a marketplace code (000100–000107). The instance is FAILED like after a refusal within the
 * call: logged at ERROR, queryInstance answers the failure, and the marketplace's next newInstance hands
 * the order line to the product again (answer that hand-off with the same refusal, a 4xx, and the
 * marketplace sees your code). 200 again for the same refusal; 409 once the instance has its tenant, is
 * released, or failed for another reason; 404 for an unknown id.
 */
export async function failFromProduct(svc: Services, instanceId: string, refusal: ProvisioningError, now: Date): Promise<ProductAnswerResult> {
  const before = await svc.store.getInstance(instanceId);
  const settled = judgeAnswer(instanceId, before, { refusal });
  if (settled) return settled;
  const outcome = await markFailed(svc, instanceId, refusal, now, { current: before });
  return productAnswered(svc, instanceId, outcome, { refusal });
}

function productAnswered(svc: Services, instanceId: string, outcome: Outcome, answer: ProductAnswer): ProductAnswerResult {
  if (outcome.kind === 'applied') {
    svc.logger.info('the product answered', { instanceId, answer: 'appInfo' in answer ? 'ready' : 'failed', status: outcome.after.status });
    return { status: 200, body: { instanceId, status: outcome.after.status, outcome: 'recorded' } };
  }
  // another writer came first (the same answer, a release…): judged on the instance as it is now
  return judgeAnswer(instanceId, outcome.before, answer) ?? { status: 409, body: { error: 'the instance kept changing; try again', instanceId } };
}

/**
 * The marketplace resends a newInstance answered with a failure once an hour for 3 h, then fails the
 * order and unsubscribes it (spec 5; business rules: "create-instance callback keeps failing for 3
 * hours"). An instance that FAILED (a refusal was answered) more than 3 h after its first newInstance
 * therefore has no order any more: a late tenant would be ACTIVE here with no buyer and no release
 * coming, so the answer is refused and the product deletes it. An instance still provisioning was
 * answered 000004, which is not a failure: the marketplace polls queryInstance and the tenant is taken
 * whenever it comes (as resumeProvisioning takes a late one).
 */
export const MARKETPLACE_GIVES_UP_MS = 3 * 3_600_000;

function tooLate(instanceId: string, instance: Instance, now: Date): ProductAnswerResult | undefined {
  if (instance.status !== 'FAILED' || now.getTime() - Date.parse(instance.createdAt) <= MARKETPLACE_GIVES_UP_MS) return undefined;
  return {
    status: 409,
    body: {
      error: 'failed more than 3 h after the first newInstance: the marketplace has failed and unsubscribed the order; delete the tenant',
      instanceId,
      status: instance.status,
    },
  };
}

/** The answer to give without writing anything; undefined while the instance waits for it. */
function judgeAnswer(instanceId: string, instance: Instance | undefined, answer: ProductAnswer): ProductAnswerResult | undefined {
  if (!instance) return { status: 404, body: { error: 'instance not found', instanceId } };
  const conflict = (error: string): ProductAnswerResult => ({ status: 409, body: { error, instanceId, status: instance.status } });
  const repeat: ProductAnswerResult = { status: 200, body: { instanceId, status: instance.status, outcome: 'already recorded' } };
  if (instance.testFlag) return conflict('a console debug instance is provisioned by the built-in provisioner, never by the product');
  if (instance.appInfo)
    return 'appInfo' in answer && sameAppInfo(instance.appInfo, answer.appInfo) ? repeat : conflict('the instance already has its app info');
  if (instance.status === 'RELEASED') return conflict('the instance was released before provisioning finished: delete the tenant');
  if (instance.status === 'FAILED' && 'refusal' in answer)
    return instance.statusReason === refusalReason(answer.refusal) ? repeat : conflict(`the instance has already failed: ${instance.statusReason ?? 'refused'}`);
  return undefined;
}

const APP_INFO_FIELDS = ['frontEndUrl', 'adminUrl', 'userName', 'password', 'memo'] as const;
/** absent and empty are the same (the answers to the marketplace leave both out) */
const sameAppInfo = (a: AppInfo, b: AppInfo) => APP_INFO_FIELDS.every((f) => (a[f] ?? '') === (b[f] ?? ''));

/**
 * provisioningWatch (business rules 3.7 T8): every first claim leaves a watch due 2 h later (the
 * marketplace gives up after 3 h and unsubscribes the order). When it falls due and the instance still
 * waits for its tenant, one more attempt is made if one is due, and an operator is alerted; the watch
 * then falls due again after the same delay. A finished instance's watch just leaves the index.
 * Moving the watch is a conditional write made before alerting: two runs alert once.
 */
export function watchProvisioning(svc: Services, now: Date, timeLeftMs?: () => number): Promise<JobSummary> {
  return runDueJob(svc, {
    job: 'provisioningWatch',
    kind: 'WATCH',
    now,
    timeLeftMs,
    itemBudgetMs: svc.settings.resumeBudgetMs + 5000,
    handle: async (item) => {
      const instanceId = item.instanceId!;
      const [instance, watch] = await Promise.all([svc.store.getInstance(instanceId), svc.store.getWatch(instanceId)]);
      if (!watch?.dueAt || watch.dueAt > now.toISOString()) return 'skipped';
      const stuck = instance !== undefined && awaitsTenant(instance);
      const moved = await svc.store.moveWatch(
        instanceId,
        watch.dueAt,
        stuck
          ? { dueAt: after(now.toISOString(), svc.settings.provisioningWatchMs), alerts: watch.alerts + 1 }
          : { alerts: watch.alerts, expireAt: new Date(now.getTime() + 7 * 86_400_000) },
      );
      if (!moved || !stuck) return moved ? 'done' : 'skipped';
      // an alert that cannot be raised must not cost the retry (the next watch is 2 h away)
      await raiseQuietly(svc.alerts, svc.logger, {
        kind: 'provisioning-stuck',
        subject: { instanceId, orderId: instance.orderId, orderLineId: instance.orderLineId },
        message: `still provisioning ${Math.round((now.getTime() - Date.parse(instance.createdAt)) / 60_000)} min after the order's first newInstance (attempt ${instance.provisioningAttempts}); the marketplace unsubscribes it at 3 h`,
      });
      if (isDue(instance, now)) await resumeOne(svc, instanceId, now);
      return 'done';
    },
  });
}
