/**
 * The DynamoDB probe itself (shared/testing/dynamoProbe.ts), on a table of the run's DynamoDB Local:
 * it counts one request per store request by command, fails the share of requests its seed picks (the
 * same seed, the same requests), and a fault "after" really lets the write happen while the caller
 * gets an error. The reliability suites build on these three properties.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localClient } from '../../infra/local/dynamodb.ts';
import { InjectedFault, probeDynamo, type DynamoProbe } from './dynamoProbe.ts';
import { seededRandom } from './seededRandom.ts';
import { createTestTable } from './table.ts';

let table: Awaited<ReturnType<typeof createTestTable>>;
/** the client under the probe */
let probed: DynamoDBDocumentClient;
/** a second client, never probed: what is really in the table */
let truth: DynamoDBDocumentClient;
let probe: DynamoProbe;

beforeAll(async () => {
  table = await createTestTable();
  probed = DynamoDBDocumentClient.from(localClient(table.endpoint));
  truth = DynamoDBDocumentClient.from(localClient(table.endpoint));
  probe = probeDynamo(probed);
});
afterAll(() => probe.remove());
beforeEach(() => {
  probe.injectFaults(undefined);
  probe.reset();
});

const key = () => ({ pk: `PROBE#${randomUUID()}`, sk: 'ITEM' });
const put = (client: DynamoDBDocumentClient, item: Record<string, unknown>) =>
  client.send(new PutCommand({ TableName: table.tableName, Item: item }));
const get = (client: DynamoDBDocumentClient, k: { pk: string; sk: string }) =>
  client.send(new GetCommand({ TableName: table.tableName, Key: k, ConsistentRead: true })).then((r) => r.Item);
const stored = (k: { pk: string; sk: string }) => get(truth, k);

/** Sends `n` reads through the probe; the indices of those that failed on purpose. */
async function failedReads(n: number): Promise<number[]> {
  const failed: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      await get(probed, key());
    } catch (error) {
      if (!(error instanceof InjectedFault)) throw error;
      failed.push(i);
    }
  }
  return failed;
}

describe('DynamoDB probe: counting', () => {
  it('counts each request once, by the command DynamoDB receives, until reset', async () => {
    const a = key();
    await put(probed, { ...a, n: 1 });
    await put(probed, { ...key(), n: 2 });
    await get(probed, a);
    await probed.send(new QueryCommand({ TableName: table.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': a.pk } }));
    await probed.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: table.tableName, Item: { ...key(), n: 3 } } }] }));
    expect(probe.counts()).toEqual({ PutItemCommand: 2, GetItemCommand: 1, QueryCommand: 1, TransactWriteItemsCommand: 1 });
    expect(probe.faults()).toBe(0);
    probe.reset();
    expect(probe.counts()).toEqual({});
  });

  it('does not see another client, and stops counting once removed', async () => {
    await get(truth, key());
    expect(probe.counts()).toEqual({});
    const own = DynamoDBDocumentClient.from(localClient(table.endpoint));
    const removable = probeDynamo(own);
    await get(own, key());
    removable.remove();
    await get(own, key());
    expect(removable.counts()).toEqual({ GetItemCommand: 1 });
  });
});

describe('DynamoDB probe: faults', () => {
  it("'before': the request fails and nothing is written", async () => {
    const k = key();
    probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when: 'before' });
    await expect(put(probed, { ...k, n: 1 })).rejects.toThrow(InjectedFault);
    expect(await stored(k)).toBeUndefined();
    expect(probe.faults()).toBe(1);
  });

  it("'after': the caller gets an error, yet the write (a transaction too) was applied", async () => {
    const [k1, k2] = [key(), key()];
    probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when: 'after' });
    await expect(put(probed, { ...k1, n: 1 })).rejects.toThrow(/after it was applied/);
    await expect(
      probed.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: table.tableName, Item: { ...k2, n: 2 } } }] })),
    ).rejects.toThrow(InjectedFault);
    expect(await stored(k1)).toEqual({ ...k1, n: 1 });
    expect(await stored(k2)).toEqual({ ...k2, n: 2 });
    expect(probe.faults()).toBe(2);
  });

  it('an injected fault is not retried by the SDK: one request counted, one fault', async () => {
    probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when: 'before' });
    await expect(get(probed, key())).rejects.toThrow(InjectedFault);
    expect(probe.counts()).toEqual({ GetItemCommand: 1 });
    expect(probe.faults()).toBe(1);
  });

  it("'timeout' fails after the delay", async () => {
    probe.injectFaults({ rate: 1, seed: 1, mode: 'timeout', when: 'before', delayMs: 120 });
    const started = Date.now();
    await expect(get(probed, key())).rejects.toThrow(/timed out/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('the same seed fails the same requests; another seed others; about the share asked', async () => {
    probe.injectFaults({ rate: 0.2, seed: 42, mode: 'error', when: 'before' });
    const first = await failedReads(100);
    probe.injectFaults({ rate: 0.2, seed: 42, mode: 'error', when: 'before' });
    expect(await failedReads(100)).toEqual(first);
    probe.injectFaults({ rate: 0.2, seed: 43, mode: 'error', when: 'before' });
    const other = await failedReads(100);
    expect(other).not.toEqual(first);
    expect(probe.faults()).toBe(2 * first.length + other.length);
    // 100 draws at 20 %: 20 expected, standard deviation 4
    expect(first.length).toBeGreaterThan(4);
    expect(first.length).toBeLessThan(40);
  });

  it("'either' and 'mixed' draw from the seed too: both kinds of fault occur, the same ones for the same seed", async () => {
    const outcome = async () => {
      probe.injectFaults({ rate: 1, seed: 9, mode: 'mixed', when: 'either', delayMs: 1 });
      const seen: string[] = [];
      for (let i = 0; i < 16; i++) {
        const k = key();
        const message = await put(probed, { ...k, n: i }).then(
          () => 'ok',
          (e: Error) => e.message,
        );
        seen.push(`${/timed out/.test(message) ? 'timeout' : 'error'}/${(await stored(k)) ? 'applied' : 'not applied'}`);
      }
      return seen;
    };
    const first = await outcome();
    expect(await outcome()).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['timeout/applied', 'timeout/not applied', 'error/applied', 'error/not applied']));
  });

  it('only the commands named fail', async () => {
    probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when: 'before', commands: ['PutItemCommand'] });
    await expect(get(probed, key())).resolves.toBeUndefined();
    await expect(put(probed, { ...key(), n: 1 })).rejects.toThrow(InjectedFault);
    expect(probe.faults()).toBe(1);
  });

  it('seededRandom is deterministic per seed and within [0, 1)', () => {
    const draw = (seed: number) => Array.from({ length: 1000 }, seededRandom(seed));
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
    expect(draw(5).every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
