/**
 * The failed calls kept for redrive (failedCallEntities.ts) as `npm run ops` reads them: listed (a Query
 * per day and shard, FAILED#<yyyy-mm-dd>#<n>, never a scan), found by id with their sealed request, marked
 * when redriven. Not in the Lambda bundles.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { failedDayPks, failedPk } from './failedCallEntities.ts';

/** A failed call as listed (the sealed request stays in the table unless asked for). */
export interface FailedCall {
  /** what the operator types: `<iso time>#<first 12 characters of the nonce>` */
  id: string;
  pk: string;
  sk: string;
  route: string;
  activity: string;
  resultCode: string;
  resultMsg: string;
  receivedAt: string;
  testFlag: boolean;
  instanceId?: string;
  orderId?: string;
  orderLineId?: string;
  tenantId?: string;
  redrivable: boolean;
  redrives: number;
  lastRedriveAt?: string;
  lastRedriveCode?: string;
  lastRedriveMsg?: string;
  /** only from `find` */
  requestSealed?: string;
}

export interface RedriveMark {
  at: string;
  nonce: string;
  resultCode: string;
  resultMsg: string;
}

const LISTED = [
  'pk', 'sk', '#route', 'activity', 'resultCode', 'resultMsg', 'receivedAt', 'testFlag', 'instanceId', 'orderId',
  'orderLineId', 'tenantId', 'redrivable', 'redrives', 'lastRedriveAt', 'lastRedriveCode', 'lastRedriveMsg',
];

const idOf = (sk: string) => {
  const cut = sk.indexOf('#', 20); // after the ISO time
  return cut < 0 ? sk : `${sk.slice(0, cut)}#${sk.slice(cut + 1, cut + 13)}`;
};

function fromItem(item: Record<string, any>): FailedCall {
  return {
    id: idOf(item.sk),
    pk: item.pk,
    sk: item.sk,
    route: item.route,
    activity: item.activity,
    resultCode: item.resultCode,
    resultMsg: item.resultMsg,
    receivedAt: item.receivedAt,
    testFlag: item.testFlag === true,
    ...(item.instanceId ? { instanceId: item.instanceId } : {}),
    ...(item.orderId ? { orderId: item.orderId } : {}),
    ...(item.orderLineId ? { orderLineId: item.orderLineId } : {}),
    ...(item.tenantId ? { tenantId: item.tenantId } : {}),
    redrivable: item.redrivable === true,
    redrives: Number(item.redrives ?? 0),
    ...(item.lastRedriveAt ? { lastRedriveAt: item.lastRedriveAt, lastRedriveCode: item.lastRedriveCode, lastRedriveMsg: item.lastRedriveMsg } : {}),
    ...(item.requestSealed ? { requestSealed: item.requestSealed } : {}),
  };
}

export class FailedCallStore {
  constructor(private readonly options: { documentClient: DynamoDBDocumentClient; tableName: string }) {}

  /** The failed calls that arrived in the last `days` days up to `now` (UTC days), newest first. */
  async list(now: Date, days: number): Promise<FailedCall[]> {
    const since = new Date(now.getTime() - days * 86_400_000).toISOString();
    const partitions = Array.from({ length: days + 1 }, (_, i) => new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10));
    const found = await Promise.all(partitions.flatMap((day) => failedDayPks(day).map((pk) => this.query(pk, { from: since }))));
    return found.flat().sort((a, b) => b.sk.localeCompare(a.sk));
  }

  /** The failed call an operator named (its id, or any longer prefix of its sort key), with its sealed request. */
  async find(id: string): Promise<FailedCall[]> {
    if (!/^\d{4}-\d{2}-\d{2}T/.test(id)) return [];
    // an id holds the whole arrival time (its shard); a shorter prefix is looked for in every shard of its day
    const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/.exec(id)?.[0];
    const partitions = time ? [failedPk(time)] : failedDayPks(id.slice(0, 10));
    return (await Promise.all(partitions.map((pk) => this.query(pk, { prefix: id, withRequest: true })))).flat();
  }

  /**
   * Records a redrive on the failed call, if nobody else recorded one since the operator read it
   * (`seenRedrives`): false when another redrive got there first.
   */
  async markRedriven(call: Pick<FailedCall, 'pk' | 'sk' | 'redrives'>, mark: RedriveMark): Promise<boolean> {
    try {
      await this.options.documentClient.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { pk: call.pk, sk: call.sk },
          UpdateExpression: 'SET redrives = :next, lastRedriveAt = :at, lastRedriveNonce = :nonce, lastRedriveCode = :code, lastRedriveMsg = :msg',
          ConditionExpression:
            call.redrives === 0 ? 'attribute_exists(pk) AND attribute_not_exists(redrives)' : 'attribute_exists(pk) AND redrives = :seen',
          ExpressionAttributeValues: {
            ':next': call.redrives + 1,
            ':at': mark.at,
            ':nonce': mark.nonce,
            ':code': mark.resultCode,
            ':msg': mark.resultMsg.slice(0, 255),
            ...(call.redrives === 0 ? {} : { ':seen': call.redrives }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async query(pk: string, opts: { from?: string; prefix?: string; withRequest?: boolean }): Promise<FailedCall[]> {
    const out: FailedCall[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.options.documentClient.send(
        new QueryCommand({
          TableName: this.options.tableName,
          KeyConditionExpression: opts.prefix ? 'pk = :pk AND begins_with(sk, :sk)' : 'pk = :pk AND sk >= :sk',
          ExpressionAttributeValues: { ':pk': pk, ':sk': opts.prefix ?? opts.from ?? '' },
          ExpressionAttributeNames: { '#route': 'route' },
          ProjectionExpression: [...LISTED, ...(opts.withRequest ? ['requestSealed'] : [])].join(', '),
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      out.push(...(page.Items ?? []).map(fromItem));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return out;
  }
}
