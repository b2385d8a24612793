import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer, SealerError } from './sealer.ts';

describe('sealer', () => {
  const key = randomBytes(32).toString('base64');

  it('round-trips and never stores the plaintext', () => {
    const sealer = createSealer([key]);
    const sealed = sealer.seal('S3cret!x 密码');
    expect(sealed).not.toContain('S3cret');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(sealer.open(sealed)).toBe('S3cret!x 密码');
    expect(sealer.seal('same')).not.toBe(sealer.seal('same'));
  });

  it('opens values sealed with a previous key after rotation, seals with the new one', () => {
    const old = createSealer([key]);
    const sealedOld = old.seal('before');
    const rotated = createSealer([randomBytes(32).toString('base64'), key]);
    expect(rotated.open(sealedOld)).toBe('before');
    expect(() => old.open(rotated.seal('after'))).toThrow(SealerError);
  });

  it('rejects tampered or foreign values', () => {
    const sealer = createSealer([key]);
    const parts = sealer.seal('x').split('.');
    parts[4] = Buffer.from('y').toString('base64url');
    expect(() => sealer.open(parts.join('.'))).toThrow('failed authentication');
    expect(() => sealer.open('plain')).toThrow(SealerError);
    expect(() => createSealer([])).toThrow(SealerError);
  });

  it('accepts a passphrase as local key material', () => {
    const sealer = createSealer(['local development key']);
    expect(sealer.open(sealer.seal('p'))).toBe('p');
  });
});
