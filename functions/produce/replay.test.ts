/**
 * Replay and time (issue 4): a nonce that was accepted is refused every time after (also when its
 * operation would be legal again, also after a burst of copies), a timestamp outside ±60 s is refused
 * every time, and a legitimate resend with a fresh nonce answers as the first call did. Every refusal
 * is 000001 and commits nothing: a replay reaches DynamoDB only as the transaction that carries its
 * nonce, and DynamoDB cancels it (counted below: write requests that succeeded). produce.test.ts covers one replayed FREEZE and ±61 s on
 * one activity; this file runs the same claims over every activity, random offsets and concurrent copies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';
import { freshOrder, invoke, signedEvent, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { sized } from '#shared/testing/size';
import { handler } from './handler.ts';

let h: Harness;
/** write requests DynamoDB accepted (a cancelled transaction, how a replay is refused, is not one) */
let committed = 0;
const COMMITTED = 'replay-test-committed-writes';
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => void rejections.push(reason);

beforeAll(async () => {
  // the local open API gets the production timeout: eight copies at once on a loaded machine must not miss it
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '2000' });
  const client = ((await getRuntime()).services.store as Store).documentClient;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (WRITES.includes(String((context as { commandName?: string }).commandName))) committed++;
      return result;
    },
    { step: 'initialize', name: COMMITTED, override: true },
  );
  process.on('unhandledRejection', onRejection);
});
afterEach(() => expect(rejections).toEqual([]));
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  ((await getRuntime()).services.store as Store).documentClient.middlewareStack.remove(COMMITTED);
  await h.close();
});

const WRITES = ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'TransactWriteItemsCommand', 'BatchWriteItemCommand'];
const store = async () => (await getRuntime()).services.store;
const nonce = () => randomBytes(32).toString('hex').toUpperCase();
const call = (body: Record<string, unknown>, opts?: Parameters<typeof signedEvent>[1]) => invoke(handler, signedEvent(body, opts));

/** Sends a request that must be refused with 000001 and must commit nothing (no change, no audit record). */
async function refusedAuth(event: ReturnType<typeof signedEvent>, message?: string): Promise<Answer> {
  const before = committed;
  const answer = await invoke(handler, event);
  expect(answer.status).toBe(200);
  expect(answer.json.resultCode, answer.json.resultMsg).toBe('000001');
  if (message) expect(answer.json.resultMsg).toBe(message);
  expect(committed - before, 'a refused request wrote').toBe(0);
  return answer;
}

async function newOrder(over?: Parameters<typeof freshOrder>[0]) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
}
async function activeInstance() {
  const answer = await call({ activity: 'newInstance', businessId: randomUUID(), ...(await newOrder()) });
  expect(answer.json.resultCode, answer.json.resultMsg).toBe('000000');
  return answer.json.instanceId!;
}
const versionOf = async (instanceId?: string) => (instanceId ? (await (await store()).getInstance(instanceId))?.version : undefined);

/**
 * One legitimate call of each activity, set up so that its first answer is known; `again` is a call on
 * the same subject that makes the replayed operation meaningful again (a replay must still be refused).
 */
interface Scenario {
  activity: string;
  body: Record<string, unknown>;
  first: string;
  instanceId?: string;
  again?: Record<string, unknown>;
}
const SCENARIOS: Record<string, () => Promise<Scenario>> = {
  newInstance: async () => ({ activity: 'newInstance', body: { activity: 'newInstance', businessId: randomUUID(), ...(await newOrder()) }, first: '000000' }),
  queryInstance: async () => {
    const instanceId = await activeInstance();
    return { activity: 'queryInstance', body: { activity: 'queryInstance', instanceId }, first: '000000', instanceId };
  },
  'queryInstance (unknown id)': async () => ({ activity: 'queryInstance', body: { activity: 'queryInstance', instanceId: randomUUID() }, first: '000003' }),
  updateInstanceStatus: async () => {
    const instanceId = await activeInstance();
    return {
      activity: 'updateInstanceStatus',
      body: { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' },
      first: '000000',
      instanceId,
      again: { activity: 'updateInstanceStatus', instanceId, status: 'UNFREEZE' },
    };
  },
  refreshInstance: async () => {
    const instanceId = await activeInstance();
    const renewal = `CSR${randomUUID().slice(0, 8)}`;
    return {
      activity: 'refreshInstance',
      body: { activity: 'refreshInstance', instanceId, orderId: renewal, orderLineId: `${renewal}-000001`, scene: 'RENEWAL', expireTime: '20301124235959' },
      first: '000000',
      instanceId,
      again: { activity: 'refreshInstance', instanceId, orderId: renewal, orderLineId: `${renewal}-000001`, scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: '20291124235959' },
    };
  },
  releaseInstance: async () => {
    const instanceId = await activeInstance();
    return { activity: 'releaseInstance', body: { activity: 'releaseInstance', instanceId }, first: '000000', instanceId };
  },
  upgradeInstance: async () => {
    const instanceId = await activeInstance();
    return { activity: 'upgradeInstance', body: { activity: 'upgradeInstance', instanceId, ...(await newOrder({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 })) }, first: '000000', instanceId };
  },
  changeInstanceCheck: async () => {
    const instanceId = await activeInstance();
    return { activity: 'changeInstanceCheck', body: { activity: 'changeInstanceCheck', instanceId, productInfo: { skuCode: 'sku-small', linearValue: 2 } }, first: '000000', instanceId };
  },
  orderNotify: async () => ({ activity: 'orderNotify', body: { activity: 'orderNotify', ...(await newOrder()), testFlag: '0' }, first: '000000' }),
};
const scenario = fc.constantFrom(...Object.keys(SCENARIOS));

describe('replayed nonces', () => {
  it('an accepted request replayed (1–3 times, also after its operation became legal again) is refused with 000001 and writes nothing; a resend with a fresh nonce answers as the first', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.integer({ min: -45_000, max: 59_000 }), fc.boolean(), async (name, replays, interleave, skew, seconds) => {
        const s = await SCENARIOS[name]!();
        const at = Date.now() + skew;
        const event = signedEvent(s.body, { timestamp: String(seconds ? Math.floor(at / 1000) : at) });
        const first = await invoke(handler, event);
        expect(first.json.resultCode, `${name}: ${first.json.resultMsg}`).toBe(s.first);
        if (interleave && s.again) expect((await call(s.again)).json.resultCode).toBe('000000');
        const version = await versionOf(s.instanceId ?? first.json.instanceId);
        for (let i = 0; i < replays; i++) await refusedAuth(event, 'nonce already used');
        expect(await versionOf(s.instanceId ?? first.json.instanceId)).toBe(version);
        // the marketplace's own resend: same body, fresh nonce and timestamp
        const resend = await call(s.body);
        if (!interleave || !s.again) {
          expect(resend.json.resultCode, `${name} resend: ${resend.json.resultMsg}`).toBe(first.json.resultCode);
          expect(resend.json.instanceId).toBe(first.json.instanceId);
        } else expect(resend.json.resultCode).toBe('000000');
      }),
      { numRuns: sized(18, 150) },
    );
  });

  it('a nonce accepted once is refused for any other body, activity or key order signed with it', async () => {
    const instanceId = await activeInstance();
    const used = nonce();
    const before = committed;
    expect((await call({ activity: 'queryInstance', instanceId }, { nonce: used })).json.resultCode).toBe('000000');
    // the counter sees writes (an accepted call commits its nonce and audit record): the checks below can fail
    expect(committed).toBeGreaterThan(before);
    await refusedAuth(signedEvent({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' }, { nonce: used }), 'nonce already used');
    await refusedAuth(signedEvent({ activity: 'newInstance', businessId: randomUUID(), ...(await newOrder()) }, { nonce: used }), 'nonce already used');
    await refusedAuth(signedEvent({}, { nonce: used, rawBody: `{ "instanceId": "${instanceId}", "activity": "queryInstance" }` }), 'nonce already used');
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');
  });

  it('eight concurrent copies of one signed request: exactly one is accepted, seven are refused, the change is made once; later replays are refused too', async () => {
    for (const name of ['updateInstanceStatus', 'refreshInstance', 'queryInstance', 'newInstance', 'orderNotify', 'releaseInstance']) {
      const s = await SCENARIOS[name]!();
      const event = signedEvent(s.body);
      const before = await versionOf(s.instanceId);
      const answers = await Promise.all(Array.from({ length: 8 }, () => invoke(handler, structuredClone(event))));
      const accepted = answers.filter((a) => a.json.resultCode === s.first);
      const summary = `${name}: ${answers.map((a) => `${a.json.resultCode} ${a.json.resultMsg}`).join(' | ')}`;
      expect(accepted, summary).toHaveLength(1);
      // the others are refused as replays; a copy that could not even read the order (open API timeout
      // under load) answers 000005 before reaching its nonce, having written nothing
      for (const other of answers.filter((a) => a !== accepted[0]))
        expect([`000001 nonce already used`, '000005 marketplace open API unavailable; please retry'], summary).toContain(`${other.json.resultCode} ${other.json.resultMsg}`);
      const instanceId = s.instanceId ?? accepted[0]!.json.instanceId;
      if (instanceId && s.instanceId && name !== 'queryInstance') expect(await versionOf(instanceId), name).toBe(before! + 1);
      if (instanceId) {
        const history = await (await store()).history(instanceId);
        expect(history.filter((c) => c.activity === s.activity && c.resultCode !== '000001'), name).toHaveLength(1);
      }
      await refusedAuth(event, 'nonce already used');
    }
  });
});

describe('timestamps', () => {
  it('±59 s is accepted, ±61 s is refused, in milliseconds and in seconds', async () => {
    for (const offset of [-59_000, 59_000]) {
      for (const seconds of [false, true]) {
        const at = Date.now() + offset;
        const answer = await call({ activity: 'queryInstance', instanceId: randomUUID() }, { timestamp: String(seconds ? Math.floor(at / 1000) : at) });
        expect(answer.json.resultCode, `${offset} ${seconds ? 's' : 'ms'}: ${answer.json.resultMsg}`).toBe('000003');
      }
    }
    const instanceId = await activeInstance();
    for (const offset of [-61_000, 61_000])
      for (const seconds of [false, true]) {
        const at = Date.now() + offset;
        await refusedAuth(signedEvent({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' }, { timestamp: String(seconds ? Math.floor(at / 1000) : at) }), 'timestamp outside the 60 s window');
      }
    expect((await (await store()).getInstance(instanceId))?.status).toBe('ACTIVE');
  });

  it('a timestamp more than 60 s away (up to 10 years, either way, either unit) is refused every time it is sent, whatever the activity, and writes nothing', async () => {
    const offset = fc.integer({ min: 61_000, max: 10 * 365 * 86_400_000 }).chain((ms) => fc.constantFrom(ms, -ms));
    await fc.assert(
      fc.asyncProperty(scenario, offset, fc.boolean(), fc.integer({ min: 1, max: 3 }), async (name, ms, seconds, times) => {
        const s = await SCENARIOS[name]!();
        const version = await versionOf(s.instanceId);
        const at = Date.now() + ms;
        const event = signedEvent(s.body, { timestamp: String(seconds ? Math.floor(at / 1000) : at) });
        for (let i = 0; i < times; i++) await refusedAuth(event, 'timestamp outside the 60 s window');
        expect(await versionOf(s.instanceId)).toBe(version);
        // the refused request burned nothing: the same call with a good timestamp goes through
        expect((await call(s.body)).json.resultCode).toBe(s.first);
      }),
      { numRuns: sized(12, 100) },
    );
  });
});
