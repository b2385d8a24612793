/**
 * License open APIs the merchant calls (spec 6.3 License 2.0 authorization codes, 6.4 online-License upload):
 * paths, result codes, request bodies and answer parsing. The calls themselves are `MarketplaceClient` methods
 * (client.ts: `activateLicense`, `activateLicenses`, `licenseHeartbeat`, `uploadLicense`), signed and routed like
 * the other open APIs; this module holds what is specific to License and is shared with the local marketplace.
 *
 * Result mapping (spec 4.2): `92020000` is success; any other `error_code` becomes an `OpenApiError` of kind
 * 'business' carrying the code (see `LicenseResult`, `licenseErrorCode`), and is never retried on another host.
 *
 * Uncertain (spec 7 items 17-18), and what we chose:
 * - v2 batch activate: the answer layout was not captured; `activateLicenses` returns `data` as received.
 * - heartbeat `LicenseInfo`: only `license_code`, `status`, `activate_time` are documented; we also read
 *   `expire_time` (the name the activate answer uses) when present and keep everything in `raw`.
 * - activate v1 `data` is optional in the spec: a success without (parsable) `license_code_info` still resolves
 *   (the code IS activated; failing would make a caller retry into 92020003), with the fields it could read.
 * - upload (6.4): the multipart layout is unverified (one capture names a JSON part `isvUpdateFileReq`). We send
 *   the documented fields as separate form fields, see `buildLicenseUpload` (the one place to change), the
 *   `sha256` as lower-case hex of the exact content bytes (UTF-8 of `characters`, or the file), and accept
 *   `92020000` (as for the other License APIs) or `MKT.0000` as success because the upload API's codes are unknown.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { OpenApiError } from '#shared/openapi/errors';
import { formatMarketTime, parseMarketTime } from '#shared/protocol/time';

const BASE = '/api/mkp-openapi-public/global';
export const LICENSE_ACTIVATE_V1_PATH = `${BASE}/v1/license/activate`;
export const LICENSE_ACTIVATE_V2_PATH = `${BASE}/v2/license/activate`;
export const LICENSE_HEARTBEAT_V1_PATH = `${BASE}/v1/license/heartbeat`;
/** `POST` target of the string/file upload (spec 6.4); `eventId` from `getLicenseAsync` */
export const marketEventFilePath = (eventId: string): string =>
  `${BASE}/v1/market-event/${encodeURIComponent(eventId)}/file`;
/** matches `marketEventFilePath`, capturing the (still encoded) event id */
export const MARKET_EVENT_FILE_PATH = /^\/api\/mkp-openapi-public\/global\/v1\/market-event\/([^/]+)\/file$/;

/** License-code API result codes (spec 4.2) */
export const LicenseResult = {
  SUCCESS: '92020000',
  /** internal error / not authorized */
  INTERNAL: '92020001',
  INVALID_PARAMETER: '92020002',
  /** illegal state, e.g. already activated: do not activate again (callers may treat it as done) */
  ILLEGAL_STATE: '92020003',
  /** the buyer has not claimed the code yet */
  NOT_CLAIMED: '92020004',
  NOT_FOUND: '92020005',
  NOT_ACTIVATED: '92020011',
  /** the batch contains invalid codes */
  BATCH_INVALID: '92020020',
} as const;

/** success codes accepted from the upload API (its own codes are undocumented, see the module comment) */
export const UPLOAD_SUCCESS_CODES: readonly string[] = [LicenseResult.SUCCESS, 'MKT.0000'];

/** spec 6.3: `license_list` holds at most 100 codes */
export const MAX_BATCH_LICENSES = 100;
/** spec 6.3: `license` String 64; spec 6.4: `event_id` String 64 */
export const MAX_LICENSE_CODE_LENGTH = 64;
/** spec 6.4: `characters` at most 1024 */
export const MAX_UPLOAD_CHARACTERS = 1024;

export interface ActivateOptions {
  /** actual delivery time, UTC; a Date or `yyyyMMddHHmmss` (not earlier than the order time, spec 6.3) */
  realEffectTime?: Date | string;
}

/** Activation result (v1): the `license_code_info` JSON string of the answer, parsed. */
export interface ActivatedLicense {
  /** e.g. `ALIVE` */
  status?: string;
  /** `yyyyMMddHHmmss`; an ESTIMATE (spec 6.3): use `licenseHeartbeat` for the real value */
  expireTime?: string;
  productId?: string;
  orderId?: string;
  /** quantity attribute */
  amount?: number;
  /** the parsed `license_code_info` (undefined when absent or not a JSON object) */
  raw?: Record<string, unknown>;
}

/** Batch activation result (v2): the layout is not documented (spec 7 item 17), so `data` is returned as received. */
export interface BatchActivation {
  data: unknown;
}

export type LicenseStatus = 'ALIVE' | 'EXPIRED' | 'RELEASED' | (string & {});

/** Query ("heartbeat") result (spec 6.3 LicenseInfo, extensible). */
export interface LicenseInfo {
  licenseCode: string;
  status: LicenseStatus;
  activateTime: string;
  /** when the marketplace sends `expire_time` (not captured, expected) */
  expireTime?: string;
  /** the whole `data` object */
  raw: Record<string, unknown>;
}

/** What to upload for an online-License event (spec 6.4). */
export type LicenseUpload = { characters: string } | { file: Uint8Array; fileName: string };

/** A problem with the caller's arguments, or undefined when they are fine. */
export function checkLicenseCode(code: unknown): string | undefined {
  if (typeof code !== 'string' || code.trim() === '') return 'a license code must be a non-empty string';
  if (code.length > MAX_LICENSE_CODE_LENGTH) return `a license code must be at most ${MAX_LICENSE_CODE_LENGTH} characters`;
  return undefined;
}

/** `realEffectTime` as sent (`yyyyMMddHHmmss`), or an error text. */
export function realEffectTime(value: Date | string): { value: string } | { error: string } {
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? { error: 'realEffectTime is an invalid Date' } : { value: formatMarketTime(value) };
  }
  return /^\d{14}$/.test(value) && parseMarketTime(value) ? { value } : { error: 'realEffectTime must be UTC yyyyMMddHHmmss' };
}

/** Reads the v1 activate `data` (`{license_code_info: "<JSON>"}`); never throws (see the module comment). */
export function parseActivatedLicense(data: unknown): ActivatedLicense {
  const info = isRecord(data) ? data.license_code_info : undefined;
  const raw = typeof info === 'string' ? parseJson(info) : info; // tolerate an object where a string is documented
  if (!isRecord(raw)) return {};
  const out: ActivatedLicense = { raw };
  const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
  const status = str(raw.status);
  const expireTime = str(raw.expire_time);
  const productId = str(raw.product_id);
  const orderId = str(raw.order_id);
  const amount = typeof raw.amount === 'number' ? raw.amount : typeof raw.amount === 'string' && raw.amount.trim() !== '' ? Number(raw.amount) : NaN;
  if (status !== undefined) out.status = status;
  if (expireTime !== undefined) out.expireTime = expireTime;
  if (productId !== undefined) out.productId = productId;
  if (orderId !== undefined) out.orderId = orderId;
  if (Number.isFinite(amount)) out.amount = amount;
  return out;
}

/** Reads the heartbeat `data` (LicenseInfo); undefined when a mandatory field is missing. */
export function parseLicenseInfo(data: unknown): LicenseInfo | undefined {
  if (!isRecord(data)) return undefined;
  const { license_code: licenseCode, status, activate_time: activateTime, expire_time: expireTime } = data;
  if (typeof licenseCode !== 'string' || typeof status !== 'string' || typeof activateTime !== 'string') return undefined;
  return {
    licenseCode,
    status,
    activateTime,
    ...(typeof expireTime === 'string' ? { expireTime } : {}),
    raw: data,
  };
}

export interface MultipartBody {
  /** the exact bytes to sign and send */
  body: Buffer;
  /** `multipart/form-data; boundary=...` */
  contentType: string;
  /** lower-case hex SHA-256 of the uploaded content, as sent in the `sha256` part */
  sha256: string;
}

/**
 * The upload request body (spec 6.4), serialized once so that the AK/SK body hash and the bytes sent agree.
 * Layout (OUR choice, Uncertain): form fields `type` (`CHARACTERS` | `FILE`), then `characters`, or `file_name` and
 * `file` (a file part, `application/octet-stream`), then `sha256`. CRLF line breaks as RFC 7578; the boundary is
 * random unless given, and never occurs in the content.
 * Alternative seen in a capture: one JSON part `isvUpdateFileReq` `{type, characters?, file_name?, sha256}` plus the
 * `file` part; switching means changing only this function (and the local marketplace's parser).
 */
export function buildLicenseUpload(upload: LicenseUpload, boundary?: string): MultipartBody {
  const content = 'characters' in upload ? Buffer.from(upload.characters, 'utf8') : Buffer.from(upload.file);
  const sha256 = createHash('sha256').update(content).digest('hex');
  let b = boundary ?? `----KooGalleryLicense${randomBytes(12).toString('hex')}`;
  while (content.includes(b)) b = `----KooGalleryLicense${randomBytes(12).toString('hex')}`;

  const parts: Buffer[] = [];
  const field = (name: string, value: string | Buffer, fileName?: string) => {
    const disposition = `form-data; name="${name}"${fileName === undefined ? '' : `; filename="${escapeQuoted(fileName)}"`}`;
    const type = fileName === undefined ? '' : 'Content-Type: application/octet-stream\r\n';
    parts.push(Buffer.from(`--${b}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`, 'utf8'));
    parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
    parts.push(Buffer.from('\r\n'));
  };
  if ('characters' in upload) {
    field('type', 'CHARACTERS');
    field('characters', upload.characters);
  } else {
    field('type', 'FILE');
    field('file_name', upload.fileName);
    field('file', content, upload.fileName);
  }
  field('sha256', sha256);
  parts.push(Buffer.from(`--${b}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${b}`, sha256 };
}

/** A problem with an upload request, or undefined. */
export function checkLicenseUpload(eventId: unknown, upload: LicenseUpload): string | undefined {
  if (typeof eventId !== 'string' || eventId === '' || eventId.length > MAX_LICENSE_CODE_LENGTH) {
    return `eventId must be 1 to ${MAX_LICENSE_CODE_LENGTH} characters`;
  }
  if ('characters' in upload) {
    if (typeof upload.characters !== 'string' || upload.characters === '') return 'characters must be a non-empty string';
    if (upload.characters.length > MAX_UPLOAD_CHARACTERS) return `characters must be at most ${MAX_UPLOAD_CHARACTERS} long`;
    return undefined;
  }
  if (!(upload.file instanceof Uint8Array) || upload.file.length === 0) return 'file must be non-empty bytes';
  if (typeof upload.fileName !== 'string' || upload.fileName.trim() === '') return 'fileName must be a non-empty string';
  return undefined;
}

/**
 * The License result code of a failed call: the `code` of an `OpenApiError` of kind 'business', else undefined.
 * E.g. `licenseErrorCode(err) === LicenseResult.ILLEGAL_STATE` for a code that is already activated.
 */
export function licenseErrorCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'OpenApiError') return undefined;
  const e = err as OpenApiError;
  return e.kind === 'business' ? e.code : undefined;
}

/** As browsers do for multipart names (WHATWG): `"` -> %22, CR -> %0D, LF -> %0A. */
function escapeQuoted(s: string): string {
  return s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
