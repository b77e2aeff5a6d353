// Readers in another process (docs/reliability.md, guarantees 5 and 8): a read-only open
// works while the writer holds the lock, a reader only ever sees whole rows (a row being replaced
// while it is read is not returned), and a reader changes nothing in the store's files.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReadOnlyError, Store, type SeriesHandle } from '../src/index';
import { tempDir } from './helpers';
import { runFixture, type ReaderSummary } from './fixtures/child';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('a reader in another process', () => {
  it('sees only whole rows while the writer laps a 16-slot ring thousands of times', async () => {
    const SERIES = 6;
    const SLOTS = 16;
    const IV = 1;
    const dir = tempDir();
    const store = Store.open(dir, {
      schemas: [{ name: 'fast', match: {}, maxSeries: SERIES, tiers: [{ interval: IV, retention: SLOTS * IV }] }],
    });
    const hs: SeriesHandle[] = [];
    for (let c = 0; c < SERIES; c++) hs.push(store.register('lap_value', { col: String(c) }));
    // Value k * 1000 + col at interval k: any value names the interval it was written for.
    let k = Math.floor(Date.now() / IV) - (12 * 3_600_000) / IV;
    const writeSome = (n: number) => {
      for (let j = 0; j < n; j++, k++) for (let c = 0; c < SERIES; c++) store.record(hs[c]!, k * 1000 + c, k * IV);
    };
    writeSome(SLOTS * 4);

    let writtenWhileReading = 0;
    let reading = false;
    const child = runFixture('reader.js', [dir, '2500'], (line) => {
      if (line === 'reading') reading = true;
    });
    let done = false;
    void child.closed.then(() => {
      done = true;
    });
    // Write in bursts of varied length (from a fraction of a lap to hundreds of laps), yielding
    // in between so the child's output is read, until the reader is finished.
    const stopAt = Date.now() + 60_000;
    for (let burst = 0; !done && Date.now() < stopAt; burst++) {
      const before = k;
      // Stay in the past whatever the speed: the ring laps either way.
      if (k * IV < Date.now() - 60_000) writeSome(1 + ((burst * 7919) % 4096));
      if (reading) writtenWhileReading += k - before;
      await tick();
    }
    const { code } = await child.closed;
    expect(code, child.stderr()).toBe(0);
    const summary = JSON.parse(child.lines.find((l) => l.startsWith('{'))!) as ReaderSummary;
    expect(summary.readOnly).toBe(true);
    expect(summary.examples).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.rowsChecked).toBeGreaterThan(0);
    expect(summary.queries).toBeGreaterThan(1);
    // The writer really was lapping the ring while the child read.
    expect(writtenWhileReading).toBeGreaterThan(10 * SLOTS);
    expect(store.info().schemas[0]!.tiers[0]!.lateWrites).toBe(0);
    store.close();
  }, 90_000);

  it('opens read-only while the writer holds the lock, and cannot write', async () => {
    const dir = tempDir();
    const w = Store.open(dir, { schemas: [{ name: 's', match: {}, maxSeries: 2, tiers: [{ interval: '1s', retention: '1m' }] }] });
    const h = w.register('held', { col: '0' });
    const t = Math.floor(Date.now() / 1000) * 1000 - 5000;
    w.record(h, (t / 1000) * 1000 + 0, t); // the reader's pattern: k * 1000 + col, k = t / 1000
    const child = runFixture('reader.js', [dir, '200']);
    const { code } = await child.closed;
    expect(code, child.stderr()).toBe(0);
    const summary = JSON.parse(child.lines.find((l) => l.startsWith('{'))!) as ReaderSummary;
    expect(summary).toMatchObject({ readOnly: true, violations: 0 });
    expect(summary.cellsChecked).toBeGreaterThan(0);

    const r = Store.openReadOnly(dir);
    const rh = r.find('held', { col: '0' })!;
    expect(() => r.record(rh, 1, t + 1000)).toThrow(ReadOnlyError);
    expect(() => r.register('other')).toThrow(ReadOnlyError);
    expect(() => r.flush()).toThrow(ReadOnlyError);
    r.close();
    w.close();
  }, 30_000);

  it('changes nothing in the files of a closed store: same names, bytes and mtimes after a read-only session', async () => {
    const dir = tempDir();
    const w = Store.open(dir, {
      schemas: [
        {
          name: 'rt',
          match: {},
          maxSeries: 3,
          tiers: [
            { interval: '1s', retention: '10m' },
            // float64: the values (interval numbers × 1000) are compared exactly.
            { interval: '10s', retention: '1h', consolidate: 'avg', precision: 'float64' },
          ],
        },
      ],
    });
    const t0 = Math.floor(Date.now() / 10_000) * 10_000 - 300_000;
    const hs = [0, 1, 2].map((c) => w.register('stable_value', { col: String(c) }));
    for (let i = 0; i < 200; i++) hs.forEach((h, c) => w.record(h, (t0 / 1000 + i) * 1000 + c, t0 + i * 1000));
    w.consolidate({ now: t0 + 200_000 });
    w.close();

    const snapshot = () =>
      fs
        .readdirSync(dir)
        .sort()
        .map((name) => {
          const p = path.join(dir, name);
          const st = fs.statSync(p);
          const sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
          return { name, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode, sha };
        });
    const before = snapshot();
    expect(before.map((f) => f.name)).toEqual(expect.arrayContaining(['rondo.json', 'series.json', 'rt.t0.slab', 'rt.t1.slab']));

    // A session in another process...
    const child = runFixture('reader.js', [dir, '300']);
    const { code } = await child.closed;
    expect(code, child.stderr()).toBe(0);
    const summary = JSON.parse(child.lines.find((l) => l.startsWith('{'))!) as ReaderSummary;
    expect(summary.violations).toBe(0);
    expect(summary.cellsChecked).toBeGreaterThan(0);
    // ...and one here, through every read path.
    const r = Store.openReadOnly(dir);
    const info = r.info();
    expect(info.readOnly).toBe(true);
    expect(info.series.length).toBe(3);
    const h = r.find('stable_value', { col: '1' })!;
    for (const tier of [0, 1, 'auto', 'stitch'] as const) r.query(h, { start: t0, end: t0 + 199_000, tier });
    expect(r.query(h, { start: t0, end: t0 + 190_000, tier: 1 }).values[0]).toBe((t0 / 1000 + 4.5) * 1000 + 1);
    expect(r.select('stable_value{col=~"0|2"}', { start: t0, end: t0 + 199_000, tier: 0 }).length).toBe(2);
    expect(r.lastPoint(h)).toEqual([t0 + 199_000, (t0 / 1000 + 199) * 1000 + 1]);
    r.series();
    r.close();

    expect(snapshot()).toEqual(before);
  }, 30_000);
});
