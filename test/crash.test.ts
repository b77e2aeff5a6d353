// A writer killed with SIGKILL loses nothing it had recorded, and the store reopens
// (docs/reliability.md, guarantees 7 and 8): the writer records into a shared mapping,
// so what it stored is in the file once the store instruction ran; the lock dies with the process;
// a reopen repairs rows a writer left mid-claim.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { format } from '../src/store/native';
import { JS_CLAIM } from '../src/store/write';
import { tempDir } from './helpers';
import { runFixture } from './fixtures/child';

describe('a writer process killed with SIGKILL', () => {
  it('loses no point it reported as recorded, in round after round of kill and reopen', async () => {
    const SERIES = 4;
    const CAP = 50_000; // points per round at most; the ring holds every round
    const ROUNDS = 5;
    const SLOTS = 262_144;
    const IV = 1000;
    const dir = tempDir();
    Store.open(dir, {
      schemas: [{ name: 'crash', match: {}, maxSeries: SERIES, tiers: [{ interval: IV, retention: SLOTS * IV }] }],
    }).close();
    const base = Math.floor(Date.now() / IV) * IV - (ROUNDS * CAP + 100) * IV;
    // Prefix length (points present) of each series, per finished round.
    const kept: number[][] = [];
    let midStream = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const start = base + round * CAP * IV;
      const target = [2500, 4100, 3300, 5700, 2000][round]!;
      let lastOk = -1;
      const child = runFixture('writer.js', ['points', dir, String(start), String(SERIES), String(CAP)], (line) => {
        if (line.startsWith('ok ')) {
          lastOk = Number(line.slice(3));
          if (lastOk >= target) child.proc.kill('SIGKILL');
        }
      });
      const { signal } = await child.closed;
      expect(signal, child.stderr()).toBe('SIGKILL');
      if (!child.lines.includes('done')) midStream++;
      // Every line that reached us was printed after its point was recorded.
      expect(lastOk).toBeGreaterThanOrEqual(target);

      // The lock died with the writer: a new writer opens the store.
      const store = Store.open(dir);
      const tier = store.info().schemas[0]!.tiers[0]!;
      expect(tier.lateWrites).toBe(0);
      const prefixes: number[][] = [];
      for (let q = 0; q <= round; q++) {
        const qStart = base + q * CAP * IV;
        const lens: number[] = [];
        for (let c = 0; c < SERIES; c++) {
          const h = store.find('crash_point', { col: String(c) });
          expect(h).toBeDefined();
          const r = store.query(h!, { start: qStart, end: qStart + (CAP - 1) * IV, tier: 0 });
          // What is there is a prefix of what was written, with exact values.
          let n = 0;
          while (n < r.values.length && !Number.isNaN(r.values[n])) n++;
          for (let i = 0; i < r.values.length; i++) {
            const want = i < n ? (qStart / IV + i) * 1000 + c : NaN;
            if (!Object.is(r.values[i], want))
              throw new Error(`round ${q} series ${c} point ${i}: ${r.values[i]}, want ${want} (prefix ${n})`);
          }
          lens.push(n);
        }
        prefixes.push(lens);
      }
      const now = prefixes[round]!;
      // Every point up to the last checkpoint is there, in every series...
      for (const n of now) expect(n).toBeGreaterThan(lastOk);
      // ...and series were written in order: the kill may split one point, no more.
      for (let c = 1; c < SERIES; c++) {
        expect(now[c]).toBeLessThanOrEqual(now[c - 1]!);
        expect(now[c]).toBeGreaterThanOrEqual(now[0]! - 1);
      }
      // Earlier rounds are untouched by later crashes and reopens.
      for (let q = 0; q < round; q++) expect(prefixes[q]).toEqual(kept[q]);
      kept.push(now);
      store.close();
    }
    // Not every kill may land while the child still writes (a loaded machine may let it finish
    // the round first), but on any machine most do.
    expect(midStream).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('killed while native threads and the JavaScript thread write: the store reopens, info() works, and no row holds a value of another interval', async () => {
    const THREADS = 4;
    const SLOTS = 64;
    const IV = 1;
    const ROUNDS = 3;
    const dir = tempDir();
    Store.open(dir, {
      schemas: [{ name: 'native', match: {}, maxSeries: THREADS + 1, tiers: [{ interval: IV, retention: SLOTS * IV }] }],
    }).close();
    // Seven days back: more points than the threads can write before the kill.
    let start = Math.floor(Date.now() / 1000) * 1000 - 7 * 86_400_000;
    const stale: string[] = [];
    let present = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const points = Math.floor((Date.now() - 60_000 - start) / IV);
      const child = runFixture('writer.js', ['native', dir, String(start), String(THREADS), String(points)]);
      await child.waitFor((l) => l === 'started');
      await new Promise((r) => setTimeout(r, 100 + 150 * round));
      child.proc.kill('SIGKILL');
      const { signal } = await child.closed;
      expect(signal, child.stderr()).toBe('SIGKILL');

      const store = Store.open(dir);
      const info = store.info();
      const tier = info.schemas[0]!.tiers[0]!;
      expect(info.series.length).toBe(THREADS + 1);
      expect(tier.newest).not.toBeNull();
      const newest = tier.newest!;
      // The threads were still far from their last point when killed.
      expect(newest).toBeLessThan(start + (points - 1) * IV);
      expect(newest).toBeGreaterThan(start);
      for (let c = 0; c <= THREADS; c++) {
        const h = store.find('crash_native', { col: String(c) })!;
        const r = store.query(h, { start: newest - (SLOTS - 1) * IV, end: newest, tier: 0 });
        expect(r.values.length).toBe(SLOTS);
        for (let i = 0; i < SLOTS; i++) {
          const v = r.values[i]!;
          if (Number.isNaN(v)) continue;
          present++;
          const k = r.timestamps[i]! / IV;
          if (v !== k * 1000 + c)
            stale.push(`round ${round} col ${c} k=${k} holds ${v}: the value of interval ${Math.floor(v / 1000)} (${k - Math.floor(v / 1000)} intervals older)`);
        }
      }
      // The store takes new writes after the crash, at the next interval.
      const next = newest + IV;
      for (let c = 0; c <= THREADS; c++) store.record(store.find('crash_native', { col: String(c) })!, next * 1000 + c, next);
      for (let c = 0; c <= THREADS; c++) {
        const r = store.query(store.find('crash_native', { col: String(c) })!, { start: next, end: next, tier: 0 });
        expect(Array.from(r.values)).toEqual([next * 1000 + c]);
      }
      store.close();
      start = next + IV;
    }
    expect(present).toBeGreaterThan(0);
    expect(stale).toEqual([]);
  }, 60_000);
});

// A kill can land inside a row claim. These tests put a slab file in the state such a kill leaves
// (byte layout: docs/storage-format.md and native/rondo/slab.h: the header, then rows of
// [stamp f64][seq u64][one f64 per series]; a claim makes seq odd, sets the stamp to 0, clears the
// cells, publishes the new stamp, and makes seq even again).
describe('a row left mid-claim by a killed writer', () => {
  const IV = 1000;
  const SLOTS = 60;
  const HEADER = format.headerBytes;
  const ROW = 8 * (format.rowHeaderWords + 2);

  function storeWithTenPoints(): { dir: string; file: string; k0: number } {
    const dir = tempDir();
    const s = Store.open(dir, { schemas: [{ name: 'mc', match: {}, maxSeries: 2, tiers: [{ interval: IV, retention: SLOTS * IV }] }] });
    const hs = [s.register('mc_value', { col: '0' }), s.register('mc_value', { col: '1' })];
    const k0 = Math.floor(Date.now() / IV) - 120;
    for (let k = k0; k < k0 + 10; k++) hs.forEach((h, c) => s.record(h, k * 1000 + c, k * IV));
    s.close();
    return { dir, file: path.join(dir, 'mc.t0.slab'), k0 };
  }

  /** Rewrites the row of slot k % SLOTS: f gets a DataView of the row. */
  function editRow(file: string, k: number, f: (row: DataView) => void): void {
    const fd = fs.openSync(file, 'r+');
    try {
      const buf = Buffer.alloc(ROW);
      const at = HEADER + (k % SLOTS) * ROW;
      fs.readSync(fd, buf, 0, ROW, at);
      f(new DataView(buf.buffer, buf.byteOffset, ROW));
      fs.writeSync(fd, buf, 0, ROW, at);
    } finally {
      fs.closeSync(fd);
    }
  }

  function read(s: Store, c: number, k: number): number {
    return s.query(s.find('mc_value', { col: String(c) })!, { start: k * IV, end: k * IV, tier: 0 }).values[0]!;
  }

  it('half-cleared: readers see the row as missing (never half of it), the next writer repairs it and writes on', () => {
    const { dir, file, k0 } = storeWithTenPoints();
    const victim = k0 + 4;
    // Killed after hiding the stamp and clearing column 0 only; column 1 still holds the old lap.
    editRow(file, victim, (row) => {
      row.setBigUint64(8, row.getBigUint64(8, true) + 1n, true);
      row.setFloat64(0, 0, true);
      row.setFloat64(16, NaN, true);
    });
    const edited = fs.readFileSync(file);

    const r = Store.openReadOnly(dir);
    for (let k = k0; k < k0 + 10; k++)
      for (const c of [0, 1]) expect(read(r, c, k)).toBe(k === victim ? NaN : k * 1000 + c);
    r.close();
    // A reader repairs nothing.
    expect(fs.readFileSync(file).equals(edited)).toBe(true);

    const w = Store.open(dir);
    expect(w.info().schemas[0]!.tiers[0]!.rowsRepaired).toBe(1);
    for (let k = k0; k < k0 + 10; k++)
      for (const c of [0, 1]) expect(read(w, c, k)).toBe(k === victim ? NaN : k * 1000 + c);
    // The repaired slot takes its next lap (an unrepaired one would make this claim wait forever).
    const next = victim + SLOTS;
    for (const c of [0, 1]) w.record(w.find('mc_value', { col: String(c) })!, next * 1000 + c, next * IV);
    for (const c of [0, 1]) expect(read(w, c, next)).toBe(next * 1000 + c);
    w.close();
  });

  it.runIf(JS_CLAIM)('a JavaScript writer killed while clearing the row it took: readers see the row as missing, the next writer repairs it', async () => {
    const { dir, file, k0 } = storeWithTenPoints();
    const victim = k0 + 4;
    const newer = victim + SLOTS;
    const child = runFixture('writer.js', ['midclaim', dir, String(newer)]);
    await child.waitFor((l) => l === 'mid-claim');
    child.proc.kill('SIGKILL');
    const { signal } = await child.closed;
    expect(signal, child.stderr()).toBe('SIGKILL');
    // What the kill left: the seq odd, the stamp hidden, column 0 cleared, column 1 the old lap's.
    const row = fs.readFileSync(file).subarray(HEADER + (victim % SLOTS) * ROW, HEADER + (victim % SLOTS + 1) * ROW);
    const view = new DataView(row.buffer, row.byteOffset, ROW);
    const cell = (c: number) => view.getFloat64(8 * (format.rowHeaderWords + c), true);
    expect([view.getBigUint64(8 * format.rowSeqWord, true) % 2n, view.getFloat64(8 * format.rowStampWord, true), cell(0), cell(1)]).toEqual([
      1n,
      0,
      NaN,
      victim * 1000 + 1,
    ]);

    const r = Store.openReadOnly(dir);
    for (let k = k0; k < k0 + 10; k++) for (const c of [0, 1]) expect(read(r, c, k)).toBe(k === victim ? NaN : k * 1000 + c);
    for (const c of [0, 1]) expect(read(r, c, newer)).toBeNaN();
    r.close();

    const w = Store.open(dir);
    expect(w.info().schemas[0]!.tiers[0]!.rowsRepaired).toBe(1);
    for (const c of [0, 1]) expect([read(w, c, victim), read(w, c, newer)]).toEqual([NaN, NaN]);
    // The repaired row takes the lap the killed writer was taking, and the one after it.
    for (const k of [newer, newer + SLOTS]) {
      for (const c of [0, 1]) w.record(w.find('mc_value', { col: String(c) })!, k * 1000 + c, k * IV);
      for (const c of [0, 1]) expect(read(w, c, k)).toBe(k * 1000 + c);
    }
    w.close();
  });

  it('published but not yet released: a point another thread recorded in the new row survives the reopen', () => {
    const { dir, file, k0 } = storeWithTenPoints();
    const old = k0 + 5;
    const newer = old + SLOTS;
    // The claimer for `newer` cleared the row and published its stamp, then was killed before
    // making seq even; meanwhile another writer thread saw the stamp and recorded column 1.
    editRow(file, old, (row) => {
      row.setBigUint64(8, row.getBigUint64(8, true) + 1n, true);
      row.setFloat64(0, newer, true);
      row.setFloat64(16, NaN, true);
      row.setFloat64(24, newer * 1000 + 1, true);
    });
    const w = Store.open(dir);
    const info = w.info().schemas[0]!.tiers[0]!;
    expect(info.newest).toBe(newer * IV);
    // Recorded means kept: that write had returned success to its thread.
    expect(read(w, 1, newer)).toBe(newer * 1000 + 1);
    expect(read(w, 0, newer)).toBeNaN();
    w.close();
  });
});

// A kill can land inside the publication of a consolidated bucket: the row's tag (bucket << 8 |
// generation << 1 | busy) has its busy bit set while the cells are written. The state such a kill
// leaves: the busy bit set, the cells half of the old bucket and half of the new.
describe('a consolidated row left mid-publication by a killed writer', () => {
  const IV = 1000;
  const HEADER = format.headerBytes;
  // Tier 1: 10 s buckets, 30 slots, rows of an 8-byte tag and 2 cells of 8 bytes (avg and max, float32).
  const ROW = 8 + 2 * 8;

  it('readers see the bucket as missing; the next writer empties the row, and consolidate() fills the bucket again', () => {
    const dir = tempDir();
    const schema = { name: 'mp', match: {}, maxSeries: 2, tiers: [{ interval: IV, retention: 600 * IV }, { interval: 10 * IV, retention: 300 * IV }] };
    const s = Store.open(dir, { schemas: [schema] });
    const h = s.register('mp_value');
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    for (let i = 0; i < 60; i++) s.record(h, i, t0 + i * 1000);
    s.consolidate({ now: t0 + 60_000 });
    const bucket = (t0 + 20_000) / 10_000;
    const q = (st: Store) => Array.from(st.query(st.find('mp_value')!, { start: t0, end: t0 + 50_000, tier: 1 }).values);
    expect(q(s)).toEqual([4.5, 14.5, 24.5, 34.5, 44.5, 54.5]);
    // Consolidation ran up to here before the kill: the cursor is back at the bucket being published.
    s.close();
    const file = path.join(dir, 'mp.t1.slab');
    const fd = fs.openSync(file, 'r+');
    try {
      const at = HEADER + (bucket % 30) * ROW;
      const row = Buffer.alloc(ROW);
      fs.readSync(fd, row, 0, ROW, at);
      expect(row.readBigUInt64LE(0) >> 8n).toBe(BigInt(bucket));
      row.writeBigUInt64LE(row.readBigUInt64LE(0) | 1n, 0); // busy
      row.writeFloatLE(1e9, 8); // the first cell's avg: already the new bucket's
      fs.writeSync(fd, row, 0, ROW, at);
      const cursor = Buffer.alloc(8);
      cursor.writeBigUInt64LE(BigInt(bucket));
      fs.writeSync(fd, cursor, 0, 8, format.offsets.cursor);
    } finally {
      fs.closeSync(fd);
    }
    const edited = fs.readFileSync(file);
    const r = Store.openReadOnly(dir);
    expect(q(r)).toEqual([4.5, 14.5, NaN, 34.5, 44.5, 54.5]);
    r.close();
    expect(fs.readFileSync(file).equals(edited)).toBe(true);

    const w = Store.open(dir);
    expect(w.info().schemas[0]!.tiers[1]!.rowsRepaired).toBe(1);
    expect(q(w)).toEqual([4.5, 14.5, NaN, 34.5, 44.5, 54.5]);
    w.consolidate({ now: t0 + 60_000 });
    expect(q(w)).toEqual([4.5, 14.5, 24.5, 34.5, 44.5, 54.5]);
    w.close();
  });
});
