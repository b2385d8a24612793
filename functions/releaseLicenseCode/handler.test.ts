import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import { invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { activatedCode } from '#shared/testing/licenses';
import { sampleEvent } from '#shared/testing/samples';
import { handler as licenses } from '../licenses/handler.ts';
import { handler as updateStatus } from '../updateLicenseCodeStatus/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  // a slow shared machine must not turn a marketplace answer into a timeout (the default is 500 ms)
  h = await startHarness({ OPEN_API_TIMEOUT_MS: '3000' });
});
afterAll(() => h.close());

const activated = () => activatedCode(h, licenses as never, 'PLR');
const stored = async (code: string) => (await getRuntime()).services.licenses.getLicense(code);
const release = (body: Record<string, unknown>, nonce?: string) =>
  invoke(handler as never, signedEvent({ activity: 'releaseLicenseCode', ...body }, nonce ? { nonce } : {}));

describe('releaseLicenseCode function', () => {
  it('answers its sample (releases the sample code activated by the licenses sample), and only its own activity', async () => {
    expect((await invoke(licenses as never, sampleEvent('licenses'))).status).toBe(200);
    expect((await invoke(handler as never, sampleEvent('releaseLicenseCode'))).json.resultCode).toBe('000000');
    expect((await stored('PLMOCKUNACTIVATED01'))?.state).toBe('RELEASED');
    const other = await invoke(handler as never, sampleEvent('refreshLicenseCode'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity refreshLicenseCode' });
  });

  it('releases (with the unsubscription order); a duplicate and a resend with a new nonce are acknowledged, nothing written', async () => {
    const code = await activated();
    const body = { license: code, orderId: 'CSUNSUB1', orderLineId: 'CSUNSUB1-000001' };
    expect((await release(body)).json).toEqual({ resultCode: '000000', resultMsg: 'success.' });
    const after = await stored(code);
    expect(after).toMatchObject({ state: 'RELEASED', releaseOrderId: 'CSUNSUB1', releasedAt: expect.any(String) });
    expect((await release(body)).json).toEqual({ resultCode: '000000', resultMsg: 'success. (already released)' });
    expect((await release({ license: code })).json.resultCode).toBe('000000');
    expect(await stored(code)).toEqual(after);
  });

  it('out of order: a status change arriving after the release changes nothing', async () => {
    const code = await activated();
    expect((await release({ license: code })).json.resultCode).toBe('000000');
    for (const s of ['UNFREEZE', 'FREEZE']) {
      const late = await invoke(updateStatus as never, signedEvent({ activity: 'updateLicenseCodeStatus', license: code, status: s }));
      expect(late.json).toEqual({ resultCode: '000000', resultMsg: 'success. (code already released)' });
    }
    expect((await stored(code))!.state).toBe('RELEASED');
  });

  it('a frozen code is released', async () => {
    const code = await activated();
    expect((await invoke(updateStatus as never, signedEvent({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' }))).json.resultCode).toBe('000000');
    expect((await release({ license: code })).json.resultCode).toBe('000000');
    expect((await stored(code))!.state).toBe('RELEASED');
  });

  it('unknown code 000003; bad input 000002 naming the field; a replayed nonce 000001', async () => {
    expect((await release({ license: 'PLNOTOURS0001' })).json).toEqual({ resultCode: '000003', resultMsg: 'authorization code does not exist: PLNOTOURS0001' });
    expect(await stored('PLNOTOURS0001')).toBeUndefined();
    const code = await activated();
    const bad = await release({ license: code, orderId: 'o'.repeat(65) });
    expect(bad.json.resultCode).toBe('000002');
    expect(bad.json.resultMsg).toMatch(/^orderId:/);
    expect((await release({ license: 42 })).json.resultMsg).toMatch(/^license:/);
    expect((await stored(code))!.state).toBe('ACTIVE');
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    expect((await invoke(updateStatus as never, signedEvent({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' }, { nonce }))).json.resultCode).toBe('000000');
    expect((await release({ license: code }, nonce)).json.resultCode).toBe('000001');
    expect((await stored(code))!.state).toBe('FROZEN');
  });
});
