import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler as createHandler } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

/** the instance id of the sample events (the businessId of events/newInstance.json) */
const INSTANCE = '87b94795-0603-4e24-8ae5-69420d60e3c8';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('refreshInstance function', () => {
  it('renews the sample instance to the expiry it is given', async () => {
    expect((await invoke(createHandler, sampleEvent('newInstance'))).json.resultCode).toBe('000000');
    const first = await invoke(handler, sampleEvent('refreshInstance'));
    expect(first.status).toBe(200);
    expect(first.json.resultCode).toBe('000000');
    const { services } = await getRuntime();
    expect((await services.store.getInstance(INSTANCE))?.expireTime).toBe('2028-11-24T02:36:18.256Z');
  });

  it('serves only its own activity', async () => {
    const other = await invoke(handler, sampleEvent('orderNotify'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity orderNotify' });
  });
});
