/**
 * The API Gateway (REST, proxy) events the tests, the driver and the benches send to the handlers: the
 * marketplace's POST /produce and the operator's internal routes. One place for their shape.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** POST /produce with `raw` as the body and the signature, timestamp and nonce in the query string. */
export function produceEvent(raw: string, query: Record<string, string | undefined> | null): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    path: '/produce',
    resource: '/produce',
    body: raw,
    isBase64Encoded: false,
    headers: { 'Content-Type': 'application/json;charset=utf8' },
    multiValueHeaders: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}

export interface InternalRequest {
  method: 'GET' | 'POST';
  /** the route as serverless.yml names it, e.g. `/internal/orders/{orderId}/shipment` */
  resource: string;
  pathParameters?: Record<string, string> | null;
  query?: Record<string, string> | null;
  headers?: Record<string, string>;
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** An internal route's request as API Gateway (REST, proxy) delivers it; path parameters fill the path. */
export function internalEvent(r: InternalRequest): APIGatewayProxyEvent {
  const path = r.resource.replace(/\{(\w+)\}/g, (_whole, name: string) => r.pathParameters?.[name] ?? '');
  return {
    httpMethod: r.method,
    resource: r.resource,
    path,
    pathParameters: r.pathParameters ?? null,
    queryStringParameters: r.query ?? null,
    multiValueQueryStringParameters: null,
    headers: r.headers ?? { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    body: r.body ?? null,
    isBase64Encoded: r.isBase64Encoded ?? false,
    stageVariables: null,
    requestContext: {},
  } as unknown as APIGatewayProxyEvent;
}

/**
 * GET /produce/v1 as API Gateway (REST, proxy) delivers it: the query already percent-decoded, in both
 * maps; no raw query string. A parameter may be given twice (a list of pairs).
 */
export function v1Event(params: Record<string, string> | Array<[string, string]>): APIGatewayProxyEvent {
  const entries = Array.isArray(params) ? params : Object.entries(params);
  const multi: Record<string, string[]> = {};
  for (const [k, v] of entries) (multi[k] ??= []).push(v);
  return {
    httpMethod: 'GET',
    path: '/produce/v1',
    resource: '/produce/v1',
    body: null,
    isBase64Encoded: false,
    headers: { Accept: 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: Object.fromEntries(entries),
    multiValueQueryStringParameters: multi,
    pathParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}
