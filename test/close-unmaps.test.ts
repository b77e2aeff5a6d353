// close() gives the store's mappings back at once, not when the garbage collector and a later
// turn of the event loop get to the buffers JavaScript wrote through: a process that opens and
// closes stores in one synchronous loop must not pile up mappings until it runs out of them.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { alignedPast, tempDir } from './helpers';

const SCHEMAS = [{ name: 'm', match: {}, maxSeries: 4, tiers: [{ interval: '1s', retention: '1m' }, { interval: '10s', retention: '10m' }] }];

/** The lines of this process's memory map that map a file under `dir`. */
function mappingsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
}

describe.runIf(process.platform === 'linux')('closing a store', () => {
  it('unmaps its slabs when close() returns, writer or reader, in a loop that never yields', () => {
    const dir = tempDir();
    const t = alignedPast(60_000, 1000);
    for (let i = 0; i < 50; i++) {
      const s = Store.open(dir, { schemas: SCHEMAS });
      const h = s.register('up', { i: String(i % 4) });
      s.record(h, i, t + i * 100);
      expect(s.query(h, { start: t, end: t + 10_000, tier: 0 }).timestamps.length).toBeGreaterThan(0);
      expect(mappingsUnder(dir).length).toBeGreaterThan(0);
      s.close();
      expect(mappingsUnder(dir)).toEqual([]);
      const r = Store.openReadOnly(dir);
      r.query(r.find('up', { i: String(i % 4) })!, { start: t, end: t + 10_000, tier: 0 });
      r.close();
      expect(mappingsUnder(dir)).toEqual([]);
    }
    // What was recorded is still there.
    const r = Store.openReadOnly(dir);
    const q = r.query(r.find('up', { i: '1' })!, { start: t, end: t + 10_000, tier: 0 });
    expect(q.values.filter((v) => !Number.isNaN(v)).length).toBeGreaterThan(0);
    r.close();
  });
});
