/**
 * The only module that speaks DynamoDB. Every write a callback makes goes out as ONE TransactWriteItems
 * that carries, beside the domain change, the request's nonce (put only if unseen: replay protection)
 * and its audit record. So a replayed request changes nothing, a domain write never lands without its
 * audit record, and two copies of the same call racing each other are decided by DynamoDB conditions
 * (order line unique, instance version unchanged) rather than by a lock.
 */
import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoDBDocumentClient, QueryCommand as DocumentQueryCommand, ScanCommand as DocumentScanCommand } from '@aws-sdk/lib-dynamodb';
// subpath imports keep the bundle to what is used
import type { FormattedItem } from 'dynamodb-toolbox/entity';
import { BatchGetRequest } from 'dynamodb-toolbox/entity/actions/batchGet';
import { GetItemCommand } from 'dynamodb-toolbox/entity/actions/get';
import { PutTransaction } from 'dynamodb-toolbox/entity/actions/transactPut';
import {
  execute as executeTransactWrite,
  type ExecuteTransactWriteInput,
  type ExecuteTransactWriteOptions,
} from 'dynamodb-toolbox/entity/actions/transactWrite';
import { BatchGetCommand, execute as executeBatchGet } from 'dynamodb-toolbox/table/actions/batchGet';
import { QueryCommand } from 'dynamodb-toolbox/table/actions/query';
import { $add, $get, $remove, UpdateItemCommand } from 'dynamodb-toolbox/entity/actions/update';
import { UpdateTransaction } from 'dynamodb-toolbox/entity/actions/transactUpdate';
import type { Sealer } from '#shared/crypto/sealer';
import type { BuyerContact, Instance } from '#shared/domain/instance';
import {
  NonceReplayError,
  type CallReceipt,
  type CallRecord,
  type DueRef,
  type DueWork,
  type UsageBucket,
  type UsageCommit,
  type OrderNotice,
  type Repository,
} from '#shared/domain/repository';
import { meterDue, type Meter } from '#shared/domain/metering';
import type { NotificationRecord } from '#shared/domain/notifier';
import { supervisionDue, type HardwareOrder } from '#shared/domain/supervision';
import { instanceDue, isReconciled, nextReconcileAt, TIMER_KINDS, type InstanceTimerPolicy, type TimerKind } from '#shared/domain/timers';
import { receiptItems } from './receipts.ts';
import {
  createEntities,
  createTable,
  instancePk,
  TIMER_SHARDS,
  timerPartition,
  wholeOrderPk,
  type Entities,
} from './entities.ts';

export interface StoreOptions {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  sealer: Sealer;
  /** how long audit records are kept (TTL), default 90 days */
  auditTtlDays?: number;
  /** how long a nonce is remembered, default 10 minutes (the timestamp window is ±60 s) */
  nonceTtlSeconds?: number;
  /** when an instance's expiry / release timers fall due (default: domain/timers defaults) */
  instanceTimers?: InstanceTimerPolicy;
}

/** One page of the byDue index per shard and query. */
const DUE_PAGE_SIZE = 100;
/** how long a released instance's reconciliation marker stays in the table (off the index) */
const MARKER_TTL_MS = 86_400_000;
/** the unsharded provisioning partition of the first version */
const LEGACY_PROVISION_PARTITION = 'PROVISION';

type WriteTransactionImplementation = Exclude<ExecuteTransactWriteInput[number], ExecuteTransactWriteOptions>;

const epochSeconds = (d: Date) => Math.floor(d.getTime() / 1000);
const pause = (attempt: number) => new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));

/** The ids of a due item, read from its table keys (always projected into the index). */
function dueRefOf({ pk, sk, dueAt, instanceId }: Record<string, string>): DueRef {
  const ref: DueRef = { pk: pk!, sk: sk!, dueAt: dueAt! };
  if (pk!.startsWith('INSTANCE#')) ref.instanceId = instanceId ?? pk!.slice('INSTANCE#'.length);
  if (sk!.startsWith('USAGE#')) ref.hour = sk!.slice('USAGE#'.length);
  if (sk!.startsWith('SUPERVISION#')) {
    ref.orderId = pk!.slice('ORDER#'.length);
    ref.orderLineId = sk!.slice('SUPERVISION#'.length);
  }
  return ref;
}

export class Store implements Repository {
  private readonly e: Entities;
  private readonly sealer: Sealer;
  private readonly auditTtlSeconds: number;
  private readonly nonceTtlSeconds: number;
  /** the client every request goes through (tests and the bench add middleware to count or fail calls) */
  readonly documentClient: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly instanceTimers?: InstanceTimerPolicy;

  constructor(options: StoreOptions) {
    this.e = createEntities(createTable(options.documentClient, options.tableName));
    this.documentClient = options.documentClient;
    this.tableName = options.tableName;
    this.instanceTimers = options.instanceTimers;
    this.sealer = options.sealer;
    this.auditTtlSeconds = (options.auditTtlDays ?? 90) * 86_400;
    this.nonceTtlSeconds = options.nonceTtlSeconds ?? 600;
  }

  // ---------------------------------------------------------------- reads

  async getInstance(instanceId: string): Promise<Instance | undefined> {
    const { Item } = await this.e.InstanceEntity.build(GetItemCommand)
      .key({ instanceId })
      .options({ consistent: true })
      .send();
    return Item && this.fromItem(Item);
  }

  /** Up to 100 ids in one BatchGetItem (plus retries of unprocessed keys). */
  async getInstances(instanceIds: readonly string[]): Promise<Map<string, Instance>> {
    const found = new Map<string, Instance>();
    const unique = [...new Set(instanceIds)];
    if (unique.length === 0) return found;
    const request = this.e.InstanceEntity.table
      .build(BatchGetCommand)
      .requests(...unique.map((instanceId) => this.e.InstanceEntity.build(BatchGetRequest).key({ instanceId })))
      .options({ consistent: true });
    const { Responses, UnprocessedKeys } = await executeBatchGet({ maxAttempts: 5 }, request);
    // keys DynamoDB did not get to (throttling) must not read as "instance not found"
    if (UnprocessedKeys && Object.values(UnprocessedKeys).some((k) => (k?.Keys?.length ?? 0) > 0))
      throw new Error('BatchGetItem left keys unprocessed after retries');
    for (const item of Responses?.[0] ?? []) if (item) found.set(item.instanceId, this.fromItem(item));
    return found;
  }

  async findInstanceIdByOrderLine(orderId: string, orderLineId: string): Promise<string | undefined> {
    const { Item } = await this.e.OrderLineEntity.build(GetItemCommand)
      .key({ orderId, orderLineId })
      .options({ consistent: true })
      .send();
    return Item?.instanceId;
  }

  async getOrderNotice(orderId: string, orderLineId: string): Promise<OrderNotice | undefined> {
    const { Item } = await this.e.OrderNoticeEntity.build(GetItemCommand)
      .key({ orderId, orderLineId })
      .options({ consistent: true })
      .send();
    if (!Item) return undefined;
    const { buyerSealed, orderSealed, ...rest } = Item;
    return {
      ...rest,
      order: JSON.parse(this.sealer.open(orderSealed)) as unknown,
      buyer: buyerSealed ? (JSON.parse(this.sealer.open(buyerSealed)) as BuyerContact) : undefined,
    };
  }

  /** The calls recorded for an instance, newest first. */
  async history(instanceId: string, limit = 100): Promise<CallRecord[]> {
    const { Items = [] } = await this.e.CallEntity.table
      .build(QueryCommand)
      .entities(this.e.CallEntity)
      .query({ partition: instancePk(instanceId), range: { beginsWith: 'CALL#' } })
      .options({ reverse: true, limit })
      .send();
    return Items.map(({ activity, resultCode, resultMsg, receivedAt, testFlag, orderId, orderLineId }) => ({
      activity,
      resultCode,
      resultMsg,
      receivedAt,
      testFlag,
      orderId,
      orderLineId,
    }));
  }

  /** Instances whose unfinished provisioning is due at or before `now` (byDue index, no scan). */
  async dueProvisioning(now: Date, limit = 50): Promise<string[]> {
    const { items } = await this.dueWork('PROVISION', now, limit);
    return items.map((item) => item.instanceId).filter((id): id is string => id !== undefined);
  }

  /**
   * Items whose `kind` timer is due at or before `now`, oldest first per shard, at most `limit`. Reads
   * the byDue index only: every shard of the kind is queried with `dueAt <= now` in parallel, so what
   * is read is what is due (plus nothing: the key condition does the selection, not a filter).
   * `read` counts the index items DynamoDB read (ScannedCount), for the bench and the job's metrics.
   */
  async dueWork(kind: TimerKind, now: Date, limit = 1000): Promise<DueWork> {
    if (!TIMER_KINDS.includes(kind)) throw new Error(`unknown timer kind ${kind}`);
    const partitions = Array.from({ length: TIMER_SHARDS }, (_, shard) => `${kind}#${shard}`);
    // items written before the index was sharded (one partition per kind; only PROVISION existed)
    if (kind === 'PROVISION') partitions.push(LEGACY_PROVISION_PARTITION);
    // a share of the limit per shard (keys spread evenly): a backlog never reads far more than it takes
    const perShardLimit = Math.ceil(limit / TIMER_SHARDS);
    const perShard = await Promise.all(partitions.map((partition) => this.dueInShard(partition, now.toISOString(), perShardLimit)));
    const items = perShard.flatMap((p) => p.items).sort((a, b) => a.dueAt.localeCompare(b.dueAt)).slice(0, limit);
    return { items, read: perShard.reduce((sum, p) => sum + p.read, 0) };
  }

  private async dueInShard(partition: string, now: string, limit: number): Promise<DueWork> {
    const items: DueRef[] = [];
    let read = 0;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documentClient.send(
        new DocumentQueryCommand({
          TableName: this.tableName,
          IndexName: 'byDue',
          KeyConditionExpression: '#timer = :timer AND #dueAt <= :now',
          ExpressionAttributeNames: { '#timer': 'timer', '#dueAt': 'dueAt' },
          ExpressionAttributeValues: { ':timer': partition, ':now': now },
          Limit: Math.min(DUE_PAGE_SIZE, limit - items.length),
          ExclusiveStartKey,
        }),
      );
      read += page.ScannedCount ?? 0;
      for (const raw of page.Items ?? []) items.push(dueRefOf(raw as Record<string, string>));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey && items.length < limit);
    return { items, read };
  }

  async getWatch(instanceId: string): Promise<{ dueAt?: string; alerts: number } | undefined> {
    const { Item } = await this.e.WatchEntity.build(GetItemCommand).key({ instanceId }).options({ consistent: true }).send();
    return Item && { dueAt: Item.dueAt, alerts: Item.alerts };
  }

  /**
   * Moves an instance's provisioning watch from `expectedDueAt` to `nextDueAt` (undefined: the watch
   * is over and leaves the index, and the table after `expireAt`). False when another run moved it first.
   */
  async moveWatch(instanceId: string, expectedDueAt: string, next: { dueAt?: string; alerts: number; expireAt?: Date }): Promise<boolean> {
    const outcome = await this.transactWithoutReceipt(
      this.e.WatchEntity.build(PutTransaction)
        .item({
          instanceId,
          timer: next.dueAt ? timerPartition('WATCH', instancePk(instanceId)) : undefined,
          dueAt: next.dueAt,
          alerts: next.alerts,
          expiresAt: next.expireAt && epochSeconds(next.expireAt),
        })
        .options({ condition: { attr: 'dueAt', eq: expectedDueAt } }),
    );
    return outcome.ok;
  }

  // ---------------------------------------------------------------- writes

  /** Records a call that changed nothing (reads, idempotent repeats, refusals). */
  async recordCall(receipt: CallReceipt): Promise<void> {
    await this.transact(receipt);
  }

  /**
   * Creates the instance of an order line. Returns the instance id that owns the order line: ours, or
   * the one a concurrent copy of the same call created first (then nothing of ours was written).
   */
  async createInstance(
    instance: Instance,
    receipt: CallReceipt,
    watchAt?: string,
  ): Promise<{ created: true } | { created: false; instanceId: string }> {
    const { orderId, orderLineId, instanceId, createdAt } = instance;
    const watch = watchAt
      ? [
          this.e.WatchEntity.build(PutTransaction).item({
            instanceId,
            timer: timerPartition('WATCH', instancePk(instanceId)),
            dueAt: watchAt,
            alerts: 0,
          }),
        ]
      : [];
    // the daily reconciliation's marker is born with the instance (no instance is ever without one)
    const reconcile = isReconciled(instance) ? [this.reconcileMarkerPut(instanceId, { dueAt: nextReconcileAt(instanceId, createdAt) })] : [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const outcome = await this.transact(
        receipt,
        this.e.OrderLineEntity.build(PutTransaction)
          .item({ orderId, orderLineId, instanceId, createdAt })
          .options({ condition: { attr: 'instanceId', exists: false }, returnValuesOnConditionFalse: 'ALL_OLD' }),
        this.e.InstanceEntity.build(PutTransaction)
          .item(this.toItem(instance))
          .options({ condition: { attr: 'instanceId', exists: false } }),
        ...watch,
        ...reconcile,
      );
      if (outcome.ok) return { created: true };
      const owner = (outcome.failedItems[0] as { instanceId?: string } | undefined)?.instanceId;
      const existing = owner ?? (await this.findInstanceIdByOrderLine(orderId, orderLineId));
      if (existing) return { created: false, instanceId: existing };
      // cancelled by a concurrent transaction (TransactionConflict) that did not create the line: try again
      await pause(attempt);
    }
    throw new Error(`could not claim order line ${orderId}/${orderLineId}: concurrent transactions kept conflicting`);
  }

  /** Writes the next version of an instance if nobody changed it since `expectedVersion` was read. */
  async saveInstance(next: Instance, expectedVersion: number, receipt?: CallReceipt): Promise<Instance | undefined> {
    const stored = { ...next, version: expectedVersion + 1 };
    const put = this.e.InstanceEntity.build(PutTransaction)
      .item(this.toItem(stored))
      .options({ condition: { attr: 'version', eq: expectedVersion } });
    // released (final): its reconciliation marker leaves the index in the same transaction, and the
    // table a day later (TTL); a put, not a delete, so no role needs dynamodb:DeleteItem
    const unmark =
      stored.status === 'RELEASED' && !stored.testFlag
        ? [this.reconcileMarkerPut(stored.instanceId, { expireAt: new Date(Date.parse(stored.updatedAt) + MARKER_TTL_MS) })]
        : [];
    const outcome = receipt ? await this.transact(receipt, put, ...unmark) : await this.transactWithoutReceipt(put, ...unmark);
    return outcome.ok ? stored : undefined;
  }

  // ---------------------------------------------------------------- reconciliation markers

  /** The instance's reconciliation marker: when it is due next (undefined: off the index), when last taken. */
  async getReconcileMarker(instanceId: string): Promise<{ dueAt?: string; checkedAt?: string } | undefined> {
    const { Item } = await this.e.ReconcileEntity.build(GetItemCommand).key({ instanceId }).options({ consistent: true }).send();
    return Item && { dueAt: Item.dueAt, checkedAt: Item.checkedAt };
  }

  /**
   * Moves the marker from `expectedDueAt` to `next.dueAt` (undefined: off the index, out of the table
   * after `next.expireAt`). False when another run (or the release) moved it first.
   */
  async moveReconcileMarker(instanceId: string, expectedDueAt: string, next: { dueAt?: string; checkedAt?: string; expireAt?: Date }): Promise<boolean> {
    const outcome = await this.transactWithoutReceipt(
      this.reconcileMarkerPut(instanceId, next).options({ condition: { attr: 'dueAt', eq: expectedDueAt } }),
    );
    return outcome.ok;
  }

  /**
   * Gives a live instance written before markers existed its marker (`npm run backfill-timers`); true
   * when one was written (an existing marker is left as it is).
   */
  async ensureReconcileMarker(instance: Instance, now: Date): Promise<boolean> {
    if (!isReconciled(instance)) return false;
    const outcome = await this.transactWithoutReceipt(
      this.reconcileMarkerPut(instance.instanceId, { dueAt: nextReconcileAt(instance.instanceId, now) }).options({
        condition: { attr: 'instanceId', exists: false },
      }),
    );
    return outcome.ok;
  }

  private reconcileMarkerPut(instanceId: string, next: { dueAt?: string; checkedAt?: string; expireAt?: Date }) {
    return this.e.ReconcileEntity.build(PutTransaction).item({
      instanceId,
      timer: next.dueAt ? timerPartition('RECONCILE', instancePk(instanceId)) : undefined,
      dueAt: next.dueAt,
      checkedAt: next.checkedAt,
      expiresAt: next.expireAt && epochSeconds(next.expireAt),
    });
  }

  /**
   * Records an order notification once; a repeat (or a concurrent copy) reports 'duplicate'. A hardware
   * order line opens its supervision record in the same transaction.
   */
  async recordOrderNotice(notice: OrderNotice, receipt: CallReceipt, hardware?: HardwareOrder): Promise<'recorded' | 'duplicate'> {
    const { buyer, order, ...rest } = notice;
    const supervision = hardware
      ? [
          this.e.HardwareOrderEntity.build(PutTransaction)
            .item(this.hardwareItem(hardware))
            .options({ condition: { attr: 'orderLineId', exists: false } }),
        ]
      : [];
    const outcome = await this.transact(
      receipt,
      this.e.OrderNoticeEntity.build(PutTransaction)
        .item({
          ...rest,
          // the order carries buyer-entered parameters (e-mail domain, IP…): sealed like the contact data
          orderSealed: this.sealer.seal(JSON.stringify(order)),
          buyerSealed: buyer ? this.sealer.seal(JSON.stringify(buyer)) : undefined,
        })
        .options({ condition: { attr: 'notifiedAt', exists: false } }),
      ...supervision,
    );
    return outcome.ok ? 'recorded' : 'duplicate';
  }

  // ---------------------------------------------------------------- hardware supervision

  async getHardwareOrder(orderId: string, orderLineId: string): Promise<HardwareOrder | undefined> {
    const { Item } = await this.e.HardwareOrderEntity.build(GetItemCommand)
      .key({ orderId, orderLineId })
      .options({ consistent: true })
      .send();
    return Item && this.fromHardwareItem(Item);
  }

  /** The supervised lines of an order and its notifications, in one query of the order's partition. */
  async describeOrder(orderId: string): Promise<{ lines: HardwareOrder[]; notifications: NotificationRecord[] }> {
    const { Items = [] } = await this.e.HardwareOrderEntity.table
      .build(QueryCommand)
      .entities(this.e.HardwareOrderEntity, this.e.NotificationEntity)
      .query({ partition: wholeOrderPk(orderId) })
      .options({ consistent: true })
      .send();
    const lines: HardwareOrder[] = [];
    const notifications: NotificationRecord[] = [];
    for (const item of Items) {
      if ('state' in item) lines.push(this.fromHardwareItem(item));
      else notifications.push(this.fromNotificationItem(item));
    }
    return { lines, notifications };
  }

  /** Writes the next version of a hardware order (with its audit record) unless someone changed it first. */
  async saveHardwareOrder(next: HardwareOrder, expectedVersion: number, receipt?: CallReceipt): Promise<HardwareOrder | undefined> {
    const stored = { ...next, version: expectedVersion + 1 };
    const put = this.e.HardwareOrderEntity.build(PutTransaction)
      .item(this.hardwareItem(stored))
      .options({ condition: { attr: 'version', eq: expectedVersion } });
    const outcome = receipt ? await this.transact(receipt, put) : await this.transactWithoutReceipt(put);
    return outcome.ok ? stored : undefined;
  }

  /** Records a notification once per id (a repeated rebuy intent is not recorded twice). */
  async recordNotification(record: NotificationRecord): Promise<void> {
    const subjectKey = record.subject.instanceId
      ? instancePk(record.subject.instanceId)
      : record.subject.orderId
        ? wholeOrderPk(record.subject.orderId)
        : `NOTIFY#${record.at.slice(0, 10)}`;
    await this.transactWithoutReceipt(
      this.e.NotificationEntity.build(PutTransaction)
        .item({
          subjectKey,
          id: `NOTIFY#${record.id}`,
          kind: record.kind,
          channel: record.channel,
          subject: record.subject,
          message: record.message,
          at: record.at,
          expiresAt: epochSeconds(new Date(record.at)) + this.auditTtlSeconds,
        })
        .options({ condition: { attr: 'kind', exists: false } }),
    );
  }

  async notifications(instanceId: string): Promise<NotificationRecord[]> {
    const { Items = [] } = await this.e.NotificationEntity.table
      .build(QueryCommand)
      .entities(this.e.NotificationEntity)
      .query({ partition: instancePk(instanceId), range: { beginsWith: 'NOTIFY#' } })
      .options({ consistent: true })
      .send();
    return Items.map((item) => this.fromNotificationItem(item));
  }

  // ---------------------------------------------------------------- metering

  async getMeter(instanceId: string): Promise<Meter | undefined> {
    const { Item } = await this.e.MeterEntity.build(GetItemCommand).key({ instanceId }).options({ consistent: true }).send();
    return Item && this.fromMeterItem(Item);
  }

  /** The meters of up to 100 instances in one BatchGetItem. */
  async getMeters(instanceIds: readonly string[]): Promise<Map<string, Meter>> {
    const found = new Map<string, Meter>();
    const unique = [...new Set(instanceIds)];
    if (unique.length === 0) return found;
    const request = this.e.MeterEntity.table
      .build(BatchGetCommand)
      .requests(...unique.map((instanceId) => this.e.MeterEntity.build(BatchGetRequest).key({ instanceId })))
      .options({ consistent: true });
    const { Responses, UnprocessedKeys } = await executeBatchGet({ maxAttempts: 5 }, request);
    if (UnprocessedKeys && Object.values(UnprocessedKeys).some((k) => (k?.Keys?.length ?? 0) > 0))
      throw new Error('BatchGetItem left keys unprocessed after retries');
    for (const item of Responses?.[0] ?? []) if (item) found.set(item.instanceId, this.fromMeterItem(item));
    return found;
  }

  /** Writes the next version of a meter (expectedVersion 0: it must not exist yet). */
  async saveMeter(next: Meter, expectedVersion: number): Promise<Meter | undefined> {
    const stored = { ...next, version: expectedVersion + 1 };
    const outcome = await this.transactWithoutReceipt(this.meterPut(stored, expectedVersion));
    return outcome.ok ? stored : undefined;
  }

  /**
   * One usage record in one transaction: its key (must be new), the meter's next version (conditional
   * on the version read) and the hour bucket (must still be open, i.e. not yet handed to usagePush).
   */
  async commitUsage(u: UsageCommit): Promise<'recorded' | 'duplicate' | 'conflict' | 'sealed'> {
    const { instanceId, hour } = u;
    const outcome = await this.transactWithoutReceipt(
      this.e.UsageKeyEntity.build(PutTransaction)
        .item({ instanceId, key: u.key, hour, expiresAt: epochSeconds(u.keyExpiresAt) })
        .options({ condition: { attr: 'hour', exists: false } }),
      this.meterPut({ ...u.meter, version: u.expectedVersion + 1 }, u.expectedVersion),
      this.e.UsageBucketEntity.build(UpdateTransaction)
        .item({
          instanceId,
          hour,
          value: $add(u.amount),
          records: $add(1),
          packageInstanceId: u.packageInstanceId,
          state: $get('state', 'OPEN'),
          timer: timerPartition('PUSH', instancePk(instanceId) + hour),
          dueAt: u.pushDueAt,
        })
        .options({ condition: { or: [{ attr: 'state', exists: false }, { attr: 'state', eq: 'OPEN' }] } }),
    );
    if (outcome.ok) return 'recorded';
    const [key, meter, bucket] = outcome.codes;
    if (key === 'ConditionalCheckFailed') return 'duplicate';
    if (bucket === 'ConditionalCheckFailed' && meter !== 'ConditionalCheckFailed') return 'sealed';
    return 'conflict';
  }

  async hasUsageKey(instanceId: string, key: string): Promise<boolean> {
    const { Item } = await this.e.UsageKeyEntity.build(GetItemCommand).key({ instanceId, key }).options({ consistent: true }).send();
    return Item !== undefined;
  }

  /**
   * Takes an hour bucket for a push attempt if it is still due (OPEN, FAILED, or SENDING whose lease
   * ran out): it is sealed from then on (later usage goes to another hour) and due again at `leaseUntil`
   * should this attempt never settle. Undefined when another run took it.
   */
  async claimBucket(instanceId: string, hour: string, now: string, leaseUntil: string): Promise<UsageBucket | undefined> {
    try {
      const { Attributes } = await this.e.UsageBucketEntity.build(UpdateItemCommand)
        .item({ instanceId, hour, state: 'SENDING', attempts: $add(1), dueAt: leaseUntil })
        .options({
          condition: { and: [{ attr: 'state', in: ['OPEN', 'FAILED', 'SENDING'] }, { attr: 'dueAt', lte: now }] },
          returnValues: 'ALL_NEW',
        })
        .send();
      if (!Attributes) return undefined;
      const { timer: _timer, dueAt: _dueAt, ...bucket } = Attributes;
      return bucket;
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  }

  /** Records a push attempt's outcome on a bucket this run claimed; due again only when `retryAt` is given. */
  async settleBucket(
    instanceId: string,
    hour: string,
    outcome: { state: 'PUSHED' | 'FAILED' | 'REJECTED' | 'EXPIRED'; retryAt?: string; lastError?: string; pushedAt?: string },
  ): Promise<void> {
    await this.e.UsageBucketEntity.build(UpdateItemCommand)
      .item({
        instanceId,
        hour,
        state: outcome.state,
        lastError: outcome.lastError ?? $remove(),
        pushedAt: outcome.pushedAt,
        timer: outcome.retryAt ? timerPartition('PUSH', instancePk(instanceId) + hour) : $remove(),
        dueAt: outcome.retryAt ?? $remove(),
      })
      .options({ condition: { attr: 'state', eq: 'SENDING' } })
      .send();
  }

  private meterPut(meter: Meter, expectedVersion: number) {
    const due = meterDue(meter);
    return this.e.MeterEntity.build(PutTransaction)
      .item({ ...meter, timer: due ? timerPartition(due.kind, instancePk(meter.instanceId)) : undefined, dueAt: due?.at })
      .options({ condition: expectedVersion === 0 ? { attr: 'version', exists: false } : { attr: 'version', eq: expectedVersion } });
  }

  private fromMeterItem(item: FormattedItem<Entities['MeterEntity']>): Meter {
    const { timer: _timer, dueAt: _dueAt, threshold, ...rest } = item;
    return {
      ...rest,
      ...(threshold?.percent !== undefined ? { threshold: { percent: threshold.percent } } : threshold?.amount !== undefined ? { threshold: { amount: threshold.amount } } : {}),
    };
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * One-off migration (`npm run backfill-timers`), never used by a scheduled job: rewrites every instance
   * so that its timers are derived by this version (instances written by the first version have none for
   * expiry and release). Each rewrite is conditional on the version read; a lost race needs no retry
   * (the winner's write derived the timers too). A live instance without a reconciliation marker (written
   * before reconcile existed) gets one, due at its next daily slot (`markers` counts them).
   */
  async backfillInstanceTimers(onPage?: (progress: { scanned: number; rewritten: number; markers: number }) => void) {
    const progress = { scanned: 0, rewritten: 0, markers: 0 };
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documentClient.send(
        new DocumentScanCommand({
          TableName: this.tableName,
          FilterExpression: '#sk = :instance',
          ExpressionAttributeNames: { '#sk': 'sk' },
          ExpressionAttributeValues: { ':instance': 'INSTANCE' },
          ExclusiveStartKey,
        }),
      );
      for (const raw of page.Items ?? []) {
        if (typeof raw.pk !== 'string' || !raw.pk.startsWith('INSTANCE#')) continue;
        progress.scanned++;
        const instance = await this.getInstance(raw.pk.slice('INSTANCE#'.length));
        if (instance && (await this.saveInstance(instance, instance.version))) progress.rewritten++;
        if (instance && (await this.ensureReconcileMarker(instance, new Date()))) progress.markers++;
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
      onPage?.(progress);
    } while (ExclusiveStartKey);
    return progress;
  }

  // ---------------------------------------------------------------- internals

  private receiptItems(receipt: CallReceipt): WriteTransactionImplementation[] {
    return receiptItems(this.e, receipt, { nonceTtlSeconds: this.nonceTtlSeconds, auditTtlSeconds: this.auditTtlSeconds });
  }

  /**
   * Runs receipt + domain items as one transaction. A failed nonce condition throws NonceReplayError;
   * failed domain conditions come back as `ok: false` with the old items DynamoDB returned (if asked).
   */
  private async transact(receipt: CallReceipt, ...domain: WriteTransactionImplementation[]) {
    const receiptItems = this.receiptItems(receipt);
    return this.run([...receiptItems, ...domain], receiptItems.length, !receipt.nonceRecorded);
  }

  private async transactWithoutReceipt(...domain: WriteTransactionImplementation[]) {
    return this.run(domain, 0, false);
  }

  /**
   * A cancelled transaction is, by its reasons: a used nonce (first item failed its condition, or a
   * concurrent copy with the same nonce holds it) → NonceReplayError; a domain condition that failed,
   * or a concurrent transaction on the same items (TransactionConflict) → `ok: false`, the caller
   * re-reads and decides again; anything else → rethrown (answered 000005, the marketplace retries).
   */
  private async run(items: WriteTransactionImplementation[], domainOffset: number, firstIsNonce: boolean) {
    try {
      await executeTransactWrite(...items);
      return { ok: true as const };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const lost = (code?: string) => code === 'ConditionalCheckFailed' || code === 'TransactionConflict';
      if (firstIsNonce && lost(reasons[0]?.Code)) throw new NonceReplayError();
      const domainReasons = reasons.slice(domainOffset);
      if (!domainReasons.some((r) => lost(r.Code))) throw error;
      const failedItems = domainReasons.map((r) =>
        r.Code === 'ConditionalCheckFailed' && r.Item ? unmarshall(r.Item as Parameters<typeof unmarshall>[0]) : undefined,
      );
      return { ok: false as const, failedItems, codes: domainReasons.map((r) => r.Code) };
    }
  }

  private toItem(instance: Instance) {
    const { buyer, appInfo, ...rest } = instance;
    // the instance's one due thing, derived from its state (domain/timers), goes on the byDue index
    const due = instanceDue(instance, this.instanceTimers);
    return {
      ...rest,
      buyerSealed: buyer ? this.sealer.seal(JSON.stringify(buyer)) : undefined,
      appInfo: appInfo && {
        frontEndUrl: appInfo.frontEndUrl,
        adminUrl: appInfo.adminUrl,
        userName: appInfo.userName,
        passwordSealed: appInfo.password === undefined ? undefined : this.sealer.seal(appInfo.password),
        memo: appInfo.memo,
      },
      timer: due ? timerPartition(due.kind, instancePk(instance.instanceId)) : undefined,
      dueAt: due?.at,
    };
  }

  private hardwareItem(order: HardwareOrder) {
    const { buyerPhone, waybillPhone, ...rest } = order;
    const due = supervisionDue(order);
    return {
      ...rest,
      buyerPhoneSealed: buyerPhone ? this.sealer.seal(buyerPhone) : undefined,
      waybillPhoneSealed: waybillPhone ? this.sealer.seal(waybillPhone) : undefined,
      timer: due ? timerPartition(due.kind, wholeOrderPk(order.orderId) + order.orderLineId) : undefined,
      dueAt: due?.at,
    };
  }

  private fromHardwareItem(item: FormattedItem<Entities['HardwareOrderEntity']>): HardwareOrder {
    const { buyerPhoneSealed, waybillPhoneSealed, timer: _timer, dueAt: _dueAt, ...rest } = item;
    return {
      ...rest,
      ...(buyerPhoneSealed ? { buyerPhone: this.sealer.open(buyerPhoneSealed) } : {}),
      ...(waybillPhoneSealed ? { waybillPhone: this.sealer.open(waybillPhoneSealed) } : {}),
    };
  }

  private fromNotificationItem(item: FormattedItem<Entities['NotificationEntity']>): NotificationRecord {
    const { id, kind, channel, subject, message, at } = item;
    return { id: id.replace(/^NOTIFY#/, ''), kind, subject, message, at, ...(channel ? { channel: channel as NotificationRecord['channel'] } : {}) };
  }

  private fromItem(item: FormattedItem<Entities['InstanceEntity']>): Instance {
    const { buyerSealed, appInfo, timer, dueAt, ...rest } = item;
    const instance: Instance = rest;
    // the first version kept the provisioning retry time only in dueAt
    if (timer === LEGACY_PROVISION_PARTITION && !instance.provisioningDueAt) instance.provisioningDueAt = dueAt;
    if (buyerSealed) instance.buyer = JSON.parse(this.sealer.open(buyerSealed)) as BuyerContact;
    if (appInfo) {
      const { passwordSealed, ...visible } = appInfo;
      instance.appInfo = { ...visible, password: passwordSealed ? this.sealer.open(passwordSealed) : undefined };
    }
    return instance;
  }
}

/**
 * The store of a running service. `endpoint` = DynamoDB Local (npm start, invoke local, tests): it
 * accepts any credentials, so fixed dummy ones are used and real ones are never sent there.
 */
export function createStore(options: Omit<StoreOptions, 'documentClient'> & { endpoint?: string }): Store {
  const { endpoint, ...rest } = options;
  const client = new DynamoDBClient({
    // a call has ~3 s in all and the marketplace waits 5 s: no DynamoDB request may hang. Without
    // throwOnRequestTimeout the HTTP handler only logs a warning when requestTimeout passes. Three
    // attempts of at most 1 s each (a retried TransactWriteItems carries the same ClientRequestToken:
    // applied once) end well inside the 5 s.
    requestHandler: { connectionTimeout: 500, requestTimeout: 1000, throwOnRequestTimeout: true },
    maxAttempts: 3,
    ...(endpoint
      ? { endpoint, region: process.env.AWS_REGION || 'localhost', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
  });
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return new Store({ ...rest, documentClient });
}
