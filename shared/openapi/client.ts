/**
 * Client for the marketplace open APIs the merchant calls (spec 6), signed with AK/SK (spec 2.8).
 *
 * Availability rule (spec 1.6 / 6): the primary host is tried first; only when it cannot be reached
 * (network error, timeout, HTTP 5xx) is the next host tried. At most two attempts are made, each
 * bounded by `timeoutMs` and together by the caller's `deadline` (its share of the marketplace's 5 s).
 *
 * Usage push (spec 6.2 / 2.7): the body `{"usage_records":[...]}` is serialized once (keys sorted at every
 * level, compact) and sent byte-for-byte as signed. Each attempt gets a fresh `ts` and `nonce` (the fallback
 * host may share the primary's nonce store) and its own AK/SK signature over the same body. A push retried on
 * the fallback host after a timeout may reach the marketplace twice: the records keep their `metering_sn`,
 * but whether the platform de-duplicates by it is not documented (spec 5).
 *
 * License APIs (spec 6.3, 6.4; bodies and parsing in ./license.ts): `92020000` is success, every other `error_code`
 * is an OpenApiError of kind 'business' with that code (e.g. 92020003 already activated), not retried elsewhere.
 * The upload is sent as a multipart body serialized once to bytes; the AK/SK body hash is over those bytes.
 */
import { randomBytes } from 'node:crypto';
import { OpenApiError } from '#shared/openapi/errors';
import { signApigRequest } from '#shared/protocol/apigSigner';
import { canonicalJson, usagePushSignature } from '#shared/protocol/signature';
import { OrderInfo } from '#shared/openapi/order';
import { MAX_USAGE_RECORDS, type UsagePushRecord } from '#shared/openapi/usage';
import {
  LICENSE_ACTIVATE_V1_PATH,
  LICENSE_ACTIVATE_V2_PATH,
  LICENSE_HEARTBEAT_V1_PATH,
  LicenseResult,
  MAX_BATCH_LICENSES,
  UPLOAD_SUCCESS_CODES,
  buildLicenseUpload,
  checkLicenseCode,
  checkLicenseUpload,
  marketEventFilePath,
  parseActivatedLicense,
  parseLicenseInfo,
  realEffectTime,
  type ActivateOptions,
  type ActivatedLicense,
  type BatchActivation,
  type LicenseInfo,
  type LicenseUpload,
} from '#shared/openapi/license';

export type { UsagePushRecord } from '#shared/openapi/usage';

export interface MarketplaceClientConfig {
  /** primary host first, then fallbacks, e.g. `https://mkt.myhuaweicloud.com`, `https://mkt.myhuaweicloud.cn` */
  baseUrls: readonly string[];
  ak: string;
  sk: string;
  /** per-attempt timeout, default 2000 ms */
  timeoutMs?: number;
  /** the V2 access key bound to the basic interfaces: signs usage pushes (spec 2.7); pushUsage refuses without it */
  usageSigningKey?: string;
}

export { OpenApiError, type OpenApiErrorKind } from '#shared/openapi/errors';

export interface CallOptions {
  /** epoch ms by which the whole call (all attempts) must be over: the caller's answer budget */
  deadline?: number;
}

export interface MarketplaceClient {
  /** Query order (spec 6.1); with `orderLineId` the marketplace returns only that line. */
  queryOrder(orderId: string, orderLineId?: string, options?: CallOptions): Promise<OrderInfo>;
  /**
   * Push on-demand usage (spec 6.2): at most 100 records per call. Resolves on MKT.0000, throws OpenApiError otherwise.
   * Refused before sending (kind 'request') without `usageSigningKey`, or with 0 or more than 100 records.
   * A business failure carries the marketplace's `extra_info` (e.g. `abnormal_usage_data`) in `details`.
   */
  pushUsage(records: readonly UsagePushRecord[], options?: CallOptions): Promise<void>;
}

/**
 * The License open APIs (spec 6.3, 6.4), on the same client as `MarketplaceClient` (`createMarketplaceClient` returns
 * both). A separate interface so that existing `MarketplaceClient` fakes need not implement them.
 */
export interface LicenseClient {
  /**
   * Activate one License 2.0 code (spec 6.3 v1). Resolves with the parsed `license_code_info` (its expiry is an
   * estimate). Fails with kind 'business' and the code, e.g. 92020003 (already activated), 92020004 (not claimed),
   * 92020005 (no such code); kind 'request' for an empty / too long code or a malformed `realEffectTime`.
   */
  activateLicense(code: string, options?: ActivateOptions & CallOptions): Promise<ActivatedLicense>;
  /**
   * Activate 1 to 100 codes at once (spec 6.3 v2). The answer layout is undocumented: resolves with `data` as
   * received. 92020020 = the batch holds invalid codes (the marketplace's `data`, if any, in `details`).
   * Refused before sending (kind 'request') for 0 or more than 100 codes, duplicates or an invalid code.
   */
  activateLicenses(codes: readonly string[], options?: ActivateOptions & CallOptions): Promise<BatchActivation>;
  /**
   * Query a code's state (spec 6.3 v1 "heartbeat"; the deprecated `heartbeatInfo` is not sent). Call it at most once
   * a day per code, when the software is used. 92020011 = not activated.
   */
  licenseHeartbeat(code: string, options?: CallOptions): Promise<LicenseInfo>;
  /**
   * Deliver an online License for a `getLicenseAsync` event (spec 6.4): a string (at most 1024) or a file.
   * Multipart layout Uncertain (see license.ts `buildLicenseUpload`). Resolves with the sha256 sent.
   */
  uploadLicense(eventId: string, upload: LicenseUpload, options?: CallOptions): Promise<{ sha256: string }>;
}

const QUERY_ORDER_PATH = '/api/mkp-openapi-public/global/v1/order/query';
const USAGE_DATA_PATH = '/api/mkp-openapi-public/global/v1/isv/usage-data';
const SUCCESS = 'MKT.0000';
const MAX_ATTEMPTS = 2;

/** One request, signed anew for every attempt. */
interface Outgoing {
  method: 'GET' | 'POST';
  pathAndQuery: string;
  /** sent byte-for-byte; bytes for a multipart body */
  body?: string | Buffer;
  /** default `application/json` */
  contentType?: string;
  /** headers to send and sign besides Content-Type (called once per attempt) */
  headers?: () => Record<string, string>;
}

export function createMarketplaceClient(
  config: MarketplaceClientConfig,
  fetchImpl: typeof fetch = fetch,
): MarketplaceClient & LicenseClient {
  const timeoutMs = config.timeoutMs ?? 2000;
  const bases = config.baseUrls.slice(0, MAX_ATTEMPTS);
  if (bases.length === 0) throw new Error('MarketplaceClientConfig.baseUrls must not be empty');

  /** One signed attempt; resolves with the parsed JSON body of a 2xx response. */
  async function attempt(api: string, base: string, req: Outgoing, deadline: number): Promise<unknown> {
    const url = base.replace(/\/+$/, '') + req.pathAndQuery;
    const limitMs = Math.min(timeoutMs, deadline - Date.now());
    if (limitMs < 50) throw new OpenApiError(`${api}: no time left for ${new URL(url).host}`, { kind: 'timeout' });
    const headers = signApigRequest(
      {
        method: req.method,
        url,
        headers: { 'Content-Type': req.contentType ?? 'application/json', ...req.headers?.() },
        ...(req.body === undefined ? {} : { body: req.body }),
      },
      config.ak,
      config.sk,
    );
    let status: number;
    let text: string;
    try {
      const res = await fetchImpl(url, {
        method: req.method,
        headers,
        ...(req.body === undefined ? {} : { body: req.body }),
        redirect: 'manual', // never replay signed headers elsewhere; a 3xx is reported as an HTTP error
        signal: AbortSignal.timeout(limitMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new OpenApiError(
        timedOut
          ? `${api}: no answer from ${new URL(url).host} within ${limitMs} ms`
          : `${api}: cannot reach ${new URL(url).host}`,
        { kind: timedOut ? 'timeout' : 'network', cause: err },
      );
    }
    const body = parseJson(text);
    if (status < 200 || status > 299) {
      // API-gateway errors (e.g. APIGW.0301 for a bad signature) carry `error_code`.
      const code = isRecord(body) && typeof body.error_code === 'string' ? body.error_code : undefined;
      throw new OpenApiError(`${api}: HTTP ${status}${code ? ` ${code}` : ''}`, {
        kind: 'http',
        status,
        ...(code === undefined ? {} : { code }),
      });
    }
    if (body === undefined) throw new OpenApiError(`${api}: response is not JSON`, { kind: 'malformed', status });
    return body;
  }

  /** Tries each base URL in turn, moving on only when the host is unreachable or failing (5xx). */
  async function call(api: string, req: Outgoing, deadline: number): Promise<unknown> {
    for (let i = 0; ; i++) {
      try {
        return await attempt(api, bases[i]!, req, deadline);
      } catch (err) {
        const retryable =
          err instanceof OpenApiError &&
          (err.kind === 'network' || err.kind === 'timeout' || (err.kind === 'http' && (err.status ?? 0) >= 500));
        if (!retryable || i + 1 >= bases.length) throw err;
      }
    }
  }

  /** A License API call (spec 6.3 / 6.4): the answer's `data` on success, else a business error with the code. */
  async function licenseCall(api: string, req: Outgoing, deadline: number, success: readonly string[] = [LicenseResult.SUCCESS]) {
    const answer = await call(api, req, deadline);
    if (!isRecord(answer) || typeof answer.error_code !== 'string') {
      throw new OpenApiError(`${api}: response has no error_code`, { kind: 'malformed' });
    }
    if (!success.includes(answer.error_code)) {
      const msg = typeof answer.error_msg === 'string' ? ` (${answer.error_msg})` : '';
      throw new OpenApiError(`${api}: ${answer.error_code}${msg}`, {
        kind: 'business',
        code: answer.error_code,
        ...(answer.data === undefined || answer.data === null ? {} : { details: answer.data }),
      });
    }
    return answer.data;
  }

  /** `{license|license_list, real_effect_time?}` as JSON, or a kind 'request' error. */
  function activationBody(api: string, key: 'license' | 'license_list', value: string | readonly string[], options: ActivateOptions) {
    const body: Record<string, unknown> = { [key]: value };
    if (options.realEffectTime !== undefined) {
      const time = realEffectTime(options.realEffectTime);
      if ('error' in time) throw new OpenApiError(`${api}: ${time.error}`, { kind: 'request' });
      body.real_effect_time = time.value;
    }
    return JSON.stringify(body);
  }

  const requireCode = (api: string, code: unknown) => {
    const problem = checkLicenseCode(code);
    if (problem) throw new OpenApiError(`${api}: ${problem}`, { kind: 'request' });
  };

  return {
    async activateLicense(code, options = {}) {
      const api = 'activate license';
      requireCode(api, code);
      const body = activationBody(api, 'license', code, options);
      const data = await licenseCall(api, { method: 'POST', pathAndQuery: LICENSE_ACTIVATE_V1_PATH, body }, options.deadline ?? Infinity);
      return parseActivatedLicense(data);
    },

    async activateLicenses(codes, options = {}) {
      const api = 'activate licenses';
      if (!Array.isArray(codes) || codes.length === 0 || codes.length > MAX_BATCH_LICENSES) {
        throw new OpenApiError(`${api}: ${codes.length} codes; send 1 to ${MAX_BATCH_LICENSES} per call`, { kind: 'request' });
      }
      for (const code of codes) requireCode(api, code);
      if (new Set(codes).size !== codes.length) throw new OpenApiError(`${api}: a code is listed twice`, { kind: 'request' });
      const body = activationBody(api, 'license_list', codes, options);
      const data = await licenseCall(api, { method: 'POST', pathAndQuery: LICENSE_ACTIVATE_V2_PATH, body }, options.deadline ?? Infinity);
      return { data };
    },

    async licenseHeartbeat(code, options = {}) {
      const api = 'license heartbeat';
      requireCode(api, code);
      const body = JSON.stringify({ license: code });
      const data = await licenseCall(api, { method: 'POST', pathAndQuery: LICENSE_HEARTBEAT_V1_PATH, body }, options.deadline ?? Infinity);
      const info = parseLicenseInfo(data);
      if (!info) throw new OpenApiError(`${api}: success without license_code, status and activate_time`, { kind: 'malformed' });
      return info;
    },

    async uploadLicense(eventId, upload, options = {}) {
      const api = 'upload license';
      const problem = checkLicenseUpload(eventId, upload);
      if (problem) throw new OpenApiError(`${api}: ${problem}`, { kind: 'request' });
      const { body, contentType, sha256 } = buildLicenseUpload(upload);
      await licenseCall(
        api,
        { method: 'POST', pathAndQuery: marketEventFilePath(eventId), body, contentType },
        options.deadline ?? Infinity,
        UPLOAD_SUCCESS_CODES,
      );
      return { sha256 };
    },

    async queryOrder(orderId, orderLineId, options = {}) {
      const api = 'query order';
      // encodeURIComponent, not URLSearchParams: the signer reads '+' as a literal plus (spec 2.8).
      let query = `orderId=${encodeURIComponent(orderId)}`;
      if (orderLineId !== undefined) query += `&orderLineId=${encodeURIComponent(orderLineId)}`;
      const body = await call(api, { method: 'GET', pathAndQuery: `${QUERY_ORDER_PATH}?${query}` }, options.deadline ?? Infinity);

      if (!isRecord(body) || typeof body.resultCode !== 'string') {
        throw new OpenApiError(`${api}: response has no resultCode`, { kind: 'malformed' });
      }
      if (body.resultCode !== SUCCESS) {
        const msg = typeof body.resultMsg === 'string' ? ` (${body.resultMsg})` : '';
        throw new OpenApiError(`${api}: ${body.resultCode}${msg}`, { kind: 'business', code: body.resultCode });
      }
      if (body.orderInfo === undefined || body.orderInfo === null) {
        throw new OpenApiError(`${api}: success without orderInfo`, { kind: 'malformed' });
      }
      const parsed = OrderInfo.safeParse(body.orderInfo);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
        throw new OpenApiError(`${api}: unexpected orderInfo: ${issues}`, { kind: 'malformed' });
      }
      return parsed.data;
    },

    async pushUsage(records, options = {}) {
      const api = 'push usage';
      const key = config.usageSigningKey;
      if (!key) throw new OpenApiError(`${api}: usageSigningKey is not configured`, { kind: 'request' });
      if (records.length === 0 || records.length > MAX_USAGE_RECORDS) {
        throw new OpenApiError(`${api}: ${records.length} records; send 1 to ${MAX_USAGE_RECORDS} per call`, {
          kind: 'request',
        });
      }
      const body = canonicalJson(JSON.stringify({ usage_records: records }));
      if (body === undefined) throw new OpenApiError(`${api}: records cannot be serialized`, { kind: 'request' });
      const answer = await call(
        api,
        {
          method: 'POST',
          pathAndQuery: USAGE_DATA_PATH,
          body,
          headers: () => {
            const ts = String(Date.now());
            const nonce = randomBytes(32).toString('hex').toUpperCase();
            return { signature: usagePushSignature(key, ts, nonce, body), ts, nonce };
          },
        },
        options.deadline ?? Infinity,
      );

      if (!isRecord(answer) || typeof answer.error_code !== 'string') {
        throw new OpenApiError(`${api}: response has no error_code`, { kind: 'malformed' });
      }
      if (answer.error_code !== SUCCESS) {
        const msg = typeof answer.error_msg === 'string' ? ` (${answer.error_msg})` : '';
        const details =
          answer.extra_info ??
          (answer.abnormal_usage_data === undefined ? undefined : { abnormal_usage_data: answer.abnormal_usage_data });
        throw new OpenApiError(`${api}: ${answer.error_code}${msg}`, {
          kind: 'business',
          code: answer.error_code,
          ...(details === undefined || details === null ? {} : { details }),
        });
      }
    },
  };
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
