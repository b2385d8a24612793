/**
 * newInstance answers, with the default budgets, whatever hangs behind it: the open API (its attempts
 * share the call's deadline) or the product's provisioner (000004, finished later). The bound checked
 * here is the Lambda timeout (6 s: past it API Gateway would answer 502); the 3 s figure itself is
 * measured by `npm run bench`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '#shared/domain/instance';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

vi.mock('#shared/product/provisioner', () => ({
  createProductProvisioner: () => ({ provision: () => new Promise<AppInfo>(() => undefined) }),
}));

let h: Harness;
beforeAll(async () => {
  // the real defaults: no budget overrides, a generous per-attempt open-API timeout
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '10000' });
});
afterAll(() => h.close());

async function timed(body: Record<string, unknown>) {
  const started = performance.now();
  const answer = await invoke(handler, signedEvent(body));
  return { answer, ms: performance.now() - started };
}

const LAMBDA_TIMEOUT_MS = 6000;

describe('newInstance under hanging dependencies', () => {
  it('answers 000005 when the open API never answers', async () => {
    const order = freshOrder();
    h.marketplace.registerOrder(order);
    h.marketplace.injectFaults({ count: 1, mode: 'timeout' });
    const { answer, ms } = await timed({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId });
    expect(answer.json.resultCode).toBe('000005');
    expect(ms).toBeLessThan(LAMBDA_TIMEOUT_MS);
  });

  it('answers 000004 when the provisioner never finishes', async () => {
    const order = freshOrder();
    h.marketplace.registerOrder(order);
    const { answer, ms } = await timed({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId });
    expect(answer.json.resultCode).toBe('000004');
    expect(ms).toBeLessThan(LAMBDA_TIMEOUT_MS);
    expect(ms).toBeGreaterThan(1000); // it did give the provisioner its budget before answering
  });
});
