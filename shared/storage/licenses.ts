/**
 * The License 2.0 code store (LicenseRepository, domain/licenseCodes.ts) over the service's one table,
 * sharing the instance store's document client (layout: licenseEntities.ts).
 *
 * A code is written whole, with the condition "the version I read" (or "absent" when created): two
 * writers never both win, the loser re-reads and decides again. A callback's write carries its receipt
 * (nonce put only if unseen, audit record under LICENSE#<code>) in the same TransactWriteItems, so a
 * replayed nonce changes nothing and a change is never recorded without its call. Internal-route writes
 * (activation, heartbeat) have no receipt and are single conditional puts.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetItemCommand } from 'dynamodb-toolbox/entity/actions/get';
import { PutItemCommand } from 'dynamodb-toolbox/entity/actions/put';
import { PutTransaction } from 'dynamodb-toolbox/entity/actions/transactPut';
import { execute as executeTransactWrite } from 'dynamodb-toolbox/entity/actions/transactWrite';
import type { LicenseCode, LicenseRepository } from '#shared/domain/licenseCodes';
import { NonceReplayError, type CallReceipt } from '#shared/domain/repository';
import { createEntities, createTable, type Entities } from './entities.ts';
import { createLicenseEntities, licensePk, type LicenseEntities } from './licenseEntities.ts';
import { receiptItems, type ReceiptTtls } from './receipts.ts';

export interface LicenseStoreOptions {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  auditTtlDays?: number;
  nonceTtlSeconds?: number;
}

type WriteItem = Parameters<typeof executeTransactWrite>[number];

export class LicenseStore implements LicenseRepository {
  private readonly e: LicenseEntities;
  private readonly receipts: Pick<Entities, 'NonceEntity' | 'CallEntity'>;
  private readonly ttl: ReceiptTtls;

  constructor(options: LicenseStoreOptions) {
    const table = createTable(options.documentClient, options.tableName);
    this.e = createLicenseEntities(table);
    this.receipts = createEntities(table);
    this.ttl = { auditTtlSeconds: (options.auditTtlDays ?? 90) * 86_400, nonceTtlSeconds: options.nonceTtlSeconds ?? 600 };
  }

  async getLicense(code: string): Promise<LicenseCode | undefined> {
    const { Item } = await this.e.LicenseEntity.build(GetItemCommand).key({ code }).options({ consistent: true }).send();
    if (!Item) return undefined;
    return { ...Item, appliedOps: [...Item.appliedOps] } as LicenseCode;
  }

  async saveLicense(next: LicenseCode, expectedVersion: number | undefined, receipt?: CallReceipt): Promise<LicenseCode | undefined> {
    const stored: LicenseCode = { ...next, version: expectedVersion === undefined ? 0 : expectedVersion + 1 };
    const condition =
      expectedVersion === undefined ? { attr: 'version' as const, exists: false } : { attr: 'version' as const, eq: expectedVersion };
    if (!receipt) {
      try {
        await this.e.LicenseEntity.build(PutItemCommand).item(stored).options({ condition }).send();
        return stored;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return undefined;
        throw error;
      }
    }
    const put = this.e.LicenseEntity.build(PutTransaction).item(stored).options({ condition });
    return (await this.transact(next.code, receipt, [put])) ? stored : undefined;
  }

  async recordLicenseCall(code: string, receipt: CallReceipt): Promise<void> {
    await this.transact(code, receipt, []);
  }

  /** receipt + items in one transaction: false when an item's condition failed or lost a race; NonceReplayError for the nonce. */
  private async transact(code: string, receipt: CallReceipt, items: WriteItem[]): Promise<boolean> {
    const head = this.receiptItems(code, receipt);
    try {
      await executeTransactWrite(...([...head, ...items] as Parameters<typeof executeTransactWrite>));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const lost = (c?: string) => c === 'ConditionalCheckFailed' || c === 'TransactionConflict';
      if (!receipt.nonceRecorded && lost(reasons[0]?.Code)) throw new NonceReplayError();
      if (reasons.slice(head.length).some((r) => lost(r.Code))) return false;
      throw error;
    }
  }

  /** [nonce?, audit]: the shared receipt, its audit record filed under the code (not the day). */
  private receiptItems(code: string, receipt: CallReceipt): WriteItem[] {
    const items = receiptItems(this.receipts, receipt, this.ttl) as WriteItem[];
    const at = receipt.receivedAt;
    items[items.length - 1] = this.receipts.CallEntity.build(PutTransaction).item({
      subject: licensePk(code),
      callKey: `CALL#${at.toISOString()}#${receipt.nonce}`,
      activity: receipt.activity,
      resultCode: receipt.resultCode,
      resultMsg: receipt.resultMsg,
      receivedAt: at.toISOString(),
      testFlag: receipt.testFlag,
      orderId: receipt.orderId,
      orderLineId: receipt.orderLineId,
      expiresAt: Math.floor(at.getTime() / 1000) + this.ttl.auditTtlSeconds,
    });
    return items;
  }
}
