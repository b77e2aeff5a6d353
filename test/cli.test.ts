// The rondo command, run for real (node dist/src/cli/main.js) against real stores in temp dirs: info,
// query in every format, push to a real Prometheus and to scripted servers, errors and exit
// codes, and a query while another process writes the store.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidSelectorError, Store, formatSeries, parseSelector, type Labels, type SelectResult, type SeriesKind } from '../src/index';
import { formatCompact, formatTime, formatValue, renderChart } from '../src/cli/format';
import { progressText } from '../src/cli/push';
import { ROOT, FIXTURES } from './fixtures/build';
import { alignedPast, suiteTempDir, tempDir, underTerminal, VMM_SCHEMA } from './helpers';
import { ensureReceiversInstalled, getJson, startFaultServer, startPrometheus, type PrometheusReceiver } from './support/receivers';
import { rondo as runCli, type CliRun } from './support/run-cli';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const T = 60_000; // per-test timeout

type Run = CliRun;

/** Runs the built CLI with `args` and collects its output and exit code. */
function rondo(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runCli(args, { env, killAfterMs: 50_000 });
}

/** Expects a failure: the exit code, and exactly one line on stderr matching every pattern. */
function expectError(r: Run, code: number, ...patterns: RegExp[]): string {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  for (const p of patterns) expect(lines[0]).toMatch(p);
  return lines[0]!;
}

function expectOk(r: Run): void {
  expect(r.code, `stderr: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe('');
}

/** Rows of a CSV text (RFC 4180 quoting; no line breaks inside fields). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  for (const line of text.replace(/\n$/, '').split('\n')) {
    const row: string[] = [];
    let i = 0;
    for (;;) {
      let field = '';
      if (line[i] === '"') {
        i++;
        for (;;) {
          const q = line.indexOf('"', i);
          if (q < 0) throw new Error(`unterminated quote in ${line}`);
          field += line.slice(i, q);
          if (line[q + 1] === '"') {
            field += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
      } else {
        const c = line.indexOf(',', i);
        field = c < 0 ? line.slice(i) : line.slice(i, c);
        i = c < 0 ? line.length : c;
      }
      row.push(field);
      if (line[i] === ',') i++;
      else break;
    }
    rows.push(row);
  }
  return rows;
}

interface JsonSeries {
  name: string;
  labels: Labels;
  kind: SeriesKind;
  tier: number;
  step: number;
  points: Array<[number, number | null]>;
}

/** What `query --format json` must print for the API's answer. */
function asJson(results: readonly SelectResult[]): JsonSeries[] {
  return results.map((r) => ({
    name: r.name,
    labels: { ...r.labels },
    kind: r.kind,
    tier: r.tier,
    step: r.step,
    points: Array.from(r.timestamps, (t, i) => [t, Number.isNaN(r.values[i]) ? null : r.values[i]] as [number, number | null]),
  }));
}

/** What `query --format csv` must print for the API's answer, as parsed rows. */
function asCsvRows(results: readonly SelectResult[]): string[][] {
  const rows = [['series', 'timestamp', 'value']];
  for (const r of results)
    r.timestamps.forEach((t, i) => {
      const v = r.values[i];
      if (!Number.isNaN(v)) rows.push([formatSeries(r.name, r.labels), new Date(t).toISOString(), String(v)]);
    });
  return rows;
}

/** Content, size and modification time of every file in a store but its exporters/. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) {
    if (f === 'exporters') continue;
    const p = path.join(dir, f);
    const st = fs.statSync(p);
    out[f] = `${st.size} ${st.mtimeMs} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
  }
  return out;
}

function readSelect(dir: string, selector: string, options: Parameters<Store['select']>[1]): SelectResult[] {
  const s = Store.openReadOnly(dir);
  try {
    return s.select(selector, options);
  } finally {
    s.close();
  }
}

// ---- the shared store: 20 minutes of 1 s data in three tiers ----

interface Def {
  name: string;
  labels: Labels;
  kind: SeriesKind;
  f: (i: number) => number;
  hole?: (i: number) => boolean;
}

const DEFS: Def[] = [
  { name: 'vcpu_exits_total', labels: { reason: 'io', vcpu: '0' }, kind: 'counter', f: (i) => i * 3 },
  { name: 'vcpu_exits_total', labels: { reason: 'mmio', vcpu: '0' }, kind: 'counter', f: (i) => i * 2 + 1 },
  { name: 'vcpu_exits_total', labels: { reason: 'hlt', vcpu: '1' }, kind: 'counter', f: (i) => i },
  { name: 'vm_load', labels: { vm: 'a' }, kind: 'gauge', f: (i) => (i % 100) * 0.25 + 0.1, hole: (i) => i % 97 === 5 },
  { name: 'process_resident_memory_bytes', labels: {}, kind: 'gauge', f: (i) => 1e8 + (i % 7) * 4096 + i / 3 },
  { name: 'odd_gauge', labels: { path: '/a,b "c"' }, kind: 'gauge', f: (i) => -i / 7 },
  { name: 'resets_total', labels: {}, kind: 'counter', f: (i) => 5 + (i % 50) * 10 },
];
const KEYS = DEFS.map((d) => formatSeries(d.name, d.labels));
const N = 1200;

let dir: string;
let t0: number;

function fillMain(): void {
  const store = Store.open(dir, { schemas: [VMM_SCHEMA] });
  const hs = DEFS.map((d) => store.register(d.name, d.labels, { kind: d.kind }));
  for (let i = 0; i < N; i++) {
    DEFS.forEach((d, j) => {
      if (d.hole?.(i) !== true) store.record(hs[j]!, d.f(i), t0 + i * 1000);
    });
    // Consolidate as a live writer would, before tier 0's 10-minute ring wraps.
    if (i % 60 === 59) store.consolidate({ now: t0 + (i + 1) * 1000 });
  }
  store.consolidate();
  store.close();
}

beforeAll(() => {
  dir = suiteTempDir();
  // t0 is 25 to 30 minutes ago, on a 5-minute boundary: the data ends 5 to 10 minutes ago.
  t0 = alignedPast(25 * 60_000, 300_000);
  fillMain();
}, 120_000);

// Inside tier 0's ring: one minute of the data, with vm_load's hole at i = 975 (i % 97 === 5).
const q0 = () => ({ start: t0 + 940_000, end: t0 + 1_000_000 });

describe('rondo info', () => {
  it('text: the store, each schema with its tiers, each series with its last point, totals', async () => {
    const r = await rondo(['info', dir]);
    expectOk(r);
    const lines = r.stdout.split('\n');
    const s = Store.openReadOnly(dir);
    const info = s.info();
    s.close();
    expect(lines[0]).toBe(`store    ${info.dir}`);
    expect(r.stdout).toContain(`total    7 series, `);
    expect(r.stdout).toContain(`(${info.totals.bytes.toLocaleString('en-US')} bytes)`);
    expect(r.stdout).toContain('schema vmm: 7 of 64 series, takes every series');

    // The tier table: a header and one row per tier, columns aligned under the header.
    const h = lines.findIndex((l) => /^ {2}tier +interval +retention +slots +consolidate +xff +keeps +file +size +newest +late writes$/.test(l));
    expect(h).toBeGreaterThan(0);
    const tierRows = lines.slice(h + 1, h + 4);
    expect(tierRows[0]).toMatch(/^ +0 +1s +10m +600 +raw +- +- +vmm\.t0\.slab +\d+ KiB +\S+ +0$/);
    expect(tierRows[1]).toMatch(/^ +1 +10s +6h +2,160 +avg +1 +avg,max float32 +vmm\.t1\.slab +[\d.]+ (KiB|MiB) +\S+ +0$/);
    expect(tierRows[2]).toMatch(/^ +2 +5m +7d +2,016 +avg +0\.5 +avg,max float32 +vmm\.t2\.slab +[\d.]+ (KiB|MiB) +\S+ +0$/);
    const col = lines[h]!.indexOf('interval');
    for (const row of tierRows) expect(row[col - 1]).toBe(' ');
    for (const row of tierRows) expect(row[col]).not.toBe(' ');
    expect(lines[h + 4]).toBe('');

    // The series table: one row per series, in registration order.
    const sh = lines.findIndex((l) => /^series +kind +last point +last value$/.test(l));
    expect(sh).toBeGreaterThan(h);
    const rows = lines.slice(sh + 1).filter((l) => l !== '');
    expect(rows).toHaveLength(DEFS.length);
    info.series.forEach((se, i) => {
      expect(rows[i]!.startsWith(`${se.key} `)).toBe(true);
      expect(rows[i]).toContain(` ${se.kind} `);
      expect(rows[i]).toContain(` ${formatTime(se.lastTimestamp!)} (`);
      expect(rows[i]!.endsWith(` ${formatValue(se.lastValue!)}`)).toBe(true);
      // Last values are right-aligned: every row ends at the same column.
      expect(rows[i]!.length).toBe(lines[sh]!.length);
    });
  }, T);

  it('json: exactly store.info()', async () => {
    const r = await rondo(['info', dir, '--format', 'json']);
    expectOk(r);
    const s = Store.openReadOnly(dir);
    const info = s.info();
    s.close();
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(info)));
  }, T);
});

describe('rondo query', () => {
  it('csv: the header, then every present point of every series, exactly as select() reads them', async () => {
    const { start, end } = q0();
    const sel = '{__name__=~".+"}';
    const want = asCsvRows(readSelect(dir, sel, { start, end }));
    const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--format', 'csv']);
    expectOk(r);
    const rows = parseCsv(r.stdout);
    expect(rows).toEqual(want);
    // Every series is there; vm_load's hole at i = 975 has no row.
    expect(new Set(rows.slice(1).map((x) => x[0]))).toEqual(new Set(KEYS));
    expect(rows.some((x) => x[0] === 'vm_load{vm="a"}' && x[1] === new Date(t0 + 975_000).toISOString())).toBe(false);
    expect(rows.filter((x) => x[0] === 'vm_load{vm="a"}')).toHaveLength(60);
    // The label value with a comma and quotes is quoted as CSV.
    expect(r.stdout).toContain('"odd_gauge{path=""/a,b \\""c\\""""}"');
    // Values parse back to exactly the stored numbers.
    const resets = rows.filter((x) => x[0] === 'resets_total');
    expect(resets).toHaveLength(61);
    resets.forEach((x, i) => expect(Number(x[2])).toBe(5 + ((940 + i) % 50) * 10));
  }, T);

  it('csv is the default when stdout is not a terminal; times as RFC 3339, seconds (with fractions) or ms give the same answer', async () => {
    const { start, end } = q0();
    const sel = 'vcpu_exits_total';
    const want = asCsvRows(readSelect(dir, sel, { start, end }));
    for (const [s, e] of [
      [new Date(start).toISOString(), new Date(end).toISOString()],
      [new Date(start + 3_600_000).toISOString().replace('Z', '+01:00'), String(end)],
      [String(start / 1000), `${end / 1000}.5`],
      [new Date(start).toISOString().replace('.000Z', 'Z'), String(end / 1000)],
    ] as const) {
      const r = await rondo(['query', dir, sel, '--start', s, '--end', e]);
      expectOk(r);
      expect(parseCsv(r.stdout), `${s} .. ${e}`).toEqual(want);
    }
  }, T);

  it('json: every interval of the range, null where nothing was recorded, exactly as select() reads them', async () => {
    const { start, end } = q0();
    const sel = '{__name__=~".+"}';
    const want = asJson(readSelect(dir, sel, { start, end }));
    const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--format', 'json']);
    expectOk(r);
    const got = JSON.parse(r.stdout) as JsonSeries[];
    expect(got).toEqual(want);
    expect(got).toHaveLength(DEFS.length);
    for (const g of got) {
      expect(g.tier).toBe(0);
      expect(g.step).toBe(1000);
      expect(g.points).toHaveLength(61);
    }
    const load = got.find((g) => g.name === 'vm_load')!;
    expect(load.points[35]).toEqual([t0 + 975_000, null]);
    expect(load.points[36]).toEqual([t0 + 976_000, (976 % 100) * 0.25 + 0.1]);
  }, T);

  it('table: a title, a header with the time and each series key, one aligned row per timestamp', async () => {
    const start = t0 + 970_000;
    const end = t0 + 979_000;
    const sel = '{__name__=~"vm_load|vcpu_exits_total",vcpu!="1"}';
    const api = readSelect(dir, sel, { start, end });
    const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--format', 'table']);
    expectOk(r);
    const lines = r.stdout.replace(/\n$/, '').split('\n');
    expect(lines[0]).toBe(`3 series, 10 timestamps from ${formatTime(start)} to ${formatTime(end)}, tier 0, step 1s`);
    const header = lines[1]!.split(/ {2,}/);
    expect(header).toEqual(['time', ...api.map((a) => formatSeries(a.name, a.labels))]);
    const rows = lines.slice(2);
    expect(rows).toHaveLength(10);
    rows.forEach((row, i) => {
      const cells = row.split(/ {2,}/);
      expect(cells[0]).toBe(formatTime(start + i * 1000));
      expect(cells.slice(1)).toEqual(api.map((a) => formatValue(a.values[i]!)));
      // Values are right-aligned under their headers.
      expect(row.length).toBe(lines[1]!.length);
    });
    // vm_load's missing point (i = 975) reads "-".
    expect(rows[5]!.split(/ {2,}/)[3]).toBe('-');
  }, T);

  it('chart: per series a title with min and max, 8 rows of blocks with max and min on the axis, and the time range', async () => {
    const start = t0 + 700_000;
    const end = t0 + 1_000_000;
    const sel = '{__name__=~"vm_load|process_resident_memory_bytes"}';
    const api = readSelect(dir, sel, { start, end, tier: 0 });
    const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--tier', '0', '--format', 'chart']);
    expectOk(r);
    const charts = r.stdout.replace(/\n$/, '').split('\n\n');
    expect(charts).toHaveLength(2);
    charts.forEach((chart, j) => {
      const a = api[j]!;
      const present = Array.from(a.values).filter((v) => !Number.isNaN(v));
      const min = formatCompact(Math.min(...present));
      const max = formatCompact(Math.max(...present));
      const lines = chart.split('\n');
      expect(lines).toHaveLength(1 + 8 + 2);
      expect(lines[0]).toBe(`${formatSeries(a.name, a.labels)}  min ${min}  max ${max}  (301 points, tier 0, step 1s)`);
      const w = Math.max(min.length, max.length);
      const plot = lines.slice(1, 9);
      expect(plot[0]!.startsWith(`${max.padStart(w)} ┤`)).toBe(true);
      expect(plot[7]!.startsWith(`${min.padStart(w)} ┤`)).toBe(true);
      for (const row of plot.slice(1, 7)) expect(row.startsWith(`${' '.repeat(w)} │`)).toBe(true);
      for (const row of plot) {
        expect(row.slice(w + 2)).toMatch(/^[ ▁▂▃▄▅▆▇█]*$/);
        expect(row.length).toBeLessThanOrEqual(80);
      }
      // The bottom row is filled wherever there is a value: every column here has one.
      expect(plot[7]!.slice(w + 2)).toMatch(/^[▁▂▃▄▅▆▇█]+$/);
      // The top row reaches the max somewhere.
      expect(plot[0]).toContain('█');
      expect(lines[9]).toBe(`${' '.repeat(w)} └${'─'.repeat(80 - w - 2)}`);
      expect(lines[10]!.trim().split(/ +/)).toEqual([formatTime(start), formatTime(end)]);
      expect(lines[10]!.length).toBe(80);
    });
  }, T);

  it('selectors with each matcher select the same series as select()', async () => {
    const { start, end } = q0();
    const cases: Array<[string, string[]]> = [
      ['vcpu_exits_total{reason="io"}', [KEYS[0]!]],
      ['vcpu_exits_total{reason!="io"}', [KEYS[1]!, KEYS[2]!]],
      ['{__name__=~"vcpu_.*|vm_.*", vcpu=~"0|"}', [KEYS[0]!, KEYS[1]!, KEYS[3]!]],
      ['vcpu_exits_total{reason!~"io|mmio"}', [KEYS[2]!]],
      ['{path=~".*\\"c\\""}', [KEYS[5]!]],
      ['no_such_metric', []],
    ];
    for (const [sel, keys] of cases) {
      const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--format', 'json']);
      expectOk(r);
      const got = JSON.parse(r.stdout) as JsonSeries[];
      expect(got.map((g) => formatSeries(g.name, g.labels)), sel).toEqual(keys);
      expect(got).toEqual(asJson(readSelect(dir, sel, { start, end })));
    }
    // Nothing matching: a table says so, csv is just the header.
    const t = await rondo(['query', dir, 'no_such_metric', '--format', 'table']);
    expectOk(t);
    expect(t.stdout).toBe('no series match no_such_metric\n');
    const c = await rondo(['query', dir, 'no_such_metric']);
    expectOk(c);
    expect(c.stdout).toBe('series,timestamp,value\n');
  }, T);

  it('--rate: per-second rates of a counter across its resets', async () => {
    const start = t0 + 900_000;
    const end = t0 + 1_000_000;
    const r = await rondo(['query', dir, 'resets_total', '--rate', '--tier', '0', '--start', String(start), '--end', String(end)]);
    expectOk(r);
    const rows = parseCsv(r.stdout).slice(1);
    // The first point has no rate; then 10/s, and 5/s at each reset (495 -> 5: the 5 counts whole).
    expect(rows).toHaveLength(100);
    rows.forEach(([key, ts, v], n) => {
      const i = 901 + n;
      expect(key).toBe('resets_total');
      expect(ts).toBe(new Date(t0 + i * 1000).toISOString());
      expect(Number(v)).toBe(i % 50 === 0 ? 5 : 10);
    });
    expect(rows.filter((x) => x[2] === '5').map((x) => x[1])).toEqual([950, 1000].map((i) => new Date(t0 + i * 1000).toISOString()));
    // JSON says the same as select({ rate: true }).
    const j = await rondo(['query', dir, 'vcpu_exits_total', '--rate', '--start', String(start), '--end', String(end), '--format', 'json']);
    expectOk(j);
    expect(JSON.parse(j.stdout)).toEqual(asJson(readSelect(dir, 'vcpu_exits_total', { start, end, rate: true })));
    // Gauges matched with --rate are an error naming them.
    const g = await rondo(['query', dir, '{__name__=~"vm_load|resets_total"}', '--rate']);
    expectError(g, 2, /--rate is for counters/, /vm_load\{vm="a"\}/);
  }, T);

  it('--tier 0, 1, 2, stitch and auto read what select() reads with the same tier', async () => {
    const start = t0 + 60_000;
    const end = t0 + 1_140_000;
    const sel = '{__name__=~"vm_load|vcpu_exits_total",reason!="mmio"}';
    const expected: Record<string, { tier: number; step: number }> = {
      '0': { tier: 0, step: 1000 },
      '1': { tier: 1, step: 10_000 },
      '2': { tier: 2, step: 300_000 },
      stitch: { tier: 0, step: 1000 },
      auto: { tier: 1, step: 10_000 }, // tier 0's ring does not reach back to the start
    };
    for (const [tier, want] of Object.entries(expected)) {
      const r = await rondo(['query', dir, sel, '--start', String(start), '--end', String(end), '--tier', tier, '--format', 'json']);
      expectOk(r);
      const got = JSON.parse(r.stdout) as JsonSeries[];
      const api = readSelect(dir, sel, { start, end, tier: tier === 'stitch' || tier === 'auto' ? tier : Number(tier) });
      expect(got, `--tier ${tier}`).toEqual(asJson(api));
      expect(got).toHaveLength(3);
      for (const g of got) expect({ tier: g.tier, step: g.step }).toEqual(want);
    }
    // Stitched: 10 s points where tier 0 has nothing, then 1 s points.
    const r = await rondo(['query', dir, 'vm_load', '--start', String(start), '--end', String(end), '--tier', 'stitch', '--format', 'json']);
    const pts = (JSON.parse(r.stdout) as JsonSeries[])[0]!.points;
    const gaps = new Set(pts.slice(1).map((p, i) => p[0] - pts[i]![0]));
    expect(gaps).toEqual(new Set([10_000, 1000]));
    // A consolidated point is the average of its bucket (i = 0..9 but the hole at i = 5), as float32.
    const t1 = (JSON.parse((await rondo(['query', dir, 'vm_load', '--start', String(t0), '--end', String(t0), '--tier', '1', '--format', 'json'])).stdout) as JsonSeries[])[0]!;
    expect(t1.points).toHaveLength(1);
    expect(t1.points[0]![0]).toBe(t0);
    expect(t1.points[0]![1]).toBe(Math.fround([0, 1, 2, 3, 4, 6, 7, 8, 9].reduce((a, i) => a + (i * 0.25 + 0.1), 0) / 9));
    // The table names the tiers read.
    const tab = await rondo(['query', dir, 'vm_load', '--start', String(start), '--end', String(end), '--tier', 'stitch', '--format', 'table']);
    expect(tab.stdout.split('\n')[0]).toMatch(/, tiers 1 \(step 10s\), 0 \(step 1s\)$/);
    // Bad tiers.
    expectError(await rondo(['query', dir, 'vm_load', '--tier', '7']), 2, /^rondo query: /, /tier 7 is not valid/);
    expectError(await rondo(['query', dir, 'vm_load', '--tier', 'fine']), 2, /--tier must be auto, stitch or a tier index/, /"fine"/);
  }, T);

  it('relative times: --start -5m --end now, now-2m, and --range ending now', async () => {
    const live = tempDir();
    const store = Store.open(live, { schemas: [{ name: 'l', tiers: [{ interval: '1s', retention: '1h' }] }] });
    const h = store.register('rel_gauge', { vm: 'x' });
    const last = alignedPast(1000, 1000);
    for (let ts = last - 900_000; ts <= last; ts += 1000) store.record(h, (ts / 1000) % 1000, ts);
    store.close();

    const check = async (args: string[], seconds: number, endOffset = 0) => {
      const before = Date.now();
      const r = await rondo(['query', live, 'rel_gauge', ...args, '--format', 'json']);
      const after = Date.now();
      expectOk(r);
      const s = (JSON.parse(r.stdout) as JsonSeries[])[0]!;
      const pts = s.points;
      // The range is [now - seconds, now] for a `now` between before and after.
      expect(pts.length === seconds || pts.length === seconds + 1, `${pts.length} points`).toBe(true);
      expect(pts[0]![0]).toBeGreaterThanOrEqual(before - endOffset - seconds * 1000);
      expect(pts[pts.length - 1]![0]).toBeLessThanOrEqual(after - endOffset);
      expect(pts[pts.length - 1]![0] - pts[0]![0]).toBe((pts.length - 1) * 1000);
      expect(pts).toEqual(asJson(readSelect(live, 'rel_gauge', { start: pts[0]![0], end: pts[pts.length - 1]![0] }))[0]!.points);
      for (const [t, v] of pts) if (t <= last) expect(v).toBe((t / 1000) % 1000);
    };
    await check(['--start', '-5m', '--end', 'now'], 300);
    await check(['--start', 'now-2m'], 120);
    await check(['--range', '90s'], 90);
    await check(['--range', '1m', '--end', 'now-30s'], 60, 30_000);
  }, T);

  it('reads a store another process is writing: every query succeeds with whole, correct points', async () => {
    const live = tempDir();
    // A small ring (2 minutes) that the writer, 100 times faster than the clock, laps every 1.2 s.
    Store.open(live, { schemas: [{ name: 'w', maxSeries: 8, tiers: [{ interval: '1s', retention: '2m' }] }] }).close();
    const startMs = alignedPast(10 * 60_000, 1000);
    const writer = spawn(process.execPath, [path.join(FIXTURES, 'cli-writer.js'), live, String(startMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let writerErr = '';
    writer.stderr.on('data', (c: Buffer) => (writerErr += c.toString()));
    try {
      await waitForLine(writer, /^started \d+$/);
      const want = (name: string, labels: Labels, t: number): number => {
        const k = t / 1000;
        if (name === 'live_value') return k * 10 + Number(labels.col);
        if (name === 'live_total') return k * 5;
        return k * 10 + 9;
      };
      let seen = 0;
      const names = new Set<string>();
      for (let round = 0; round < 8; round++) {
        const r = await rondo(['query', live, '{__name__=~"live_.*"}', '--start', String(startMs - 60_000), '--end', 'now', '--tier', '0', '--format', 'json']);
        expectOk(r);
        const got = JSON.parse(r.stdout) as JsonSeries[];
        expect(got.length).toBeGreaterThanOrEqual(5);
        for (const s of got) {
          names.add(formatSeries(s.name, s.labels));
          expect(s.step).toBe(1000);
          s.points.forEach(([t, v], i) => {
            if (i > 0) expect(t - s.points[i - 1]![0]).toBe(1000);
            if (v === null) return;
            seen++;
            expect(v, `${s.name}${JSON.stringify(s.labels)} at ${t}`).toBe(want(s.name, s.labels, t));
          });
        }
        // csv and info work meanwhile too.
        const c = await rondo(['query', live, 'live_total', '--start', String(startMs - 60_000), '--end', 'now', '--tier', '0']);
        expectOk(c);
        for (const [key, ts, v] of parseCsv(c.stdout).slice(1)) {
          expect(key).toBe('live_total');
          expect(Number(v)).toBe((Date.parse(ts!) / 1000) * 5);
        }
        if (round === 0) expectOk(await rondo(['info', live]));
      }
      expect(seen).toBeGreaterThan(100);
      expect(names.size).toBeGreaterThanOrEqual(5);
      expect(writer.exitCode, writerErr).toBe(null);
    } finally {
      writer.kill('SIGKILL');
    }
  }, T);

  it('info and query change nothing in the store', async () => {
    const before = snapshot(dir);
    expectOk(await rondo(['info', dir]));
    expectOk(await rondo(['info', dir, '--format', 'json']));
    for (const f of ['csv', 'json', 'table', 'chart']) expectOk(await rondo(['query', dir, '{__name__=~".+"}', '--tier', 'stitch', '--format', f]));
    expect(snapshot(dir)).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'exporters'))).toBe(false);
  }, T);
});

describe('errors: one line on stderr and an exit code', () => {
  it('a path that is not a store (exit 1), for every command', async () => {
    const empty = tempDir();
    const missing = path.join(empty, 'nope');
    for (const d of [empty, missing]) {
      expectError(await rondo(['info', d]), 1, /not a rondo store/, new RegExp(d.replace(/[/.]/g, '\\$&')));
      expectError(await rondo(['query', d, 'x']), 1, /not a rondo store/);
      expectError(await rondo(['push', d, '--url', 'http://127.0.0.1:9/api/v1/write']), 1, /not a rondo store/);
    }
    expect(fs.readdirSync(empty)).toEqual([]);
  }, T);

  it('a bad selector (exit 2), with the position of the fault', async () => {
    for (const sel of ['vcpu_exits_total{reason=}', 'vcpu_exits_total{reason="io"', '{a=""}', 'x{y=~"("}']) {
      let position = -1;
      try {
        parseSelector(sel);
      } catch (e) {
        position = (e as InvalidSelectorError).position;
      }
      expect(position).toBeGreaterThanOrEqual(0);
      const line = expectError(await rondo(['query', dir, sel]), 2, /^rondo query: invalid selector: /, new RegExp(`at position ${position}\\b`));
      expect(line).toContain(JSON.stringify(sel));
    }
  }, T);

  it('a bad time or range (exit 2), naming the value and the accepted forms', async () => {
    expectError(await rondo(['query', dir, 'vm_load', '--start', 'yesterday']), 2, /--start "yesterday" is not a time/, /RFC 3339/, /unix seconds/, /now-15m/);
    expectError(await rondo(['query', dir, 'vm_load', '--end', '2024-02-30T00:00:00Z']), 2, /--end "2024-02-30T00:00:00Z" is not a time/, /no such date/);
    expectError(await rondo(['query', dir, 'vm_load', '--start', '-15x']), 2, /--start "-15x" is not a time \(unknown unit "x"/);
    expectError(await rondo(['query', dir, 'vm_load', '--start', '12345']), 2, /--start "12345" is not a time \(before 2000-01-01/);
    expectError(await rondo(['query', dir, 'vm_load', '--range', '5x']), 2, /--range "5x" is not a duration/, /15m, 1h30m/);
    expectError(await rondo(['query', dir, 'vm_load', '--range', '1.5h']), 2, /--range "1\.5h" is not a duration \(fractions are not allowed/);
    expectError(
      await rondo(['query', dir, 'vm_load', '--start', String(t0 + 10_000), '--end', String(t0)]),
      2,
      /the range is empty: --start "\d+" \(.*\) is after --end "\d+"/,
    );
    expectError(await rondo(['query', dir, 'vm_load', '--start', 'now-1h', '--end', 'now', '--range', '1h']), 2, /at most two of --start, --end and --range/);
  }, T);

  it('an unknown option, a missing value or argument, an unknown format or command (exit 2)', async () => {
    expectError(await rondo(['query', dir, 'vm_load', '--frobnicate']), 2, /^rondo query: unknown option --frobnicate; see rondo query --help$/);
    expectError(await rondo(['info', dir, '--verbose']), 2, /unknown option --verbose/);
    expectError(await rondo(['push', dir, '--url', 'http://x/', '--rate']), 2, /^rondo push: unknown option --rate/);
    expectError(await rondo(['query', dir, 'vm_load', '--start']), 2, /--start needs a value/);
    expectError(await rondo(['query', dir]), 2, /give a store directory and a selector/);
    expectError(await rondo(['query', dir, 'vm_load', '--format', 'xml']), 2, /--format must be csv, json, table or chart/);
    expectError(await rondo(['push', dir]), 2, /--url is required/);
    expectError(await rondo(['push', dir, '--url', 'ftp://x/']), 2, /must use http: or https:/);
    expectError(await rondo(['push', dir, '--url', 'http://127.0.0.1:9/api/v1/write', '--external-label', 'novalue']), 2, /must be name=value/);
    expectError(await rondo(['push', dir, '--url', 'http://127.0.0.1:9/api/v1/write', '--max-retries', 'many']), 2, /--max-retries/);
    expectError(await rondo(['push', dir, '--url', 'http://127.0.0.1:9/api/v1/write', '--timeout', '10']), 2, /--timeout "10" is not a duration/);
    expectError(await rondo(['frob']), 2, /unknown command "frob"/);
    // None of these made an exporter.
    expect(fs.existsSync(path.join(dir, 'exporters'))).toBe(false);
  }, T);

  it('--help on every command: the whole usage with examples, exit 0', async () => {
    const top = await rondo(['--help']);
    expectOk(top);
    for (const c of ['info', 'query', 'push']) expect(top.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    for (const c of ['info', 'query', 'push']) {
      const r = await rondo([c, '--help']);
      expectOk(r);
      expect(r.stdout.startsWith(`usage: rondo ${c} `)).toBe(true);
      expect(r.stdout).toMatch(/\nexamples\n {2}rondo /);
      expect(r.stdout).toMatch(/exit status/);
    }
    const q = (await rondo(['query', '--help'])).stdout;
    for (const f of ['--range', '--start', '--end', '--tier', '--rate', '--format', 'csv', 'json', 'table', 'chart', '=~', '!~']) expect(q).toContain(f);
    const p = (await rondo(['push', dir, '--help'])).stdout;
    for (const f of ['--url', '--exporter', '--external-label', '--bearer-token-file', '--basic-auth-file', '--timeout', '--max-retries']) expect(p).toContain(f);
  }, T);
});

describe('rondo push', () => {
  /** A store of 5 minutes of 1 s data ending a minute ago, and the points it holds per series. */
  function pushStore(prefix: string): { dir: string; wants: Array<{ key: string; name: string; labels: Labels; points: Map<number, number> }>; total: number } {
    const d = tempDir();
    const store = Store.open(d, { schemas: [{ name: 'p', maxSeries: 8, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }] });
    const defs: Array<{ name: string; labels: Labels; kind: SeriesKind; f: (i: number) => number }> = [
      { name: `${prefix}_exits_total`, labels: { reason: 'io' }, kind: 'counter' as const, f: (i: number) => i * 7 },
      { name: `${prefix}_load`, labels: { vm: 'a' }, kind: 'gauge' as const, f: (i: number) => (i % 10) / 4 },
      { name: `${prefix}_rss_bytes`, labels: {}, kind: 'gauge' as const, f: (i: number) => 1e8 + i },
    ];
    const start = alignedPast(6 * 60_000, 60_000);
    const wants = defs.map((x) => ({ key: formatSeries(x.name, x.labels), name: x.name, labels: x.labels, points: new Map<number, number>() }));
    const hs = defs.map((x) => store.register(x.name, x.labels, { kind: x.kind }));
    for (let i = 0; i < 300; i++)
      defs.forEach((x, j) => {
        if (j === 1 && i % 50 === 7) return;
        store.record(hs[j]!, x.f(i), start + i * 1000);
        wants[j]!.points.set(start + i * 1000, x.f(i));
      });
    store.consolidate();
    store.close();
    return { dir: d, wants, total: wants.reduce((a, w) => a + w.points.size, 0) };
  }

  const summaryRe = (samples: number) =>
    new RegExp(`^pushed ${samples.toLocaleString('en-US')} samples in \\d+ batch(es)? to \\S+ \\(exporter \\S+\\): 0 retried, 0 dropped, 0 lost, [\\d.]+s`);

  describe('to a real Prometheus', () => {
    let prom: PrometheusReceiver;
    beforeAll(async () => {
      ensureReceiversInstalled();
      prom = await startPrometheus();
    }, 120_000);
    afterAll(async () => prom?.stop());

    it('sends every sample with its labels and the external labels; only the exporter cursor changes in the store', async () => {
      const { dir: d, wants, total } = pushStore('clipush');
      const before = snapshot(d);
      const r = await rondo(['push', d, '--url', prom.url, '--external-label', 'env=cli-test', '--external-label', 'host=h1']);
      expectOk(r);
      const lines = r.stdout.replace(/\n$/, '').split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(summaryRe(total));
      expect(lines[0]).toContain(` to ${prom.url} (exporter rw_127.0.0.1_`);

      let last = 0;
      for (const w of wants) for (const t of w.points.keys()) last = Math.max(last, t);
      for (const w of wants) {
        const sel = formatSeries(w.name, { ...w.labels, env: 'cli-test', host: 'h1' });
        const q = await getJson<{ data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }>(
          `${prom.api}/api/v1/query?query=${encodeURIComponent(`${sel}[10m]`)}&time=${last / 1000 + 1}`,
        );
        expect(q.data.result).toHaveLength(1);
        expect(q.data.result[0]!.metric).toEqual({ __name__: w.name, ...w.labels, env: 'cli-test', host: 'h1' });
        const got = new Map(q.data.result[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]));
        expect(got).toEqual(w.points);
      }

      // Only exporters/ is new; nothing else in the store changed.
      expect(snapshot(d)).toEqual(before);
      expect(fs.readdirSync(path.join(d, 'exporters')).some((f) => f.endsWith('.json'))).toBe(true);

      // The cursor moved: a second push has nothing to send.
      const again = await rondo(['push', d, '--url', prom.url, '--external-label', 'env=cli-test', '--external-label', 'host=h1']);
      expectOk(again);
      expect(again.stdout).toMatch(/^pushed 0 samples in 0 batches to /);
      expect(snapshot(d)).toEqual(before);
    }, T);
  });

  it('credentials from --basic-auth-file and --bearer-token-file are sent and never printed', async () => {
    const server = await startFaultServer({ status: 204 });
    try {
      const secrets = tempDir();
      const basic = path.join(secrets, 'basic');
      fs.writeFileSync(basic, 'alice:s3cret-pa:ss\n');
      const bearer = path.join(secrets, 'bearer');
      fs.writeFileSync(bearer, 'tok-98765-abcdef\n');

      const a = pushStore('cliauth_a');
      const r1 = await rondo(['push', a.dir, '--url', server.url, '--basic-auth-file', basic, '--exporter', 'auth-test']);
      expectOk(r1);
      expect(r1.stdout).toMatch(summaryRe(a.total));
      expect(r1.stdout).toContain('(exporter auth-test)');
      expect(server.requests.length).toBeGreaterThan(0);
      const b64 = Buffer.from('alice:s3cret-pa:ss').toString('base64');
      for (const q of server.requests) expect(q.headers.authorization).toBe(`Basic ${b64}`);

      const b = pushStore('cliauth_b');
      const n = server.requests.length;
      const r2 = await rondo(['push', b.dir, '--url', server.url, '--bearer-token-file', bearer]);
      expectOk(r2);
      for (const q of server.requests.slice(n)) expect(q.headers.authorization).toBe('Bearer tok-98765-abcdef');

      for (const r of [r1, r2]) for (const secret of ['s3cret', b64, 'tok-98765']) expect(r.stdout + r.stderr).not.toContain(secret);

      // Both files at once, a missing file, a file without "user:".
      expectError(await rondo(['push', a.dir, '--url', server.url, '--basic-auth-file', basic, '--bearer-token-file', bearer]), 2, /not both/);
      expectError(await rondo(['push', a.dir, '--url', server.url, '--bearer-token-file', path.join(secrets, 'none')]), 2, /cannot be read \(ENOENT\)/);
      fs.writeFileSync(basic, 's3cret-only\n');
      const bad = expectError(await rondo(['push', a.dir, '--url', server.url, '--basic-auth-file', basic]), 2, /must hold user:password on one line/);
      expect(bad).not.toContain('s3cret');
    } finally {
      await server.stop();
    }
  }, T);

  it('a receiver that keeps failing: exit 1, one line; the cursor stays, so the next push sends everything', async () => {
    const { dir: d, total } = pushStore('clifail');
    const failing = await startFaultServer({ status: 503, body: 'try later' });
    try {
      const r = await rondo(['push', d, '--url', failing.url, '--exporter', 'x', '--max-retries', '1', '--timeout', '2s']);
      expectError(r, 1, /^rondo push: remote write of \d+ samples to http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write failed after 2 attempts; last: HTTP 503/, /; the next push resends what was not accepted$/);
      expect(r.stdout).toBe('');
      expect(failing.requests).toHaveLength(2);
    } finally {
      await failing.stop();
    }
    const ok = await startFaultServer({ status: 200 });
    try {
      const r = await rondo(['push', d, '--url', ok.url, '--exporter', 'x']);
      expectOk(r);
      expect(r.stdout).toMatch(summaryRe(total));
    } finally {
      await ok.stop();
    }
  }, T);

  it('a receiver that refuses the samples (4xx): the summary counts them as dropped, exit 1', async () => {
    const { dir: d, total } = pushStore('clidrop');
    const refusing = await startFaultServer({ status: 400, body: 'out of bounds' });
    try {
      const r = await rondo(['push', d, '--url', refusing.url]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^pushed 0 samples in \\d+ batch(es)? to .*: 0 retried, ${total.toLocaleString('en-US')} dropped, 0 lost`));
      const err = r.stderr.replace(/\n$/, '').split('\n');
      expect(err).toHaveLength(1);
      expect(err[0]).toBe(`rondo push: ${refusing.url} refused ${total.toLocaleString('en-US')} samples for good (HTTP 400: out of bounds); they are not sent again`);
    } finally {
      await refusing.stop();
    }
  }, T);

  it('on a terminal: push draws a progress bar on stderr from the start, and clears it for the summary', async () => {
    const { dir: d, total } = pushStore('clitty');
    const ok = await startFaultServer({ status: 200 });
    try {
      const r = await underTerminal([CLI, 'push', d, '--url', ok.url]);
      expect(r.code, r.text).toBe(0);
      expect(r.text).toMatch(/\r\x1b\[2K\[-+\]\s+0%  0\/~[\d,]+ samples/); // drawn before the first batch
      expect(r.text).toMatch(new RegExp(`\\r\\x1b\\[2Kpushed ${total.toLocaleString('en-US')} samples in \\d+ batch`)); // the bar cleared, then the summary
    } finally {
      await ok.stop();
    }
  }, T);

  it('an unreachable URL: exit 1 and one line naming it', async () => {
    const { dir: d } = pushStore('clidown');
    const before = snapshot(d);
    const r = await rondo(['push', d, '--url', 'http://127.0.0.1:9/api/v1/write', '--timeout', '2s', '--max-retries', '0']);
    expectError(r, 1, /^rondo push: remote write of \d+ samples to http:\/\/127\.0\.0\.1:9\/api\/v1\/write failed after 1 attempt; last: /);
    expect(r.stdout).toBe('');
    expect(snapshot(d)).toEqual(before);
  }, T);
});

describe('output pieces', () => {
  it('a chart stretches few points over its width, leaves missing ones blank, and labels min and max', () => {
    const ts = new Float64Array([0, 1, 2, 3].map((i) => Date.UTC(2024, 4, 1) + i * 1000));
    const lines = renderChart({ title: 'x', timestamps: ts, values: new Float64Array([1, NaN, 3, 2]), step: 1000, note: '4 points' }, 43);
    expect(lines[0]).toBe('x  min 1  max 3  (4 points)');
    const plot = lines.slice(1, 9).map((l) => l.slice(3).padEnd(40));
    // 40 columns, ten per point: 1 is the lowest block, the missing point blank, 3 full height.
    expect(plot[7]).toBe(`${'▁'.repeat(10)}${' '.repeat(10)}${'█'.repeat(20)}`);
    expect(plot[0]).toBe(`${' '.repeat(20)}${'█'.repeat(10)}${' '.repeat(10)}`);
    expect(lines[9]).toBe(`  └${'─'.repeat(40)}`);
    expect(lines[10]).toBe('  2024-05-01T00:00:00Z 2024-05-01T00:00:03Z');
  });

  it('the push progress line: a bar and a percentage with a total, samples/s always', () => {
    const p = { batches: 3, samples: 6000, through: Date.UTC(2024, 4, 1, 12, 0, 5) };
    expect(progressText(p, 24_000, 2000, '', 100)).toBe('[####------------]  25%  6,000/~24,000 samples  3000/s  up to 12:00:05Z');
    expect(progressText(p, 0, 2000, '', 100)).toBe('6,000 samples  3000/s  up to 12:00:05Z');
    expect(progressText({ ...p, samples: 30_000 }, 24_000, 1000, 'retry 1 of 10', 200)).toMatch(/^\[#{16}\] 100%  30,000\/~24,000 samples  30k\/s  up to 12:00:05Z  \(retry 1 of 10\)$/);
    expect(progressText(p, 24_000, 2000, 'x'.repeat(100), 60)).toHaveLength(59);
  });
});

/** Resolves with the first line of the child's stdout that matches; rejects if it exits first. */
function waitForLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const onExit = (code: number | null) => reject(new Error(`writer exited (${code}) before printing ${re}`));
    child.once('exit', onExit);
    rl.on('line', (line) => {
      if (re.test(line)) {
        child.off('exit', onExit);
        resolve(line);
      }
    });
  });
}
