// A query for "everything" answers with what the store holds: a range too long for the point
// limit (start: 0, an end far ahead of the clock) is cut to the intervals the rings can hold, for
// query() and select() alike; shorter ranges are answered as asked; the limit stays for ranges a
// ring really covers.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_QUERY_POINTS, Store, type SchemaOptions } from '../src/index';
import { tempDir } from './helpers';

const SCHEMA: SchemaOptions = {
  name: 'vm',
  match: {},
  maxSeries: 4,
  tiers: [
    { interval: '1s', retention: '10m' },
    { interval: '10s', retention: '1h', consolidate: 'avg' },
  ],
};

let open: Store[] = [];
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

function filled(): { store: Store; t0: number } {
  const store = Store.open(tempDir(), { schemas: [SCHEMA] });
  open.push(store);
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 120_000;
  const a = store.register('vcpu_exits_total', { reason: 'io' }, { kind: 'counter' });
  const b = store.register('vcpu_exits_total', { reason: 'mmio' }, { kind: 'counter' });
  for (let i = 0; i < 100; i++) {
    store.record(a, 10 * i, t0 + i * 1000);
    store.record(b, 3 * i, t0 + i * 1000);
  }
  store.consolidate();
  return { store, t0 };
}

describe('a query for everything', () => {
  it('query(h, { start: 0, end: Date.now() }) returns every recorded point of the finest tier', () => {
    const { store, t0 } = filled();
    const h = store.find('vcpu_exits_total', { reason: 'io' })!;
    const r = store.query(h, { start: 0, end: Date.now(), tier: 0 });
    expect(r.timestamps.length).toBeLessThanOrEqual(3600 + 10); // back to what the 1 h tier's ring holds, at 1 s
    const got = new Map<number, number>();
    r.timestamps.forEach((ts, i) => {
      if (!Number.isNaN(r.values[i])) got.set(ts, r.values[i] as number);
    });
    expect(got.size).toBe(100);
    for (let i = 0; i < 100; i++) expect(got.get(t0 + i * 1000)).toBe(10 * i);
  });

  it("tier 'auto' and 'stitch' answer start: 0 too, each from the rings that hold the data", () => {
    const { store, t0 } = filled();
    const h = store.find('vcpu_exits_total', { reason: 'mmio' })!;
    const stitched = store.query(h, { start: 0, end: Date.now(), tier: 'stitch' });
    let last = stitched.values.length - 1;
    while (last >= 0 && Number.isNaN(stitched.values[last])) last--;
    expect(stitched.timestamps[last]).toBe(t0 + 99_000);
    expect(stitched.values[last]).toBe(297);
    const auto = store.query(h, { start: 0, end: Date.now() });
    expect(auto.tier).toBe(1); // only the 1 h tier's ring reaches back furthest
    expect(auto.values.some((v) => !Number.isNaN(v))).toBe(true);
  });

  it('an end ahead of the clock is cut to now', () => {
    const { store } = filled();
    const h = store.find('vcpu_exits_total', { reason: 'io' })!;
    const before = Date.now();
    const r = store.query(h, { start: 0, end: 1e15, tier: 0 });
    expect(r.timestamps[r.timestamps.length - 1]).toBeLessThanOrEqual(Date.now());
    expect(r.timestamps[r.timestamps.length - 1]).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
  });

  it('select() cuts once for all series: every result has the same timestamps', () => {
    const { store } = filled();
    const rs = store.select('vcpu_exits_total', { start: 0, end: Date.now(), tier: 0 });
    expect(rs).toHaveLength(2);
    expect(Array.from(rs[1]!.timestamps)).toEqual(Array.from(rs[0]!.timestamps));
  });

  it('a range within the point limit is answered as asked, NaN where nothing was recorded', () => {
    const { store, t0 } = filled();
    const h = store.find('vcpu_exits_total', { reason: 'io' })!;
    const r = store.query(h, { start: t0 - 10_000, end: t0 + 9_000, tier: 0 });
    expect(r.timestamps.length).toBe(20);
    expect(r.timestamps[0]).toBe(t0 - 10_000);
    expect(Number.isNaN(r.values[0])).toBe(true);
    expect(r.values[19]).toBe(90);
    // Before the rings too: the shape of the answer follows the range, not the data.
    const before = store.query(h, { start: t0 - 3 * 3_600_000, end: t0 - 3 * 3_600_000 + 9_000, tier: 0 });
    expect(before.timestamps.length).toBe(10);
    expect(before.values.every((v) => Number.isNaN(v))).toBe(true);
  });

  it('a range wholly before what the rings hold has no point outside it', () => {
    const { store, t0 } = filled();
    const h = store.find('vcpu_exits_total', { reason: 'io' })!;
    const end = t0 - 5 * 3_600_000 + 500; // before the 1 h tier's ring, not on a step
    const r = store.query(h, { start: 0, end });
    expect(r.timestamps.length).toBe(0);
    const aligned = store.query(h, { start: 0, end: t0 - 5 * 3_600_000, tier: 0 });
    expect(Array.from(aligned.timestamps)).toEqual([t0 - 5 * 3_600_000]);
    expect(Number.isNaN(aligned.values[0])).toBe(true);
  });

  it('an empty store answers start: 0 with a ring of missing points, not an error', () => {
    const store = Store.open(tempDir(), { schemas: [SCHEMA] });
    open.push(store);
    const h = store.register('g');
    const r = store.query(h, { start: 0, end: Date.now(), tier: 0 });
    expect(r.timestamps.length).toBeGreaterThan(0);
    expect(r.timestamps.length).toBeLessThanOrEqual(3600 + 10); // what the 1 h tier's ring could hold, at 1 s
    expect(r.values.every((v) => Number.isNaN(v))).toBe(true);
  });

  it('the point limit stays for a range a ring really covers', () => {
    // A 1 ms tier whose ring holds more intervals than one query may return.
    const slots = MAX_QUERY_POINTS + 1000;
    const store = Store.open(tempDir(), {
      schemas: [{ name: 'fine', match: {}, maxSeries: 1, tiers: [{ interval: 1, retention: slots }] }],
    });
    open.push(store);
    const h = store.register('g');
    const now = Date.now();
    store.record(h, 1, now);
    expect(() => store.query(h, { start: now - slots + 1, end: now, tier: 0 })).toThrow(/over the limit of 10000000; narrow the range/);
    expect(store.query(h, { start: now - 1000, end: now, tier: 0 }).values[1000]).toBe(1);
  });
});
