/**
 * License 2.0 authorization codes (spec 3.11, 6.3; business rules 1.4): what we keep about a code and the
 * pure, table-driven decision of what one event does to it. No I/O here (see licenseService.ts).
 *
 * States (ours, driven by the marketplace's callbacks): ACTIVE → FROZEN (updateLicenseCodeStatus FREEZE)
 * → ACTIVE (UNFREEZE) → … → RELEASED (releaseLicenseCode; terminal: nothing changes a released code).
 * Beside the state we keep the marketplace's own facts: `marketStatus` (ALIVE / EXPIRED / RELEASED from
 * the activation and the query ("heartbeat") API) and the expiry with where it came from. The activation's
 * expiry is an ESTIMATE (spec 6.3); an expiry from refreshLicenseCode or from the heartbeat is "known".
 *
 * Idempotency (spec 5 recommendations): refresh by (license, orderId, scene), kept in `appliedOps` (also
 * when the refresh was judged stale, so a resend can never apply later); status by (license, status): a
 * FREEZE of a frozen code, an UNFREEZE of an active one is a repeat; release by license.
 *
 * Out of order (the retries run 2 h, every 2 min, so a late resend can overtake newer calls). The calls
 * carry no event time (the signature timestamp is the time of each resend), so we order them by the facts
 * they change:
 * - FREEZE is sent only after expiry plus grace (spec 3.11): a FREEZE while the known expiry lies after
 *   the call is older than the renewal that moved the expiry, and is ignored (answered 000000).
 * - UNFREEZE is sent after a renewal: an UNFREEZE while the known expiry has passed is either a resend
 *   from before a later expiry, or it overtook its own refresh. It is HELD (`unfreezeHeldAt`, state stays
 *   FROZEN) and completed by the refresh that moves the expiry after the call; a stale one never is.
 * - RENEWAL only extends: a renewal whose expiry is not later than the known one is stale.
 *   UNSUBSCRIBE_RENEWAL_PERIOD only shortens: one whose expiry is not earlier than the known one is stale.
 * - The heartbeat's answer is the authority (business rules 1.4): it sets the expiry, and its status
 *   RELEASED releases the code, ALIVE with an expiry ahead unfreezes a frozen code.
 * What the protocol cannot tell: a renewal refunded by an unsubscription that arrived first looks like a
 * new renewal made after it (both move the expiry later); a FREEZE for another reason than expiry
 * (undocumented for License 2.0) while the expiry lies ahead would be ignored. The next day's heartbeat
 * corrects the expiry and the status in both cases.
 */
import type { CallReceipt } from './repository.ts';

export type LicenseState = 'ACTIVE' | 'FROZEN' | 'RELEASED';
export type LicenseRefreshScene = 'RENEWAL' | 'UNSUBSCRIBE_RENEWAL_PERIOD';
export type ExpireSource = 'activation' | 'refresh' | 'heartbeat';

/** What we keep about one code (times ISO 8601 UTC). */
export interface LicenseCode {
  code: string;
  state: LicenseState;
  /** how the code became known: activated through our route, or found activated (92020003) */
  registeredBy: 'activation' | 'heartbeat';
  /** the marketplace's status as last seen (activation `status`, heartbeat `status`) */
  marketStatus?: string;
  activatedAt?: string;
  expireTime?: string;
  expireSource?: ExpireSource;
  productId?: string;
  orderId?: string;
  amount?: number;
  frozenAt?: string;
  unfrozenAt?: string;
  /** an UNFREEZE that arrived while the known expiry had passed (see the module comment) */
  unfreezeHeldAt?: string;
  releasedAt?: string;
  releaseOrderId?: string;
  /** idempotency keys of the refreshes seen (bounded) */
  appliedOps: string[];
  /** heartbeat: the UTC day (yyyy-MM-dd) claimed last; the claim while its marketplace call runs */
  heartbeatDay?: string;
  claimToken?: string;
  claimUntil?: string;
  /** the last successful heartbeat */
  checkedAt?: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export type LicenseEvent =
  | { kind: 'REFRESH'; scene: LicenseRefreshScene; orderId: string; orderLineId: string; expireTime: Date; productId?: string }
  | { kind: 'FREEZE' }
  | { kind: 'UNFREEZE' }
  | { kind: 'RELEASE'; orderId?: string }
  /** the query API's answer (the authority on status and expiry) */
  | { kind: 'HEARTBEAT'; status: string; expireTime?: Date; activatedAt?: string };

/**
 * - applied: `change` is written;
 * - held: an UNFREEZE kept for its refresh (`change` written, state unchanged);
 * - repeat: already so, nothing to write;
 * - stale: older than what we know, nothing changes (a refresh still records its key);
 * - terminal: the code is released, nothing changes.
 * All are answered 000000: the marketplace must stop resending.
 */
export type LicenseOutcome = 'applied' | 'held' | 'repeat' | 'stale' | 'terminal';

export interface LicenseDecision {
  outcome: LicenseOutcome;
  /** fields to write (with appliedOps when the event has a key); absent = nothing to write */
  change?: Partial<LicenseCode>;
  why: string;
}

/** refreshes remembered per code (a code sees one renewal per period) */
export const MAX_APPLIED_OPS = 50;

export const opKeyOf = (event: LicenseEvent): string | undefined =>
  event.kind === 'REFRESH' ? `refresh:${event.orderId}:${event.scene}` : undefined;

/** The expiry we may order events by: from a refresh or the heartbeat, never the activation's estimate. */
export function knownExpiry(code: LicenseCode): Date | undefined {
  if (!code.expireTime || code.expireSource === 'activation' || code.expireSource === undefined) return undefined;
  const at = new Date(code.expireTime);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

type Rule<E extends LicenseEvent = LicenseEvent> = (code: LicenseCode, event: E, now: Date) => LicenseDecision;
type Rules = { [K in LicenseEvent['kind']]: Record<LicenseState, Rule<Extract<LicenseEvent, { kind: K }>>> };

const iso = (d: Date) => d.toISOString();
const released: Rule = () => ({ outcome: 'terminal', why: 'code already released' });
const repeat = (why: string): Rule => () => ({ outcome: 'repeat', why });

const refresh: Rule<Extract<LicenseEvent, { kind: 'REFRESH' }>> = (code, e, now) => {
  const known = knownExpiry(code);
  const next = e.expireTime.getTime();
  if (known && e.scene === 'RENEWAL' && next <= known.getTime())
    return { outcome: 'stale', why: `renewal to ${iso(e.expireTime)} does not extend the known expiry ${iso(known)}` };
  if (known && e.scene === 'UNSUBSCRIBE_RENEWAL_PERIOD' && next >= known.getTime())
    return { outcome: 'stale', why: `renewal unsubscription to ${iso(e.expireTime)} does not shorten the known expiry ${iso(known)}` };
  const change: Partial<LicenseCode> = { expireTime: iso(e.expireTime), expireSource: 'refresh', ...(e.productId ? { productId: e.productId } : {}) };
  // an UNFREEZE that overtook this renewal completes now
  if (code.state === 'FROZEN' && code.unfreezeHeldAt && next > now.getTime())
    Object.assign(change, { state: 'ACTIVE', unfrozenAt: iso(now), frozenAt: undefined, unfreezeHeldAt: undefined });
  return { outcome: 'applied', change, why: `${e.scene} to ${iso(e.expireTime)}` };
};

const freeze: Rule = (code, _e, now) => {
  const known = knownExpiry(code);
  if (known && known > now) return { outcome: 'stale', why: `known expiry ${iso(known)} lies ahead: this freeze predates a renewal` };
  return { outcome: 'applied', change: { state: 'FROZEN', frozenAt: iso(now), unfreezeHeldAt: undefined }, why: 'frozen' };
};

const unfreeze: Rule = (code, _e, now) => {
  const known = knownExpiry(code);
  if (known && known <= now)
    return { outcome: 'held', change: { unfreezeHeldAt: iso(now) }, why: `known expiry ${iso(known)} has passed: unfreeze held for its renewal` };
  return { outcome: 'applied', change: { state: 'ACTIVE', unfrozenAt: iso(now), frozenAt: undefined, unfreezeHeldAt: undefined }, why: 'unfrozen' };
};

const release: Rule<Extract<LicenseEvent, { kind: 'RELEASE' }>> = (_code, e, now) => ({
  outcome: 'applied',
  change: { state: 'RELEASED', releasedAt: iso(now), ...(e.orderId ? { releaseOrderId: e.orderId } : {}), unfreezeHeldAt: undefined },
  why: e.orderId ? `released (unsubscription order ${e.orderId})` : 'released',
});

const heartbeat: Rule<Extract<LicenseEvent, { kind: 'HEARTBEAT' }>> = (code, e, now) => {
  const change: Partial<LicenseCode> = {
    marketStatus: e.status,
    checkedAt: iso(now),
    ...(e.expireTime ? { expireTime: iso(e.expireTime), expireSource: 'heartbeat' as const } : {}),
    ...(e.activatedAt && !code.activatedAt ? { activatedAt: e.activatedAt } : {}),
  };
  if (code.state !== 'RELEASED' && e.status === 'RELEASED') Object.assign(change, { state: 'RELEASED', releasedAt: iso(now), unfreezeHeldAt: undefined });
  else if (code.state === 'FROZEN' && e.status === 'ALIVE' && (!e.expireTime || e.expireTime > now))
    Object.assign(change, { state: 'ACTIVE', unfrozenAt: iso(now), frozenAt: undefined, unfreezeHeldAt: undefined });
  return { outcome: 'applied', change, why: `marketplace says ${e.status}` };
};

/** The decision table: event × state. */
const RULES: Rules = {
  REFRESH: { ACTIVE: refresh, FROZEN: refresh, RELEASED: released },
  FREEZE: { ACTIVE: freeze, FROZEN: repeat('already frozen'), RELEASED: released },
  UNFREEZE: { ACTIVE: repeat('already active'), FROZEN: unfreeze, RELEASED: released },
  RELEASE: { ACTIVE: release, FROZEN: release, RELEASED: repeat('already released') },
  // the authority's facts are recorded whatever the state (a released code keeps RELEASED)
  HEARTBEAT: { ACTIVE: heartbeat, FROZEN: heartbeat, RELEASED: heartbeat },
};

/** What `event` does to `code` at `now` (the call's time). Pure. */
export function decideLicense(code: LicenseCode, event: LicenseEvent, now: Date): LicenseDecision {
  const key = opKeyOf(event);
  if (key && code.appliedOps.includes(key)) return { outcome: 'repeat', why: 'already applied' };
  const rule = RULES[event.kind][code.state] as Rule;
  const decision = rule(code, event, now);
  if (!key || decision.outcome === 'repeat') return decision;
  // a refresh's key is remembered whatever it did, so that a resend is a repeat
  return { ...decision, change: { ...decision.change, appliedOps: [...code.appliedOps, key].slice(-MAX_APPLIED_OPS) } };
}

/** The next version of `code` after `decision` (undefined when there is nothing to write). */
export function applyDecision(code: LicenseCode, decision: LicenseDecision, now: Date): LicenseCode | undefined {
  if (!decision.change) return undefined;
  return { ...code, ...decision.change, updatedAt: iso(now) };
}

/** The UTC day of `now`, yyyy-MM-dd (the heartbeat's "once per day"). */
export const utcDay = (now: Date) => now.toISOString().slice(0, 10);

/** May this call claim the day's heartbeat: not yet claimed today, or the claim of a caller that died lapsed. */
export function heartbeatClaimable(code: LicenseCode, now: Date): boolean {
  const today = utcDay(now);
  if (!code.heartbeatDay || code.heartbeatDay < today) return true;
  return code.heartbeatDay === today && code.claimToken !== undefined && (code.claimUntil ?? '') < iso(now);
}

/** Stores the code (domain view of shared/storage/licenses.ts). */
export interface LicenseRepository {
  getLicense(code: string): Promise<LicenseCode | undefined>;
  /**
   * Writes `next` (its version becomes expectedVersion + 1, or 0 when created: expectedVersion undefined)
   * if the stored version is still `expectedVersion` (or no record exists). The call's receipt (nonce +
   * audit) goes in the same transaction. Undefined = lost the race (re-read and decide again);
   * NonceReplayError = the nonce was used (nothing written).
   */
  saveLicense(next: LicenseCode, expectedVersion: number | undefined, receipt?: CallReceipt): Promise<LicenseCode | undefined>;
  /** a call that changed no code (unknown code, repeat): its nonce and audit record */
  recordLicenseCall(code: string, receipt: CallReceipt): Promise<void>;
}
