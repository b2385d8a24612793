/**
 * License 2.0 codes in use: the three marketplace callbacks (spec 3.11) and the product's two internal
 * routes, activation and the daily heartbeat (spec 6.3). Decisions are licenseCodes.ts's; this module
 * reads, decides, writes (conditionally on the version read) and re-decides when it lost a race.
 *
 * Which codes are known. The order query documents no License field (shared/openapi/order.ts) and there
 * is no create callback (spec 3.11), so a code becomes known only when the product activates it through
 * POST /internal/licenses/{code}/activate (also when the marketplace answers "already activated",
 * 92020003: then the heartbeat supplies its facts). A callback for a code with no record answers 000003
 * ("authorization code does not exist") and records the call (nonce, audit) but no code: a code we know
 * is never deleted (a released one stays RELEASED, and answers 000000 to every later call). A callback
 * refused for a code activated later costs nothing the heartbeat cannot restore: its answer is the
 * authority on status and expiry (business rules 1.4).
 *
 * The heartbeat, at most once per code per UTC day however many product calls race: the caller first
 * claims the day with a conditional write (heartbeatDay < today, or a lapsed claim); only the winner calls
 * the marketplace and records its answer. The others do not wait: they answer the facts stored so far,
 * `fromCache: true`, with `refreshing: true` while the winner's call is in flight. A failed marketplace
 * call gives the claim back (only if still ours), so the next call retries; a winner that died leaves a
 * claim that lapses after CLAIM_LEASE_MS.
 */
import { randomUUID } from 'node:crypto';
import { licenseErrorCode, LicenseResult, type ActivatedLicense, type LicenseInfo } from '#shared/openapi/license';
import { parseMarketTime } from '#shared/protocol/time';
import { ResultCode } from '#shared/protocol/resultCodes';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { errorName } from './errors.ts';
import {
  applyDecision,
  decideLicense,
  heartbeatClaimable,
  utcDay,
  type LicenseCode,
  type LicenseEvent,
} from './licenseCodes.ts';
import { failure, success } from './replies.ts';

/** the answer of an internal route (shared/http/internalRoute.ts InternalResult) */
export type RouteResult = { status: number; body: unknown };

const MAX_ATTEMPTS = 8;
/** how long a heartbeat claim holds before another caller may take the day over (the route times out at 29 s) */
export const CLAIM_LEASE_MS = 60_000;

// ------------------------------------------------------------------ callbacks

/**
 * One License callback: the event applied to the stored code, the call's receipt in the same write.
 * Unknown code → 000003; every decision of the table (applied, held, repeat, stale, terminal) → 000000.
 */
export async function applyLicenseCallback(
  svc: Services,
  call: Call,
  code: string,
  event: LicenseEvent,
  subject: { orderId?: string; orderLineId?: string } = {},
): Promise<Reply> {
  const ids = Object.fromEntries(Object.entries(subject).filter(([, v]) => v !== undefined));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await svc.licenses.getLicense(code);
    if (!current) {
      const reply = failure(ResultCode.INSTANCE_NOT_FOUND, `authorization code does not exist: ${code}`);
      await svc.licenses.recordLicenseCall(code, receiptOf(call, reply, ids));
      return reply;
    }
    const decision = decideLicense(current, event, call.receivedAt);
    const reply = decision.outcome === 'applied' ? success() : success({}, `success. (${decision.why})`);
    const next = applyDecision(current, decision, call.receivedAt);
    if (!next) {
      await svc.licenses.recordLicenseCall(code, receiptOf(call, reply, ids));
      return reply;
    }
    if (await svc.licenses.saveLicense(next, current.version, receiptOf(call, reply, ids))) {
      svc.logger.info('license code changed', { code, event: event.kind, outcome: decision.outcome, state: next.state });
      return reply;
    }
  }
  throw new Error(`license code ${code} kept changing under ${event.kind}`);
}

// ------------------------------------------------------------------ what the product is answered

export interface LicenseView {
  code: string;
  /** the marketplace's status as last checked (ALIVE / EXPIRED / RELEASED): the authority */
  status: string | null;
  /** ours, from the callbacks: ACTIVE / FROZEN / RELEASED */
  state: string;
  /** whether the software may run: ACTIVE here and neither EXPIRED nor RELEASED there */
  usable: boolean;
  expireTime: string | null;
  /** 'activation' = the estimate of spec 6.3; 'refresh' / 'heartbeat' = known */
  expireSource: string | null;
  activatedAt: string | null;
  checkedAt: string | null;
  /** answered from the table without calling the marketplace now */
  fromCache: boolean;
  /** another call's marketplace check of today is in flight (its answer is not in this one) */
  refreshing?: boolean;
}

export function licenseView(c: LicenseCode, fromCache: boolean, extra: { refreshing?: boolean } = {}): LicenseView {
  return {
    code: c.code,
    status: c.marketStatus ?? null,
    state: c.state,
    usable: c.state === 'ACTIVE' && c.marketStatus !== 'EXPIRED' && c.marketStatus !== 'RELEASED',
    expireTime: c.expireTime ?? null,
    expireSource: c.expireSource ?? null,
    activatedAt: c.activatedAt ?? null,
    checkedAt: c.checkedAt ?? null,
    fromCache,
    ...extra,
  };
}

/** A marketplace time (yyyyMMddHHmmss) as ISO; other text as received; undefined stays undefined. */
const isoOf = (market?: string) => (market === undefined ? undefined : (parseMarketTime(market)?.toISOString() ?? market));

function newCode(code: string, registeredBy: LicenseCode['registeredBy'], now: Date, facts: Partial<LicenseCode>): LicenseCode {
  const at = now.toISOString();
  return { code, state: 'ACTIVE', registeredBy, appliedOps: [], createdAt: at, updatedAt: at, version: 0, ...facts };
}

/** The heartbeat's answer as the decision table's event. */
const heartbeatEvent = (info: LicenseInfo): LicenseEvent => {
  const expireTime = info.expireTime === undefined ? undefined : parseMarketTime(info.expireTime);
  const activatedAt = isoOf(info.activateTime);
  return { kind: 'HEARTBEAT', status: info.status, ...(expireTime ? { expireTime } : {}), ...(activatedAt ? { activatedAt } : {}) };
};

/** A failed marketplace call as the route's answer: the marketplace's code kept, transport failures 502. */
function marketplaceFailure(error: unknown, api: string): RouteResult {
  const code = licenseErrorCode(error);
  const body = (status: number, text: string) => ({ status, body: { error: text, ...(code ? { marketplaceCode: code } : {}) } });
  if (code === LicenseResult.NOT_CLAIMED) return body(409, 'the buyer has not claimed the code yet');
  if (code === LicenseResult.NOT_FOUND) return body(404, 'the marketplace does not know this code');
  if (code === LicenseResult.NOT_ACTIVATED) return body(409, 'the code is not activated');
  if (code === LicenseResult.INVALID_PARAMETER) return body(400, 'the marketplace refused the parameters');
  if (code) return body(502, `${api} failed at the marketplace`);
  return { status: 502, body: { error: `${api}: the marketplace could not be reached (${errorName(error)})` } };
}

/** read → change → conditional write, again on a lost race; undefined when the code is gone or `change` declines */
async function mutate(svc: Services, code: string, change: (c: LicenseCode) => LicenseCode | undefined): Promise<LicenseCode | undefined> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await svc.licenses.getLicense(code);
    if (!current) return undefined;
    const next = change(current);
    if (!next) return current;
    const saved = await svc.licenses.saveLicense(next, current.version);
    if (saved) return saved;
  }
  throw new Error(`license code ${code} kept changing`);
}

// ------------------------------------------------------------------ activation

/**
 * POST /internal/licenses/{code}/activate. A code we know is answered from the table (never activated
 * twice, spec 6.3). Else the marketplace activates it (v1) and the answer is stored; "already activated"
 * (92020003) registers the code with the heartbeat's facts (that call is the day's heartbeat). Nothing is
 * written unless the marketplace answered.
 */
export async function activateLicenseCode(svc: Services, code: string, options: { realEffectTime?: Date }, now: Date): Promise<RouteResult> {
  const known = await svc.licenses.getLicense(code);
  if (known) return { status: 200, body: { ...licenseView(known, true), alreadyActivated: true } };

  let activated: ActivatedLicense;
  try {
    activated = await svc.marketplace.activateLicense(code, options.realEffectTime ? { realEffectTime: options.realEffectTime } : {});
  } catch (error) {
    if (licenseErrorCode(error) !== LicenseResult.ILLEGAL_STATE) return marketplaceFailure(error, 'activate license');
    return registerActivated(svc, code, now);
  }
  const expireTime = isoOf(activated.expireTime);
  const record = newCode(code, 'activation', now, {
    marketStatus: activated.status ?? 'ALIVE',
    activatedAt: now.toISOString(),
    ...(expireTime ? { expireTime, expireSource: 'activation' as const } : {}),
    ...(activated.productId ? { productId: activated.productId } : {}),
    ...(activated.orderId ? { orderId: activated.orderId } : {}),
    ...(activated.amount !== undefined ? { amount: activated.amount } : {}),
  });
  const saved = await svc.licenses.saveLicense(record, undefined);
  if (!saved) return answerStored(svc, code, true);
  svc.logger.info('license code activated', { code });
  return { status: 200, body: { ...licenseView(saved, false), alreadyActivated: false } };
}

/** 92020003: the code was activated before (elsewhere, or our write was lost): its facts from the heartbeat. */
async function registerActivated(svc: Services, code: string, now: Date): Promise<RouteResult> {
  let info: LicenseInfo;
  try {
    info = await svc.marketplace.licenseHeartbeat(code);
  } catch (error) {
    return marketplaceFailure(error, 'license heartbeat');
  }
  const base = newCode(code, 'heartbeat', now, { heartbeatDay: utcDay(now) });
  const next = applyDecision(base, decideLicense(base, heartbeatEvent(info), now), now)!;
  const saved = await svc.licenses.saveLicense(next, undefined);
  if (!saved) return answerStored(svc, code, true);
  svc.logger.info('license code registered (already activated)', { code });
  return { status: 200, body: { ...licenseView(saved, false), alreadyActivated: true } };
}

async function answerStored(svc: Services, code: string, alreadyActivated: boolean): Promise<RouteResult> {
  const stored = await svc.licenses.getLicense(code);
  if (!stored) throw new Error(`license code ${code}: lost its creation race, yet absent`);
  return { status: 200, body: { ...licenseView(stored, true), alreadyActivated } };
}

// ------------------------------------------------------------------ heartbeat

/** POST /internal/licenses/{code}/heartbeat: see the module comment. `now` is the request's time. */
export async function heartbeatLicenseCode(svc: Services, code: string, now: Date): Promise<RouteResult> {
  const today = utcDay(now);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await svc.licenses.getLicense(code);
    if (!current) return { status: 404, body: { error: `unknown license code ${code}: activate it first (POST /internal/licenses/{code}/activate)` } };
    if (!heartbeatClaimable(current, now)) {
      const refreshing = current.heartbeatDay === today && current.claimToken !== undefined;
      return { status: 200, body: licenseView(current, true, refreshing ? { refreshing } : {}) };
    }
    const token = randomUUID();
    const claim: LicenseCode = {
      ...current,
      heartbeatDay: today,
      claimToken: token,
      claimUntil: new Date(now.getTime() + CLAIM_LEASE_MS).toISOString(),
      updatedAt: now.toISOString(),
    };
    if (!(await svc.licenses.saveLicense(claim, current.version))) continue; // someone else claimed (or changed it): look again
    return checkClaimed(svc, code, token, current.heartbeatDay, now);
  }
  throw new Error(`license code ${code} kept changing under heartbeat`);
}

/** The claim's winner: one marketplace call, its answer stored; on failure the claim given back. */
async function checkClaimed(svc: Services, code: string, token: string, previousDay: string | undefined, now: Date): Promise<RouteResult> {
  let info: LicenseInfo;
  try {
    info = await svc.marketplace.licenseHeartbeat(code);
  } catch (error) {
    await mutate(svc, code, (c) =>
      c.claimToken === token ? { ...c, heartbeatDay: previousDay, claimToken: undefined, claimUntil: undefined, updatedAt: now.toISOString() } : undefined,
    );
    svc.logger.warn('license heartbeat failed; claim released', { code, error: errorName(error) });
    return marketplaceFailure(error, 'license heartbeat');
  }
  const event = heartbeatEvent(info);
  const settled = await mutate(svc, code, (c) => {
    const next = applyDecision(c, decideLicense(c, event, now), now)!;
    // the claim is cleared only if it is still ours (a lapsed one may have been taken over)
    return c.claimToken === token ? { ...next, claimToken: undefined, claimUntil: undefined } : next;
  });
  return { status: 200, body: licenseView(settled!, false) };
}

/** A code's stored facts (no marketplace call), as the licenses routes answer them; 404 when never seen. */
export async function readLicenseCode(svc: Services, code: string): Promise<{ status: number; body: unknown }> {
  const stored = await svc.licenses.getLicense(code);
  return stored ? { status: 200, body: licenseView(stored, true) } : { status: 404, body: { error: 'unknown License code', code } };
}
