/**
 * The integration events under retries, end to end: whole order lifecycles played through POST /produce
 * by the scripted marketplace, once without duplicates and once with resends, bursts of copies in
 * flight and late resends; then the table's real stream (DynamoDB Local) relayed by the same code as the
 * cloud's publishEvents. Every change must be published exactly once (no two stream records make the
 * same event id), the duplicated run must publish the same events per order as the clean one, ids must
 * be stable when the stream delivers a record again, and every event must match the published schema.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '#functions/produce/handler';
import { getRuntime } from '#shared/runtime';
import { startHarness, type Harness } from '#shared/testing/harness';
import { drive, inProcessDelivery, randomScripts, type MarketplaceSide, type OrderRun } from '#shared/testing/marketplaceDriver';
import { openTableStream, type TableStream } from '#infra/local/stream';
import { eventsOfRecord, relayRecords, type EventSink } from './publisher.ts';
import { integrationEventSchema, type IntegrationEvent } from './schema.ts';

const SEED = 20261125;
const ORDERS = 16;
const SOURCE = 'koogallery-merchant/test';

let h: Harness;
let stream: TableStream;
let clean: OrderRun[];
let duplicated: OrderRun[];
let records: DynamoDBRecord[];
let events: IntegrationEvent[];

/** An order's events without what differs between two runs of the same script (ids, times). */
function normalised(list: readonly IntegrationEvent[]) {
  return list.map((e) => {
    const data = e.data as Record<string, unknown>;
    return [e.type, data.status, data.previousStatus, data.expireTime, JSON.stringify(data.product), data.version];
  });
}
const orderOf = (e: IntegrationEvent) => String((e.data as { orderId?: string }).orderId ?? '');

beforeAll(async () => {
  h = await startHarness({ REQUEST_BUDGET_MS: '20000', PROVISION_BUDGET_MS: '15000', OPEN_API_TIMEOUT_MS: '5000' }, { stream: true });
  stream = await openTableStream(h.table.endpoint, h.table.tableName, 'start');
  const services = (await getRuntime()).services;
  services.provisioner = services.debugProvisioner;
  const market: MarketplaceSide = { deliver: inProcessDelivery(handler), registerOrder: (order) => h.marketplace.registerOrder(order) };
  const scripts = randomScripts(SEED, ORDERS);
  clean = await drive(scripts, market, { prefix: 'EVA', seed: SEED, concurrency: 8 });
  duplicated = await drive(scripts, market, {
    prefix: 'EVB',
    seed: SEED,
    concurrency: 8,
    copies: { rounds: [1, 3], inFlight: [2, 6], burstShare: 0.3 },
    late: true,
  });
  records = await stream.read();
  events = records.flatMap((r) => eventsOfRecord(r, SOURCE));
}, 600_000);
afterAll(async () => {
  stream?.close();
  await h?.close();
});

describe('integration events from the table stream', () => {
  it('publishes every change exactly once: no two stream records make the same event id', () => {
    const seen = new Map<string, number>();
    for (const id of events.map((e) => e.id)) seen.set(id, (seen.get(id) ?? 0) + 1);
    const twice = [...seen].filter(([, count]) => count > 1);
    expect(twice).toEqual([]);
    expect(events.length).toBeGreaterThan(ORDERS * 2);
  });

  it('publishes the same events per order with duplicates, bursts and late resends as without', () => {
    expect(duplicated.flatMap((r) => r.steps.flatMap((s) => s.deliveries)).length).toBeGreaterThan(
      clean.flatMap((r) => r.steps.flatMap((s) => s.deliveries)).length,
    );
    for (const [index, run] of clean.entries()) {
      const a = events.filter((e) => orderOf(e) === run.orderId);
      const b = events.filter((e) => orderOf(e) === duplicated[index]!.orderId);
      expect({ order: index, events: normalised(b) }).toEqual({ order: index, events: normalised(a) });
    }
  });

  it('covers the instance lifecycle: requested, active, renewed, frozen, unfrozen, upgraded, released', () => {
    const types = new Set(events.map((e) => e.type));
    for (const type of ['requested', 'active', 'renewed', 'frozen', 'unfrozen', 'upgraded', 'released'])
      expect([...types].some((t) => t.endsWith(`.${type}`) || t.endsWith(`.provisioning_${type}`)), type).toBe(true);
    // each instance starts with its request and has one at most
    for (const run of [...clean, ...duplicated].filter((r) => r.instanceId)) {
      const own = events.filter((e) => e.subject === `instance/${run.instanceId}`);
      expect(own[0]?.type, run.orderId).toBe('koogallery.instance.provisioning_requested');
      expect(own.filter((e) => e.type === 'koogallery.instance.provisioning_requested')).toHaveLength(1);
    }
  });

  it('gives a record delivered again the same event ids (at-least-once delivery, de-duplicated by id)', async () => {
    const delivered: string[] = [];
    const sink: EventSink = { publish: async (batch) => (delivered.push(...batch.map((e) => e.id)), { failedIds: [] }) };
    await relayRecords(records, sink, SOURCE);
    await relayRecords(records.slice(records.length >> 1), sink, SOURCE);
    const again = delivered.slice(events.length);
    expect(delivered.slice(0, events.length)).toEqual(events.map((e) => e.id));
    expect(again.length).toBeGreaterThan(0);
    expect(again.every((id) => events.some((e) => e.id === id))).toBe(true);
  });

  it('matches the published schema, and carries no secret or contact data', () => {
    for (const event of events) {
      const parsed = integrationEventSchema.safeParse(event);
      expect(parsed.success ? 'valid' : JSON.stringify(parsed.error.issues), event.id).toBe('valid');
    }
    const text = JSON.stringify(events);
    expect(text).not.toMatch(/password|Sealed|mobile|email/i);
  });

  it('publishes nothing for a resend that changes nothing', async () => {
    const run = clean.find((r) => r.instanceId && r.steps.some((s) => s.step.kind === 'renew'))!;
    const renewal = run.steps.find((s) => s.step.kind === 'renew')!.deliveries[0]!.body;
    const market = inProcessDelivery(handler);
    const { reply } = await market(renewal, { order: 0, step: 0, late: true, resend: 1, round: 0, copy: 0 });
    expect(reply?.resultCode).toBe('000000');
    const after = (await stream.read()).flatMap((r) => eventsOfRecord(r, SOURCE));
    expect(after).toEqual([]);
  });
});
