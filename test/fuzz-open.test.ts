// Hostile files (docs/reliability.md, "Damaged and hostile files"): thousands of copies of a small
// store, each damaged in one random way — a slab truncated, extended, its header or rows
// byte-flipped, a header field given a hostile value under a valid checksum; rondo.json,
// series.json or an exporter's cursor truncated, extended, flipped, rewritten with hostile values
// and a valid checksum, or nested too deep to parse — and opened, for writing or read-only. Each
// open must either succeed with the data that was recorded (except where a damaged byte explains a
// difference) or fail with CorruptFileError: never another error, a crash, a hang or an
// out-of-bounds read (scripts/asan-test.sh runs this file against an AddressSanitizer build).
// Damage the documented checks must catch (a byte of a slab header's bytes 0-127 changed without
// the checksum recomputed, a slab's size, a metadata file that no longer parses to its format,
// version and checksum) must fail; and where no metadata file is left with a different body under
// a valid checksum, what opens must have the pristine series, schemas and first export batch.
//
// The cases run in a child process (test/fixtures/fuzz-open.js): a crash or a hang there is
// caught here and named by its case. RONDO_FUZZ_CASES sets the number of store cases (default
// 1200; exporter cases are a quarter of it), RONDO_FUZZ_SEED the seed (default: fresh, or fixed when
// CI is set; printed, see fixtures/random.js; a case is replayed with
// `node test/fixtures/fuzz-open.js <dir> <seed> 1 <store|exporter> <case>`).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptFileError, Store } from '../src/index';
import { FIXTURES } from './fixtures/build';
import { tempDir } from './helpers';
import { suiteSeed } from './fixtures/random';

const CASES = Number(process.env.RONDO_FUZZ_CASES ?? 1200);
// RONDO_FUZZ_SEED replays a run; CI runs use 1200 (fixtures/random.js).
const SEED = suiteSeed('RONDO_FUZZ_SEED', 1200, 'fuzz-open');
/** A case that prints nothing for this long is hung. */
const HANG_MS = 30_000;
/** The whole run's limit: 10 minutes, or 20 ms a case for long runs (100,000 cases: about 33 min). */
const RUN_MS = Math.max(600_000, CASES * 20);


interface FuzzSummary {
  cases: number;
  refused: number;
  opened: number;
  refusedOnUse: number;
  byFile: Record<string, number>;
  byKind: Record<string, number>;
  bad: Array<{ case: number; what: string; problems: string[] }>;
}

/** Runs `cases` cases of the fixture; rejects naming the case if the child crashes or hangs. */
function runFuzz(targets: 'store' | 'exporter', cases: number): Promise<FuzzSummary> {
  const work = tempDir();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'fuzz-open.js'), work, String(SEED), String(cases), targets], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last = '(before the first case)';
    let partial = '';
    let summary: FuzzSummary | undefined;
    let stderr = '';
    let timer = setTimeout(() => hung(), HANG_MS);
    const hung = () => {
      child.kill('SIGKILL');
      reject(new Error(`seed ${SEED}: no progress for ${HANG_MS} ms: hung in ${last}`));
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => hung(), HANG_MS);
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.startsWith('case ')) last = line;
        else if (line.startsWith('summary ')) summary = JSON.parse(line.slice(8)) as FuzzSummary;
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      if (stderr.length < 20_000) stderr += c;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (summary !== undefined && code === 0) resolve(summary);
      else reject(new Error(`seed ${SEED}: the fuzz process ended (code ${code}, signal ${signal}) in ${last}\n${stderr}`));
    });
  });
}

function report(what: string, s: FuzzSummary): void {
  console.log(
    `${what}: ${s.cases} cases (seed ${SEED}): ${s.refused} refused with CorruptFileError, ${s.opened} opened ` +
      `(${s.refusedOnUse} of them refused on first use); ` +
      `by damage: ${JSON.stringify(s.byKind)}`,
  );
}

describe(`opening a store with hostile files (seed ${SEED})`, () => {
  it(`slabs, rondo.json and series.json, ${CASES} cases: CorruptFileError or the data as recorded, nothing else`, async () => {
    const s = await runFuzz('store', CASES);
    report('store fuzz', s);
    expect(s.cases).toBe(CASES);
    expect(s.bad).toEqual([]);
    // Both outcomes occur: the checks refuse damage, and are not so eager they refuse everything.
    expect(s.refused).toBeGreaterThan(CASES / 5);
    expect(s.opened).toBeGreaterThan(CASES / 10);
    // Every kind of damage was tried.
    for (const kind of ['truncate', 'extend', 'flip', 'header', 'counter', 'row', 'body', 'envelope', 'deep:'])
      expect(Object.keys(s.byKind).some((k) => k.split(' ')[1] === kind || k.endsWith(` ${kind}`)), kind).toBe(true);
  }, RUN_MS);

  it(`exporter cursors, ${Math.ceil(CASES / 4)} cases: CorruptFileError or an exporter that gives what was recorded`, async () => {
    const cases = Math.ceil(CASES / 4);
    const s = await runFuzz('exporter', cases);
    report('exporter fuzz', s);
    expect(s.cases).toBe(cases);
    expect(s.bad).toEqual([]);
    expect(s.refusedOnUse).toBeGreaterThan(0);
    expect(s.opened - s.refusedOnUse).toBeGreaterThan(0);
  }, RUN_MS);
});

describe('store files that are not files', () => {
  function store(): string {
    const dir = tempDir();
    const s = Store.open(dir, { schemas: [{ name: 'nf', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '1m' }] }] });
    s.record(s.register('nf_value'), 1);
    s.close();
    return dir;
  }

  /** Opens the store in a child (so a hang cannot stop this test): the outcome's error name. */
  function openInChild(dir: string, readOnly: boolean): string {
    const code = `const { Store } = require(${JSON.stringify(path.join(FIXTURES, '..', '..', 'dist', 'src'))});
      try { const s = Store.${readOnly ? 'openReadOnly' : 'open'}(${JSON.stringify(dir)}); s.info(); s.close(); console.log('opened'); }
      catch (e) { console.log(e.name + ': ' + e.message.split('\\n')[0]); }`;
    const r = spawnSync(process.execPath, ['-e', code], { timeout: 8_000, encoding: 'utf8' });
    if (r.error !== undefined || r.signal !== null) return `hung or crashed (${r.signal ?? r.error?.message})`;
    return r.stdout.trim();
  }

  it('metadata files that are directories or FIFOs are refused with CorruptFileError, not waited on', () => {
    for (const [file, make] of [
      ['series.json', (p: string) => fs.mkdirSync(p)],
      ['rondo.json', (p: string) => fs.mkdirSync(p)],
      ['series.json', (p: string) => spawnSync('mkfifo', [p])],
      ['rondo.json', (p: string) => spawnSync('mkfifo', [p])],
    ] as const) {
      for (const readOnly of [true, false]) {
        const dir = store();
        fs.rmSync(path.join(dir, file));
        make(path.join(dir, file));
        expect(openInChild(dir, readOnly), `${file} ${readOnly ? 'read-only' : 'writer'}`).toMatch(/^CorruptFileError: .*(?:not a regular file|a directory)/);
      }
    }
    // And in this process, the error class itself.
    const dir = store();
    fs.rmSync(path.join(dir, 'series.json'));
    fs.mkdirSync(path.join(dir, 'series.json'));
    expect(() => Store.openReadOnly(dir)).toThrow(CorruptFileError);
    // Eight child processes: seconds each under AddressSanitizer on a busy machine.
  }, 90_000);

  // A FIFO would block a read-only open() without O_NONBLOCK, and mmap of a directory fails with
  // ENODEV: both must be refused by name before mapping (docs/reliability.md, "Known gaps", 2).
  it('a slab that is a directory or a FIFO is refused with CorruptFileError, not waited on', () => {
    const outcomes: string[] = [];
    for (const make of [(p: string) => fs.mkdirSync(p), (p: string) => spawnSync('mkfifo', [p])]) {
      for (const readOnly of [true, false]) {
        const dir = store();
        const slab = path.join(dir, 'nf.t0.slab');
        fs.rmSync(slab);
        make(slab);
        outcomes.push(`${fs.statSync(slab).isFIFO() ? 'fifo' : 'directory'} ${readOnly ? 'read-only' : 'writer'}: ${openInChild(dir, readOnly)}`);
      }
    }
    expect(outcomes.filter((o) => !/: CorruptFileError: /.test(o))).toEqual([]);
  }, 90_000);
});
