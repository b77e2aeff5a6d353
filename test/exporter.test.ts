import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store, type ExportBatch } from '../src/index';
import { alignedPast, tempDir } from './helpers';

const schema = (retention = '1h') => [{ name: 'e', match: {}, maxSeries: 16, tiers: [{ interval: '1s', retention }, { interval: '10s', retention: '1d' }] }];

/** Every sample of a batch as "ts name value", in the batch's order of series then samples. */
function flat(b: ExportBatch): Array<[number, string, number]> {
  return b.series.flatMap((s) => s.timestamps.map((t, i): [number, string, number] => [t, s.name, s.values[i]!]));
}

describe('exporters', () => {
  it('hands out every sample once, in time order across series, and only commit() moves the cursor', () => {
    const store = Store.open(tempDir(), { schemas: schema() });
    const hs = ['a', 'b', 'c'].map((n) => store.register(n));
    const t0 = alignedPast(600_000, 1000);
    for (let i = 0; i < 100; i++) hs.forEach((h, j) => store.record(h, i * 10 + j, t0 + i * 1000));
    const ex = store.exporter('dest');
    const again = ex.next({ maxSamples: 50 });
    const b1 = ex.next({ maxSamples: 50 });
    expect(flat(again)).toEqual(flat(b1)); // not committed: the same batch again
    const seen: Array<[number, string, number]> = [];
    let prevEnd = -Infinity;
    for (let b = b1; b.samples > 0; b = ex.next({ maxSamples: 50 })) {
      expect(b.samples).toBeLessThanOrEqual(50);
      expect(b.start!).toBeGreaterThanOrEqual(prevEnd); // batches do not go back in time
      for (const s of b.series) for (let i = 1; i < s.timestamps.length; i++) expect(s.timestamps[i]).toBeGreaterThan(s.timestamps[i - 1]!);
      prevEnd = b.end!;
      seen.push(...flat(b));
      b.commit();
    }
    seen.sort((x, y) => x[0] - y[0] || x[1].localeCompare(y[1]));
    const want = Array.from({ length: 100 }, (_, i) => ['a', 'b', 'c'].map((n, j): [number, string, number] => [t0 + i * 1000, n, i * 10 + j])).flat();
    expect(seen).toEqual(want);
    expect(ex.committedSamples).toBe(300);
    store.close();
  });

  it('resumes from the last commit after a restart', () => {
    const dir = tempDir();
    const t0 = alignedPast(600_000, 1000);
    let store = Store.open(dir, { schemas: schema() });
    const h = store.register('x');
    for (let i = 0; i < 30; i++) store.record(h, i, t0 + i * 1000);
    const b = store.exporter('dest').next({ maxSamples: 10 });
    b.commit();
    store.exporter('dest').next({ maxSamples: 10 }); // taken, never committed
    store.close();
    store = Store.open(dir);
    const n = store.exporter('dest').next({ maxSamples: 1000 });
    expect(n.series[0]!.values).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
    store.close();
  });

  it('after a crash, sends a pinned batch again as it was, not one that also holds what came since', () => {
    const dir = tempDir();
    const t0 = alignedPast(600_000, 1000);
    let store = Store.open(dir, { schemas: schema() });
    const [a, b] = [store.register('a'), store.register('b')];
    for (let i = 0; i < 10; i++) [a, b].forEach((h, j) => store.record(h, i * 10 + j, t0 + i * 1000));
    const ex = store.exporter('dest');
    ex.next({ maxSamples: 6 }).commit();
    const inFlight = ex.next({ maxSamples: 100, until: t0 + 10_000 }); // the rest: 14 samples
    inFlight.pin();
    store.close(); // the process dies here: sent, never committed
    store = Store.open(dir);
    for (let i = 10; i < 20; i++) ['a', 'b'].forEach((n, j) => store.record(store.find(n)!, i * 10 + j, t0 + i * 1000));
    const ex2 = store.exporter('dest');
    ex2.end([store.find('a')!, store.find('b')!], t0 + 20_000); // the series ended (an agent's stop)
    const again = ex2.next({ maxSamples: 100, until: t0 + 30_000 });
    expect(flat(again)).toEqual(flat(inFlight)); // no stale marker ahead of the samples recorded since
    again.commit();
    // Once the pinned end is reached, batches run to the limits again; the markers come last.
    const rest = ex2.next({ maxSamples: 100, until: t0 + 30_000 });
    expect(rest.samples).toBe(22);
    expect(rest.start).toBe(t0 + 10_000);
    expect(rest.series.map((s) => [s.name, s.stale])).toEqual([
      ['a', [10]],
      ['b', [10]],
    ]);
    rest.commit();
    expect(ex2.committedSamples).toBe(42);
    store.close();
  });

  it('leaves the interval in progress for later unless told to take it', () => {
    const store = Store.open(tempDir(), { schemas: schema() });
    const h = store.register('x');
    const now = Date.now();
    store.record(h, 1, now - 1000);
    store.record(h, 2, now);
    const ex = store.exporter('dest');
    expect(ex.next({ until: Math.floor(now / 1000) * 1000 }).samples).toBe(1);
    expect(ex.next({ until: Infinity }).samples).toBe(2);
    store.close();
  });

  it('counts samples the ring overwrote before they were exported, on the exporter and as a series', () => {
    const store = Store.open(tempDir(), { schemas: schema('10s') });
    const a = store.register('a');
    const b = store.register('b');
    const t0 = alignedPast(600_000, 1000);
    for (let i = 0; i < 5; i++) [a, b].forEach((h) => store.record(h, i, t0 + i * 1000));
    const ex = store.exporter('slow');
    ex.next({ maxSamples: 4 }).commit(); // exported up to and including t0+1s
    for (let i = 5; i < 30; i++) [a, b].forEach((h) => store.record(h, i, t0 + i * 1000)); // the ring laps
    const batch = ex.next({ maxSamples: 1000 });
    // The ring now holds seconds 20..29; seconds 2..19 of both series were lost.
    expect(batch.lost).toBe(36);
    expect(batch.series.find((s) => s.name === 'a')!.timestamps[0]).toBe(t0 + 20_000);
    batch.commit();
    expect(ex.lostSamples).toBe(36);
    const lostSeries = store.find('rondo_exporter_lost_samples_total', { exporter: 'slow' })!;
    expect(store.lastPoint(lostSeries)![1]).toBe(36);
    store.close();
  });

  it('end() sends a stale marker after the last sample of a series, once', () => {
    const store = Store.open(tempDir(), { schemas: schema() });
    const h = store.register('vm_up', { vm: '1' });
    const t0 = alignedPast(600_000, 1000);
    for (let i = 0; i < 5; i++) store.record(h, 1, t0 + i * 1000);
    const ex = store.exporter('dest');
    ex.end(h, t0 + 2000);
    const b = ex.next();
    const s = b.series[0]!;
    expect(s.timestamps).toEqual([t0, t0 + 1000, t0 + 2000, t0 + 3000, t0 + 4000, t0 + 5000]);
    expect(s.stale).toEqual([5]);
    expect(s.values[5]).toBeNaN();
    b.commit();
    expect(ex.next().samples).toBe(0);
    store.close();
  });

  it('drops the stale marker of a series recorded again in or after the marker\'s interval (no duplicate timestamp)', () => {
    const store = Store.open(tempDir(), { schemas: schema() });
    const h = store.register('vm_up', { vm: '1' });
    const t0 = alignedPast(600_000, 1000);
    for (let i = 0; i < 3; i++) store.record(h, 1, t0 + i * 1000);
    const ex = store.exporter('dest');
    ex.end(h, t0 + 2000); // the marker goes at t0 + 3000, the interval after the last point
    store.record(h, 7, t0 + 3000); // ... and the series is recorded in that very interval
    const b = ex.next();
    const s = b.series[0]!;
    expect(s.timestamps).toEqual([t0, t0 + 1000, t0 + 2000, t0 + 3000]);
    expect(s.values).toEqual([1, 1, 1, 7]);
    expect(s.stale).toBeUndefined();
    b.commit();
    expect(ex.next().samples).toBe(0); // the marker is gone for good, not sent later
    store.close();
  });

  it('exports a consolidated tier, counters by their last value', () => {
    const store = Store.open(tempDir(), { schemas: schema() });
    const g = store.register('g');
    const c = store.register('c_total', {}, { kind: 'counter' });
    const t0 = alignedPast(600_000, 60_000);
    for (let i = 0; i < 20; i++) {
      store.record(g, i, t0 + i * 1000);
      store.record(c, i * 2, t0 + i * 1000);
    }
    store.consolidate({ now: t0 + 20_000 });
    const b = store.exporter('coarse', { tier: 1 }).next();
    expect(b.series.find((s) => s.name === 'g')!.values).toEqual([4.5, 14.5]);
    expect(b.series.find((s) => s.name === 'c_total')!.values).toEqual([18, 38]);
    store.close();
  });

  it('works on a read-only store, writing nothing but its own cursor file', () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: schema() });
    const h = w.register('x');
    const t0 = alignedPast(600_000, 1000);
    for (let i = 0; i < 10; i++) w.record(h, i, t0 + i * 1000);
    w.flush();
    const before = fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]);
    const ro = Store.openReadOnly(dir);
    const b = ro.exporter('cli').next();
    expect(b.samples).toBe(10);
    b.commit();
    ro.close();
    const after = fs.readdirSync(dir).filter((f) => f !== 'exporters').map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]);
    expect(after).toEqual(before);
    expect(fs.readdirSync(path.join(dir, 'exporters')).sort()).toEqual(['cli.json', 'cli.lock']);
    w.close();
  });
});
