import { describe, expect, it } from 'vitest';
import { applyDecision, decideLicense, heartbeatClaimable, type LicenseCode, type LicenseEvent } from './licenseCodes.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const code = (over: Partial<LicenseCode> = {}): LicenseCode => ({
  code: 'PL1',
  state: 'ACTIVE',
  registeredBy: 'activation',
  appliedOps: [],
  createdAt: NOW.toISOString(),
  updatedAt: NOW.toISOString(),
  version: 0,
  ...over,
});
const known = (n: number) => ({ expireTime: days(n).toISOString(), expireSource: 'refresh' as const });
const renewal = (n: number, orderId = 'o1'): LicenseEvent => ({ kind: 'REFRESH', scene: 'RENEWAL', orderId, orderLineId: 'l', expireTime: days(n) });

describe('decideLicense (the table)', () => {
  it.each([
    ['FREEZE on ACTIVE, expiry passed', code(known(-20)), { kind: 'FREEZE' }, 'applied', 'FROZEN'],
    ['FREEZE on ACTIVE, known expiry ahead (late)', code(known(300)), { kind: 'FREEZE' }, 'stale', 'ACTIVE'],
    ['FREEZE on ACTIVE, only the activation estimate', code({ expireTime: days(300).toISOString(), expireSource: 'activation' }), { kind: 'FREEZE' }, 'applied', 'FROZEN'],
    ['FREEZE on FROZEN', code({ state: 'FROZEN' }), { kind: 'FREEZE' }, 'repeat', 'FROZEN'],
    ['UNFREEZE on FROZEN, expiry ahead', code({ state: 'FROZEN', ...known(300) }), { kind: 'UNFREEZE' }, 'applied', 'ACTIVE'],
    ['UNFREEZE on FROZEN, expiry passed (held)', code({ state: 'FROZEN', ...known(-1) }), { kind: 'UNFREEZE' }, 'held', 'FROZEN'],
    ['UNFREEZE on ACTIVE', code(), { kind: 'UNFREEZE' }, 'repeat', 'ACTIVE'],
    ['RELEASE on FROZEN', code({ state: 'FROZEN' }), { kind: 'RELEASE' }, 'applied', 'RELEASED'],
    ['RELEASE on RELEASED', code({ state: 'RELEASED' }), { kind: 'RELEASE' }, 'repeat', 'RELEASED'],
    ['UNFREEZE on RELEASED', code({ state: 'RELEASED' }), { kind: 'UNFREEZE' }, 'terminal', 'RELEASED'],
    ['RENEWAL on RELEASED', code({ state: 'RELEASED' }), renewal(300), 'terminal', 'RELEASED'],
    ['RENEWAL extending', code(known(10)), renewal(300), 'applied', 'ACTIVE'],
    ['RENEWAL not extending (late)', code(known(300)), renewal(10), 'stale', 'ACTIVE'],
    ['RENEWAL completing a held UNFREEZE', code({ state: 'FROZEN', unfreezeHeldAt: NOW.toISOString(), ...known(-1) }), renewal(300), 'applied', 'ACTIVE'],
    ['heartbeat RELEASED', code(), { kind: 'HEARTBEAT', status: 'RELEASED' }, 'applied', 'RELEASED'],
    ['heartbeat ALIVE unfreezes', code({ state: 'FROZEN' }), { kind: 'HEARTBEAT', status: 'ALIVE', expireTime: days(30) }, 'applied', 'ACTIVE'],
    ['heartbeat EXPIRED keeps the state', code(), { kind: 'HEARTBEAT', status: 'EXPIRED', expireTime: days(-1) }, 'applied', 'ACTIVE'],
  ] as Array<[string, LicenseCode, LicenseEvent, string, string]>)('%s', (_title, before, event, outcome, state) => {
    const decision = decideLicense(before, event, NOW);
    expect(decision.outcome).toBe(outcome);
    expect((applyDecision(before, decision, NOW) ?? before).state).toBe(state);
  });

  it('a refresh key is kept even when stale, so its resend is a repeat', () => {
    const before = code(known(300));
    const after = applyDecision(before, decideLicense(before, renewal(10, 'late'), NOW), NOW)!;
    expect(after.appliedOps).toEqual(['refresh:late:RENEWAL']);
    expect(after.expireTime).toBe(before.expireTime);
    expect(decideLicense(after, renewal(10, 'late'), NOW).outcome).toBe('repeat');
  });

  it('heartbeat claims: once a UTC day, a lapsed claim may be taken over', () => {
    expect(heartbeatClaimable(code(), NOW)).toBe(true);
    expect(heartbeatClaimable(code({ heartbeatDay: '2026-06-01' }), NOW)).toBe(false);
    expect(heartbeatClaimable(code({ heartbeatDay: '2026-05-31' }), NOW)).toBe(true);
    expect(heartbeatClaimable(code({ heartbeatDay: '2026-06-02' }), NOW)).toBe(false);
    expect(heartbeatClaimable(code({ heartbeatDay: '2026-06-01', claimToken: 't', claimUntil: days(0.001).toISOString() }), NOW)).toBe(false);
    expect(heartbeatClaimable(code({ heartbeatDay: '2026-06-01', claimToken: 't', claimUntil: days(-0.001).toISOString() }), NOW)).toBe(true);
  });
});
