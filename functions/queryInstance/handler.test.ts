import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { handler as createHandler } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('queryInstance function', () => {
  it('returns the app info of the sample instance', async () => {
    expect((await invoke(createHandler, sampleEvent('newInstance'))).json.resultCode).toBe('000000');
    const first = await invoke(handler, sampleEvent('queryInstance'));
    expect(first.status).toBe(200);
    expect(first.json.resultCode).toBe('000000');
    expect(first.json.info?.[0]?.appInfo?.frontEndUrl).toContain('87b94795');
  });

  it('serves only its own activity', async () => {
    const other = await invoke(handler, sampleEvent('orderNotify'));
    expect(other.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity orderNotify' });
  });
});
