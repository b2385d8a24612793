/**
 * What the fuzz suites share: watching a run (the store's DynamoDB requests, so a refusal can be shown
 * to have written nothing, and unhandled rejections, of which there must be none) and the API Gateway
 * event of an internal route.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { expect } from 'vitest';
import { probeRuntime, writeRoundTrips, type DynamoProbe } from './dynamoProbe.ts';
import { invoke, type Answer } from './harness.ts';

export interface FuzzWatch {
  probe: DynamoProbe;
  /** unhandled rejections seen since the watch started */
  rejections: unknown[];
  /** whether anything was written since the probe's last reset */
  wrote(): boolean;
  stop(): void;
}

/** Starts watching (call after startHarness, in beforeAll); `stop()` in afterAll. */
export async function watchFuzzRun(): Promise<FuzzWatch> {
  const probe = await probeRuntime();
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => void rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  return {
    probe,
    rejections,
    wrote: () => writeRoundTrips(probe.counts()) > 0,
    stop() {
      process.off('unhandledRejection', onRejection);
      probe.remove();
    },
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
 * Sends one request to an internal route and checks what every answer must be: below 500, one of the
 * statuses the routes use, JSON, and when refused a message and no write.
 */
export async function sendInternal(watch: FuzzWatch, handler: Parameters<typeof invoke>[0], request: InternalRequest): Promise<Answer> {
  watch.probe.reset();
  const answer = await invoke(handler, internalEvent(request));
  expect(answer.status, answer.raw).toBeLessThan(500);
  expect([200, 400, 404, 409], answer.raw).toContain(answer.status);
  expect(answer.headers['Content-Type']).toBe('application/json');
  if (answer.status !== 200) {
    expect(typeof answer.json.error, answer.raw).toBe('string');
    expect(answer.json.error.length).toBeGreaterThan(0);
    expect(watch.wrote(), `${answer.status} ${answer.raw} wrote`).toBe(false);
  }
  return answer;
}
