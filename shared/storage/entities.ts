/**
 * The one table and its entities, schema first (dynamodb-toolbox). Key layout:
 *
 * | entity       | pk                              | sk                       | notes                                  |
 * |--------------|---------------------------------|--------------------------|----------------------------------------|
 * | Instance     | INSTANCE#<instanceId>           | INSTANCE                 | timer/dueAt: see domain/timers.ts        |
 * | Watch        | INSTANCE#<instanceId>           | WATCH                    | timer=WATCH 2 h after the first claim    |
 * | Reconcile    | INSTANCE#<instanceId>           | RECONCILE                | timer=RECONCILE daily while live; TTL    |
 * | OrderLine    | ORDER#<orderId>#<orderLineId>   | INSTANCE                 | order line → instance id (newInstance)  |
 * | OrderNotice  | ORDER#<orderId>#<orderLineId>   | NOTICE                   | orderNotify + the order it fetched      |
 * | Call (audit) | INSTANCE#<id> or ORDER#<o>#<l>  | CALL#<iso time>#<nonce>  | TTL                                      |
 * | Nonce        | NONCE#<nonce>                   | NONCE                    | TTL                                      |
 * | HardwareOrder| ORDER#<orderId>                 | SUPERVISION#<lineId>     | timer ACCEPT / REMIND while signed for   |
 * | Notification | INSTANCE#<id> or ORDER#<orderId>| NOTIFY#<id>              | TTL                                      |
 * | Meter        | INSTANCE#<instanceId>           | METER                    | timer REBUY while an intent is pending   |
 * | UsageBucket  | INSTANCE#<instanceId>           | USAGE#<hour>             | timer PUSH until pushed (the ledger)     |
 * | UsageKey     | USAGEKEY#<instanceId>#<key>     | KEY                      | TTL; one per usage record                |
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Entity } from 'dynamodb-toolbox/entity';
import { boolean } from 'dynamodb-toolbox/schema/boolean';
import { item } from 'dynamodb-toolbox/schema/item';
import { list } from 'dynamodb-toolbox/schema/list';
import { map } from 'dynamodb-toolbox/schema/map';
import { number } from 'dynamodb-toolbox/schema/number';
import { string } from 'dynamodb-toolbox/schema/string';
import { Table } from 'dynamodb-toolbox/table';
import type { TimerKind } from '#shared/domain/timers';

export const instancePk = (instanceId: string) => `INSTANCE#${instanceId}`;
export const orderPk = (orderId: string, orderLineId: string) => `ORDER#${orderId}#${orderLineId}`;
/** the partition of everything about a whole order (its hardware supervision lines, notifications) */
export const wholeOrderPk = (orderId: string) => `ORDER#${orderId}`;

/** The byDue index is spread over this many partitions per timer kind, so that no key is hot. */
export const TIMER_SHARDS = 8;

/**
 * A stable shard number in [0, shards) for a key: FNV-1a, with every bit mixed into the low ones
 * (MurmurHash3's finaliser) — FNV-1a's low bits alone are weak (a key that repeats itself, like
 * ORDER#<id><id>-000001, fell into 2 of 8 shards).
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % shards;
}

/**
 * The index partition of an item's timer: `<kind>#<shard>`, the shard a stable hash of the item's key.
 * Items written with the earlier (unmixed) shard stay findable: a due query reads every shard of its kind.
 */
export function timerPartition(kind: TimerKind, itemKey: string): string {
  return `${kind}#${shardOf(itemKey, TIMER_SHARDS)}`;
}

export function createTable(documentClient: DynamoDBDocumentClient, name: string) {
  return new Table({
    documentClient,
    name,
    partitionKey: { name: 'pk', type: 'string' },
    sortKey: { name: 'sk', type: 'string' },
    indexes: {
      byDue: { type: 'global', partitionKey: { name: 'timer', type: 'string' }, sortKey: { name: 'dueAt', type: 'string' } },
    },
  });
}
export type ServiceTable = ReturnType<typeof createTable>;

const optionalString = () => string().optional();

export function createEntities(table: ServiceTable) {
  const InstanceEntity = new Entity({
    name: 'Instance',
    table,
    timestamps: false,
    schema: item({
      instanceId: string().key(),
      orderId: string(),
      orderLineId: string(),
      status: string().enum('PROVISIONING', 'ACTIVE', 'FROZEN', 'RELEASED', 'FAILED'),
      statusReason: optionalString(),
      testFlag: boolean(),
      chargingMode: string(),
      periodType: optionalString(),
      periodNumber: number().optional(),
      trial: boolean(),
      expireTime: optionalString(),
      product: map({
        productId: optionalString(),
        skuCode: optionalString(),
        linearValue: number().optional(),
        productName: optionalString(),
      }),
      /** sealed JSON of BuyerContact */
      buyerSealed: optionalString(),
      appInfo: map({
        frontEndUrl: string(),
        adminUrl: optionalString(),
        userName: optionalString(),
        /** sealed */
        passwordSealed: optionalString(),
        memo: optionalString(),
      }).optional(),
      appliedOps: list(string()),
      provisioningAttempts: number(),
      provisioningDueAt: optionalString(),
      timer: optionalString(),
      dueAt: optionalString(),
      frozenAt: optionalString(),
      frozenLocally: boolean().optional(),
      unfrozenAt: optionalString(),
      releaseReportedAt: optionalString(),
      renewedWhileFrozenAt: optionalString(),
      stillFrozenAlertedAt: optionalString(),
      releasedAt: optionalString(),
      createdAt: string(),
      updatedAt: string(),
      version: number(),
    }),
    computeKey: ({ instanceId }) => ({ pk: instancePk(instanceId), sk: 'INSTANCE' }),
  });

  const OrderLineEntity = new Entity({
    name: 'OrderLine',
    table,
    timestamps: false,
    schema: item({
      orderId: string().key(),
      orderLineId: string().key(),
      instanceId: string(),
      createdAt: string(),
    }),
    computeKey: ({ orderId, orderLineId }) => ({ pk: orderPk(orderId, orderLineId), sk: 'INSTANCE' }),
  });

  const OrderNoticeEntity = new Entity({
    name: 'OrderNotice',
    table,
    timestamps: false,
    schema: item({
      orderId: string().key(),
      orderLineId: string().key(),
      testFlag: boolean(),
      orderType: optionalString(),
      chargingMode: optionalString(),
      /** sealed JSON of the order as query order returned it, without buyer info */
      orderSealed: string(),
      /** sealed JSON of BuyerContact */
      buyerSealed: optionalString(),
      notifiedAt: string(),
    }),
    computeKey: ({ orderId, orderLineId }) => ({ pk: orderPk(orderId, orderLineId), sk: 'NOTICE' }),
  });

  const CallEntity = new Entity({
    name: 'Call',
    table,
    timestamps: false,
    schema: item({
      subject: string().key().savedAs('pk'),
      callKey: string().key().savedAs('sk'),
      activity: string(),
      resultCode: string(),
      resultMsg: string(),
      receivedAt: string(),
      testFlag: boolean(),
      instanceId: optionalString(),
      orderId: optionalString(),
      orderLineId: optionalString(),
      expiresAt: number(),
    }),
  });

  const NonceEntity = new Entity({
    name: 'Nonce',
    table,
    timestamps: false,
    schema: item({ nonce: string().key(), expiresAt: number() }),
    computeKey: ({ nonce }) => ({ pk: `NONCE#${nonce}`, sk: 'NONCE' }),
  });

  /** Watches an instance's first provisioning: due 2 h after the claim, checked by provisioningWatch. */
  const WatchEntity = new Entity({
    name: 'Watch',
    table,
    timestamps: false,
    schema: item({
      instanceId: string().key(),
      timer: optionalString(),
      dueAt: optionalString(),
      alerts: number(),
      expiresAt: number().optional(),
    }),
    computeKey: ({ instanceId }) => ({ pk: instancePk(instanceId), sk: 'WATCH' }),
  });

  /**
   * The daily reconciliation of a live instance with its marketplace order (domain/reconcile.ts): on the
   * index while the instance lives, off it (and deleted by TTL) once the instance is released.
   */
  const ReconcileEntity = new Entity({
    name: 'Reconcile',
    table,
    timestamps: false,
    schema: item({
      instanceId: string().key(),
      timer: optionalString(),
      dueAt: optionalString(),
      /** when a run last took it (the run's "now") */
      checkedAt: optionalString(),
      expiresAt: number().optional(),
    }),
    computeKey: ({ instanceId }) => ({ pk: instancePk(instanceId), sk: 'RECONCILE' }),
  });

  const HardwareOrderEntity = new Entity({
    name: 'HardwareOrder',
    table,
    timestamps: false,
    schema: item({
      orderId: string().key(),
      orderLineId: string().key(),
      state: string().enum('AWAITING_SHIPMENT', 'SHIPPED', 'SIGNED', 'ACCEPTED', 'REJECTED', 'APPEALED'),
      testFlag: boolean(),
      productId: optionalString(),
      skuCode: optionalString(),
      /** sealed */
      buyerPhoneSealed: optionalString(),
      carrier: optionalString(),
      trackingNumber: optionalString(),
      /** sealed */
      waybillPhoneSealed: optionalString(),
      phoneMatch: boolean().optional(),
      shippedAt: optionalString(),
      signedAt: optionalString(),
      acceptedAt: optionalString(),
      acceptedBy: string().enum('buyer', 'auto').optional(),
      expectedCompletedBy: optionalString(),
      rejectionCount: number(),
      appealedAt: optionalString(),
      remindersSent: number(),
      reminderFailures: number().optional(),
      lastReminderAt: optionalString(),
      nextReminderAt: optionalString(),
      stateReason: optionalString(),
      timer: optionalString(),
      dueAt: optionalString(),
      createdAt: string(),
      updatedAt: string(),
      version: number(),
    }),
    computeKey: ({ orderId, orderLineId }) => ({ pk: wholeOrderPk(orderId), sk: `SUPERVISION#${orderLineId}` }),
  });

  const NotificationEntity = new Entity({
    name: 'Notification',
    table,
    timestamps: false,
    schema: item({
      subjectKey: string().key().savedAs('pk'),
      id: string().key().savedAs('sk'),
      kind: string(),
      channel: optionalString(),
      subject: map({
        instanceId: optionalString(),
        orderId: optionalString(),
        orderLineId: optionalString(),
        generation: optionalString(),
      }),
      message: string(),
      at: string(),
      expiresAt: number(),
    }),
  });

  const threshold = map({ percent: number().optional(), amount: number().optional() });

  const MeterEntity = new Entity({
    name: 'Meter',
    table,
    timestamps: false,
    schema: item({
      instanceId: string().key(),
      generation: string(),
      package: map({
        quota: number(),
        remaining: number(),
        stopWhenExhausted: boolean(),
        stoppedAt: optionalString(),
        stopReason: optionalString(),
      }).optional(),
      used: number(),
      records: number(),
      lastUsageAt: optionalString(),
      threshold: threshold.optional(),
      autoRebuy: boolean().optional(),
      intent: map({
        id: string(),
        generation: string(),
        state: string().enum('PENDING', 'NOTIFIED', 'FAILED'),
        raisedAt: string(),
        remaining: number(),
        dueAt: string(),
        reason: optionalString(),
      }).optional(),
      timer: optionalString(),
      dueAt: optionalString(),
      updatedAt: string(),
      version: number(),
    }),
    computeKey: ({ instanceId }) => ({ pk: instancePk(instanceId), sk: 'METER' }),
  });

  /** One hour of an instance's usage: the usage-push ledger entry (OPEN → SENDING → PUSHED / FAILED / …). */
  const UsageBucketEntity = new Entity({
    name: 'UsageBucket',
    table,
    timestamps: false,
    schema: item({
      instanceId: string().key(),
      hour: string().key(),
      value: number(),
      records: number(),
      /** the package instance the usage consumes (relate_pkg_instance) */
      packageInstanceId: optionalString(),
      state: string().enum('OPEN', 'SENDING', 'PUSHED', 'FAILED', 'REJECTED', 'EXPIRED'),
      attempts: number().optional(),
      lastError: optionalString(),
      pushedAt: optionalString(),
      timer: optionalString(),
      dueAt: optionalString(),
    }),
    computeKey: ({ instanceId, hour }) => ({ pk: instancePk(instanceId), sk: `USAGE#${hour}` }),
  });

  const UsageKeyEntity = new Entity({
    name: 'UsageKey',
    table,
    timestamps: false,
    schema: item({ instanceId: string().key(), key: string().key(), hour: string(), expiresAt: number() }),
    computeKey: ({ instanceId, key }) => ({ pk: `USAGEKEY#${instanceId}#${key}`, sk: 'KEY' }),
  });

  return {
    InstanceEntity,
    OrderLineEntity,
    OrderNoticeEntity,
    CallEntity,
    NonceEntity,
    WatchEntity,
    ReconcileEntity,
    HardwareOrderEntity,
    NotificationEntity,
    MeterEntity,
    UsageBucketEntity,
    UsageKeyEntity,
  };
}
export type Entities = ReturnType<typeof createEntities>;
