import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { formatCompactUtc, formatMarketTime, formatMarketTimeMillis, parseMarketTime } from './time.ts';

describe('parseMarketTime', () => {
  it('parses the 17-digit refresh example (spec 3.3)', () => {
    expect(parseMarketTime('20221124023618256')?.toISOString()).toBe('2022-11-24T02:36:18.256Z');
  });

  it('parses the 14-digit order expiry example (spec 6.1)', () => {
    expect(parseMarketTime('20251121235959')?.toISOString()).toBe('2025-11-21T23:59:59.000Z');
  });

  it('accepts a leap day', () => {
    expect(parseMarketTime('20240229120000')?.toISOString()).toBe('2024-02-29T12:00:00.000Z');
  });

  it.each([
    '',
    '2023010100000',
    '202301010000000',
    '2023010100000012',
    '202301010000001234',
    '2023-01-01T00:00',
    ' 20230101000000',
    '2023010100000０',
    '20231301000000',
    '20230001000000',
    '20230100000000',
    '20230230000000',
    '20230229000000',
    '20230431000000',
    '20230101240000',
    '20230101006000',
    '20230101000060',
    '00500101000000',
  ])('rejects %j', (s) => {
    expect(parseMarketTime(s)).toBeUndefined();
  });
});

describe('formatters', () => {
  const d = new Date('2022-11-24T02:36:18.256Z');

  it('formats the three layouts', () => {
    expect(formatMarketTime(d)).toBe('20221124023618');
    expect(formatMarketTimeMillis(d)).toBe('20221124023618256');
    expect(formatCompactUtc(d)).toBe('20221124T023618Z');
    expect(formatMarketTimeMillis(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)))).toBe('20240102030405006');
  });

  it('round-trips through parseMarketTime', () => {
    const dates = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
    fc.assert(
      fc.property(dates, (date) => {
        expect(parseMarketTime(formatMarketTimeMillis(date))?.getTime()).toBe(date.getTime());
        const seconds = Math.floor(date.getTime() / 1000) * 1000;
        expect(parseMarketTime(formatMarketTime(date))?.getTime()).toBe(seconds);
      }),
    );
  });

  it('formats the parsed spec examples back', () => {
    expect(formatMarketTime(parseMarketTime('20251121235959') ?? new Date(0))).toBe('20251121235959');
    expect(formatMarketTimeMillis(parseMarketTime('20221124023618256') ?? new Date(0))).toBe('20221124023618256');
  });

  it('throws on an invalid Date', () => {
    expect(() => formatMarketTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
