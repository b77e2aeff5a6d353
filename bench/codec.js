// The codecs (src/codec/, native/codec/): Gorilla's encode and decode speed in C++ (the
// registered `gorilla`) and in TypeScript on the same chunks, deflate beside them; and bytes per
// point of Gorilla on synthetic gauges and counters and on a demo VM's store, next to
// Prometheus's own TSDB blocks for the same samples (promtool tsdb create-blocks-from
// openmetrics, then the block's chunk files over its samples) and the Gorilla paper's 1.37.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync, spawnSync } = require('node:child_process');
const { Store } = require('../dist/src');
const codec = require('../dist/src/codec');
const { toOpenMetrics, recorded } = require('../dist/src/cli/export');
const { Samples, interleave, nowNs } = require('./lib/harness');

const CHUNK = codec.DEFAULT_CHUNK_POINTS;
const PAPER_BYTES_PER_POINT = 1.37;
const ROOT = path.join(__dirname, '..');

/** A seeded generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Synthetic series of one shape, 1 s apart (rondo's finest tier), ending an hour ago.
 *   gauge-2dp   a random walk rounded to 2 decimals (a temperature, a load average)
 *   gauge-full  a random walk in full float64 precision (a ratio computed from counters)
 *   counter     a counter growing by 0..999 a second (exits, bytes)
 *   step        a gauge that moves by whole pages every 30 s or so (memory in bytes)
 *   constant    one value throughout (a limit, an info metric)
 */
function synthetic(shape, nSeries, nPoints, seed) {
  const r = rng(seed);
  const t0 = Math.floor((Date.now() - 3_600_000 - nPoints * 1000) / 1000) * 1000;
  const out = [];
  for (let s = 0; s < nSeries; s++) {
    const timestamps = new Float64Array(nPoints);
    const values = new Float64Array(nPoints);
    let v = shape === 'step' ? 512 * 1048576 : shape === 'counter' ? 0 : 20 + r() * 60;
    for (let i = 0; i < nPoints; i++) {
      timestamps[i] = t0 + i * 1000;
      if (shape === 'gauge-2dp') v = Math.round((v + (r() - 0.5)) * 100) / 100;
      else if (shape === 'gauge-full') v += r() - 0.5;
      else if (shape === 'counter') v += Math.floor(r() * 1000);
      else if (shape === 'step') v += r() < 1 / 30 ? Math.floor((r() - 0.45) * 64) * 4096 : 0;
      values[i] = v;
    }
    out.push({ name: `bench_${shape.replace('-', '_')}${shape === 'counter' ? '_total' : ''}`, labels: { i: String(s) }, kind: shape === 'counter' ? 'counter' : 'gauge', timestamps, values });
  }
  return out;
}

/** Every chunk of a set of series, cut at CHUNK points: [timestamps, values] pairs. */
function chunksOf(series) {
  const out = [];
  for (const s of series)
    for (let i = 0; i < s.timestamps.length; i += CHUNK) out.push([s.timestamps.subarray(i, i + CHUNK), s.values.subarray(i, i + CHUNK)]);
  return out;
}

const pointsOf = (series) => series.reduce((a, s) => a + s.timestamps.length, 0);

/** Prometheus's bytes per sample for the same series: its block's chunk files over its samples (null without promtool). */
function prometheusBytes(series, dir) {
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0) return null;
  fs.mkdirSync(dir, { recursive: true });
  const om = path.join(dir, 'samples.om');
  fs.writeFileSync(om, toOpenMetrics(series));
  const data = path.join(dir, 'data');
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, data], { stdio: 'ignore' });
  let chunkBytes = 0;
  let samples = 0;
  let chunks = 0;
  for (const b of fs.readdirSync(data)) {
    const meta = path.join(data, b, 'meta.json');
    if (!fs.existsSync(meta)) continue;
    const m = JSON.parse(fs.readFileSync(meta, 'utf8'));
    samples += m.stats.numSamples;
    chunks += m.stats.numChunks;
    for (const f of fs.readdirSync(path.join(data, b, 'chunks'))) chunkBytes += fs.statSync(path.join(data, b, 'chunks', f)).size;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { bytesPerSample: chunkBytes / samples, samples, chunks };
}

/** Gorilla's bytes per point: the chunks' payloads alone, the chunks with their frames, and the whole series container. */
function gorillaBytes(series) {
  const points = pointsOf(series);
  let payload = 0;
  let framed = 0;
  for (const [ts, vs] of chunksOf(series)) {
    payload += codec.gorillaNativeCodec.encode(ts, vs).length;
    framed += codec.encodeChunk('gorilla', ts, vs).length;
  }
  const container = codec.encodeContainer(series, 'gorilla').reduce((a, p) => a + p.length, 0);
  return { payload: payload / points, chunks: framed / points, container: container / points };
}

/** A demo VM's store: the VMM run for `seconds` (null and why, when it cannot run here). */
function demoVmSeries(tmp, seconds) {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { why: '/dev/kvm is not usable here' };
  }
  const dir = path.join(tmp, 'codec-vm');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'demo-vmm', 'cli.js'), 'run', '--duration', `${seconds}s`, '--vcpus', '2', '--store', dir], {
    stdio: 'ignore',
    timeout: (seconds + 60) * 1000,
  });
  if (r.status !== 0) return { why: `the demo VMM exited with ${r.status ?? r.signal}` };
  const store = Store.openReadOnly(dir);
  try {
    const series = store
      .select('{__name__=~".+"}', { start: 0, tier: 0 })
      .map(recorded)
      .filter((s) => s.timestamps.length > 1);
    return { series };
  } finally {
    store.close();
  }
}

async function run({ quick, tmp, progress }) {
  const title = 'Codecs: Gorilla in C++ and TypeScript, bytes per point beside Prometheus';
  const rounds = quick ? 3 : 15;
  // The speed data: 64 gauges of 4096 points (2-decimal random walks, 1 s apart), in chunks of 1024.
  const speedSeries = synthetic('gauge-2dp', 64, 4096, 1);
  const chunks = chunksOf(speedSeries);
  const points = pointsOf(speedSeries);
  const encoded = {
    native: chunks.map(([t, v]) => codec.gorillaNativeCodec.encode(t, v)),
    ts: chunks.map(([t, v]) => codec.gorillaTsCodec.encode(t, v)),
    deflate: chunks.map(([t, v]) => codec.deflateCodec.encode(t, v)),
  };
  for (let i = 0; i < chunks.length; i++)
    if (!Buffer.from(encoded.native[i]).equals(Buffer.from(encoded.ts[i]))) throw new Error(`the C++ and TypeScript Gorilla differ on chunk ${i}`);

  const cases = [];
  // Each chunk is a sample of its own (10 to 100 µs): on a shared machine a pass over all of them
  // is preempted more often than not, a single chunk seldom, so the median is the codec's speed.
  const add = (name, fn, kind = 'rondo') => {
    const s = new Samples();
    cases.push({
      name,
      kind,
      samples: s,
      unit: 'points/s',
      noRatio: true,
      warm: () => {
        for (let k = 0; k < 3; k++) for (let i = 0; i < chunks.length; i++) fn(i);
      },
      round: () => {
        for (let i = 0; i < chunks.length; i++) {
          const t0 = nowNs();
          fn(i);
          s.add(nowNs() - t0, 1, chunks[i][0].length);
        }
      },
    });
  };
  const encodeAll = (c) => (i) => c.encode(chunks[i][0], chunks[i][1]);
  const decodeAll = (c, payloads) => (i) => c.decode(payloads[i], chunks[i][0].length, c.version);
  add('gorilla encode, C++ (the registered codec)', encodeAll(codec.gorillaNativeCodec));
  add('gorilla decode, C++ (the registered codec)', decodeAll(codec.gorillaNativeCodec, encoded.native));
  add('gorilla encode, TypeScript', encodeAll(codec.gorillaTsCodec));
  add('gorilla decode, TypeScript', decodeAll(codec.gorillaTsCodec, encoded.ts));
  add('deflate encode (zlib level 6)', encodeAll(codec.deflateCodec));
  add('deflate decode', decodeAll(codec.deflateCodec, encoded.deflate));
  // Brotli (default quality) on raw's bytes: the general-purpose codec rondo did not choose. Its
  // decode only: its encode at that quality takes about 30 ms a chunk, too long to time in rounds.
  const raws = chunks.map(([t, v]) => codec.rawCodec.encode(t, v));
  const br = raws.map((r) => zlib.brotliCompressSync(r));
  add('brotli decode (not built in)', (i) => zlib.brotliDecompressSync(br[i]), 'peer');
  await interleave(cases, rounds, progress);
  const sum = (xs) => xs.reduce((a, b) => a + b.length, 0);

  // Bytes per point.
  progress?.('bytes per point');
  const n = quick ? 1024 : 7200;
  const sets = [
    ['synthetic gauge, 2 decimals (random walk)', synthetic('gauge-2dp', 16, n, 2)],
    ['synthetic gauge, full precision (random walk)', synthetic('gauge-full', 16, n, 3)],
    ['synthetic counter (+0..999 a second)', synthetic('counter', 16, n, 4)],
    ['synthetic gauge moving by pages every ~30 s', synthetic('step', 16, n, 5)],
    ['synthetic constant', synthetic('constant', 16, n, 6)],
  ];
  const notes = [];
  const vmSeconds = quick ? 0 : 300;
  if (vmSeconds > 0) {
    progress?.(`a demo VM for ${vmSeconds} s`);
    const vm = demoVmSeries(tmp, vmSeconds);
    if (vm.series) sets.push([`demo VM's store, tier 0 (${vm.series.length} series, ${vmSeconds} s VM)`, vm.series]);
    else notes.push(`The demo VM's store was not measured: ${vm.why}.`);
  } else notes.push("The demo VM's store is measured in a full run only (a VM of 300 s).");
  const rows = [];
  for (const [label, series] of sets) {
    const g = gorillaBytes(series);
    const p = prometheusBytes(series, path.join(tmp, 'codec-prom'));
    const pts = pointsOf(series);
    rows.push([
      label,
      String(pts),
      g.payload.toFixed(3),
      g.chunks.toFixed(3),
      g.container.toFixed(3),
      p ? p.bytesPerSample.toFixed(3) : 'not measured',
      p ? `${(g.chunks / p.bytesPerSample).toFixed(2)}×` : '–',
      `${(g.chunks / PAPER_BYTES_PER_POINT).toFixed(2)}×`,
    ]);
  }
  const head = [
    'data',
    'points',
    'gorilla payload B/pt',
    'gorilla chunks B/pt',
    'gorilla container B/pt',
    'Prometheus block chunks B/sample',
    'rondo chunks ÷ Prometheus',
    'rondo chunks ÷ paper (1.37)',
  ];
  const table = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

  const med = (prefix) => cases.find((c) => c.name.startsWith(prefix)).samples.summary();
  const dn = med('gorilla decode, C++').throughput;
  const dt = med('gorilla decode, TypeScript').throughput;
  const en = med('gorilla encode, C++').throughput;
  const et = med('gorilla encode, TypeScript').throughput;
  const deflateDecodeNs = 1e9 / med('deflate decode').throughput;
  const brotliDecodeNs = 1e9 / med('brotli decode').throughput;
  notes.unshift(
    `The same ${chunks.length} chunks of ${CHUNK} points (${points} points: 64 gauges, 2-decimal random walks, 1 s apart) through each, every round; a sample is one chunk, throughput in points at the median chunk. Both Gorilla implementations write the same bytes (checked on these chunks before timing). C++ decodes ${(dn / dt).toFixed(1)}× and encodes ${(en / et).toFixed(1)}× as fast as TypeScript: the registered \`gorilla\` is the C++ one (in the store's addon, which every install builds); the TypeScript one stays as the tests' oracle.`,
    `Decode goal ≥ 50 M points/s: ${(dn / 1e6).toFixed(1)} M points/s (${dn >= 50e6 ? 'met' : 'not met'}).`,
    `General-purpose codec: deflate (raw's 16 bytes a point through zlib's raw deflate) ${(sum(encoded.deflate) / points).toFixed(2)} B/pt, decoded at the median chunk in ${deflateDecodeNs.toFixed(1)} ns a point; brotli (default quality) ${(sum(br) / points).toFixed(2)} B/pt, decoded in ${brotliDecodeNs.toFixed(1)} ns a point. Gorilla on the same chunks: ${(sum(encoded.native) / points).toFixed(2)} B/pt. rondo's general-purpose codec is deflate: it decodes ${(brotliDecodeNs / deflateDecodeNs).toFixed(1)}× as fast as brotli and every tool reads it; brotli is the one to register (a few lines, see docs/codecs.md) where size matters more than speed.`,
    'Bytes per point: "payload" is the Gorilla bit streams alone; "chunks" adds their frames (1024 points a chunk; codec name, counts and CRC-32: 22 bytes); "container" is the whole file `rondo export --format gorilla` writes, series headers with names and labels included (so it counts what Prometheus keeps in its index). Prometheus\'s figure is its block\'s chunk files (Gorilla-style XOR chunks of up to 120 samples, each with its length, encoding and CRC-32; the index left out) over the block\'s samples, compared with rondo\'s "chunks"; from `promtool tsdb create-blocks-from openmetrics` of the same samples as `rondo export --format openmetrics` writes them. The paper\'s 1.37 B/pt is for Facebook\'s production series (most values repeat or move little), not for these.',
  );
  return { id: 'codec', title, perOp: `chunk of ${CHUNK} points`, cases, notes, tables: [table] };
}

module.exports = { run };
