/**
 * Internal operator routes (`/internal/...`): IAM-authorised by API Gateway in the cloud, plain JSON,
 * errors as JSON problems with a proper status (these are not marketplace callbacks).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { errorName } from '#shared/domain/instances';
import type { Services } from '#shared/domain/call';
import { getRuntime, logger } from '#shared/runtime';

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
