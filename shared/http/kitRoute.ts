/**
 * The joint-operation Kit routes (spec 3.9), one Lambda per sync serving both wire formats:
 * - V2 `POST …/produceAPI/v2/<name>`: headers x-sign / x-timestamp / x-nonce (spec 2.2, Kit access key);
 * - V1 `POST …/produceAPI/<name>`: header `authToken` over the top-level body fields (spec 2.3, V1 key),
 *   `userList` / `orgInfo` as JSON strings, flags 0/1 only for tenant and application sync.
 * Both answer `{resultCode, resultMsg}` with a `Body-Sign` header (spec 2.4; for V2 signed with the Kit
 * key, harmless if ignored). The signature is checked over the bytes as received before anything else.
 */
import { isUtf8 } from 'node:buffer';
import middy, { type MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyResult } from 'aws-lambda';
import * as z from '#shared/zod';
import type { Reply } from '#shared/domain/call';
import type { KitCall, KitServices, KitSyncName } from '#shared/domain/kit';
import { CONFLICTING_HEADER, headerValue, verifyKitRequest } from '#shared/protocol/kitSignature';
import { ResultCode } from '#shared/protocol/resultCodes';
import { KIT_ZONE_OFFSET_MS, normaliseKitTimeStamp } from '#shared/protocol/time';
import type { SyncFlag } from '#shared/domain/tenancy';
import { AUTH_TOKEN, authTokenParamsOfBody, verifyAuthToken, type V1Verdict } from '#shared/protocol/v1';
import { getRuntime, logger } from '#shared/runtime';
import { fields } from './callback.ts';
import { MarketplaceError } from './errors.ts';
import { inboundRequest, keepFailures, routeOf, type KeepingEvent } from './keepFailures.ts';
import { marketplaceResponse } from './marketplaceResponse.ts';
import { illFormedText, LONE_SURROGATE, rawBytesOf } from './verifySignature.ts';
import '#shared/runtime/joint';

export interface KitSync<S extends z.ZodMiniType = z.ZodMiniType> {
  name: KitSyncName;
  /** the body in its V2 shape (V1 bodies are brought to it by `fromV1` first) */
  schema: S;
  /** V1 body → V2 shape; a string is the reason it cannot be (answered 000002) */
  fromV1?: (body: Record<string, unknown>) => Record<string, unknown> | string;
  /** the flags V1 allows, when fewer than V2's */
  v1Flags?: readonly number[];
  run(kit: KitServices, call: KitCall, body: z.infer<S>): Promise<Reply>;
}

export const defineKitSync = <S extends z.ZodMiniType>(sync: KitSync<S>): KitSync => sync as unknown as KitSync;

type KitEvent = KeepingEvent & {
  kit?: { version: 'v1' | 'v2'; nonce: string; nonceTtlSeconds?: number; receivedAt: Date; body: Record<string, unknown> };
};

/** `/produceAPI/v2/<name>` (also under a base path such as /produce) is V2; `/produceAPI/<name>` is V1. */
export const kitVersionOf = (path: string): 'v1' | 'v2' => (/\/produceAPI\/v2\//.test(path) ? 'v2' : 'v1');

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * V1 Kit timeStamps: spec 3.9 says UTC+8 for the Kit, spec 2.3 says UTC for authToken in general
 * (Uncertain). A token is accepted when the stamp is within the window in either reading; replays are
 * harmless anyway, as a call older than the stored data writes nothing.
 */
function verifyV1(keys: readonly string[], params: Record<string, string>, nowMs: number, windowMs: number): V1Verdict {
  const china = verifyAuthToken({ keys, params, nowMs: nowMs + KIT_ZONE_OFFSET_MS, windowMs });
  return china.ok || china.reason !== 'timestamp' ? china : verifyAuthToken({ keys, params, nowMs, windowMs });
}

function verifyKit(): MiddlewareObj<KitEvent, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      const now = Date.now();
      const { settings, secrets } = await getRuntime();
      const event = request.event;
      const version = kitVersionOf(event.path ?? event.resource ?? '');
      const bytes = rawBytesOf(event);
      const oversized = bytes.length > settings.kitMaxBodyBytes;
      let nonce: string;
      let nonceTtlSeconds: number | undefined;
      let keyIndex: number;
      let body: unknown;
      if (version === 'v2') {
        if (secrets.kitAccessKeys.length === 0) throw new MarketplaceError(ResultCode.AUTH_FAILED, 'Kit access key not configured');
        const verdict = verifyKitRequest({
          accessKeys: secrets.kitAccessKeys,
          headers: event.headers ?? {},
          rawBody: bytes,
          nowMs: now,
          windowMs: settings.timestampWindowMs,
          ...(oversized ? { forms: ['raw', 'v2-raw'] as const } : {}),
        });
        if (!verdict.ok) throw new MarketplaceError(ResultCode.AUTH_FAILED, verdict.message);
        if (verdict.form !== 'raw') logger.info('Kit signature verified', { form: verdict.form });
        ({ nonce, keyIndex } = verdict);
      } else {
        if (secrets.v1Keys.length === 0) throw new MarketplaceError(ResultCode.AUTH_FAILED, 'V1 key not configured');
        const token = headerValue(event.headers ?? {}, AUTH_TOKEN);
        if (token === undefined || token === CONFLICTING_HEADER) throw new MarketplaceError(ResultCode.AUTH_FAILED, 'missing authToken header');
        // the token covers the top-level body fields: the body is read first, but nothing acts on it until verified
        body = oversized || !isUtf8(bytes) ? undefined : parseJson(bytes.toString('utf8'));
        const params = isRecord(body) ? authTokenParamsOfBody(body) : undefined;
        if (!params) throw new MarketplaceError(ResultCode.AUTH_FAILED, 'authToken cannot be checked: body is not a JSON object');
        const verdict = verifyV1(secrets.v1Keys, { ...params, [AUTH_TOKEN]: token }, now, settings.v1WindowMs);
        if (!verdict.ok) throw new MarketplaceError(ResultCode.AUTH_FAILED, verdict.message);
        keyIndex = verdict.keyIndex;
        nonce = `v1:${token}`;
        // the token is good in two windows 8 h apart (UTC+8 and UTC readings): remember it across both
        nonceTtlSeconds = Math.ceil((KIT_ZONE_OFFSET_MS + 2 * settings.v1WindowMs) / 1000);
      }
      event.verified = { nonce, keyIndex, rawBody: '', receivedAt: new Date(now) };
      if (oversized) throw new MarketplaceError(ResultCode.INVALID_PARAMETER, `request body larger than ${settings.kitMaxBodyBytes} bytes`);
      const text = bytes.toString('utf8');
      if (!isUtf8(bytes) || (!event.isBase64Encoded && LONE_SURROGATE.test(event.body ?? '')))
        throw new MarketplaceError(ResultCode.INVALID_PARAMETER, 'request body is not valid UTF-8');
      body ??= parseJson(text);
      if (!isRecord(body)) throw new MarketplaceError(ResultCode.INVALID_PARAMETER, 'request body must be a JSON object');
      event.kit = { version, nonce, ...(nonceTtlSeconds ? { nonceTtlSeconds } : {}), receivedAt: new Date(now), body };
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** zod issues as one marketplace message: `path: message; …` (at most three). */
export const issuesMessage = (issues: readonly { path: PropertyKey[]; message: string }[]) =>
  issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`)
    .join('; ');

export function createKitHandler(sync: KitSync) {
  async function run(event: KitEvent): Promise<Reply> {
    const runtime = await getRuntime();
    const services = runtime.kit;
    const { version, nonce, nonceTtlSeconds, receivedAt, body: raw } = event.kit!;
    logger.appendKeys({ activity: sync.name, version });
    const refuse = (resultMsg: string): Reply => {
      logger.warn('Kit call refused: bad input', { resultCode: ResultCode.INVALID_PARAMETER });
      return { resultCode: ResultCode.INVALID_PARAMETER, resultMsg };
    };
    const shaped = version === 'v1' && sync.fromV1 ? sync.fromV1(raw) : raw;
    if (typeof shaped === 'string') return refuse(shaped);
    if (version === 'v1' && sync.v1Flags && !sync.v1Flags.includes(Number(shaped.flag)))
      return refuse(`flag: V1 ${sync.name} accepts ${sync.v1Flags.join(' or ')}`);
    const parsed = sync.schema.safeParse(shaped);
    if (!parsed.success) return refuse(issuesMessage(parsed.error.issues));
    const malformed = illFormedText(parsed.data);
    if (malformed !== undefined) return refuse(`${malformed || 'body'}: must be valid Unicode text`);
    const testFlag = shaped.testFlag === 1 || shaped.testFlag === '1';
    // an internal error keeps the body (sealed) for redrive (keepFailures); Kit receipts record successes only
    const request = inboundRequest(runtime, routeOf(event, `/produceAPI/${version === 'v2' ? 'v2/' : ''}${sync.name}`), rawBytesOf(event).toString('utf8'));
    const tenantId = typeof shaped.tenantId === 'string' && shaped.tenantId.length <= 64 ? shaped.tenantId : undefined;
    event.pending = { nonce, receivedAt, activity: version === 'v1' ? `${sync.name} (V1)` : sync.name, testFlag, request, ...(tenantId ? { tenantId } : {}) };
    return sync.run(services, { name: sync.name, version, nonce, receivedAt, testFlag, ...(nonceTtlSeconds ? { nonceTtlSeconds } : {}) }, parsed.data);
  }

  return middy<KitEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(marketplaceResponse((secrets, event) => (kitVersionOf(event.path ?? event.resource ?? '') === 'v2' ? secrets.kitAccessKeys : secrets.v1Keys)))
    .use(keepFailures())
    .use(verifyKit())
    .handler(async (event) => (await run(event)) as unknown as APIGatewayProxyResult);
}

/** Field rules of the Kit bodies (lengths from spec 3.9; unknown fields are ignored). */
export const kitFields = {
  id: fields.id,
  /** may be empty (e.g. instanceId / orderId when the merchant applied for credentials in the console) */
  optionalId: (max = 64) => z._default(z.string().check(z.trim(), z.maxLength(max, `must be at most ${max} characters`)), ''),
  text: (max: number) => z.string().check(z.maxLength(max, `must be at most ${max} characters`)),
  /** Integer in the spec; a numeric string is taken too */
  flag: (allowed: readonly number[]) =>
    z.pipe(
      z.union([z.number(), z.string()]),
      z.transform((value: number | string, ctx) => {
        const n = typeof value === 'number' ? value : /^\d{1,2}$/.test(value) ? Number(value) : NaN;
        if (!allowed.includes(n)) ctx.issues.push({ code: 'custom', message: `must be one of ${allowed.join(', ')}`, input: value });
        return n as SyncFlag;
      }),
    ),
  /** yyyyMMddHHmmssSSS, UTC+8: normalised to 17 digits (it orders the calls) */
  timeStamp: () =>
    z.pipe(
      z.string(),
      z.transform((value: string, ctx) => {
        const stamp = normaliseKitTimeStamp(value);
        if (!stamp) ctx.issues.push({ code: 'custom', message: 'must be a time yyyyMMddHHmmssSSS', input: value });
        return stamp ?? z.NEVER;
      }),
    ),
  testFlag: z.optional(z.union([z.number().check(z.int()), z.string().check(z.maxLength(2))])),
};

/** A V1 field that carries JSON as text (`userList`, `orgInfo`): parsed (a value already parsed is kept). */
export function jsonText(body: Record<string, unknown>, field: string): { value: unknown } | { error: string } {
  const value = body[field];
  if (typeof value !== 'string') return { value };
  try {
    return { value: JSON.parse(value) as unknown };
  } catch {
    return { error: `${field}: must be JSON text` };
  }
}
