/** A fresh table on the test run's DynamoDB Local, one per test file (or per call). */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { ensureTable, localClient } from '../../infra/local/dynamodb.ts';

export async function createTestTable() {
  const endpoint = inject('dynamoEndpoint');
  const client = localClient(endpoint);
  const tableName = `test-${randomUUID()}`;
  await ensureTable(client, tableName);
  const documentClient = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { endpoint, client, documentClient, tableName };
}
