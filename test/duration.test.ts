import { describe, it, expect } from 'vitest';
import { ConfigError } from '../src/errors';
import { parseDuration, formatDuration, type Duration } from '../src/duration';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/** The ConfigError message parseDuration gives for `d`. */
function refusal(d: unknown, what = 'tier 1 interval'): string {
  try {
    parseDuration(d as Duration, what);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${String(d)} to be refused`);
}

describe('parseDuration: accepted forms', () => {
  it('takes a positive integer as milliseconds', () => {
    expect(parseDuration(1, 'x')).toBe(1);
    expect(parseDuration(10_000, 'x')).toBe(10_000);
  });

  it('takes each unit', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('1s', 'x')).toBe(S);
    expect(parseDuration('10m', 'x')).toBe(10 * M);
    expect(parseDuration('6h', 'x')).toBe(6 * H);
    expect(parseDuration('7d', 'x')).toBe(7 * D);
    expect(parseDuration('2w', 'x')).toBe(14 * D);
    expect(parseDuration('1y', 'x')).toBe(365 * D);
  });

  it('takes compounds in decreasing unit order', () => {
    expect(parseDuration('1h30m', 'x')).toBe(H + 30 * M);
    expect(parseDuration('1m30s500ms', 'x')).toBe(M + 30 * S + 500);
    expect(parseDuration('1y2w3d4h5m6s7ms', 'x')).toBe(365 * D + 14 * D + 3 * D + 4 * H + 5 * M + 6 * S + 7);
    expect(parseDuration('1h0m', 'x')).toBe(H);
  });

  it('takes numbers beyond a unit’s usual range', () => {
    expect(parseDuration('90m', 'x')).toBe(90 * M);
    expect(parseDuration('1500ms', 'x')).toBe(1500);
  });

  it('accepts up to 100 years', () => {
    expect(parseDuration('100y', 'x')).toBe(100 * 365 * D);
    expect(parseDuration(100 * 365 * D, 'x')).toBe(100 * 365 * D);
  });
});

describe('parseDuration: refusals name the option and say why', () => {
  it('gives the documented message for an unknown unit', () => {
    expect(refusal('10x')).toBe(
      `tier 1 interval "10x" is not a duration: unknown unit "x"; use ms, s, m, h, d, w or y (e.g. '10s', '6h') or a number of milliseconds`,
    );
  });

  it('refuses unknown units, including upper case and spelled-out ones', () => {
    expect(refusal('10S')).toMatch(/unknown unit "S"/);
    expect(refusal('10sec')).toMatch(/unknown unit "sec"/);
    expect(refusal('10us')).toMatch(/unknown unit "us"/);
  });

  it('refuses a string number without a unit, saying how to fix it', () => {
    expect(refusal('10')).toBe(
      `tier 1 interval "10" is not a duration: add a unit, e.g. '10s', or pass a number of milliseconds`,
    );
    expect(refusal('1h30')).toMatch(/the last number 30 has no unit/);
  });

  it('refuses the empty string', () => {
    expect(refusal('')).toMatch(/^tier 1 interval "" is not a duration: it is empty/);
  });

  it('refuses negative and zero durations, as numbers and strings', () => {
    expect(refusal(-5)).toMatch(/^tier 1 interval -5 is not a duration: it is negative/);
    expect(refusal('-5s')).toMatch(/it is negative/);
    expect(refusal(0)).toMatch(/must be greater than zero/);
    expect(refusal('0s')).toMatch(/must be greater than zero/);
    expect(refusal('0h0m')).toMatch(/must be greater than zero/);
  });

  it('refuses fractional milliseconds and fractional units', () => {
    expect(refusal(1.5)).toMatch(/whole number of milliseconds/);
    expect(refusal('1.5h')).toMatch(/fractions are not allowed; use a smaller unit/);
  });

  it('refuses NaN and Infinity', () => {
    expect(refusal(NaN)).toMatch(/NaN/);
    expect(refusal(Infinity)).toMatch(/not finite/);
    expect(refusal(-Infinity)).toMatch(/not finite/);
  });

  it('refuses units out of order or repeated', () => {
    expect(refusal('30m1h')).toMatch(/units must go from largest to smallest.*"h" comes after "m"/);
    expect(refusal('1s1m')).toMatch(/"m" comes after "s"/);
    expect(refusal('1ms1s')).toMatch(/"s" comes after "ms"/);
    expect(refusal('1m1m')).toMatch(/unit "m" appears twice/);
  });

  it('refuses more than 100 years', () => {
    expect(refusal('101y')).toMatch(/more than 100 years/);
    expect(refusal('100y1ms')).toMatch(/more than 100 years/);
    expect(refusal(100 * 365 * D + 1)).toMatch(/more than 100 years/);
    expect(refusal('99999999999999999999999y')).toMatch(/more than 100 years/);
  });

  it('refuses spaces, signs and other junk', () => {
    expect(refusal(' 10s')).toMatch(/it contains spaces/);
    expect(refusal('10 s')).toMatch(/it contains spaces/);
    expect(refusal('1h 30m')).toMatch(/it contains spaces; write it without them, e.g. '1h30m'/);
    expect(refusal('+10s')).toMatch(/remove the '\+'/);
    expect(refusal('s')).toMatch(/expected a number/);
    expect(refusal('10s!')).toMatch(/expected a number at "!"/);
  });

  it('refuses values that are neither numbers nor strings', () => {
    expect(refusal(null, 'retention')).toMatch(/^retention must be a duration: .* not null$/);
    expect(refusal({}, 'retention')).toMatch(/not object$/);
    expect(refusal(10n, 'retention')).toMatch(/not bigint$/);
  });

  it('uses the option name it is given', () => {
    expect(refusal('10x', 'schema "vcpu" retention')).toMatch(/^schema "vcpu" retention "10x" is not a duration/);
  });
});

describe('formatDuration', () => {
  it('uses the largest units', () => {
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(1500)).toBe('1s500ms');
    expect(formatDuration(604_800_000)).toBe('7d');
    expect(formatDuration(1)).toBe('1ms');
    expect(formatDuration(D + H + M + S + 1)).toBe('1d1h1m1s1ms');
    expect(formatDuration(365 * D)).toBe('365d');
  });

  it('skips zero units in the middle', () => {
    expect(formatDuration(D + 5 * S)).toBe('1d5s');
  });

  it('handles values outside the parse range without throwing', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(-1500)).toBe('-1s500ms');
    expect(formatDuration(1.6)).toBe('2ms');
    expect(formatDuration(NaN)).toBe('NaN');
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 1001, 59_999, 90 * M, 6 * H, 7 * D, 2 * 7 * D + 3 * H, 365 * D, 100 * 365 * D]) {
      expect(parseDuration(formatDuration(ms), 'x')).toBe(ms);
    }
    for (const text of ['1h30m', '1m30s500ms', '7d', '10m', '1d1h1m1s1ms']) {
      expect(formatDuration(parseDuration(text, 'x'))).toBe(text);
    }
  });
});
