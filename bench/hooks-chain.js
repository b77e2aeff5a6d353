#!/usr/bin/env node
// What hooks (docs/hooks.md) cost: ns per sample on record() and on the ingest path (ingest(),
// what remote-write receive, Influx lines and StatsD go through), with no hook, a no-op JavaScript
// hook that keeps the sample, and one that changes its value; and µs per bucket for a p99 rollup
// against the built-in consolidation. Best of 5 runs each; one process, one store per case.
//
//   node bench/hooks-chain.js [--quick]
//
// Needs a build (npx tsc -p tsconfig.json).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Store } = require('../dist/src/index');
const { ingest } = require('../dist/src/ingest');

const SCHEMAS = [{ name: 'b', match: {}, maxSeries: 256, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }];
const HOOKS = {
  none: undefined,
  'no-op JS hook': [{ name: 'noop', onSample() {} }],
  'JS hook changing the value': [{ name: 'scale', onSample: (s) => ({ value: s.value / 1e9 }) }],
};

function withStore(hooks, f) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-hooks-'));
  const store = Store.open(dir, { schemas: SCHEMAS, ...(hooks === undefined ? {} : { hooks }) });
  try {
    return f(store);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function best(runs, f) {
  let b = Infinity;
  for (let r = 0; r < runs; r++) b = Math.min(b, f());
  return b;
}

function recordCost(hooks, n, runs) {
  return withStore(hooks, (store) => {
    const h = store.register('x');
    const t = Math.floor(Date.now() / 1000) * 1000 - 2000;
    for (let i = 0; i < 100_000; i++) store.record(h, i, t);
    return best(runs, () => {
      const s = process.hrtime.bigint();
      for (let i = 0; i < n; i++) store.record(h, i, t);
      return Number(process.hrtime.bigint() - s) / n;
    });
  });
}

function ingestCost(hooks, n, runs) {
  return withStore(hooks, (store) => {
    const t = Math.floor(Date.now() / 1000) * 1000 - 2000;
    // A request's worth: 100 series, one sample each, at one time (as a scrape forwarded).
    const labels = Array.from({ length: 100 }, (_, i) => ({ instance: `vm${i}` }));
    const batch = labels.map((l, i) => ({ name: 'cpu_seconds', labels: l, value: i, timestampMs: t, source: 'remote_write' }));
    ingest(store, batch);
    const reps = Math.max(1, Math.floor(n / batch.length));
    return best(runs, () => {
      const s = process.hrtime.bigint();
      for (let r = 0; r < reps; r++) ingest(store, batch);
      return Number(process.hrtime.bigint() - s) / (reps * batch.length);
    });
  });
}

function p99(vs) {
  const v = Array.from(vs).sort((a, b) => a - b);
  return v[Math.max(0, Math.ceil(0.99 * v.length) - 1)];
}

/** µs per bucket (one series, one tier-1 bucket of 60 raw points) for consolidate(). */
function rollupCost(withHook, buckets, runs) {
  const hooks = withHook ? [{ name: 'p99', rollup: { 1: (_ts, vs) => p99(vs) } }] : undefined;
  return best(runs, () =>
    withStore(hooks, (store) => {
      const series = 10;
      const hs = Array.from({ length: series }, (_, i) => store.register('lat', { i: String(i) }));
      const start = Math.floor((Date.now() - 3_000_000) / 60_000) * 60_000;
      for (let k = 0; k < buckets * 60; k++) for (const h of hs) store.record(h, Math.random() * 100, start + k * 1000);
      const s = process.hrtime.bigint();
      store.consolidate({ now: start + buckets * 60_000 });
      return Number(process.hrtime.bigint() - s) / 1000 / (buckets * series);
    }),
  );
}

function run(opts = {}) {
  const quick = opts.quick === true;
  const n = quick ? 200_000 : 2_000_000;
  const runs = quick ? 2 : 5;
  const rows = [];
  for (const [label, hooks] of Object.entries(HOOKS)) {
    rows.push({ path: 'record()', hook: label, ns: recordCost(hooks, n, runs) });
    rows.push({ path: 'ingest()', hook: label, ns: ingestCost(hooks, n / 10, runs) });
  }
  const buckets = quick ? 10 : 45;
  const rollup = { builtin: rollupCost(false, buckets, runs), p99: rollupCost(true, buckets, runs) };
  return { rows, rollup };
}

if (require.main === module) {
  const r = run({ quick: process.argv.includes('--quick') });
  for (const x of r.rows) console.log(`${x.path.padEnd(9)} ${x.hook.padEnd(28)} ${x.ns.toFixed(1).padStart(8)} ns/sample`);
  console.log(`consolidate() built-in aggregates          ${r.rollup.builtin.toFixed(2).padStart(8)} µs/bucket (60 raw points)`);
  console.log(`consolidate() with a JS p99 rollup         ${r.rollup.p99.toFixed(2).padStart(8)} µs/bucket (60 raw points)`);
}

module.exports = { run };
