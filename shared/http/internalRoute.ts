/**
 * Internal operator routes (`/internal/...`): IAM-authorised by API Gateway in the cloud, plain JSON,
 * errors as JSON problems with a proper status (these are not marketplace callbacks).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type * as z from '#shared/zod';
import { errorName } from '#shared/domain/errors';
import type { Services } from '#shared/domain/call';
import { getRuntime, logger } from '#shared/runtime';
import { fields } from './callback.ts';
// the open-API client, provisioners and notifier (the Kit and login routes leave them out)
import '#shared/runtime/marketplace';

export type InternalResult = { status: number; body: unknown };

export function createInternalHandler(run: (services: Services, event: APIGatewayProxyEvent) => Promise<InternalResult>) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      try {
        const { status, body } = await run((await getRuntime()).services, event);
        return { statusCode: status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
      } catch (error) {
        logger.error('internal route failed', { error: errorName(error) });
        return { statusCode: 500, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: 'internal error' }) };
      }
    });
}

const PATH_ID = fields.id();

/** The id in path parameter `name` (1–64 characters once trimmed, as in the callbacks), or the 400 refusing it. */
export function pathId(event: APIGatewayProxyEvent, name: string): { id: string } | { refused: InternalResult } {
  const parsed = PATH_ID.safeParse(event.pathParameters?.[name]);
  return parsed.success ? { id: parsed.data } : { refused: { status: 400, body: { error: `${name} must be 1 to 64 characters` } } };
}

/** Parses the JSON body with `schema`; a bad body is a 400 naming what is wrong, never a 500. */
export async function parseJsonBody<S extends z.ZodMiniType>(
  event: APIGatewayProxyEvent,
  schema: S,
  run: (body: z.output<S>) => Promise<InternalResult>,
): Promise<InternalResult> {
  let json: unknown;
  try {
    json = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? ''));
  } catch {
    return { status: 400, body: { error: 'body must be JSON' } };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    return { status: 400, body: { error: parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ') } };
  return run(parsed.data);
}
