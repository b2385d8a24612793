/**
 * The joint-operation events under retries, from the real Kit routes and the table's real stream: every
 * sync call sent three times in a row and four times at once (fresh nonces, the same Kit timeStamp, as
 * the Kit resends), yet each tenant and user change is published once, each user of a call with its own
 * id, without name or contact data.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handler as authSync } from '#functions/authSync/handler';
import { handler as tenantSync } from '#functions/tenantSync/handler';
import { openTableStream, type TableStream } from '#infra/local/stream';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp } from '#shared/testing/kitCalls';
import { eventsOfRecord } from './publisher.ts';
import { integrationEventSchema } from './schema.ts';

let h: Harness;
let stream: TableStream;
beforeAll(async () => {
  h = await startHarness({}, { stream: true });
  stream = await openTableStream(h.table.endpoint, h.table.tableName, 'start');
});
afterAll(async () => {
  stream?.close();
  await h?.close();
});

/** a Kit call delivered three times in a row, then four copies at once: all must succeed */
async function resent(name: 'tenantSync' | 'authSync', body: Record<string, unknown>) {
  const handler = name === 'tenantSync' ? tenantSync : authSync;
  const send = () => invoke(handler as never, kitEvent(name, body));
  const answers = [await send(), await send(), await send(), ...(await Promise.all([send(), send(), send(), send()]))];
  for (const answer of answers) expect(answer.json.resultCode).toBe('000000');
}

it('publishes each Kit change once, however often the call arrives', async () => {
  const tenantId = `tenant-events-${Date.now()}`;
  const base = { instanceId: 'i-kit', tenantId, testFlag: 0 };
  await resent('tenantSync', { ...base, orderId: 'o-kit', tenantCode: `code${Date.now()}`, name: 'ACME', domainName: 'https://idp.example', flag: 1, timeStamp: kitStamp() });
  const user = (name: string, enable = 'true') => ({ userName: name, name: `Person ${name}`, orgCode: 'HQ', role: 'user', enable, mobile: '13800000000', email: `${name}@corp.example` });
  const users = { ...base, appId: 'app-1', currentSyncTime: kitStamp() };
  await resent('authSync', { ...users, userList: [user('alice'), user('bob'), user('carol')], flag: 1, timeStamp: kitStamp() });
  await resent('authSync', { ...users, userList: [user('alice', 'false')], flag: 2, timeStamp: kitStamp() });
  await resent('authSync', { ...users, userList: [{ userName: 'bob' }], flag: 0, timeStamp: kitStamp() });

  const events = (await stream.read()).flatMap((r) => eventsOfRecord(r, 'koogallery-merchant/test')).filter((e) => e.subject === `tenant/${tenantId}`);
  const summary = events.map((e) => {
    const data = e.data as { userName?: string; change: string };
    return `${e.type.replace('koogallery.', '')} ${data.userName ?? ''} ${data.change}`.replace(/ +/g, ' ');
  });
  // the stream orders the changes of one item, not those of different items: compare as a set, then per user
  expect([...summary].sort()).toEqual(
    ['tenant.changed created', 'user.changed alice created', 'user.changed bob created', 'user.changed carol created', 'user.changed alice updated', 'user.changed bob deleted'].sort(),
  );
  expect(summary.filter((line) => line.includes(' alice '))).toEqual(['user.changed alice created', 'user.changed alice updated']);
  expect(summary.filter((line) => line.includes(' bob '))).toEqual(['user.changed bob created', 'user.changed bob deleted']);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  for (const event of events) expect(integrationEventSchema.safeParse(event).success, event.id).toBe(true);
  expect(JSON.stringify(events)).not.toMatch(/Person|13800000000|corp\.example/);
}, 120_000);
