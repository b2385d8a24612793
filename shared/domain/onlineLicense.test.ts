import { describe, expect, it } from 'vitest';
import { fingerprintHashOf, NO_FINGERPRINT, parseLicenseTime, quotaOf, retryDelayMs, storedOf, uploadOf } from './onlineLicense.ts';

const iso = (s: string) => parseLicenseTime(s)?.toISOString();

describe('License times (spec 3.12)', () => {
  it('reads the example form and its variants as UTC', () => {
    expect(iso('2023-10-27 10:30:15 z')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('2023-10-27 10:30:15 Z')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('2023-10-27 10:30:15Z')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('2023-10-27T10:30:15.123Z')).toBe('2023-10-27T10:30:15.123Z');
    expect(iso('2023-10-27 10:30:15')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('2023-10-27 10:30:15 UTC')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso(' 2023-10-27 10:30 z ')).toBe('2023-10-27T10:30:00.000Z');
    expect(iso('2023-10-27')).toBe('2023-10-27T00:00:00.000Z');
  });

  it('applies an explicit offset', () => {
    expect(iso('2023-10-27 18:30:15+08:00')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('2023-10-27 05:30:15 -0500')).toBe('2023-10-27T10:30:15.000Z');
  });

  it('reads the compact UTC forms', () => {
    expect(iso('20231027103015')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('20231027103015256')).toBe('2023-10-27T10:30:15.256Z');
    expect(iso('20231027T103015Z')).toBe('2023-10-27T10:30:15.000Z');
    expect(iso('20231027')).toBe('2023-10-27T00:00:00.000Z');
  });

  it('refuses what is not a time', () => {
    for (const bad of ['', 'z', '2023-02-30 10:30:15 z', '2023-10-27 24:00:00 z', '2023-10-27 10:30:15 CET', '27/10/2023', '2023-10-27 10:30:15 zz', '202310271030', '1679900000000', '2023-13-01 00:00:00'])
      expect(parseLicenseTime(bad), bad).toBeUndefined();
  });
});

describe('quota, retries and uploads', () => {
  it('the quota is the linear value (1 without one)', () => {
    expect(quotaOf({ product: { linearValue: 5 } })).toBe(5);
    expect(quotaOf({ product: { linearValue: 2.7 } })).toBe(2);
    expect(quotaOf({ product: {} })).toBe(1);
  });

  it('retries back off exponentially up to an hour', () => {
    expect([1, 2, 3, 4, 7, 8, 20].map(retryDelayMs)).toEqual([60_000, 120_000, 240_000, 480_000, 3_600_000, 3_600_000, 3_600_000]);
  });

  it('a string over 1024 characters becomes a file; a file round-trips', () => {
    expect(storedOf({ characters: 'a'.repeat(1024) }, 'e')).toEqual({ characters: 'a'.repeat(1024) });
    const long = storedOf({ characters: 'b'.repeat(1025) }, 'ev/1');
    expect(long).toMatchObject({ fileName: 'license-ev_1.lic' });
    const upload = uploadOf(long) as { file: Uint8Array };
    expect(Buffer.from(upload.file).toString()).toBe('b'.repeat(1025));
    expect(uploadOf(storedOf({ file: new Uint8Array([1, 2, 3]), fileName: 'x.lic' }, 'e'))).toEqual({ file: Buffer.from([1, 2, 3]), fileName: 'x.lic' });
  });

  it('fingerprints are identified by their hash', () => {
    expect(fingerprintHashOf(undefined)).toBe(NO_FINGERPRINT);
    expect(fingerprintHashOf('a')).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintHashOf('a')).not.toBe(fingerprintHashOf('b'));
  });
});
