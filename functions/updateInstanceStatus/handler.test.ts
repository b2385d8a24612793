import { expect } from 'vitest';
import { describeCallbackFunction, SAMPLE_INSTANCE } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('updateInstanceStatus', handler, {
  title: 'freezes the sample instance',
  before: [['newInstance', newInstance]],
  check: async (_, { store }) => expect((await store.getInstance(SAMPLE_INSTANCE))?.status).toBe('FROZEN'),
});
