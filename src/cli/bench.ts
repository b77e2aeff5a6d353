// rondo bench [--points N] [--series M] [--path js|napi|batch|native|all] [--threads T] [--format text|json]
//
// A write-path benchmark on a temporary store, side by side with the physical limit measured in
// the same run: a raw loop (native/bench.cc) storing into an mmap'd file of the same row shape.
// Timing a single write costs more than the write, so every path is timed in fixed-size chunks of
// ops and the percentiles are those of the per-op time of the chunks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  attachSlab,
  devAddon,
  DevAddonMissingError,
  slabFormat as format,
  Store,
  type DevAddon,
  type NativeBenchRun,
  type NativeSlab,
  type SeriesHandle,
} from '../store';
import { flag, parseArgs, UsageError } from './common';

export const BENCH_PATHS = ['js', 'napi', 'batch', 'native'] as const;
export type BenchPath = (typeof BENCH_PATHS)[number];

/** Ops per timed chunk: the percentiles are over chunks of this many ops. */
export const CHUNK_OPS = 1024;

export const BENCH_LIMITS = {
  points: { min: CHUNK_OPS, max: 50_000_000, default: 2_000_000 },
  series: { min: 1, max: 1024, default: 30 },
  threads: { min: 1, max: 64, default: 1 },
} as const;

export const BENCH_HELP = `usage: rondo bench [--points N] [--series M] [--path js|napi|batch|native|all]
                  [--threads T] [--format text|json]

A write-path benchmark. Creates a temporary store (removed afterwards) with one schema, tier 0 at
1s, and M series, then writes N points per path round-robin over the M series, one timestamp per
1s interval per round (so each round takes a new row), after an untimed warm-up lap of the ring.

paths:
  js      store.record(), the JavaScript fast path (default)
  napi    the same write through a plain N-API call per op (the slab's record())
  batch   store.recordBatch() of M values at one timestamp; reported per value
  native  C++ threads recording through rondo::Writer (native/rondo/slab.h), timed in C++
  all     every path above, in one run: useful to compare them side by side

Every run also measures the physical limit, a raw C loop storing doubles into an mmap'd file of
the same row shape (16-byte row header + 8 bytes per series, same number of rows): per op it loads
the row stamp, compares and stores the value. With --threads T > 1 it runs once more on T threads.

Prints p50/p99/p999 ns per op and writes/s per path, and the ratio of each path's p50 to the C
loop's (native on T threads: to the C loop on T threads).

The native path and the C loop need the native bench helpers (\`npm run build:native\` in a
checkout; a package install has none): without them --path native is an error, and the other
paths run without the C loop (--path all leaves native out), saying so. Percentiles are over chunks of ${CHUNK_OPS} ops timed as a whole (timing a single write
costs more than the write); writes/s = all ops / total time of all threads.

options:
  --points N    writes per path, ${BENCH_LIMITS.points.min} to ${BENCH_LIMITS.points.max} (default ${BENCH_LIMITS.points.default}); rounded up to whole rounds
  --series M    series written round-robin, ${BENCH_LIMITS.series.min} to ${BENCH_LIMITS.series.max} (default ${BENCH_LIMITS.series.default})
  --path P      js, napi, batch, native, a comma-separated list of them, or all (default js)
  --threads T   threads of the native path and the C loop, each with its own series,
                1 to ${BENCH_LIMITS.threads.max} and at most M (default 1)
  --format F    text (a table, default) or json (the same figures, for scripts)

A progress bar goes to stderr when it is a terminal. Timings depend on the machine and its load;
run on an idle machine and compare ratios rather than absolute figures.`;

export interface BenchOptions {
  points: number;
  series: number;
  paths: readonly BenchPath[];
  threads: number;
  /** Draw a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /** --path all: without the native helpers, leave the native path out (and say so) rather than fail. */
  all?: boolean;
}

export interface BenchRow {
  path: BenchPath | 'c-loop';
  /** The row's name in the table: the path, with its thread count when > 1. */
  label: string;
  threads: number;
  /** Timed writes (values stored), all threads. */
  ops: number;
  /** Ops per timed chunk (batch: whole calls of M values). */
  chunkOps: number;
  /** Chunks the percentiles are taken over. */
  chunks: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  writesPerSec: number;
  /** p50 / the p50 of the C-loop row named by ratioTo; null when the C loop did not run. */
  ratio: number | null;
  ratioTo: string | null;
  /** Writes refused as late (warm-up included); 0 unless something raced. */
  lateWrites: number;
}

export interface BenchReport {
  machine: { node: string; cpu: string; cores: number; platform: string };
  params: {
    points: number;
    series: number;
    threads: number;
    paths: BenchPath[];
    /** Rounds of M writes per path (one timestamp each); ops = rounds × series. */
    rounds: number;
    /** Untimed rounds before each path's timed ones. */
    warmupRounds: number;
    intervalMs: number;
    slots: number;
    rowBytes: number;
    chunkOps: number;
  };
  rows: BenchRow[];
  /** Rows that did not run, and why (the native helpers not built). */
  skipped: Array<{ path: BenchPath | 'c-loop'; reason: string }>;
}

const INTERVAL_MS = 1000;
const MAX_SLOTS = 1 << 20;
const MAX_SLAB_BYTES = 64 * 1024 * 1024;
/** At least this many untimed ops before timing a path (JIT tiers, caches, page faults). */
const MIN_WARMUP_OPS = 200_000;
const WARMUP_CALLS = 4;

function intOption(args: ReturnType<typeof parseArgs>, name: string, min: number, max: number, dflt: number, note = ''): number {
  const v = flag(args, name);
  if (v === undefined) return dflt;
  const n = /^[0-9][0-9_]*$/.test(v) && !v.includes('__') && !v.endsWith('_') ? Number(v.replace(/_/g, '')) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`rondo bench: --${name} must be an integer from ${min} to ${max}${note}, not "${v}"`);
  return n;
}

/** Parses the command line into options; a UsageError (one line) for anything out of range. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions & { format: 'text' | 'json' } {
  const args = parseArgs('bench', argv, ['points', 'series', 'path', 'threads', 'format'], []);
  if (args.positional.length > 0) throw new UsageError(`rondo bench: takes no arguments, got "${args.positional[0]}"; see rondo bench --help`);
  const format = flag(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`rondo bench: --format must be text or json, not "${format}"`);
  const L = BENCH_LIMITS;
  const points = intOption(args, 'points', L.points.min, L.points.max, L.points.default);
  const series = intOption(args, 'series', L.series.min, L.series.max, L.series.default);
  const threads = intOption(args, 'threads', L.threads.min, Math.min(L.threads.max, series), L.threads.default, ` (at most --series and ${L.threads.max})`);
  const p = flag(args, 'path') ?? 'js';
  let paths: BenchPath[];
  const all = p === 'all';
  if (all) {
    paths = [...BENCH_PATHS];
  } else {
    const parts = p.split(',');
    if (!parts.every((x): x is BenchPath => (BENCH_PATHS as readonly string[]).includes(x)))
      throw new UsageError(`rondo bench: --path must be js, napi, batch, native (or a comma-separated list of them) or all, not "${p}"`);
    paths = BENCH_PATHS.filter((x) => parts.includes(x));
  }
  return { points, series, threads, paths, format, all };
}

// ---- progress bar (stderr, on a terminal only) ----

class Progress {
  private next = Infinity;
  private step = Infinity;
  private total = 1;
  private label = '';
  constructor(private readonly on: boolean) {}
  begin(label: string, total: number): void {
    if (!this.on) return;
    this.label = label;
    this.total = Math.max(1, total);
    this.step = Math.max(1, Math.floor(this.total / 50));
    this.draw(0);
  }
  /** Cheap when nothing is due: one compare. */
  tick(done: number): void {
    if (done >= this.next) this.draw(done);
  }
  end(): void {
    if (!this.on) return;
    this.next = Infinity;
    process.stderr.write('\r\x1b[2K');
  }
  private draw(done: number): void {
    const f = Math.min(1, done / this.total);
    const width = 30;
    const full = Math.round(f * width);
    process.stderr.write(`\r\x1b[2Kbench ${this.label.padEnd(18)} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}%`);
    this.next = done + this.step;
  }
}

// ---- the JavaScript loops ----
// One function per path, each called with the same argument types for the warm-up and the timed
// pass, so its call sites stay monomorphic. The hot loop is chunked: the clock is read once per
// chunk, outside it. Each returns the summed time of its chunks in ns and fills out[] with the
// per-op ns of each whole chunk (or of the one partial chunk when there is no whole one).

function loopRecord(store: Store, hs: readonly SeriesHandle[], m: number, ts0: number, ops: number, chunk: number, out: Float64Array, p: Progress, base: number): number {
  const partial = ops < chunk; // no whole chunk: keep the partial one
  let col = 0;
  let ts = ts0;
  let done = 0;
  let c = 0;
  let total = 0;
  while (done < ops) {
    const n = Math.min(chunk, ops - done);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      store.record(hs[col]!, done + i, ts);
      if (++col === m) {
        col = 0;
        ts += INTERVAL_MS;
      }
    }
    const dt = Number(process.hrtime.bigint() - t0);
    total += dt;
    if (n === chunk || partial) out[c++] = dt / n;
    done += n;
    p.tick(base + done);
  }
  return total;
}

function loopNapi(slab: NativeSlab, cols: Int32Array, m: number, ts0: number, ops: number, chunk: number, out: Float64Array, p: Progress, base: number): number {
  const partial = ops < chunk; // no whole chunk: keep the partial one
  let col = 0;
  let ts = ts0;
  let done = 0;
  let c = 0;
  let total = 0;
  while (done < ops) {
    const n = Math.min(chunk, ops - done);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      slab.record(cols[col]!, ts, done + i);
      if (++col === m) {
        col = 0;
        ts += INTERVAL_MS;
      }
    }
    const dt = Number(process.hrtime.bigint() - t0);
    total += dt;
    if (n === chunk || partial) out[c++] = dt / n;
    done += n;
    p.tick(base + done);
  }
  return total;
}

/** `calls` calls of M values; a chunk is `perChunk` calls; out[] holds ns per value. */
function loopBatch(store: Store, hs: readonly SeriesHandle[], values: Float64Array, ts0: number, calls: number, perChunk: number, out: Float64Array, p: Progress, base: number): number {
  const m = hs.length;
  const partial = calls < perChunk;
  let ts = ts0;
  let done = 0;
  let c = 0;
  let total = 0;
  while (done < calls) {
    const n = Math.min(perChunk, calls - done);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      values[0] = done + i;
      store.recordBatch(ts, hs, values);
      ts += INTERVAL_MS;
    }
    const dt = Number(process.hrtime.bigint() - t0);
    total += dt;
    if (n === perChunk || partial) out[c++] = dt / (n * m);
    done += n;
    p.tick(base + done * m);
  }
  return total;
}

// ---- figures ----

interface Measured {
  ops: number;
  chunkOps: number;
  chunkNs: Float64Array;
  totalNs: number;
  lateWrites: number;
}

/** Nearest-rank percentile of sorted xs. */
function percentile(sorted: Float64Array, q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function figures(path: BenchRow['path'], threads: number, m: Measured): Omit<BenchRow, 'ratio' | 'ratioTo'> & { rawP50: number } {
  const s = Float64Array.from(m.chunkNs).sort();
  const p50 = percentile(s, 0.5);
  const name = path === 'c-loop' ? 'C loop' : path;
  return {
    path,
    label: threads > 1 ? `${name}, ${threads} threads` : name,
    threads,
    ops: m.ops,
    chunkOps: m.chunkOps,
    chunks: s.length,
    p50Ns: round3(p50),
    p99Ns: round3(percentile(s, 0.99)),
    p999Ns: round3(percentile(s, 0.999)),
    writesPerSec: Math.round(m.ops / (m.totalNs / 1e9)),
    lateWrites: m.lateWrites,
    rawP50: p50,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for a native run, drawing its progress, and collects its figures. */
async function finishNative(run: NativeBenchRun, p: Progress, label: string, chunkOps: number): Promise<Measured> {
  p.begin(label, run.total());
  while (!run.done()) {
    p.tick(run.progress());
    await sleep(50);
  }
  const r = run.join();
  p.end();
  return { ops: r.ops, chunkOps, chunkNs: r.chunkNs, totalNs: r.elapsedNs, lateWrites: r.lateWrites };
}

function machine(): BenchReport['machine'] {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpu: cpus[0]?.model.trim() || 'unknown CPU',
    cores: cpus.length,
    platform: `${os.platform()} ${os.arch()}`,
  };
}

/** Runs the benchmark: the C loop (1 and T threads), then each path, on a temporary store. */
export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  // The native path and the C loop run in the dev addon; a package install does not have it.
  let dev: DevAddon | undefined;
  const skipped: BenchReport['skipped'] = [];
  let paths = opts.paths;
  try {
    dev = devAddon();
  } catch (e) {
    if (!(e instanceof DevAddonMissingError) || (paths.includes('native') && opts.all !== true)) throw e;
    const reason = e.message;
    skipped.push({ path: 'c-loop', reason });
    if (paths.includes('native')) skipped.push({ path: 'native', reason });
    paths = paths.filter((x) => x !== 'native');
  }
  const m = opts.series;
  const T = opts.threads;
  const rounds = Math.ceil(opts.points / m);
  const ops = rounds * m;
  const rowBytes = 8 * (format.rowHeaderWords + m * format.rawCellWords);
  const slots = Math.max(1, Math.min(rounds, MAX_SLOTS, Math.floor(MAX_SLAB_BYTES / rowBytes)));
  // A warm-up lap of the whole ring (every page touched), and enough ops for the JIT.
  const warmRounds = Math.max(slots, Math.ceil(MIN_WARMUP_OPS / m));
  const p = new Progress(opts.progress ?? process.stderr.isTTY === true);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-'));
  const rows: Array<ReturnType<typeof figures>> = [];
  let store: Store | undefined;
  let slab: NativeSlab | undefined;
  try {
    // The physical limit first: 1 thread, then T.
    const cThreads = dev === undefined ? [] : T > 1 ? [1, T] : [1];
    for (const t of cThreads) {
      const run = dev!.bench.startCLoop(path.join(tmp, `c-loop-${t}.bin`), rowBytes / 8, slots, m, t, warmRounds, rounds, CHUNK_OPS);
      rows.push(figures('c-loop', t, await finishNative(run, p, t > 1 ? `C loop ×${t}` : 'C loop', CHUNK_OPS)));
    }

    store = Store.open(path.join(tmp, 'store'), {
      schemas: [{ name: 'bench', match: {}, maxSeries: m, tiers: [{ interval: INTERVAL_MS, retention: slots * INTERVAL_MS }] }],
    });
    const hs: SeriesHandle[] = [];
    for (let i = 0; i < m; i++) hs.push(store.register('rondo_bench_value', { series: String(i) }));
    const target = store.nativeTarget(hs[0]!);
    // The napi path's own mapping of the store's tier-0 slab (another Slab object of the same file).
    const napi = attachSlab(target.file);
    slab = napi;
    const cols = Int32Array.from(hs, (h) => store!.nativeTarget(h).column);
    const sp = napi.params();
    if (sp.rowWords * 8 !== rowBytes || sp.slots !== slots) throw new Error(`bench store rows are ${sp.rowWords * 8} bytes × ${sp.slots}, expected ${rowBytes} × ${slots}`);

    // Every pass moves on in time: all in the past, in order, so no write is late or ahead.
    const passRounds = warmRounds + rounds;
    let ts = (Math.floor(Date.now() / INTERVAL_MS) - (paths.length * passRounds + 10)) * INTERVAL_MS;
    const chunks = Math.max(1, Math.floor(ops / CHUNK_OPS));
    // Per-chunk times of the warm-up passes, thrown away.
    const scratch = new Float64Array(Math.floor((warmRounds * m) / Math.min(CHUNK_OPS, m)) + 1);
    const lateBefore = (): number => napi.counters().lateWrites;
    // The JavaScript warm-up runs in a few calls (first round, rounds), so that the timed call
    // enters code optimized with full type feedback rather than deoptimizing on its way in.
    const warmParts: Array<[number, number]> = [];
    for (let i = 0; i < WARMUP_CALLS; i++) {
      const r0 = Math.floor((warmRounds * i) / WARMUP_CALLS);
      warmParts.push([r0, Math.floor((warmRounds * (i + 1)) / WARMUP_CALLS) - r0]);
    }

    for (const which of paths) {
      const label = which === 'native' && T > 1 ? `native ×${T}` : which;
      const late0 = lateBefore();
      let meas: Measured;
      if (which === 'js') {
        const out = new Float64Array(chunks);
        p.begin(label, (warmRounds + rounds) * m);
        for (const [r0, n] of warmParts) loopRecord(store, hs, m, ts + r0 * INTERVAL_MS, n * m, CHUNK_OPS, scratch, p, r0 * m);
        const totalNs = loopRecord(store, hs, m, ts + warmRounds * INTERVAL_MS, ops, CHUNK_OPS, out, p, warmRounds * m);
        p.end();
        meas = { ops, chunkOps: CHUNK_OPS, chunkNs: out, totalNs, lateWrites: lateBefore() - late0 };
      } else if (which === 'napi') {
        const out = new Float64Array(chunks);
        p.begin(label, (warmRounds + rounds) * m);
        for (const [r0, n] of warmParts) loopNapi(napi, cols, m, ts + r0 * INTERVAL_MS, n * m, CHUNK_OPS, scratch, p, r0 * m);
        const totalNs = loopNapi(napi, cols, m, ts + warmRounds * INTERVAL_MS, ops, CHUNK_OPS, out, p, warmRounds * m);
        p.end();
        meas = { ops, chunkOps: CHUNK_OPS, chunkNs: out, totalNs, lateWrites: lateBefore() - late0 };
      } else if (which === 'batch') {
        const perChunk = Math.max(1, Math.round(CHUNK_OPS / m));
        const out = new Float64Array(Math.max(1, Math.floor(rounds / perChunk)));
        const values = new Float64Array(m).fill(1);
        p.begin(label, (warmRounds + rounds) * m);
        for (const [r0, n] of warmParts) loopBatch(store, hs, values, ts + r0 * INTERVAL_MS, n, perChunk, scratch, p, r0 * m);
        const totalNs = loopBatch(store, hs, values, ts + warmRounds * INTERVAL_MS, rounds, perChunk, out, p, warmRounds * m);
        p.end();
        meas = { ops, chunkOps: perChunk * m, chunkNs: out, totalNs, lateWrites: lateBefore() - late0 };
      } else {
        const run = dev!.bench.startNative(target.file, Uint32Array.from(cols), ts, INTERVAL_MS, T, warmRounds, rounds, CHUNK_OPS);
        meas = await finishNative(run, p, label, CHUNK_OPS);
      }
      rows.push(figures(which, which === 'native' ? T : 1, meas));
      ts += passRounds * INTERVAL_MS;
    }
  } finally {
    p.end();
    try {
      slab?.close();
      store?.close();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  const base1 = rows.find((r) => r.path === 'c-loop' && r.threads === 1);
  const baseT = rows.find((r) => r.path === 'c-loop' && r.threads === T) ?? base1;
  return {
    machine: machine(),
    params: { points: opts.points, series: m, threads: T, paths: [...paths], rounds, warmupRounds: warmRounds, intervalMs: INTERVAL_MS, slots, rowBytes, chunkOps: CHUNK_OPS },
    rows: rows.map(({ rawP50, ...r }) => {
      // Native threads compare with the C loop on as many threads; everything else with one.
      const base = r.path === 'native' && r.threads > 1 ? baseT : base1;
      return base === undefined ? { ...r, ratio: null, ratioTo: null } : { ...r, ratio: round3(rawP50 / base.rawP50), ratioTo: base.label };
    }),
    skipped,
  };
}

/** The text form: a description of the machine and the parameters, then an aligned table. */
export function formatBench(r: BenchReport): string {
  const { machine: mc, params: pa } = r;
  const lines: string[] = [];
  lines.push(`machine: node ${mc.node}, ${mc.cpu}, ${mc.cores} cores, ${mc.platform}`);
  lines.push(
    `params: ${pa.rounds * pa.series} writes per path = ${pa.series} series × ${pa.rounds} rounds, one timestamp per ${pa.intervalMs / 1000}s interval per round ` +
      `(a new row each round); tier 0 ${pa.intervalMs / 1000}s × ${pa.slots} slots, ${pa.rowBytes}-byte rows; ${pa.warmupRounds} warm-up rounds first; threads ${pa.threads}`,
  );
  const batch = r.rows.find((x) => x.path === 'batch');
  lines.push(
    `percentiles over chunks of ${pa.chunkOps} ops${batch ? ` (batch: chunks of ${batch.chunkOps / pa.series} calls × ${pa.series} values, per value)` : ''}; ` +
      `writes/s = ops / total time (all threads); ratio = p50 / p50 of the C loop`,
  );
  const head = ['path', 'ops', 'p50 ns', 'p99 ns', 'p999 ns', 'writes/s', 'ratio'];
  const body = r.rows.map((x) => [
    x.label,
    String(x.ops),
    x.p50Ns.toFixed(2),
    x.p99Ns.toFixed(2),
    x.p999Ns.toFixed(2),
    `${(x.writesPerSec / 1e6).toFixed(2)} M`,
    x.ratio === null ? '–' : `${x.ratio.toFixed(2)}×${x.ratioTo !== 'C loop' ? ` (${x.ratioTo})` : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push('');
  lines.push(fmt(head));
  for (const b of body) lines.push(fmt(b));
  for (const x of r.rows)
    if (x.lateWrites > 0) lines.push(`note: ${x.label}: ${x.lateWrites} writes were refused as late (threads raced past the ring)`);
  if (r.skipped.length > 0)
    lines.push(`note: skipped ${r.skipped.map((s) => (s.path === 'c-loop' ? 'the C loop' : `the ${s.path} path`)).join(' and ')}: ${r.skipped[0]!.reason}`);
  return lines.join('\n');
}

export async function benchCommand(argv: readonly string[]): Promise<number> {
  const { format, ...opts } = parseBenchArgs(argv);
  const report = await runBench(opts);
  process.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : `${formatBench(report)}\n`);
  return 0;
}
