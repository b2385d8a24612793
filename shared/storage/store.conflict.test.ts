/**
 * DynamoDB Local serialises transactions, so a TransactionConflict (two transactions on one item at
 * the same moment, as in the cloud) is produced here by a client that cancels like DynamoDB does.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createSealer } from '#shared/crypto/sealer';
import { NonceReplayError, type CallReceipt } from '#shared/domain/repository';
import type { Instance } from '#shared/domain/instance';
import { Store } from './store.ts';

const cancelling = (...codes: string[]) =>
  ({
    send: async () => {
      throw new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: codes.map((Code) => ({ Code })),
      });
    },
  }) as unknown as DynamoDBDocumentClient;

const store = (client: DynamoDBDocumentClient) => new Store({ documentClient: client, tableName: 't', sealer: createSealer(['k']) });
const receipt: CallReceipt = { nonce: 'n', receivedAt: new Date(), activity: 'updateInstanceStatus', resultCode: '000000', resultMsg: 'ok', testFlag: false };
const instance = {
  instanceId: 'i', orderId: 'o', orderLineId: 'l', status: 'ACTIVE', testFlag: false, chargingMode: 'PERIOD', trial: false,
  product: {}, appliedOps: [], provisioningAttempts: 1, createdAt: 'x', updatedAt: 'x', version: 1,
} satisfies Instance;

describe('Store under transaction conflicts', () => {
  it('a conflict on the instance is a lost race: the caller re-reads', async () => {
    expect(await store(cancelling('None', 'None', 'TransactionConflict')).saveInstance(instance, 1, receipt)).toBeUndefined();
    expect(await store(cancelling('TransactionConflict')).saveInstance(instance, 1)).toBeUndefined();
  });

  it('a conflict on the nonce means a copy with the same nonce is in flight: a replay', async () => {
    await expect(store(cancelling('TransactionConflict', 'None', 'None')).saveInstance(instance, 1, receipt)).rejects.toThrow(NonceReplayError);
  });

  it('other cancellations are not hidden', async () => {
    await expect(store(cancelling('None', 'None', 'ThrottlingError')).saveInstance(instance, 1, receipt)).rejects.toThrow(TransactionCanceledException);
  });
});
