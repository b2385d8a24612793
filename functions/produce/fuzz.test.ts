/**
 * Property: whatever arrives at the production URL — random JSON, mutated valid bodies, odd query
 * strings, wrong encodings — the answer is HTTP 200 with a result code and a message, signed, and
 * never 000000 for a request that is not a valid call. (The full-size run belongs to the soak suite.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { logger } from '#shared/runtime';
import { ACCESS_KEY, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const activities = ['newInstance', 'queryInstance', 'refreshInstance', 'updateInstanceStatus', 'releaseInstance', 'upgradeInstance', 'changeInstanceCheck', 'orderNotify'];
const fieldNames = ['activity', 'instanceId', 'orderId', 'orderLineId', 'businessId', 'status', 'scene', 'expireTime', 'productInfo', 'testFlag'];

/** bodies that look like calls: known field names with values of any JSON type */
const callLike = fc.dictionary(fc.constantFrom(...fieldNames), fc.oneof(fc.jsonValue(), fc.constantFrom(...activities)), { maxKeys: 8 });

async function answerOf(event: ReturnType<typeof signedEvent>) {
  const answer = await invoke(handler, event);
  expect(answer.status).toBe(200);
  expect(answer.json.resultCode).toMatch(/^\d{6}$/);
  expect(typeof answer.json.resultMsg).toBe('string');
  expect(answer.headers['Body-Sign']).toBe(bodySignHeader(ACCESS_KEY, answer.raw));
  return answer.json;
}

describe('POST /produce under random input', () => {
  it('signed random call-like bodies get a well-formed answer, never a crash', async () => {
    const errors: unknown[] = [];
    vi.spyOn(logger, 'error').mockImplementation((...args: unknown[]) => void errors.push(args));
    await fc.assert(
      fc.asyncProperty(callLike, async (body) => {
        const json = await answerOf(signedEvent(body));
        expect(['000000', '000002', '000003', '000004', '000005']).toContain(json.resultCode);
      }),
      { numRuns: 150 },
    );
    // 000005 is only ever the marketplace not knowing a random order, never a bug of ours
    const unexpected = errors.map((e) => JSON.stringify(e)).filter((e) => !e.includes('OpenApiError'));
    expect(unexpected).toEqual([]);
  });

  it('signed arbitrary text and JSON of any shape is refused with 000002', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.array(fc.jsonValue()).map((a) => JSON.stringify(a))), async (raw) => {
        const isCall = (() => {
          try {
            const v = JSON.parse(raw);
            return typeof v === 'object' && v !== null && !Array.isArray(v) && activities.includes(v.activity);
          } catch {
            return false;
          }
        })();
        fc.pre(!isCall);
        expect((await answerOf(signedEvent({}, { rawBody: raw }))).resultCode).toBe('000002');
      }),
      { numRuns: 150 },
    );
  });

  it('unsigned or badly signed requests are refused with 000001 whatever the body', async () => {
    const query = fc.option(fc.dictionary(fc.constantFrom('signature', 'timestamp', 'nonce', 'x'), fc.string({ maxLength: 80 })), { nil: null });
    await fc.assert(
      fc.asyncProperty(fc.oneof(callLike.map((b) => JSON.stringify(b)), fc.string()), query, async (raw, q) => {
        expect((await answerOf(signedEvent({}, { rawBody: raw, query: q }))).resultCode).toBe('000001');
      }),
      { numRuns: 150 },
    );
  });
});
