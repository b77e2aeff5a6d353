// The write hot path's data: the writer of each schema's finest tier (its mapped rows and the
// row in use), series handles, and recordBatch()'s plans and unrolled store loops. The Store
// methods that use them (record, recordBatch) are in store.ts.
import { format, type NativeSlab } from './native';
import type { TierSpec } from './schema';
import type { Labels, SeriesKind } from './series';
import { formatSeries } from '../selector';
import { nativeError } from '../errors';
import type { Store } from './store';

/** Timestamps before 2000-01-01 are refused: most often they are seconds passed as milliseconds. */
export const MIN_TIMESTAMP = Date.UTC(2000, 0, 1);

export const EMPTY: Float64Array = new Float64Array(0);

// The classes record() reads declare their fields (`declare`) and set them in the constructor:
// defined as ES2022 class fields, each would start out undefined, and V8 would then treat it as
// holding any value and check what it holds on every record().

/**
 * Whether the JavaScript thread takes rows itself (RawWriter.claim) rather than through the
 * addon (Slab::Claim). It relies on what x64 gives: V8's Atomics on a typed array over the
 * mapping are locked instructions (lock cmpxchg, xchg, lock xadd), shared buffer or not, and a
 * plain typed-array load or store is an acquire load or a release store (x86 keeps loads in
 * order, and stores in order). Elsewhere the addon takes the rows.
 */
export const JS_CLAIM = process.arch === 'x64';

const OK: number = format.claimResults.ok;
const LATE: number = format.claimResults.late;
// Words of a row (the stamp word is 0: native.ts checks it), and the header's u64 counters as
// pairs of i32 halves, low half first (little-endian; native.ts checks they are 8-byte aligned).
const STAMP = format.rowStampWord;
const SEQ = format.rowSeqWord;
const CELLS = format.rowHeaderWords;
const HEAD_LO = format.offsets.head / 4;
const CLAIMS_LO = format.offsets.claims / 4;
const LATE_LO = format.offsets.lateWrites / 4;
const HEADER_I32 = Math.max(HEAD_LO, CLAIMS_LO, LATE_LO) + 2;
const TWO_32 = 4294967296;
const EMPTY_I32 = new Int32Array(0);
const EMPTY_I64 = new BigInt64Array(0);
const NO_DAMAGE = new Uint32Array(1);

/** Where the JavaScript thread writes tier 0 of one schema: the mapped rows and the current row. */
export class RawWriter {
  /** The rows: the mapping from the end of the header on. */
  declare f64: Float64Array;
  /** The same rows as i32 (a row's seq word is a pair of them) and as i64 (its stamp, for an atomic store). */
  declare i32: Int32Array;
  declare i64: BigInt64Array;
  /** The header's counters (head, claims, lateWrites) as i32 halves, and as i64 for a whole-word swap. */
  declare hdr: Int32Array;
  declare hdr64: BigInt64Array;
  /** Whether claim() takes rows in JavaScript (JS_CLAIM; tests turn it off to race the two). */
  declare jsClaim: boolean;
  /** Rows this writer took in JavaScript (the slab's claims counter counts every writer's). */
  declare taken: number;
  /** A row's cells of NaN, copied over the cells of a row it takes (made on its first claim). */
  declare nanCells: Float64Array;
  /** The slab's damage flag (native/rondo/sigbus.h): non-zero once its file was cut short under the mapping. */
  declare damage: Uint32Array;
  declare readonly slab: NativeSlab;
  declare readonly tier: TierSpec;
  declare readonly schema: string;
  declare readonly rowWords: number;
  declare readonly slots: number;
  declare readonly intervalMs: number;
  // The newest interval written through this writer, cached so a record is two compares.
  declare curStart: number;
  declare curEnd: number;
  declare curK: number;
  declare curBase: number;
  /** The store has hooks (src/hooks/) for this schema: record() leaves its fast path for them. */
  declare hooked: boolean;
  constructor(slab: NativeSlab, tier: TierSpec, schema: string, writable: boolean) {
    const p = slab.params();
    // A read-only store has nothing to write through: its writer never matches a row.
    const buffer = writable ? slab.buffer() : undefined;
    this.f64 = buffer ? new Float64Array(buffer, format.headerBytes) : EMPTY;
    this.i32 = buffer ? new Int32Array(buffer, format.headerBytes) : EMPTY_I32;
    this.i64 = buffer ? new BigInt64Array(buffer, format.headerBytes) : EMPTY_I64;
    this.hdr = buffer ? new Int32Array(buffer, 0, HEADER_I32) : EMPTY_I32;
    this.hdr64 = buffer ? new BigInt64Array(buffer, 0, HEADER_I32 / 2) : EMPTY_I64;
    this.jsClaim = JS_CLAIM;
    this.taken = 0;
    this.nanCells = EMPTY;
    const flag = writable ? slab.damageFlag() : undefined;
    this.damage = flag ? new Uint32Array(flag) : NO_DAMAGE;
    this.slab = slab;
    this.tier = tier;
    this.schema = schema;
    this.rowWords = p.rowWords;
    this.slots = p.slots;
    this.intervalMs = p.intervalMs;
    this.curStart = Infinity;
    this.curEnd = -Infinity;
    this.curK = -1;
    this.curBase = 0;
    this.hooked = false;
  }
  disable(): void {
    this.curStart = Infinity;
    this.curEnd = -Infinity;
    this.f64 = new Float64Array(0);
    this.i32 = EMPTY_I32;
    this.i64 = EMPTY_I64;
    this.hdr = EMPTY_I32;
    this.hdr64 = EMPTY_I64;
    this.jsClaim = false;
  }

  /**
   * Makes the row of interval k hold k: Slab::Claim (native/rondo/slab.cc), step for step, in
   * JavaScript, so that a new row costs no call into the addon. The steps and why each is there:
   * docs/storage-format.md, "Taking a row". format.claimResults.ok, or .late (counted) when the
   * slot holds a newer interval or k is older than the ring.
   */
  claim(k: number): number {
    // A slab found cut short: the native claim refuses it (CorruptFileError naming the file).
    if (!this.jsClaim || this.damage[0] !== 0) return this.nativeClaim(k);
    if (k === 0) return this.late(); // interval 0 would look like an empty row
    const f = this.f64;
    const i32 = this.i32;
    const slots = this.slots;
    const base = (k % slots) * this.rowWords;
    const stamp = base + STAMP;
    const seq = 2 * (base + SEQ); // the low half of the row's seq word
    for (;;) {
      let cur = f[stamp]!;
      if (cur === k) return OK;
      if (cur > k || k + slots <= this.head()) return this.late();
      const e = i32[seq]!;
      if ((e & 1) !== 0) continue; // another writer is taking the row: wait for it
      if (Atomics.compareExchange(i32, seq, e, (e + 1) | 0) !== e) continue;
      // The row is ours. Another claimer may have finished between the first look and the swap.
      cur = f[stamp]!;
      if (cur >= k) {
        releaseSeq(i32, seq, e);
        return cur === k ? OK : this.late();
      }
      // Hide the old lap (an atomic store: a full fence after it, as the native claim's), clear
      // every cell, and only then publish k and make the row stable again.
      Atomics.store(this.i64, stamp, 0n);
      if (this.nanCells.length === 0) this.nanCells = new Float64Array(this.rowWords - CELLS).fill(NaN);
      f.set(this.nanCells, base + CELLS); // one copy (a memmove): quicker than fill() or a loop
      f[stamp] = k;
      releaseSeq(i32, seq, e);
      this.raiseHead(k);
      const hdr = this.hdr;
      if (Atomics.add(hdr, CLAIMS_LO, 1) === -1) Atomics.add(hdr, CLAIMS_LO + 1, 1); // carry into the high half
      this.taken++;
      return OK;
    }
  }

  /** The slab's head, read from the mapped header (its halves re-read until they agree). */
  head(): number {
    const hdr = this.hdr;
    for (;;) {
      const hi = hdr[HEAD_LO + 1]!;
      const lo = hdr[HEAD_LO]!;
      if (hdr[HEAD_LO + 1] === hi) return (hi >>> 0) * TWO_32 + (lo >>> 0);
    }
  }

  /** Raises the head to k if it is lower; another writer may be raising it at the same time. */
  private raiseHead(k: number): void {
    const hdr = this.hdr;
    for (;;) {
      const hi = hdr[HEAD_LO + 1]!;
      const lo = hdr[HEAD_LO]!;
      if (hdr[HEAD_LO + 1] !== hi) continue;
      const h = (hi >>> 0) * TWO_32 + (lo >>> 0);
      if (k <= h) return;
      if (Math.floor(k / TWO_32) === hi >>> 0) {
        // Same high half: swap the low one (k | 0 is k's low 32 bits). The high half cannot
        // have moved meanwhile unless the head went 2^32 intervals forward and back to this low half.
        if (Atomics.compareExchange(hdr, HEAD_LO, lo, k | 0) === lo) return;
      } else if (Atomics.compareExchange(this.hdr64, HEAD_LO / 2, BigInt(h), BigInt(k)) === BigInt(h)) {
        return; // the high half moves too (once every 2^32 intervals): the whole word at once
      }
    }
  }

  private nativeClaim(k: number): number {
    try {
      return this.slab.claim(k);
    } catch (e) {
      throw nativeError(e, `schema "${this.schema}" tier 0`);
    }
  }

  /** Counts a write refused as late (the slab's lateWrites) and says so. */
  late(): number {
    this.countLate();
    return LATE;
  }

  countLate(): void {
    if (!this.jsClaim) {
      try {
        this.slab.countLate();
      } catch (e) {
        throw nativeError(e, `schema "${this.schema}" tier 0`);
      }
      return;
    }
    const hdr = this.hdr;
    if (Atomics.add(hdr, LATE_LO, 1) === -1) Atomics.add(hdr, LATE_LO + 1, 1);
  }
}

/** Makes a claimed row stable again: its seq word from e + 1 to e + 2 (a release store on x64). */
function releaseSeq(i32: Int32Array, lo: number, e: number): void {
  const next = (e + 2) | 0;
  // Past 2^32 the high half goes up first: the word stays odd (owned) until the low half is stored.
  if (next === 0) i32[lo + 1] = (i32[lo + 1]! + 1) | 0;
  i32[lo] = next;
}

/**
 * What recordBatch() keeps about a handles array it is given call after call (an agent's tick):
 * the handles as they were (the array may be changed in place), the cell of each, and the runs
 * of consecutive handles of one schema. Lets a batch be checked by identity, not handle by handle.
 */
export class BatchPlan {
  declare readonly handles: readonly SeriesHandle[];
  declare readonly snapshot: readonly SeriesHandle[];
  declare readonly cells: Int32Array;
  declare readonly writers: readonly RawWriter[];
  /** Index of the first handle of each run, and n at the end. */
  declare readonly runStarts: Int32Array;
  /** Row (in words) and interval number of each run for the batch being written. */
  declare readonly bases: Float64Array;
  declare readonly ks: Float64Array;
  /** A frozen array of plain elements cannot change: its handles need no checking call after call. */
  declare readonly frozen: boolean;
  /** The writer when every handle is of one schema (the usual batch). */
  declare readonly writer: RawWriter | undefined;
  /** With one run whose cells follow each other (series registered in order): the first cell; else -1. */
  declare readonly firstCell: number;
  constructor(handles: readonly SeriesHandle[], snapshot: readonly SeriesHandle[], cells: Int32Array, writers: readonly RawWriter[], runStarts: Int32Array) {
    this.handles = handles;
    this.snapshot = snapshot;
    this.cells = cells;
    this.writers = writers;
    this.runStarts = runStarts;
    this.bases = new Float64Array(writers.length);
    this.ks = new Float64Array(writers.length);
    this.frozen = Object.isFrozen(handles) && snapshot.every((_, i) => 'value' in (Object.getOwnPropertyDescriptor(handles, i) ?? {}));
    this.writer = writers.length === 1 ? writers[0] : undefined;
    const contiguous = writers.length === 1 && cells.every((c, i) => c === cells[0]! + i);
    this.firstCell = contiguous && cells.length > 0 ? cells[0]! : -1;
  }

  static of(handles: readonly SeriesHandle[]): BatchPlan {
    const snapshot = Array.from(handles); // handles may be any array-like
    const writers: RawWriter[] = [];
    const starts: number[] = [];
    snapshot.forEach((h, i) => {
      if (writers[writers.length - 1] !== h.w) {
        writers.push(h.w);
        starts.push(i);
      }
    });
    starts.push(snapshot.length);
    return new BatchPlan(handles, snapshot, Int32Array.from(snapshot, (h) => h.cell), writers, Int32Array.from(starts));
  }
}

/** A registered series. Pass it to record() and query(); it belongs to the store that made it. */
export class SeriesHandle {
  declare readonly id: number;
  declare readonly name: string;
  declare readonly labels: Labels;
  declare readonly kind: SeriesKind;
  declare readonly schema: string;
  /** Column of this series in its schema's rows. */
  declare readonly column: number;
  /** @internal */ declare readonly w: RawWriter;
  /** @internal */ declare readonly owner: Store;
  /** @internal */ declare readonly cell: number;
  constructor(id: number, name: string, labels: Labels, kind: SeriesKind, schema: string, column: number, w: RawWriter, owner: Store) {
    this.id = id;
    this.name = name;
    this.labels = labels;
    this.kind = kind;
    this.schema = schema;
    this.column = column;
    this.w = w;
    this.owner = owner;
    // A raw cell is one word (native.ts checks it), the row's stamp word 0: record() reads f[base].
    this.cell = format.rowHeaderWords + column;
  }
  /** `name{label="value",...}` */
  get key(): string {
    return formatSeries(this.name, this.labels);
  }
}

// The loops of recordBatch()'s planned path, unrolled: V8 checks an array's shape once per pass
// through the loop body, so several elements a pass cost little more than one.

/**
 * True when values[i] is a finite number for every i < n, and (unless the array is frozen, so
 * cannot have changed) handles[i] is still snapshot[i].
 */
export function sameAndFinite(handles: readonly SeriesHandle[], snapshot: readonly SeriesHandle[], frozen: boolean, values: ArrayLike<number>, n: number): boolean {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if (
      !frozen &&
      (handles[i] !== snapshot[i] ||
        handles[i + 1] !== snapshot[i + 1] ||
        handles[i + 2] !== snapshot[i + 2] ||
        handles[i + 3] !== snapshot[i + 3] ||
        handles[i + 4] !== snapshot[i + 4] ||
        handles[i + 5] !== snapshot[i + 5] ||
        handles[i + 6] !== snapshot[i + 6] ||
        handles[i + 7] !== snapshot[i + 7])
    )
      return false;
    const a = values[i];
    const b = values[i + 1];
    const c = values[i + 2];
    const d = values[i + 3];
    const e = values[i + 4];
    const f = values[i + 5];
    const g = values[i + 6];
    const h = values[i + 7];
    if (
      typeof a !== 'number' ||
      typeof b !== 'number' ||
      typeof c !== 'number' ||
      typeof d !== 'number' ||
      typeof e !== 'number' ||
      typeof f !== 'number' ||
      typeof g !== 'number' ||
      typeof h !== 'number' ||
      a - a + (b - b) + (c - c + (d - d)) + (e - e + (f - f) + (g - g + (h - h))) !== 0 // NaN unless all are finite
    )
      return false;
  }
  for (; i < n; i++) {
    const v = values[i];
    if ((!frozen && handles[i] !== snapshot[i]) || typeof v !== 'number' || v - v !== 0) return false;
  }
  return true;
}

/** f[base + cells[i]] = values[i] for i in [from, to). */
export function storeRun(f: Float64Array, base: number, cells: Int32Array, values: ArrayLike<number>, from: number, to: number): void {
  let i = from;
  for (; i + 4 <= to; i += 4) {
    f[base + cells[i]!] = values[i]!;
    f[base + cells[i + 1]!] = values[i + 1]!;
    f[base + cells[i + 2]!] = values[i + 2]!;
    f[base + cells[i + 3]!] = values[i + 3]!;
  }
  for (; i < to; i++) f[base + cells[i]!] = values[i]!;
}

/** f[at + i] = values[i] for i in [0, n). */
export function storeContiguous(f: Float64Array, at: number, values: ArrayLike<number>, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    f[at + i] = values[i]!;
    f[at + i + 1] = values[i + 1]!;
    f[at + i + 2] = values[i + 2]!;
    f[at + i + 3] = values[i + 3]!;
  }
  for (; i < n; i++) f[at + i] = values[i]!;
}
