/**
 * Property: the product's usage routes (`POST /internal/usage`, `POST /internal/instances/{instanceId}/package`)
 * answer any body, path, encoding, header or query string with what they document — 200 (with one result
 * per record: recorded / duplicate / refused with a reason), or a JSON problem `{"error": "…"}` with 400
 * (bad path or body, naming the field), 404 (unknown instance) or 409 (not a package, not active) — never
 * a 5xx or an unhandled rejection; a refused request writes nothing, and records refused before any
 * deduction (unknown, unmetered instance) write nothing either. `npm test` ~150 requests, `npm run soak` 1 500.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendInternal, watchFuzzRun, type FuzzWatch } from '#shared/testing/fuzz';
import { freshOrder, invoke, signedEvent, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { sized } from '#shared/testing/size';
import { handler as produce } from '../produce/handler.ts';
import { handler } from './handler.ts';

const RUNS = { badBody: sized(30, 300), badSchema: sized(50, 500), badPath: sized(15, 150), unmetered: sized(25, 250), metered: sized(30, 300) };
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0);

let h: Harness;
let watch: FuzzWatch;
const ids = { pack: '', onDemand: '', yearly: '' };
let sent = 0;

async function instance(over: Parameters<typeof freshOrder>[0]) {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  const create = () => invoke(produce, signedEvent({ activity: 'newInstance', businessId: randomUUID(), orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
  // set-up only: on a loaded machine the local open API may miss its 500 ms once (000005); the call is resent
  let answer = await create();
  for (let retry = 0; retry < 3 && answer.json.resultCode === '000005'; retry++) answer = await create();
  expect(answer.json.resultCode, answer.json.resultMsg).toBe('000000');
  return answer.json.instanceId!;
}

beforeAll(async () => {
  h = await startHarness({ PRODUCT_CATALOGUE: JSON.stringify([{ skuCode: 'sku-pack', kind: 'package', package: { quota: 1_000_000, threshold: { percent: 20 } } }]) });
  ids.pack = await instance({ chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' });
  ids.onDemand = await instance({ chargingMode: 'ON_DEMAND' });
  ids.yearly = await instance({});
  watch = await watchFuzzRun();
});
afterEach(() => expect(watch.rejections).toEqual([]));
afterAll(async () => {
  watch.stop();
  await h.close();
  expect(sent).toBeGreaterThanOrEqual(TOTAL);
});


const USAGE = '/internal/usage';
const PACKAGE = '/internal/instances/{instanceId}/package';

interface Call {
  resource: typeof USAGE | typeof PACKAGE;
  pathParameters?: Record<string, string> | null;
  body: string | null;
  isBase64Encoded?: boolean;
  headers?: Record<string, string>;
  query?: Record<string, string> | null;
}

/** Sends one request; every answer: below 500, JSON, a message when refused, and no write when refused. */
async function send(c: Call): Promise<Answer> {
  sent++;
  return sendInternal(watch, handler, { method: 'POST', resource: c.resource, pathParameters: c.pathParameters, query: c.query, headers: c.headers, body: c.body, isBase64Encoded: c.isBase64Encoded });
}

const refused = async (c: Call, status: 400 | 404 | 409) => {
  const answer = await send(c);
  expect(answer.status, answer.raw).toBe(status);
  return answer;
};

// ------------------------------------------------------------------ generators

const key = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9:._#-]{0,100}$/));
const amount = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 99_999_999 }).map((n) => n / 10_000));
const recentInstant = fc.integer({ min: 0, max: 19 * 86_400_000 }).map((ms) => new Date(Date.now() - ms).toISOString());
const record = (instanceIds: fc.Arbitrary<string>) =>
  fc.record({ key, instanceId: instanceIds, amount, at: fc.option(recentInstant, { nil: undefined }) }).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
const unknownId = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9-]{1,64}$/));
const validUsage = (instanceIds: fc.Arbitrary<string>) => fc.array(record(instanceIds), { minLength: 1, maxLength: 8 }).map((records) => ({ records }));
const validSettings = fc
  .record({ threshold: fc.oneof(fc.record({ percent: fc.integer({ min: 0, max: 100 }) }), fc.record({ amount: fc.integer({ min: 0, max: 2_000_000 }) })), autoRebuy: fc.boolean() }, { requiredKeys: [] });

const DEEP = '['.repeat(10_000) + ']'.repeat(10_000);
const wrongType = fc.oneof(fc.constant(null), fc.boolean(), fc.constant([]), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }), fc.constant('RAW:deep'));
const asJson = (value: unknown) => JSON.stringify(value, (_, v) => (v === 'RAW:deep' ? '@@DEEP@@' : v)).replace('"@@DEEP@@"', DEEP);

/** A valid usage body made schema-invalid by exactly one mutation of one record; `field` is what the 400 names. */
const brokenUsage = validUsage(unknownId).chain(({ records }) =>
  fc.integer({ min: 0, max: records.length - 1 }).chain((i) => {
    const at = (change: Record<string, unknown>, field: string) => ({ raw: asJson({ records: records.map((r, j) => (j === i ? { ...r, ...change } : r)) }), field });
    const without = (f: string) => ({ raw: JSON.stringify({ records: records.map((r, j) => (j === i ? Object.fromEntries(Object.entries(r).filter(([k]) => k !== f)) : r)) }), field: f });
    return fc.oneof(
      fc.constantFrom('key', 'instanceId', 'amount').map(without),
      fc.tuple(fc.constantFrom('key', 'instanceId', 'amount', 'at'), wrongType).map(([f, v]) => at({ [f]: v }, f)),
      fc.constantFrom('key', 'instanceId').map((f) => at({ [f]: '  ' }, f)),
      fc.tuple(fc.constantFrom<[string, number]>(['key', 128], ['instanceId', 64]), fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constant(1 << 20))).map(([[f, max], extra]) => at({ [f]: 'k'.repeat(max + extra) }, f)),
      fc.constantFrom(0, -1, -0.5, 100_000_000, 1.23456, 0.00001, 1e300).map((v) => at({ amount: v }, 'amount')),
      fc.constantFrom('12', '1e3', 'one').map((v) => at({ amount: v }, 'amount')),
      fc.constantFrom('yesterday', '2026-11-24', '2026-11-24T10:15:00', '2026-13-01T00:00:00Z', '').map((v) => at({ at: v }, 'at')),
      fc.stringMatching(/^[a-z]{1,10}$/).filter((k) => !['key', 'instanceid', 'amount', 'at'].includes(k.toLowerCase())).map((k) => at({ [k]: 1 }, k)),
    );
  }),
);
const brokenEnvelope = fc.oneof(
  fc.constant({ raw: '{}', field: 'records' }),
  fc.constant({ raw: '{"records":[]}', field: 'records' }),
  fc.constant({ raw: JSON.stringify({ records: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, instanceId: 'x', amount: 1 })) }), field: 'records' }),
  wrongType.map((v) => ({ raw: asJson({ records: v }), field: 'records' })),
  fc.constantFrom('extra', 'instanceId', 'Records').map((k) => ({ raw: JSON.stringify({ records: [{ key: 'k', instanceId: 'x', amount: 1 }], [k]: 1 }), field: k })),
  fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => ({ raw: JSON.stringify(v), field: 'body' })),
  fc.constant({ raw: DEEP, field: 'body' }),
);
const brokenSettings = fc.oneof(
  fc.constantFrom({ percent: 101 }, { percent: -1 }, { amount: -5 }, { percent: '20' }, { percent: 20, amount: 5 }, {}, { ratio: 0.2 }, null, 20, [20]).map((threshold) => ({ raw: JSON.stringify({ threshold }), field: 'threshold' })),
  fc.constantFrom('yes', 1, null, 'true').map((autoRebuy) => ({ raw: JSON.stringify({ autoRebuy }), field: 'autoRebuy' })),
  fc.stringMatching(/^[a-z]{1,10}$/).filter((k) => !['threshold', 'autorebuy'].includes(k.toLowerCase())).map((k) => ({ raw: JSON.stringify({ [k]: true }), field: k })),
  fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => ({ raw: JSON.stringify(v), field: 'body' })),
  fc.constant({ raw: `{"threshold":${DEEP}}`, field: 'threshold' }),
);

const notJson = fc.oneof(
  fc.string({ maxLength: 100 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } }).map((body) => ({ body, isBase64Encoded: false })),
  fc.constant({ body: '\uFEFF{"records":[{"key":"k","instanceId":"x","amount":1}]}', isBase64Encoded: false }),
  fc.constant({ body: Buffer.from('{"records":[]}').toString('base64'), isBase64Encoded: false }),
  fc.constant({ body: '{"records":[{"key":"k","instanceId":"x","amount":1}]}}', isBase64Encoded: true }),
  fc.constant({ body: null, isBase64Encoded: false }),
  fc.constant({ body: '{"records":[{"key":"k","instanceId":"x","amount":1}', isBase64Encoded: false }),
);
const headers = fc.tuple(fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', ''), fc.dictionary(fc.stringMatching(/^X-[A-Za-z]{1,10}$/), fc.string({ maxLength: 40 }), { maxKeys: 2 }))
  .map(([type, extra]) => ({ ...extra, 'Content-Type': type }));
const query = fc.option(fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }), { nil: null });
const encoded = (raw: string, base64: boolean) => ({ body: base64 ? Buffer.from(raw).toString('base64') : raw, isBase64Encoded: base64 });
const packageRoute = (instanceId: string): Pick<Call, 'resource' | 'pathParameters'> => ({ resource: PACKAGE, pathParameters: { instanceId } });

// ------------------------------------------------------------------ properties

describe('usage routes under random input', () => {
  it('bodies that are not JSON answer 400 "body must be JSON" on both routes', async () => {
    const route = fc.constantFrom<Pick<Call, 'resource' | 'pathParameters'>>({ resource: USAGE }, { resource: PACKAGE, pathParameters: { instanceId: 'x' } });
    await fc.assert(
      fc.asyncProperty(route, notJson, headers, query, async (r, b, hs, q) => {
        const { json } = await refused({ ...r, ...b, headers: hs, query: q }, 400);
        expect(json.error).toBe('body must be JSON');
      }),
      { numRuns: RUNS.badBody },
    );
  });

  it('JSON that breaks the schema by one mutation (missing, retyped, blank, too long, 1 MB, 10 000 levels, bad amount or time, unknown field, 0 or 101 records) answers 400 naming the field', async () => {
    const input = fc.oneof(
      fc.oneof(brokenUsage, brokenEnvelope).map((b) => ({ route: { resource: USAGE } as Pick<Call, 'resource' | 'pathParameters'>, ...b })),
      brokenSettings.map((b) => ({ route: packageRoute(ids.pack), ...b })),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), headers, async ({ route, raw, field }, base64, hs) => {
        const { json } = await refused({ ...route, ...encoded(raw, base64), headers: hs }, 400);
        expect(json.error).toContain(field);
      }),
      { numRuns: RUNS.badSchema },
    );
  });

  it('a missing, blank or over-long instanceId in the package path answers 400', async () => {
    const badId = fc.oneof(fc.constant(undefined), fc.constantFrom('', ' ', '\n'), fc.stringMatching(/^[a-z0-9]{65,300}$/));
    await fc.assert(
      fc.asyncProperty(badId, validSettings, async (instanceId, settings) => {
        const { json } = await refused({ resource: PACKAGE, pathParameters: instanceId === undefined ? null : { instanceId }, body: JSON.stringify(settings) }, 400);
        expect(json.error).toBe('instanceId must be 1 to 64 characters');
      }),
      { numRuns: RUNS.badPath },
    );
  });

  it('valid requests for unknown or unmetered instances are refused (records "refused" with a reason, 404, 409) and write nothing', async () => {
    const input = fc.oneof(
      validUsage(fc.oneof(unknownId, fc.constant(ids.yearly))).map((body) => ({ route: { resource: USAGE } as Pick<Call, 'resource' | 'pathParameters'>, body, expected: 200 })),
      fc.tuple(unknownId, validSettings).map(([id, body]) => ({ route: packageRoute(id), body, expected: 404 })),
      fc.tuple(fc.constantFrom(ids.yearly, ids.onDemand), validSettings).map(([id, body]) => ({ route: packageRoute(id), body, expected: 409 })),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), headers, query, async ({ route, body, expected }, base64, hs, q) => {
        const answer = await send({ ...route, ...encoded(JSON.stringify(body), base64), headers: hs, query: q });
        expect(answer.status, answer.raw).toBe(expected);
        if (expected === 200) {
          const records = (body as { records: Array<{ key: string; instanceId: string }> }).records;
          expect(answer.json.results).toHaveLength(records.length);
          for (const [i, result] of (answer.json.results as Array<Record<string, unknown>>).entries()) {
            expect(result).toMatchObject({ key: records[i]!.key.trim(), outcome: 'refused' });
            expect(result.reason).toBe(records[i]!.instanceId === ids.yearly ? 'instance is not metered (charging mode PERIOD)' : 'instance not found');
          }
          expect(watch.wrote(), 'refused records wrote').toBe(false);
        }
      }),
      { numRuns: RUNS.unmetered },
    );
  });

  it('valid requests for metered instances answer 200 with one result per record (recorded, duplicate or refused with a reason)', async () => {
    const metered = () => fc.constantFrom(ids.pack, ids.onDemand);
    const input = fc.oneof(
      validUsage(fc.oneof(metered(), unknownId)).map((body) => ({ route: { resource: USAGE } as Pick<Call, 'resource' | 'pathParameters'>, body })),
      validSettings.map((body) => ({ route: packageRoute(ids.pack), body })),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), headers, async ({ route, body }, base64, hs) => {
        const answer = await send({ ...route, ...encoded(JSON.stringify(body), base64), headers: hs });
        expect(answer.status, answer.raw).toBe(200);
        if (route.resource === USAGE) {
          const records = (body as { records: unknown[] }).records;
          expect(answer.json.results).toHaveLength(records.length);
          for (const result of answer.json.results as Array<Record<string, unknown>>) {
            expect(['recorded', 'duplicate', 'refused']).toContain(result.outcome);
            if (result.outcome === 'refused') expect(typeof result.reason).toBe('string');
          }
        } else expect(answer.json).toMatchObject({ instanceId: ids.pack });
      }),
      { numRuns: RUNS.metered },
    );
  });
});
