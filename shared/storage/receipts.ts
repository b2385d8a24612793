/**
 * The receipt every verified inbound call writes in the same transaction as its change: its nonce (put
 * only if unseen: replay protection) and its audit record; and, when the call is answered with a failure
 * and carries its request, the FailedCall kept for redrive (failedCallEntities.ts). Shared by every
 * store, so all answer a replay the same way and keep every recorded failure.
 */
import { PutTransaction } from 'dynamodb-toolbox/entity/actions/transactPut';
import type { CallReceipt } from '#shared/domain/repository';
import { instancePk, orderPk, type Entities } from './entities.ts';
import { failedCallEntity, failedCallItem } from './failedCallEntities.ts';

export interface ReceiptTtls {
  nonceTtlSeconds: number;
  auditTtlSeconds: number;
}

const epochSeconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The audit record's partition: the instance, else the order line, else the tenant, else the day. */
export function auditSubject(receipt: CallReceipt): string {
  if (receipt.instanceId) return instancePk(receipt.instanceId);
  if (receipt.orderId && receipt.orderLineId) return orderPk(receipt.orderId, receipt.orderLineId);
  if (receipt.tenantId) return `TENANT#${receipt.tenantId}`;
  return `CALLS#${receipt.receivedAt.toISOString().slice(0, 10)}`;
}

/**
 * [nonce put (unless already recorded), FailedCall put (failures with their request), audit put]: the
 * nonce, when present, comes first and the audit record last.
 */
export function receiptItems(e: Pick<Entities, 'NonceEntity' | 'CallEntity'>, receipt: CallReceipt, ttl: ReceiptTtls) {
  const at = receipt.receivedAt;
  const nonce = e.NonceEntity.build(PutTransaction)
    .item({ nonce: receipt.nonce, expiresAt: epochSeconds(at) + Math.max(ttl.nonceTtlSeconds, receipt.nonceTtlSeconds ?? 0) })
    .options({
      // an expired nonce that TTL has not deleted yet may be used again
      condition: { or: [{ attr: 'nonce', exists: false }, { attr: 'expiresAt', lt: epochSeconds(at) }] },
    });
  // same key for every write of one call: a later write replaces the record with the final answer
  const audit = e.CallEntity.build(PutTransaction).item({
    subject: auditSubject(receipt),
    callKey: `CALL#${at.toISOString()}#${receipt.nonce}`,
    activity: receipt.activity,
    resultCode: receipt.resultCode,
    resultMsg: receipt.resultMsg,
    receivedAt: at.toISOString(),
    testFlag: receipt.testFlag,
    instanceId: receipt.instanceId,
    orderId: receipt.orderId,
    orderLineId: receipt.orderLineId,
    expiresAt: epochSeconds(at) + ttl.auditTtlSeconds,
  });
  const failed = failedCallItem(receipt);
  const kept = failed ? [failedCallEntity(e.CallEntity.table).build(PutTransaction).item(failed)] : [];
  return receipt.nonceRecorded ? [...kept, audit] : [nonce, ...kept, audit];
}
