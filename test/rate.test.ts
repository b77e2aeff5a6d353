import { describe, it, expect } from 'vitest';
import { InvalidQueryError } from '../src/errors';
import { counterRate } from '../src/store/rate';

const T0 = 1_700_000_000_000;

/** counterRate over plain arrays; timestamps are T0 + the given seconds. */
function rate(seconds: number[], values: number[]): number[] {
  return Array.from(
    counterRate(Float64Array.from(seconds, (s) => T0 + s * 1000), Float64Array.from(values)),
  );
}

describe('counterRate', () => {
  it('gives the per-second increase since the previous point, NaN for the first', () => {
    expect(rate([0, 10, 20, 30], [100, 150, 150, 450])).toEqual([NaN, 5, 0, 30]);
  });

  it('divides by the actual time between points, in seconds from ms timestamps', () => {
    const out = counterRate(Float64Array.from([T0, T0 + 500, T0 + 2500]), Float64Array.from([0, 1, 5]));
    expect(Array.from(out)).toEqual([NaN, 2, 2]);
  });

  it('counts the new value as the whole increase after a counter reset', () => {
    // 100 → 130 (+30 in 10s), reset to 0 then counted up to 20 (+20 in 10s), then +10.
    expect(rate([0, 10, 20, 30], [100, 130, 20, 30])).toEqual([NaN, 3, 2, 1]);
  });

  it('treats a reset to zero as no increase', () => {
    expect(rate([0, 10, 20], [500, 0, 40])).toEqual([NaN, 0, 4]);
  });

  it('gives NaN at missing points and spans the gap from the last present point', () => {
    // Missing at 10s and 20s: the point at 30s is compared with the one at 0s.
    expect(rate([0, 10, 20, 30, 40], [100, NaN, NaN, 160, 170])).toEqual([NaN, NaN, NaN, 2, 1]);
  });

  it('detects a reset across a gap', () => {
    expect(rate([0, 10, 20], [100, NaN, 40])).toEqual([NaN, NaN, 2]);
  });

  it('gives NaN for the first present point even after leading gaps', () => {
    expect(rate([0, 10, 20, 30], [NaN, NaN, 50, 80])).toEqual([NaN, NaN, NaN, 3]);
  });

  it('gives all NaN when no point is present, and an empty result for no points', () => {
    expect(rate([0, 10], [NaN, NaN])).toEqual([NaN, NaN]);
    expect(rate([], [])).toEqual([]);
  });

  it('skips a point whose timestamp is NaN like a missing value', () => {
    const ts = Float64Array.from([T0, NaN, T0 + 20_000]);
    expect(Array.from(counterRate(ts, Float64Array.from([0, 999, 40])))).toEqual([NaN, NaN, 2]);
  });

  it('gives NaN rather than Infinity when two points share a timestamp', () => {
    expect(rate([0, 0, 10], [1, 5, 25])).toEqual([NaN, NaN, 2]);
  });

  it('returns a new Float64Array of the same length and leaves the input alone', () => {
    const ts = Float64Array.from([T0, T0 + 1000]);
    const vs = Float64Array.from([1, 2]);
    const out = counterRate(ts, vs);
    expect(out).toBeInstanceOf(Float64Array);
    expect(out).not.toBe(vs);
    expect(Array.from(vs)).toEqual([1, 2]);
    expect(Array.from(ts)).toEqual([T0, T0 + 1000]);
  });

  it('refuses arrays of different lengths', () => {
    expect(() => counterRate(new Float64Array(2), new Float64Array(3))).toThrow(InvalidQueryError);
  });
});
