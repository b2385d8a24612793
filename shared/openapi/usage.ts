/**
 * On-demand usage records pushed to the marketplace (spec 6.2), and their validation (used by the local
 * marketplace; the client sends records as given and lets the marketplace judge them).
 *
 * Rules from the spec field table: all fields but `relate_pkg_instance` required; times UTC
 * `yyyyMMdd'T'HHmmss'Z'`; `usage_value` a decimal string > 0 with at most 4 decimals; length limits
 * 64 / 17 / 20. Ours (the spec is silent): `begin_time` must not be after `end_time`; unknown fields are dropped.
 */
import * as z from '#shared/zod';
import { parseMarketTime } from '#shared/protocol/time';

/** spec 6.2 allows 1000 per request but an error text says 100: we never send more than 100. */
export const MAX_USAGE_RECORDS = 100;
/** spec 6.2: `begin_time` must not be more than 21 days in the past (MKT.9004). */
export const MAX_USAGE_AGE_MS = 21 * 24 * 3600_000;

const COMPACT_UTC = /^(\d{8})T(\d{6})Z$/;

/** `yyyyMMdd'T'HHmmss'Z'` (UTC, valid calendar date and time) to a Date; undefined when invalid. */
export function parseCompactUtc(s: string): Date | undefined {
  const m = COMPACT_UTC.exec(s);
  return m ? parseMarketTime(`${m[1]}${m[2]}`) : undefined;
}

const USAGE_VALUE = /^\d+(\.\d{1,4})?$/;

const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const time = z.string().check(z.refine((s) => parseCompactUtc(s) !== undefined, "expected UTC yyyyMMdd'T'HHmmss'Z'"));

export const UsagePushRecord = z
  .object({
    instance_id: text(64),
    record_time: time,
    begin_time: time,
    end_time: time,
    usage_value: z
      .string()
      .check(
        z.maxLength(20),
        z.refine((s) => USAGE_VALUE.test(s) && Number(s) > 0, 'expected a decimal string > 0 with at most 4 decimals'),
      ),
    metering_sn: text(64),
    relate_pkg_instance: z.optional(text(64)),
  })
  .check(z.refine((r) => r.begin_time <= r.end_time, { message: 'begin_time is after end_time', path: ['begin_time'] }));
/** One usage record; times are UTC `yyyyMMdd'T'HHmmss'Z'` (e.g. `20240317T144237Z`). */
export type UsagePushRecord = z.infer<typeof UsagePushRecord>;
