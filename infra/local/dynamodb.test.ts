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

  it('drops CloudFormation-only properties, and enables the stream CloudFormation declares', () => {
    const { create } = tableDefinition('x');
    expect(Object.keys(create).sort()).toEqual(
      ['AttributeDefinitions', 'BillingMode', 'GlobalSecondaryIndexes', 'KeySchema', 'StreamSpecification', 'TableName'].sort(),
    );
    expect(create.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });

  it('leaves the stream out when asked (tests and benches that do not read it)', async () => {
    const client = localClient(inject('dynamoEndpoint'));
    const name = `t-${randomUUID()}`;
    expect(await ensureTable(client, name, { stream: false })).toBe('created');
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
  });

  it('gives a table kept from before the integration events its stream', async () => {
    const client = localClient(inject('dynamoEndpoint'));
    const name = `t-${randomUUID()}`;
    const { create } = tableDefinition(name);
    const { StreamSpecification: _stream, ...withoutStream } = create;
    await client.send(new CreateTableCommand(withoutStream));
    expect(await ensureTable(client, name)).toBe('existed');
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.StreamSpecification).toMatchObject({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });
});
