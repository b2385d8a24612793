/**
 * What every bench starts with: its own DynamoDB Local on a free port, a fresh table, and the environment
 * the runtime reads (set before the runtime is imported: it reads the environment once, when it loads).
 */
import { randomUUID } from 'node:crypto';
import { ensureTable, freePort, localClient, startDynamoLocal } from '../infra/local/dynamodb.ts';

export async function startBenchTable(env: Record<string, string> = {}) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startDynamoLocal({ port: await freePort() });
  const tableName = `bench-${randomUUID()}`;
  const client = localClient(dynamo.endpoint);
  // no stream: the cloud writes stream records apart from the write; DynamoDB Local inside it (ensureTable)
  await ensureTable(client, tableName, { stream: false });
  Object.assign(process.env, {
    STAGE: 'local',
    TABLE_NAME: tableName,
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    // never called unless a bench gives its own: the open API then answers in-process
    KOOGALLERY_API_URL: 'http://127.0.0.1:9',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...env,
  });
  return { dynamo, tableName, client };
}
