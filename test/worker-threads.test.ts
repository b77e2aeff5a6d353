// The store's addon in worker threads: each environment (the main thread, each worker) has its
// own addon instance data (native/addon.cc's StoreAddon), so two workers can load the package
// at once, each open, write, consolidate and read its own store while the main thread does the
// same, and exit without taking anything of the others with them. With the Slab class kept in a
// static (as it once was), a worker's exit left the main thread's consolidate() checking its
// slabs against a class of a dead environment.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Store, type SchemaOptions } from '../src/index';
import { ROOT } from './fixtures/build';
import { tempDir } from './helpers';

const DIST_INDEX = path.join(ROOT, 'dist', 'src', 'index.js');
const SCHEMAS: SchemaOptions[] = [
  { name: 'wt', match: {}, maxSeries: 8, tiers: [{ interval: '1s', retention: '1h' }, { interval: '10s', retention: '6h', consolidate: 'sum', precision: 'float64' }] },
];
const POINTS = 600; // ten minutes of 1 s points

interface Outcome {
  id: number;
  laps: number;
  tier0: number[];
  tier1: number[];
}

// Each worker: open its own store, record POINTS points lap after lap for `ms` (value = lap *
// 1e6 + i), consolidate, read both tiers back, close. Runs in the worker: plain JavaScript.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Store } = require(workerData.dist);
const { dir, id, t0, ms, points, schemas } = workerData;
const store = Store.open(dir, { schemas });
const h = store.register('wt_value', { worker: String(id) });
const until = Date.now() + ms;
let laps = 0;
do {
  for (let i = 0; i < points; i++) store.record(h, laps * 1e6 + i, t0 + i * 1000);
  laps++;
} while (Date.now() < until);
store.consolidate({ now: t0 + points * 1000 });
const last = laps - 1;
const tier0 = Array.from(store.query(h, { start: t0, end: t0 + (points - 1) * 1000, tier: 0 }).values, (v) => v - last * 1e6);
const tier1 = Array.from(store.query(h, { start: t0, end: t0 + (points - 10) * 1000, tier: 1, agg: 'sum' }).values);
store.close();
parentPort.postMessage({ id, laps, tier0, tier1 });
`;

function runWorker(id: number, dir: string, t0: number, ms: number): Promise<{ outcome: Outcome; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { dist: DIST_INDEX, dir, id, t0, ms, points: POINTS, schemas: SCHEMAS } });
    let outcome: Outcome | undefined;
    w.on('message', (m: Outcome) => (outcome = m));
    w.on('error', reject);
    w.on('exit', (exitCode) => (outcome === undefined ? reject(new Error(`worker ${id} exited (${exitCode}) without a result`)) : resolve({ outcome, exitCode })));
  });
}

/** The sums of each 10 s bucket of points i = 0..POINTS-1 (the last lap's values, minus its lap offset). */
function bucketSums(offset: number): number[] {
  const sums: number[] = [];
  for (let b = 0; b < POINTS / 10; b++) {
    let s = 0;
    for (let i = b * 10; i < b * 10 + 10; i++) s += offset + i;
    sums.push(s);
  }
  return sums;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the store in worker threads', () => {
  it('two workers and the main thread each use their own store at once, and the workers exit cleanly', async () => {
    const t0 = (Math.floor(Date.now() / 10_000) - 120) * 10_000; // 20 minutes ago, on a 10 s boundary
    const workers = [0, 1].map((id) => runWorker(id, tempDir(), t0, 1500));

    // Meanwhile the main thread writes and reads a store of its own, yielding now and then.
    const mainStore = Store.open(tempDir(), { schemas: SCHEMAS });
    const h = mainStore.register('wt_value', { worker: 'main' });
    const deadline = Date.now() + 1500;
    let laps = 0;
    do {
      for (let i = 0; i < POINTS; i++) mainStore.record(h, laps * 1e6 + i, t0 + i * 1000);
      laps++;
      if (laps % 20 === 0) await sleep(1);
    } while (Date.now() < deadline);

    const done = await Promise.all(workers);
    for (const { outcome, exitCode } of done) {
      expect(exitCode, `worker ${outcome.id}`).toBe(0);
      expect(outcome.laps, `worker ${outcome.id}`).toBeGreaterThan(1);
      expect(outcome.tier0, `worker ${outcome.id} tier 0`).toEqual(Array.from({ length: POINTS }, (_, i) => i));
      expect(outcome.tier1.slice(0, POINTS / 10), `worker ${outcome.id} tier 1`).toEqual(bucketSums((outcome.laps - 1) * 1e6));
    }

    // After both workers and their environments are gone, the main thread's addon still works:
    // consolidate() checks its slabs against this environment's Slab class.
    mainStore.consolidate({ now: t0 + POINTS * 1000 });
    const last = (laps - 1) * 1e6;
    expect(Array.from(mainStore.query(h, { start: t0, end: t0 + (POINTS - 1) * 1000, tier: 0 }).values, (v) => v - last)).toEqual(
      Array.from({ length: POINTS }, (_, i) => i),
    );
    expect(Array.from(mainStore.query(h, { start: t0, end: t0 + (POINTS - 10) * 1000, tier: 1, agg: 'sum' }).values)).toEqual(bucketSums(last));
    mainStore.close();

    // And a worker started now loads the addon afresh in a new environment.
    const again = await runWorker(2, tempDir(), t0, 0);
    expect(again.exitCode).toBe(0);
    expect(again.outcome.tier0).toEqual(Array.from({ length: POINTS }, (_, i) => i));
  }, 60_000);
});
