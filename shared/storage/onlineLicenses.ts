/**
 * The online-License store (OnlineLicenseRepository, shared/domain/onlineLicense.ts) over the service's one table
 * (layout: onlineLicenseEntities.ts). The claim is one TransactWriteItems with the call's nonce and audit record
 * (receipts.ts), so a claim never lands without its receipt and a replayed nonce writes nothing. Every later write
 * is a put conditional on the version read. Due deliveries are found on the byDue index (LICENSE#<shard>, key
 * condition `dueAt <= now`), never by a scan.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FormattedItem } from 'dynamodb-toolbox/entity';
import { GetItemCommand } from 'dynamodb-toolbox/entity/actions/get';
import { PutTransaction } from 'dynamodb-toolbox/entity/actions/transactPut';
import { execute as executeTransactWrite } from 'dynamodb-toolbox/entity/actions/transactWrite';
import type { Sealer } from '#shared/crypto/sealer';
import type { DeviceQuota, OnlineLicenseRecord, OnlineLicenseRepository } from '#shared/domain/onlineLicense';
import { NonceReplayError, type CallReceipt } from '#shared/domain/repository';
import { createEntities, createTable, TIMER_SHARDS, type Entities } from './entities.ts';
import { createOnlineLicenseEntities, LICENSE_TIMER, licenseTimerPartition, type OnlineLicenseEntities } from './onlineLicenseEntities.ts';
import { receiptItems, type ReceiptTtls } from './receipts.ts';

export interface OnlineLicenseStoreOptions {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  sealer: Sealer;
  auditTtlDays?: number;
  nonceTtlSeconds?: number;
}

type WriteItem = Parameters<typeof executeTransactWrite>[number];
const DUE_PAGE_SIZE = 100;

export class OnlineLicenseStore implements OnlineLicenseRepository {
  private readonly e: OnlineLicenseEntities;
  private readonly receipts: Pick<Entities, 'NonceEntity' | 'CallEntity'>;
  private readonly ttl: ReceiptTtls;

  constructor(private readonly options: OnlineLicenseStoreOptions) {
    const table = createTable(options.documentClient, options.tableName);
    this.e = createOnlineLicenseEntities(table);
    this.receipts = createEntities(table);
    this.ttl = { auditTtlSeconds: (options.auditTtlDays ?? 90) * 86_400, nonceTtlSeconds: options.nonceTtlSeconds ?? 600 };
  }

  async getLicense(eventId: string): Promise<OnlineLicenseRecord | undefined> {
    const { Item } = await this.e.OnlineLicenseEntity.build(GetItemCommand).key({ eventId }).options({ consistent: true }).send();
    return Item && this.fromItem(Item);
  }

  async getQuota(instanceId: string, deviceKey: string): Promise<DeviceQuota> {
    const [quota, device] = await Promise.all([
      this.e.OnlineLicenseQuotaEntity.build(GetItemCommand).key({ instanceId }).options({ consistent: true }).send(),
      this.e.OnlineLicenseDeviceEntity.build(GetItemCommand).key({ instanceId, deviceKey }).options({ consistent: true }).send(),
    ]);
    return { devices: quota.Item?.devices ?? 0, version: quota.Item?.version ?? 0, known: device.Item !== undefined };
  }

  async claimLicense(record: OnlineLicenseRecord, receipt: CallReceipt, quota: DeviceQuota): Promise<'claimed' | 'lost'> {
    const device: WriteItem[] = quota.known
      ? [] // devices are never removed: one seen stays seen
      : [
          this.e.OnlineLicenseDeviceEntity.build(PutTransaction)
            .item({ instanceId: record.instanceId, deviceKey: record.deviceKey, eventId: record.eventId, at: record.requestedAt })
            .options({ condition: { attr: 'eventId', exists: false } }),
          this.e.OnlineLicenseQuotaEntity.build(PutTransaction)
            .item({ instanceId: record.instanceId, devices: quota.devices + 1, version: quota.version + 1 })
            .options({ condition: quota.version === 0 ? { attr: 'version', exists: false } : { attr: 'version', eq: quota.version } }),
        ];
    const head = receiptItems(this.receipts, receipt, this.ttl);
    const put = this.e.OnlineLicenseEntity.build(PutTransaction)
      .item(this.toItem(record))
      .options({ condition: { attr: 'eventId', exists: false } });
    return this.run([...head, put, ...device], !receipt.nonceRecorded);
  }

  async saveLicense(next: OnlineLicenseRecord, expectedVersion: number, receipt?: CallReceipt): Promise<OnlineLicenseRecord | undefined> {
    const stored = { ...next, version: expectedVersion + 1 };
    const put = this.e.OnlineLicenseEntity.build(PutTransaction)
      .item(this.toItem(stored))
      .options({ condition: { attr: 'version', eq: expectedVersion } });
    const head = receipt ? receiptItems(this.receipts, receipt, this.ttl) : [];
    return (await this.run([...head, put], Boolean(receipt && !receipt.nonceRecorded))) === 'claimed' ? stored : undefined;
  }

  async dueLicenses(now: Date, limit: number): Promise<{ eventIds: string[]; read: number }> {
    const perShard = Math.ceil(limit / TIMER_SHARDS);
    const shards = await Promise.all(
      Array.from({ length: TIMER_SHARDS }, (_, shard) => this.dueInShard(`${LICENSE_TIMER}#${shard}`, now.toISOString(), perShard)),
    );
    const items = shards.flatMap((s) => s.items).sort((a, b) => a.dueAt.localeCompare(b.dueAt)).slice(0, limit);
    return { eventIds: items.map((i) => i.eventId), read: shards.reduce((sum, s) => sum + s.read, 0) };
  }

  private async dueInShard(partition: string, now: string, limit: number) {
    const items: Array<{ eventId: string; dueAt: string }> = [];
    let read = 0;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.options.documentClient.send(
        new QueryCommand({
          TableName: this.options.tableName,
          IndexName: 'byDue',
          KeyConditionExpression: '#timer = :timer AND #dueAt <= :now',
          ExpressionAttributeNames: { '#timer': 'timer', '#dueAt': 'dueAt' },
          ExpressionAttributeValues: { ':timer': partition, ':now': now },
          Limit: Math.min(DUE_PAGE_SIZE, limit - items.length),
          ExclusiveStartKey,
        }),
      );
      read += page.ScannedCount ?? 0;
      for (const raw of page.Items ?? []) {
        const { pk, dueAt } = raw as { pk: string; dueAt: string };
        if (pk.startsWith('OLICENSE#')) items.push({ eventId: pk.slice('OLICENSE#'.length), dueAt });
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey && items.length < limit);
    return { items, read };
  }

  /** 'lost' when a domain condition failed or a concurrent transaction interfered; NonceReplayError for the nonce. */
  private async run(items: WriteItem[], firstIsNonce: boolean): Promise<'claimed' | 'lost'> {
    try {
      await executeTransactWrite(...(items as Parameters<typeof executeTransactWrite>));
      return 'claimed';
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const lost = (c?: string) => c === 'ConditionalCheckFailed' || c === 'TransactionConflict';
      if (firstIsNonce && lost(reasons[0]?.Code)) throw new NonceReplayError();
      if (!reasons.some((r) => lost(r.Code))) throw error;
      return 'lost';
    }
  }

  private toItem(r: OnlineLicenseRecord) {
    const { deviceFingerprint, facts, license, ...rest } = r;
    return {
      ...rest,
      facts: JSON.stringify(facts),
      fingerprintSealed: deviceFingerprint === undefined ? undefined : this.options.sealer.seal(deviceFingerprint),
      licenseCharacters: license && 'characters' in license ? license.characters : undefined,
      licenseFile: license && 'fileBase64' in license ? license.fileBase64 : undefined,
      licenseFileName: license && 'fileBase64' in license ? license.fileName : undefined,
      timer: r.state === 'PENDING' && r.dueAt ? licenseTimerPartition(r.eventId) : undefined,
      dueAt: r.state === 'PENDING' ? r.dueAt : undefined,
    };
  }

  private fromItem(item: FormattedItem<OnlineLicenseEntities['OnlineLicenseEntity']>): OnlineLicenseRecord {
    const { fingerprintSealed, facts, licenseCharacters, licenseFile, licenseFileName, timer: _timer, ...rest } = item;
    const record: OnlineLicenseRecord = { ...rest, facts: JSON.parse(facts) as OnlineLicenseRecord['facts'] };
    if (fingerprintSealed) record.deviceFingerprint = this.options.sealer.open(fingerprintSealed);
    if (licenseCharacters !== undefined) record.license = { characters: licenseCharacters };
    else if (licenseFile !== undefined) record.license = { fileBase64: licenseFile, fileName: licenseFileName ?? 'license.lic' };
    return record;
  }
}
