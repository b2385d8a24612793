import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { departmentTree } from '#shared/domain/tenancy';
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';
import { startHarness, invoke, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp, liveDepartments } from '#shared/testing/kitCalls';
import { handler as single } from '../singleOrgSync/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

/** The DynamoDB write commands the runtime sends from now until stop(). */
async function watchWrites() {
  const seen: string[] = [];
  const name = `watch-${Math.random()}`;
  const { documentClient } = (await getRuntime()).services.store as Store;
  documentClient.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? '?';
      if (!/^(Get|Query|BatchGet)/.test(command)) seen.push(command);
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    stop() {
      documentClient.middlewareStack.remove(name);
      return seen;
    },
  };
}
afterAll(() => h.close());

let n = 0;
type Org = { orgCode: string; orgName: string; parentCode?: string };
const full = (orgInfoList: Org[], over: Record<string, unknown> = {}) => ({
  instanceId: 'huaiweitest123456',
  tenantId: `tenant-org-${++n}-${Date.now()}`,
  orgInfoList,
  testFlag: 0,
  timeStamp: kitStamp(),
  ...over,
});
const send = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(handler, kitEvent('allOrgSync', body, opts));
const sendSingle = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(single, kitEvent('singleOrgSync', body, opts));
const live = async (tenantId: string) => liveDepartments((await getRuntime()).kit.tenancy, tenantId);
const tree = async (tenantId: string) => departmentTree(await (await getRuntime()).kit.tenancy.departments(tenantId));

const A: Org[] = [
  { orgCode: 'hq', orgName: 'HQ' },
  { orgCode: 'dev', orgName: 'Development', parentCode: 'hq' },
  { orgCode: 'ops', orgName: 'Operations', parentCode: 'hq' },
  { orgCode: 'web', orgName: 'Web', parentCode: 'dev' },
];

describe('allOrgSync (spec 3.9.5): an authoritative snapshot', () => {
  it('stores the tree, then a different snapshot replaces it: new and moved upserted, missing marked deleted', async () => {
    const first = full(A);
    expect((await send(first)).json).toEqual({ resultCode: '000000', resultMsg: 'Success' });
    expect(await live(first.tenantId)).toEqual(['dev<hq:Development', 'hq<:HQ', 'ops<hq:Operations', 'web<dev:Web']);
    const B: Org[] = [
      { orgCode: 'hq', orgName: 'Head office' },
      { orgCode: 'web', orgName: 'Web', parentCode: 'hq' },
      { orgCode: 'sales', orgName: 'Sales', parentCode: 'hq' },
    ];
    expect((await send({ ...first, orgInfoList: B, timeStamp: kitStamp() })).json.resultCode).toBe('000000');
    expect(await live(first.tenantId)).toEqual(['hq<:Head office', 'sales<hq:Sales', 'web<hq:Web']);
    // the departments the new snapshot does not list are gone, whatever their state was
    const codes = (await (await getRuntime()).kit.tenancy.departments(first.tenantId)).map((d) => d.orgCode);
    expect(codes).not.toContain('dev');
    expect(codes).not.toContain('ops');
    expect((await tree(first.tenantId)).roots).toEqual([
      { orgCode: 'hq', orgName: 'Head office', children: [{ orgCode: 'sales', orgName: 'Sales', children: [] }, { orgCode: 'web', orgName: 'Web', children: [] }] },
    ]);
  });

  it('an older snapshot arriving late changes nothing; the same snapshot again changes nothing and succeeds', async () => {
    const older = full(A);
    const newer = { ...older, orgInfoList: [{ orgCode: 'solo', orgName: 'Solo' }], timeStamp: kitStamp() };
    await send(newer);
    expect((await send(older)).json.resultMsg).toBe('Success (already up to date)');
    expect(await live(older.tenantId)).toEqual(['solo<:Solo']);
    expect((await send(newer)).json.resultCode).toBe('000000');
    expect(await live(older.tenantId)).toEqual(['solo<:Solo']);
  });

  it('incremental calls older than the snapshot are ignored; newer ones apply on top of it', async () => {
    const body = full(A);
    const stale = { instanceId: '', tenantId: body.tenantId, orgCode: 'late', orgName: 'Late', parentCode: 'hq', flag: 1, testFlag: 0, timeStamp: kitStamp() };
    const snapshot = { ...body, timeStamp: kitStamp() };
    await send(snapshot);
    expect((await sendSingle(stale)).json.resultCode).toBe('000000');
    expect(await live(body.tenantId)).not.toContain('late<hq:Late');
    await sendSingle({ ...stale, timeStamp: kitStamp() });
    await sendSingle({ ...stale, orgCode: 'ops', flag: 0, timeStamp: kitStamp() });
    expect(await live(body.tenantId)).toEqual(['dev<hq:Development', 'hq<:HQ', 'late<hq:Late', 'web<dev:Web']);
  });

  it('refuses a list that is not a tree (duplicate, unknown parent, loop) with 000002 and writes nothing', async () => {
    const cases: [Org[], RegExp][] = [
      [[...A, { orgCode: 'dev', orgName: 'Again' }], /orgInfoList\[4\]\.orgCode: dev appears more than once/],
      [[...A, { orgCode: 'x', orgName: 'X', parentCode: 'nowhere' }], /orgInfoList\[4\]\.parentCode: nowhere is not in the list/],
      [[{ orgCode: 'a', orgName: 'A', parentCode: 'b' }, { orgCode: 'b', orgName: 'B', parentCode: 'a' }], /its own ancestor/],
    ];
    for (const [list, message] of cases) {
      const body = full(list);
      const answer = await send(body);
      expect(answer.json.resultCode).toBe('000002');
      expect(answer.json.resultMsg).toMatch(message);
      expect(await live(body.tenantId)).toEqual([]);
    }
  });

  it('V1 sends orgInfo as JSON text whose items say name', async () => {
    const body = full([]);
    const { orgInfoList: _list, ...rest } = body;
    const v1 = { ...rest, orgInfo: JSON.stringify(A.map(({ orgName, ...o }) => ({ ...o, name: orgName }))) };
    expect((await send(v1, { version: 'v1' })).json.resultCode).toBe('000000');
    expect(await live(body.tenantId)).toEqual(['dev<hq:Development', 'hq<:HQ', 'ops<hq:Operations', 'web<dev:Web']);
  });

  it('a full sync of 3 000 departments is stored whole, as one write', async () => {
    const list: Org[] = [{ orgCode: 'root', orgName: 'Root' }];
    for (let i = 1; i < 3000; i++) list.push({ orgCode: `d${i}`, orgName: `Dept ${i}`, parentCode: i < 50 ? 'root' : `d${i % 49 + 1}` });
    const body = full(list);
    const writes = await watchWrites();
    expect((await send(body)).json.resultCode).toBe('000000');
    expect(writes.stop()).toEqual(['TransactWriteItemsCommand']);
    expect((await live(body.tenantId)).length).toBe(3000);
  });

  it('a list that would not fit one transaction even compressed is refused with 000002, nothing stored', async () => {
    // 20 000 departments of random text: about 4 MB of base64 once gzipped, beyond a transaction's 4 MB
    const list: Org[] = Array.from({ length: 20_000 }, () => ({ orgCode: randomBytes(48).toString('base64url'), orgName: randomBytes(96).toString('base64url') }));
    const body = full(list);
    const answer = await send(body);
    expect(answer.json.resultCode).toBe('000002');
    expect(answer.json.resultMsg).toMatch(/^orgInfoList: too large to store \(the department list is \d+ KB compressed\)$/);
    expect(await live(body.tenantId)).toEqual([]);
  });

  it('a snapshot larger than one item is split into parts and read back whole', async () => {
    // random names do not compress: about 700 KB of base64, three records in one transaction
    const list: Org[] = Array.from({ length: 12_000 }, (_, i) => ({ orgCode: `c${i}`, orgName: randomBytes(24).toString('hex') }));
    const body = full(list);
    expect((await send(body)).json.resultCode).toBe('000000');
    const stored = await (await getRuntime()).kit.tenancy.departments(body.tenantId);
    expect(stored.length).toBe(12_000);
    expect(stored.find((d) => d.orgCode === 'c11999')?.orgName).toBe(list[11_999]!.orgName);
  });
});
