import { expect } from 'vitest';
import { describeCallbackFunction } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('changeInstanceCheck', handler, {
  title: 'allows the sample change (no usage recorded)',
  before: [['newInstance', newInstance]],
  check: (answer) => expect(answer.json.resultMsg).toContain('change allowed'),
});
