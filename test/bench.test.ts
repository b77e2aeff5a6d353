// bench/: the quick benchmark run end to end, checked for well-formed tables (never for how fast
// anything is), and the fast paths the benchmarks measure checked against the behaviour of the
// paths they shortcut: recordBatch()'s planned batches, the remote-write encoder, the snappy
// compressor.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { uncompress } from 'snappyjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeWriteRequest, loadRemoteWriteProto, Store, type SeriesHandle } from '../src/index';
import { compressSnappy } from '../src/export/snappy';
import type { ExportSeries } from '../src/store/export-series';
import { ROOT } from './fixtures/build';
import { alignedPast, suiteTempDir, tempDir } from './helpers';
import { suiteSeed, xorshift32 } from './fixtures/random';

// The snappy check's random inputs: RONDO_BENCH_SEED replays a run; CI runs use 1 (fixtures/random.js).
const SEED = suiteSeed('RONDO_BENCH_SEED', 1, 'bench');

/** The Rust rondo's bench binary, when the run names one (bench/reference.js). */
const REFERENCE = (process.env.RONDO_REFERENCE_BIN ?? '') !== '';

const NOTES_MARKER = '<!-- Text below this line is kept when `npm run bench` rewrites this file. -->';

interface Table {
  head: string[];
  rows: string[][];
}

/** The markdown tables of a report, each under the `## ` heading it follows. */
function tables(markdown: string): Map<string, Table[]> {
  const out = new Map<string, Table[]>();
  let heading = '';
  const lines = markdown.split('\n');
  const cells = (line: string): string[] => line.slice(1, -1).split(' | ').map((c) => c.trim());
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('## ')) heading = lines[i]!.slice(3);
    if (!lines[i]!.startsWith('|')) continue;
    const block: string[] = [];
    while (i < lines.length && lines[i]!.startsWith('|')) block.push(lines[i++]!);
    const [head, sep, ...rows] = block;
    expect(head, `a table under "${heading}"`).toMatch(/^\| .* \|$/);
    expect(sep, `the separator row under "${heading}"`).toMatch(/^\|( -{3,}:? \|)+$/);
    const t: Table = { head: cells(head!), rows: rows.map(cells) };
    expect(cells(sep!).length).toBe(t.head.length);
    for (const r of t.rows) {
      expect(r.length, `a row of ${r.length} cells under a header of ${t.head.length}: ${r.join(' | ')}`).toBe(t.head.length);
      for (const c of r) expect(c, `an empty cell in ${r.join(' | ')}`).not.toBe('');
    }
    out.set(heading, [...(out.get(heading) ?? []), t]);
  }
  return out;
}

const TIME = /^(\d+(\.\d+)?) (ns|µs|ms)$/;
const RATE = /^\d+(\.\d+)?( [kMG])? [a-z]+\/s$/;
const RATIO = /^\d+(\.\d+)?×( faster| slower)?$/;

describe('npm run bench -- --quick', () => {
  let tmp = '';
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  const out = (): string => path.join(tmp, 'BENCHMARKS.md');

  beforeAll(async () => {
    tmp = suiteTempDir();
    fs.writeFileSync(out(), `an old report\n${NOTES_MARKER}\nnotes that stay\n`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.js'), '--quick', '--out', out()], {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (c) => {
        code = c;
        resolve();
      });
    });
  }, 240_000); // the quick run is about a minute alone; the ingest group starts real servers

  it('runs to the end and prints a report that names the machine and the command', () => {
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^# rondo benchmarks\n/);
    expect(stdout).toContain('Produced by `node bench/run.js --quick --out');
    expect(stdout).toMatch(/Machine: .+, \d+ cores, \d+ GiB; .+; Node\.js v\d+/);
  });

  it('writes the report to --out and keeps the notes after the marker', () => {
    const written = fs.readFileSync(out(), 'utf8');
    expect(written.startsWith(stdout.trimEnd())).toBe(true);
    expect(written).not.toContain('an old report');
    expect(written.endsWith(`${NOTES_MARKER}\nnotes that stay\n`)).toBe(true);
  });

  it('has a well-formed table per group, with the peers and the limit beside rondo', () => {
    const t = tables(stdout);
    expect([...t.keys()]).toEqual([
      'Targets',
      'Write path',
      'Read path and consolidation',
      'Export (Prometheus remote-write)',
      'Serving (rondo serve next to Prometheus and VictoriaMetrics)',
      "Native capture (the KVM layer's vCPU exit path)",
      'Against the reference design (the Rust rondo), same shapes, same run',
      'Ingest (Influx line protocol) and InfluxQL, next to InfluxDB and VictoriaMetrics',
      'Codecs: Gorilla in C++ and TypeScript, bytes per point beside Prometheus',
      'Backups: `store.backup()`, restore and verify',
      'Hooks: a no-op JavaScript and WebAssembly hook per sample, a p99 rollup per bucket',
      'Event rings: append from JavaScript and native threads, the fossil door',
    ]);
    // Backups: backup, restore and verify timed for the demo VM's store and the big one, with the archive's size.
    const [backups, sizes] = t.get('Backups: `store.backup()`, restore and verify')!;
    for (const op of ['backup', 'restore', 'verify']) {
      const rows = backups!.rows.filter((r) => r[0]!.startsWith(`${op}, `)).map((r) => r[0]!);
      expect(rows, op).toHaveLength(2);
      expect(rows[0], op).toMatch(/^\w+, a demo VM's store \(/);
      expect(rows[1], op).toMatch(/^\w+, a ([\d.]+ MiB|1 GiB) store \(.*1024 series/);
    }
    expect(sizes!.head).toEqual(['store', 'on disk', 'points in the archive', 'archive', 'archive B/point', 'backup', 'restore', 'verify']);
    expect(sizes!.rows).toHaveLength(2);
    for (const r of sizes!.rows) expect(r[4], r[0]).toMatch(/^\d+\.\d{3}$/);
    // Hooks: a no-op JavaScript and Wasm hook alone, on record() and on the ingest path.
    const hookRows = t.get('Hooks: a no-op JavaScript and WebAssembly hook per sample, a p99 rollup per bucket')![0]!.rows.map((r) => r[0]!);
    for (const what of ['on_sample alone: no-op Wasm hook, metered', '`record()`, no-op Wasm hook', 'ingest path (`ingest()`, 100 series a request), no-op JavaScript hook'])
      expect(hookRows.some((n) => n.startsWith(what)), `a row ${what}`).toBe(true);
    // Event rings: appends from JavaScript and from native threads timed.
    const ev = t.get('Event rings: append from JavaScript and native threads, the fossil door')![0]!.rows.map((r) => r[0]!);
    for (const what of ['`store.append()` of a 64-byte Buffer', 'native `rondo::EventRing::Append` (C++), 1 thread', 'fire-and-forget APPEND over the fossil door', '`all in /vm since ~now - @hour` over'])
      expect(ev.some((n) => n.startsWith(what)), `a row ${what}`).toBe(true);
    // The codecs: both Gorilla implementations timed, and bytes per point beside Prometheus's blocks.
    const [speed, size] = t.get('Codecs: Gorilla in C++ and TypeScript, bytes per point beside Prometheus')!;
    for (const what of ['gorilla encode, C++', 'gorilla decode, C++', 'gorilla encode, TypeScript', 'gorilla decode, TypeScript'])
      expect(speed!.rows.some((r) => r[0]!.startsWith(what)), `a row ${what}`).toBe(true);
    expect(size!.head.slice(0, 6)).toEqual(['data', 'points', 'gorilla payload B/pt', 'gorilla chunks B/pt', 'gorilla container B/pt', 'Prometheus block chunks B/sample']);
    for (const r of size!.rows) for (const c of r.slice(2, 6)) expect(c, r[0]).toMatch(/^\d+\.\d{3}$/);
    for (const [heading, [main]] of t) {
      if (heading === 'Targets') continue;
      expect(main!.head.slice(0, 2)).toEqual(['operation', 'kind']);
      for (const r of main!.rows) {
        expect(['rondo', 'peer', 'limit']).toContain(r[1]);
        expect(r[2], r[0]).toMatch(TIME);
        expect(r[3], r[0]).toMatch(TIME);
        expect(r[4], r[0]).toMatch(RATE);
        expect(r[5], r[0]).toMatch(RATE);
      }
    }
    const serving = t.get('Serving (rondo serve next to Prometheus and VictoriaMetrics)')!;
    const served = serving[0]!.rows.map((r) => r[0]!);
    for (const what of ['`query_range` 1 h at 15 s, one series', 'instant queries, 8 keep-alive connections', 'remote-write receive, 2000 samples a request'])
      for (const who of ['rondo serve', 'Prometheus', 'VictoriaMetrics'])
        expect(served.some((n) => n.startsWith(`${what}: ${who}`)), `a row ${what}: ${who}`).toBe(true);
    const write = t.get('Write path')!;
    const names = write[0]!.rows.map((r) => r[0]!);
    for (const expected of [
      /^`record\(\)`, 1 series$/,
      /^`record\(\)`, 30 series round-robin$/,
      /^`recordBatch\(\)` of 30, per value$/,
      /^plain N-API call/,
      /^native `rondo::Writer::Record` \(C\+\+\), 1 thread$/,
      /^native `rondo::Writer::Record` \(C\+\+\), 2 threads/,
      /^prom-client labelled `gauge\.set/,
      /^prom-client labelled `counter\.inc/,
      /^hot-shots/,
      /^`fs\.writeSync\(\)`/,
      /^C loop storing/,
    ])
      expect(names.some((n) => expected.test(n)), `a row ${expected}`).toBe(true);
    // The ratios: one row per rondo write, one column per peer and limit, each a ratio.
    const ratios = write[1]!;
    expect(ratios.rows.length).toBe(write[0]!.rows.filter((r) => r[1] === 'rondo').length);
    expect(ratios.head.length - 1).toBe(write[0]!.rows.filter((r) => r[1] !== 'rondo').length);
    for (const r of ratios.rows) for (const c of r.slice(1)) expect(c).toMatch(RATIO);

    const exp = t.get('Export (Prometheus remote-write)')!;
    const exportNames = exp[0]!.rows.map((r) => r[0]!);
    expect(exportNames.some((n) => n.startsWith('`prometheus-remote-write` package'))).toBe(true);
    if (fs.existsSync('/usr/bin/prometheus')) expect(exportNames.some((n) => /pushTo\(\)` a real Prometheus/.test(n))).toBe(true);

    const read = t.get('Read path and consolidation')![0]!.rows.map((r) => r[0]!);
    expect(read.some((n) => n.includes('600-point window'))).toBe(true);
    expect(read.some((n) => n.includes('stitched'))).toBe(true);
    expect(read.some((n) => n.includes('`select()` over 100 series'))).toBe(true);
    expect(read.some((n) => n.includes('`consolidate()` per tick'))).toBe(true);

    // The reference design's shapes: rondo's three always; the Rust rondo's beside them when
    // its binary is named, else the report and stderr say why it is missing.
    const ref = t.get('Against the reference design (the Rust rondo), same shapes, same run')!;
    const refRows = ref[0]!.rows;
    expect(refRows.filter((r) => r[1] === 'rondo').map((r) => r[0])).toEqual([
      '`record()`, 1 series, 30,000 writes a row',
      '`record()`, 30 series round-robin, a new row every round',
      '`query()` of 600 points, every point read',
    ]);
    if (REFERENCE) {
      expect(refRows.filter((r) => r[1] === 'peer').map((r) => r[0])).toEqual(['Rust rondo: record-same-row', 'Rust rondo: record-rr30', 'Rust rondo: query600']);
      expect(ref[1]!.head).toEqual(['shape', 'rondo', 'reference', 'rondo is']);
      for (const r of ref[1]!.rows) expect(r[3]).toMatch(RATIO);
    } else {
      expect(refRows.some((r) => r[1] === 'peer')).toBe(false);
      expect(stderr).toContain('bench: reference: skipped: RONDO_REFERENCE_BIN is not set');
      expect(stdout).toContain('- The reference was not measured: RONDO_REFERENCE_BIN is not set');
    }

    // Ingest: rondo's doors always; each peer on the doors it has when its binary is installed,
    // else the report says why it is missing. Every row's figure is of points stored (or queries).
    const ingest = t.get('Ingest (Influx line protocol) and InfluxQL, next to InfluxDB and VictoriaMetrics')!;
    const ingestRows = ingest[0]!.rows;
    const influxd = fs.existsSync('/usr/bin/influxd');
    const vm = fs.existsSync('/usr/bin/victoria-metrics');
    const figures: Array<[string, string[]]> = [
      ['Influx line protocol over TCP', ['rondo serve', ...(vm ? ['VictoriaMetrics'] : [])]],
      ['HTTP `/write`, batches of 5000 lines', ['rondo serve', ...(influxd ? ['InfluxDB 1.'] : []), ...(vm ? ['VictoriaMetrics'] : [])]],
      ['UDP, highest steady rate stored without loss', ['rondo serve', ...(influxd ? ['InfluxDB 1.'] : []), ...(vm ? ['VictoriaMetrics'] : [])]],
      ['InfluxQL `GROUP BY time(1m)` over 1 h of 1 s data, 30 series', ['rondo serve', ...(influxd ? ['InfluxDB 1.'] : [])]],
    ];
    for (const [what, who] of figures) {
      const rows = ingestRows.filter((r) => r[0]!.startsWith(`${what}: `));
      expect(rows.map((r) => r[0]!.slice(what.length + 2).replace(/^(InfluxDB 1\.).*/, '$1')), what).toEqual(who);
      for (const r of rows) expect(r[4], r[0]).toMatch(what.startsWith('InfluxQL') ? / queries\/s$/ : / points\/s$/);
    }
    // The ratios: one row per peer beside rondo on the same figure.
    const pairs = ingest[1]!;
    expect(pairs.head).toEqual(['figure', 'rondo', 'peer', "peer's figure", 'rondo is']);
    expect(pairs.rows.length).toBe(figures.reduce((a, [, who]) => a + who.length - 1, 0));
    for (const r of pairs.rows) expect(r[4]).toMatch(RATIO);
    if (!influxd) expect(stdout).toContain('- Left out: InfluxDB');
    if (!vm) expect(stdout).toContain('- Left out: VictoriaMetrics');
    // rondo stored every point it was sent over TCP and HTTP (the notes say so); a peer's count is
    // reported as read back (a peer still indexing on a loaded machine may show fewer), never more.
    for (const m of stdout.matchAll(/Stored, read back, of sent: ([^\n]*)\.$/gm))
      for (const [, who, stored, sent] of m[1]!.matchAll(/([\w. ]+?) (\d+) of (\d+)/g)) {
        if (/rondo/.test(who!)) expect(stored, m[0]).toBe(sent);
        else expect(Number(stored), m[0]).toBeLessThanOrEqual(Number(sent));
      }

    // The capture's cost on a vCPU exit (Linux x64, where the KVM layer is built).
    const capture = t.get("Native capture (the KVM layer's vCPU exit path)")![0]!.rows.map((r) => r[0]!);
    if (process.platform === 'linux' && process.arch === 'x64')
      for (const what of ['exit path: the clock read alone', 'exit path with the capture, no boundary passed', 'first exit after a boundary'])
        expect(capture.some((n) => n.startsWith(what)), `a row ${what}`).toBe(true);
  });

  it('lists every performance target with the figure reached and a status', () => {
    const [targets] = tables(stdout).get('Targets')!;
    expect(targets!.head).toEqual(['what', 'target', 'this run', 'status']);
    // The "within 2.5× of a C loop" row needs the C loop, which needs a C compiler.
    const cc = spawnSync('cc', ['--version']).status === 0;
    // The server group adds three: query_range latency, instant queries per second, remote-write receive.
    // The reference group adds one per shape measured beside the Rust rondo, or one saying it was not.
    // The ingest group adds one: Influx line protocol over TCP, ≥ 2 M points/s and ahead of the peers.
    expect(targets!.rows.length).toBe((cc ? 9 : 8) + 3 + (REFERENCE ? 3 : 1) + 1);
    expect(targets!.rows.some((r) => r[0] === 'Influx line protocol over TCP into rondo serve' && / points\/s/.test(r[2]!))).toBe(true);
    for (const r of targets!.rows) expect(r[3]).toMatch(/^(met|missed|partly)\b/);
  });
});

describe('the fast paths the benchmarks measure', () => {
  const TIERS = [{ interval: '1s', retention: '10m' }];

  function open(): { store: Store; hs: SeriesHandle[] } {
    const store = Store.open(tempDir(), {
      schemas: [
        { name: 'a', match: { group: 'a' }, maxSeries: 8, tiers: TIERS },
        { name: 'b', match: {}, maxSeries: 8, tiers: TIERS },
      ],
    });
    const hs = [0, 1, 2, 3].map((i) => store.register('v', { i: String(i) }));
    return { store, hs };
  }

  const at = (store: Store, h: SeriesHandle, ts: number): number => store.query(h, { start: ts, end: ts, tier: 0 }).values[0]!;

  it('recordBatch with the same array call after call follows changes made to the array in place', () => {
    const { store, hs } = open();
    const ts = alignedPast(10_000, 1000);
    const handles = [hs[0]!, hs[1]!];
    for (let i = 0; i < 3; i++) store.recordBatch(ts, handles, [i, 10 + i]); // planned from the second call
    handles[1] = hs[2]!;
    store.recordBatch(ts + 1000, handles, [5, 6]);
    expect([at(store, hs[0]!, ts + 1000), at(store, hs[1]!, ts + 1000), at(store, hs[2]!, ts + 1000)]).toEqual([5, NaN, 6]);
    handles.push(hs[3]!);
    store.recordBatch(ts + 2000, handles, [7, 8, 9]);
    expect(at(store, hs[3]!, ts + 2000)).toBe(9);
    store.close();
  });

  it('a planned batch with a bad value writes nothing and throws what the first call would', () => {
    const { store, hs } = open();
    const ts = alignedPast(10_000, 1000);
    const handles = Object.freeze([hs[0]!, hs[1]!]);
    store.recordBatch(ts, handles, [1, 2]);
    store.recordBatch(ts, handles, [3, 4]);
    expect(() => store.recordBatch(ts, handles, [5, NaN])).toThrow(expect.objectContaining({ name: 'InvalidValueError' }));
    expect(() => store.recordBatch(ts, handles, new Float64Array([Infinity, 6]))).toThrow(expect.objectContaining({ name: 'InvalidValueError' }));
    expect([at(store, hs[0]!, ts), at(store, hs[1]!, ts)]).toEqual([3, 4]);
    store.close();
  });

  it('a planned batch across schemas takes each schema\'s row, and a stranger in the array is refused', () => {
    const { store } = open();
    const a = store.register('x', { group: 'a' });
    const b = store.register('y');
    const handles = [a, b, store.register('z', { group: 'a' })];
    const ts = alignedPast(10_000, 1000);
    for (let s = 0; s < 3; s++) store.recordBatch(ts + s * 1000, handles, [s, 10 + s, 20 + s]);
    expect([at(store, a, ts + 2000), at(store, b, ts + 2000), at(store, handles[2]!, ts + 2000)]).toEqual([2, 12, 22]);
    const other = open();
    handles[1] = other.hs[0]!;
    expect(() => store.recordBatch(ts + 3000, handles, [1, 2, 3])).toThrow(expect.objectContaining({ name: 'InvalidSeriesError' }));
    expect(at(store, a, ts + 3000)).toBeNaN();
    other.store.close();
    store.close();
  });

  it('a planned batch older than the ring is refused as late, and one after close() as closed', () => {
    const { store, hs } = open();
    const handles = [hs[0]!, hs[1]!];
    const ts = alignedPast(10_000, 1000);
    store.recordBatch(ts, handles, [1, 2]);
    store.recordBatch(ts, handles, [1, 2]);
    expect(() => store.recordBatch(ts - 700_000, handles, [1, 2])).toThrow(expect.objectContaining({ name: 'LateWriteError' }));
    store.close();
    expect(() => store.recordBatch(ts, handles, [1, 2])).toThrow(expect.objectContaining({ name: 'StoreClosedError' }));
  });

  it('the remote-write encoder writes what protobufjs decodes back, stale markers and external labels included', () => {
    const series: ExportSeries[] = [
      { id: 0, name: 'm', labels: Object.freeze({ b: '2', a: '1' }), kind: 'gauge', timestamps: [1, 127, 128, 1.7e12, 2 ** 53 - 1], values: [0.5, -1, 1e300, 7, 8] },
      { id: 1, name: 'n', labels: { job: 'own' }, kind: 'counter', timestamps: [1.7e12, 1.7e12 + 1000], values: [1, NaN], stale: [1] },
      { id: 2, name: 'empty', labels: {}, kind: 'gauge', timestamps: [], values: [] },
    ];
    const WriteRequest = loadRemoteWriteProto().lookupType('prometheus.WriteRequest');
    for (let round = 0; round < 2; round++) {
      // twice: the second time the frozen series' labels come from the encoder's cache
      const bytes = encodeWriteRequest(series, { job: 'ext', instance: 'vm1' });
      const decoded = WriteRequest.toObject(WriteRequest.decode(bytes), { longs: Number }) as {
        timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }>;
      };
      expect(decoded.timeseries.map((t) => t.labels.map((l) => `${l.name}=${l.value}`))).toEqual([
        ['__name__=m', 'a=1', 'b=2', 'instance=vm1', 'job=ext'],
        ['__name__=n', 'instance=vm1', 'job=own'],
      ]);
      expect(decoded.timeseries[0]!.samples).toEqual(series[0]!.timestamps.map((t, i) => ({ timestamp: t, value: series[0]!.values[i] })));
      expect(decoded.timeseries[1]!.samples.map((s) => s.timestamp)).toEqual([1.7e12, 1.7e12 + 1000]);
      // the stale marker's bits, read from the encoded bytes: 0x7ff0000000000002
      expect(Buffer.from(bytes).includes(Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]))).toBe(true);
    }
  });

  it(`the snappy compressor gives blocks that snappyjs decompresses to the input (seed ${SEED})`, () => {
    const rnd = xorshift32(SEED);
    const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array([7]), Buffer.from('abcdabcdabcdabcdabcd')];
    for (const n of [14, 15, 16, 100, 65_535, 65_536, 65_537, 200_000]) {
      inputs.push(Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256))); // incompressible
      inputs.push(Uint8Array.from({ length: n }, (_, i) => (i % 18 < 6 ? 9 : Math.floor(rnd() * 4)))); // repetitive
    }
    const ts = alignedPast(0, 1000);
    inputs.push(
      encodeWriteRequest(
        Array.from({ length: 30 }, (_, i) => ({
          id: i,
          name: 'vcpu_exits_total',
          labels: { vcpu: String(i % 4), reason: `r${i}` },
          kind: 'counter' as const,
          timestamps: Array.from({ length: 67 }, (_, j) => ts + j * 1000),
          values: Array.from({ length: 67 }, (_, j) => j * 7 + i),
        })),
      ),
    );
    for (const input of inputs) {
      const c = compressSnappy(input);
      expect(Buffer.from(uncompress(c)).equals(Buffer.from(input)), `${input.length} bytes`).toBe(true);
      expect(c.length).toBeLessThanOrEqual(32 + input.length + Math.floor(input.length / 6));
    }
  });
});
