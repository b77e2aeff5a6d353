// Hooks' rollups (src/hooks/, docs/hooks.md "Rollups"): after the built-in consolidation has
// filled a tier's buckets, the buckets of each series a hook rolls up for that tier are given the
// hook's value, computed from tier 0's raw points of the bucket. The value goes into every value
// field of the series' cell (avg, min, max, sum, last, whichever the tier keeps; count is left as
// the number of raw points), or a counter's one value, under the row's seqlock tag.
import { format, type NativeSlab } from './native';
import type { SchemaSpec } from './schema';
import type { HookChain, RollupContext } from '../hooks';

const AGG_FIELDS = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;

interface SeriesRef {
  key: string;
  column: number;
  kind: 'gauge' | 'counter';
}

/** One consolidated slab's layout, read once. */
class CellWriter {
  private readonly u32: Uint32Array;
  private readonly dv: DataView;
  private readonly rowBytes: number;
  private readonly cellBytes: number;
  private readonly slots: number;
  private readonly valueBytes: number;
  /** Offsets in a gauge's cell of the value fields kept (not count). */
  private readonly fields: number[] = [];
  constructor(slab: NativeSlab) {
    const buf = slab.buffer();
    const p = slab.params();
    this.u32 = new Uint32Array(buf);
    this.dv = new DataView(buf);
    this.rowBytes = p.rowBytes;
    this.cellBytes = p.cellBytes;
    this.slots = p.slots;
    this.valueBytes = p.valueBytes;
    const offs = new Uint8Array(buf, format.offsets.fieldOffsets, 6);
    AGG_FIELDS.forEach((name, i) => {
      const o = offs[i]!;
      if (name !== 'count' && o !== 0xff) this.fields.push(o);
    });
  }

  /** Writes v into bucket b's cell of column c, if the row holds bucket b. */
  write(b: number, c: number, counter: boolean, v: number): boolean {
    const row = format.headerBytes + (b % this.slots) * this.rowBytes;
    const lo = row >>> 2;
    const tagLo = Atomics.load(this.u32, lo);
    const tagHi = Atomics.load(this.u32, lo + 1);
    const tag = tagHi * 4294967296 + tagLo;
    const { busy, genShift, genMask, bucketShift } = format.tag;
    if (Math.floor(tag / 2 ** bucketShift) !== b || (tagLo & busy) !== 0) return false;
    // The seqlock: busy while the cell changes, then a new generation (readers of another
    // process see the tag move and read again).
    Atomics.store(this.u32, lo, tagLo | busy);
    const cell = row + format.consolidatedRowHeaderBytes + c * this.cellBytes;
    if (counter) this.dv.setFloat64(cell, v, true);
    else
      for (const o of this.fields) {
        if (this.valueBytes === 4) this.dv.setFloat32(cell + o, v, true);
        else this.dv.setFloat64(cell + o, v, true);
      }
    const gen = (((tagLo >>> genShift) & genMask) + 1) & genMask;
    const next = (tagLo & ~((genMask << genShift) | busy)) | (gen << genShift);
    Atomics.store(this.u32, lo, next >>> 0);
    return true;
  }
}

const writers = new WeakMap<NativeSlab, CellWriter>();

/**
 * Rolls up, with the hooks' rollup functions, the buckets [from[i], to[i]) that consolidation
 * just filled in tier i, for every series of the schema. Gives the number of buckets written.
 */
export function applyRollups(
  spec: SchemaSpec,
  slabs: readonly NativeSlab[],
  series: readonly SeriesRef[],
  chain: HookChain,
  from: readonly number[],
  to: readonly number[],
): number {
  let written = 0;
  const base = spec.tiers[0]!;
  for (let i = 1; i < spec.tiers.length; i++) {
    const lo = from[i]!;
    const hi = to[i]!;
    if (!(hi > lo)) continue;
    const r = chain.rollupFor(spec.name, i);
    if (r === undefined) continue;
    const t = spec.tiers[i]!;
    const n = t.intervalMs / base.intervalMs;
    const slab = slabs[i]!;
    let w = writers.get(slab);
    if (w === undefined) writers.set(slab, (w = new CellWriter(slab)));
    const span = new Float64Array(2 * n);
    for (const s of series) {
      for (let b = lo; b < hi; b++) {
        slabs[0]!.readRawSpan(s.column, b * n, span);
        let m = 0;
        for (let j = 0; j < n; j++) if (span[n + j] === span[n + j]) m++;
        if (m === 0) continue;
        const ts = new Float64Array(m);
        const vs = new Float64Array(m);
        for (let j = 0, q = 0; j < n; j++) {
          const v = span[n + j]!;
          if (v === v) {
            ts[q] = span[j]!;
            vs[q++] = v;
          }
        }
        const ctx: RollupContext = { schema: spec.name, tier: i, series: s.key, start: b * t.intervalMs, end: (b + 1) * t.intervalMs };
        const v = chain.callRollup(r.hook, r.fn, ts, vs, ctx);
        if (v === undefined) {
          if (chain.rollupFor(spec.name, i) === undefined) break; // disabled meanwhile
          continue;
        }
        if (w.write(b, s.column, s.kind === 'counter', v)) written++;
      }
    }
  }
  return written;
}
