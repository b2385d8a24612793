/**
 * getLicenseAsync (spec 3.12) end to end: signed calls through the function, the local marketplace's upload API
 * (spec 6.4), the licenseDelivery job with a moved clock, DynamoDB Local.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '#shared/domain/call';
import { retryDelayMs, MAX_DELIVERY_ATTEMPTS } from '#shared/domain/onlineLicense';
import { createEd25519LicenseSigner, deviceHash, verifyLicense } from '#shared/provisioning/ed25519LicenseSigner';
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';
import { captureAlerts, freshOrder, invoke, runJob, signedEvent, startHarness, type Harness, type JobCounts } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler as licenseDelivery } from '../licenseDelivery/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
let svc: Services;
let publicKey: ReturnType<typeof createPublicKey>;

beforeAll(async () => {
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '2000' });
  const runtime = await getRuntime();
  svc = runtime.services;
  publicKey = createPublicKey(runtime.secrets.licenseSigningKey!);
});
afterAll(() => h.close());

const FP_A = '00:1A:2B:3C:4D:5E|WD-A|BOARD-A|CPU-A';
const FP_B = '00:1A:2B:3C:4D:5F|WD-B|BOARD-B|CPU-B';
const FP_C = '00:1A:2B:3C:4D:60|WD-C|BOARD-C|CPU-C';
const nonce = () => randomBytes(32).toString('hex').toUpperCase();

/** A new online-License instance (yearly, until 2027-11-24T23:59:59Z) with `linearValue` devices. */
async function instance(over: Parameters<typeof freshOrder>[0] = {}): Promise<string> {
  const order = freshOrder(over);
  h.marketplace.registerOrder(order);
  const businessId = randomUUID();
  const answer = await invoke(newInstance, signedEvent({ activity: 'newInstance', businessId, orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId }));
  expect(answer.json.resultCode).toBe('000000');
  return answer.json.instanceId!;
}

const body = (instanceId: string, over: Record<string, unknown> = {}) => ({
  activity: 'getLicenseAsync',
  instanceId,
  effectiveTime: '2026-01-01 00:00:00 z',
  expireTime: '2026-12-31 23:59:59 z',
  eventId: `ev-${randomUUID()}`,
  deviceFingerprint: FP_A,
  ...over,
});
const ask = async (b: Record<string, unknown>, n = nonce()) => (await invoke(handler, signedEvent(b, { nonce: n }))).json;
const uploadsOf = (eventId: string) => h.marketplace.uploads().filter((u) => u.eventId === eventId);
const job = (at: Date) => runJob<JobCounts & { delivered: number; gaveUp: number }>(licenseDelivery, at);

describe('getLicenseAsync', () => {
  it('answers its sample event (after the sample newInstance) and serves only its own activity', async () => {
    expect((await invoke(newInstance, sampleEvent('newInstance'))).json.resultCode).toBe('000000');
    const sample = await invoke(handler, sampleEvent('getLicenseAsync'));
    expect(sample.status).toBe(200);
    expect(sample.json.resultCode, sample.json.resultMsg).toBe('000004');
    expect(uploadsOf('sample-license-event-0001')).toHaveLength(1);
    expect((await invoke(handler, sampleEvent('queryInstance'))).json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity queryInstance' });
  });

  it('answers 000004, delivers the License once, then answers 000000 to every resend and never generates again', async () => {
    const id = await instance();
    const b = body(id);
    expect(await ask(b)).toMatchObject({ resultCode: '000004' });
    // delivered within the call (time allowed)
    expect(uploadsOf(b.eventId)).toHaveLength(1);
    for (let i = 0; i < 3; i++) expect((await ask(b)).resultCode).toBe('000000');
    await job(new Date(Date.now() + 3_600_000));
    expect(uploadsOf(b.eventId)).toHaveLength(1);

    const [upload] = uploadsOf(b.eventId);
    expect(upload!.type).toBe('CHARACTERS');
    const payload = verifyLicense(publicKey, upload!.characters!);
    expect(payload).toMatchObject({
      instanceId: id,
      eventId: b.eventId,
      device: deviceHash(FP_A),
      effectiveTime: '2026-01-01T00:00:00.000Z',
      expireTime: '2026-12-31T23:59:59.000Z',
      skuCode: 'sku-basic',
    });
    expect(verifyLicense(generateKeyPairSync('ed25519').publicKey, upload!.characters!)).toBeUndefined();
    const record = await svc.onlineLicenses.getLicense(b.eventId);
    expect(record).toMatchObject({ state: 'DELIVERED', license: { characters: upload!.characters }, attempts: 1 });
  });

  it('8 concurrent copies of one request claim one License and upload it once', async () => {
    const id = await instance({ linearValue: 1 });
    const b = body(id);
    const answers = await Promise.all(Array.from({ length: 8 }, () => ask(b)));
    for (const a of answers) expect(['000004', '000000'], a.resultMsg).toContain(a.resultCode);
    expect(answers.filter((a) => a.resultCode === '000004').length).toBeGreaterThanOrEqual(1);
    expect(uploadsOf(b.eventId)).toHaveLength(1);
    expect((await ask(b)).resultCode).toBe('000000');
    // one device counted: the quota of 1 is used by this device only (the same device may ask again)
    expect((await svc.onlineLicenses.getQuota(id, deviceHash(FP_A))).devices).toBe(1);
    expect((await ask(body(id, { deviceFingerprint: FP_B }))).resultCode).toBe('000900');
    // again for the device it already knows (no quota counter written: the License record alone decides)
    const again = body(id);
    const copies = await Promise.all(Array.from({ length: 8 }, () => ask(again)));
    for (const a of copies) expect(['000004', '000000'], a.resultMsg).toContain(a.resultCode);
    expect(uploadsOf(again.eventId)).toHaveLength(1);
    expect((await svc.onlineLicenses.getQuota(id, deviceHash(FP_A))).devices).toBe(1);
  });

  it('a resend while the License is being generated answers 000004; once delivered 000000', async () => {
    const original = svc.licenseSigner;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let signed = 0;
    svc.licenseSigner = { sign: async (request) => (signed++, await gate, original.sign(request)) };
    try {
      const b = body(await instance());
      const first = ask(b);
      while (signed === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      expect((await ask(b)).resultCode).toBe('000004');
      release();
      expect((await first).resultCode).toBe('000004');
      expect((await ask(b)).resultCode).toBe('000000');
      expect(uploadsOf(b.eventId)).toHaveLength(1);
      expect(signed).toBe(1);
    } finally {
      svc.licenseSigner = original;
    }
  });

  it('an upload failure: 000004 again mid-generation, retried by the job with a moved clock, delivered exactly once, then 000000', async () => {
    const id = await instance();
    const b = body(id);
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    expect((await ask(b)).resultCode).toBe('000004');
    expect(uploadsOf(b.eventId)).toHaveLength(0);
    expect((await ask(b)).resultCode).toBe('000004');
    const pending = await svc.onlineLicenses.getLicense(b.eventId);
    expect(pending).toMatchObject({ state: 'PENDING', attempts: 1, license: expect.anything() });

    // not yet due: the job leaves it
    await job(new Date(Date.parse(pending!.requestedAt) + 10_000));
    expect(await svc.onlineLicenses.getLicense(b.eventId)).toMatchObject({ state: 'PENDING', attempts: 1, version: pending!.version });
    expect(uploadsOf(b.eventId)).toHaveLength(0);
    const later = new Date(Date.parse(pending!.requestedAt) + retryDelayMs(1) + 1000);
    const [first, second] = await Promise.all([job(later), job(later)]);
    expect(first.delivered + second.delivered).toBe(1);
    expect(uploadsOf(b.eventId)).toHaveLength(1);
    expect(uploadsOf(b.eventId)[0]!.characters).toBe(pending!.license && 'characters' in pending!.license ? pending!.license.characters : '');
    expect((await ask(b)).resultCode).toBe('000000');
    await job(new Date(later.getTime() + 3_600_000));
    expect(uploadsOf(b.eventId)).toHaveLength(1);
  });

  it('gives up after the bound with an operator alert; a resend arms it again', async () => {
    const alerts = await captureAlerts();
    const id = await instance();
    const b = body(id);
    h.marketplace.injectFaults({ count: 1000, mode: 'business' });
    expect((await ask(b)).resultCode).toBe('000004');
    let at = Date.now();
    for (let i = 1; i < MAX_DELIVERY_ATTEMPTS; i++) {
      at += 2 * 3_600_000;
      await job(new Date(at));
    }
    expect(await svc.onlineLicenses.getLicense(b.eventId)).toMatchObject({ state: 'FAILED', attempts: MAX_DELIVERY_ATTEMPTS });
    expect(alerts.filter((a) => a.kind === 'online-license-undelivered' && a.subject.eventId === b.eventId)).toHaveLength(1);
    h.marketplace.injectFaults({ count: 0, mode: 'error' });
    expect((await ask(b)).resultCode).toBe('000004');
    expect((await job(new Date(at + 3_600_000))).delivered).toBe(1);
    expect(uploadsOf(b.eventId)).toHaveLength(1);
    expect((await ask(b)).resultCode).toBe('000000');
  });

  it('result codes 000900-000903, 000003 and 000002', async () => {
    const id = await instance({ linearValue: 2 });
    // 000903: no fingerprint (the default signer requires one for every product)
    expect((await ask(body(id, { deviceFingerprint: undefined }))).resultCode).toBe('000903');
    expect((await ask(body(id, { deviceFingerprint: '  ' }))).resultCode).toBe('000903');
    // 000902: yearly instance without expireTime
    expect((await ask(body(id, { expireTime: undefined }))).resultCode).toBe('000902');
    // 000901: outside the instance's validity (until 2027-11-24T23:59:59Z)
    expect((await ask(body(id, { expireTime: '2027-11-25 00:00:00 z' }))).resultCode).toBe('000901');
    expect((await ask(body(id, { effectiveTime: '20271201000000', expireTime: '20281201000000' }))).resultCode).toBe('000901');
    expect((await ask(body(id, { expireTime: '2027-11-24 23:59:59 z' }))).resultCode).toBe('000004');
    // 000900: two devices (linearValue 2); the same device again is no new device
    expect((await ask(body(id, { deviceFingerprint: FP_B }))).resultCode).toBe('000004');
    expect((await ask(body(id, { deviceFingerprint: FP_C }))).resultCode).toBe('000900');
    expect((await ask(body(id, { deviceFingerprint: FP_A }))).resultCode).toBe('000004');
    // 000003
    expect((await ask(body(randomUUID()))).resultCode).toBe('000003');
    // 000002: bad times, expiry before start, an eventId reused for another device
    expect((await ask(body(id, { effectiveTime: '27/10/2023 10:30' }))).resultCode).toBe('000002');
    expect((await ask(body(id, { effectiveTime: '2023-02-30 10:30:15 z' }))).resultCode).toBe('000002');
    expect((await ask(body(id, { effectiveTime: '2026-06-01 00:00:00 z', expireTime: '2026-05-01 00:00:00 z' }))).resultCode).toBe('000002');
    expect((await ask(body(id, { eventId: undefined }))).resultCode).toBe('000002');
    const b = body(id);
    expect((await ask(b)).resultCode).toBe('000004');
    expect((await ask({ ...b, deviceFingerprint: FP_B })).resultCode).toBe('000002');
  });

  it('the example time form "2023-10-27 10:30:15 z" and compact forms are accepted', async () => {
    const id = await instance();
    const b = body(id, { effectiveTime: '2023-10-27 10:30:15 z', expireTime: '20241027103015' });
    expect((await ask(b)).resultCode).toBe('000004');
    const [upload] = uploadsOf(b.eventId);
    expect(verifyLicense(publicKey, upload!.characters!)).toMatchObject({ effectiveTime: '2023-10-27T10:30:15.000Z', expireTime: '2024-10-27T10:30:15.000Z' });
  });

  it('a product whose signer does not require a fingerprint gets one License per event without it', async () => {
    const original = svc.licenseSigner;
    svc.licenseSigner = createEd25519LicenseSigner({ privateKey: (await getRuntime()).secrets.licenseSigningKey!, requiresFingerprint: () => false });
    try {
      const id = await instance({ linearValue: 1 });
      const b = body(id, { deviceFingerprint: undefined });
      expect((await ask(b)).resultCode).toBe('000004');
      expect(verifyLicense(publicKey, uploadsOf(b.eventId)[0]!.characters!)).not.toHaveProperty('device');
      expect((await ask(b)).resultCode).toBe('000000');
      // every event without a fingerprint is a device of its own: the quota of 1 is used
      expect((await ask(body(id, { deviceFingerprint: undefined }))).resultCode).toBe('000900');
    } finally {
      svc.licenseSigner = original;
    }
  });

  it('a License longer than 1024 characters is uploaded as a file', async () => {
    const original = svc.licenseSigner;
    svc.licenseSigner = { sign: async () => ({ characters: 'L'.repeat(2000) }) };
    try {
      const b = body(await instance());
      expect((await ask(b)).resultCode).toBe('000004');
      const [upload] = uploadsOf(b.eventId);
      expect(upload).toMatchObject({ type: 'FILE' });
      expect(upload!.file!.toString()).toBe('L'.repeat(2000));
    } finally {
      svc.licenseSigner = original;
    }
  });

  it('nothing is half-written when DynamoDB fails the claim: 000005, and the same request (same nonce) succeeds after', async () => {
    const id = await instance({ linearValue: 1 });
    const client = (svc.store as Store).documentClient;
    let fail = 1;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if ((context as { commandName?: string }).commandName === 'TransactWriteItemsCommand' && fail-- > 0) throw new Error('injected DynamoDB failure');
        return next(args);
      },
      { step: 'initialize', name: 'fail-one-transaction', override: true },
    );
    try {
      const b = body(id);
      const n = nonce();
      expect((await ask(b, n)).resultCode).toBe('000005');
      expect(await svc.onlineLicenses.getLicense(b.eventId)).toBeUndefined();
      expect(await svc.onlineLicenses.getQuota(id, deviceHash(FP_A))).toEqual({ devices: 0, version: 0, known: false });
      expect(uploadsOf(b.eventId)).toHaveLength(0);
      // the nonce was not spent either
      expect((await ask(b, n)).resultCode).toBe('000004');
      expect(uploadsOf(b.eventId)).toHaveLength(1);
    } finally {
      client.middlewareStack.remove('fail-one-transaction');
    }
  });
});
