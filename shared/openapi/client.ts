/**
 * Client for the marketplace open APIs the merchant calls (spec 6), signed with AK/SK (spec 2.8).
 *
 * Availability rule (spec 1.6 / 6): the primary host is tried first; only when it cannot be reached
 * (network error, timeout, HTTP 5xx) is the next host tried. At most two attempts are made, each
 * bounded by `timeoutMs` and together by the caller's `deadline` (its share of the marketplace's 5 s).
 */
import { signApigRequest } from '#shared/protocol/apigSigner';
import { OrderInfo } from '#shared/openapi/order';

export interface MarketplaceClientConfig {
  /** primary host first, then fallbacks, e.g. `https://mkt.myhuaweicloud.com`, `https://mkt.myhuaweicloud.cn` */
  baseUrls: readonly string[];
  ak: string;
  sk: string;
  /** per-attempt timeout, default 2000 ms */
  timeoutMs?: number;
}

export type OpenApiErrorKind = 'network' | 'timeout' | 'http' | 'business' | 'malformed';

/** Failure of an open-API call. The message names the API but never contains credentials. */
export class OpenApiError extends Error {
  override readonly name = 'OpenApiError';
  readonly kind: OpenApiErrorKind;
  /** marketplace `resultCode` (business) or gateway `error_code` (http), when present */
  readonly code?: string;
  /** HTTP status, when a response was received */
  readonly status?: number;

  constructor(
    message: string,
    details: { kind: OpenApiErrorKind; code?: string; status?: number; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = details.kind;
    if (details.code !== undefined) this.code = details.code;
    if (details.status !== undefined) this.status = details.status;
  }
}

export interface CallOptions {
  /** epoch ms by which the whole call (all attempts) must be over: the caller's answer budget */
  deadline?: number;
}

export interface MarketplaceClient {
  /** Query order (spec 6.1); with `orderLineId` the marketplace returns only that line. */
  queryOrder(orderId: string, orderLineId?: string, options?: CallOptions): Promise<OrderInfo>;
}

const QUERY_ORDER_PATH = '/api/mkp-openapi-public/global/v1/order/query';
const SUCCESS = 'MKT.0000';
const MAX_ATTEMPTS = 2;

export function createMarketplaceClient(
  config: MarketplaceClientConfig,
  fetchImpl: typeof fetch = fetch,
): MarketplaceClient {
  const timeoutMs = config.timeoutMs ?? 2000;
  const bases = config.baseUrls.slice(0, MAX_ATTEMPTS);
  if (bases.length === 0) throw new Error('MarketplaceClientConfig.baseUrls must not be empty');

  /** One signed GET; resolves with the parsed JSON body of a 2xx response. */
  async function attempt(api: string, base: string, pathAndQuery: string, deadline: number): Promise<unknown> {
    const url = base.replace(/\/+$/, '') + pathAndQuery;
    const limitMs = Math.min(timeoutMs, deadline - Date.now());
    if (limitMs < 50) throw new OpenApiError(`${api}: no time left for ${new URL(url).host}`, { kind: 'timeout' });
    const headers = signApigRequest(
      { method: 'GET', url, headers: { 'Content-Type': 'application/json' } },
      config.ak,
      config.sk,
    );
    let status: number;
    let text: string;
    try {
      const res = await fetchImpl(url, {
        method: 'GET',
        headers,
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
  async function get(api: string, pathAndQuery: string, deadline: number): Promise<unknown> {
    for (let i = 0; ; i++) {
      try {
        return await attempt(api, bases[i]!, pathAndQuery, deadline);
      } catch (err) {
        const retryable =
          err instanceof OpenApiError &&
          (err.kind === 'network' || err.kind === 'timeout' || (err.kind === 'http' && (err.status ?? 0) >= 500));
        if (!retryable || i + 1 >= bases.length) throw err;
      }
    }
  }

  return {
    async queryOrder(orderId, orderLineId, options = {}) {
      const api = 'query order';
      // encodeURIComponent, not URLSearchParams: the signer reads '+' as a literal plus (spec 2.8).
      let query = `orderId=${encodeURIComponent(orderId)}`;
      if (orderLineId !== undefined) query += `&orderLineId=${encodeURIComponent(orderLineId)}`;
      const body = await get(api, `${QUERY_ORDER_PATH}?${query}`, options.deadline ?? Infinity);

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
