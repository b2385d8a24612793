/** A key change-over: old and new V2 access keys both verify; each answer is signed with the caller's key. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { handler } from './handler.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_ACCESS_KEY: 'new-key,old-key' });
});
afterAll(() => h.close());

describe('access key rotation', () => {
  it.each(['new-key', 'old-key'])('accepts a call signed with %s and signs the answer with it', async (key) => {
    const answer = await invoke(handler, signedEvent({ activity: 'queryInstance', instanceId: randomUUID() }, { key }));
    expect(answer.json.resultCode).toBe('000003');
    expect(answer.headers['Body-Sign']).toBe(bodySignHeader(key, answer.raw));
  });

  it('refuses a retired key and answers with the newest key', async () => {
    const answer = await invoke(handler, signedEvent({ activity: 'queryInstance', instanceId: 'x' }, { key: 'retired-key' }));
    expect(answer.json.resultCode).toBe('000001');
    expect(answer.headers['Body-Sign']).toBe(bodySignHeader('new-key', answer.raw));
  });
});
