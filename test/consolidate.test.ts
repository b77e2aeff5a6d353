import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, AggregateNotKeptError, ConfigError, Store, type SchemaOptions, type SeriesHandle } from '../src/index';
import { alignedPast, tempDir } from './helpers';

/** Every aggregate, as float64: the tests of what each one holds. */
const ALL = { aggregates: AGGREGATIONS, precision: 'float64' } as const;

const SCHEMA = (xff?: number): SchemaOptions => ({
  name: 'c',
  match: {},
  maxSeries: 4,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', consolidate: 'avg', ...ALL, ...(xff === undefined ? {} : { xff }) },
    { interval: '1m', retention: '1d', consolidate: 'max', ...ALL },
  ],
});

describe('consolidation', () => {
  it('keeps what each aggregation needs: avg, min, max, sum, count and last of a bucket', () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA()] });
    const h = store.register('g');
    const t0 = alignedPast(1_800_000, 60_000);
    const vals = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0];
    vals.forEach((v, i) => store.record(h, v, t0 + i * 1000));
    store.consolidate({ now: t0 + 60_000 });
    const q = (agg: 'avg' | 'min' | 'max' | 'sum' | 'count' | 'last') => store.query(h, { start: t0, end: t0, tier: 1, agg }).values[0];
    expect(q('avg')).toBe(4.5);
    expect(q('min')).toBe(0);
    expect(q('max')).toBe(9);
    expect(q('sum')).toBe(45);
    expect(q('count')).toBe(10);
    expect(q('last')).toBe(0);
    // The tier's own `consolidate` is the default.
    expect(store.query(h, { start: t0, end: t0, tier: 1 }).agg).toBe('avg');
    expect(store.query(h, { start: t0, end: t0, tier: 1 }).values[0]).toBe(4.5);
    store.close();
  });

  it("a counter's consolidated point is its running total at the end of the bucket, whatever the tier's consolidate", () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA()] });
    const c = store.register('c_total', {}, { kind: 'counter' });
    const t0 = alignedPast(1_800_000, 60_000);
    for (let i = 0; i < 20; i++) store.record(c, 100 + i * 3, t0 + i * 1000);
    store.consolidate({ now: t0 + 60_000 });
    const q = store.query(c, { start: t0, end: t0 + 10_000, tier: 1 });
    expect(q.agg).toBe('last');
    expect(Array.from(q.values)).toEqual([127, 157]); // 100 + 9 * 3, 100 + 19 * 3
    expect(store.query(c, { start: t0, end: t0, tier: 1, agg: 'last' }).values[0]).toBe(127);
    // That is all a counter keeps there, whatever the tier declares for gauges.
    for (const agg of ['avg', 'min', 'max', 'sum', 'count'] as const)
      expect(() => store.query(c, { start: t0, end: t0, tier: 1, agg })).toThrow(
        expect.objectContaining({ name: 'AggregateNotKeptError', message: expect.stringMatching(/c_total is a counter: consolidated tiers keep its last value/) }),
      );
    // Tier 0 keeps every raw point: any aggregate of it.
    expect(store.query(c, { start: t0, end: t0, tier: 0, agg: 'max' }).values[0]).toBe(100);
    store.close();
  });

  it('cascades tier by tier, combining exactly (avg of the whole, not of averages)', () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA()] });
    const h = store.register('g');
    const t0 = alignedPast(1_800_000, 60_000);
    // First 10 s bucket: 10 points of 1; then 5 points of 100 in the second bucket.
    for (let i = 0; i < 10; i++) store.record(h, 1, t0 + i * 1000);
    for (let i = 10; i < 15; i++) store.record(h, 100, t0 + i * 1000);
    store.consolidate({ now: t0 + 120_000 });
    const m = (agg: 'avg' | 'count' | 'max' | 'min') => store.query(h, { start: t0, end: t0, tier: 2, agg }).values[0];
    expect(m('count')).toBe(15);
    expect(m('avg')).toBeCloseTo((10 + 500) / 15, 12);
    expect(m('max')).toBe(100);
    expect(m('min')).toBe(1);
    store.close();
  });

  it('missing is NaN, never 0, in every tier', () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA()] });
    const h = store.register('g');
    const other = store.register('other');
    const t0 = alignedPast(1_800_000, 60_000);
    for (let i = 0; i < 120; i++) store.record(other, 1, t0 + i * 1000);
    store.consolidate({ now: t0 + 180_000 });
    for (const tier of [0, 1, 2]) {
      const r = store.query(h, { start: t0, end: t0 + 60_000, tier });
      expect(r.values.length).toBeGreaterThan(0);
      for (const agg of ['avg', 'min', 'max', 'sum', 'count', 'last'] as const)
        expect(Array.from(store.query(h, { start: t0, end: t0 + 60_000, tier, agg }).values).every(Number.isNaN)).toBe(true);
    }
    store.close();
  });

  it('xff: a bucket missing more than xff of its points is missing; at or below, it is kept', () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA(0.5)] });
    const h = store.register('g');
    const t0 = alignedPast(1_800_000, 60_000);
    // bucket 0: 5 of 10 points (missing 0.5: kept); bucket 1: 4 of 10 (missing 0.6: dropped)
    for (let i = 0; i < 5; i++) store.record(h, 2, t0 + i * 1000);
    for (let i = 10; i < 14; i++) store.record(h, 3, t0 + i * 1000);
    store.consolidate({ now: t0 + 60_000 });
    const r = store.query(h, { start: t0, end: t0 + 10_000, tier: 1 });
    expect(r.values[0]).toBe(2);
    expect(r.values[1]).toBeNaN();
    expect(store.query(h, { start: t0 + 10_000, end: t0 + 10_000, tier: 1, agg: 'count' }).values[0]).toBeNaN();
    store.close();
  });

  it('only completed buckets are consolidated, and a restart resumes from the persisted cursor', () => {
    const dir = tempDir();
    const t0 = alignedPast(1_800_000, 60_000);
    let store = Store.open(dir, { schemas: [SCHEMA()] });
    let h = store.register('g');
    for (let i = 0; i < 25; i++) store.record(h, i, t0 + i * 1000);
    store.consolidate({ now: t0 + 25_000 }); // buckets 0 and 1 done; bucket 2 (20-29 s) is not
    expect(store.query(h, { start: t0, end: t0 + 20_000, tier: 1 }).values[2]).toBeNaN();
    const until = store.info().schemas[0]!.tiers[1]!.consolidatedUntil;
    expect(until).toBe(t0 + 20_000);
    store.close();

    store = Store.open(dir);
    expect(store.info().schemas[0]!.tiers[1]!.consolidatedUntil).toBe(t0 + 20_000);
    h = store.find('g')!;
    for (let i = 25; i < 30; i++) store.record(h, i, t0 + i * 1000);
    store.consolidate({ now: t0 + 30_000 });
    expect(Array.from(store.query(h, { start: t0, end: t0 + 20_000, tier: 1 }).values)).toEqual([4.5, 14.5, 24.5]);
    store.close();
  });

  it('consolidation with each function and with xff, across a restart', () => {
    const dir = tempDir();
    const XFF = 0.5;
    const schema: SchemaOptions = {
      name: 'x',
      match: {},
      maxSeries: 4,
      tiers: [
        { interval: '1s', retention: '10m' },
        { interval: '10s', retention: '1h', consolidate: 'max', xff: XFF, ...ALL },
        { interval: '1m', retention: '1d', consolidate: 'min', xff: XFF, ...ALL },
      ],
    };
    const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;
    type Agg = (typeof AGGS)[number];
    const t0 = alignedPast(1_800_000, 60_000);
    // Integers of both signs, so sums (and so averages) are exact.
    const value = (second: number) => ((second * 7) % 11) - 5;
    // The seconds recorded in each 10 s bucket, by offset in the bucket. Minute 0 is recorded
    // before the restart, minute 1 after it.
    const seconds: number[][] = [
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], // all 10
      [0, 1, 2, 4, 6, 9], // 6: missing 0.4, kept
      [1, 3, 5, 7, 9], // 5: missing 0.5, at the limit, kept
      [0, 2, 4, 8], // 4: missing 0.6, dropped
      [], // none
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [0, 1, 2, 3, 4],
      [0, 1, 3, 5, 7, 8],
      [2, 4, 6, 8, 9],
      [],
      [],
      [],
    ];
    const points = seconds.map((offs, b) => offs.map((o) => ({ ts: t0 + (b * 10 + o) * 1000, v: value(b * 10 + o) })));
    const NONE: Record<Agg, number> = { avg: NaN, min: NaN, max: NaN, sum: NaN, count: NaN, last: NaN };
    // What a bucket of these raw values (in time order) holds, `expectedPoints` raw points wide.
    const bucket = (vs: readonly number[], expectedPoints: number): Record<Agg, number> => {
      if (vs.length === 0 || 1 - vs.length / expectedPoints > XFF) return NONE;
      const sum = vs.reduce((a, v) => a + v, 0);
      return { avg: sum / vs.length, min: Math.min(...vs), max: Math.max(...vs), sum, count: vs.length, last: vs[vs.length - 1]! };
    };
    const tier1 = points.map((ps) => bucket(ps.map((p) => p.v), 10));
    // A point in bucket 1, recorded after the restart, once bucket 1 is consolidated.
    const late = { ts: t0 + 13_000, v: 1000 };
    // A 1 m bucket is made of the raw points of tier 0, which still holds the minute: every one
    // of them, those of a 10 s bucket tier 1 dropped and the late one included.
    const tier2 = [0, 1].map((m) =>
      bucket(
        [...points.slice(m * 6, m * 6 + 6).flat(), ...(m === 0 ? [late] : [])].sort((a, b) => a.ts - b.ts).map((p) => p.v),
        60,
      ),
    );
    const q = (s: Store, h: SeriesHandle, tier: 1 | 2, agg?: Agg) =>
      s.query(h, { tier, start: t0, end: t0 + (tier === 1 ? 110_000 : 60_000), ...(agg === undefined ? {} : { agg }) });
    const want = (tier: 1 | 2, agg: Agg, buckets = tier === 1 ? tier1 : tier2) => new Float64Array(buckets.map((b) => b[agg]));

    let store = Store.open(dir, { schemas: [schema] });
    let h = store.register('g');
    for (const ps of points.slice(0, 6)) for (const p of ps) store.record(h, p.v, p.ts);
    store.consolidate({ now: t0 + 30_000 }); // buckets 0-2 of minute 0; 3-5 wait
    const before = new Map(AGGS.map((agg) => [agg, Array.from(q(store, h, 1, agg).values.subarray(0, 3))]));
    for (const agg of AGGS) {
      expect(before.get(agg)).toEqual(Array.from(want(1, agg, tier1.slice(0, 3))));
      expect(Array.from(q(store, h, 1, agg).values.subarray(3)).every(Number.isNaN)).toBe(true);
    }
    store.close();

    store = Store.open(dir); // as on disk
    const tiers = store.info().schemas[0]!.tiers;
    expect(tiers.map((t) => [t.consolidate, t.xff])).toEqual([['avg', 1], ['max', XFF], ['min', XFF]]);
    expect(tiers[1]!.consolidatedUntil).toBe(t0 + 30_000);
    expect(tiers[2]!.consolidatedUntil).toBe(t0); // minute 0 is not complete in tier 1 yet
    h = store.find('g')!;
    for (const ps of points.slice(6)) for (const p of ps) store.record(h, p.v, p.ts);
    // A point in bucket 1, consolidated before the restart: tier 0 takes it, tier 1 does not again.
    expect(seconds[1]).not.toContain(3);
    store.record(h, late.v, late.ts);
    expect(store.query(h, { tier: 0, start: late.ts, end: late.ts }).values[0]).toBe(1000);
    store.consolidate({ now: t0 + 120_000 });

    for (const agg of AGGS) {
      expect(q(store, h, 1, agg).values, `tier 1 ${agg}`).toEqual(want(1, agg));
      expect(q(store, h, 2, agg).values, `tier 2 ${agg}`).toEqual(want(2, agg));
      // Buckets consolidated before the restart: the same, not counted twice, without the late point.
      expect(Array.from(q(store, h, 1, agg).values.subarray(0, 3))).toEqual(before.get(agg));
    }
    // Without agg, each tier answers with its own `consolidate`.
    const d1 = q(store, h, 1);
    expect(d1.agg).toBe('max');
    expect(d1.values).toEqual(want(1, 'max'));
    const d2 = q(store, h, 2);
    expect(d2.agg).toBe('min');
    expect(d2.values).toEqual(want(2, 'min'));
    // Over the xff limit is missing (NaN), never 0: bucket 3 (4 of 10 points), bucket 4 (none),
    // and minute 1 (16 of 60 raw points).
    for (const agg of AGGS) {
      const r1 = q(store, h, 1, agg).values;
      expect(r1[3], `tier 1 bucket 3 ${agg}`).toBeNaN();
      expect(r1[4], `tier 1 bucket 4 ${agg}`).toBeNaN();
      expect(r1[6], `tier 1 bucket 6 ${agg}`).not.toBeNaN();
      const r2 = q(store, h, 2, agg).values;
      expect(r2[0], `tier 2 minute 0 ${agg}`).not.toBeNaN();
      expect(r2[1], `tier 2 minute 1 ${agg}`).toBeNaN();
    }
    // Minute 0 counts the raw points tier 0 holds: bucket 3's 4, which tier 1 dropped, and the late one too.
    expect(q(store, h, 2, 'count').values[0]).toBe(10 + 6 + 5 + 4 + 10 + 1);
    const after = store.info().schemas[0]!.tiers;
    expect(after[1]!.consolidatedUntil).toBe(t0 + 120_000);
    expect(after[2]!.consolidatedUntil).toBe(t0 + 120_000);
    store.close();
  });

  it('a bucket tier 0 no longer holds is made from the tier below: exactly from its sum and count, from its averages when it keeps no count', () => {
    const t0 = alignedPast(1_800_000, 60_000);
    // Minute 0 of a gauge: bucket 0 holds 10 points of 1, bucket 1 two points of 100, bucket 2 one
    // of 4, the others none (13 raw points of 60). A counter is recorded every second.
    const points: Array<[number, number]> = [...Array.from({ length: 10 }, (_, i): [number, number] => [i, 1]), [10, 100], [11, 100], [25, 4]];
    const run = (tier1: object, xff: number) => {
      const store = Store.open(tempDir(), {
        schemas: [
          {
            name: 'r',
            match: {},
            maxSeries: 2,
            // Tier 0 holds 30 s: when minute 0 ends, its first half is gone from tier 0.
            tiers: [{ interval: '1s', retention: '30s' }, { interval: '10s', retention: '10m', ...tier1 }, { interval: '1m', retention: '1h', xff, ...ALL }],
          },
        ],
      });
      const h = store.register('g');
      const c = store.register('c_total', {}, { kind: 'counter' });
      const byTime = new Map(points);
      for (let sec = 0; sec < 120; sec++) {
        const v = byTime.get(sec);
        if (v !== undefined) store.record(h, v, t0 + sec * 1000);
        store.record(c, 50 + sec, t0 + sec * 1000);
        store.consolidate({ now: t0 + (sec + 1) * 1000 });
      }
      const at = (agg: 'avg' | 'min' | 'max' | 'sum' | 'count' | 'last') => store.query(h, { start: t0, end: t0, tier: 2, agg }).values[0];
      const r = { avg: at('avg'), min: at('min'), max: at('max'), sum: at('sum'), count: at('count'), last: at('last'), counter: store.query(c, { start: t0, end: t0, tier: 2 }).values[0] };
      store.close();
      return r;
    };
    // With sum and count kept below, exact; 13 of 60 raw points is over xff 0.5: dropped.
    expect(run({ ...ALL }, 0.5).count).toBeNaN();
    expect(run({ ...ALL }, 1)).toEqual({ avg: (10 + 200 + 4) / 13, min: 1, max: 100, sum: 214, count: 13, last: 4, counter: 109 });
    // Keeping no count below, each bucket present counts as full (10 raw points), so its average
    // weighs as much as any other: (1 + 100 + 4) / 3, from 30 of 60 points, kept by xff 0.5.
    const fromAvg = run({ aggregates: ['avg', 'max', 'min', 'last'] }, 0.5);
    expect(fromAvg.count).toBe(30);
    expect(fromAvg.avg).toBeCloseTo((1 + 100 + 4) / 3, 5);
    expect(fromAvg.sum).toBeCloseTo(10 * (1 + 100 + 4), 3);
    expect([fromAvg.min, fromAvg.max, fromAvg.last, fromAvg.counter]).toEqual([1, 100, 4, 109]);
    // min and last cannot be made from a tier that does not keep them: such a schema is refused.
    expect(() => run({}, 0.5)).toThrow(/tier 2 keeps min, which it cannot make from tier 1/);
  });

  it('a tier keeps its consolidate and max unless told otherwise, as float32; other aggregates are refused by name', () => {
    const store = Store.open(tempDir(), {
      schemas: [
        {
          name: 'd',
          match: {},
          maxSeries: 2,
          tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }, { interval: '1m', retention: '1d', consolidate: 'max' }],
        },
      ],
    });
    const tiers = store.info().schemas[0]!.tiers;
    expect(tiers.map((t) => [t.consolidate, t.aggregates, t.precision])).toEqual([
      ['avg', [...AGGREGATIONS], 'float64'],
      ['avg', ['avg', 'max'], 'float32'],
      ['max', ['avg', 'max'], 'float32'],
    ]);
    const h = store.register('g');
    const t0 = alignedPast(1_800_000, 60_000);
    // 0.1 and 1/3 are not float32 numbers: their average comes back within float32's precision.
    const vals = [0.1, 1 / 3, 16_777_217, 2];
    vals.forEach((v, i) => store.record(h, v, t0 + i * 1000));
    store.consolidate({ now: t0 + 60_000 });
    const avg = vals.reduce((a, b) => a + b, 0) / vals.length;
    const got = store.query(h, { start: t0, end: t0, tier: 1 }).values[0]!;
    expect(Math.abs(got - avg)).toBeLessThanOrEqual(avg * 2 ** -24);
    expect(got).toBe(Math.fround(avg));
    // Integers are exact up to 2^24; 2^24 + 1 is not a float32.
    expect(store.query(h, { start: t0, end: t0, tier: 1, agg: 'max' }).values[0]).toBe(16_777_216);
    expect(store.query(h, { start: t0, end: t0, tier: 2 }).values[0]).toBe(16_777_216);
    for (const agg of ['min', 'sum', 'count', 'last'] as const) {
      let err: unknown;
      try {
        store.query(h, { start: t0, end: t0, tier: 1, agg });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AggregateNotKeptError);
      expect((err as Error).message).toMatch(new RegExp(`schema "d" tier 1 keeps avg, max, not ${agg}; .*aggregates: \\['avg', 'max', '${agg}'\\]`));
    }
    // 'auto' and 'stitch' use only the tiers that keep what is asked for: tier 0 for min.
    expect(store.query(h, { start: t0 - 3_600_000, end: t0 + 3000, agg: 'min' }).tier).toBe(0);
    expect(store.query(h, { start: t0 - 3_600_000, end: t0 + 3000, agg: 'max' }).tier).toBe(2);
    expect(store.query(h, { start: t0, end: t0 + 3000, tier: 'stitch', agg: 'min' }).segments.map((g) => g.tier)).toEqual([0]);
    store.close();
  });

  it('declared aggregates: what they cost, what they need, what is refused', () => {
    const tiers = (t1: object, t2: object = {}) => [{ interval: '1s', retention: '1m' }, { interval: '10s', retention: '10m', ...t1 }, { interval: '1m', retention: '1h', ...t2 }];
    const open = (t1: object, t2?: object) => Store.open(tempDir(), { schemas: [{ name: 'a', match: {}, maxSeries: 10, tiers: tiers(t1, t2) }] });
    const bytes = (t1: object) => {
      const s = open(t1, { aggregates: ['avg'] });
      const b = s.info().schemas[0]!.tiers[1]!.bytes;
      s.close();
      return b;
    };
    // Rows of 60 buckets: an 8-byte tag and 10 cells; a cell holds what the gauges need, at least
    // a counter's 8-byte total.
    const header = bytes({}) - 60 * (8 + 10 * 8);
    expect(header).toBe(512);
    expect(bytes({ aggregates: ['avg'] })).toBe(header + 60 * (8 + 10 * 8));
    expect(bytes({ aggregates: ['avg', 'max', 'min'] })).toBe(header + 60 * (8 + 10 * 16));
    expect(bytes({ aggregates: AGGREGATIONS })).toBe(header + 60 * (8 + 10 * 24));
    expect(bytes({ aggregates: AGGREGATIONS, precision: 'float64' })).toBe(header + 60 * (8 + 10 * 48));
    expect(bytes({ aggregates: ['avg', 'max'], precision: 'float64' })).toBe(header + 60 * (8 + 10 * 16));
    // consolidate defaults to avg, or to the first aggregate declared without it.
    const s = open({ aggregates: ['max', 'min'] }, { aggregates: ['max'] });
    expect(s.info().schemas[0]!.tiers[1]!.consolidate).toBe('max');
    s.close();
    const refused = (t1: object, t2: object | undefined, why: RegExp) => expect(() => open(t1, t2)).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(why) }));
    refused({ aggregates: [] }, undefined, /tier 1 aggregates must be a non-empty array/);
    refused({ aggregates: ['median'] }, undefined, /tier 1 aggregate "median" is not one of avg, min, max, sum, count, last/);
    refused({ aggregates: ['max', 'max'] }, undefined, /name one twice/);
    refused({ aggregates: ['max'], consolidate: 'avg' }, undefined, /consolidate avg is not among its aggregates \(max\); add 'avg'/);
    refused({ precision: 'float16' }, undefined, /precision "float16" is not one of float32, float64/);
    refused({}, { aggregates: ['min'] }, /tier 2 keeps min, which it cannot make from tier 1 \(which keeps avg, max\).*add 'min' to tier 1's aggregates/);
    expect(() => Store.open(tempDir(), { schemas: [{ name: 'z', tiers: [{ interval: '1s', retention: '1m', aggregates: ['max'] }] }] })).toThrow(/tier 0 is the raw tier/);
    // avg is made from sum and count where only those are kept.
    const sc = open({ aggregates: ['sum', 'count'] }, { aggregates: ['avg', 'sum'] });
    expect(sc.info().schemas[0]!.tiers[1]!.consolidate).toBe('avg');
    sc.close();
    // Reopening with other aggregates or precision is a schema mismatch.
    const dir = tempDir();
    Store.open(dir, { schemas: [{ name: 'a', match: {}, maxSeries: 10, tiers: tiers({}) }] }).close();
    expect(() => Store.open(dir, { schemas: [{ name: 'a', match: {}, maxSeries: 10, tiers: tiers({ aggregates: ['avg', 'max', 'min'] }) }] })).toThrow(
      /tier 1 aggregates avg, min, max differ from avg, max on disk/,
    );
    expect(() => Store.open(dir, { schemas: [{ name: 'a', match: {}, maxSeries: 10, tiers: tiers({ precision: 'float64' }) }] })).toThrow(
      /tier 1 precision float64 differs from float32 on disk/,
    );
  });

  it("auto picks the finest tier whose ring reaches back to start; stitch joins fine and coarse", () => {
    const store = Store.open(tempDir(), {
      schemas: [{ name: 's', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '1m' }, { interval: '10s', retention: '1h' }] }],
    });
    const h = store.register('g');
    const t0 = alignedPast(1_800_000, 60_000);
    // As the agent does: consolidate as time passes (each tick), before the 1 s ring wraps.
    for (let i = 0; i < 300; i++) {
      store.record(h, i, t0 + i * 1000);
      store.consolidate({ now: t0 + (i + 1) * 1000 });
    }
    const end = t0 + 299_000;
    expect(store.query(h, { start: end - 30_000, end }).tier).toBe(0);
    const far = store.query(h, { start: t0, end });
    expect(far.tier).toBe(1);
    expect(far.step).toBe(10_000);
    const s = store.query(h, { start: t0, end, tier: 'stitch' });
    expect(s.segments.map((g) => g.tier)).toEqual([1, 0]);
    expect(s.segments[1]!.start).toBe(t0 + 240_000); // the 1 s ring holds the last minute
    // Coarse before, fine after, strictly increasing timestamps, no gaps in value.
    for (let i = 1; i < s.timestamps.length; i++) expect(s.timestamps[i]).toBeGreaterThan(s.timestamps[i - 1]!);
    const fineStart = s.timestamps.indexOf(t0 + 240_000);
    expect(s.values[fineStart]).toBe(240);
    expect(s.values[fineStart - 1]).toBe(234.5); // the 10 s bucket 230..239
    expect(s.values[0]).toBe(4.5);
    store.close();
  });
});

describe('late writes', () => {
  it('a write older than its slot is refused with LateWriteError, counted, and leaves newer data alone', () => {
    const store = Store.open(tempDir(), { schemas: [{ name: 's', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '10s' }] }] });
    const h = store.register('g');
    const t0 = alignedPast(60_000, 1000);
    for (let i = 0; i < 15; i++) store.record(h, i, t0 + i * 1000);
    // t0 + 2 s shares its slot with t0 + 12 s, which is newer.
    expect(() => store.record(h, 999, t0 + 2000)).toThrow(
      expect.objectContaining({ name: 'LateWriteError', message: expect.stringMatching(/refused.*widen the tier's retention/) }),
    );
    expect(() => store.recordBatch(t0 + 3000, [h], [999])).toThrow(expect.objectContaining({ name: 'LateWriteError' }));
    expect(store.query(h, { start: t0 + 12_000, end: t0 + 13_000, tier: 0 }).values).toEqual(new Float64Array([12, 13]));
    expect(store.info().schemas[0]!.tiers[0]!.lateWrites).toBe(2);
    store.close();
  });
});
