/**
 * The one table and its entities, schema first (dynamodb-toolbox). Key layout:
 *
 * | entity       | pk                              | sk                       | notes                                  |
 * |--------------|---------------------------------|--------------------------|----------------------------------------|
 * | Instance     | INSTANCE#<instanceId>           | INSTANCE                 | timer=PROVISION, dueAt while unfinished |
 * | OrderLine    | ORDER#<orderId>#<orderLineId>   | INSTANCE                 | order line → instance id (newInstance)  |
 * | OrderNotice  | ORDER#<orderId>#<orderLineId>   | NOTICE                   | orderNotify + the order it fetched      |
 * | Call (audit) | INSTANCE#<id> or ORDER#<o>#<l>  | CALL#<iso time>#<nonce>  | TTL                                      |
 * | Nonce        | NONCE#<nonce>                   | NONCE                    | TTL                                      |
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

export const instancePk = (instanceId: string) => `INSTANCE#${instanceId}`;
export const orderPk = (orderId: string, orderLineId: string) => `ORDER#${orderId}#${orderLineId}`;
export const PROVISION_TIMER = 'PROVISION';

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
      usage: list(
        map({ relatedInstanceId: optionalString(), usageValue: number(), statisticalTime: string() }),
      ),
      appliedOps: list(string()),
      provisioningAttempts: number(),
      timer: optionalString(),
      dueAt: optionalString(),
      frozenAt: optionalString(),
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

  return { InstanceEntity, OrderLineEntity, OrderNoticeEntity, CallEntity, NonceEntity };
}
export type Entities = ReturnType<typeof createEntities>;
