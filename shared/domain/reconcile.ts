/**
 * reconcile (issue 8): once a day every live instance is compared with what the marketplace says about
 * it (query order, spec 6.1), and what differs ("drift") is reported: its expiry, its state, its
 * specification, or an order the marketplace no longer returns. The marketplace's lifecycle calls are
 * retried for one to three hours only (business rules 5), so a lost refreshInstance, FREEZE, release or
 * upgrade would otherwise go unnoticed.
 *
 * Which order: query order answers per order, and every renewal or upgrade comes with a NEW order id
 * (business rules 3.1). The instance is compared with the latest order it knows: the last renewal or
 * upgrade applied to it (its appliedOps), else the order that created it.
 *
 * What is fixed, and why only that: a marketplace expiry LATER than ours on an instance that is ACTIVE
 * (or frozen by our own expiry safety net, which no UNFREEZE will ever undo) is a renewal whose
 * refreshInstance we missed. It is applied through the same path a refreshInstance takes (the RENEW
 * event of the lifecycle table, the product's lifecycle hook, an audit record), conditional on the
 * instance version this run read: it only gives the buyer what the marketplace says was paid. Everything
 * else would take something away or guess (moving an expiry back, freezing, releasing, changing the
 * specification without the upgrade order) and is alerted for a person to decide.
 */
import { OpenApiError } from '#shared/openapi/errors';
import { findOrderLine, findOrderLineByProduct, type OrderLine } from '#shared/openapi/order';
import { parseMarketTime } from '#shared/protocol/time';
import { raiseQuietly } from './alerts.ts';
import type { Services } from './call.ts';
import type { Instance, ProductSpec } from './instance.ts';
import { applyEvent } from './instances.ts';
import { jobReceipt, runDueJob, type JobSummary } from './jobs.ts';
import { after, DAY_MS, isReconciled, nextReconcileAt } from './timers.ts';

export const DRIFT_KINDS = ['expiry', 'state', 'spec', 'order'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** One difference between an instance and its marketplace order. */
export interface Drift {
  kind: DriftKind;
  /** what differs: expireTime, status, skuCode, productId, linearValue, order */
  field: string;
  ours?: string;
  theirs?: string;
  /** the job applies it (a missed renewal); every drift without it is alerted */
  fix?: 'renewal';
  /** ids and times only: no personal data */
  message: string;
}

/**
 * Expiries closer than this are the same: order lines carry seconds, refreshInstance milliseconds, and
 * the time zone of order times is not documented (spec 6.1 shows only `20251121235959`). A real drift
 * is a renewal or a refund: a period, never less than a day.
 */
export const EXPIRY_TOLERANCE_MS = DAY_MS;

/** How long a run lets one query order take (both hosts, spec 6), and the product's hook after a fix. */
const QUERY_BUDGET_MS = 10_000;
const HOOK_BUDGET_MS = 30_000;
/** A check that failed (the marketplace unreachable, storage) is due again this soon: the next hourly run. */
export const RECONCILE_RETRY_MS = 30 * 60_000;
/** How long a marker taken off the index stays in the table (TTL). */
const OFF_INDEX_TTL_MS = DAY_MS;

/** The order an instance is compared with: the last renewal / upgrade applied to it, else its creation. */
export interface ReferenceOrder {
  orderId: string;
  /** undefined: a SaaS V1 order (lines unnamed; the line is chosen by product) */
  orderLineId?: string;
  /** which call brought it, for the alert */
  via: string;
}

const OP = /^(refresh|upgrade):([^:]+):([^:]+)(?::(.+))?$/;

export function referenceOrder(instance: Pick<Instance, 'appliedOps' | 'orderId' | 'orderLineId'>): ReferenceOrder {
  for (let i = instance.appliedOps.length - 1; i >= 0; i--) {
    const op = OP.exec(instance.appliedOps[i]!);
    if (!op) continue;
    const [, kind, orderId, orderLineId, scene] = op as unknown as [string, string, string, string, string | undefined];
    // SaaS V1 calls name only the order: their line id is recorded as the order id
    return { orderId, ...(orderLineId === orderId ? {} : { orderLineId }), via: kind === 'refresh' ? `refreshInstance ${scene ?? ''}`.trim() : 'upgradeInstance' };
  }
  return { orderId: instance.orderId, orderLineId: instance.orderLineId, via: 'newInstance' };
}

export interface CompareContext {
  now: Date;
  /** how long past its expiry an instance may stay ACTIVE (the expiry safety net's grace) */
  graceMs: number;
}

const SPEC_FIELDS = ['skuCode', 'productId', 'linearValue'] as const satisfies ReadonlyArray<keyof ProductSpec>;

/**
 * The drifts between an ACTIVE or FROZEN instance and its order line, by table (pure: no clock, no I/O).
 *
 * | kind   | when                                                                   | done        |
 * |--------|------------------------------------------------------------------------|-------------|
 * | expiry | yearly/monthly: the line ends ≥ 1 day LATER than ours, instance ACTIVE  | fixed       |
 * |        | … or frozen by our expiry timer and the line's end + grace is ahead     | fixed       |
 * |        | … later, instance frozen by the marketplace                             | alert       |
 * |        | … later, after a renewal period was unsubscribed (refund orders)        | alert       |
 * |        | the line ends ≥ 1 day EARLIER than ours (a refund / change we missed)   | alert       |
 * |        | we hold no expiry, the line has one                                     | alert       |
 * | state  | ACTIVE although the line ended (+ grace) and ours has not (no FREEZE)   | alert       |
 * |        | FROZEN by the marketplace although the line runs on (no UNFREEZE)      | alert       |
 * | spec   | the line's skuCode / productId / linearValue differs from ours          | alert       |
 * | order  | (reconcileInstance) query order does not return the order or its line   | alert       |
 */
export function compare(instance: Instance, line: OrderLine, ctx: CompareContext): Drift[] {
  const drifts: Drift[] = [];
  const now = ctx.now.getTime();
  const theirs = line.expireTime === undefined ? undefined : parseMarketTime(line.expireTime);
  const ours = instance.expireTime === undefined ? undefined : new Date(instance.expireTime);
  const expiry = (message: string, fix?: 'renewal'): Drift => ({
    kind: 'expiry',
    field: 'expireTime',
    ...(ours ? { ours: ours.toISOString() } : {}),
    ...(theirs ? { theirs: theirs.toISOString() } : {}),
    ...(fix ? { fix } : {}),
    message,
  });

  if (instance.chargingMode === 'PERIOD' && theirs) {
    if (!ours) drifts.push(expiry(`no expiry recorded; the marketplace's order line ends ${theirs.toISOString()}`));
    else if (theirs.getTime() - ours.getTime() >= EXPIRY_TOLERANCE_MS) {
      // what a refreshInstance would have done: ACTIVE stays ACTIVE, our own freeze is lifted. Never after
      // a renewal period was unsubscribed: the refunded renewal's order still shows the longer period, and
      // what a refund order's line says is undocumented — extending would hand the refund back.
      const refunded = instance.appliedOps.some((op) => op.endsWith(':UNSUBSCRIBE_RENEWAL_PERIOD'));
      const fixable =
        !refunded &&
        (instance.status === 'ACTIVE' || (instance.status === 'FROZEN' && Boolean(instance.frozenLocally) && theirs.getTime() + ctx.graceMs > now));
      drifts.push(
        expiry(
          `the marketplace's order line ends ${theirs.toISOString()}, later than ours (${ours.toISOString()}): a renewal whose refreshInstance never arrived` +
            (fixable
              ? ''
              : refunded
                ? '; not applied: a renewal period of this instance was unsubscribed, so the orders no longer say its expiry'
                : `; not applied: the instance is ${instance.status} by the marketplace, its UNFREEZE must come too`),
          fixable ? 'renewal' : undefined,
        ),
      );
    } else if (ours.getTime() - theirs.getTime() >= EXPIRY_TOLERANCE_MS)
      drifts.push(
        expiry(
          `the marketplace's order line ends ${theirs.toISOString()}, earlier than ours (${ours.toISOString()}): a refund or change we missed? not moved back (it shortens paid time)`,
        ),
      );

    const lineEnded = theirs.getTime() + ctx.graceMs <= now;
    const oursEnded = ours !== undefined && ours.getTime() + ctx.graceMs <= now;
    // both ended: the expiry safety net (expiryFreeze) freezes it, nothing to report here
    if (instance.status === 'ACTIVE' && lineEnded && !oursEnded)
      drifts.push({
        kind: 'state',
        field: 'status',
        ours: 'ACTIVE',
        theirs: 'ENDED',
        message: `ACTIVE although the marketplace's order line ended ${theirs.toISOString()}: its FREEZE or release never arrived; not frozen by reconcile`,
      });
    if (instance.status === 'FROZEN' && !instance.frozenLocally && theirs.getTime() > now)
      drifts.push({
        kind: 'state',
        field: 'status',
        ours: 'FROZEN',
        theirs: 'VALID',
        message: `FROZEN although the marketplace's order line runs until ${theirs.toISOString()}: its UNFREEZE never arrived? restart it in the seller console`,
      });
  }

  const product = line.productInfo?.[0];
  for (const field of SPEC_FIELDS) {
    const want = product?.[field];
    const have = instance.product[field];
    if (want !== undefined && want !== have)
      drifts.push({
        kind: 'spec',
        field,
        ...(have !== undefined ? { ours: String(have) } : {}),
        theirs: String(want),
        message: `${field} is ${have ?? 'unset'} here but ${want} on the marketplace's order line: an upgrade or renewal change we missed?`,
      });
  }
  return drifts;
}

/** What reconciling one instance found and did. */
export interface Reconciliation {
  /** false: not comparable now (still provisioning, or failed to provision) */
  compared: boolean;
  drifts: Drift[];
  fixed: Drift[];
  /** drifts left to a person (alerted) */
  alerted: Drift[];
}

/** Thrown inside the renewal's change when the instance is no longer the version this run compared. */
class Superseded extends Error {
  override readonly name = 'Superseded';
}

/**
 * Compares one instance with its reference order, applies a missed renewal, alerts on the rest. A
 * failure to reach the marketplace throws (the caller leaves the instance due for the next run); an
 * answer that is not the order (a business result code) is itself drift: the order is missing.
 */
export async function reconcileInstance(svc: Services, instance: Instance, now: Date): Promise<Reconciliation> {
  if (instance.status !== 'ACTIVE' && instance.status !== 'FROZEN') return { compared: false, drifts: [], fixed: [], alerted: [] };
  const ref = referenceOrder(instance);
  let drifts: Drift[];
  let line: OrderLine | undefined;
  try {
    const order = await svc.marketplace.queryOrder(ref.orderId, ref.orderLineId, { deadline: Date.now() + QUERY_BUDGET_MS });
    line = ref.orderLineId ? findOrderLine(order, ref.orderLineId) : findOrderLineByProduct(order, instance.product.productId, instance.product.skuCode);
    drifts = line
      ? compare(instance, line, { now, graceMs: svc.settings.timers.expiryGraceMs })
      : [{ kind: 'order', field: 'order', message: `query order returned order ${ref.orderId} (from ${ref.via}) without the instance's line` }];
  } catch (error) {
    if (!(error instanceof OpenApiError && error.kind === 'business')) throw error;
    drifts = [{ kind: 'order', field: 'order', theirs: error.code, message: `query order answered ${error.code ?? 'a failure'} for order ${ref.orderId} (from ${ref.via})` }];
  }

  const fixed: Drift[] = [];
  const renewal = drifts.find((d) => d.fix === 'renewal');
  if (renewal && line) {
    const applied = await applyMissedRenewal(svc, instance, now, ref, line.orderLineId, renewal.theirs!);
    if (applied) fixed.push(renewal);
    // lost to a concurrent change (a refreshInstance, a freeze): tomorrow's check sees the result
    else svc.logger.info('reconcile: the instance changed while it was compared; the renewal is left for the next check', { instanceId: instance.instanceId });
  }
  const alerted = drifts.filter((d) => !d.fix);
  if (alerted.length)
    await raiseQuietly(svc.alerts, svc.logger, {
      kind: 'reconcile-drift',
      subject: { instanceId: instance.instanceId, orderId: ref.orderId, orderLineId: ref.orderLineId },
      message: `${instance.status} instance differs from the marketplace's order (from ${ref.via}): ${alerted.map((d) => `[${d.kind}] ${d.message}`).join('; ')}`,
    });
  return { compared: true, drifts, fixed, alerted };
}

/**
 * The renewal the marketplace knows and we missed, applied as refreshInstance applies one (event RENEW,
 * product hook, audit record), only on the instance version compared. False when it changed meanwhile.
 */
async function applyMissedRenewal(svc: Services, instance: Instance, now: Date, ref: ReferenceOrder, orderLineId: string, expireTime: string): Promise<boolean> {
  const reason = `reconcile: missed renewal applied, expiry ${instance.expireTime} -> ${expireTime} (order ${ref.orderId})`;
  try {
    const outcome = await applyEvent(svc, instance.instanceId, 'RENEW', {
      current: instance,
      now,
      deadline: Date.now() + HOOK_BUDGET_MS,
      opKey: `reconcile:${ref.orderId}:${orderLineId}:${expireTime}`,
      change: (current) => {
        if (current.version !== instance.version) throw new Superseded();
        return { expireTime, statusReason: reason };
      },
      receipt: (o) =>
        o.kind === 'applied' ? jobReceipt('reconcile', now, reason, { instanceId: instance.instanceId, orderId: ref.orderId, orderLineId, testFlag: false }) : undefined,
    });
    if (outcome.kind !== 'applied') return false;
    svc.logger.info('reconcile: missed renewal applied', { instanceId: instance.instanceId, orderId: ref.orderId, expireTime });
    if (outcome.hook === 'failed' || outcome.hook === 'running')
      await raiseQuietly(svc.alerts, svc.logger, {
        kind: 'product-hook-failed',
        subject: { instanceId: instance.instanceId, orderId: ref.orderId },
        message: `reconcile: the missed renewal is recorded but the product's lifecycle hook ${outcome.hook === 'failed' ? 'failed' : `did not finish within ${HOOK_BUDGET_MS / 1000} s`}; make the product act on it`,
      });
    return true;
  } catch (error) {
    if (error instanceof Superseded) return false;
    throw error;
  }
}

/** The counts of a reconcile run, published as metrics (the standard job counts beside them). */
export interface ReconcileSummary extends JobSummary {
  /** instances compared with their marketplace order */
  checked: number;
  /** drifts found (an instance may have several) */
  driftFound: number;
  /** drifts fixed (missed renewals applied) */
  driftFixed: number;
  /** instances alerted for drifts left to a person */
  driftAlerted: number;
}

/**
 * The job: the markers due by `now` (byDue index, kind RECONCILE). Each is first moved on to the
 * instance's slot of the next day with a write conditional on the due time read, so two overlapping
 * runs check an instance once; a check that then fails is made due again within the hour.
 */
export async function reconcileDue(svc: Services, now: Date, timeLeftMs?: () => number): Promise<ReconcileSummary> {
  const counts = { checked: 0, driftFound: 0, driftFixed: 0, driftAlerted: 0 };
  const summary = await runDueJob(svc, {
    job: 'reconcile',
    kind: 'RECONCILE',
    now,
    timeLeftMs,
    itemBudgetMs: QUERY_BUDGET_MS + HOOK_BUDGET_MS + 5000,
    handle: async (item) => {
      if (!item.instanceId) throw new Error(`due item ${item.pk}/${item.sk} has no instance id`);
      const instanceId = item.instanceId;
      const checkedAt = now.toISOString();
      // taken first, then the instance read: what is compared is the instance as it is after the claim
      const claimed = nextReconcileAt(instanceId, now);
      if (!(await svc.store.moveReconcileMarker(instanceId, item.dueAt, { dueAt: claimed, checkedAt }))) return 'skipped';
      let result: Reconciliation;
      try {
        const instance = await svc.store.getInstance(instanceId);
        if (!instance || !isReconciled(instance)) {
          // released (or never reconciled): nothing to compare, the marker leaves the index
          await svc.store.moveReconcileMarker(instanceId, claimed, { checkedAt, expireAt: new Date(now.getTime() + OFF_INDEX_TTL_MS) });
          return 'skipped';
        }
        result = await reconcileInstance(svc, instance, now);
      } catch (error) {
        // not checked: due again soon (if nobody moved the marker since)
        await svc.store.moveReconcileMarker(instanceId, claimed, { dueAt: after(checkedAt, RECONCILE_RETRY_MS), checkedAt }).catch(() => undefined);
        throw error;
      }
      if (!result.compared) return 'skipped';
      counts.checked++;
      counts.driftFound += result.drifts.length;
      counts.driftFixed += result.fixed.length;
      if (result.alerted.length) counts.driftAlerted++;
      return 'done';
    },
  });
  return { ...summary, ...counts };
}
