// What a store takes on disk (docs/storage-format.md, "Slab files"): the slab files are fixed
// by the schema, reserved when the store is made, and with the metadata files they are the whole
// store. Two shapes, with the default aggregates: 30 series in tiers of 1 s × 10 min,
// 10 s × 6 h and 5 min × 7 d, and a VM's 165 series (176 columns) in 1 s × 1 h, 10 s × 6 h and
// 5 min × 7 d, as the demo VMM makes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store, type SchemaOptions } from '../src/index';
import { tempDir } from './helpers';

/** Bytes of every file in the store directory, plus what `du -sb` counts for the directory itself on ext4. */
function apparentBytes(dir: string): number {
  let bytes = 4096;
  for (const f of fs.readdirSync(dir)) bytes += fs.statSync(path.join(dir, f)).size;
  return bytes;
}

function make(schema: SchemaOptions, series: number): { dir: string; store: Store } {
  const dir = tempDir();
  const store = Store.open(dir, { schemas: [schema] });
  const reasons = ['io', 'mmio', 'hlt', 'shutdown', 'fail_entry', 'internal_error', 'irq_window', 'exception'];
  for (let i = 0; i < series; i++) {
    if (i % 3 === 0) store.register('vmm_vcpu_exits_total', { vcpu: String(i % 4), reason: reasons[i % reasons.length]! + String(i) }, { kind: 'counter' });
    else store.register(`kvm_vcpu_stat_${i}`, { vcpu: String(i % 4) });
  }
  return { dir, store };
}

describe('bytes on disk', () => {
  it('30 series, 1 s × 10 min, 10 s × 6 h, 5 min × 7 d: at most 1,199,356 bytes with rondo.json and series.json', () => {
    const { dir, store } = make(
      {
        name: 'vm',
        match: {},
        maxSeries: 30,
        tiers: [
          { interval: '1s', retention: '10m' },
          { interval: '10s', retention: '6h' },
          { interval: '5m', retention: '7d' },
        ],
      },
      30,
    );
    const info = store.info();
    store.close();
    // Tier 0: 600 rows of [stamp][seq] and 30 float64; the others 2160 and 2016 rows of a tag and
    // 30 cells of two float32 (avg and max); each after a 512-byte header.
    expect(info.schemas[0]!.tiers.map((t) => t.bytes)).toEqual([512 + 600 * 8 * 32, 512 + 2160 * (8 + 30 * 8), 512 + 2016 * (8 + 30 * 8)]);
    expect(fs.readdirSync(dir).sort()).toEqual(['LOCK', 'rondo.json', 'series.json', 'vm.t0.slab', 'vm.t1.slab', 'vm.t2.slab']);
    expect(apparentBytes(dir)).toBeLessThanOrEqual(1_199_356);
    expect(info.totals.bytes).toBe(apparentBytes(dir) - 4096 - fs.statSync(path.join(dir, 'LOCK')).size);
  });

  it("a VM's 165 series in 176 columns, 1 s × 1 h, 10 s × 6 h, 5 min × 7 d: at most 12 MiB", () => {
    const { dir, store } = make(
      {
        name: 'vm',
        match: {},
        maxSeries: 176,
        tiers: [
          { interval: '1s', retention: '1h' },
          { interval: '10s', retention: '6h', consolidate: 'avg' },
          { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
        ],
      },
      165,
    );
    store.close();
    expect(apparentBytes(dir)).toBeLessThanOrEqual(12 * 1024 * 1024);
  });
});
