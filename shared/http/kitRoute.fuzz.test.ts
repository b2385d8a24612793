/**
 * Property: the Kit sync routes (V2 and V1, all five) answer any body, encoding or header with what the
 * marketplace expects — HTTP 200, JSON, `Body-Sign`, and `000000`, `000001` (not signed) or `000002`
 * (naming what is wrong) — never `000005`, a 5xx or an unhandled rejection, and a refused request writes
 * nothing. `npm test` runs ~250 requests here, `npm run soak` 2 500.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KitSyncName } from '#shared/domain/kit';
import { bodySignHeader } from '#shared/protocol/signature';
import { watchFuzzRun, type FuzzWatch } from '#shared/testing/fuzz';
import { invoke, startHarness, type Answer, type Harness } from '#shared/testing/harness';
import { KIT_KEY, kitEvent, kitStamp, merchantKeyPair, V1_KEY, type KitEventOptions } from '#shared/testing/kitCalls';
import { sized } from '#shared/testing/size';
import { handler as allOrgSync } from '../../functions/allOrgSync/handler.ts';
import { handler as applicationSync } from '../../functions/applicationSync/handler.ts';
import { handler as authSync } from '../../functions/authSync/handler.ts';
import { handler as singleOrgSync } from '../../functions/singleOrgSync/handler.ts';
import { handler as tenantSync } from '../../functions/tenantSync/handler.ts';

const RUNS = { unsigned: sized(30, 300), anyJson: sized(60, 600), mutated: sized(120, 1200), v1: sized(40, 400) };
const TOTAL = Object.values(RUNS).reduce((a, b) => a + b, 0);
const handlers: Record<KitSyncName, Parameters<typeof invoke>[0]> = { tenantSync, applicationSync, authSync, singleOrgSync, allOrgSync };
const NAMES = Object.keys(handlers) as KitSyncName[];
const keys = merchantKeyPair();

let h: Harness;
let watch: FuzzWatch;
let sent = 0;
beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey });
  watch = await watchFuzzRun();
});
afterEach(() => expect(watch.rejections).toEqual([]));
afterAll(async () => {
  watch.stop();
  await h.close();
  expect(sent).toBeGreaterThanOrEqual(TOTAL);
});

/** Sends one call; checks what every answer must be; returns it. */
async function send(name: KitSyncName, body: Record<string, unknown>, opts: KitEventOptions = {}): Promise<Answer> {
  sent++;
  watch.probe.reset();
  const answer = await invoke(handlers[name], kitEvent(name, body, opts));
  expect(answer.status).toBe(200);
  expect(['000000', '000001', '000002'], answer.raw).toContain(answer.json.resultCode);
  expect(answer.headers['Body-Sign']).toBe(bodySignHeader(opts.version === 'v1' ? V1_KEY : KIT_KEY, answer.raw));
  if (answer.json.resultCode !== '000000') {
    expect(answer.json.resultMsg.length, answer.raw).toBeGreaterThan(0);
    expect(watch.wrote(), `${answer.raw} wrote`).toBe(false);
  }
  return answer;
}

// ------------------------------------------------------------------ generators

const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/);
const user = fc.record({
  userName: id,
  name: fc.string({ maxLength: 10 }),
  orgCode: id,
  role: fc.constantFrom('admin', 'user'),
  enable: fc.constantFrom('true', 'false'),
  mobile: fc.option(fc.stringMatching(/^1[0-9]{10}$/), { nil: undefined }),
});
const valid: Record<KitSyncName, fc.Arbitrary<Record<string, unknown>>> = {
  tenantSync: fc.record({ instanceId: id, orderId: id, tenantId: id, tenantCode: id, name: id, domainName: fc.constant('https://idp.example.com'), flag: fc.constantFrom(0, 1, 2), testFlag: fc.constant(0) }),
  applicationSync: fc.record({ instanceId: id, tenantId: id, appId: id, clientId: id, clientSecret: fc.constant(keys.encrypt('secret')), flag: fc.constantFrom(0, 1, 2), testFlag: fc.constant(0) }),
  authSync: fc.record({ instanceId: id, tenantId: id, appId: id, userList: fc.uniqueArray(user, { maxLength: 5, selector: (u) => u.userName }), currentSyncTime: fc.constant('20261124120000000'), flag: fc.constantFrom(0, 1, 2, 3), testFlag: fc.constant(0) }),
  singleOrgSync: fc.record({ instanceId: id, tenantId: id, orgCode: id, orgName: id, parentCode: fc.option(id, { nil: undefined }), flag: fc.constantFrom(0, 1, 2), testFlag: fc.constant(0) }),
  allOrgSync: fc.record({ instanceId: id, tenantId: id, orgInfoList: fc.uniqueArray(fc.record({ orgCode: id, orgName: id }), { maxLength: 5, selector: (o) => o.orgCode }), testFlag: fc.constant(0) }),
};
const withStamp = (b: Record<string, unknown>) => ({ ...b, timeStamp: kitStamp() });

/** A hostile value for a field: wrong types, lengths, encodings, deep nesting. */
const hostile = fc.oneof(
  fc.constant(null),
  fc.constant(''),
  fc.constant('\ud800'),
  fc.constant('x'.repeat(5000)),
  fc.integer({ min: -5, max: 99 }),
  fc.double(),
  fc.boolean(),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.object({ maxDepth: 2 }),
  fc.string({ maxLength: 30 }),
  fc.constant('20261399250000000'),
  fc.constant({ toString: 'x' }),
);

// ------------------------------------------------------------------ properties

describe('Kit sync routes under hostile input', () => {
  it('unsigned or wrongly signed: 000001, nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...NAMES), fc.string({ maxLength: 200 }), fc.constantFrom<KitEventOptions>({ key: 'wrong' }, { signature: 'AB' }, { signature: '' }, { timestamp: '1' }, { version: 'v1', signature: `${'A'.repeat(43)}=` }), async (name, raw, opts) => {
          const answer = await send(name, {}, { ...opts, rawBody: raw });
          expect(answer.json.resultCode).toBe('000001');
        }),
      { numRuns: RUNS.unsigned },
    );
  });

  it('signed bodies that are any JSON value: 000002 unless they happen to be valid', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...NAMES), fc.jsonValue({ maxDepth: 4 }), async (name, value) => {
        await send(name, {}, { rawBody: JSON.stringify(value) ?? '' });
      }),
      { numRuns: RUNS.anyJson },
    );
  });

  it('signed valid bodies with one field dropped or made hostile: 000000 or 000002 naming a field', async () => {
    const mutated = fc.constantFrom(...NAMES).chain((name) =>
      fc.tuple(fc.constant(name), valid[name].map(withStamp), fc.constantFrom(...Object.keys({ ...valid[name], timeStamp: 1, flag: 1, tenantId: 1 })), fc.option(hostile, { nil: undefined })),
    );
    await fc.assert(
      fc.asyncProperty(mutated, async ([name, body, field, value]) => {
        const next: Record<string, unknown> = { ...body };
        if (value === undefined) delete next[field];
        else next[field] = value;
        const answer = await send(name, next);
        if (answer.json.resultCode === '000002') expect(answer.json.resultMsg).toMatch(/^[\w.[\]]+: |^request body|^userList|^orgInfoList|^clientSecret/);
      }),
      { numRuns: RUNS.mutated },
    );
  });

  it('V1 bodies (JSON text lists, flags 0/1): 000000 or 000002', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...NAMES), fc.jsonValue({ maxDepth: 2 }), async (name, extra) => {
        const body: Record<string, unknown> = { ...withStamp({ tenantId: 't-v1', instanceId: '', flag: 1, testFlag: 0 }), userList: JSON.stringify([]), orgInfo: typeof extra === 'string' ? extra : JSON.stringify(extra) };
        await send(name, body, { version: 'v1' });
      }),
      { numRuns: RUNS.v1 },
    );
  });
});
