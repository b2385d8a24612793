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

describe('upgradeInstance function', () => {
  it('upgrades the sample instance to the spec of the mock change order', async () => {
    expect((await invoke(createHandler, sampleEvent('newInstance'))).json.resultCode).toBe('000000');
    const first = await invoke(handler, sampleEvent('upgradeInstance'));
    expect(first.status).toBe(200);
    expect(first.json.resultCode).toBe('000000');
    const { services } = await getRuntime();
    const upgraded = await services.store.getInstance(INSTANCE);
    expect(upgraded?.appliedOps).toContain('upgrade:MOCKMONTYCHANGE:MOCKMONTYCHANGE-000001');
  });

  it('serves only its own activity', async () => {
    const other = await invoke(handler, sampleEvent('orderNotify'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity orderNotify' });
  });
});
