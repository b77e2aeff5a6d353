import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { alignedPast, tempDir, VMM_SCHEMA } from './helpers';

describe('record and query', () => {
  it('reads back every recorded point from the raw tier, with NaN where nothing was recorded', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const h = store.register('vcpu_exits_total', { reason: 'io' }, { kind: 'counter' });
    const t0 = alignedPast(120_000, 1000);
    for (let i = 0; i < 60; i++) if (i !== 30) store.record(h, i * 7, t0 + i * 1000);
    const r = store.query(h, { start: t0, end: t0 + 59_000, tier: 0 });
    expect(r.tier).toBe(0);
    expect(r.step).toBe(1000);
    expect(r.timestamps.length).toBe(60);
    expect(r.timestamps[0]).toBe(t0);
    expect(r.timestamps[59]).toBe(t0 + 59_000);
    for (let i = 0; i < 60; i++) {
      if (i === 30) expect(r.values[i]).toBeNaN();
      else expect(r.values[i]).toBe(i * 7);
    }
    store.close();
  });

  it('round-trips through every tier, and again after close and reopen', () => {
    const dir = tempDir();
    const t0 = alignedPast(3_600_000);
    const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const h = store.register('cpu_load', { vcpu: '0' });
    // 10 minutes of 1 s points: value = second index.
    for (let i = 0; i < 600; i++) store.record(h, i, t0 + i * 1000);
    store.consolidate({ now: t0 + 600_000 });
    const check = (s: Store) => {
      const hh = s.find('cpu_load', { vcpu: '0' })!;
      const raw = s.query(hh, { start: t0, end: t0 + 599_000, tier: 0 });
      expect(Array.from(raw.values)).toEqual(Array.from({ length: 600 }, (_, i) => i));
      const t1 = s.query(hh, { start: t0, end: t0 + 590_000, tier: 1 });
      expect(t1.step).toBe(10_000);
      expect(t1.values.length).toBe(60);
      // bucket b holds seconds 10b..10b+9: average 10b + 4.5
      expect(Array.from(t1.values)).toEqual(Array.from({ length: 60 }, (_, b) => 10 * b + 4.5));
      const t2 = s.query(hh, { start: t0, end: t0 + 300_000, tier: 2 });
      expect(t2.step).toBe(300_000);
      expect(Array.from(t2.values)).toEqual([149.5, 449.5]);
      expect(s.query(hh, { start: t0, end: t0 + 300_000, tier: 2, agg: 'max' }).values[1]).toBe(599);
    };
    check(store);
    store.close();
    const again = Store.open(dir);
    check(again);
    again.close();
    const ro = Store.openReadOnly(dir);
    check(ro);
    ro.close();
  });

  it('register is idempotent, also across reopen, and keeps kinds apart', () => {
    const dir = tempDir();
    const s1 = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const a = s1.register('vcpu_exits_total', { reason: 'io', vcpu: '0' }, { kind: 'counter' });
    const b = s1.register('vcpu_exits_total', { vcpu: '0', reason: 'io' }, { kind: 'counter' });
    expect(b).toBe(a);
    const c = s1.register('vcpu_exits_total', { reason: 'mmio', vcpu: '0' }, { kind: 'counter' });
    expect(c.id).not.toBe(a.id);
    s1.close();
    const s2 = Store.open(dir);
    const a2 = s2.register('vcpu_exits_total', { reason: 'io', vcpu: '0' }, { kind: 'counter' });
    expect(a2.id).toBe(a.id);
    expect(a2.column).toBe(a.column);
    expect(() => s2.register('vcpu_exits_total', { reason: 'io', vcpu: '0' })).toThrow(/registered as a counter/);
    s2.close();
  });

  it('routes each series to the first schema whose match labels it has', () => {
    const dir = tempDir();
    const tiers = [{ interval: '1s', retention: '1m' }];
    const store = Store.open(dir, {
      schemas: [
        { name: 'kvm', match: { source: 'kvm' }, maxSeries: 4, tiers },
        { name: 'exits', match: { __name__: 'vcpu_exits_total' }, maxSeries: 4, tiers },
        { name: 'rest', match: {}, maxSeries: 4, tiers },
      ],
    });
    expect(store.register('halt_poll_ns', { source: 'kvm' }).schema).toBe('kvm');
    expect(store.register('vcpu_exits_total', { reason: 'hlt' }).schema).toBe('exits');
    expect(store.register('process_rss_bytes').schema).toBe('rest');
    store.close();
  });

  it('recordBatch writes every value at one timestamp, across schemas', () => {
    const dir = tempDir();
    const tiers = [{ interval: '1s', retention: '1m' }];
    const store = Store.open(dir, {
      schemas: [
        { name: 'a', match: { group: 'a' }, maxSeries: 8, tiers },
        { name: 'b', match: {}, maxSeries: 8, tiers },
      ],
    });
    const hs = [store.register('x', { group: 'a' }), store.register('y'), store.register('z', { group: 'a' })];
    const ts = alignedPast(5000, 1000);
    store.recordBatch(ts, hs, [1.5, 2.5, 3.5]);
    store.recordBatch(ts + 1000, hs, new Float64Array([4, 5, 6]));
    expect(hs.map((h) => Array.from(store.query(h, { start: ts, end: ts + 1000 }).values))).toEqual([
      [1.5, 4],
      [2.5, 5],
      [3.5, 6],
    ]);
    store.close();
  });

  it('select matches with every Prometheus matcher and returns name, labels and points', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
    const ts = alignedPast(5000, 1000);
    for (const reason of ['io', 'mmio', 'hlt']) store.record(store.register('vcpu_exits_total', { reason }, { kind: 'counter' }), reason.length, ts);
    store.record(store.register('process_rss_bytes'), 1e6, ts);
    const names = (sel: string) =>
      store
        .select(sel, { start: ts, end: ts })
        .map((r) => `${r.name}:${r.labels.reason ?? ''}=${r.values[0]}`)
        .sort();
    expect(names('vcpu_exits_total{reason=~"io|mmio"}')).toEqual(['vcpu_exits_total:io=2', 'vcpu_exits_total:mmio=4']);
    expect(names('vcpu_exits_total{reason!="io"}')).toEqual(['vcpu_exits_total:hlt=3', 'vcpu_exits_total:mmio=4']);
    expect(names('vcpu_exits_total{reason!~"m.*"}')).toEqual(['vcpu_exits_total:hlt=3', 'vcpu_exits_total:io=2']);
    expect(names('{__name__=~"process_.*"}')).toEqual(['process_rss_bytes:=1000000']);
    store.close();
  });

  it('record defaults the timestamp to now', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('g');
    const before = Date.now();
    store.record(h, 42);
    const last = store.lastPoint(h)!;
    expect(last[1]).toBe(42);
    expect(last[0]).toBeLessThanOrEqual(Date.now());
    expect(last[0]).toBeGreaterThan(before - 1000);
    store.close();
  });

  it('counter rates handle a reset', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('exits_total', {}, { kind: 'counter' });
    const t0 = alignedPast(60_000, 1000);
    [0, 10, 30, 5, 15].forEach((v, i) => store.record(h, v, t0 + i * 1000));
    const r = store.query(h, { start: t0, end: t0 + 4000, rate: true });
    expect(Array.from(r.values)).toEqual([NaN, 10, 20, 5, 10]);
    store.close();
  });
});

describe('tier-0 queries', () => {
  it('give a timestamp for every interval of the range and a value where the ring holds one, NaN before its oldest and after its newest', () => {
    const dir = tempDir();
    const SLOTS = 10;
    const store = Store.open(dir, { schemas: [{ name: 's', match: {}, maxSeries: 3, tiers: [{ interval: '1s', retention: '10s' }] }] });
    const hs = [store.register('a'), store.register('b'), store.register('c')];
    const t0 = alignedPast(120_000, 1000);
    // Two laps and a half; series c only in the first lap.
    for (let i = 0; i < 25; i++) hs.forEach((h, c) => (c < 2 || i < SLOTS ? store.record(h, 100 * c + i, t0 + i * 1000) : undefined));
    const expected = (c: number, from: number, n: number) =>
      Array.from({ length: n }, (_, j) => {
        const i = from + j;
        return i >= 15 && i < 25 && c < 2 ? 100 * c + i : NaN; // the ring holds seconds 15..24
      });
    const reader = Store.openReadOnly(dir);
    for (const s of [store, reader]) {
      const ss = s.series();
      for (let c = 0; c < 3; c++) {
        // Over three laps: from before the ring's oldest to after its newest.
        const r = s.query(ss[c]!, { start: t0 - 5000, end: t0 + 29_000, tier: 0 });
        expect(Array.from(r.timestamps)).toEqual(Array.from({ length: 35 }, (_, j) => t0 + (j - 5) * 1000));
        expect(Array.from(r.values)).toEqual(expected(c, -5, 35));
        const inRing = s.query(ss[c]!, { start: t0 + 16_000, end: t0 + 20_000, tier: 0 });
        expect(Array.from(inRing.values)).toEqual(expected(c, 16, 5));
        // count of raw points: 1 where there is one.
        expect(Array.from(s.query(ss[c]!, { start: t0 + 14_000, end: t0 + 15_000, tier: 0, agg: 'count' }).values)).toEqual(c < 2 ? [NaN, 1] : [NaN, NaN]);
      }
    }
    reader.close();
    store.close();
  });

  it('return arrays of their own: writing into one result changes no other', () => {
    const store = Store.open(tempDir(), { schemas: [VMM_SCHEMA] });
    const h = store.register('cpu_load');
    const t0 = alignedPast(120_000, 1000);
    for (let i = 0; i < 60; i++) store.record(h, i, t0 + i * 1000);
    const results = Array.from({ length: 50 }, () => store.query(h, { start: t0, end: t0 + 59_000, tier: 0 }));
    results.forEach((r, j) => {
      r.values.fill(-j);
      r.timestamps.fill(-j);
    });
    results.forEach((r, j) => expect([r.values.every((v) => v === -j), r.timestamps.every((v) => v === -j)]).toEqual([true, true]));
    expect(Array.from(store.query(h, { start: t0, end: t0 + 59_000, tier: 0 }).values)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    store.close();
  });
});

describe('wrap-around', () => {
  it('a series written only in the old lap reads as missing in the new lap, never the old value', () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [{ name: 's', match: {}, maxSeries: 4, tiers: [{ interval: '1s', retention: '10s' }] }] });
    const old = store.register('only_old_lap');
    const live = store.register('always');
    const t0 = alignedPast(60_000, 1000);
    for (let i = 0; i < 10; i++) {
      store.record(old, 100 + i, t0 + i * 1000);
      store.record(live, i, t0 + i * 1000);
    }
    // A second lap and a half: only `live` is written.
    for (let i = 10; i < 25; i++) store.record(live, i, t0 + i * 1000);
    const lap2 = store.query(old, { start: t0 + 15_000, end: t0 + 24_000, tier: 0 });
    expect(lap2.values.length).toBe(10);
    expect(Array.from(lap2.values).every(Number.isNaN)).toBe(true);
    const l = store.query(live, { start: t0 + 15_000, end: t0 + 24_000, tier: 0 });
    expect(Array.from(l.values)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    // The old lap is gone, not shown at its old time either.
    expect(Array.from(store.query(old, { start: t0, end: t0 + 9000, tier: 0 }).values).every(Number.isNaN)).toBe(true);
    store.close();
  });
});
