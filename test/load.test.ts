// Load (docs/reliability.md, "Under load"): 16 native writer threads and the JavaScript thread
// record into one store at the wall clock as fast as they can, the JavaScript thread consolidates
// every 100 ms, and 4 reader processes query the whole ring over and over, checking every value
// against the interval it is reported at. RONDO_LOAD_SECONDS sets the duration (default 12; the
// figures in docs/reliability.md are from a 60 s run). The writers and readers run at a lower
// priority (nice 10), so the rest of the suite, running beside this file, is not starved.
import * as path from 'node:path';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { tempDir } from './helpers';
import { runFixture, type Child, type ReaderSummary } from './fixtures/child';

const SECONDS = Number(process.env.RONDO_LOAD_SECONDS ?? 12);
const THREADS = 16;
const READERS = 4;
const IV = 100; // tier 0: 100 ms × 1 min, so rows are taken ten times a second and the ring laps
const SLOTS = 600;


interface WriterResult {
  elapsedMs: number;
  native: Array<{ ok: number; late: number }>;
  js: { ok: number; errors: number; firstError: string | null };
  consolidations: number;
}
function lowPriority(child: Child): void {
  try {
    os.setPriority(child.proc.pid!, 10);
  } catch {
    // not allowed here: it runs at the usual priority
  }
}

const jsonLine = <T>(c: Child): T => JSON.parse(c.lines.find((l) => l.startsWith('{'))!) as T;
const rate = (n: number, ms: number) => `${((n / ms) * 1000 / 1e6).toFixed(2)} M/s`;

describe(`${THREADS} native writer threads, the JavaScript thread and ${READERS} reader processes on one store for ${SECONDS} s`, () => {
  it(
    'ingest without a refused write or an error, and every row every reader reads is consistent',
    async () => {
      const root = tempDir();
      const dir = path.join(root, 'store');
      const setup = Store.open(dir, {
        schemas: [
          {
            name: 'load',
            match: {},
            maxSeries: THREADS + 1,
            tiers: [
              { interval: IV, retention: SLOTS * IV },
              // float64: a value names its interval and column (k * 1000 + col), checked exactly.
              { interval: 10 * IV, retention: 600 * 10 * IV, consolidate: 'max', precision: 'float64' },
            ],
          },
        ],
      });
      for (let c = 0; c <= THREADS; c++) setup.register('load_value', { col: String(c) });
      setup.close();

      const durationMs = SECONDS * 1000;
      const writer = runFixture('load-writer.js', [dir, String(THREADS), String(durationMs)]);
      lowPriority(writer);
      await writer.waitFor((l) => l === 'started', 60_000);
      const startedAt = Date.now();
      const readers = Array.from({ length: READERS }, () => {
        const r = runFixture('reader.js', [dir, String(Math.max(1000, durationMs - 1000))]);
        lowPriority(r);
        return r;
      });
      const [w, ...rs] = await Promise.all([writer.closed, ...readers.map((r) => r.closed)]);
      expect(w!.code, writer.stderr()).toBe(0);
      rs.forEach((r, i) => expect(r.code, readers[i]!.stderr()).toBe(0));
      const result = jsonLine<WriterResult>(writer);
      const summaries = readers.map((r) => jsonLine<ReaderSummary>(r));

      // What the ring holds now: each value its interval's; how much of the run is there.
      const store = Store.openReadOnly(dir);
      const t0 = store.info().schemas[0]!.tiers[0]!;
      const newest = t0.newest!;
      const from = Math.max(startedAt + IV, newest - (SLOTS - 1) * IV);
      const to = startedAt + result.elapsedMs - 2 * IV;
      const wrong: string[] = [];
      let present = 0;
      let cells = 0;
      for (let c = 0; c <= THREADS; c++) {
        const h = store.find('load_value', { col: String(c) })!;
        const r = store.query(h, { start: newest - (SLOTS - 1) * IV, end: newest, tier: 0 });
        r.values.forEach((v, i) => {
          const ts = r.timestamps[i]!;
          if (!Number.isNaN(v) && v !== (ts / IV) * 1000 + c && wrong.length < 10) wrong.push(`col ${c} at ${ts}: ${v}`);
          if (ts >= from && ts <= to) {
            cells++;
            if (!Number.isNaN(v)) present++;
          }
        });
        // Tier 1 (max of ten rows): a value of one of its own rows, of its own column.
        const b = store.query(h, { start: newest - 300 * IV, end: newest, tier: 1 });
        b.values.forEach((v, i) => {
          const k = Math.floor(v / 1000);
          const k0 = b.timestamps[i]! / IV;
          if (!Number.isNaN(v) && (k < k0 || k >= k0 + 10 || v - k * 1000 !== c) && wrong.length < 10)
            wrong.push(`tier 1 col ${c} at ${b.timestamps[i]}: ${v}`);
        });
      }
      store.close();

      const nativeOk = result.native.reduce((a, r) => a + r.ok, 0);
      const late = result.native.reduce((a, r) => a + r.late, 0);
      const rows = summaries.reduce((a, s) => a + s.rowsChecked, 0);
      const readCells = summaries.reduce((a, s) => a + s.cellsChecked, 0);
      console.log(
        `load, ${SECONDS} s: ${THREADS} native threads ${nativeOk.toLocaleString('en')} writes (${rate(nativeOk, result.elapsedMs)}), ` +
          `JavaScript thread ${result.js.ok.toLocaleString('en')} writes (${rate(result.js.ok, result.elapsedMs)}) and ${result.consolidations} consolidations, ` +
          `${late} refused, ${result.js.errors} errors; ${READERS} readers: ${summaries.reduce((a, s) => a + s.queries, 0)} queries, ` +
          `${rows.toLocaleString('en')} rows and ${readCells.toLocaleString('en')} values checked, ${summaries.reduce((a, s) => a + s.violations, 0)} inconsistent; ` +
          `ring after the run: ${present} of ${cells} (interval, series) cells of the run present (${((present / Math.max(1, cells)) * 100).toFixed(2)}%)`,
      );

      expect(result.js).toEqual({ ok: result.js.ok, errors: 0, firstError: null });
      expect(result.js.ok).toBeGreaterThan(0);
      result.native.forEach((r, t) => {
        expect(r.late, `thread ${t}`).toBe(0);
        expect(r.ok, `thread ${t}`).toBeGreaterThan(0);
      });
      summaries.forEach((s, i) => {
        expect(s.readOnly).toBe(true);
        expect(s.examples, `reader ${i}`).toEqual([]);
        expect(s.violations, `reader ${i}`).toBe(0);
        expect(s.rowsChecked, `reader ${i}`).toBeGreaterThan(0);
      });
      expect(wrong).toEqual([]);
      expect(t0.lateWrites).toBe(0);
      // Rows are taken for every interval of the run: writers at the wall clock leave no gap
      // unless the machine starves all 17 of them for a whole interval.
      expect(present).toBeGreaterThan(cells * 0.5);
    },
    60_000 + SECONDS * 3000,
  );
});
