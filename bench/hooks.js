// Hooks (docs/hooks.md): what a hook costs a sample. A no-op JavaScript hook and a no-op
// WebAssembly hook (on_sample keeps the sample), each called alone (the Wasm one metered with
// fuel, as loadWasmHook loads it, and unmetered, to show what metering costs), on record() and on
// the ingest path (ingest(), what every door's samples go through), beside the same writes with no
// hook; and the cost per bucket of a rollup: the C example hook's p99 (examples/hooks/p99) beside
// the same p99 in JavaScript.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Store } = require('../dist/src');
const { ingest } = require('../dist/src/ingest');
const { loadWasmHook } = require('../dist/src/hooks');
const { Samples, timeChunks, interleave } = require('./lib/harness');

const ROOT = path.join(__dirname, '..');
const INTERVAL_MS = 1000;
const SERIES = 100;
const CHUNK = 1000;
const BUCKETS = [60, 3600];

const NOOP_WAT = `(module (func (export "on_sample") (param f64 f64 i32 i32) (result i32) (i32.const 0)))`;

async function noopWasm() {
  const binaryen = (await import('binaryen')).default;
  const m = binaryen.parseText(NOOP_WAT);
  try {
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/** The C example's p99 hook, compiled with clang (null and why when clang is not here). */
function p99Wasm(tmp) {
  const out = path.join(tmp, 'p99.wasm');
  const r = spawnSync('clang', ['--target=wasm32', '-nostdlib', '-Wl,--no-entry', '-Wl,--export-dynamic', '-O2', '-o', out, path.join(ROOT, 'examples', 'hooks', 'p99', 'p99.c')], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0) return { why: `clang for wasm32 is not usable here (${r.error?.message ?? r.stderr.trim().split('\n')[0]})` };
  return { path: out };
}

function p99Js(_ts, vs) {
  const sorted = Float64Array.from(vs).sort();
  return sorted[Math.ceil(0.99 * sorted.length) - 1];
}

async function run({ quick, tmp, progress }) {
  const rounds = quick ? 3 : 30;
  const chunks = quick ? 40 : 400; // per case per round
  const cases = [];
  const cleanup = [];
  const add = (name, kind, loop, unit = 'samples/s') => {
    const s = new Samples();
    cases.push({ name, kind, samples: s, unit, noRatio: true, round: () => timeChunks(loop, CHUNK, chunks, s), warm: () => loop(200_000) });
  };

  progress?.('loading the hooks');
  const js = { name: 'noop-js', onSample: () => undefined };
  const wasmBytes = await noopWasm();
  const wasm = await loadWasmHook(wasmBytes, { name: 'noop-wasm' });
  const wasmUnmetered = await loadWasmHook(wasmBytes, { name: 'noop-wasm-unmetered', unmetered: true });
  const sample = { name: 'rondo_bench_value', labels: { series: '0' }, value: 0, timestamp: 0, kind: 'gauge', source: 'record' };
  // One loop function per case: a loop shared by the cases would see three different hooks at
  // its call, and V8 would call each of them the slow (megamorphic) way.
  add('on_sample alone: no-op JavaScript hook', 'rondo', (n) => {
    const s = sample;
    for (let i = 0; i < n; i++) {
      s.value = i;
      js.onSample(s);
    }
  });
  add('on_sample alone: no-op Wasm hook, metered (as loaded)', 'rondo', (n) => {
    const s = sample;
    for (let i = 0; i < n; i++) {
      s.value = i;
      wasm.onSample(s);
    }
  });
  add('on_sample alone: no-op Wasm hook, unmetered', 'rondo', (n) => {
    const s = sample;
    for (let i = 0; i < n; i++) {
      s.value = i;
      wasmUnmetered.onSample(s);
    }
  });
  // The boundary alone: the module's export called straight from JavaScript, no host wrapper.
  const bare = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)).exports.on_sample;
  add('the bare export called from JavaScript (V8\'s JS-to-Wasm call, for scale)', 'rondo', (n) => {
    const s = sample;
    for (let i = 0; i < n; i++) {
      s.value = i;
      bare(s.value, s.timestamp, 0, 1);
    }
  });

  const ts = (Math.floor(Date.now() / INTERVAL_MS) - 5) * INTERVAL_MS;
  const stores = {};
  for (const [label, hooks] of [
    ['no hook', undefined],
    ['no-op JavaScript hook', [js]],
    ['no-op Wasm hook', [wasm]],
  ]) {
    const dir = path.join(tmp, `hooks-${Object.keys(stores).length}`);
    const store = Store.open(dir, {
      schemas: [{ name: 'bench', match: {}, maxSeries: SERIES * 2, tiers: [{ interval: INTERVAL_MS, retention: 600 * INTERVAL_MS }] }],
      ...(hooks ? { hooks } : {}),
    });
    cleanup.push(() => store.close());
    const handles = [];
    const batch = [];
    for (let i = 0; i < SERIES; i++) {
      const labels = { series: String(i) };
      handles.push(store.register('rondo_bench_value', labels));
      batch.push({ name: 'rondo_bench_value', labels, value: 0, timestampMs: ts, source: 'remote_write' });
    }
    stores[label] = { store, handles, batch };
  }
  for (const [label, { store, handles }] of Object.entries(stores)) {
    const h = handles[0];
    let v = 0;
    add(`\`record()\`, ${label}`, 'rondo', (n) => {
      const st = store;
      let x = v;
      for (let i = 0; i < n; i++) st.record(h, x++, ts);
      v = x;
    });
  }
  for (const [label, { store, batch }] of Object.entries(stores)) {
    // A request of SERIES samples, one per series, CHUNK / SERIES requests a chunk.
    add(`ingest path (\`ingest()\`, ${SERIES} series a request), ${label}`, 'rondo', (n) => {
      for (let i = 0; i < n; i += SERIES) {
        for (const s of batch) s.value = i;
        const r = ingest(store, batch);
        if (r.stored !== SERIES) throw new Error(`ingest stored ${r.stored} of ${SERIES}: ${r.messages.join('; ')}`);
      }
    });
  }

  // Rollups: a bucket's raw points to its p99, one bucket a sample.
  const notes = [];
  const p99 = p99Wasm(tmp);
  const rollupCases = [];
  if (p99.path) {
    const hook = await loadWasmHook(p99.path, { name: 'p99' });
    for (const n of BUCKETS) {
      const tsArr = Float64Array.from({ length: n }, (_, i) => ts - (n - i) * INTERVAL_MS);
      const vsArr = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 100 + (i % 7));
      const ctx = { schema: 'bench', tier: 1, series: 'rondo_bench_value{}', start: tsArr[0], end: tsArr[0] + n * INTERVAL_MS };
      if (hook.rollup[1](tsArr, vsArr, ctx) !== p99Js(tsArr, vsArr)) throw new Error(`the Wasm and JavaScript p99 of ${n} points differ`);
      for (const [label, fn, kind] of [
        [`rollup p99 of a bucket of ${n} points: the C example's Wasm hook`, (a, b) => hook.rollup[1](a, b, ctx), 'rondo'],
        [`rollup p99 of a bucket of ${n} points: the same in JavaScript`, p99Js, 'peer'],
      ]) {
        const s = new Samples();
        const per = n >= 1000 ? 4 : 64;
        rollupCases.push(s);
        cases.push({
          name: label,
          kind,
          figure: `p99 of ${n} points`,
          short: 'JavaScript',
          samples: s,
          unit: 'buckets/s',
          warm: () => {
            for (let i = 0; i < 50; i++) fn(tsArr, vsArr);
          },
          round: () => timeChunks(() => {
            for (let i = 0; i < per; i++) fn(tsArr, vsArr);
          }, per, quick ? 10 : 100, s),
        });
      }
    }
  } else notes.push(`The rollup cost was not measured: ${p99.why}.`);

  try {
    await interleave(cases, rounds, progress);
  } finally {
    for (const c of cleanup) c();
  }
  const med = (prefix) => cases.find((c) => c.name.startsWith(prefix)).samples.summary().medianNs;
  const alone = med('on_sample alone: no-op Wasm hook, metered');
  const aloneUnmetered = med('on_sample alone: no-op Wasm hook, unmetered');
  const aloneJs = med('on_sample alone: no-op JavaScript hook');
  const bareCall = med('the bare export called');
  const rec0 = med('`record()`, no hook');
  const recJs = med('`record()`, no-op JavaScript hook');
  const recWasm = med('`record()`, no-op Wasm hook');
  const ing0 = med('ingest path (`ingest()`, 100 series a request), no hook');
  const ingJs = med('ingest path (`ingest()`, 100 series a request), no-op JavaScript hook');
  const ingWasm = med('ingest path (`ingest()`, 100 series a request), no-op Wasm hook');
  const f = (x) => x.toFixed(1);
  notes.unshift(
    `Each round runs every case in turn (${rounds} rounds); a sample is a chunk of ${CHUNK} samples timed as a whole (a rollup case: a few buckets), median and p99 over the chunks, per sample (per bucket).`,
    `Goal: ≤ 30 ns a sample for a Wasm on_sample that keeps the sample: ${f(alone)} ns called alone, as loadWasmHook loads it (metered) — ${alone <= 30 ? 'met' : 'not met'}; unmetered ${f(aloneUnmetered)} ns, so the fuel metering costs ${f(alone - aloneUnmetered)} ns on this hook (a fuel reset, and the counter at on_sample's entry and exit; a hook with loops pays one decrement and test per iteration). The bare export called from JavaScript (V8's call into Wasm, no host wrapper): ${f(bareCall)} ns. A no-op JavaScript hook called alone: ${f(aloneJs)} ns.`,
    `What a hook adds to a write: \`record()\` ${f(rec0)} ns without hooks, ${f(recJs)} ns with the no-op JavaScript hook (+${f(recJs - rec0)}), ${f(recWasm)} ns with the no-op Wasm hook (+${f(recWasm - rec0)}); the ingest path ${f(ing0)} ns a sample without hooks, ${f(ingJs)} ns (+${f(ingJs - ing0)}) and ${f(ingWasm)} ns (+${f(ingWasm - ing0)}). A store without hooks for a schema keeps record()'s fast path.`,
  );
  return { id: 'hooks', title: 'Hooks: a no-op JavaScript and WebAssembly hook per sample, a p99 rollup per bucket', perOp: 'sample (rollups: bucket)', cases, notes };
}

module.exports = { run };
