import { expect } from 'vitest';
import { invoke } from '#shared/testing/harness';
import { describeCallbackFunction, SAMPLE_INSTANCE, sampleEvent } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('releaseInstance', handler, {
  title: 'releases the sample instance; a repeat is acknowledged',
  before: [['newInstance', newInstance]],
  check: async (_, { store }) => {
    expect((await invoke(handler, sampleEvent('releaseInstance'))).json.resultCode).toBe('000000');
    expect((await store.getInstance(SAMPLE_INSTANCE))?.status).toBe('RELEASED');
  },
});
