import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('newInstance function', () => {
  it('creates the debug instance of the mock order, and the same one again', async () => {
    const first = await invoke(handler, sampleEvent('newInstance'));
    expect(first.status).toBe(200);
    expect(first.json.resultCode).toBe('000000');
    const again = await invoke(handler, sampleEvent('newInstance'));
    expect(again.json).toEqual(first.json);
  });

  it('serves only its own activity', async () => {
    const other = await invoke(handler, sampleEvent('orderNotify'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity orderNotify' });
  });
});
