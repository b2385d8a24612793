import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, LIFECYCLE_EVENTS, LIFECYCLE_STATES, TABLE, type Decision, type LifecycleEvent, type LifecycleState } from './lifecycle.ts';

/** The documented matrix written out independently of TABLE: a = apply → state, n = noop, 3 = reject 000003. */
const EXPECTED: Record<LifecycleState, Record<LifecycleEvent, string>> = {
  PROVISIONING: { CREATE: 'n', PROVISIONED: 'ACTIVE', PROVISION_FAILED: 'FAILED', RENEW: 'PROVISIONING', FREEZE: 'FROZEN', UNFREEZE: 'n', RELEASE: 'RELEASED', UPGRADE: 'PROVISIONING', EXPIRED: 'n', RETENTION_ENDED: 'n' },
  ACTIVE: { CREATE: 'n', PROVISIONED: 'n', PROVISION_FAILED: 'n', RENEW: 'ACTIVE', FREEZE: 'FROZEN', UNFREEZE: 'n', RELEASE: 'RELEASED', UPGRADE: 'ACTIVE', EXPIRED: 'FROZEN', RETENTION_ENDED: 'n' },
  FROZEN: { CREATE: 'n', PROVISIONED: 'n', PROVISION_FAILED: 'n', RENEW: 'FROZEN', FREEZE: 'n', UNFREEZE: 'ACTIVE', RELEASE: 'RELEASED', UPGRADE: 'FROZEN', EXPIRED: 'n', RETENTION_ENDED: 'RELEASED' },
  RELEASED: { CREATE: 'n', PROVISIONED: 'n', PROVISION_FAILED: 'n', RENEW: '3', FREEZE: 'n', UNFREEZE: '3', RELEASE: 'n', UPGRADE: '3', EXPIRED: 'n', RETENTION_ENDED: 'n' },
  FAILED: { CREATE: 'PROVISIONING', PROVISIONED: 'ACTIVE', PROVISION_FAILED: 'n', RENEW: '3', FREEZE: 'n', UNFREEZE: '3', RELEASE: 'RELEASED', UPGRADE: '3', EXPIRED: 'n', RETENTION_ENDED: 'n' },
};

const summary = (state: LifecycleState | undefined, event: LifecycleEvent, provisioned = true, debug = false, due = true): string => {
  const d = decide(state, event, { provisioned, debug, due });
  if (d.kind === 'apply') return d.to;
  if (d.kind === 'noop') return 'n';
  return d.code === '000003' ? '3' : d.code;
};

describe('lifecycle state machine', () => {
  for (const state of LIFECYCLE_STATES) {
    for (const event of LIFECYCLE_EVENTS) {
      it(`${state} × ${event} → ${EXPECTED[state][event]}`, () => {
        expect(summary(state, event)).toBe(EXPECTED[state][event]);
      });
    }
  }

  it('answers 000003 for every event on an instance that was never seen', () => {
    for (const event of LIFECYCLE_EVENTS) expect(summary(undefined, event)).toBe('3');
  });

  it('an instance frozen before its tenant existed: provisioning completes into FROZEN or fails; unfreezing resumes it', () => {
    expect(summary('FROZEN', 'UNFREEZE', false)).toBe('PROVISIONING');
    expect(summary('FROZEN', 'PROVISIONED', false)).toBe('FROZEN');
    expect(summary('FROZEN', 'PROVISION_FAILED', false)).toBe('FAILED');
    for (const event of LIFECYCLE_EVENTS)
      if (!['UNFREEZE', 'PROVISIONED', 'PROVISION_FAILED'].includes(event)) expect(summary('FROZEN', event, false)).toBe(EXPECTED.FROZEN[event]);
  });

  it('a debug newInstance on a released debug instance starts its next dial-test cycle; nothing else differs', () => {
    expect(summary('RELEASED', 'CREATE', true, true)).toBe('PROVISIONING');
    for (const state of LIFECYCLE_STATES)
      for (const event of LIFECYCLE_EVENTS)
        if (!(state === 'RELEASED' && event === 'CREATE')) expect(summary(state, event, true, true)).toBe(EXPECTED[state][event]);
  });

  it('a timer whose condition no longer holds (a renewal won the race) changes nothing; callbacks ignore "due"', () => {
    expect(summary('ACTIVE', 'EXPIRED', true, false, false)).toBe('n');
    expect(summary('FROZEN', 'RETENTION_ENDED', true, false, false)).toBe('n');
    expect(summary('FROZEN', 'RETENTION_ENDED', false, false, false)).toBe('n');
    for (const state of LIFECYCLE_STATES)
      for (const event of LIFECYCLE_EVENTS)
        if (event !== 'EXPIRED' && event !== 'RETENTION_ENDED') expect(summary(state, event, true, false, false)).toBe(EXPECTED[state][event]);
  });

  it('a timer transition is undone by the callbacks that follow it: UNFREEZE after a local freeze, and RENEW keeps a frozen instance frozen', () => {
    const frozen = decide('ACTIVE', 'EXPIRED');
    expect(frozen).toMatchObject({ kind: 'apply', to: 'FROZEN' });
    expect(decide('FROZEN', 'RENEW')).toMatchObject({ kind: 'apply', to: 'FROZEN' });
    expect(decide('FROZEN', 'UNFREEZE')).toMatchObject({ kind: 'apply', to: 'ACTIVE' });
  });

  it('a renewal restores an instance our expiry timer froze (no UNFREEZE will come); nothing else differs', () => {
    expect(decide('FROZEN', 'RENEW', { frozenLocally: true })).toMatchObject({ kind: 'apply', to: 'ACTIVE' });
    for (const state of LIFECYCLE_STATES)
      for (const event of LIFECYCLE_EVENTS) {
        if (state === 'FROZEN' && event === 'RENEW') continue;
        const d = decide(state, event, { frozenLocally: true });
        expect(d.kind === 'apply' ? d.to : d.kind === 'noop' ? 'n' : '3').toBe(EXPECTED[state][event]);
      }
  });

  it('every noop and reject explains itself', () => {
    for (const state of LIFECYCLE_STATES)
      for (const event of LIFECYCLE_EVENTS) {
        for (const cell of [TABLE[state][event], TABLE[state][event].whenUnprovisioned, TABLE[state][event].whenDebug, TABLE[state][event].whenNotDue])
          if (cell && cell.kind !== 'apply') expect(cell.why.length).toBeGreaterThan(5);
      }
  });

  it('RELEASED is final and repeating an applied event is harmless (property)', () => {
    const event = fc.constantFrom(...LIFECYCLE_EVENTS);
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        let state: LifecycleState = 'ACTIVE';
        let released = false;
        for (const e of events) {
          const d: Decision = decide(state, e);
          if (released) expect(d.kind === 'apply').toBe(false);
          if (d.kind === 'apply') {
            state = d.to;
            // the same event right after it was applied never moves the state again
            const again = decide(state, e);
            expect(again.kind === 'apply' ? again.to : state).toBe(state);
          }
          if (state === 'RELEASED') released = true;
        }
      }),
    );
  });
});
