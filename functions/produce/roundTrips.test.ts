/**
 * DynamoDB requests per callback, counted by a middleware on the store's client (issue target P2):
 * every mutating callback commits in at most one write round trip, and a 100-id queryInstance reads in
 * one BatchGetItem. `npm run bench` prints the same table; this test keeps it from regressing.
 */
import { randomUUID } from 'node:crypto';
import pMap from 'p-map';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeRuntime, writeRoundTrips, type DynamoProbe } from '#shared/testing/dynamoProbe';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

let h: Harness;
let probe: DynamoProbe;
beforeAll(async () => {
  // a loaded machine must not turn an order read into a 000005 here: this test counts, it does not time
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '4000' });
  probe = await probeRuntime();
});
afterAll(() => {
  probe.remove();
  return h.close();
});

function newOrder(over: Parameters<typeof freshOrder>[0] = {}) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
}

async function counted(body: Record<string, unknown>) {
  probe.reset();
  const answer = await invoke(handler, signedEvent(body));
  const counts = probe.counts();
  return {
    resultCode: answer.json.resultCode,
    instanceId: answer.json.instanceId,
    writes: writeRoundTrips(counts),
    gets: counts.GetItemCommand ?? 0,
    batchGets: counts.BatchGetItemCommand ?? 0,
    total: Object.values(counts).reduce((a, b) => a + b, 0),
  };
}

describe('DynamoDB round trips per callback', () => {
  it('a whole lifecycle: one write per mutating callback, one read before each change', async () => {
    const ids = newOrder();
    const created = await counted({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    // provision first, commit once: no read, one transaction
    expect(created).toMatchObject({ resultCode: '000000', writes: 1, total: 1 });
    const instanceId = created.instanceId!;
    const upgrade = newOrder({ orderType: 'UPGRADE', skuCode: 'sku-pro', linearValue: 20 });
    const script: Array<Record<string, unknown>> = [
      { activity: 'refreshInstance', instanceId, orderId: 'CSR1', orderLineId: 'CSR1-1', scene: 'RENEWAL', expireTime: '20291124000000' },
      { activity: 'refreshInstance', instanceId, orderId: 'CSR1', orderLineId: 'CSR1-1', scene: 'RENEWAL', expireTime: '20291124000000' },
      { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' },
      { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' },
      { activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' },
      { activity: 'upgradeInstance', instanceId, ...upgrade },
      { activity: 'releaseInstance', instanceId },
      { activity: 'releaseInstance', instanceId },
    ];
    for (const body of script) {
      const c = await counted(body);
      expect({ activity: body.activity, ...c }).toMatchObject({ resultCode: '000000', writes: 1, gets: 1, total: 2 });
    }
  });

  it('queryInstance of 100 ids reads them in one BatchGetItem and records the call in one write', async () => {
    const created = await pMap(Array.from({ length: 100 }), () => invoke(handler, signedEvent({ activity: 'newInstance', businessId: randomUUID(), ...newOrder() })), {
      concurrency: 4,
    });
    expect(created.map((a) => a.json.resultCode)).toEqual(Array(100).fill('000000'));
    const instanceIds = created.map((a) => a.json.instanceId!);
    const query = await counted({ activity: 'queryInstance', instanceId: instanceIds.join(',') });
    expect(query).toMatchObject({ resultCode: '000000', batchGets: 1, gets: 0, writes: 1, total: 2 });
  });

  it('orderNotify and changeInstanceCheck write once', async () => {
    expect(await counted({ activity: 'orderNotify', ...newOrder(), testFlag: '0' })).toMatchObject({ resultCode: '000000', writes: 1 });
    const { instanceId } = await counted({ activity: 'newInstance', businessId: randomUUID(), ...newOrder() });
    expect(await counted({ activity: 'changeInstanceCheck', instanceId, productInfo: { skuCode: 'sku-pro', linearValue: 20 } })).toMatchObject({
      resultCode: '000000',
      writes: 1,
    });
  });

  it('a resend of newInstance: its transaction is cancelled by the order line, then one read and the audit write', async () => {
    const ids = newOrder();
    const { instanceId } = await counted({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    const resend = await counted({ activity: 'newInstance', businessId: randomUUID(), ...ids });
    expect(resend).toMatchObject({ resultCode: '000000', instanceId, writes: 2, gets: 1, total: 3 });
  });
});
