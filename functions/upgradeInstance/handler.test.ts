import { expect } from 'vitest';
import { describeCallbackFunction, SAMPLE_INSTANCE } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('upgradeInstance', handler, {
  title: 'upgrades the sample instance to the spec of the mock change order',
  before: [['newInstance', newInstance]],
  check: async (_, { store }) =>
    expect((await store.getInstance(SAMPLE_INSTANCE))?.appliedOps).toContain('upgrade:MOCKMONTYCHANGE:MOCKMONTYCHANGE-000001'),
});
