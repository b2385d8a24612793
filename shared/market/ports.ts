/**
 * How `npm run market` reaches the service: four ports, each replaceable. Over HTTP against the local stack
 * (`npm start`) or any deployment (`--target`), or in process through the real handlers (tests).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { internalEvent, produceEvent, v1Event, type InternalRequest } from '../testing/apiEvents.ts';
import { ssoEvent } from '../testing/ssoBrowser.ts';

/** An HTTP answer as the marketplace reads it. */
export interface Wire {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** every Set-Cookie line (a browser route) */
  setCookies?: string[];
}

/** A browser's GET of a public API route (`/sso/login`): with its cookies, redirects not followed. */
export interface RouteRequest {
  path: string;
  query?: Record<string, string>;
  cookies?: Record<string, string>;
}

/** Delivers one signed POST /produce (the raw body and the query string carrying signature, timestamp, nonce). */
export type Deliver = (raw: string, query: Record<string, string>) => Promise<Wire>;

/** Delivers one V1 call: GET /produce/v1 with these (decoded) query parameters, authToken included. */
export type DeliverV1 = (params: Record<string, string>) => Promise<Wire>;

export interface MarketPorts {
  produce: Deliver;
  /** POST /license: the License production URL (V2 signature, as /produce) */
  license?: Deliver;
  /** the SaaS V1 interface (existing listings) */
  produceV1?: DeliverV1;
  /** an operator / product route (`/internal/...`) */
  internal(request: InternalRequest): Promise<Wire>;
  /** a scheduled job run as of the event's `time`; answers the job's summary */
  job(name: string, event: Record<string, unknown>): Promise<unknown>;
  /** the local marketplace's test routes (`/__local/...`) */
  local(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Wire>;
  /** a browser's GET of a public route of the API (`/sso/...`), cookies sent, redirects not followed */
  route?(request: RouteRequest): Promise<Wire>;
  /** a browser's GET of any URL (the identity service's authorize page), redirects not followed */
  browse?(url: string): Promise<Wire>;
}

const lower = (headers: Headers) => Object.fromEntries([...headers.entries()].map(([k, v]) => [k.toLowerCase(), v]));

async function fetchWire(url: string, init: RequestInit): Promise<Wire> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    // "fetch failed" says nothing: name the host and the cause (e.g. ECONNREFUSED: is `npm start` running?)
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${new URL(url).origin} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const setCookies = response.headers.getSetCookie();
  return { status: response.status, headers: lower(response.headers), body: await response.text(), ...(setCookies.length ? { setCookies } : {}) };
}

const cookieHeader = (cookies: Record<string, string> = {}) => Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');

/** A browser's GET: redirects are answers, not followed. */
const browse = (url: string, cookies?: Record<string, string>) =>
  fetchWire(url, { method: 'GET', redirect: 'manual', headers: cookieHeader(cookies) ? { Cookie: cookieHeader(cookies) } : {} });

export interface HttpPortsOptions {
  /** the API's base URL (stage included), e.g. http://127.0.0.1:3000 */
  api: string;
  /** serverless-offline's Lambda endpoint */
  lambda?: string;
  /** the function name prefix of the jobs (`<service>-<stage>-`) */
  functionPrefix?: string;
  marketplace?: string;
}

/** The ports over HTTP: the local stack by default. */
export function httpPorts(options: HttpPortsOptions): MarketPorts {
  const api = options.api.replace(/\/+$/, '');
  const lambda = (options.lambda ?? 'http://127.0.0.1:3002').replace(/\/+$/, '');
  const marketplace = (options.marketplace ?? 'http://127.0.0.1:4010').replace(/\/+$/, '');
  const prefix = options.functionPrefix ?? 'koogallery-merchant-local-';
  return {
    produce: (raw, query) =>
      fetchWire(`${api}/produce?${new URLSearchParams(query)}`, { method: 'POST', headers: { 'Content-Type': 'application/json;charset=utf8' }, body: raw }),
    license: (raw, query) =>
      fetchWire(`${api}/license?${new URLSearchParams(query)}`, { method: 'POST', headers: { 'Content-Type': 'application/json;charset=utf8' }, body: raw }),
    produceV1: (params) =>
      fetchWire(`${api}/produce/v1?${Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`, {
        method: 'GET',
        headers: { Accept: 'application/json' },
      }),
    internal: (r) => {
      const path = r.resource.replace(/\{(\w+)\}/g, (_w, name: string) => encodeURIComponent(r.pathParameters?.[name] ?? ''));
      const query = r.query ? `?${new URLSearchParams(r.query)}` : '';
      return fetchWire(`${api}${path}${query}`, { method: r.method, headers: { 'Content-Type': 'application/json', ...r.headers }, ...(r.body != null ? { body: r.body } : {}) });
    },
    job: async (name, event) => {
      const wire = await fetchWire(`${lambda}/2015-03-31/functions/${prefix}${name}/invocations`, { method: 'POST', body: JSON.stringify(event) });
      if (wire.status !== 200) throw new Error(`job ${name}: HTTP ${wire.status}`);
      return wire.body ? JSON.parse(wire.body) : undefined;
    },
    local: (method, path, body) =>
      fetchWire(`${marketplace}${path}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }),
    route: (r) => browse(`${api}${r.path}${r.query && Object.keys(r.query).length ? `?${new URLSearchParams(r.query)}` : ''}`, r.cookies),
    browse: (url) => browse(url),
  };
}

type Handler = (event: any, context: Context) => Promise<APIGatewayProxyResult | unknown>;

const context = { functionName: 'market', awsRequestId: 'market', getRemainingTimeInMillis: () => 300_000 } as unknown as Context;

const asWire = (result: APIGatewayProxyResult): Wire => {
  const setCookies = Object.entries(result.multiValueHeaders ?? {})
    .filter(([k]) => k.toLowerCase() === 'set-cookie')
    .flatMap(([, v]) => v.map(String));
  return {
    status: result.statusCode,
    headers: Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
    body: result.body,
    ...(setCookies.length ? { setCookies } : {}),
  };
};

/** The real produce handler in this process, as API Gateway delivers it (like `inProcessDelivery`). */
export const inProcessDeliver =
  (handler: Handler, path = '/produce'): Deliver =>
  async (raw, query) =>
    asWire((await handler({ ...produceEvent(raw, query), path, resource: path }, context)) as APIGatewayProxyResult);

/** The real V1 handler in this process, as API Gateway (REST, proxy) delivers GET /produce/v1. */
export const inProcessDeliverV1 =
  (handler: Handler): DeliverV1 =>
  async (params) =>
    asWire(
      (await handler(
        v1Event(params),
        context,
      )) as APIGatewayProxyResult,
    );

export interface InProcessPortsOptions {
  produce: Deliver;
  license?: Deliver;
  produceV1?: DeliverV1;
  /** internal routes by resource (`/internal/usage`, `/internal/instances/{instanceId}`) */
  internal: Record<string, Handler>;
  jobs: Record<string, Handler>;
  /** public browser routes by path (`/sso/login`), called as API Gateway delivers a GET */
  routes?: Record<string, Handler>;
  /** the local marketplace's URL (the test harness starts one on a random port) */
  marketplace: string;
  /** the marketplace whose Kit driver serves `/__local/kit/...` (default: `marketplace`) */
  kitMarketplace?: string;
}

/** The ports in process: the handlers called directly, the jobs too; the local marketplace over HTTP. */
export function inProcessPorts(options: InProcessPortsOptions): MarketPorts {
  const http = httpPorts({ api: 'http://unused.invalid', marketplace: options.marketplace });
  return {
    produce: options.produce,
    ...(options.produceV1 ? { produceV1: options.produceV1 } : {}),
    ...(options.license ? { license: options.license } : {}),
    internal: async (r) => {
      const handler = options.internal[r.resource];
      if (!handler) return { status: 404, headers: {}, body: JSON.stringify({ message: `no handler for ${r.resource}` }) };
      return asWire((await handler(internalEvent(r) as APIGatewayProxyEvent, context)) as APIGatewayProxyResult);
    },
    job: async (name, event) => {
      const handler = options.jobs[name];
      if (!handler) throw new Error(`no job ${name}`);
      return handler({ source: 'aws.events', ...event }, context);
    },
    local: (method, path, body) =>
      path.startsWith('/__local/kit/') && options.kitMarketplace
        ? httpPorts({ api: 'http://unused.invalid', marketplace: options.kitMarketplace }).local(method, path, body)
        : http.local(method, path, body),
    route: async (r) => {
      const handler = options.routes?.[r.path];
      if (!handler) return { status: 404, headers: {}, body: JSON.stringify({ message: `no handler for ${r.path}` }) };
      return asWire((await handler(ssoEvent(r.path, r.query ?? {}, new Map(Object.entries(r.cookies ?? {}))), context)) as APIGatewayProxyResult);
    },
    browse: (url) => browse(url),
  };
}
