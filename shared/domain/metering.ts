/**
 * Metered usage (business rules 2.1–2.6; spec 3.2 UsageInfo, 6.2): the merchant's product reports
 * usage records (`POST /internal/usage`, one idempotency key per record). Each record, in ONE
 * conditional transaction: its key is remembered (a resend changes nothing), the instance's meter is
 * moved (a usage-stop package's remaining quota can never go below zero: the record that would
 * overrun is refused and the package stops serving), and the hour's usage bucket grows (pushed to the
 * marketplace by usagePush). When a package's remaining quota reaches its threshold with auto-rebuy
 * on, one rebuy intent per package generation is raised in the same write.
 */
import type { PackageTerms, Threshold } from './catalogue.ts';
import type { Instance } from './instance.ts';
import type { Due } from './timers.ts';

export interface RebuyState {
  id: string;
  generation: string;
  state: 'PENDING' | 'NOTIFIED' | 'FAILED';
  raisedAt: string;
  remaining: number;
  /** when the autoRebuyCheck sweep hands a PENDING intent over if the deduction that raised it could not */
  dueAt: string;
  reason?: string;
}

export interface PackageState {
  quota: number;
  remaining: number;
  stopWhenExhausted: boolean;
  /** a usage-stop package that reached zero or refused an overrun: not serving until a new package */
  stoppedAt?: string;
  stopReason?: string;
}

export interface Meter {
  instanceId: string;
  /** the package purchase this meter counts (the new-purchase order, then each renewal order) */
  generation: string;
  package?: PackageState;
  /** usage recorded in this generation */
  used: number;
  records: number;
  lastUsageAt?: string;
  /** per-instance overrides of the catalogue's package terms */
  threshold?: Threshold;
  autoRebuy?: boolean;
  intent?: RebuyState;
  updatedAt: string;
  version: number;
}

/** How long the deduction that raised an intent has to hand it over before the sweep does. */
export const REBUY_HANDOVER_GRACE_MS = 2 * 60_000;

export const ON_DEMAND_MODES: ReadonlySet<string> = new Set(['ON_DEMAND', 'ON_DEMAND_PKG']);

/** The package generation of an instance: its purchase, then each renewal (a new package bought). */
export function packageGeneration(instance: Pick<Instance, 'orderId' | 'appliedOps'>): string {
  const renewals = instance.appliedOps.filter((op) => /^refresh:.*:(RENEWAL|RENEWAL_CHANGE)$/.test(op));
  return renewals.at(-1) ?? `order:${instance.orderId}`;
}

export const thresholdAmount = (threshold: Threshold, quota: number) => ('percent' in threshold ? (quota * threshold.percent) / 100 : threshold.amount);

/** A fresh meter for the instance's current generation (a package starts with its whole quota). */
export function freshMeter(instance: Instance, terms: PackageTerms | undefined, isPackage: boolean, now: Date, previous?: Meter): Meter {
  const quota = terms?.quota ?? instance.product.linearValue;
  return {
    instanceId: instance.instanceId,
    generation: packageGeneration(instance),
    ...(isPackage && quota !== undefined
      ? { package: { quota, remaining: quota, stopWhenExhausted: terms?.stopWhenExhausted ?? true } }
      : {}),
    used: 0,
    records: 0,
    // the buyer's own settings survive a new package
    ...(previous?.threshold ? { threshold: previous.threshold } : {}),
    ...(previous?.autoRebuy !== undefined ? { autoRebuy: previous.autoRebuy } : {}),
    updatedAt: now.toISOString(),
    version: previous?.version ?? 0,
  };
}

export const isServing = (meter: Meter | undefined) => !meter?.package?.stoppedAt;

/** A meter waits for the sweep only while a rebuy intent has not been handed over. */
export const meterDue = (meter: Meter): Due | undefined =>
  meter.intent?.state === 'PENDING' ? { kind: 'REBUY', at: meter.intent.dueAt } : undefined;

/** The hour bucket an instant falls in: `2026-11-24T15:00:00.000Z`. */
export const hourOf = (d: Date) => new Date(Math.floor(d.getTime() / 3_600_000) * 3_600_000).toISOString();
