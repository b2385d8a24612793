/**
 * The table's DynamoDB stream as DynamoDB Local serves it, read the way Lambda's event source mapping
 * reads it in the cloud: every shard in order, child shards after they appear, records handed over in
 * Lambda's `DynamoDBRecord` shape so the same publisher code (shared/events/publisher.ts) runs on them.
 * Used by `npm start` (the local stand-in for the stream → publishEvents trigger) and by the tests.
 */
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecordOfSdk,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { localClient } from './dynamodb.ts';

export interface TableStream {
  /** the records written since the last read (possibly none), oldest first per shard */
  read(): Promise<DynamoDBRecord[]>;
  close(): void;
}

/**
 * Opens the stream of `tableName` on DynamoDB Local. `from: 'now'` starts at the current end of every
 * shard (what `npm start` does: earlier changes were published by an earlier run); `'start'` reads all
 * the stream still holds (24 h), like an event source mapping with TRIM_HORIZON.
 */
export async function openTableStream(endpoint: string, tableName: string, from: 'now' | 'start' = 'now'): Promise<TableStream> {
  const tables = localClient(endpoint);
  const { Table } = await tables.send(new DescribeTableCommand({ TableName: tableName }));
  tables.destroy();
  const streamArn = Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream (infra/table.yml StreamSpecification)`);
  const client = new DynamoDBStreamsClient({
    endpoint,
    region: 'localhost',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  /** shard id → where reading goes on: its next iterator (null once closed and read to its end), the last record read */
  const shards = new Map<string, { iterator: string | null; last?: string }>();

  const iteratorOf = async (ShardId: string, ShardIteratorType: ShardIteratorType, SequenceNumber?: string) =>
    (await client.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId, ShardIteratorType, SequenceNumber }))).ShardIterator ?? null;

  /** shards not seen before: the first ones from `from`, any later one (a split or a rollover) from its start */
  const discover = async (initial: boolean) => {
    let ExclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId }));
      for (const shard of StreamDescription?.Shards ?? []) {
        if (!shard.ShardId || shards.has(shard.ShardId)) continue;
        const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
        if (initial && from === 'now' && closed) shards.set(shard.ShardId, { iterator: null });
        else shards.set(shard.ShardId, { iterator: await iteratorOf(shard.ShardId, initial && from === 'now' ? 'LATEST' : 'TRIM_HORIZON') });
      }
      ExclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (ExclusiveStartShardId);
  };
  await discover(true);

  /**
   * One page of a shard. An iterator that expired (15 minutes unused) or points at records the stream
   * trimmed is replaced by one just after the last record read (or the shard's oldest record), as
   * Lambda's poller does: nothing is read twice, nothing still held is skipped.
   */
  const page = async (shardId: string, state: { iterator: string | null; last?: string }) => {
    try {
      return await client.send(new GetRecordsCommand({ ShardIterator: state.iterator!, Limit: 1000 }));
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'ExpiredIteratorException' && name !== 'TrimmedDataAccessException') throw error;
      const after = state.last && name === 'ExpiredIteratorException';
      const iterator = after ? await iteratorOf(shardId, 'AFTER_SEQUENCE_NUMBER', state.last) : await iteratorOf(shardId, 'TRIM_HORIZON');
      if (!iterator) return { Records: [], NextShardIterator: undefined };
      const retried = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      // from the oldest record: drop what was read before
      const fresh = (retried.Records ?? []).filter((r) => !state.last || BigInt(r.dynamodb?.SequenceNumber ?? '0') > BigInt(state.last));
      return { ...retried, Records: fresh };
    }
  };

  return {
    async read() {
      await discover(false);
      const out: DynamoDBRecord[] = [];
      for (const [shardId, state] of shards) {
        // a shard may hold more than one page: read it to its current end
        while (state.iterator) {
          const { Records = [], NextShardIterator } = await page(shardId, state);
          out.push(...Records.map(toLambdaRecord));
          state.last = Records.at(-1)?.dynamodb?.SequenceNumber ?? state.last;
          state.iterator = NextShardIterator ?? null;
          if (Records.length === 0) break;
        }
      }
      return out;
    },
    close: () => client.destroy(),
  };
}

/** The SDK's stream record in the shape Lambda delivers (creation time in epoch seconds). */
function toLambdaRecord(record: StreamRecordOfSdk): DynamoDBRecord {
  const { dynamodb, eventID, eventName, eventSource, eventVersion, awsRegion } = record;
  return {
    eventID,
    eventName: eventName as DynamoDBRecord['eventName'],
    eventSource,
    eventVersion,
    awsRegion,
    dynamodb: dynamodb && {
      ApproximateCreationDateTime: dynamodb.ApproximateCreationDateTime && Math.floor(dynamodb.ApproximateCreationDateTime.getTime() / 1000),
      Keys: dynamodb.Keys as Record<string, AttributeValue> | undefined,
      NewImage: imageOf(dynamodb.NewImage),
      OldImage: imageOf(dynamodb.OldImage),
      SequenceNumber: dynamodb.SequenceNumber,
      SizeBytes: dynamodb.SizeBytes,
      StreamViewType: dynamodb.StreamViewType as NonNullable<DynamoDBRecord['dynamodb']>['StreamViewType'],
    },
  };
}

/**
 * The streams client reads an empty map attribute (`{"M":{}}` on the wire) as `{}`, a value of no type
 * that unmarshall refuses; Lambda delivers the wire form. Put the type back.
 */
function imageOf(image: Record<string, unknown> | undefined): Record<string, AttributeValue> | undefined {
  if (!image) return undefined;
  const repair = (value: unknown): unknown => {
    if (!value || typeof value !== 'object') return value;
    const av = value as Record<string, unknown>;
    if (Object.keys(av).length === 0) return { M: {} };
    if (av.M) return { M: Object.fromEntries(Object.entries(av.M as Record<string, unknown>).map(([k, v]) => [k, repair(v)])) };
    if (av.L) return { L: (av.L as unknown[]).map(repair) };
    return av;
  };
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, repair(v)])) as Record<string, AttributeValue>;
}
