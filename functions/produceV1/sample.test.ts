/** events/produceV1.json, re-signed as `npm run invoke` does (local V1 key), through the real handler. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { decryptV1 } from '#shared/protocol/v1';
import { getRuntime } from '#shared/runtime';
import { LOCAL_DEFAULTS } from '#shared/secrets';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { sampleEvent } from '#shared/testing/samples';
import { SAMPLE_V1_MOBILE_PHONE } from '../../scripts/invoke.ts';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

it('the V1 sample creates the debug instance of the mock order, signed, with encrypted credentials', async () => {
  const key = LOCAL_DEFAULTS.KOOGALLERY_V1_KEY;
  const event = sampleEvent('produceV1');
  expect(event.queryStringParameters?.mobilePhone).not.toBe(SAMPLE_V1_MOBILE_PHONE);
  const answer = await invoke(handler as never, event);
  expect(answer.json).toMatchObject({ resultCode: '000000', instanceId: '2f0c5b8e-6a51-4d3c-9f0e-7d1b6c4a9e21', encryptType: '1' });
  expect(answer.headers['Body-Sign']).toBe(bodySignHeader(key, answer.raw));
  const instance = await (await getRuntime()).services.store.getInstance(answer.json.instanceId!);
  expect(instance).toMatchObject({ orderId: 'MOCKPERIODYEARNEW', testFlag: true, status: 'ACTIVE', buyer: { mobilePhone: SAMPLE_V1_MOBILE_PHONE } });
  expect(decryptV1(key, answer.json.appInfo.password)).toBe(instance?.appInfo?.password);
  // the same sample signed again (a new timeStamp): the same instance
  expect((await invoke(handler as never, sampleEvent('produceV1', new Date(Date.now() + 1000)))).json.instanceId).toBe(answer.json.instanceId);
});
