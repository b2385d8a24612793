/**
 * The V2 production URL (`POST /produce`): verifies the request once, then hands it to the callback
 * named by `activity` in the same process. A callback's own Lambda is the same handler with one
 * callback (functions/<activity>/handler.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Reply } from '#shared/domain/call';
import { ResultCode } from '#shared/protocol/resultCodes';
import { getRuntime, logger } from '#shared/runtime';
import { isDebug, type Callback } from './callback.ts';
import { inboundRequest, keepFailures, routeOf, type KeepingEvent } from './keepFailures.ts';
import { marketplaceResponse } from './marketplaceResponse.ts';
import { illFormedText, LONE_SURROGATE, verifySignature, type VerifiedRequest } from './verifySignature.ts';
// the open-API client, provisioners and notifier (the Kit and login routes leave them out)
import '#shared/runtime/marketplace';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' && v.length <= 64 && !LONE_SURROGATE.test(v) ? v : undefined);
/** the ids a body names (for logs and the kept failure), only those that are plain short text */
const idsOf = (body: Record<string, unknown>) => {
  const ids: { instanceId?: string; orderId?: string; orderLineId?: string } = {};
  for (const name of ['instanceId', 'orderId', 'orderLineId'] as const) {
    const value = text(body[name]);
    if (value !== undefined) ids[name] = value;
  }
  return ids;
};

export function createProduceHandler(callbacks: readonly Callback[]) {
  const byActivity = new Map(callbacks.map((c) => [c.activity, c]));

  async function dispatch(event: KeepingEvent, context: Context): Promise<Reply> {
    const verified: VerifiedRequest = event.verified!;
    const runtime = await getRuntime();
    const { services, settings } = runtime;
    // the call's end-to-end budget: the configured share of the marketplace's 5 s, never beyond the Lambda's own timeout
    const lambdaLeft = context.getRemainingTimeInMillis?.() ?? Infinity;
    const deadline = Math.min(verified.receivedAt.getTime() + settings.requestBudgetMs, Date.now() + lambdaLeft - 500);
    let body: unknown;
    try {
      body = JSON.parse(verified.rawBody);
    } catch {
      body = undefined;
    }
    const activity = isRecord(body) && typeof body.activity === 'string' ? body.activity.slice(0, 32) : '(none)';
    logger.appendKeys({ activity });
    // kept (sealed) for redrive if the answer is a failure: with the receipt, or by keepFailures
    const request = inboundRequest(runtime, routeOf(event, '/produce'), verified.rawBody);
    const call = { activity, nonce: verified.nonce, receivedAt: verified.receivedAt, deadline, testFlag: isRecord(body) && isDebug(body.testFlag), request };

    // A refused body changes nothing and records nothing (no nonce, no audit record): the answer says
    // what is wrong and a log line keeps the ids. A resend of it is refused the same way.
    const refuse = (resultMsg: string): Reply => {
      const ids = isRecord(body) ? idsOf(body) : {};
      logger.warn('request refused: bad input', { resultCode: ResultCode.INVALID_PARAMETER, ...ids });
      return { resultCode: ResultCode.INVALID_PARAMETER, resultMsg };
    };

    if (!isRecord(body)) return refuse('request body must be a JSON object');
    const callback = byActivity.get(activity);
    if (!callback) return refuse(activity === '(none)' ? 'activity is missing' : `unsupported activity ${activity}`);
    const parsed = callback.schema.safeParse(body);
    if (!parsed.success)
      return refuse(
        parsed.error.issues
          .slice(0, 3)
          .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
          .join('; '),
      );
    // a JSON escape can carry an unpaired surrogate ("\ud800"): text with no UTF-8 form, which no id,
    // URL or table key can hold
    const malformed = illFormedText(parsed.data);
    if (malformed !== undefined) return refuse(`${malformed || 'body'}: must be valid Unicode text`);
    event.pending = { nonce: call.nonce, receivedAt: call.receivedAt, activity, testFlag: call.testFlag, request, ...idsOf(body) };
    return callback.run(services, call, parsed.data);
  }

  return middy<KeepingEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(marketplaceResponse())
    .use(keepFailures())
    .use(verifySignature())
    .handler(async (event, context) => dispatch(event, context) as unknown as APIGatewayProxyResult);
}
