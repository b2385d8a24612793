/** The sample events under events/, signed afresh as `npm run invoke` does, and the test every callback function gets. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareEvent } from '../../scripts/invoke.ts';
import type { Services } from '../domain/call.ts';
import { getRuntime } from '../runtime.ts';
import { ACCESS_KEY, invoke, startHarness, type Answer, type Harness } from './harness.ts';

/** the instance of the sample events (the businessId of events/newInstance.json) */
export const SAMPLE_INSTANCE = '87b94795-0603-4e24-8ae5-69420d60e3c8';

export function sampleEvent(name: string, now = new Date(), merchantPublicKeyPem?: string): APIGatewayProxyEvent {
  const file = fileURLToPath(new URL(`../../events/${name}.json`, import.meta.url));
  return prepareEvent(JSON.parse(readFileSync(file, 'utf8')), { accessKey: ACCESS_KEY, now, ...(merchantPublicKeyPem ? { merchantPublicKeyPem } : {}) }) as APIGatewayProxyEvent;
}

type Handler = (event: any, context: Context) => Promise<unknown>;

/**
 * A callback function answers its own sample event (000000) and refuses every other activity.
 * `before` runs sample events through other functions first (e.g. create the sample instance).
 */
export function describeCallbackFunction(
  name: string,
  handler: Handler,
  spec: {
    title: string;
    before?: Array<[sample: string, handler: Handler]>;
    check?: (answer: Answer, services: Services) => Promise<void> | void;
  },
) {
  describe(`${name} function`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness();
    });
    afterAll(() => h.close());

    it(spec.title, async () => {
      for (const [sample, other] of spec.before ?? []) expect((await invoke(other as never, sampleEvent(sample))).json.resultCode).toBe('000000');
      const answer = await invoke(handler as never, sampleEvent(name));
      expect(answer.status).toBe(200);
      expect(answer.json.resultCode).toBe('000000');
      await spec.check?.(answer, (await getRuntime()).services);
    });

    it('serves only its own activity', async () => {
      const other = name === 'orderNotify' ? 'queryInstance' : 'orderNotify';
      const answer = await invoke(handler as never, sampleEvent(other));
      expect(answer.json).toEqual({ resultCode: '000002', resultMsg: `unsupported activity ${other}` });
    });
  });
}
