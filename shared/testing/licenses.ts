/**
 * License 2.0 codes for the tests: a code the local marketplace issued and the product activated through
 * `POST /internal/licenses/{code}/activate` (the real route), so the callbacks know it.
 */
import { randomUUID } from 'node:crypto';
import { formatMarketTime } from '../protocol/time.ts';
import { internalEvent } from './apiEvents.ts';
import { invoke, type Harness } from './harness.ts';

const DAY = 86_400_000;

export async function activatedCode(h: Harness, licensesRoute: Parameters<typeof invoke>[0], prefix = 'PLT'): Promise<string> {
  const code = `${prefix}${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
  h.marketplace.registerLicense({ code, status: 'UNACTIVATED', expireTime: formatMarketTime(new Date(Date.now() + 365 * DAY)), productId: 'P1', orderId: 'CSL1', amount: 1 });
  const answer = await invoke(licensesRoute, internalEvent({ method: 'POST', resource: '/internal/licenses/{code}/activate', pathParameters: { code } }));
  if (answer.status !== 200) throw new Error(`activating ${code} answered ${answer.status}: ${answer.raw}`);
  return code;
}
