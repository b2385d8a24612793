import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMarketTime } from '#shared/protocol/time';
import { getRuntime } from '#shared/runtime';
import { invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { activatedCode } from '#shared/testing/licenses';
import { sampleEvent } from '#shared/testing/samples';
import { handler as licenses } from '../licenses/handler.ts';
import { handler as refresh } from '../refreshLicenseCode/handler.ts';
import { handler } from './handler.ts';

const DAY = 86_400_000;
let h: Harness;
beforeAll(async () => {
  // a slow shared machine must not turn a marketplace answer into a timeout (the default is 500 ms)
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '3000' });
});
afterAll(() => h.close());

const activated = () => activatedCode(h, licenses as never, 'PLS');
const stored = async (code: string) => (await getRuntime()).services.licenses.getLicense(code);
const status = (license: string, s: string, nonce?: string) =>
  invoke(handler as never, signedEvent({ activity: 'updateLicenseCodeStatus', license, status: s }, nonce ? { nonce } : {}));
const renew = (license: string, expireInMs: number, scene = 'RENEWAL') =>
  invoke(
    refresh as never,
    signedEvent({ activity: 'refreshLicenseCode', scene, orderId: `CS${randomUUID().slice(0, 8)}`, orderLineId: 'l1', license, expireTime: formatMarketTime(new Date(Date.now() + expireInMs)) }),
  );

describe('updateLicenseCodeStatus function', () => {
  it('answers its sample (freezes the sample code activated by the licenses sample), and only its own activity', async () => {
    expect((await invoke(licenses as never, sampleEvent('licenses'))).status).toBe(200);
    expect((await invoke(handler as never, sampleEvent('updateLicenseCodeStatus'))).json.resultCode).toBe('000000');
    expect((await stored('PLMOCKUNACTIVATED01'))?.state).toBe('FROZEN');
    const other = await invoke(handler as never, sampleEvent('releaseLicenseCode'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity releaseLicenseCode' });
  });

  it('freezes and unfreezes; duplicates (same call again, a resend with a new nonce) are acknowledged without a write', async () => {
    const code = await activated();
    expect((await status(code, 'FREEZE')).json).toEqual({ resultCode: '000000', resultMsg: 'success.' });
    const frozen = await stored(code);
    expect(frozen).toMatchObject({ state: 'FROZEN', frozenAt: expect.any(String) });
    expect((await status(code, 'FREEZE')).json).toEqual({ resultCode: '000000', resultMsg: 'success. (already frozen)' });
    expect((await stored(code))!.version).toBe(frozen!.version);
    expect((await status(code, 'UNFREEZE')).json).toEqual({ resultCode: '000000', resultMsg: 'success.' });
    expect((await status(code, 'UNFREEZE')).json).toEqual({ resultCode: '000000', resultMsg: 'success. (already active)' });
    expect((await stored(code))!.state).toBe('ACTIVE');
  });

  it('out of order: a late FREEZE after a newer renewal + UNFREEZE does not freeze again', async () => {
    const code = await activated();
    // expired (known expiry in the past), frozen by the marketplace
    expect((await renew(code, -20 * DAY, 'UNSUBSCRIBE_RENEWAL_PERIOD')).json.resultCode).toBe('000000');
    expect((await status(code, 'FREEZE')).json.resultCode).toBe('000000');
    // renewed, unfrozen
    expect((await renew(code, 300 * DAY)).json.resultCode).toBe('000000');
    expect((await status(code, 'UNFREEZE')).json.resultMsg).toBe('success.');
    // the resend of the old FREEZE arrives late
    const late = await status(code, 'FREEZE');
    expect(late.json.resultCode).toBe('000000');
    expect(late.json.resultMsg).toMatch(/predates a renewal/);
    expect((await stored(code))!.state).toBe('ACTIVE');
  });

  it('out of order: a late UNFREEZE from before a later expiry is held, not applied', async () => {
    const code = await activated();
    expect((await renew(code, -20 * DAY, 'UNSUBSCRIBE_RENEWAL_PERIOD')).json.resultCode).toBe('000000');
    expect((await status(code, 'FREEZE')).json.resultCode).toBe('000000');
    const late = await status(code, 'UNFREEZE');
    expect(late.json.resultMsg).toMatch(/held/);
    expect((await stored(code))!.state).toBe('FROZEN');
  });

  it('a freeze without a known expiry (only the activation estimate) applies', async () => {
    const code = await activated();
    expect((await stored(code))!.expireSource).toBe('activation');
    expect((await status(code, 'FREEZE')).json.resultMsg).toBe('success.');
  });

  it('unknown code 000003; bad input 000002 naming the field; a replayed nonce 000001', async () => {
    expect((await status('PLUNKNOWN000001', 'FREEZE')).json).toEqual({ resultCode: '000003', resultMsg: 'authorization code does not exist: PLUNKNOWN000001' });
    const code = await activated();
    const bad = await status(code, 'SUSPEND');
    expect(bad.json.resultCode).toBe('000002');
    expect(bad.json.resultMsg).toMatch(/^status:/);
    const missing = await invoke(handler as never, signedEvent({ activity: 'updateLicenseCodeStatus', status: 'FREEZE' }));
    expect(missing.json.resultCode).toBe('000002');
    expect(missing.json.resultMsg).toMatch(/^license:/);
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    expect((await status(code, 'FREEZE', nonce)).json.resultCode).toBe('000000');
    expect((await status(code, 'UNFREEZE', nonce)).json.resultCode).toBe('000001');
    expect((await stored(code))!.state).toBe('FROZEN');
  });
});
