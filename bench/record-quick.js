// A quick measurement of the write path (the full suite is a later piece of work):
// record() through the JavaScript fast path against the same write through a plain N-API call.
// Run: npm run build:ts && node bench/record-quick.js
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Store } = require('../dist/src');

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const N = Number(process.env.N ?? 2_000_000);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / N;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-'));
const store = Store.open(dir, { schemas: [{ name: 'b', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }] }] });
const hs = Array.from({ length: 30 }, (_, i) => store.register('bench_value', { i: String(i) }));
const slab = store['schemas'][0].slabs[0];
const values = new Float64Array(30).fill(1);

const cases = {
  'record() 1 series': () => {
    const h = hs[0];
    const ts = Date.now();
    for (let i = 0; i < N; i++) store.record(h, i, ts);
  },
  'record() 30 series round-robin': () => {
    const ts = Date.now();
    for (let i = 0; i < N; i++) store.record(hs[i % 30], i, ts);
  },
  'recordBatch(30) per value': () => {
    const ts = Date.now();
    for (let i = 0; i < N / 30; i++) store.recordBatch(ts, hs, values);
  },
  'plain N-API call (slab.record)': () => {
    const ts = Date.now();
    for (let i = 0; i < N; i++) slab.record(0, ts, i);
  },
};

const results = {};
for (const name of Object.keys(cases)) results[name] = [];
for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(cases)) results[name].push(time(fn));

const base = median(results['plain N-API call (slab.record)']);
console.log(`node ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cpus; ${ROUNDS} rounds × ${N} ops, medians`);
console.log('| operation | ns/op (median) | min | max | N-API call / this |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, xs] of Object.entries(results)) {
  const m = median(xs);
  console.log(`| ${name} | ${m.toFixed(2)} | ${Math.min(...xs).toFixed(2)} | ${Math.max(...xs).toFixed(2)} | ${(base / m).toFixed(1)}× |`);
}
store.close();
fs.rmSync(dir, { recursive: true, force: true });
