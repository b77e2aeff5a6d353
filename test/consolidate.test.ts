import { describe, expect, it } from 'vitest';
import { Store, type SchemaOptions } from '../src/index';
import { alignedPast, tempDir } from './helpers';

const SCHEMA = (xff?: number): SchemaOptions => ({
  name: 'c',
  match: {},
  maxSeries: 4,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', consolidate: 'avg', ...(xff === undefined ? {} : { xff }) },
    { interval: '1m', retention: '1d', consolidate: 'max' },
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
    for (let i = 1; i < s.timestamps.length; i++) expect(s.timestamps[i]!).toBeGreaterThan(s.timestamps[i - 1]!);
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
