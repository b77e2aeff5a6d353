// Event rings across processes (docs/events.md, "Event rings"): a reader never returns a torn or
// half-overwritten record while a writer process appends flat out into a small ring that laps
// many times a second; a writer killed with SIGKILL loses no event it had appended, round after
// round of kill and reopen. RONDO_EVENTS_ROUNDS sets the number of kill rounds (default 4),
// RONDO_CRASH_SEED the seed of where each round's kill lands (fixtures/random.js).
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';
import { runFixture } from './fixtures/child';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { datum } from './fixtures/events-datum';

const ROUNDS = Number(process.env.RONDO_EVENTS_ROUNDS ?? 4);
const SEED = suiteSeed('RONDO_CRASH_SEED', 18, 'events-reader');

describe('an event ring read by another process', () => {
  it('never yields a torn or mixed record while a writer process laps a small ring', async () => {
    const dir = tempDir();
    Store.open(dir, { events: { size: 16384 } }).close();
    const child = runFixture('events-writer.js', ['flood', dir, '3000']);
    const reader = Store.openReadOnly(dir);
    let checked = 0;
    let reads = 0;
    let done = false;
    void child.closed.then(() => (done = true));
    // Read the whole ring over and over while the writer runs (yielding so its output is read).
    while (!done) {
      for (let j = 0; j < 20; j++) {
        const got = reader.events();
        reads++;
        let prev = -1n;
        for (const r of got) {
          const i = Number(r.tsNs);
          // Whole: the datum of its own index; in order: the indices only grow. (By hand: an
          // expect() per record would take most of the test's time.)
          if (!datum(i).equals(r.data as Buffer) || r.tsNs <= prev) expect.fail(`record ${i} torn or out of order: ${JSON.stringify(r)}`);
          prev = r.tsNs;
          checked++;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { code } = await child.closed;
    expect(code, child.stderr()).toBe(0);
    const total = Number(child.lines.find((l) => l.startsWith('done '))!.slice(5));
    // The writer lapped the ring many times while it was read.
    expect(total * 40).toBeGreaterThan(16384 * 10);
    expect(reads).toBeGreaterThan(5);
    expect(checked).toBeGreaterThan(100);
    const stats = reader.eventStats();
    expect(stats.appended).toBe(total);
    reader.close();
  }, 60_000);
});

describe('an event writer killed with SIGKILL', () => {
  it('loses no event it reported as appended, in round after round of kill and reopen', async () => {
    const dir = tempDir();
    // Large enough to hold every round: nothing is overwritten.
    Store.open(dir, { events: { size: '32MiB' } }).close();
    const rand = xorshift32(SEED);
    let next = 0;
    let midStream = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const target = next + 200 + Math.floor(rand() * 3000);
      let lastOk = -1;
      // The writer runs ahead of the lines read here: it stops 20,000 events past the target, so
      // the ring (about 170,000 events of these sizes) never laps.
      const child = runFixture('events-writer.js', ['append', dir, String(next), String(target - next + 20_000)], (line) => {
        if (line.startsWith('ok ')) {
          lastOk = Number(line.slice(3));
          if (lastOk >= target) child.proc.kill('SIGKILL');
        }
      });
      const { signal } = await child.closed;
      expect(signal, child.stderr()).toBe('SIGKILL');
      expect(lastOk).toBeGreaterThanOrEqual(target);
      if (!child.lines.includes('done')) midStream++;
      // The next writer opens the ring (a lock word a killed writer held is cleared) and finds
      // every event from 0 on, whole and in order, up to at least the last one reported.
      const store = Store.open(dir);
      const got = store.events({ limit: 1_000_000 });
      // (Compared by hand: an expect() per event would take most of the test's time.)
      const wrong = got.findIndex((r, i) => r.tsNs !== BigInt(i) || r.topic !== `/w/${i % 3}` || !datum(i).equals(r.data as Buffer));
      expect(wrong, wrong >= 0 ? `event ${wrong}: ${JSON.stringify(got[wrong])}` : '').toBe(-1);
      expect(got.length).toBeGreaterThan(lastOk);
      next = got.length;
      // The reopened ring takes appends again.
      store.close();
    }
    console.log(`events-reader: ${midStream} of ${ROUNDS} kills landed while the writer was appending`);
  }, 120_000);
});
