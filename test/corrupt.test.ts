import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptFileError, Store } from '../src/index';
import { readMetaFile, writeMetaFile } from '../src/store/metafile';
import { format } from '../src/store/native';
import { alignedPast, tempDir, VMM_SCHEMA } from './helpers';

function makeStore(): string {
  const dir = tempDir();
  const s = Store.open(dir, { schemas: [VMM_SCHEMA] });
  const h = s.register('g', { a: 'b' });
  const t0 = alignedPast(100_000, 1000);
  for (let i = 0; i < 50; i++) s.record(h, i, t0 + i * 1000);
  s.close();
  return dir;
}

function flip(file: string, offset: number): void {
  const b = fs.readFileSync(file);
  b[offset] = b[offset]! ^ 0x5a;
  fs.writeFileSync(file, b);
}

/** Opening for writing and read-only both refuse the store with CorruptFileError. */
function refused(dir: string, what: RegExp): void {
  for (const open of [() => Store.open(dir), () => Store.openReadOnly(dir)]) {
    let err: unknown;
    try {
      open().close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptFileError);
    expect((err as Error).message).toMatch(what);
  }
}

describe('damaged files are refused with CorruptFileError, never a crash', () => {
  it('a truncated slab', () => {
    const dir = makeStore();
    const f = path.join(dir, 'vmm.t0.slab');
    fs.truncateSync(f, fs.statSync(f).size - 100);
    refused(dir, /truncated or extended/);
  });

  it('a slab shorter than its header', () => {
    const dir = makeStore();
    fs.truncateSync(path.join(dir, 'vmm.t1.slab'), 100);
    refused(dir, /shorter than a slab header/);
  });

  it('a slab with a byte flipped in its header, at every checksummed offset', () => {
    // The fields before the checksum and the cell layout (168-191), in the raw and a consolidated tier.
    for (const [file, offsets] of [
      ['vmm.t0.slab', [0, 8, 16, 20, 24, 28, 32, 40, 64, 80, 124, 168, 172, 176, 180, 190]],
      ['vmm.t1.slab', [20, 40, 168, 172, 176, 180, 181, 185]],
    ] as const) {
      const pristine = makeStore();
      for (const offset of offsets) {
        const dir = tempDir();
        fs.cpSync(pristine, dir, { recursive: true });
        flip(path.join(dir, file), offset);
        refused(dir, new RegExp(file.replace('.', '\\.')));
      }
    }
  });

  it('a slab whose row stamp is damaged', () => {
    const dir = makeStore();
    // Row 3's stamp: high byte of the f64 (after the header, 3 rows of [stamp][seq][64 cells], then 7 bytes).
    flip(path.join(dir, 'vmm.t0.slab'), format.headerBytes + 3 * (8 * (2 + 64)) + 7);
    refused(dir, /impossible interval stamp/);
  });

  it("a consolidated slab whose row tag is damaged (its bucket is not one of the row's slot)", () => {
    const dir = makeStore();
    // Row 3's tag: its high byte (rows of an 8-byte tag and 64 cells of 8 bytes).
    flip(path.join(dir, 'vmm.t1.slab'), format.headerBytes + 3 * (8 + 64 * 8) + 7);
    refused(dir, /vmm\.t1\.slab: row 3 has an impossible interval stamp/);
  });

  it('a foreign file in place of a slab', () => {
    const dir = makeStore();
    fs.writeFileSync(path.join(dir, 'vmm.t2.slab'), Buffer.alloc(8192, 7));
    refused(dir, /not a rondo slab/);
  });

  it('a missing slab', () => {
    const dir = makeStore();
    fs.rmSync(path.join(dir, 'vmm.t1.slab'));
    refused(dir, /missing/);
  });

  it('metadata: truncated, byte-flipped, or emptied', () => {
    for (const [file, damage] of [
      ['series.json', (f: string) => fs.truncateSync(f, fs.statSync(f).size - 10)],
      ['series.json', (f: string) => flip(f, fs.statSync(f).size - 20)],
      ['rondo.json', (f: string) => flip(f, 60)],
      ['rondo.json', (f: string) => fs.writeFileSync(f, '')],
    ] as const) {
      const dir = makeStore();
      damage(path.join(dir, file));
      refused(dir, new RegExp(`${file.replace('.', '\\.')} is damaged`));
    }
  });

  it('a series index rewritten with a valid checksum that puts a series in a schema its labels do not route to', () => {
    const dir = tempDir();
    const tiers = [{ interval: '1s', retention: '1m' }];
    const s = Store.open(dir, { schemas: [{ name: 'vm', match: { vm: 'a' }, maxSeries: 4, tiers }, { name: 'rest', match: {}, maxSeries: 4, tiers }] });
    s.register('x', { vm: 'a' });
    s.close();
    const file = path.join(dir, 'series.json');
    const body = readMetaFile(file, 'rondo-series') as { series: Array<{ labels: Record<string, string> }> };
    body.series[0]!.labels = { vm: 'b' }; // still in schema "vm", which takes only vm="a"
    writeMetaFile(file, 'rondo-series', body);
    refused(dir, /series\.json entry 0 \(x\) is in schema "vm", which its labels do not route to/);
  });

  it('an intact store still opens after all that (the checks are not over-eager)', () => {
    const dir = makeStore();
    const s = Store.open(dir);
    const h = s.find('g', { a: 'b' })!;
    expect(s.lastPoint(h)![1]).toBe(49);
    s.close();
  });
});
