import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { activatedCode } from '#shared/testing/licenses';
import { sampleEvent } from '#shared/testing/samples';
import { handler as licenses } from '../licenses/handler.ts';
import { handler as updateStatus } from '../updateLicenseCodeStatus/handler.ts';
import { handler } from './handler.ts';

const DAY = 86_400_000;
let h: Harness;
beforeAll(async () => {
  // a slow shared machine must not turn a marketplace answer into a timeout (the default is 500 ms)
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '3000' });
});
afterAll(() => h.close());

const activated = () => activatedCode(h, licenses as never, 'PLT');
const stored = async (code: string) => (await getRuntime()).services.licenses.getLicense(code);
const at = (ms: number) => formatMarketTime(new Date(Date.now() + ms));
const refresh = (license: string, over: Record<string, unknown> = {}) => ({
  activity: 'refreshLicenseCode',
  scene: 'RENEWAL',
  orderId: `CSR${randomUUID().slice(0, 8)}`,
  orderLineId: 'line-1',
  license,
  expireTime: at(400 * DAY),
  ...over,
});
const send = (body: unknown, nonce?: string) => invoke(handler as never, signedEvent(body, nonce ? { nonce } : {}));

describe('refreshLicenseCode function', () => {
  it('answers its sample once the sample code is activated (the licenses sample), and only its own activity', async () => {
    expect((await invoke(licenses as never, sampleEvent('licenses'))).status).toBe(200);
    expect((await invoke(handler as never, sampleEvent('refreshLicenseCode'))).json.resultCode).toBe('000000');
    expect((await stored('PLMOCKUNACTIVATED01'))?.expireTime).toBe('2099-12-31T23:59:59.000Z');
    const other = await invoke(handler as never, sampleEvent('updateLicenseCodeStatus'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity updateLicenseCodeStatus' });
  });

  it('renews: the new expiry is stored (known), the productId too', async () => {
    const code = await activated();
    const body = refresh(code, { productId: 'P2' });
    expect((await send(body)).json).toEqual({ resultCode: '000000', resultMsg: 'success.' });
    const after = await stored(code);
    expect(after).toMatchObject({ expireTime: new Date(Date.parse(`${body.expireTime.slice(0, 4)}-${body.expireTime.slice(4, 6)}-${body.expireTime.slice(6, 8)}T${body.expireTime.slice(8, 10)}:${body.expireTime.slice(10, 12)}:${body.expireTime.slice(12, 14)}Z`)).toISOString(), expireSource: 'refresh', productId: 'P2', state: 'ACTIVE' });
  });

  it('a duplicate (same call again) and a resend with a new nonce change nothing more', async () => {
    const code = await activated();
    const body = refresh(code);
    expect((await send(body)).json.resultCode).toBe('000000');
    const v = (await stored(code))!.version;
    const again = await send(body);
    expect(again.json).toEqual({ resultCode: '000000', resultMsg: 'success. (already applied)' });
    expect((await send(body)).json.resultCode).toBe('000000');
    expect((await stored(code))!.version).toBe(v);
  });

  it('a replayed nonce is refused (000001) and changes nothing', async () => {
    const code = await activated();
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    expect((await send(refresh(code), nonce)).json.resultCode).toBe('000000');
    const before = await stored(code);
    expect((await send(refresh(code, { expireTime: at(900 * DAY) }), nonce)).json.resultCode).toBe('000001');
    expect(await stored(code)).toEqual(before);
  });

  it('out of order: a late older renewal does not move the expiry back; an unsubscription shortens it, a late one does not', async () => {
    const code = await activated();
    const older = refresh(code, { expireTime: at(400 * DAY) });
    const newer = refresh(code, { expireTime: at(765 * DAY) });
    expect((await send(newer)).json.resultCode).toBe('000000');
    const late = await send(older);
    expect(late.json.resultCode).toBe('000000');
    expect(late.json.resultMsg).toMatch(/does not extend/);
    const newerExpiry = (await stored(code))!.expireTime;
    expect(newerExpiry?.slice(0, 10)).toBe(new Date(Date.now() + 765 * DAY).toISOString().slice(0, 10));
    // the renewal period refunded: back to the older expiry
    const unsubscribe = refresh(code, { scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: older.expireTime });
    expect((await send(unsubscribe)).json.resultMsg).toBe('success.');
    expect((await stored(code))!.expireTime?.slice(0, 10)).toBe(new Date(Date.now() + 400 * DAY).toISOString().slice(0, 10));
    // a late resend of the older renewal, after the unsubscription, is still a repeat (its key was kept)
    expect((await send(older)).json.resultMsg).toBe('success. (already applied)');
    // an unsubscription that does not shorten is stale
    expect((await send(refresh(code, { scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: at(500 * DAY) }))).json.resultMsg).toMatch(/does not shorten/);
  });

  it('out of order: an UNFREEZE that overtook its renewal is held, and completed by the renewal', async () => {
    const code = await activated();
    // the known expiry passed: frozen by the marketplace
    expect((await send(refresh(code, { scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: at(-20 * DAY) }))).json.resultCode).toBe('000000');
    expect((await invoke(updateStatus as never, signedEvent({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' }))).json.resultCode).toBe('000000');
    const unfreeze = await invoke(updateStatus as never, signedEvent({ activity: 'updateLicenseCodeStatus', license: code, status: 'UNFREEZE' }));
    expect(unfreeze.json.resultCode).toBe('000000');
    expect(unfreeze.json.resultMsg).toMatch(/held/);
    expect((await stored(code))!.state).toBe('FROZEN');
    expect((await send(refresh(code, { expireTime: at(300 * DAY) }))).json.resultCode).toBe('000000');
    const after = await stored(code);
    expect(after?.state).toBe('ACTIVE');
    expect(after?.unfreezeHeldAt).toBeUndefined();
  });

  it('unknown code 000003 (the call recorded: a replay of it is 000001); bad input 000002 naming the field', async () => {
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    const unknown = await send(refresh('PLNEVERSEEN0001'), nonce);
    expect(unknown.json).toEqual({ resultCode: '000003', resultMsg: 'authorization code does not exist: PLNEVERSEEN0001' });
    expect((await send(refresh('PLNEVERSEEN0001'), nonce)).json.resultCode).toBe('000001');
    expect(await stored('PLNEVERSEEN0001')).toBeUndefined();
    const code = await activated();
    for (const [field, value] of [['expireTime', '2027-01-01'], ['scene', 'TRIAL_TO_FORMAL'], ['license', ''], ['orderId', undefined], ['license', 'x'.repeat(65)]] as const) {
      const answer = await send(refresh(code, { [field]: value }));
      expect(answer.json.resultCode, field).toBe('000002');
      expect(answer.json.resultMsg, field).toMatch(new RegExp(`^${field}:`));
    }
  });

  it('a released code acknowledges a late renewal and stays released', async () => {
    const code = await activated();
    const { handler: release } = await import('../releaseLicenseCode/handler.ts');
    expect((await invoke(release as never, signedEvent({ activity: 'releaseLicenseCode', license: code }))).json.resultCode).toBe('000000');
    const late = await send(refresh(code));
    expect(late.json).toEqual({ resultCode: '000000', resultMsg: 'success. (code already released)' });
    expect((await stored(code))!.state).toBe('RELEASED');
  });
});
