import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSealer } from '#shared/crypto/sealer';
import type { Instance } from '#shared/domain/instance';
import { createTestTable } from '../testing/table.ts';
import { NonceReplayError, type CallReceipt } from '#shared/domain/repository';
import { Store } from './store.ts';

let store: Store;
let raw: Awaited<ReturnType<typeof createTestTable>>;
const sealer = createSealer(['test data key']);

beforeAll(async () => {
  raw = await createTestTable();
  store = new Store({ documentClient: raw.documentClient, tableName: raw.tableName, sealer });
});

const now = new Date('2026-11-24T10:00:00Z');
const receipt = (over: Partial<CallReceipt> = {}): CallReceipt => ({
  nonce: randomUUID(),
  receivedAt: now,
  activity: 'newInstance',
  resultCode: '000000',
  resultMsg: 'success',
  testFlag: false,
  ...over,
});
const instance = (over: Partial<Instance> = {}): Instance => ({
  instanceId: randomUUID(),
  orderId: `CS${randomUUID().slice(0, 8)}`,
  orderLineId: 'L-000001',
  status: 'ACTIVE',
  testFlag: false,
  chargingMode: 'PERIOD',
  trial: false,
  product: { skuCode: 'sku', linearValue: 5 },
  buyer: { customerId: 'c1', mobilePhone: '18688888888', email: 'buyer@example.com' },
  appInfo: { frontEndUrl: 'https://app.example.com', userName: 'admin', password: 'S3cret!x' },
 
  appliedOps: [],
  provisioningAttempts: 1,
  createdAt: now.toISOString(),
  updatedAt: now.toISOString(),
  version: 1,
  ...over,
});

describe('Store', () => {
  it('creates an instance with its order line, audit record and nonce in one transaction', async () => {
    const inst = instance();
    expect(await store.createInstance(inst, receipt({ instanceId: inst.instanceId }))).toEqual({ created: true });
    expect(await store.getInstance(inst.instanceId)).toEqual(inst);
    expect(await store.findInstanceIdByOrderLine(inst.orderId, inst.orderLineId)).toBe(inst.instanceId);
    const history = await store.history(inst.instanceId);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ activity: 'newInstance', resultCode: '000000' });
  });

  it('seals the password and buyer contact at rest', async () => {
    const inst = instance();
    await store.createInstance(inst, receipt());
    const { Item } = await raw.documentClient.send(
      new GetCommand({ TableName: raw.tableName, Key: { pk: `INSTANCE#${inst.instanceId}`, sk: 'INSTANCE' } }),
    );
    const text = JSON.stringify(Item);
    expect(text).not.toContain('S3cret!x');
    expect(text).not.toContain('18688888888');
    expect(text).not.toContain('buyer@example.com');
    expect(Item?.appInfo?.passwordSealed).toMatch(/^v1\./);
  });

  it('a second instance for the same order line loses and learns the owner; nothing of it is written', async () => {
    const first = instance();
    const second = instance({ orderId: first.orderId, orderLineId: first.orderLineId });
    await store.createInstance(first, receipt());
    expect(await store.createInstance(second, receipt())).toEqual({ created: false, instanceId: first.instanceId });
    expect(await store.getInstance(second.instanceId)).toBeUndefined();
  });

  it('exactly one of many concurrent creates for one order line wins', async () => {
    const base = instance();
    const copies = Array.from({ length: 8 }, () => instance({ orderId: base.orderId, orderLineId: base.orderLineId }));
    const results = await Promise.all(copies.map((c) => store.createInstance(c, receipt())));
    const winners = results.filter((r) => r.created);
    expect(winners).toHaveLength(1);
    const owner = await store.findInstanceIdByOrderLine(base.orderId, base.orderLineId);
    for (const r of results) if (!r.created) expect(r.instanceId).toBe(owner);
    const existing = await store.getInstances(copies.map((c) => c.instanceId));
    expect([...existing.keys()]).toEqual([owner]);
  });

  it('a replayed nonce writes nothing at all', async () => {
    const shared = receipt();
    await store.recordCall(shared);
    const inst = instance();
    await expect(store.createInstance(inst, { ...shared, instanceId: inst.instanceId })).rejects.toThrow(NonceReplayError);
    expect(await store.getInstance(inst.instanceId)).toBeUndefined();
    expect(await store.findInstanceIdByOrderLine(inst.orderId, inst.orderLineId)).toBeUndefined();
  });

  it('saves only over the version it read (optimistic concurrency)', async () => {
    const inst = instance();
    await store.createInstance(inst, receipt());
    expect(await store.saveInstance({ ...inst, status: 'FROZEN' }, 1, receipt({ activity: 'updateInstanceStatus' }))).toMatchObject({ status: 'FROZEN', version: 2 });
    expect(await store.saveInstance({ ...inst, status: 'RELEASED' }, 1, receipt({ activity: 'releaseInstance' }))).toBeUndefined();
    const stored = await store.getInstance(inst.instanceId);
    expect(stored).toMatchObject({ status: 'FROZEN', version: 2 });
  });

  it('reads up to 100 instances in one batch and skips unknown ids', async () => {
    const many = Array.from({ length: 30 }, () => instance());
    for (const m of many) await store.createInstance(m, receipt());
    const ids = [...many.map((m) => m.instanceId), 'never-seen'];
    const found = await store.getInstances(ids);
    expect(found.size).toBe(30);
    expect(found.get(many[7]!.instanceId)?.appInfo?.password).toBe('S3cret!x');
  });

  it('finds due provisioning through the byDue index', async () => {
    const due = instance({ status: 'PROVISIONING', provisioningDueAt: '2026-11-24T09:59:00.000Z', appInfo: undefined });
    const later = instance({ status: 'PROVISIONING', provisioningDueAt: '2026-11-24T11:00:00.000Z', appInfo: undefined });
    const active = instance({ provisioningDueAt: '2026-11-24T09:00:00.000Z' });
    for (const i of [due, later, active]) await store.createInstance(i, receipt());
    const ids = await store.dueProvisioning(now);
    expect(ids).toContain(due.instanceId);
    expect(ids).not.toContain(later.instanceId);
    expect(ids).not.toContain(active.instanceId);
  });

  it('still finds provisioning written by the first version (unsharded PROVISION timer, retry time only in dueAt)', async () => {
    const legacy = instance({ status: 'PROVISIONING', appInfo: undefined });
    await store.createInstance(legacy, receipt());
    const key = { pk: `INSTANCE#${legacy.instanceId}`, sk: 'INSTANCE' };
    const { Item } = await raw.documentClient.send(new GetCommand({ TableName: raw.tableName, Key: key }));
    const { provisioningDueAt: _dropped, ...old } = Item!;
    await raw.documentClient.send(new PutCommand({ TableName: raw.tableName, Item: { ...old, timer: 'PROVISION', dueAt: '2026-11-24T09:30:00.000Z' } }));
    expect(await store.dueProvisioning(now)).toContain(legacy.instanceId);
    expect((await store.getInstance(legacy.instanceId))?.provisioningDueAt).toBe('2026-11-24T09:30:00.000Z');
  });

  it('puts each instance timer in one of 8 shards of its kind, derived from its state', async () => {
    const expiring = instance({ expireTime: '2027-01-01T00:00:00.000Z' });
    await store.createInstance(expiring, receipt());
    const { Item } = await raw.documentClient.send(new GetCommand({ TableName: raw.tableName, Key: { pk: `INSTANCE#${expiring.instanceId}`, sk: 'INSTANCE' } }));
    expect(Item).toMatchObject({ timer: expect.stringMatching(/^EXPIRY#[0-7]$/), dueAt: '2027-01-01T02:00:00.000Z' });
    const work = await store.dueWork('EXPIRY', new Date('2027-01-01T02:00:00.000Z'));
    expect(work.items).toContainEqual(expect.objectContaining({ instanceId: expiring.instanceId, sk: 'INSTANCE' }));
    expect(work.read).toBe(work.items.length);
  });

  it('backfills the timers of instances written by the first version (one scan, conditional rewrites)', async () => {
    const old = instance({ expireTime: '2027-03-01T00:00:00.000Z' });
    await store.createInstance(old, receipt());
    const key = { pk: `INSTANCE#${old.instanceId}`, sk: 'INSTANCE' };
    const { Item } = await raw.documentClient.send(new GetCommand({ TableName: raw.tableName, Key: key }));
    const { timer: _timer, dueAt: _dueAt, ...withoutTimer } = Item!;
    await raw.documentClient.send(new PutCommand({ TableName: raw.tableName, Item: withoutTimer }));
    expect((await store.dueWork('EXPIRY', new Date('2027-03-01T03:00:00.000Z'))).items.map((i) => i.instanceId)).not.toContain(old.instanceId);
    const progress = await store.backfillInstanceTimers();
    expect(progress.rewritten).toBe(progress.scanned);
    expect(progress.scanned).toBeGreaterThan(1);
    expect((await store.dueWork('EXPIRY', new Date('2027-03-01T03:00:00.000Z'))).items.map((i) => i.instanceId)).toContain(old.instanceId);
  });

  it('records an order notice once', async () => {
    const notice = { orderId: 'CSN1', orderLineId: 'CSN1-000001', testFlag: false, order: { orderId: 'CSN1' }, buyer: { email: 'a@b.c' }, notifiedAt: now.toISOString() };
    expect(await store.recordOrderNotice(notice, receipt({ activity: 'orderNotify' }))).toBe('recorded');
    expect(await store.recordOrderNotice(notice, receipt({ activity: 'orderNotify' }))).toBe('duplicate');
    expect((await store.getOrderNotice('CSN1', 'CSN1-000001'))?.buyer).toEqual({ email: 'a@b.c' });
  });
});
