import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { instancePk, TIMER_SHARDS, timerPartition, wholeOrderPk } from './entities.ts';

/** The largest share of keys one shard gets (1 / TIMER_SHARDS when perfectly even). */
function largestShare(keys: string[]) {
  const counts = new Map<string, number>();
  for (const key of keys) {
    const partition = timerPartition('ACCEPT', key);
    counts.set(partition, (counts.get(partition) ?? 0) + 1);
  }
  return { shards: counts.size, share: Math.max(...counts.values()) / keys.length };
}

describe('timerPartition', () => {
  const N = 4000;
  // 1/8 = 0.125; 0.16 leaves room for chance at 4 000 keys (about 6 standard deviations)
  it.each([
    ['hardware supervision keys with hex order ids', () => { const id = `CS${randomBytes(7).toString('hex').toUpperCase()}`; return wholeOrderPk(id) + `${id}-000001`; }],
    ['hardware supervision keys with letter-and-digit order ids', () => { const id = `CS${randomUUID().replace(/-/g, '').slice(0, 14).toUpperCase()}`; return wholeOrderPk(id) + `${id}-000001`; }],
    ['instance keys', () => instancePk(randomUUID())],
    ['usage bucket keys of one instance, hour by hour', (() => { const pk = instancePk(randomUUID()); let h = 0; return () => pk + new Date(Date.UTC(2026, 0, 1) + 3_600_000 * h++).toISOString(); })()],
  ])('spreads %s over every shard evenly', (_name, key) => {
    const { shards, share } = largestShare(Array.from({ length: N }, key as () => string));
    expect(shards).toBe(TIMER_SHARDS);
    expect(share).toBeLessThan(0.16);
  });

  it('is stable: the same key always lands in the same shard', () => {
    const key = instancePk('i-1');
    expect(timerPartition('EXPIRY', key)).toBe(timerPartition('EXPIRY', key));
    expect(timerPartition('EXPIRY', key)).toMatch(/^EXPIRY#[0-7]$/);
  });
});
