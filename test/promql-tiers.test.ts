// Tier choice: a range older than tier 0's ring is answered from a consolidated tier, reading
// each bucket's aggregate the function needs (max for max_over_time, last for rate, sum and
// count for avg_over_time), checked against the raw data the test recorded; a tier that does not
// keep what a function needs is passed over.
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, Store, type Aggregation, type SchemaOptions, type TierInfo } from '../src/index';
import { chooseTier, instantQuery, rangeQuery } from '../src/promql';
import { alignedPast, tempDir } from './helpers';

const ALL = { aggregates: AGGREGATIONS, precision: 'float64' } as const;
const SCHEMA: SchemaOptions = {
  name: 't',
  match: {},
  maxSeries: 8,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '6h', ...ALL },
    { interval: '5m', retention: '7d', ...ALL },
  ],
};

describe('PromQL tier choice', () => {
  it('chooseTier: the finest tier covering the start, else the one reaching furthest back', () => {
    const tier = (index: number, intervalMs: number, oldest: number | null, aggregates: Aggregation[] = ['avg', 'max']): TierInfo =>
      ({ index, intervalMs, oldest, newest: oldest === null ? null : 1e12, aggregates }) as unknown as TierInfo;
    const tiers = [tier(0, 1000, 900_000), tier(1, 10_000, 500_000), tier(2, 300_000, 100_000)];
    expect(chooseTier(tiers, 950_000, 15_000)?.index).toBe(0);
    expect(chooseTier(tiers, 600_000, 15_000)?.index).toBe(1);
    expect(chooseTier(tiers, 600_000, Infinity)?.index).toBe(1);
    expect(chooseTier(tiers, 200_000, 15_000)?.index).toBe(2);
    expect(chooseTier(tiers, 50_000, 15_000)?.index).toBe(2);
    expect(chooseTier([tier(0, 1000, null), tier(1, 10_000, null)], 0, 1000)?.index).toBe(0);
    // Only the tiers that keep what is needed: min is in tier 0 alone here, avg-weighted takes
    // avg (or sum and count), and samples (last) come from any tier.
    expect(chooseTier(tiers, 200_000, 15_000, 'min')?.index).toBe(0);
    expect(chooseTier(tiers, 200_000, 15_000, 'max')?.index).toBe(2);
    expect(chooseTier(tiers, 200_000, 15_000, 'avg-weighted')?.index).toBe(2);
    expect(chooseTier(tiers, 200_000, 15_000, 'last')?.index).toBe(2);
    const sumCount = [tier(0, 1000, 900_000), tier(1, 10_000, 500_000, ['sum', 'count']), tier(2, 300_000, 100_000, ['max'])];
    expect(chooseTier(sumCount, 200_000, 15_000, 'avg-weighted')?.index).toBe(1);
  });

  it('answers an old range from tier 1 with the aggregate each function needs', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [SCHEMA] });
    const g = store.register('temp', { room: 'a' });
    const c = store.register('work_total', { room: 'a' }, { kind: 'counter' });
    const seconds = 7200;
    const t0 = alignedPast(seconds * 1000 + 60_000, 300_000);
    const raw = new Map<number, number>();
    for (let i = 0; i < seconds; i++) {
      const ts = t0 + i * 1000;
      store.record(c, 5 * i, ts);
      // Gaps of uneven length, so buckets hold different counts: a weighted average differs from
      // an average of the buckets' averages.
      if (i % 10 < (i % 7) % 4) continue;
      const v = ((i * 7919) % 1000) / 4;
      store.record(g, v, ts);
      raw.set(ts, v);
      if (i % 60 === 59) store.consolidate({ now: ts + 1000 });
    }
    store.consolidate({ now: t0 + seconds * 1000 });

    // 90 to 60 minutes ago: long out of tier 0 (10 minutes).
    const start = t0 + 1800_000;
    const end = t0 + 3600_000;
    const step = 60_000;
    const rawIn = (from: number, to: number): number[] => {
      const out: number[] = [];
      for (const [ts, v] of raw) if (ts >= from && ts < to) out.push(v);
      return out;
    };
    // A bucket of 10 s is a sample at its start: a window [t-1m, t] takes the buckets starting in
    // it, i.e. the raw points of [t-1m, t+10s).
    const max = rangeQuery(store, 'max_over_time(temp[1m])', start, end, step);
    expect(max.rondo.tiers).toEqual([{ selector: 'temp[1m]', tier: 1, stepMs: 10_000, agg: 'max' }]);
    const maxValues = (max.result as Array<{ values: Array<[number, string]> }>)[0]!.values;
    expect(maxValues.length).toBe(31);
    for (const [t, v] of maxValues) expect(Number(v)).toBe(Math.max(...rawIn(t * 1000 - 60_000, t * 1000 + 10_000)));

    const avg = rangeQuery(store, 'avg_over_time(temp[1m])', start, end, step);
    expect(avg.rondo.tiers).toEqual([{ selector: 'temp[1m]', tier: 1, stepMs: 10_000, agg: 'sum,count' }]);
    for (const [t, v] of (avg.result as Array<{ values: Array<[number, string]> }>)[0]!.values) {
      const xs = rawIn(t * 1000 - 60_000, t * 1000 + 10_000);
      expect(Number(v)).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / xs.length, 9);
    }

    const min = rangeQuery(store, 'min_over_time(temp[1m])', start, end, step);
    expect(min.rondo.tiers[0]!.agg).toBe('min');
    for (const [t, v] of (min.result as Array<{ values: Array<[number, string]> }>)[0]!.values)
      expect(Number(v)).toBe(Math.min(...rawIn(t * 1000 - 60_000, t * 1000 + 10_000)));

    const count = rangeQuery(store, 'count_over_time(temp[1m])', start, end, step);
    expect(count.rondo.tiers[0]!.agg).toBe('count');
    for (const [t, v] of (count.result as Array<{ values: Array<[number, string]> }>)[0]!.values)
      expect(Number(v)).toBe(rawIn(t * 1000 - 60_000, t * 1000 + 10_000).length);

    // The counter's buckets' last values: 5 per second exactly.
    const rate = rangeQuery(store, 'rate(work_total[5m])', start, end, step);
    expect(rate.rondo.tiers).toEqual([{ selector: 'work_total[5m]', tier: 1, stepMs: 10_000, agg: 'last' }]);
    for (const [, v] of (rate.result as Array<{ values: Array<[number, string]> }>)[0]!.values) expect(Number(v)).toBeCloseTo(5, 9);

    // Recent data comes from tier 0.
    const now = instantQuery(store, 'temp', t0 + (seconds - 1) * 1000);
    expect(now.rondo.tiers).toEqual([{ selector: 'temp', tier: 0, stepMs: 1000, agg: 'last' }]);
    // Nearly two hours ago, instant: the finest tier covering it, tier 1.
    const old = instantQuery(store, 'max_over_time(temp[10m])', t0 + 900_000);
    expect(old.rondo.tiers[0]!.tier).toBe(1);
    store.close();
  });

  it('with the default aggregates (avg and max): a selector reads the consolidate, avg_over_time the averages, and min_over_time tier 0', () => {
    const store = Store.open(tempDir(), {
      schemas: [{ ...SCHEMA, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '6h' }, { interval: '5m', retention: '7d' }] }],
    });
    const g = store.register('temp');
    const c = store.register('work_total', {}, { kind: 'counter' });
    const seconds = 3600;
    const t0 = alignedPast(seconds * 1000 + 60_000, 300_000);
    for (let i = 0; i < seconds; i++) {
      const ts = t0 + i * 1000;
      store.record(g, i % 10, ts); // each full 10 s bucket: average 4.5, max 9
      store.record(c, 5 * i, ts);
      if (i % 60 === 59) store.consolidate({ now: ts + 1000 });
    }
    const start = t0 + 600_000;
    const end = t0 + 1_200_000;
    const values = (d: ReturnType<typeof rangeQuery>) => (d.result as Array<{ values: Array<[number, string]> }>)[0]!.values.map(([, v]) => Number(v));
    const plain = rangeQuery(store, 'temp', start, end, 60_000);
    expect(plain.rondo.tiers).toEqual([{ selector: 'temp', tier: 1, stepMs: 10_000, agg: 'avg' }]);
    expect(new Set(values(plain))).toEqual(new Set([4.5]));
    const avg = rangeQuery(store, 'avg_over_time(temp[1m])', start, end, 60_000);
    expect(avg.rondo.tiers).toEqual([{ selector: 'temp[1m]', tier: 1, stepMs: 10_000, agg: 'avg' }]);
    expect(new Set(values(avg))).toEqual(new Set([4.5]));
    const max = rangeQuery(store, 'max_over_time(temp[1m])', start, end, 60_000);
    expect(max.rondo.tiers[0]!.agg).toBe('max');
    expect(new Set(values(max))).toEqual(new Set([9]));
    // No consolidated tier keeps min: tier 0, which no longer holds this range, answers nothing.
    const min = rangeQuery(store, 'min_over_time(temp[1m])', start, end, 60_000);
    expect(min.rondo.tiers).toEqual([{ selector: 'temp[1m]', tier: 0, stepMs: 1000, agg: 'min' }]);
    expect(min.result).toEqual([]);
    // A counter's buckets are its running totals; max_over_time of them is their largest.
    const cmax = rangeQuery(store, 'max_over_time(work_total[1m])', start, end, 60_000);
    expect(cmax.rondo.tiers).toEqual([{ selector: 'work_total[1m]', tier: 1, stepMs: 10_000, agg: 'last' }]);
    expect(values(cmax)[0]).toBe(5 * (600 + 9));
    store.close();
  });
});
