/**
 * The messages the marketplace reads in a 000002 answer (produceRoute: `path: message`) come from these
 * schemas. zod/mini has no messages of its own (every issue would read "Invalid input"): shared/zod.ts
 * switches the English ones on. This file loads no full zod, so a lost locale shows here.
 */
import { describe, expect, it } from 'vitest';
import { newInstance } from '#functions/newInstance/callback';
import { queryInstance } from '#functions/queryInstance/callback';
import { refreshInstance } from '#functions/refreshInstance/callback';
import { updateInstanceStatus } from '#functions/updateInstanceStatus/callback';
import type { Callback } from './callback.ts';

const issues = (callback: Callback, body: unknown) => {
  const parsed = callback.schema.safeParse(body);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
};

describe('callback bodies: the messages of a refusal', () => {
  it('names a missing or mistyped field with zod’s English message', () => {
    expect(issues(newInstance, { orderLineId: 'L', businessId: 'B', orderId: 12 })).toEqual(['orderId: Invalid input: expected string, received number']);
    expect(issues(newInstance, { orderLineId: 'L', businessId: 'B' })).toEqual(['orderId: Invalid input: expected string, received undefined']);
    expect(issues(newInstance, 'x')).toEqual(['body: Invalid input: expected object, received string']);
  });

  it('names the allowed values of an enum and the bounds of a list', () => {
    expect(issues(updateInstanceStatus, { instanceId: 'i', status: 'PAUSE' })).toEqual(['status: Invalid option: expected one of "FREEZE"|"UNFREEZE"']);
    expect(issues(queryInstance, { instanceId: Array(101).fill('i').join(',') })).toEqual(['instanceId: at most 100 instance ids']);
    expect(issues(newInstance, { orderId: 'o', orderLineId: 'L', businessId: 'B', testFlag: true })).toEqual(['testFlag: Invalid input']);
  });

  it('keeps the service’s own field messages', () => {
    expect(issues(newInstance, { orderId: ' ', orderLineId: 'L', businessId: 'x'.repeat(65) })).toEqual([
      'orderId: must not be empty',
      'businessId: must be at most 64 characters',
    ]);
    const refresh = { instanceId: 'i', orderId: 'o', orderLineId: 'l', scene: 'RENEWAL', expireTime: '20291340000000' };
    expect(issues(refreshInstance, refresh)).toEqual(['expireTime: must be a UTC time yyyyMMddHHmmss or yyyyMMddHHmmssSSS']);
    expect(issues(queryInstance, { instanceId: 'a,,b' })).toEqual(['instanceId.1: must not be empty']);
  });

  it('parses what it accepts: trimmed ids, the expiry as a Date, the id list split', () => {
    expect(refreshInstance.schema.parse({ instanceId: ' i ', orderId: 'o', orderLineId: 'l', scene: 'RENEWAL', expireTime: '20290101000000', extra: 1 })).toEqual({
      instanceId: 'i',
      orderId: 'o',
      orderLineId: 'l',
      scene: 'RENEWAL',
      expireTime: new Date('2029-01-01T00:00:00Z'),
    });
    expect(queryInstance.schema.parse({ instanceId: 'a, b' })).toEqual({ instanceId: ['a', 'b'] });
  });
});
