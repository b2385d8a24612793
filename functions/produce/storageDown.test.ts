/** DynamoDB failing (here: the table does not exist) must still be answered in the marketplace's terms. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { ACCESS_KEY, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ TABLE_NAME: `missing-${randomUUID()}` });
});
afterAll(() => h.close());

describe('POST /produce with DynamoDB failing', () => {
  it.each([
    { activity: 'newInstance', businessId: randomUUID(), orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001' },
    { activity: 'queryInstance', instanceId: 'x' },
    { activity: 'updateInstanceStatus', instanceId: 'x', status: 'FREEZE' },
    { activity: 'orderNotify', orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001' },
  ])('answers 000005 (signed, HTTP 200) for $activity so the marketplace retries', async (body) => {
    const answer = await invoke(handler, signedEvent(body));
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ resultCode: '000005', resultMsg: 'internal error; please retry' });
    expect(answer.headers['Body-Sign']).toBe(bodySignHeader(ACCESS_KEY, answer.raw));
  });

  it('an unknown activity is bad input: 000002, storage never touched', async () => {
    const answer = await invoke(handler, signedEvent({ activity: 'dance' }));
    expect(answer.json).toEqual({ resultCode: '000002', resultMsg: 'unsupported activity dance' });
  });

  it('still refuses a bad signature with 000001 without touching storage', async () => {
    const answer = await invoke(handler, signedEvent({ activity: 'queryInstance', instanceId: 'x' }, { key: 'wrong' }));
    expect(answer.json.resultCode).toBe('000001');
  });
});
