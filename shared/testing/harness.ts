/**
 * Integration-test harness: a fresh table on the run's DynamoDB Local, a local marketplace on a random
 * port, the environment the runtime reads, and signed API Gateway events for the real handlers.
 * Call `startHarness()` in beforeAll before the first handler invocation (the runtime reads the
 * environment once per test file).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { produceEvent } from './apiEvents.ts';
import { startLocalMarketplace, type LocalMarketplace } from '../../infra/local/marketplace.ts';
import type { OrderInfo } from '../openapi/order.ts';
import { signV2Request } from '../protocol/signature.ts';
import { LOCAL_DEFAULTS } from '../secrets.ts';
import type { OperatorAlert } from '../domain/alerts.ts';
import { getRuntime } from '../runtime.ts';
import { createTestTable } from './table.ts';

export const ACCESS_KEY = LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY;

export interface Harness {
  marketplace: LocalMarketplace;
  table: Awaited<ReturnType<typeof createTestTable>>;
  close(): Promise<void>;
}

/** `options.stream`: the table gets its stream (for the tests that read it; see createTestTable) */
export async function startHarness(env: Record<string, string> = {}, options: { stream?: boolean } = {}): Promise<Harness> {
  const table = await createTestTable(options);
  const marketplace = await startLocalMarketplace({
    port: 0,
    credentials: { [LOCAL_DEFAULTS.KOOGALLERY_AK]: LOCAL_DEFAULTS.KOOGALLERY_SK },
  });
  Object.assign(process.env, {
    STAGE: 'local',
    TABLE_NAME: table.tableName,
    DYNAMODB_ENDPOINT: table.endpoint,
    KOOGALLERY_API_URL: marketplace.url,
    OPEN_API_TIMEOUT_MS: '500',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...env,
  });
  return { marketplace, table, close: () => marketplace.close() };
}

export interface SignOptions {
  key?: string;
  nonce?: string;
  timestamp?: string;
  /** send these bytes instead of JSON.stringify(body) */
  rawBody?: string;
  /** sign these bytes instead of what is sent (tampering) */
  signedBody?: string;
  signature?: string;
  query?: Record<string, string | undefined> | null;
}

/** A marketplace request as API Gateway (REST, proxy) delivers it: POST /produce?signature&timestamp&nonce. */
export function signedEvent(body: unknown, opts: SignOptions = {}): APIGatewayProxyEvent {
  const raw = opts.rawBody ?? JSON.stringify(body);
  const nonce = opts.nonce ?? randomBytes(32).toString('hex').toUpperCase();
  const timestamp = opts.timestamp ?? String(Date.now());
  const signature = opts.signature ?? signV2Request(opts.key ?? ACCESS_KEY, nonce, timestamp, opts.signedBody ?? raw).toUpperCase();
  return produceEvent(raw, opts.query === undefined ? { signature, timestamp, nonce } : opts.query);
}

const context = {
  functionName: 'test',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  raw: string;
  json: { resultCode: string; resultMsg: string; instanceId?: string; info?: Array<Record<string, any>> } & Record<string, any>;
}

type AnyHandler = (event: any, context: Context) => Promise<APIGatewayProxyResult | unknown>;

export async function invoke(handler: AnyHandler, event: APIGatewayProxyEvent): Promise<Answer> {
  const result = (await handler(event, context)) as APIGatewayProxyResult;
  return {
    status: result.statusCode,
    headers: result.headers as Record<string, string>,
    raw: result.body,
    json: JSON.parse(result.body),
  };
}

/** A fresh order in the local marketplace (yearly by default), for tests that must not share mock ids. */
export function freshOrder(over: { chargingMode?: string; orderType?: string; skuCode?: string; linearValue?: number; expireTime?: string } = {}): OrderInfo {
  const orderId = `CS${randomUUID().replace(/-/g, '').slice(0, 14).toUpperCase()}`;
  return {
    orderId,
    orderType: over.orderType ?? 'NEW',
    createTime: '20261124090000',
    orderLine: [
      {
        orderLineId: `${orderId}-000001`,
        chargingMode: over.chargingMode ?? 'PERIOD',
        periodType: 'year',
        periodNumber: 1,
        expireTime: over.expireTime ?? '20271124235959',
        productInfo: [{ productId: 'OFFI0001', skuCode: over.skuCode ?? 'sku-basic', linearValue: over.linearValue ?? 10, productName: 'Test product' }],
      },
    ],
    buyerInfo: { customerId: 'cust-1', customerName: 'acme', mobilePhone: '18612345678', email: 'owner@acme.example' },
  };
}

/** Replaces the runtime's operator alerts with a list the test reads (call after startHarness). */
export async function captureAlerts(): Promise<OperatorAlert[]> {
  const alerts: OperatorAlert[] = [];
  (await getRuntime()).services.alerts = { raise: async (alert) => void alerts.push(alert) };
  return alerts;
}

/** Runs a scheduled job's handler as EventBridge would, as of `time` (plus any operator options). */
export async function runJob<S>(handler: AnyHandler, time: Date, extra: Record<string, unknown> = {}): Promise<S> {
  const event = { 'detail-type': 'Scheduled Event', source: 'aws.events', time: time.toISOString(), ...extra };
  // the jobs' Lambda timeout (serverless.yml)
  return (await handler(event, { ...context, getRemainingTimeInMillis: () => 300_000 })) as S;
}

/** The counts every job returns. */
export type { JobSummary as JobCounts } from '../domain/jobs.ts';
