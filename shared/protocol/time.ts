/**
 * KooGallery time formats, all UTC: `yyyyMMddHHmmss` (expireTime etc.), `yyyyMMddHHmmssSSS` (statisticalTime,
 * V1 timeStamp) and `yyyyMMdd'T'HHmmss'Z'` (X-Sdk-Date, usage record_time). The formatters throw a RangeError
 * on an invalid Date (from `toISOString`).
 */

const MARKET_TIME = /^\d{14}(\d{3})?$/;

/**
 * yyyyMMddHHmmss (14 digits) or yyyyMMddHHmmssSSS (17 digits), UTC; validates month/day/hour/minute/second ranges
 * (reject 20231301..., Feb 30 etc.); undefined when invalid. Both lengths are accepted because the refresh example
 * sends a 17-digit expireTime where the table says 14 (spec 3.3, 7 item 10). Years before 0100 are rejected.
 */
export function parseMarketTime(s: string): Date | undefined {
  if (!MARKET_TIME.test(s)) return undefined;
  const field = (from: number, to: number) => Number(s.slice(from, to));
  const date = new Date(
    Date.UTC(field(0, 4), field(4, 6) - 1, field(6, 8), field(8, 10), field(10, 12), field(12, 14), field(14, 17)),
  );
  // Date.UTC rolls out-of-range fields over (Feb 30 -> Mar 2, 24:00 -> next day); a round trip detects it.
  return formatMarketTime(date) === s.slice(0, 14) ? date : undefined;
}

/** 14 digits UTC */
export function formatMarketTime(d: Date): string {
  return formatMarketTimeMillis(d).slice(0, 14);
}

/** 17 digits UTC (statisticalTime) */
export function formatMarketTimeMillis(d: Date): string {
  return d.toISOString().replace(/\D/g, '');
}

/** yyyyMMdd'T'HHmmss'Z' */
export function formatCompactUtc(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** UTC+8 (China time), the zone of the joint-operation Kit `timeStamp` (spec 3.9). */
export const KIT_ZONE_OFFSET_MS = 8 * 3_600_000;

/**
 * A Kit `timeStamp` (yyyyMMddHHmmssSSS, UTC+8; 14 digits are taken as whole seconds), normalised to
 * 17 digits: the string order of normalised stamps is their time order, so it orders the calls.
 * Undefined when it is not a valid time.
 */
export function normaliseKitTimeStamp(s: string): string | undefined {
  const stamp = s.length === 14 ? `${s}000` : s;
  return /^\d{17}$/.test(stamp) && parseMarketTime(stamp) ? stamp : undefined;
}
