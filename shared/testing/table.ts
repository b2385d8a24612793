/** A fresh table on the test run's DynamoDB Local, one per test file (or per call). */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { ensureTable, localClient } from '../../infra/local/dynamodb.ts';

/** `stream: true` for the tests that read the table's stream (see ensureTable: it slows DynamoDB Local's writes) */
export async function createTestTable(options: { stream?: boolean } = {}) {
  const endpoint = inject('dynamoEndpoint');
  const client = localClient(endpoint);
  const tableName = `test-${randomUUID()}`;
  await ensureTable(client, tableName, { stream: options.stream === true });
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { endpoint, client, documentClient, tableName };
}
