import { expect } from 'vitest';
import { describeCallbackFunction } from '#shared/testing/samples';
import { handler as newInstance } from '../newInstance/handler.ts';
import { handler } from './handler.ts';

describeCallbackFunction('queryInstance', handler, {
  title: 'returns the app info of the sample instance',
  before: [['newInstance', newInstance]],
  check: (answer) => expect(answer.json.info?.[0]?.appInfo?.frontEndUrl).toContain('87b94795'),
});
