/**
 * Online License (spec 3.12): `getLicenseAsync` and the asynchronous delivery of the License through the
 * string/file upload open API (spec 6.4).
 *
 * Idempotency: one License record per `eventId` (table key), holding the SHA-256 of the `deviceFingerprint` it was
 * claimed with. The claim is ONE conditional transaction with the call's nonce and audit record (and, for a device
 * the instance has not seen, the device record and the instance's device counter), so concurrent copies and
 * resends of a request find the record and answer from it: 000004 while it is being delivered, 000000 once it was
 * delivered. The License is generated once: it is stored with the first attempt's outcome, later attempts
 * re-upload the stored one. The same `eventId` with another fingerprint is refused (000002): the upload is keyed by
 * the event alone, so one event has one License.
 *
 * Result codes (spec 4.1), checked in this order after the body was parsed (bad input: 000002, refused by the
 * route before anything is recorded):
 * - a known `eventId`: its record's answer (000000 / 000004), or 000002 for another fingerprint;
 * - 000003 unknown or released instance; 000005 an instance still provisioning (or failed);
 * - 000903 no fingerprint, for a product whose signer requires one (default: every product, licenseSigner.ts);
 * - 000902 a yearly/monthly instance (chargingMode PERIOD) and no `expireTime`; 000002 `expireTime` not after
 *   `effectiveTime`;
 * - 000901 a frozen instance, or `effectiveTime` / `expireTime` after the instance's expiry (its current validity);
 * - 000900 the instance's quota is used up. Quota = the order line's linear value (`product.linearValue`, the
 *   purchased amount; 1 when the order has none), counted as DISTINCT DEVICES per instance over its life: a device
 *   (fingerprint hash; without a fingerprint every event is a device of its own) that already holds a License of
 *   the instance may get more (new events, e.g. after a renewal) without using quota.
 *
 * Delivery: the claim answers 000004. Then, when the call's budget leaves time, the License is generated and
 * uploaded in the same invocation; otherwise, or when that fails, the `licenseDelivery` job (every minute, byDue
 * index, LICENSE timer) takes it. Every attempt first takes a lease (`dueAt` moves LEASE_MS ahead, conditional on
 * the version read) so two runs never deliver one record at once; failures are retried with exponential backoff
 * (`retryDelayMs`) and after MAX_DELIVERY_ATTEMPTS the record is FAILED and an operator alert
 * `online-license-undelivered` is raised. A resend of the request for a FAILED record arms it again (000004).
 */
import { createHash } from 'node:crypto';
import type { LicenseUpload } from '#shared/openapi/license';
import { MAX_UPLOAD_CHARACTERS } from '#shared/openapi/license';
import { ResultCode } from '#shared/protocol/resultCodes';
import { formatMarketTime } from '#shared/protocol/time';
import { raiseQuietly } from './alerts.ts';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { errorName, foreignErrorName, safeReason } from './errors.ts';
import type { Instance } from './instance.ts';
import { ConcurrencyError } from './instances.ts';
import type { JobSummary } from './jobs.ts';
import { requiresFingerprint, type LicenseInstanceFacts, type LicenseRequest, type SignedLicense } from './licenseSigner.ts';
import { failure, success } from './replies.ts';
import { NO_FINGERPRINT, type OnlineLicenseRecord, type StoredLicense } from './onlineLicenseRepository.ts';

export * from './onlineLicenseRepository.ts';

/** The online-License result codes (spec 4.1). */
export const OnlineLicenseResult = {
  QUOTA_EXCEEDED: ResultCode.LICENSE_QUOTA_EXCEEDED,
  OUTSIDE_VALIDITY: ResultCode.LICENSE_OUTSIDE_VALIDITY,
  EXPIRY_REQUIRED: ResultCode.LICENSE_EXPIRY_REQUIRED,
  FINGERPRINT_REQUIRED: ResultCode.LICENSE_FINGERPRINT_REQUIRED,
} as const;

// ------------------------------------------------------------------ time

const ZONE = /^(?:z|utc|gmt|[+-]\d{2}(?::?\d{2})?)$/i;
const HUMAN = /^(\d{4})-(\d{2})-(\d{2})(?:[ tT]+(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(.*)$/;
const COMPACT = /^(\d{4})(\d{2})(\d{2})(?:[tT]?(\d{2})(\d{2})(\d{2})(\d{3})?)?\s*(.*)$/;

/**
 * A License time (spec 3.12: "UTC", example `2023-10-27 10:30:15 z`). Accepted: `yyyy-MM-dd HH:mm:ss` with a space
 * or `T`, optional seconds and fraction, optional zone `Z`/`z`/`UTC`/`GMT` or an offset (`+08:00`, `+0800`) that is
 * applied, spaces before the zone allowed; and the compact forms `yyyyMMddHHmmss`, `yyyyMMddHHmmssSSS`,
 * `yyyyMMdd'T'HHmmss'Z'` and `yyyyMMdd`. No zone means UTC. Out-of-range fields (Feb 30, 24:00) are refused.
 */
export function parseLicenseTime(input: string): Date | undefined {
  const s = input.trim();
  const m = HUMAN.exec(s) ?? COMPACT.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zoneRaw = ''] = m;
  const zone = zoneRaw.trim();
  if (zone !== '' && !ZONE.test(zone)) return undefined;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3) || '0');
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms);
  const date = new Date(utc);
  // Date.UTC rolls fields over (Feb 30 -> Mar 2): a round trip of the written fields detects it
  if (formatMarketTime(date) !== `${y}${mo}${d}${h}${mi}${sec}` || Number(y) < 1970) return undefined;
  const offset = /^[+-]/.test(zone) ? offsetMs(zone) : 0;
  return new Date(utc - offset);
}

function offsetMs(zone: string): number {
  const digits = zone.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0');
  return (zone.startsWith('-') ? -1 : 1) * minutes * 60_000;
}

// ------------------------------------------------------------------ policy

/** how long an attempt owns a record (the job does not take it before) */
export const LEASE_MS = 60_000;
/** attempts (the call's own included) before the delivery is given up and an operator alerted */
export const MAX_DELIVERY_ATTEMPTS = 8;
/** time the call keeps back for its answer; an inline attempt needs at least INLINE_MIN_MS more */
const ANSWER_RESERVE_MS = 300;
const INLINE_MIN_MS = 800;
const MAX_CLAIM_ATTEMPTS = 6;
/** a License file larger than this cannot be stored with its record (DynamoDB items hold 400 KB) */
export const MAX_LICENSE_FILE_BYTES = 256 * 1024;

/** 1, 2, 4 … minutes after the n-th failed attempt, at most an hour (8 attempts span about 2 h). */
export const retryDelayMs = (attempts: number) => Math.min(60_000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

const at = (d: Date, ms = 0) => new Date(d.getTime() + ms).toISOString();
export const fingerprintHashOf = (fingerprint?: string) =>
  fingerprint ? createHash('sha256').update(fingerprint, 'utf8').digest('hex') : NO_FINGERPRINT;

/** The instance's License quota: its order line's linear value (purchased amount), 1 when absent. */
export const quotaOf = (instance: Pick<Instance, 'product'>): number => {
  const v = instance.product.linearValue;
  return v === undefined || !Number.isFinite(v) ? 1 : Math.max(0, Math.floor(v));
};

const isPeriodic = (i: Pick<Instance, 'chargingMode' | 'periodType'>) =>
  i.chargingMode === 'PERIOD' || i.periodType === 'year' || i.periodType === 'month';

export const factsOf = (i: Instance): LicenseInstanceFacts => ({
  instanceId: i.instanceId,
  orderId: i.orderId,
  orderLineId: i.orderLineId,
  product: { ...i.product },
  chargingMode: i.chargingMode,
  ...(i.periodType ? { periodType: i.periodType } : {}),
  ...(i.expireTime ? { instanceExpireTime: i.expireTime } : {}),
  testFlag: i.testFlag,
});

// ------------------------------------------------------------------ getLicenseAsync

export interface LicenseAsyncRequest {
  instanceId: string;
  eventId: string;
  effectiveTime: Date;
  expireTime?: Date;
  deviceFingerprint?: string;
}

const inProgress = (msg = 'License is being generated') => failure(ResultCode.IN_PROGRESS, msg);

/** getLicenseAsync (spec 3.12): see the module comment. */
export async function requestLicense(svc: Services, call: Call, req: LicenseAsyncRequest): Promise<Reply> {
  const fingerprint = req.deviceFingerprint?.trim() ? req.deviceFingerprint : undefined;
  const fingerprintHash = fingerprintHashOf(fingerprint);
  const answer = async (reply: Reply) => {
    await svc.store.recordCall(receiptOf(call, reply, { instanceId: req.instanceId }));
    return reply;
  };

  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const existing = await svc.onlineLicenses.getLicense(req.eventId);
    if (existing) return answer(await answerFor(svc, call, existing, fingerprintHash, req.instanceId));

    const instance = await svc.store.getInstance(req.instanceId);
    const refusal = check(svc, instance, req, fingerprint);
    if (refusal) return answer(refusal);
    const deviceKey = fingerprint ? fingerprintHash : `EVENT#${req.eventId}`;
    const quota = await svc.onlineLicenses.getQuota(instance!.instanceId, deviceKey);
    if (!quota.known && quota.devices >= quotaOf(instance!))
      return answer(failure(OnlineLicenseResult.QUOTA_EXCEEDED, `License quota used up: ${quota.devices} of ${quotaOf(instance!)} devices hold a License`));

    const record: OnlineLicenseRecord = {
      eventId: req.eventId,
      fingerprintHash,
      ...(fingerprint ? { deviceFingerprint: fingerprint } : {}),
      deviceKey,
      instanceId: instance!.instanceId,
      facts: factsOf(instance!),
      testFlag: instance!.testFlag,
      effectiveTime: req.effectiveTime.toISOString(),
      ...(req.expireTime ? { expireTime: req.expireTime.toISOString() } : {}),
      requestedAt: call.receivedAt.toISOString(),
      state: 'PENDING',
      // the call's own attempt holds the lease; the job takes over after it
      attempts: 1,
      dueAt: at(call.receivedAt, LEASE_MS),
      version: 1,
    };
    const reply = inProgress('License request accepted; the License is delivered asynchronously');
    if ((await svc.onlineLicenses.claimLicense(record, receiptOf(call, reply, { instanceId: record.instanceId }), quota)) === 'lost') {
      await pause(attempt);
      continue;
    }
    const left = call.deadline - Date.now() - ANSWER_RESERVE_MS;
    if (left >= INLINE_MIN_MS) {
      try {
        await attemptDelivery(svc, record, call.receivedAt, call.deadline - ANSWER_RESERVE_MS);
      } catch (error) {
        // the record stays due (its lease runs out): the job delivers it
        svc.logger.warn('getLicenseAsync: inline delivery not settled; left to licenseDelivery', { eventId: req.eventId, error: errorName(error) });
      }
    }
    return reply;
  }
  throw new ConcurrencyError(`License request ${req.eventId} kept conflicting`);
}

/** The answer of a request whose record exists. */
async function answerFor(svc: Services, call: Call, record: OnlineLicenseRecord, fingerprintHash: string, instanceId: string): Promise<Reply> {
  if (record.fingerprintHash !== fingerprintHash || record.instanceId !== instanceId)
    return failure(ResultCode.INVALID_PARAMETER, 'eventId was already used for another device or instance');
  if (record.state === 'DELIVERED') return success({}, 'success. (License delivered)');
  if (record.state === 'FAILED') {
    // the marketplace asks again: deliver again (the stored License, if any)
    const rearmed = await svc.onlineLicenses.saveLicense(
      { ...record, state: 'PENDING', attempts: 0, dueAt: call.receivedAt.toISOString(), failedAt: undefined },
      record.version,
    );
    if (rearmed) svc.logger.info('getLicenseAsync: undelivered License armed again', { eventId: record.eventId });
    return inProgress('License delivery restarted');
  }
  return inProgress();
}

function check(svc: Services, instance: Instance | undefined, req: LicenseAsyncRequest, fingerprint: string | undefined): Reply | undefined {
  if (!instance || instance.status === 'RELEASED') return failure(ResultCode.INSTANCE_NOT_FOUND, instance ? 'instance has been released' : 'instance not found');
  if (instance.status === 'PROVISIONING' || instance.status === 'FAILED')
    return failure(ResultCode.INTERNAL_ERROR, instance.status === 'FAILED' ? 'instance provisioning failed' : 'instance is still being provisioned; please retry');
  if (!fingerprint && requiresFingerprint(svc.licenseSigner, instance.product))
    return failure(OnlineLicenseResult.FINGERPRINT_REQUIRED, 'deviceFingerprint is required for this product');
  if (!req.expireTime && isPeriodic(instance)) return failure(OnlineLicenseResult.EXPIRY_REQUIRED, 'expireTime is required for a yearly/monthly License');
  if (req.expireTime && req.expireTime.getTime() <= req.effectiveTime.getTime())
    return failure(ResultCode.INVALID_PARAMETER, 'expireTime must be after effectiveTime');
  if (instance.status === 'FROZEN') return failure(OnlineLicenseResult.OUTSIDE_VALIDITY, 'the instance is frozen: no License outside its validity');
  const until = instance.expireTime ? Date.parse(instance.expireTime) : undefined;
  if (until !== undefined && (req.effectiveTime.getTime() > until || (req.expireTime?.getTime() ?? -Infinity) > until))
    return failure(OnlineLicenseResult.OUTSIDE_VALIDITY, `the License must lie within the instance's validity (until ${instance.expireTime})`);
  return undefined;
}

const pause = (attempt: number) => new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));

// ------------------------------------------------------------------ delivery

export type AttemptOutcome = 'delivered' | 'retry' | 'failed';

export function requestOf(record: OnlineLicenseRecord): LicenseRequest {
  return {
    instance: record.facts,
    eventId: record.eventId,
    ...(record.deviceFingerprint ? { deviceFingerprint: record.deviceFingerprint } : {}),
    effectiveTime: new Date(record.effectiveTime),
    ...(record.expireTime ? { expireTime: new Date(record.expireTime) } : {}),
    issuedAt: new Date(record.requestedAt),
  };
}

/** A signed License as stored: a string longer than the upload's 1024 characters becomes a file. */
export function storedOf(signed: SignedLicense, eventId: string): StoredLicense {
  if ('characters' in signed) {
    if (signed.characters.length <= MAX_UPLOAD_CHARACTERS) return { characters: signed.characters };
    return { fileBase64: Buffer.from(signed.characters, 'utf8').toString('base64'), fileName: `license-${safeName(eventId)}.lic` };
  }
  if (signed.file.byteLength > MAX_LICENSE_FILE_BYTES) throw new Error(`License file of ${signed.file.byteLength} bytes is too large to keep`);
  return { fileBase64: Buffer.from(signed.file).toString('base64'), fileName: signed.fileName };
}

const safeName = (s: string) => s.replace(/[^\w.-]/g, '_').slice(0, 64);

export const uploadOf = (license: StoredLicense): LicenseUpload =>
  'characters' in license ? { characters: license.characters } : { file: Buffer.from(license.fileBase64, 'base64'), fileName: license.fileName };

function withTimeout<T>(work: Promise<T>, until: number | undefined, what: string): Promise<T> {
  if (until === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out`)), Math.max(0, until - Date.now()))));
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/**
 * One delivery attempt of a record whose lease this caller holds (`record` as stored): generate (once), upload,
 * and settle the outcome conditional on the version. `deadline` bounds the signer and the upload (epoch ms).
 */
export async function attemptDelivery(svc: Services, record: OnlineLicenseRecord, now: Date, deadline?: number): Promise<AttemptOutcome> {
  let license = record.license;
  let sha256: string;
  try {
    license ??= storedOf(await withTimeout(svc.licenseSigner.sign(requestOf(record)), deadline, 'License signer'), record.eventId);
    ({ sha256 } = await svc.marketplace.uploadLicense(record.eventId, uploadOf(license), deadline === undefined ? {} : { deadline }));
  } catch (error) {
    const reason = license ? safeReason(error) : `signer: ${foreignErrorName(error)}`;
    const giveUp = record.attempts >= MAX_DELIVERY_ATTEMPTS;
    const next: OnlineLicenseRecord = giveUp
      ? { ...record, ...(license ? { license } : {}), state: 'FAILED', dueAt: undefined, lastError: reason, failedAt: now.toISOString() }
      : { ...record, ...(license ? { license } : {}), dueAt: at(now, retryDelayMs(record.attempts)), lastError: reason };
    const saved = await svc.onlineLicenses.saveLicense(next, record.version);
    svc.logger.warn('licenseDelivery: attempt failed', { eventId: record.eventId, attempts: record.attempts, giveUp, error: reason });
    if (saved && giveUp)
      await raiseQuietly(svc.alerts, svc.logger, {
        kind: 'online-license-undelivered',
        subject: { eventId: record.eventId, instanceId: record.instanceId },
        message: `the License of event ${record.eventId} could not be delivered after ${record.attempts} attempts (${reason}); the marketplace's next getLicenseAsync arms it again`,
      });
    return giveUp ? 'failed' : 'retry';
  }
  // uploaded: a failure from here on is the store's (thrown; the lease runs out and the upload is repeated)
  const saved = await svc.onlineLicenses.saveLicense(
    { ...record, license, sha256, state: 'DELIVERED', dueAt: undefined, lastError: undefined, deliveredAt: now.toISOString() },
    record.version,
  );
  if (!saved) svc.logger.warn('licenseDelivery: delivered, but the record changed meanwhile', { eventId: record.eventId });
  return 'delivered';
}

/** Every minute: deliveries due by `now` (the scheduled event's time), each under a lease, bounded concurrency. */
export async function deliverDueLicenses(svc: Services, now: Date, timeLeftMs: () => number = () => Infinity): Promise<JobSummary & { delivered: number; retried: number; gaveUp: number }> {
  const { eventIds, read } = await svc.onlineLicenses.dueLicenses(now, svc.settings.jobBatchLimit);
  const summary = { job: 'licenseDelivery', now: now.toISOString(), due: eventIds.length, read, done: 0, skipped: 0, failed: 0, deferred: 0, delivered: 0, retried: 0, gaveUp: 0 };
  const queue = [...eventIds];
  const timeLeft = timeLeftMs;
  const worker = async () => {
    for (let eventId = queue.shift(); eventId !== undefined; eventId = queue.shift()) {
      if (timeLeft() < 10_000) {
        summary.deferred++;
        continue;
      }
      try {
        const record = await svc.onlineLicenses.getLicense(eventId);
        if (!record || record.state !== 'PENDING' || !record.dueAt || record.dueAt > now.toISOString()) {
          summary.skipped++;
          continue;
        }
        // the lease: this run owns the record until LEASE_MS from when it takes it. Counted from the
        // real clock too (never before the run's moved "now"): items are taken one after another, and a
        // run that started a minute ago must not hand the next run a lease that already ran out.
        const leasedAt = new Date(Math.max(now.getTime(), Date.now()));
        const leased = await svc.onlineLicenses.saveLicense(
          { ...record, attempts: record.attempts + 1, dueAt: at(leasedAt, LEASE_MS) },
          record.version,
        );
        if (!leased) {
          summary.skipped++;
          continue;
        }
        const outcome = await attemptDelivery(svc, leased, now, Date.now() + Math.min(timeLeft() - 5_000, 20_000));
        summary.done++;
        if (outcome === 'delivered') summary.delivered++;
        else if (outcome === 'retry') summary.retried++;
        else summary.gaveUp++;
      } catch (error) {
        summary.failed++;
        svc.logger.warn('licenseDelivery: item failed; it stays due', { eventId, error: errorName(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(svc.settings.jobConcurrency, eventIds.length)) }, worker));
  return summary;
}
