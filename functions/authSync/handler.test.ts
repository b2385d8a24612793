import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { getRuntime } from '#shared/runtime';
import { startHarness, invoke, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp } from '#shared/testing/kitCalls';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

let n = 0;
const user = (i: number, over: Record<string, unknown> = {}) => ({
  userName: `user${i}`,
  name: `User ${i}`,
  orgCode: 'org-1',
  role: i === 0 ? 'admin' : 'user',
  enable: 'true',
  mobile: `1380000${String(i).padStart(4, '0')}`,
  email: `user${i}@corp.example`,
  employeeType: 1,
  ...over,
});
const call = (users: Record<string, unknown>[], over: Record<string, unknown> = {}) => ({
  instanceId: 'huaiweitest123456',
  tenantId: `tenant-auth-${++n}-${Date.now()}`,
  appId: 'app-1',
  userList: users,
  currentSyncTime: '20261124120000000',
  flag: 1,
  testFlag: 0,
  timeStamp: kitStamp(),
  ...over,
});
const send = (body: Record<string, unknown>, opts: Parameters<typeof kitEvent>[2] = {}) => invoke(handler, kitEvent('authSync', body, opts));
const userOf = async (body: { tenantId: unknown; appId: unknown }, userName: string) =>
  (await getRuntime()).kit.tenancy.user(body.tenantId as string, body.appId as string, userName);

describe('authSync (spec 3.9.3)', () => {
  it('adds 500 users in one call, with role, enabled flag and sealed contact data', async () => {
    const body = call(Array.from({ length: 500 }, (_, i) => user(i)));
    const answer = await send(body);
    expect(answer.json).toEqual({ resultCode: '000000', resultMsg: 'Success' });
    const { tenancy } = (await getRuntime()).kit;
    expect(await tenancy.userCounts(body.tenantId, body.appId)).toEqual({ active: 500, disabled: 0, revoked: 0, deleted: 0 });
    expect(await userOf(body, 'user0')).toMatchObject({ role: 'admin', enabled: true, mobile: '13800000000', email: 'user0@corp.example', employeeType: 1, status: 'active' });
    expect(await userOf(body, 'user499')).toMatchObject({ role: 'user', name: 'User 499' });
    const { Items = [] } = await h.table.documentClient.send(
      new QueryCommand({ TableName: h.table.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `TENANT#${body.tenantId}#USERS#app-1#0` } }),
    );
    expect(Items.length).toBeGreaterThan(20); // spread over the shards
    expect(JSON.stringify(Items)).not.toMatch(/1380000|corp\.example/);
  });

  it('modify (disable), revoke, delete and add again, each flag doing what it says', async () => {
    const body = call([user(1), user(2), user(3)]);
    await send(body);
    await send({ ...body, flag: 2, userList: [user(1, { enable: 'false', role: 'admin' })], timeStamp: kitStamp() });
    expect(await userOf(body, 'user1')).toMatchObject({ enabled: false, role: 'admin', status: 'active' });
    await send({ ...body, flag: 3, userList: [{ userName: 'user2' }], timeStamp: kitStamp() });
    expect(await userOf(body, 'user2')).toMatchObject({ status: 'revoked' });
    await send({ ...body, flag: 0, userList: [{ userName: 'user3' }], timeStamp: kitStamp() });
    expect(await userOf(body, 'user3')).toMatchObject({ status: 'deleted' });
    const { tenancy } = (await getRuntime()).kit;
    expect(await tenancy.userCounts(body.tenantId, body.appId)).toEqual({ active: 0, disabled: 1, revoked: 1, deleted: 1 });
    await send({ ...body, flag: 1, userList: [user(3)], timeStamp: kitStamp() });
    expect(await userOf(body, 'user3')).toMatchObject({ status: 'active', enabled: true });
  });

  it('duplicates change nothing and succeed; deletes of unknown users succeed; reordered calls keep the newest', async () => {
    const body = call([user(1), user(2)]);
    await send(body);
    expect((await send(body)).json.resultMsg).toBe('Success (already up to date)');
    const del = { ...body, flag: 0, userList: [{ userName: 'nobody' }], timeStamp: kitStamp() };
    expect((await send(del)).json.resultCode).toBe('000000');
    expect((await send(del)).json.resultCode).toBe('000000');
    // a disable stamped later arrives first; the earlier re-enable arrives late and is ignored
    const enableAgain = { ...body, flag: 2, userList: [user(1, { enable: 'true', name: 'early' })], timeStamp: kitStamp() };
    const disable = { ...body, flag: 2, userList: [user(1, { enable: 'false', name: 'late' })], timeStamp: kitStamp() };
    await send(disable);
    await send(enableAgain);
    expect(await userOf(body, 'user1')).toMatchObject({ enabled: false, name: 'late' });
    // a batch where some users are newer in store and others not: only the older ones move
    const mixed = { ...body, flag: 2, userList: [user(1, { name: 'mixed' }), user(2, { name: 'mixed' })], timeStamp: enableAgain.timeStamp };
    await send(mixed);
    expect(await userOf(body, 'user1')).toMatchObject({ name: 'late' });
    expect(await userOf(body, 'user2')).toMatchObject({ name: 'mixed' });
  });

  it('V1 sends userList as JSON text', async () => {
    const body = call([user(1)]);
    const v1 = { ...body, userList: JSON.stringify(body.userList) };
    expect((await send(v1, { version: 'v1' })).json.resultCode).toBe('000000');
    expect(await userOf(body, 'user1')).toMatchObject({ status: 'active', enabled: true });
    expect((await send({ ...v1, userList: '[{"userName":', timeStamp: kitStamp() }, { version: 'v1' })).json).toMatchObject({
      resultCode: '000002',
      resultMsg: 'userList: must be JSON text',
    });
  });

  it('refuses with 000002: 501 users, a user twice, an add without role or enable, a bad flag', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [call(Array.from({ length: 501 }, (_, i) => user(i))), /^userList: must hold at most 500 users/],
      [call([user(1), user(2), user(1)]), /^userList\[2\]\.userName: user1 also at userList\[0\]/],
      [call([user(1, { role: undefined })]), /^userList\.0\.role: is required to add or modify a user/],
      [call([user(1, { enable: 'yes' })]), /^userList\.0\.enable: /],
      [call([user(1)], { flag: 4 }), /^flag: must be one of 0, 1, 2, 3/],
    ];
    for (const [body, message] of cases) {
      const answer = await send(body);
      expect(answer.json.resultCode).toBe('000002');
      expect(answer.json.resultMsg).toMatch(message);
      expect(await userOf(body as { tenantId: string; appId: string }, 'user1')).toBeUndefined();
    }
  });

  it('eight copies of one call racing each other leave exactly the same users', async () => {
    const body = call(Array.from({ length: 150 }, (_, i) => user(i)));
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(body)));
    expect(answers.map((a) => a.json.resultCode)).toEqual(Array(8).fill('000000'));
    const { tenancy } = (await getRuntime()).kit;
    expect(await tenancy.userCounts(body.tenantId, body.appId)).toEqual({ active: 150, disabled: 0, revoked: 0, deleted: 0 });
  });
});
