// rondo bench: runs the built CLI as a child process and checks that what it prints is well formed
// (every path, ordered finite percentiles, ratios that match their figures, the C-loop rows).
// Nothing here asserts how fast anything is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport, BenchRow } from '../src/cli/bench';
import { ROOT } from './fixtures/build';
import { suiteTempDir, underTerminal } from './helpers';
import { rondo as runCli, type CliRun } from './support/run-cli';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
let tmp = '';

beforeAll(() => {
  // The bench's temporary store and C-loop file go under TMPDIR: a private one shows they are removed.
  tmp = suiteTempDir();
}, 120_000);

function rondo(...args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: ROOT, env: { TMPDIR: tmp } });
}

function checkRow(r: BenchRow, ops: number): void {
  for (const k of ['p50Ns', 'p99Ns', 'p999Ns', 'writesPerSec', 'ratio'] as const) {
    expect(Number.isFinite(r[k]), `${r.label} ${k}`).toBe(true);
    expect(r[k], `${r.label} ${k}`).toBeGreaterThan(0);
  }
  expect(r.p50Ns).toBeLessThanOrEqual(r.p99Ns);
  expect(r.p99Ns).toBeLessThanOrEqual(r.p999Ns);
  expect(r.ops).toBe(ops);
  expect(r.chunks).toBeGreaterThanOrEqual(1);
  expect(r.chunkOps).toBeGreaterThanOrEqual(1);
  expect(r.lateWrites).toBe(0);
}

/** Every ratio is p50 / the p50 of the C-loop row it names, within the rounding of the figures. */
function checkRatios(rep: BenchReport): void {
  for (const r of rep.rows) {
    const base = rep.rows.find((b) => b.label === r.ratioTo);
    expect(base, `${r.label} ratioTo ${r.ratioTo}`).toBeDefined();
    expect(base!.path).toBe('c-loop');
    const want = r.p50Ns / base!.p50Ns;
    expect(Math.abs(r.ratio! - want), `${r.label}: ratio ${r.ratio}, p50 ratio ${want}`).toBeLessThanOrEqual(0.002 + want * 0.002);
  }
}

function leftovers(): string[] {
  return fs.readdirSync(tmp);
}

describe('rondo bench', () => {
  it('--path all --format json reports every path and the C loop, well formed', async () => {
    const r = await rondo('bench', '--points', '200000', '--series', '8', '--path', 'all', '--format', 'json');
    expect(r.stderr).toBe(''); // no progress bar without a terminal
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as BenchReport;
    expect(rep.machine.node).toBe(process.version);
    expect(rep.machine.cores).toBeGreaterThanOrEqual(1);
    expect(typeof rep.machine.cpu).toBe('string');
    expect(rep.params).toMatchObject({ points: 200000, series: 8, threads: 1, paths: ['js', 'napi', 'batch', 'native'], rounds: 25000, chunkOps: 1024, rowBytes: 80 });
    expect(rep.rows.map((x) => x.path)).toEqual(['c-loop', 'js', 'napi', 'batch', 'native']);
    expect(rep.rows.every((x) => x.threads === 1)).toBe(true);
    for (const row of rep.rows) checkRow(row, 200000);
    const c = rep.rows[0]!;
    expect(c.label).toBe('C loop');
    expect(c.ratio).toBe(1);
    expect(rep.rows.every((x) => x.ratioTo === 'C loop')).toBe(true);
    checkRatios(rep);
    expect(leftovers()).toEqual([]);
  }, 120_000);

  it('--threads runs the C loop on T threads too, and compares native threads with it', async () => {
    const r = await rondo('bench', '--points', '20000', '--series', '4', '--path', 'native', '--threads', '2', '--format', 'json');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as BenchReport;
    expect(rep.rows.map((x) => [x.path, x.threads, x.label])).toEqual([
      ['c-loop', 1, 'C loop'],
      ['c-loop', 2, 'C loop, 2 threads'],
      ['native', 2, 'native, 2 threads'],
    ]);
    for (const row of rep.rows) checkRow(row, 20000);
    expect(rep.rows[1]!.ratioTo).toBe('C loop');
    expect(rep.rows[2]!.ratioTo).toBe('C loop, 2 threads');
    checkRatios(rep);
    expect(leftovers()).toEqual([]);
  }, 120_000);

  it('prints a table with a header and one row per path, and says how percentiles are taken', async () => {
    const r = await rondo('bench', '--points', '200000', '--series', '8', '--path', 'all', '--threads', '2');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^machine: node v\d+\.\d+\.\d+, .+, \d+ cores/);
    expect(r.stdout).toContain('8 series × 25000 rounds');
    expect(r.stdout).toContain('percentiles over chunks of 1024 ops');
    const h = lines.findIndex((l) => /^path\s+ops\s+p50 ns\s+p99 ns\s+p999 ns\s+writes\/s\s+ratio$/.test(l));
    expect(h).toBeGreaterThan(0);
    const table = lines.slice(h + 1);
    const labels = ['C loop', 'C loop, 2 threads', 'js', 'napi', 'batch', 'native, 2 threads'];
    expect(table).toHaveLength(labels.length);
    const num = String.raw`\d+\.\d+`;
    table.forEach((line, i) => {
      const m = new RegExp(String.raw`^(.+?)\s+(\d+)\s+(${num})\s+(${num})\s+(${num})\s+(${num}) M\s+(${num})×`).exec(line);
      expect(m, line).not.toBeNull();
      expect(m![1]).toBe(labels[i]);
      expect(Number(m![2])).toBe(200000);
      const [p50, p99, p999] = [m![3], m![4], m![5]].map(Number) as [number, number, number];
      expect(p50).toBeLessThanOrEqual(p99);
      expect(p99).toBeLessThanOrEqual(p999);
    });
    // Aligned: every row is as wide as the header up to the ratio column.
    const ratioCol = lines[h]!.indexOf('ratio');
    for (const line of table) expect(line[ratioCol - 1]).toBe(' ');
    expect(leftovers()).toEqual([]);
  }, 120_000);

  it('on a terminal: a progress bar per path on stderr, cleared before the table', async () => {
    const r = await underTerminal([CLI, 'bench', '--points', '200000', '--series', '8', '--path', 'js,batch']);
    expect(r.code, r.text).toBe(0);
    for (const p of ['js', 'batch']) expect(r.text).toMatch(new RegExp(String.raw`\r\x1b\[2Kbench ${p}\s.*\[#*\.*\]\s+\d+%`));
    expect(r.text).toMatch(/\r\x1b\[2Kmachine: node v/); // the bar cleared, then the report
    expect(leftovers()).toEqual([]);
  }, 120_000);

  it('--help explains the paths and --path all', async () => {
    const r = await rondo('bench', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--path');
    expect(r.stdout).toMatch(/all\s+every path/);
    expect(r.stdout).toContain('chunks of 1024 ops');
  });

  it.each([
    [['--points', '5'], '--points'],
    [['--points', 'many'], '--points'],
    [['--points', '1.5e6'], '--points'],
    [['--series', '0'], '--series'],
    [['--series', '100000'], '--series'],
    [['--series', '8', '--threads', '9'], '--threads'],
    [['--threads', '0'], '--threads'],
    [['--path', 'rust'], '--path'],
    [['--format', 'yaml'], '--format'],
    [['--frobnicate'], '--frobnicate'],
  ])('bad arguments %j exit 2 with one line naming %s', async (args, option) => {
    const r = await rondo('bench', ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const err = r.stderr.trimEnd().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toContain(option);
    expect(err[0]).toMatch(/^rondo bench: /);
  });
});
