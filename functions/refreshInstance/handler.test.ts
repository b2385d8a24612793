import { expect } from 'vitest';
import { describeCallbackFunction, SAMPLE_INSTANCE } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('refreshInstance', handler, {
  title: 'renews the sample instance to the expiry it is given',
  before: [['newInstance', newInstance]],
  check: async (_, { store }) => expect((await store.getInstance(SAMPLE_INSTANCE))?.expireTime).toBe('2028-11-24T02:36:18.256Z'),
});
