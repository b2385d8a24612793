import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { ensureTable, localClient, tableDefinition } from './dynamodb.ts';

describe('local table from infra/table.yml', () => {
  it('creates the table with the due-time index and TTL, and is idempotent', async () => {
    const client = localClient(inject('dynamoEndpoint'));
    const name = `t-${randomUUID()}`;
    expect(await ensureTable(client, name)).toBe('created');
    expect(await ensureTable(client, name)).toBe('existed');
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.KeySchema?.map((k) => k.AttributeName)).toEqual(['pk', 'sk']);
    expect(Table?.GlobalSecondaryIndexes?.[0]?.IndexName).toBe('byDue');
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiresAt');
  });

  it('refuses a kept table whose index projection differs from table.yml, naming the fix', async () => {
    const client = localClient(inject('dynamoEndpoint'));
    const name = `t-${randomUUID()}`;
    const { create } = tableDefinition(name);
    const [index] = create.GlobalSecondaryIndexes!;
    await client.send(
      new CreateTableCommand({ ...create, GlobalSecondaryIndexes: [{ ...index!, Projection: { ProjectionType: 'KEYS_ONLY' } }] }),
    );
    await expect(ensureTable(client, name)).rejects.toThrow(/delete \.dynamodb\/ to recreate it/);
  });

  it('drops CloudFormation-only properties', () => {
    const { create } = tableDefinition('x');
    expect(Object.keys(create).sort()).toEqual(
      ['AttributeDefinitions', 'BillingMode', 'GlobalSecondaryIndexes', 'KeySchema', 'TableName'].sort(),
    );
  });
});
