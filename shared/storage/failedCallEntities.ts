/**
 * FailedCall: a verified inbound call we answered with a failure, kept so that an operator can list it
 * and redrive it (`npm run ops -- failed | redrive <id>`, shared/ops/redrive.ts). Key layout:
 *
 * | entity     | pk                      | sk                     | notes                                         |
 * |------------|-------------------------|------------------------|-----------------------------------------------|
 * | FailedCall | FAILED#<yyyy-mm-dd>#<n> | <iso time>#<nonce>     | TTL (FAILED_CALL_TTL_DAYS, default 14 days)    |
 *
 * The partition is the day the call arrived (UTC) and one of FAILED_SHARDS shards (a hash of the arrival
 * time, which the operator's id starts with): a burst of failures — written inside the calls' receipt
 * transactions — is spread over 8 partitions instead of throttling one and turning correct answers into
 * 000005. The recent failures are one Query per day and shard, never a scan. The request (V2 / Kit body, V1 query parameters without authToken) is sealed with the data key
 * (it carries buyer contact data); a request too large for an item is recorded without it
 * (`redrivable: false`). Written in the same transaction as the call's receipt (receipts.ts); a call
 * that failed before anything was written (an internal error) is kept by its route (failedCalls.ts).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { Entity } from 'dynamodb-toolbox/entity';
import { PutItemCommand } from 'dynamodb-toolbox/entity/actions/put';
import { boolean } from 'dynamodb-toolbox/schema/boolean';
import { item } from 'dynamodb-toolbox/schema/item';
import { number } from 'dynamodb-toolbox/schema/number';
import { string } from 'dynamodb-toolbox/schema/string';
import type { CallReceipt } from '#shared/domain/repository';
import { shardOf, type ServiceTable } from './entities.ts';

/** A sealed request longer than this is not kept (an item holds 400 KB; the rest of the item needs little). */
export const MAX_SEALED_REQUEST = 350_000;

/** Answers the marketplace does not count as failures (spec 4.3: anything else is retried and reported). */
export const isFailure = (resultCode: string) => resultCode !== '000000' && resultCode !== '000004';

export const FAILED_SHARDS = 8;
/** the partition of a failed call that arrived at `receivedAt` (ISO): its day and shard */
export const failedPk = (receivedAt: string) => `FAILED#${receivedAt.slice(0, 10)}#${shardOf(receivedAt, FAILED_SHARDS)}`;
/** every partition of a day (listing) */
export const failedDayPks = (day: string) => Array.from({ length: FAILED_SHARDS }, (_, shard) => `FAILED#${day}#${shard}`);
export const failedSk = (receivedAt: Date, nonce: string) => `${receivedAt.toISOString()}#${nonce}`;

export function createFailedCallEntity(table: ServiceTable) {
  return new Entity({
    name: 'FailedCall',
    table,
    timestamps: false,
    schema: item({
      partition: string().key().savedAs('pk'),
      callKey: string().key().savedAs('sk'),
      route: string(),
      activity: string(),
      resultCode: string(),
      resultMsg: string(),
      receivedAt: string(),
      nonce: string(),
      testFlag: boolean(),
      instanceId: string().optional(),
      orderId: string().optional(),
      orderLineId: string().optional(),
      tenantId: string().optional(),
      /** sealed request (see above); absent when it was too large */
      requestSealed: string().optional(),
      redrivable: boolean(),
      expiresAt: number(),
      // set by `ops redrive` (failedCalls.ts markRedriven), not here: redrives, lastRedriveAt,
      // lastRedriveNonce, lastRedriveCode, lastRedriveMsg
    }),
  });
}
export type FailedCallEntity = ReturnType<typeof createFailedCallEntity>;

const entities = new WeakMap<ServiceTable, FailedCallEntity>();
/** The FailedCall entity of a table (one per table object). */
export function failedCallEntity(table: ServiceTable): FailedCallEntity {
  let entity = entities.get(table);
  if (!entity) entities.set(table, (entity = createFailedCallEntity(table)));
  return entity;
}

/** The FailedCall item of a receipt that carries its request, or undefined when there is nothing to keep. */
export function failedCallItem(receipt: CallReceipt) {
  const { request } = receipt;
  if (!request || !isFailure(receipt.resultCode)) return undefined;
  const at = receipt.receivedAt;
  const sealed = request.sealed();
  const kept = sealed !== undefined && sealed.length <= MAX_SEALED_REQUEST ? sealed : undefined;
  return {
    partition: failedPk(at.toISOString()),
    callKey: failedSk(at, receipt.nonce),
    route: request.route,
    activity: receipt.activity,
    resultCode: receipt.resultCode,
    resultMsg: receipt.resultMsg,
    receivedAt: at.toISOString(),
    nonce: receipt.nonce,
    testFlag: receipt.testFlag,
    instanceId: receipt.instanceId,
    orderId: receipt.orderId,
    orderLineId: receipt.orderLineId,
    tenantId: receipt.tenantId,
    requestSealed: kept,
    redrivable: kept !== undefined,
    expiresAt: Math.floor(at.getTime() / 1000) + request.keepSeconds,
  };
}

/**
 * Keeps a failed call whose receipt was not written (an internal error): one put, only if the call's
 * own transaction did not keep it already, given up after `timeoutMs` (the answer must not wait on a
 * table that is failing). Answers what became of it; never throws. (In every callback bundle: kept lean.)
 */
export async function keepFailedCall(table: ServiceTable, receipt: CallReceipt, timeoutMs: number): Promise<'kept' | 'already' | 'not kept' | 'unavailable'> {
  const item = failedCallItem(receipt);
  if (!item) return 'not kept';
  try {
    await failedCallEntity(table)
      .build(PutItemCommand)
      .item(item)
      .options({ condition: { attr: 'partition', exists: false } })
      .send({ abortSignal: AbortSignal.timeout(timeoutMs) });
    return 'kept';
  } catch (error) {
    return error instanceof ConditionalCheckFailedException ? 'already' : 'unavailable';
  }
}
