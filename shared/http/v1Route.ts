/**
 * The SaaS V1 production URL (spec 3.14): `GET /produce/v1?activity=…&…&timeStamp=…&authToken=…`, a second
 * wire format over the same domain and table as the V2 route (produceRoute.ts).
 *
 * - Parameters: with form-decoding semantics (spec 2.3). An event that carries the raw query string
 *   (`rawQueryString`: API Gateway HTTP APIs, payload 2.0) is decoded by `parseV1Query`, exactly. The REST
 *   proxy events this service receives have no raw query string: `multiValueQueryStringParameters` is used
 *   (it shows a name given twice, which `queryStringParameters` hides by keeping the last value); API Gateway
 *   has already percent-decoded it, so it is not decoded again (a `%` in a value would be decoded twice).
 *   REST API Gateway decodes percent escapes but may keep a literal `+` (form encoding of a space) as `+`:
 *   when a value holds a `+`, the token is checked over the values as given and, failing that, with every
 *   `+` read as a space. The token decides: a variant is accepted only when the marketplace signed exactly it.
 * - A parameter given twice, a malformed escape or an empty name: the token cannot be checked (which
 *   occurrence did the marketplace sign?) and the call is refused as unauthenticated, 000001.
 * - authToken (spec 2.3) with the V1 keys (`secrets.v1Keys`, several during a rotation); none configured → 000001.
 * - Replays: the authToken is the call's nonce (`v1:<token>`), recorded in the same transaction as the domain
 *   change, as V2 does. The store remembers a nonce for 10 minutes after it arrived (NONCE_MEMORY_MS), so a
 *   token is accepted only while a replay of it would still find its nonce: at most FUTURE_SKEW_MS ahead of
 *   our clock and at most min(v1WindowMs, NONCE_MEMORY_MS − FUTURE_SKEW_MS) behind it.
 * - Every answer, refusals included, is JSON `{resultCode, resultMsg, …}` signed (`Body-Sign`, spec 2.4) with
 *   the V1 key that verified the token (the newest V1 key for an unverified request).
 * - Bad input after verification → 000002 naming the parameter; nothing is written or recorded.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from '#shared/zod';
import { fields } from './callback.ts';
import type { Call, Reply, Services } from '#shared/domain/call';
import { ResultCode } from '#shared/protocol/resultCodes';
import { AUTH_TOKEN, parseV1Query, verifyAuthToken, type V1Verdict } from '#shared/protocol/v1';
import { getRuntime, logger } from '#shared/runtime';
import { isDebug } from './callback.ts';
import { MarketplaceError } from './errors.ts';
import { inboundRequest, keepFailures, routeOf, type KeepingEvent } from './keepFailures.ts';
import { marketplaceResponse } from './marketplaceResponse.ts';
import { LONE_SURROGATE } from './verifySignature.ts';
// the open-API client, provisioners and notifier (the Kit and login routes leave them out)
import '#shared/runtime/marketplace';

/** How long the store remembers a nonce after the call arrived (shared/storage/store.ts default nonceTtlSeconds). */
export const NONCE_MEMORY_MS = 600_000;
/** How far ahead of our clock a V1 timeStamp may be. */
export const FUTURE_SKEW_MS = 60_000;

/** What a verified V1 call hands to its activity. */
export interface V1Context {
  services: Services;
  call: Call;
  /** the V1 key that verified the token: it also encrypts the credentials of the answer (spec 2.5) */
  key: string;
}

export interface V1Activity<S extends z.ZodMiniType = z.ZodMiniType> {
  activity: string;
  /** the decoded query parameters (strings; unknown parameters are ignored) */
  schema: S;
  run(ctx: V1Context, params: z.infer<S>): Promise<Reply>;
}

export const defineV1Activity = <S extends z.ZodMiniType>(activity: V1Activity<S>): V1Activity => activity as unknown as V1Activity;

type V1Event = KeepingEvent & { rawQueryString?: string; v1?: { params: Record<string, string>; key: string } };

type ParamsResult = { ok: true; candidates: Record<string, string>[] } | { ok: false; message: string };

const spaced = (s: string) => s.replace(/\+/g, ' ');

/**
 * The decoded query parameters of a V1 request, as the candidates the token may have been computed over
 * (see the header comment): one, or two when API Gateway may have left a form-encoded space as `+`.
 */
export function v1ParamsOf(event: Pick<V1Event, 'rawQueryString' | 'multiValueQueryStringParameters' | 'queryStringParameters'>): ParamsResult {
  if (typeof event.rawQueryString === 'string') {
    const parsed = parseV1Query(event.rawQueryString);
    return parsed.ok ? { ok: true, candidates: [parsed.params] } : { ok: false, message: parsed.message };
  }
  const entries: [string, string][] = [];
  const multi = event.multiValueQueryStringParameters;
  if (multi) {
    for (const [name, values] of Object.entries(multi)) {
      if (!values || values.length === 0) continue;
      if (values.length > 1) return { ok: false, message: `duplicate query parameter ${JSON.stringify(name.slice(0, 64))}` };
      entries.push([name, values[0]!]);
    }
  } else {
    for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) entries.push([name, value]);
  }
  if (entries.some(([name]) => name === '')) return { ok: false, message: 'query parameter without a name' };
  const exact = Object.fromEntries(entries);
  if (!entries.some(([name, value]) => name.includes('+') || (name !== AUTH_TOKEN && value.includes('+')))) return { ok: true, candidates: [exact] };
  const formDecoded = new Map<string, string>();
  for (const [name, value] of entries) {
    const key = name === AUTH_TOKEN ? name : spaced(name);
    if (formDecoded.has(key)) return { ok: true, candidates: [exact] }; // `a+b` and `a b` both given: no second reading
    formDecoded.set(key, name === AUTH_TOKEN ? value : spaced(value));
  }
  return { ok: true, candidates: [exact, Object.fromEntries(formDecoded)] };
}

function verifyV1Query(): MiddlewareObj<V1Event, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      // the clock starts when the request arrives, before a cold start reads its secrets
      const now = Date.now();
      const { settings, secrets } = await getRuntime();
      const event = request.event;
      if (!secrets.v1Keys.some((key) => key !== '')) throw new MarketplaceError(ResultCode.AUTH_FAILED, 'V1 key not configured');
      const found = v1ParamsOf(event);
      if (!found.ok) throw new MarketplaceError(ResultCode.AUTH_FAILED, `authToken cannot be checked: ${found.message}`);
      const windowMs = settings.v1WindowMs;
      let verdict: V1Verdict | undefined;
      let params: Record<string, string> | undefined;
      for (const candidate of found.candidates) {
        const attempt = verifyAuthToken({ keys: secrets.v1Keys, params: candidate, nowMs: now, windowMs });
        verdict ??= attempt;
        if (attempt.ok) {
          verdict = attempt;
          params = candidate;
          break;
        }
      }
      if (!verdict?.ok || !params) throw new MarketplaceError(ResultCode.AUTH_FAILED, verdict && !verdict.ok ? verdict.message : 'authToken mismatch');
      // accepted only while its nonce is remembered (see the header comment)
      const behindMs = Math.min(windowMs, NONCE_MEMORY_MS - FUTURE_SKEW_MS);
      if (verdict.timestampMs - now > FUTURE_SKEW_MS || now - verdict.timestampMs > behindMs)
        throw new MarketplaceError(ResultCode.AUTH_FAILED, `timeStamp outside the accepted window (${behindMs / 1000} s behind, ${FUTURE_SKEW_MS / 1000} s ahead)`);
      const token = params[AUTH_TOKEN]!;
      event.verified = { nonce: `v1:${token}`, keyIndex: verdict.keyIndex, rawBody: '', receivedAt: new Date(now) };
      event.v1 = { params, key: secrets.v1Keys[verdict.keyIndex]! };
    },
  };
}

const text = (v: unknown) => (typeof v === 'string' && v.length <= 64 && !LONE_SURROGATE.test(v) ? v : undefined);

/** zod issues as one marketplace message naming the parameters (at most three). */
const issuesMessage = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
  issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join('.') || 'query'}: ${issue.message}`)
    .join('; ');

/** Field rules of the V1 query parameters (spec 3.14; all values are strings). */
export const v1Fields = {
  id: fields.id,
  optionalText: (max: number) => z.optional(z.string().check(z.maxLength(max, `must be at most ${max} characters`))),
  /** UTC yyyyMMddHHmmss (also with milliseconds), parsed to a Date */
  marketTime: fields.marketTime,
  /** a decimal with at most 3 decimals, possibly negative (orderAmount) */
  amount: () => z.optional(z.pipe(z.string().check(z.regex(/^-?\d{1,15}(\.\d{1,3})?$/, 'must be a number with at most 3 decimals')), z.transform(Number))),
  flag: () => z.optional(z.enum(['0', '1'])),
  testFlag: z.optional(z.string().check(z.maxLength(2, 'must be at most 2 characters'))),
};

export function createV1Handler(activities: readonly V1Activity[]) {
  const byActivity = new Map(activities.map((a) => [a.activity, a]));

  async function dispatch(event: V1Event, context: Context): Promise<Reply> {
    const runtime = await getRuntime();
    const { services, settings } = runtime;
    const verified = event.verified!;
    const { params, key } = event.v1!;
    const lambdaLeft = context.getRemainingTimeInMillis?.() ?? Infinity;
    const deadline = Math.min(verified.receivedAt.getTime() + settings.requestBudgetMs, Date.now() + lambdaLeft - 500);
    const activity = typeof params.activity === 'string' && params.activity !== '' ? params.activity.slice(0, 32) : '(none)';
    logger.appendKeys({ activity, version: 'v1' });
    // A refused request changes nothing and records nothing (no nonce, no audit record); a log line keeps
    // the ids (never phone, e-mail or credentials).
    const refuse = (resultMsg: string): Reply => {
      const ids = { instanceId: text(params.instanceId), orderId: text(params.orderId) };
      logger.warn('request refused: bad input', { resultCode: ResultCode.INVALID_PARAMETER, ...ids });
      return { resultCode: ResultCode.INVALID_PARAMETER, resultMsg };
    };
    const handler = byActivity.get(activity);
    if (!handler) return refuse(activity === '(none)' ? 'activity is missing' : `unsupported activity ${activity}`);
    const parsed = handler.schema.safeParse(params);
    if (!parsed.success) return refuse(issuesMessage(parsed.error.issues));
    const malformed = Object.entries(params).find(([name, value]) => LONE_SURROGATE.test(name) || LONE_SURROGATE.test(value));
    if (malformed) return refuse(`${malformed[0].slice(0, 64)}: must be valid Unicode text`);
    // kept (sealed) for redrive if the answer is a failure: the parameters as verified, without the token
    const { [AUTH_TOKEN]: _token, ...signed } = params;
    const request = inboundRequest(runtime, routeOf(event, '/produce/v1'), JSON.stringify(signed));
    const call: Call = {
      activity: `v1:${activity}`,
      nonce: verified.nonce,
      receivedAt: verified.receivedAt,
      deadline,
      testFlag: isDebug(params.testFlag),
      request,
    };
    const [instanceId, orderId] = [text(params.instanceId), text(params.orderId)];
    event.pending = {
      nonce: call.nonce,
      receivedAt: call.receivedAt,
      activity: call.activity,
      testFlag: call.testFlag,
      request,
      ...(instanceId ? { instanceId } : {}),
      ...(orderId ? { orderId } : {}),
    };
    try {
      return await handler.run({ services, call, key }, parsed.data);
    } catch (error) {
      if (error instanceof V1InputError) return refuse(error.message);
      throw error;
    }
  }

  return middy<V1Event, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(marketplaceResponse((secrets) => secrets.v1Keys))
    .use(keepFailures())
    .use(verifyV1Query())
    .handler(async (event, context) => dispatch(event, context) as unknown as APIGatewayProxyResult);
}

/** Thrown by an activity before it wrote anything: answered 000002 with its message (which names the parameter). */
export class V1InputError extends Error {
  override readonly name = 'V1InputError';
}
