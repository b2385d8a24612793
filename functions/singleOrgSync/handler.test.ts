import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { departmentTree } from '#shared/domain/tenancy';
import { getRuntime } from '#shared/runtime';
import { startHarness, invoke, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp, liveDepartments } from '#shared/testing/kitCalls';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const sendSingle = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(handler, kitEvent('singleOrgSync', body, opts));
const live = async (tenantId: string) => liveDepartments((await getRuntime()).kit.tenancy, tenantId);
const tree = async (tenantId: string) => departmentTree(await (await getRuntime()).kit.tenancy.departments(tenantId));

describe('singleOrgSync (spec 3.9.4)', () => {
  const inc = (tenantId: string, over: Record<string, unknown>) => ({ instanceId: '', tenantId, orgName: 'Name', flag: 1, testFlag: 0, timeStamp: kitStamp(), ...over });

  it('add, modify, delete; a child may come before its parent; deletes of unknown departments succeed', async () => {
    const tenantId = `tenant-inc-${Date.now()}`;
    await sendSingle(inc(tenantId, { orgCode: 'child', orgName: 'Child', parentCode: 'parent' }));
    expect((await tree(tenantId)).detached).toEqual(['child']);
    await sendSingle(inc(tenantId, { orgCode: 'parent', orgName: 'Parent' }));
    expect((await tree(tenantId)).detached).toEqual([]);
    await sendSingle(inc(tenantId, { orgCode: 'child', orgName: 'Renamed', parentCode: 'parent', flag: 2 }));
    expect(await live(tenantId)).toEqual(['child<parent:Renamed', 'parent<:Parent']);
    expect((await sendSingle(inc(tenantId, { orgCode: 'ghost', flag: 0, orgName: '' }))).json.resultCode).toBe('000000');
    await sendSingle(inc(tenantId, { orgCode: 'child', flag: 0 }));
    expect(await live(tenantId)).toEqual(['parent<:Parent']);
  });

  it('refuses a move that would make a department its own ancestor', async () => {
    const tenantId = `tenant-loop-${Date.now()}`;
    await sendSingle(inc(tenantId, { orgCode: 'a', orgName: 'A' }));
    await sendSingle(inc(tenantId, { orgCode: 'b', orgName: 'B', parentCode: 'a' }));
    await sendSingle(inc(tenantId, { orgCode: 'c', orgName: 'C', parentCode: 'b' }));
    const answer = await sendSingle(inc(tenantId, { orgCode: 'a', orgName: 'A', parentCode: 'c', flag: 2 }));
    expect(answer.json).toMatchObject({ resultCode: '000002', resultMsg: 'parentCode: c is below a; the move would make a loop' });
    expect((await sendSingle(inc(tenantId, { orgCode: 'a', orgName: 'A', parentCode: 'a', flag: 2 }))).json.resultCode).toBe('000002');
    expect(await live(tenantId)).toEqual(['a<:A', 'b<a:B', 'c<b:C']);
  });

  it('V1: the same call with authToken', async () => {
    const tenantId = `tenant-v1-${Date.now()}`;
    expect((await sendSingle(inc(tenantId, { orgCode: 'v1', orgName: 'V1 dept' }), { version: 'v1' })).json.resultCode).toBe('000000');
    expect(await live(tenantId)).toEqual(['v1<:V1 dept']);
  });

  it('refuses an add without a name', async () => {
    const answer = await sendSingle(inc(`t-${Date.now()}`, { orgCode: 'x', orgName: '' }));
    expect(answer.json).toMatchObject({ resultCode: '000002', resultMsg: 'orgName: must not be empty' });
  });
});
