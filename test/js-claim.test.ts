// The JavaScript thread takes rows itself (RawWriter.claim, src/store/write.ts): a compare-and-swap
// of the row's seq word and the other steps of the claim protocol (docs/storage-format.md), done
// with Atomics on typed arrays over the mapped slab, while native threads (rondo::Slab::Claim)
// take rows of the same slab. What that relies on, and what it must keep, checked against real
// native threads of the dev addon (native/testing.cc):
//  - V8's Atomics on the slab's buffer, an external ArrayBuffer that is not a SharedArrayBuffer,
//    are atomic read-modify-writes: native threads' atomic adds to the same word are never lost;
//  - racing claims (JavaScript and eight native threads, for every row) take each row once: it
//    is cleared and published once, counted once, and every claimer learns it holds its interval.
import { beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { devAddon } from '../src/store/dev-addon';
import { format } from '../src/store/native';
import { JS_CLAIM, type RawWriter } from '../src/store/write';
import { tempDir } from './helpers';

let dir = '';
beforeEach(() => {
  dir = tempDir();
});

function open(slots: number, maxSeries: number, interval: number): { store: Store; w: RawWriter; file: string } {
  const store = Store.open(dir, {
    schemas: [{ name: 'claim', match: {}, maxSeries, tiers: [{ interval, retention: slots * interval }] }],
  });
  const h = store.register('claim_value');
  const w = (store as unknown as { schemas: Array<{ writer: RawWriter }> }).schemas[0]!.writer;
  return { store, w, file: store.nativeTarget(h).file };
}

const LATE_LO = format.offsets.lateWrites / 4;

// A race whose outcome the scheduler decides (eight threads and this one on a shared machine) is
// run again, up to ROUNDS times, until it was one: every round must be right, and one at least
// must have overlapped.
const ROUNDS = 20;

describe.runIf(JS_CLAIM)('the JavaScript row claim', () => {
  it("uses V8's Atomics on the slab's own (not shared) buffer: no native thread's atomic add to the same word is lost", () => {
    const THREADS = 8;
    const TIMES = 1_000_000;
    const BATCH = 10_000;
    let overlapped = 0;
    for (let round = 0; round < ROUNDS && overlapped === 0; round++) {
      dir = tempDir();
      const { store, w, file } = open(60, 2, 1000);
      expect(w.hdr.buffer instanceof SharedArrayBuffer).toBe(false);
      const hdr = w.hdr;
      const lateWrites = () => store.info({ series: false }).schemas[0]!.tiers[0]!.lateWrites;
      const threads = devAddon().testing.startLateCounters(file, THREADS, TIMES);
      for (const until = Date.now() + 30_000; lateWrites() === 0 && Date.now() < until; );
      // While the threads add, the JavaScript thread adds to the same word in batches, half with
      // Atomics.add (the writer's own countLate), half with a compare-and-swap loop (the claim's
      // way of taking a seq word); it counts the batches it did while the threads were part-way.
      // (Bounded: were adds lost, the threads' count would never be reached.)
      let mine = 0;
      for (let batch = 0; batch < 2000; batch++) {
        if (lateWrites() - mine >= THREADS * TIMES) break;
        for (let i = 0; i < BATCH; i++) w.countLate();
        for (let i = 0; i < BATCH; i++) {
          for (;;) {
            const e = hdr[LATE_LO]!;
            if (Atomics.compareExchange(hdr, LATE_LO, e, (e + 1) | 0) === e) break;
          }
        }
        mine += 2 * BATCH;
        if (lateWrites() - mine < THREADS * TIMES) overlapped++;
      }
      expect(threads.join()).toEqual(Array.from({ length: THREADS }, () => ({ ok: TIMES, late: 0 })));
      expect(lateWrites()).toBe(THREADS * TIMES + mine);
      store.close();
    }
    // Batches ran while the threads were adding (else the count would prove nothing).
    expect(overlapped).toBeGreaterThan(0);
  }, 120_000);

  it('and eight native claimers race for every row: each row is taken once, and every claim finds it holding its interval', () => {
    const N = 100_000;
    const THREADS = 8;
    let jsTook = 0;
    for (let round = 0; round < ROUNDS && jsTook === 0; round++) {
      dir = tempDir();
      const { store, w, file } = open(N, 4, 1);
      const k0 = Math.floor(Date.now() / 1000) * 1000 - 10 * 60_000;
      const f = w.f64;
      const claimers = devAddon().testing.startClaimers(file, THREADS, k0, N);
      for (const until = Date.now() + 30_000; w.head() < k0 && Date.now() < until; );
      // Each claimer visits the rows in an order of its own (a permutation), so they meet all over.
      let refused = 0;
      for (let i = 0; i < N; i++) if (w.claim(k0 + ((999_983 * i) % N)) !== format.claimResults.ok) refused++;
      const results = claimers.join();
      expect({ refused, native: results }).toEqual({ refused: 0, native: results.map(() => ({ ok: N, late: 0 })) });
      const t0 = store.info({ series: false }).schemas[0]!.tiers[0]!;
      // Nine claimers asked for every row; each was cleared, published and counted once.
      expect(t0.rowsClaimed).toBe(N);
      expect(t0.lateWrites).toBe(0);
      expect(t0.newest).toBe(k0 + N - 1);
      expect(w.taken).toBeLessThan(N);
      jsTook = w.taken;
      // Every row holds its interval, is stable (seq even: a claimer that took the seq after the row
      // was published releases it unchanged) and cleared.
      const bad: string[] = [];
      const rowWords = w.rowWords;
      for (let k = k0; k < k0 + N && bad.length < 10; k++) {
        const base = (k % N) * rowWords;
        const seq = w.i32[2 * (base + format.rowSeqWord)]!;
        if (f[base + format.rowStampWord] !== k || seq % 2 !== 0) bad.push(`k=${k}: stamp ${f[base]}, seq ${seq}`);
        for (let c = format.rowHeaderWords; c < rowWords; c++) if (!Number.isNaN(f[base + c])) bad.push(`k=${k}: cell ${c} is ${f[base + c]}`);
      }
      expect(bad).toEqual([]);
      store.close();
    }
    // The JavaScript thread took its share of the rows in a round (the race was a race).
    expect(jsTook).toBeGreaterThan(0);
  }, 120_000);

  it('refuses, and counts, what the native claim refuses: interval 0, an older lap than its slot holds, older than the ring', () => {
    const SLOTS = 10;
    const { store, w } = open(SLOTS, 2, 1000);
    const k = Math.floor(Date.now() / 1000) - 100;
    const { ok, late } = format.claimResults;
    expect([w.claim(k), w.claim(k), w.claim(k + SLOTS)]).toEqual([ok, ok, ok]);
    expect(w.claim(k)).toBe(late); // its slot holds k + SLOTS
    expect(w.claim(k - 1)).toBe(late); // its slot is empty, but k - 1 + SLOTS <= head: older than the ring
    expect(w.claim(0)).toBe(late);
    const t0 = store.info({ series: false }).schemas[0]!.tiers[0]!;
    expect({ claims: t0.rowsClaimed, late: t0.lateWrites, newest: t0.newest }).toEqual({ claims: 2, late: 3, newest: (k + SLOTS) * 1000 });
    store.close();
  });
});
