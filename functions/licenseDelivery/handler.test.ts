/**
 * licenseDelivery: finds due online-License deliveries on the byDue index only (never a scan), as of the scheduled
 * event's time, and delivers each once. (getLicenseAsync/handler.test.ts covers retries, give-up and answers.)
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';
import { freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler as getLicenseAsync } from '../getLicenseAsync/handler.ts';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
const commands: Array<{ name: string; index?: string }> = [];

beforeAll(async () => {
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '2000' });
  ((await getRuntime()).services.store as Store).documentClient.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push({ name: String((context as { commandName?: string }).commandName), index: (args.input as { IndexName?: string }).IndexName });
      return next(args);
    },
    { step: 'initialize', name: 'license-delivery-commands', override: true },
  );
});
afterAll(() => h.close());

type Counts = JobCounts & { delivered: number; retried: number; gaveUp: number };

describe('licenseDelivery', () => {
  it('runs its sample event and reports its counts', async () => {
    const counts = await handler(sampleEvent('licenseDelivery') as never, { getRemainingTimeInMillis: () => 60_000 } as never);
    expect(counts).toMatchObject({ job: 'licenseDelivery', failed: 0, due: expect.any(Number) });
  });

  it('delivers due Licenses found on the byDue index, once, as of the event time', async () => {
    const order = freshOrder();
    h.marketplace.registerOrder(order);
    const created = await invoke(newInstance, signedEvent({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
    const instanceId = created.json.instanceId!;
    const eventIds = [`ev-${randomUUID()}`, `ev-${randomUUID()}`];
    // both inline deliveries fail: they are left to the job
    h.marketplace.injectFaults({ count: 2, mode: 'timeout' });
    for (const [i, eventId] of eventIds.entries()) {
      const answer = await invoke(
        getLicenseAsync,
        signedEvent({ activity: 'getLicenseAsync', instanceId, eventId, effectiveTime: '20260101000000', expireTime: '20261231000000', deviceFingerprint: `device-${i}` }),
      );
      expect(answer.json.resultCode).toBe('000004');
    }
    expect(h.marketplace.uploads().filter((u) => eventIds.includes(u.eventId))).toHaveLength(0);

    commands.length = 0;
    const counts = await runJob<Counts>(handler, new Date(Date.now() + 10 * 60_000));
    expect(counts.delivered).toBeGreaterThanOrEqual(2);
    expect(counts.failed).toBe(0);
    for (const eventId of eventIds) expect(h.marketplace.uploads().filter((u) => u.eventId === eventId)).toHaveLength(1);
    expect(commands.some((c) => c.name === 'ScanCommand')).toBe(false);
    expect(commands.filter((c) => c.name === 'QueryCommand').every((c) => c.index === 'byDue')).toBe(true);

    const again = await runJob<Counts>(handler, new Date(Date.now() + 20 * 60_000));
    expect(again.delivered).toBe(0);
    for (const eventId of eventIds) expect(h.marketplace.uploads().filter((u) => u.eventId === eventId)).toHaveLength(1);
  });
});
