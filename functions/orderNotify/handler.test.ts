import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('orderNotify function', () => {
  it('records the mock order notification once', async () => {
    const first = await invoke(handler, sampleEvent('orderNotify'));
    expect(first.status).toBe(200);
    expect(first.json.resultCode).toBe('000000');
    const again = await invoke(handler, sampleEvent('orderNotify'));
    expect(again.json.resultMsg).toContain('already notified');
    const { services } = await getRuntime();
    expect((await services.store.getOrderNotice('MOCKPERIODYEARNEW', 'MOCKPERIODYEARNEW-000001'))?.orderType).toBe('NEW');
  });

  it('serves only its own activity', async () => {
    const other = await invoke(handler, sampleEvent('queryInstance'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity queryInstance' });
  });
});
