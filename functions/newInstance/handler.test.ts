import { expect } from 'vitest';
import { invoke } from '#shared/testing/harness';
import { describeCallbackFunction, SAMPLE_INSTANCE, sampleEvent } from '#shared/testing/samples';
import { handler } from './handler.ts';

describeCallbackFunction('newInstance', handler, {
  title: 'creates the debug instance of the mock order, and answers the same one again',
  check: async (first) => {
    expect(first.json.instanceId).toBe(SAMPLE_INSTANCE);
    expect((await invoke(handler, sampleEvent('newInstance'))).json).toEqual(first.json);
  },
});
