// rondo export, run for real (node dist/src/cli/main.js) against a real store: the csv and
// OpenMetrics text hold exactly the points recorded, Prometheus's own promtool backfills the
// OpenMetrics text into a TSDB block whose samples are those points, and the Gorilla container
// reads back bit for bit.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptFileError, decodeContainer, formatSeries, Store, type Labels, type SeriesKind } from '../src/index';
import { suiteTempDir, tempDir } from './helpers';
import { rondo } from './support/run-cli';

const T = 60_000;


interface Truth {
  name: string;
  labels: Labels;
  kind: SeriesKind;
  points: Map<number, number>;
}

const STEP = 1000;
/** Recorded points, by series key: what every export must give back. */
const truth = new Map<string, Truth>();
let dir = '';
let t0 = 0;

beforeAll(() => {
  dir = path.join(suiteTempDir(), 'store');
  const store = Store.open(dir, { schemas: [{ name: 'e', maxSeries: 16, tiers: [{ interval: '1s', retention: '1h' }] }] });
  t0 = Math.floor((Date.now() - 30 * 60_000) / STEP) * STEP;
  const series: [string, Labels, SeriesKind][] = [
    ['cpu_temperature_celsius', { host: 'a', zone: 'eu"west\\1' }, 'gauge'],
    ['cpu_temperature_celsius', { host: 'b', note: 'ünïcode, \\n not a newline' }, 'gauge'],
    ['vcpu_exits_total', { reason: 'io' }, 'counter'],
    ['bytes_moved', {}, 'counter'],
    ['tiny_and_huge', { kind: 'x' }, 'gauge'],
  ];
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const [name, labels, kind] of series) {
    const h = store.register(name, labels, { kind });
    const points = new Map<number, number>();
    let counter = 0;
    for (let i = 0; i < 900; i++) {
      if (rnd() < 0.15) continue; // gaps: intervals with nothing recorded
      const ts = t0 + i * STEP;
      const v =
        kind === 'counter'
          ? (counter += Math.floor(rnd() * 1000))
          : name === 'tiny_and_huge'
            ? (rnd() - 0.5) * 10 ** Math.floor(rnd() * 60 - 30)
            : Math.round((40 + rnd() * 20) * 1000) / 1000;
      store.record(h, v, ts);
      points.set(ts, v);
    }
    truth.set(formatSeries(name, labels), { name, labels, kind, points });
  }
  store.describe('cpu_temperature_celsius', { help: 'Die temperature, "as read" by the \\ sensor', unit: 'celsius' });
  store.describe('bytes_moved', { help: 'Bytes moved.', unit: 'bytes' }); // the name does not end in _bytes: no UNIT line
  store.close();
});

/** Checks that `got` (series key -> timestamp -> value) is exactly the recorded points. */
function expectTruth(got: Map<string, Map<number, number>>): void {
  expect([...got.keys()].sort()).toEqual([...truth.keys()].sort());
  for (const [key, t] of truth) {
    const g = got.get(key)!;
    expect(g.size, key).toBe(t.points.size);
    for (const [ts, v] of t.points) expect(g.get(ts), `${key} at ${ts}`).toBe(v);
  }
}

function add(m: Map<string, Map<number, number>>, key: string, ts: number, v: number): void {
  const s = m.get(key) ?? new Map<number, number>();
  expect(s.has(ts), `${key} at ${ts} twice`).toBe(false);
  s.set(ts, v);
  m.set(key, s);
}

/** Parses OpenMetrics sample lines (name{labels} value timestamp_s) as this test's own reader. */
function parseSample(line: string): { key: string; value: number; ts: number } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+) (\S+)$/.exec(line);
  expect(m, line).not.toBeNull();
  const labels: Record<string, string> = {};
  const body = m![2] === undefined ? '' : m![2].slice(1, -1);
  for (const lm of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
    labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return { key: formatSeries(m![1]!, labels), value: Number(m![3]), ts: Math.round(Number(m![4]) * 1000) };
}

describe('rondo export', () => {
  it(
    'csv holds exactly the recorded points',
    async () => {
      const r = await rondo(['export', dir, '--format', 'csv']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('series,timestamp,value');
      const got = new Map<string, Map<number, number>>();
      for (const line of lines.slice(1)) {
        const m = /^("(?:[^"]|"")*"|[^,]*),([^,]+),([^,]+)$/.exec(line);
        expect(m, line).not.toBeNull();
        const key = m![1]!.startsWith('"') ? m![1]!.slice(1, -1).replace(/""/g, '"') : m![1]!;
        add(got, key, Date.parse(m![2]!), Number(m![3]));
      }
      expectTruth(got);
    },
    T,
  );

  it(
    'openmetrics holds exactly the recorded points, each family together, and ends with # EOF',
    async () => {
      const out = path.join(tempDir(), 'm.om');
      const r = await rondo(['export', dir, '--format', 'openmetrics', '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdoutBytes.length).toBe(0);
      const text = fs.readFileSync(out, 'utf8');
      const lines = text.trimEnd().split('\n');
      expect(lines[lines.length - 1]).toBe('# EOF');
      // HELP and UNIT from the store's descriptions; UNIT only where the name ends in the unit
      expect(lines.filter((l) => l.startsWith('# HELP ') || l.startsWith('# UNIT ')).sort()).toEqual(
        ['# HELP bytes_moved Bytes moved.', '# HELP cpu_temperature_celsius Die temperature, \\"as read\\" by the \\\\ sensor', '# UNIT cpu_temperature_celsius celsius'].sort(),
      );
      const types = lines.filter((l) => l.startsWith('# TYPE '));
      expect(types.sort()).toEqual(
        ['# TYPE bytes_moved unknown', '# TYPE cpu_temperature_celsius gauge', '# TYPE tiny_and_huge gauge', '# TYPE vcpu_exits counter'].sort(),
      );
      const got = new Map<string, Map<number, number>>();
      const seenFamilies: string[] = [];
      for (const l of lines) {
        if (l.startsWith('#')) continue;
        const s = parseSample(l);
        add(got, s.key, s.ts, s.value);
        const fam = l.split(/[{ ]/)[0]!;
        if (seenFamilies[seenFamilies.length - 1] !== fam) seenFamilies.push(fam);
      }
      expect(new Set(seenFamilies).size, 'a family split in two').toBe(seenFamilies.length);
      expectTruth(got);
    },
    T,
  );

  it(
    "promtool tsdb create-blocks-from openmetrics backfills it: the block's samples are the recorded points",
    async () => {
      const work = tempDir();
      const om = path.join(work, 'm.om');
      expect((await rondo(['export', dir, '--format', 'openmetrics', '-o', om])).code).toBe(0);
      const data = path.join(work, 'data');
      execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, data], { stdio: 'pipe' });
      fs.mkdirSync(path.join(data, 'wal')); // dump reads a WAL too; the backfill writes blocks only
      const dump = execFileSync('promtool', ['tsdb', 'dump', data], { maxBuffer: 256 << 20 }).toString('utf8');
      const got = new Map<string, Map<number, number>>();
      for (const line of dump.trimEnd().split('\n')) {
        // {__name__="x", a="b"} value timestamp_ms
        const m = /^\{(.*)\} (\S+) (\S+)$/.exec(line);
        expect(m, line).not.toBeNull();
        const labels: Record<string, string> = {};
        let name = '';
        for (const lm of m![1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
          const v = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
          if (lm[1] === '__name__') name = v;
          else labels[lm[1]!] = v;
        }
        add(got, formatSeries(name, labels), Number(m![3]), Number(m![2]));
      }
      expectTruth(got);
    },
    T,
  );

  it(
    'gorilla writes the series container: every point back bit for bit, and a damaged chunk is named',
    async () => {
      const out = path.join(tempDir(), 'm.rsc');
      const r = await rondo(['export', dir, '--format', 'gorilla', '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      const bytes = fs.readFileSync(out);
      const series = decodeContainer(bytes);
      const got = new Map<string, Map<number, number>>();
      for (const s of series) {
        expect(s.damaged).toEqual([]);
        expect(s.kind).toBe(truth.get(formatSeries(s.name, s.labels))!.kind);
        for (let i = 0; i < s.timestamps.length; i++) add(got, formatSeries(s.name, s.labels), s.timestamps[i]!, s.values[i]!);
      }
      expectTruth(got);
      // Gorilla on 1 s gauges and counters: well under raw's 16 bytes a point.
      const points = [...truth.values()].reduce((a, t) => a + t.points.size, 0);
      expect(bytes.length / points).toBeLessThan(8);
      // The same bytes on stdout.
      expect((await rondo(['export', dir, '--format', 'gorilla'])).stdoutBytes.equals(bytes)).toBe(true);
      // A flipped byte inside the last chunk's payload: that chunk is named, the others are read.
      const bad = Buffer.from(bytes);
      bad[bad.length - 20]! ^= 0x40;
      const back = decodeContainer(bad);
      const hit = back.filter((s) => s.damaged.length > 0);
      expect(hit).toHaveLength(1);
      expect(hit[0]!.damaged[0]).toMatch(/^chunk 0: chunk: checksum mismatch/);
      expect(back.filter((s) => s.damaged.length === 0)).toHaveLength(series.length - 1);
      expect(() => decodeContainer(bad.subarray(0, 30))).toThrow(CorruptFileError);
    },
    T,
  );

  it(
    'a selector, --from and --to narrow what is written',
    async () => {
      const from = t0 + 100 * STEP;
      const to = t0 + 199 * STEP;
      const r = await rondo(['export', dir, 'cpu_temperature_celsius{host="a"}', '--format', 'csv', '--from', String(from), '--to', String(to)]);
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout.trimEnd().split('\n').slice(1);
      const t = [...truth.values()].find((x) => x.name === 'cpu_temperature_celsius' && x.labels.host === 'a')!;
      const want = [...t.points.keys()].filter((ts) => ts >= from && ts <= to);
      expect(rows.length).toBe(want.length);
      expect(rows.every((row) => row.startsWith('"cpu_temperature_celsius{host=""a"",'))).toBe(true);
    },
    T,
  );

  it(
    'mistakes are one line on stderr and exit status 2',
    async () => {
      for (const [args, msg] of [
        [['export', dir], /--format is required/],
        [['export', dir, '--format', 'parquet'], /--format must be csv, openmetrics or gorilla/],
        [['export', dir, 'bad{', '--format', 'csv'], /rondo export: .*in "bad\{"/],
        [['export', dir, '--format', 'csv', '--from', 'yesterday'], /--from "yesterday" is not a time/],
        [['export', dir, '--format', 'csv', '--tier', 'x'], /--tier must be auto, stitch or a tier index/],
      ] as [string[], RegExp][]) {
        const r = await rondo(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(msg);
      }
      const r = await rondo(['export', path.join(dir, 'nope'), '--format', 'csv']);
      expect(r.code).toBe(1);
    },
    T,
  );
});
