/**
 * Usage reported by the merchant's product, packages and rebuy intents (business rules 2.4, 2.6), and
 * the push of on-demand usage to the marketplace (2.2; spec 6.2). See metering.ts for the model.
 */
import { createHash } from 'node:crypto';
import { OpenApiError } from '#shared/openapi/client';
import { MAX_USAGE_AGE_MS, MAX_USAGE_RECORDS } from '#shared/openapi/usage';
import { formatCompactUtc, formatMarketTimeMillis } from '#shared/protocol/time';
import type { Services } from './call.ts';
import type { Threshold } from './catalogue.ts';
import type { Instance } from './instance.ts';
import { raiseQuietly } from './alerts.ts';
import { errorName, safeReason } from './errors.ts';
import { runDueJob, type JobSummary } from './jobs.ts';
import {
  freshMeter,
  hourOf,
  isServing,
  ON_DEMAND_MODES,
  packageGeneration,
  REBUY_HANDOVER_GRACE_MS,
  thresholdAmount,
  type Meter,
} from './metering.ts';
import type { UsageBucket } from './repository.ts';
import { DAY_MS, HOUR_MS } from './timers.ts';

export interface UsageInput {
  /** idempotency key of the record (unique per instance) */
  key: string;
  instanceId: string;
  /** > 0, at most 4 decimals (the marketplace's Double(12,4)) */
  amount: number;
  /** when the usage happened; default: when it is reported */
  at?: Date;
}

export type UsageResult =
  | { key: string; outcome: 'recorded' | 'duplicate'; serving: boolean; remaining?: number; rebuyIntent?: string }
  | { key: string; outcome: 'refused'; reason: string; serving: boolean; remaining?: number };

/** concurrent records on one meter are serialised by its version: each round one of them wins */
const MAX_ATTEMPTS = 30;
/** usage keys are remembered this long: a resend later than that would count twice */
const KEY_TTL_MS = 35 * DAY_MS;
/** usage older than this could not reach the marketplace within its 21-day window (MKT.9004): refused */
const MAX_REPORT_AGE_MS = MAX_USAGE_AGE_MS - DAY_MS;

const pause = (attempt: number) => new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 10 * Math.min(attempt + 1, 8)));

/** `POST /internal/usage`: each record on its own (one failing does not undo the others). */
export async function recordUsage(svc: Services, records: readonly UsageInput[], now: Date): Promise<UsageResult[]> {
  // a batch usually reports for few instances: each is read once per request, its meter once per record
  const instances = new Map<string, Promise<Instance | undefined>>();
  const instanceOf = (id: string) => instances.get(id) ?? instances.set(id, svc.store.getInstance(id)).get(id)!;
  const results: UsageResult[] = [];
  for (const record of records) results.push(await recordOne(svc, record, await instanceOf(record.instanceId), now));
  return results;
}

/** What the product's usage means for this instance: a package, plain on-demand, or not metered. */
function meteringOf(svc: Services, instance: Instance) {
  const entry = svc.catalogue.lookup(instance.product);
  const isPackage = svc.catalogue.kindOf(instance.product, instance.chargingMode) === 'package';
  return { terms: entry?.package, isPackage, metered: isPackage || ON_DEMAND_MODES.has(instance.chargingMode) };
}

/** The meter as of the instance's current package generation (a new package starts afresh). */
async function currentMeter(svc: Services, instance: Instance, now: Date) {
  const { terms, isPackage } = meteringOf(svc, instance);
  const stored = await svc.store.getMeter(instance.instanceId);
  if (stored && stored.generation === packageGeneration(instance)) return { meter: stored, version: stored.version, terms };
  return { meter: freshMeter(instance, terms, isPackage, now, stored), version: stored?.version ?? 0, terms };
}

async function recordOne(svc: Services, input: UsageInput, instance: Instance | undefined, now: Date): Promise<UsageResult> {
  const { key, instanceId, amount } = input;
  const refuse = (reason: string, meter?: Meter): UsageResult => ({
    key,
    outcome: 'refused',
    reason,
    serving: isServing(meter),
    ...(meter?.package ? { remaining: meter.package.remaining } : {}),
  });
  if (!instance) return refuse('instance not found');
  if (!meteringOf(svc, instance).metered) return refuse(`instance is not metered (charging mode ${instance.chargingMode})`);
  if (instance.status !== 'ACTIVE') return refuse(`instance is ${instance.status.toLowerCase()}`);
  if (input.at && input.at.getTime() < now.getTime() - MAX_REPORT_AGE_MS)
    return refuse('usage older than 20 days cannot be billed any more (the marketplace accepts 21 days)');

  let hour = hourOf(input.at && input.at <= now ? input.at : now);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { meter, version, terms } = await currentMeter(svc, instance, now);
    const pkg = meter.package;
    if (pkg?.stopWhenExhausted && (pkg.stoppedAt || pkg.remaining < amount)) {
      // a resend of a record that was counted is a duplicate, not a refusal
      if (await svc.store.hasUsageKey(instanceId, key)) return { key, outcome: 'duplicate', serving: isServing(meter), remaining: pkg.remaining };
      if (pkg.stoppedAt) return refuse(`package exhausted: not serving since ${pkg.stoppedAt}; buy a new package`, meter);
      // refused, and the package stops serving (once: the first refusal records why, and says so)
      const stopped: Meter = {
        ...meter,
        package: { ...pkg, stoppedAt: now.toISOString(), stopReason: `usage ${amount} would overrun the remaining ${pkg.remaining}` },
        updatedAt: now.toISOString(),
      };
      const intent = intentToRaise(svc, instance, meter, terms, pkg.remaining, now, true);
      if (intent) stopped.intent = intent;
      const saved = await svc.store.saveMeter(stopped, version);
      if (!saved) continue;
      await afterCommit(svc, instance, () => afterStop(svc, instance, saved, Boolean(intent), now));
      return refuse(`package exhausted: ${amount} exceeds the remaining ${pkg.remaining}; buy a new package`, saved);
    }
    const remaining = pkg ? round4(pkg.remaining - amount) : undefined;
    const next: Meter = {
      ...meter,
      ...(pkg && remaining !== undefined
        ? { package: { ...pkg, remaining, ...(pkg.stopWhenExhausted && remaining <= 0 ? { stoppedAt: now.toISOString(), stopReason: 'quota used up' } : {}) } }
        : {}),
      used: round4(meter.used + amount),
      records: meter.records + 1,
      lastUsageAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    const stops = Boolean(next.package?.stoppedAt && !pkg?.stoppedAt);
    const intent = pkg && remaining !== undefined ? intentToRaise(svc, instance, meter, terms, remaining, now, stops) : undefined;
    if (intent) next.intent = intent;
    const outcome = await svc.store.commitUsage({
      instanceId,
      key,
      hour,
      amount,
      ...(pkg ? { packageInstanceId: instanceId } : {}),
      meter: next,
      expectedVersion: version,
      pushDueAt: new Date(Date.parse(hour) + HOUR_MS).toISOString(),
      keyExpiresAt: new Date(now.getTime() + KEY_TTL_MS),
    });
    if (outcome === 'duplicate') return { key, outcome: 'duplicate', serving: isServing(meter), ...(pkg ? { remaining: pkg.remaining } : {}) };
    if (outcome === 'sealed') {
      // that hour was already handed to the marketplace: the record goes into the current hour
      if (hour === hourOf(now)) return refuse('the usage of this hour was already pushed to the marketplace', meter);
      hour = hourOf(now);
      continue;
    }
    if (outcome === 'conflict') {
      await pause(attempt);
      continue;
    }
    const stored = { ...next, version: version + 1 };
    if (stops) await afterCommit(svc, instance, () => afterStop(svc, instance, stored, Boolean(intent), now));
    else if (intent) await afterCommit(svc, instance, () => handOverIntent(svc, instance, stored, now));
    return { key, outcome: 'recorded', serving: isServing(next), ...(remaining !== undefined ? { remaining } : {}), ...(intent ? { rebuyIntent: intent.id } : {}) };
  }
  throw new Error(`usage on instance ${instanceId} kept conflicting`);
}

const attemptOf = (intentId: string) => Number(/#(\d+)$/.exec(intentId)?.[1] ?? 1);

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

const autoRebuyOf = (meter: Meter, terms: { autoRebuy?: boolean } | undefined) => meter.autoRebuy ?? terms?.autoRebuy ?? false;

/**
 * A rebuy intent to raise with this write: auto-rebuy on, none yet for this generation, and the
 * threshold reached, or the package stopping (it must not run dry silently, whatever the threshold).
 */
function intentToRaise(
  svc: Services,
  instance: Instance,
  meter: Meter,
  terms: { threshold?: Threshold; autoRebuy?: boolean } | undefined,
  remaining: number,
  now: Date,
  stopping = false,
  attempt = 1,
) {
  const threshold = meter.threshold ?? terms?.threshold;
  if (!autoRebuyOf(meter, terms) || !meter.package || meter.intent?.generation === meter.generation) return undefined;
  if (!stopping && (!threshold || remaining > thresholdAmount(threshold, meter.package.quota))) return undefined;
  svc.logger.info('package threshold reached', { instanceId: instance.instanceId, remaining });
  return {
    // a re-armed intent (after a failure) is a new one downstream: the attempt is part of its id
    id: `rebuy:${instance.instanceId}:${meter.generation}#${attempt}`,
    generation: meter.generation,
    state: 'PENDING' as const,
    raisedAt: now.toISOString(),
    remaining,
    dueAt: new Date(now.getTime() + REBUY_HANDOVER_GRACE_MS).toISOString(),
  };
}

/**
 * What follows a committed usage write (hand-overs, notices) never turns the record into a failure: the
 * record is counted; a pending intent is picked up by the sweep.
 */
async function afterCommit(svc: Services, instance: Instance, work: () => Promise<unknown>) {
  try {
    await work();
  } catch (error) {
    svc.logger.error('after a usage record: follow-up failed', { instanceId: instance.instanceId, error: errorName(error) });
  }
}

/**
 * A package just stopped serving: the rebuy intent this write raised goes out; one raised earlier is
 * already being handed over (by its deduction or the sweep); without any, the buyer is told.
 */
async function afterStop(svc: Services, instance: Instance, meter: Meter, raisedHere: boolean, now: Date) {
  if (raisedHere) {
    await handOverIntent(svc, instance, meter, now);
    return;
  }
  if (meter.intent?.generation === meter.generation && meter.intent.state !== 'FAILED') return;
  await svc.notifier
    .notifyBuyer({
      kind: 'package-exhausted',
      to: instance.buyer ?? {},
      subject: { instanceId: instance.instanceId, orderId: instance.orderId },
      message: `Your package is used up (${meter.package?.stopReason ?? 'quota used up'}); the service has stopped. Buy a new package to continue.`,
    })
    .catch((error: unknown) =>
      raiseQuietly(svc.alerts, svc.logger, {
        kind: 'package-exhausted-not-notified',
        subject: { instanceId: instance.instanceId },
        message: `the buyer could not be told: ${safeReason(error)}`,
      }),
    );
}

/**
 * Hands a pending intent to the notifier, then records the outcome on the meter (conditional on its
 * version; re-read on a conflict). A failure is recorded with its reason and the buyer is told on the
 * configured channel; it is not retried (the buyer fixes the configuration, as on the platform).
 */
async function handOverIntent(svc: Services, instance: Instance, meter: Meter, now: Date): Promise<'done' | 'skipped'> {
  const intent = meter.intent;
  if (!intent || intent.state !== 'PENDING' || !meter.package) return 'skipped';
  let settled: Pick<typeof intent, 'state' | 'reason'>;
  try {
    await svc.notifier.rebuy({
      intentId: intent.id,
      instanceId: instance.instanceId,
      orderId: instance.orderId,
      generation: intent.generation,
      quota: meter.package.quota,
      remaining: intent.remaining,
      threshold: meter.threshold ?? svc.catalogue.lookup(instance.product)?.package?.threshold ?? { amount: intent.remaining },
      ...(instance.product.productId ? { productId: instance.product.productId } : {}),
      ...(instance.product.skuCode ? { skuCode: instance.product.skuCode } : {}),
      ...(instance.buyer?.customerId ? { customerId: instance.buyer.customerId } : {}),
      raisedAt: intent.raisedAt,
    });
    settled = { state: 'NOTIFIED' };
  } catch (error) {
    settled = { state: 'FAILED', reason: safeReason(error) };
    svc.logger.warn('rebuy intent failed', { instanceId: instance.instanceId, intentId: intent.id, error: settled.reason });
    await svc.notifier
      .notifyBuyer({
        kind: 'rebuy-failed',
        to: instance.buyer ?? {},
        subject: { instanceId: instance.instanceId, orderId: instance.orderId },
        message: 'The automatic repurchase of your package could not be placed. Please check your auto-rebuy settings or buy a new package.',
      })
      .catch((notifyError: unknown) =>
        raiseQuietly(svc.alerts, svc.logger, {
          kind: 'rebuy-failure-not-notified',
          subject: { instanceId: instance.instanceId },
          message: `rebuy failed (${settled.reason}) and the buyer could not be told: ${safeReason(notifyError)}`,
        }),
      );
  }
  for (let current: Meter | undefined = meter; current?.intent?.id === intent.id && current.intent.state === 'PENDING'; current = await svc.store.getMeter(instance.instanceId)) {
    const saved = await svc.store.saveMeter({ ...current, intent: { ...current.intent, ...settled }, updatedAt: now.toISOString() }, current.version);
    if (saved) return 'done';
  }
  return 'skipped';
}

/**
 * autoRebuyCheck: intents a deduction raised but could not hand over (its process died) are handed over.
 * The deduction's own write is its lease (the intent falls due only after a grace); the sweep takes a
 * new lease with a conditional write before it calls the notifier. The intent id is stable, so the
 * rare double hand-over (a lease outlived) is de-duplicated downstream.
 */
export function checkRebuyIntents(svc: Services, now: Date, timeLeftMs?: () => number): Promise<JobSummary> {
  return runDueJob(svc, {
    job: 'autoRebuyCheck',
    kind: 'REBUY',
    now,
    timeLeftMs,
    handle: async (item) => {
      const [instance, meter] = await Promise.all([svc.store.getInstance(item.instanceId!), svc.store.getMeter(item.instanceId!)]);
      const intent = meter?.intent;
      if (!instance || !meter || intent?.state !== 'PENDING' || intent.dueAt > now.toISOString()) return 'skipped';
      if (intent.generation !== packageGeneration(instance) || instance.status !== 'ACTIVE') {
        // a new package was bought, or the instance is frozen / released: that rebuy is moot
        const moot = { ...meter, intent: { ...intent, state: 'FAILED' as const, reason: `not handed over: instance ${instance.status.toLowerCase()}, package ${packageGeneration(instance)}` } };
        return (await svc.store.saveMeter(moot, meter.version)) ? 'done' : 'skipped';
      }
      // claim it (a conditional write) before calling anyone: two runs hand it over once
      const lease = new Date(now.getTime() + REBUY_HANDOVER_GRACE_MS).toISOString();
      const claimed = await svc.store.saveMeter({ ...meter, intent: { ...intent, dueAt: lease } }, meter.version);
      return claimed ? handOverIntent(svc, instance, claimed, now) : 'skipped';
    },
  });
}

/**
 * Per-instance package settings (`POST /internal/instances/{instanceId}/package`): the threshold and
 * auto-rebuy override the catalogue; a threshold already reached raises the intent at once.
 */
export async function setPackageSettings(svc: Services, instanceId: string, input: { threshold?: Threshold; autoRebuy?: boolean }, now: Date) {
  const instance = await svc.store.getInstance(instanceId);
  if (!instance) return undefined;
  if (instance.status !== 'ACTIVE') return { error: `instance is ${instance.status.toLowerCase()}` } as const;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { meter, version, terms } = await currentMeter(svc, instance, now);
    if (!meter.package) return { error: 'instance is not a package' } as const;
    // a failed rebuy is re-armed by the buyer's new settings (as on the platform: FAILED → ARMED)
    const { intent: previous, ...rest } = meter;
    const next: Meter = {
      ...rest,
      ...(previous && previous.state !== 'FAILED' ? { intent: previous } : {}),
      ...(input.threshold ? { threshold: input.threshold } : {}),
      ...(input.autoRebuy !== undefined ? { autoRebuy: input.autoRebuy } : {}),
      updatedAt: now.toISOString(),
    };
    const rearm = previous?.state === 'FAILED' && previous.generation === meter.generation ? attemptOf(previous.id) + 1 : 1;
    const intent = intentToRaise(svc, instance, next, terms, meter.package.remaining, now, Boolean(meter.package.stoppedAt), rearm);
    if (intent) next.intent = intent;
    const saved = await svc.store.saveMeter(next, version);
    if (!saved) continue;
    if (intent) await handOverIntent(svc, instance, saved, now);
    return { meter: (await svc.store.getMeter(instanceId)) ?? saved };
  }
  throw new Error(`package settings of ${instanceId} kept conflicting`);
}

/** The queryInstance `usageInfo` of metered instances (spec 3.2), from their meters (one batch read). */
export async function usageInfoOf(svc: Services, instances: readonly Instance[], now: Date): Promise<Map<string, Array<Record<string, unknown>>>> {
  const metered = instances.filter((i) => meteringOf(svc, i).metered);
  const info = new Map<string, Array<Record<string, unknown>>>();
  if (metered.length === 0) return info;
  const meters = await svc.store.getMeters(metered.map((i) => i.instanceId));
  for (const instance of metered) {
    const meter = meters.get(instance.instanceId);
    const current = meter && meter.generation === packageGeneration(instance) ? meter : undefined;
    info.set(instance.instanceId, [
      { usageValue: current?.used ?? 0, statisticalTime: formatMarketTimeMillis(current?.lastUsageAt ? new Date(current.lastUsageAt) : now) },
    ]);
  }
  return info;
}

// ------------------------------------------------------------------ usage push

/** A push attempt that never settles (process died) is retried after this. */
const PUSH_LEASE_MS = 10 * 60_000;
/** attempts after which a failing push is alerted (once) */
const ALERT_AFTER_ATTEMPTS = 3;
const retryDelay = (attempts: number) => Math.min(15 * 60_000 * 2 ** Math.max(0, attempts - 1), 6 * HOUR_MS);

/** The record id the marketplace sees for an hour of an instance: the same on every retry. */
export const meteringSn = (instanceId: string, hour: string) => createHash('sha256').update(`${instanceId}|${hour}`).digest('hex');

/**
 * usagePush: every hour bucket that ended (OPEN), failed before (FAILED, once its retry is due) or whose
 * push never settled is claimed (sealed: later usage goes to another hour), pushed in batches of at
 * most 100 with a deterministic metering_sn, and settled: PUSHED, FAILED (retried with backoff),
 * REJECTED (the marketplace named it invalid: alerted, never resent) or EXPIRED (began more than
 * 21 days ago: the marketplace would refuse it; alerted).
 */
export async function pushDueUsage(svc: Services, now: Date, timeLeftMs?: () => number): Promise<JobSummary> {
  const claimed: UsageBucket[] = [];
  const summary = await runDueJob(svc, {
    job: 'usagePush',
    kind: 'PUSH',
    now,
    timeLeftMs,
    handle: async (item) => {
      const bucket = await svc.store.claimBucket(item.instanceId!, item.hour!, now.toISOString(), new Date(now.getTime() + PUSH_LEASE_MS).toISOString());
      if (!bucket) return 'skipped';
      if (Date.parse(bucket.hour) < now.getTime() - MAX_USAGE_AGE_MS) {
        await svc.store.settleBucket(bucket.instanceId, bucket.hour, { state: 'EXPIRED', lastError: 'began more than 21 days ago' });
        await raiseQuietly(svc.alerts, svc.logger, {
          kind: 'usage-too-old',
          subject: { instanceId: bucket.instanceId },
          message: `usage of the hour ${bucket.hour} (${bucket.value}) was never pushed and is now outside the marketplace's 21-day window`,
        });
        return 'done';
      }
      claimed.push(bucket);
      return 'done';
    },
  });
  for (let i = 0; i < claimed.length; i += MAX_USAGE_RECORDS) {
    const batch = claimed.slice(i, i + MAX_USAGE_RECORDS);
    // a batch that could not even be settled stays SENDING and is retried after its lease
    const failed = await pushBatch(svc, batch, now).catch((error: unknown) => {
      svc.logger.error('usage push batch could not be settled', { records: batch.length, error: errorName(error) });
      return batch.length;
    });
    summary.failed += failed;
    summary.done -= failed;
  }
  return summary;
}

/** Pushed: recorded as such, insistently (a bucket left SENDING would be pushed again after its lease). */
async function settlePushed(svc: Services, b: UsageBucket, now: Date) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await svc.store.settleBucket(b.instanceId, b.hour, { state: 'PUSHED', pushedAt: now.toISOString() });
    } catch (error) {
      if (attempt >= 5) {
        svc.logger.error('pushed usage could not be recorded as pushed; it may be pushed again after its lease', {
          instanceId: b.instanceId,
          hour: b.hour,
          error: errorName(error),
        });
        return;
      }
      await pause(attempt);
    }
  }
}

/** Pushes one batch and settles each bucket; returns how many failed. */
async function pushBatch(svc: Services, buckets: UsageBucket[], now: Date): Promise<number> {
  const records = buckets.map((b) => ({
    instance_id: b.instanceId,
    record_time: formatCompactUtc(now),
    begin_time: formatCompactUtc(new Date(b.hour)),
    end_time: formatCompactUtc(new Date(Date.parse(b.hour) + HOUR_MS - 1000)),
    usage_value: String(round4(b.value)),
    metering_sn: meteringSn(b.instanceId, b.hour),
    ...(b.packageInstanceId ? { relate_pkg_instance: b.packageInstanceId } : {}),
  }));
  try {
    await svc.marketplace.pushUsage(records);
  } catch (error) {
    return settleFailedPush(svc, buckets, error, now);
  }
  // outside the try: a settle that fails after a successful push must never mark the batch FAILED
  await Promise.all(buckets.map((b) => settlePushed(svc, b, now)));
  return 0;
}

/** The push failed: records the marketplace named invalid are REJECTED, the others FAILED (retried). */
async function settleFailedPush(svc: Services, buckets: UsageBucket[], error: unknown, now: Date): Promise<number> {
  const rejected = rejectedSns(error);
  const reason = errorName(error).slice(0, 300);
  svc.logger.warn('usage push failed', { records: buckets.length, rejected: rejected.size, error: reason });
  for (const b of buckets) {
    if (rejected.has(meteringSn(b.instanceId, b.hour))) {
      await svc.store.settleBucket(b.instanceId, b.hour, { state: 'REJECTED', lastError: reason });
      await raiseQuietly(svc.alerts, svc.logger, { kind: 'usage-rejected', subject: { instanceId: b.instanceId }, message: `the marketplace refused the usage of ${b.hour}: ${reason}` });
      continue;
    }
    await svc.store.settleBucket(b.instanceId, b.hour, {
      state: 'FAILED',
      lastError: reason,
      retryAt: new Date(now.getTime() + retryDelay(b.attempts ?? 1)).toISOString(),
    });
    // a push that keeps failing (a wrong key, the API down) loses revenue after 21 days: say so early
    if (b.attempts === ALERT_AFTER_ATTEMPTS)
      await raiseQuietly(svc.alerts, svc.logger, { kind: 'usage-push-failing', subject: { instanceId: b.instanceId }, message: `the usage of ${b.hour} failed ${b.attempts} pushes: ${reason}` });
  }
  return buckets.length;
}

/** The records the marketplace named invalid (MKT.9002 / 9004 carry them in extra_info). */
function rejectedSns(error: unknown): Set<string> {
  if (!(error instanceof OpenApiError) || error.kind !== 'business') return new Set();
  const details = error.details as { abnormal_usage_data?: Array<{ metering_sn?: string | null } | string> } | undefined;
  const list = details?.abnormal_usage_data ?? [];
  return new Set(list.map((x) => (typeof x === 'string' ? x : (x.metering_sn ?? ''))).filter(Boolean));
}
