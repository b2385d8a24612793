/**
 * Redrive (`npm run ops -- redrive <id>`): a failed call kept in the table (shared/storage/failedCalls.ts)
 * is sent again the way the marketplace would resend it — the same request, signed afresh (new nonce and
 * timestamp, the current key) — through the real route: over HTTP to the production URL, or in process
 * to the real handlers (tests). Its answer is recorded on the failed call.
 *
 * What it does not do: it does not change the request (a V1 call gets a fresh timeStamp, as every V1
 * resend does), bypass any check, or stop the marketplace's own retry — that may still arrive and is
 * answered the same way. A V1 Kit call (whose timeStamp also orders the data it carries) is not redriven.
 *
 * A call about an instance that has changed since is refused unless forced: a FREEZE or UNFREEZE carries
 * no ordering key, so a FREEZE that failed, was retried successfully by the marketplace and then undone
 * by a renewal's UNFREEZE would, replayed, freeze a paid instance. newInstance and the reads are exempt:
 * a resend of them is answered from what is stored.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Sealer } from '#shared/crypto/sealer';
import { signKitRequest } from '#shared/protocol/kitSignature';
import { bodySignHeader, signV2Request } from '#shared/protocol/signature';
import { formatMarketTimeMillis } from '#shared/protocol/time';
import { AUTH_TOKEN, computeAuthToken } from '#shared/protocol/v1';
import type { Secrets } from '#shared/secrets';
import type { CallRecord } from '#shared/domain/repository';
import type { FailedCall, FailedCallStore } from '#shared/storage/failedCalls';
import { httpPorts, inProcessDeliver, inProcessDeliverV1, type Deliver, type DeliverV1, type Wire } from '../market/ports.ts';

/** How a failed call's route is sent again. */
export type RouteKind = 'v2' | 'v1' | 'kit-v2' | 'kit-v1';

export const routeKind = (route: string): RouteKind =>
  /\/produceAPI\/v2\//.test(route) ? 'kit-v2' : /\/produceAPI\//.test(route) ? 'kit-v1' : /\/produce\/v1$/.test(route) ? 'v1' : 'v2';

/** The production URL routes, as the marketplace reaches them. */
export interface RedrivePorts {
  /** POST /produce, or /license when the call came by it (V2 signature in the query string) */
  v2(route: string): Deliver;
  /** GET /produce/v1 (authToken) */
  v1?: DeliverV1;
  /** POST …/produceAPI/v2/<sync> with x-sign / x-timestamp / x-nonce */
  kit?(route: string, raw: string, headers: Record<string, string>): Promise<Wire>;
}

/**
 * Over HTTP to a production URL (`npm start`'s http://127.0.0.1:3000 by default, or a deployment's): the
 * API's base, or the URL entered in the seller console (its `/produce`, `/produce/v1` or `/license` is
 * taken off: each call goes to its own route under the base).
 */
export function httpRedrivePorts(api: string): RedrivePorts {
  const base = apiBase(api);
  const market = httpPorts({ api: base });
  return {
    v2: (route) => (route.endsWith('/license') ? market.license! : market.produce),
    v1: market.produceV1!,
    kit: async (route, raw, headers) => {
      const response = await fetch(`${base}${route}`, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(30_000) });
      return { status: response.status, headers: Object.fromEntries(response.headers.entries()), body: await response.text() };
    },
  };
}

/** The API's base URL from either it or a production URL. */
export const apiBase = (url: string) => url.replace(/\/+$/, '').replace(/\/(produce\/v1|produce|license)$/, '');

/** Calls a resend of which is answered from what is stored, whatever happened since. */
const REPLAY_SAFE = new Set(['newInstance', 'queryInstance', 'getLicenseAsync']);

/** The changes recorded for the call's instance after it failed (a redrive could undo them). */
async function changedSince(deps: RedriveDeps, call: FailedCall): Promise<CallRecord[]> {
  if (deps.force || !call.instanceId || !deps.history || REPLAY_SAFE.has(call.activity)) return [];
  const calls = await deps.history(call.instanceId);
  return calls.filter((c) => c.receivedAt > call.receivedAt && c.resultCode === '000000' && !REPLAY_SAFE.has(c.activity));
}

type Handler = (event: any, context: Context) => Promise<APIGatewayProxyResult | unknown>;

const lambdaContext = { functionName: 'redrive', awsRequestId: 'redrive', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

/** In process, to the real handlers: `produce` (and `license`, `produceV1`, Kit syncs by route). */
export function inProcessRedrivePorts(handlers: { produce: Handler; license?: Handler; produceV1?: Handler; kit?: Record<string, Handler> }): RedrivePorts {
  return {
    v2: (route) => (route.endsWith('/license') && handlers.license ? inProcessDeliver(handlers.license, '/license') : inProcessDeliver(handlers.produce)),
    ...(handlers.produceV1 ? { v1: inProcessDeliverV1(handlers.produceV1) } : {}),
    kit: async (route, raw, headers) => {
      const handler = handlers.kit?.[route];
      if (!handler) throw new Error(`no handler for ${route}`);
      const event = { httpMethod: 'POST', path: route, resource: route, body: raw, isBase64Encoded: false, headers, multiValueHeaders: {}, queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null, requestContext: {} } as unknown as APIGatewayProxyEvent;
      const result = (await handler(event, lambdaContext)) as APIGatewayProxyResult;
      return { status: result.statusCode, headers: Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])), body: result.body };
    },
  };
}

export type RedriveKeys = Pick<Secrets, 'accessKeys' | 'v1Keys' | 'kitAccessKeys'>;

export interface RedriveDeps {
  failedCalls: FailedCallStore;
  /** the calls recorded for an instance, newest first (the store's audit history) */
  history?: (instanceId: string) => Promise<CallRecord[]>;
  /** redrive even though the instance changed since the call failed */
  force?: boolean;
  sealer: Sealer;
  keys: RedriveKeys;
  ports: RedrivePorts;
  now?: () => Date;
}

export type RedriveOutcome =
  | { ok: false; problem: string; candidates?: FailedCall[] }
  | {
      ok: true;
      call: FailedCall;
      /** times it had been redriven before this one */
      before: number;
      nonce: string;
      status: number;
      resultCode: string;
      resultMsg: string;
      /** whether the answer carried a valid Body-Sign with the key the request was signed with */
      signedAnswer: boolean;
      /** false: another redrive was recorded meanwhile (this answer is not on the item) */
      recorded: boolean;
    };

const newNonce = () => randomBytes(32).toString('hex').toUpperCase();

/** Sends `payload` (the unsealed request) again through its route, signed as the marketplace signs. */
async function send(route: string, payload: string, keys: RedriveKeys, ports: RedrivePorts, now: Date): Promise<{ wire: Wire; nonce: string; key: string }> {
  const nonce = newNonce();
  const timestamp = String(now.getTime());
  const kind = routeKind(route);
  const need = (key: string | undefined, name: string) => {
    if (!key) throw new Error(`no ${name} configured: cannot sign the redrive`);
    return key;
  };
  if (kind === 'v2') {
    const key = need(keys.accessKeys[0], 'access key (KOOGALLERY_ACCESS_KEY)');
    const query = { signature: signV2Request(key, nonce, timestamp, payload).toUpperCase(), timestamp, nonce };
    return { wire: await ports.v2(route)(payload, query), nonce, key };
  }
  if (kind === 'v1') {
    const key = need(keys.v1Keys[0], 'V1 key (KOOGALLERY_V1_KEY)');
    if (!ports.v1) throw new Error('no V1 route to send to');
    const params = { ...(JSON.parse(payload) as Record<string, string>), timeStamp: formatMarketTimeMillis(now) };
    const token = computeAuthToken(key, params);
    return { wire: await ports.v1({ ...params, [AUTH_TOKEN]: token }), nonce: `v1:${token}`, key };
  }
  if (kind === 'kit-v2') {
    const key = need(keys.kitAccessKeys[0], 'Kit access key (KOOGALLERY_KIT_ACCESS_KEY)');
    if (!ports.kit) throw new Error('no Kit route to send to');
    const headers = { 'Content-Type': 'application/json', 'x-sign': signKitRequest(key, nonce, timestamp, payload).toUpperCase(), 'x-timestamp': timestamp, 'x-nonce': nonce };
    return { wire: await ports.kit(route, payload, headers), nonce, key };
  }
  throw new Error('a V1 Kit call is not redriven: its timeStamp, which a resend must renew, also orders the data it carries');
}

const answerOf = (body: string): { resultCode: string; resultMsg: string } => {
  try {
    const json = JSON.parse(body) as { resultCode?: unknown; resultMsg?: unknown };
    return { resultCode: String(json.resultCode ?? '(none)'), resultMsg: String(json.resultMsg ?? '') };
  } catch {
    return { resultCode: '(not JSON)', resultMsg: body.slice(0, 120) };
  }
};

/** Redrives the failed call named `id` (see the header comment). */
export async function redrive(deps: RedriveDeps, id: string): Promise<RedriveOutcome> {
  const found = await deps.failedCalls.find(id);
  if (found.length === 0) return { ok: false, problem: `no failed call ${id} (ids: npm run ops -- failed)` };
  if (found.length > 1) return { ok: false, problem: `${id} names ${found.length} failed calls: give more of the id`, candidates: found };
  const call = found[0]!;
  if (!call.redrivable || !call.requestSealed) return { ok: false, problem: `${call.id} was kept without its request (too large): it cannot be redriven` };
  if (routeKind(call.route) === 'kit-v1') return { ok: false, problem: `${call.id} is a V1 Kit call: not redriven (its timeStamp also orders the data it carries)` };
  const later = await changedSince(deps, call);
  if (later.length > 0)
    return {
      ok: false,
      problem:
        `${call.id}: instance ${call.instanceId} changed since this ${call.activity} failed ` +
        `(${later.map((c) => `${c.activity} at ${c.receivedAt}`).join(', ')}); replaying it could undo that. ` +
        'Check the instance (npm run invoke -- getInstance, or GET /internal/instances/{id}), then redrive with --force if it is still wanted.',
    };
  const payload = deps.sealer.open(call.requestSealed);
  const now = deps.now?.() ?? new Date();
  const { wire, nonce, key } = await send(call.route, payload, deps.keys, deps.ports, now);
  const answer = wire.status === 200 ? answerOf(wire.body) : { resultCode: `HTTP ${wire.status}`, resultMsg: wire.body.slice(0, 120) };
  const recorded = await deps.failedCalls.markRedriven(call, { at: now.toISOString(), nonce, ...answer });
  return {
    ok: true,
    call,
    before: call.redrives,
    nonce,
    status: wire.status,
    ...answer,
    signedAnswer: wire.headers['body-sign'] === bodySignHeader(key, wire.body),
    recorded,
  };
}
