import { expect } from 'vitest';
import { invoke } from '#shared/testing/harness';
import { describeCallbackFunction, sampleEvent } from '#shared/testing/samples';
import { handler } from './handler.ts';

describeCallbackFunction('orderNotify', handler, {
  title: 'records the mock order notification once',
  check: async (_, { store }) => {
    expect((await invoke(handler, sampleEvent('orderNotify'))).json.resultMsg).toContain('already notified');
    expect((await store.getOrderNotice('MOCKPERIODYEARNEW', 'MOCKPERIODYEARNEW-000001'))?.orderType).toBe('NEW');
  },
});
