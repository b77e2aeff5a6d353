// Reading a series: choosing the tier, stitching tiers, aggregations of consolidated buckets,
// counter rates. Rows are read by native code (seqlock-consistent); this module shapes the result.
import { AggregateNotKeptError, CapacityError, InvalidQueryError } from '../errors';
import { format, type NativeSlab } from './native';
import { AGGREGATIONS, tierAnswers, type Aggregation, type TierSpec } from './schema';
import type { SeriesKind } from './series';
import { counterRate } from './rate';
import { JS_CLAIM } from './write';

export interface QueryOptions {
  /** First timestamp wanted, ms (inclusive). Default: as far back as the finest tier's ring reaches from end.
   *  A range of more than MAX_QUERY_POINTS intervals is cut to what the rings hold: `start: 0` reads everything. */
  start?: number;
  /** Last timestamp wanted, ms (inclusive). Default: now. In a range cut to what the rings hold,
   *  a time later than both now and the newest interval recorded is cut to the later of the two. */
  end?: number;
  /** 'auto' (default): the finest tier whose ring reaches back to start; 'stitch': fine data
   *  where it exists, coarser before; or a tier index. With `agg`, 'auto' and 'stitch' use only
   *  the tiers that keep it. */
  tier?: 'auto' | 'stitch' | number;
  /** Aggregation of consolidated buckets. Default: the tier's `consolidate` ('last' for a counter,
   *  and with rate). One a tier does not keep is an AggregateNotKeptError. */
  agg?: Aggregation;
  /** Per-second rate of a counter (resets handled). */
  rate?: boolean;
}

export interface QuerySegment {
  tier: number;
  step: number;
  start: number;
  end: number;
}

export interface QueryResult {
  /** Start of each interval, ms. */
  timestamps: Float64Array;
  /** NaN where nothing was recorded (never 0). */
  values: Float64Array;
  /** The tier read (for a stitched query, the finest one used). */
  tier: number;
  /** Step between timestamps of that tier, ms. */
  step: number;
  agg: Aggregation;
  /** The parts of the result, oldest first, each from one tier (one part unless stitched). */
  segments: QuerySegment[];
}

// Header words (u32, little-endian) of the slab's head and consolidation cursor, both u64
// (native.ts checks they are 8-byte aligned in the header).
const HEAD_LO = format.offsets.head / 4;
const CURSOR_LO = format.offsets.cursor / 4;
const HEADER_WORDS = Math.max(HEAD_LO, CURSOR_LO) + 2;

/**
 * A tier to read: its spec and slab, and the slab's head and cursor read from the mapped header
 * (a load, where a native call costs a microsecond) when the store maps it writable; a read-only
 * store asks the slab.
 */
export class TierView {
  private header: Uint32Array | undefined;
  /** The slab's damage flag (native/rondo/sigbus.h), when mapped and covered. */
  private damage: Uint32Array | undefined;
  constructor(
    readonly spec: TierSpec,
    readonly slab: NativeSlab,
    mapped: boolean,
  ) {
    this.header = mapped ? new Uint32Array(slab.buffer(), 0, HEADER_WORDS) : undefined;
    const flag = mapped ? slab.damageFlag() : undefined;
    this.damage = flag === undefined ? undefined : new Uint32Array(flag);
  }

  /**
   * False once the slab's file was found cut short under its mapping. Reads the header first, so
   * a file cut short since is found here (its SIGBUS handled: native/rondo/sigbus.h). No native call.
   */
  intact(): boolean {
    this.head();
    return this.damage === undefined || this.damage[0] === 0;
  }

  /** Newest interval number claimed (0: none). */
  head(): number {
    const h = this.header;
    if (h === undefined) return this.slab.counters().head;
    // Where loads keep their order (x64, where the row claim is taken in JavaScript: write.ts),
    // the halves need no atomic loads.
    return JS_CLAIM ? readU64Plain(h, HEAD_LO) : readU64(h, HEAD_LO);
  }

  /** Consolidated tiers: the next bucket number to fill (0: not started). */
  cursor(): number {
    return this.header === undefined ? this.slab.counters().cursor : readU64(this.header, CURSOR_LO);
  }

  /** Stops reading the mapped header (the store is closing): the slab answers, or refuses. */
  release(): void {
    this.header = undefined;
    this.damage = undefined;
  }
}

/** A u64 counter that another thread may be moving: its halves re-read until they agree. */
function readU64(u: Uint32Array, lo: number): number {
  for (;;) {
    const hi = Atomics.load(u, lo + 1);
    const low = Atomics.load(u, lo);
    if (Atomics.load(u, lo + 1) === hi) return hi * 4294967296 + low;
  }
}

/** readU64 with plain loads (x64: they keep their order). */
function readU64Plain(u: Uint32Array, lo: number): number {
  for (;;) {
    const hi = u[lo + 1]!;
    const low = u[lo]!;
    if (u[lo + 1] === hi) return hi * 4294967296 + low;
  }
}

/** Most points one query may return. */
export const MAX_QUERY_POINTS = 10_000_000;

/**
 * A range longer than MAX_QUERY_POINTS intervals of the finest tier, cut to what the store can
 * answer for: from the oldest interval any of the given tiers' rings still holds to the newer of
 * their newest and now. `{ start: 0, end: Date.now() }` then reads everything there is, not
 * billions of intervals before the store existed, while the limit still bounds ranges the rings
 * really cover. Shorter ranges are answered as asked. One window for a whole select(), so every
 * series of it has the same timestamps.
 */
export function clampToHeld(o: QueryOptions, schemas: ReadonlyArray<readonly TierView[]>): QueryOptions {
  if (typeof o !== 'object' || o === null || o.start === undefined) return o;
  const { start, end = Date.now() } = o;
  if (typeof start !== 'number' || typeof end !== 'number' || !(start <= end)) return o; // resolveQuery names the fault
  // A range any tier can answer within the limit is answered as asked, missing points and all.
  let finest = Infinity;
  for (const tiers of schemas) for (const t of tiers) finest = Math.min(finest, t.spec.intervalMs);
  if ((end - start) / finest < MAX_QUERY_POINTS) return o;
  const now = Date.now();
  let oldest = Infinity;
  let newest = now;
  for (const tiers of schemas)
    for (const t of tiers) {
      const iv = t.spec.intervalMs;
      // An empty ring could hold the intervals up to the range's end (or now, if sooner).
      const head = t.head() || Math.floor(Math.min(end, now) / iv);
      oldest = Math.min(oldest, Math.max(1, head - t.spec.slots + 1) * iv);
      newest = Math.max(newest, head * iv);
    }
  if (oldest === Infinity) return o;
  // A range wholly before what the rings hold keeps only its end: no point, or one missing one.
  const from = Math.min(Math.max(start, oldest), end);
  const to = Math.max(from, Math.min(end, newest));
  return from === start && to === end ? o : { ...o, start: from, end: to };
}

// The aggregates' numbers in the slab (native/rondo/slab.h).
const AGG = format.aggregates;

/**
 * True when tier `t` can answer aggregate `agg` for a series of this kind: tier 0 any; a
 * consolidated tier what it keeps for a gauge, and a counter's last value.
 */
export function answers(t: TierSpec, kind: SeriesKind, agg: Aggregation): boolean {
  return t.index === 0 || (kind === 'counter' ? agg === 'last' : tierAnswers(t, agg));
}

/** The error for a query of an aggregate the tier does not keep: what it keeps, and how to have more. */
export function notKept(t: TierSpec, kind: SeriesKind, agg: Aggregation, what: string, schema: string): AggregateNotKeptError {
  if (kind === 'counter')
    return new AggregateNotKeptError(
      `${what} is a counter: consolidated tiers keep its last value in each bucket (the running total) and nothing else, so schema "${schema}" tier ${t.index} has no ${agg} of it; ` +
        `query it with agg 'last' (the default) or rate: true, or tier 0 for its raw points`,
    );
  return new AggregateNotKeptError(
    `schema "${schema}" tier ${t.index} keeps ${t.aggregates.join(', ')}, not ${agg}; query one of those, or tier 0 (it keeps every aggregate), ` +
      `or declare the aggregates a tier keeps when the store is created (the tier option aggregates, e.g. aggregates: [${[...t.aggregates, agg].map((a) => `'${a}'`).join(', ')}])`,
  );
}

/** `what`: the series, for messages; `schema`: its schema's name. */
export function resolveQuery(tiers: readonly TierView[], column: number, kind: SeriesKind, o: QueryOptions, what = 'the series', schema = ''): QueryResult {
  if (typeof o !== 'object' || o === null) throw new InvalidQueryError('query options must be an object');
  const end = o.end ?? Date.now();
  // By default, what the finest ring can hold.
  const start = o.start ?? end - tiers[0]!.spec.retentionMs + tiers[0]!.spec.intervalMs;
  if (typeof start !== 'number' || !Number.isFinite(start))
    throw new InvalidQueryError(`query start ${String(start)} is not a finite number of ms since the epoch`);
  if (typeof end !== 'number' || !Number.isFinite(end))
    throw new InvalidQueryError(`query end ${String(end)} is not a finite number of ms since the epoch`);
  if (start > end) throw new InvalidQueryError(`query start ${start} is after end ${end}; swap them`);
  if (o.agg !== undefined && !AGGREGATIONS.includes(o.agg))
    throw new InvalidQueryError(`aggregation ${JSON.stringify(o.agg)} is not one of ${AGGREGATIONS.join(', ')}`);
  const tier = o.tier ?? 'auto';
  const runningTotal = o.rate === true || kind === 'counter';

  // With an aggregate asked for, 'auto' and 'stitch' choose among the tiers that keep it (tier 0 does).
  const agg = o.agg;
  const usable = (t: TierView): boolean => agg === undefined || answers(t.spec, kind, agg);
  let result: QueryResult;
  if (tier === 'stitch') {
    result = stitch(tiers, oldestOf(tiers, usable), column, kind, agg, runningTotal, start, end);
  } else {
    let index: number;
    if (tier === 'auto') {
      const oldest = oldestOf(tiers, usable);
      const covering = oldest.findIndex((t) => t <= start);
      if (covering >= 0) index = covering;
      else {
        // Nothing reaches back that far: the tier that reaches furthest.
        let best = 0;
        oldest.forEach((t, i) => {
          if (t < oldest[best]!) best = i;
        });
        index = best;
      }
    } else if (Number.isInteger(tier) && tier >= 0 && tier < tiers.length) {
      index = tier;
      if (!usable(tiers[index]!)) throw notKept(tiers[index]!.spec, kind, agg!, what, schema);
    } else {
      throw new InvalidQueryError(`tier ${JSON.stringify(tier)} is not valid; use 'auto', 'stitch' or an index from 0 to ${tiers.length - 1}`);
    }
    result = queryTier(tiers[index]!, column, agg ?? defaultAgg(tiers[index]!.spec, runningTotal), start, end, kind);
  }
  if (o.rate === true) {
    if (kind !== 'counter')
      throw new InvalidQueryError('rate is for counters (running totals); this series is a gauge: query its values as they are');
    result.values = counterRate(result.timestamps, result.values);
  }
  return result;
}

/** Start of the oldest interval each tier's ring holds, ms (Infinity when empty, or not usable). */
function oldestOf(tiers: readonly TierView[], usable: (t: TierView) => boolean): number[] {
  return tiers.map((t) => {
    if (!usable(t)) return Infinity;
    const head = t.head();
    return head === 0 ? Infinity : Math.max(1, head - t.spec.slots + 1) * t.spec.intervalMs;
  });
}

// Raw points are their own last value. A counter stores its running total: a bucket's is its
// last (as the exporter sends it), whatever the tier's consolidate, which is for gauges.
function defaultAgg(t: TierSpec, runningTotal: boolean): Aggregation {
  return runningTotal || t.index === 0 ? 'last' : t.consolidate;
}

/** Intervals of one tier whose start lies in [start, end] (an aggregate the tier answers for `kind`). */
export function queryTier(t: TierView, column: number, agg: Aggregation, start: number, end: number, kind: SeriesKind = 'gauge'): QueryResult {
  const step = t.spec.intervalMs;
  const k0 = Math.max(1, Math.ceil(start / step));
  const k1 = Math.floor(end / step);
  const n = Math.max(0, k1 - k0 + 1);
  if (n > MAX_QUERY_POINTS)
    throw new CapacityError(
      `query of ${n} points at ${step} ms steps is over the limit of ${MAX_QUERY_POINTS}; narrow the range or choose a coarser tier`,
    );
  const [timestamps, values, both] = resultArrays(n);
  if (t.spec.index === 0) {
    // Tier 0 in one call: the timestamps and the values, each row read once.
    t.slab.readRawSpan(column, k0, both);
    if (agg === 'count') for (let i = 0; i < n; i++) values[i] = Number.isNaN(values[i]) ? NaN : 1;
  } else {
    fillSteps(timestamps, k0 * step, step);
    readValues(t, column, agg, kind === 'counter', k0, values);
  }
  return { timestamps, values, tier: t.spec.index, step, agg, segments: n === 0 ? [] : [{ tier: t.spec.index, step, start: k0 * step, end: k1 * step }] };
}

// Query results are cut from shared buffers, as Buffer.allocUnsafe() cuts small Buffers from its
// pool: a new ArrayBuffer costs more than reading hundreds of rows (a backing store, and the
// garbage collector's accounting of it), a view of an existing one little. A pool is left
// uninitialised (every element of a result is written before it is returned) and is below
// malloc's mmap threshold (128 KiB), so a new one reuses freed memory rather than fresh pages.
const POOL_BYTES = 120 * 1024;
/** Results larger than this get a buffer of their own (so a pool serves four at least). */
const POOLED_MAX_BYTES = POOL_BYTES / 4;
let pool = new ArrayBuffer(0);
let poolAt = 0;

/** Timestamps and values for an n-point result, uninitialised, side by side in one buffer; and both as one array. */
function resultArrays(n: number): [Float64Array, Float64Array, Float64Array] {
  const bytes = 16 * n;
  let buffer = pool;
  let at = 0;
  if (bytes > POOLED_MAX_BYTES) {
    buffer = Buffer.allocUnsafeSlow(bytes).buffer;
  } else {
    if (poolAt + bytes > pool.byteLength) {
      pool = buffer = Buffer.allocUnsafeSlow(POOL_BYTES).buffer;
      poolAt = 0;
    }
    at = poolAt;
    poolAt += bytes;
  }
  return [new Float64Array(buffer, at, n), new Float64Array(buffer, at + 8 * n, n), new Float64Array(buffer, at, 2 * n)];
}

/** out[i] = first + i * step (integers below 2^53, so the sums are exact); four at a time, so
 *  that each addition does not wait for the one before. */
function fillSteps(out: Float64Array, first: number, step: number): void {
  const n = out.length;
  const step2 = 2 * step;
  const step3 = 3 * step;
  const step4 = 4 * step;
  let ts = first;
  let i = 0;
  for (; i + 4 <= n; i += 4, ts += step4) {
    out[i] = ts;
    out[i + 1] = ts + step;
    out[i + 2] = ts + step2;
    out[i + 3] = ts + step3;
  }
  for (; i < n; i++, ts += step) out[i] = ts;
}

/** Consolidated tiers (tier 0 is read by queryTier): fills values with buckets k0, k0 + 1, ... of the column (NaN where the ring holds none). */
function readValues(t: TierView, column: number, agg: Aggregation, counter: boolean, k0: number, values: Float64Array): void {
  const n = values.length;
  if (n === 0) return;
  // Only the part of the range the ring can hold is read; the rest is NaN.
  const head = t.head();
  const lo = head === 0 ? 0 : Math.max(k0, head - t.spec.slots + 1);
  const hi = head === 0 ? -1 : Math.min(k0 + n - 1, head);
  if (lo > hi) {
    values.fill(NaN);
    return;
  }
  const off = lo - k0;
  const len = hi - lo + 1;
  values.fill(NaN, 0, off);
  values.fill(NaN, off + len);
  const part = values.subarray(off, off + len);
  // A consolidated tier's cells are read by the slab: the aggregate (avg made from sum and count
  // where those are kept instead), a counter's last value; a count of 0 reads as NaN.
  t.slab.readColumn(column, AGG[agg], counter, lo, len, part);
}

function stitch(
  tiers: readonly TierView[],
  oldest: readonly number[],
  column: number,
  kind: SeriesKind,
  agg: Aggregation | undefined,
  runningTotal: boolean,
  start: number,
  end: number,
): QueryResult {
  // From the finest tier back in time: each tier covers from its oldest point up to the first
  // timestamp of the finer part already taken.
  const parts: QueryResult[] = [];
  let upper = Math.floor(end) + 1; // exclusive
  for (let i = 0; i < tiers.length; i++) {
    const t = tiers[i]!;
    const from = Math.max(start, oldest[i]!);
    if (from === Infinity || from >= upper) continue;
    const part = queryTier(t, column, agg ?? defaultAgg(t.spec, runningTotal), from, upper - 1, kind);
    if (part.timestamps.length === 0) continue;
    parts.push(part);
    upper = part.timestamps[0]!;
  }
  if (parts.length === 0) return queryTier(tiers[0]!, column, agg ?? defaultAgg(tiers[0]!.spec, runningTotal), start, end, kind);
  parts.reverse();
  const n = parts.reduce((a, p) => a + p.timestamps.length, 0);
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  let at = 0;
  for (const p of parts) {
    timestamps.set(p.timestamps, at);
    values.set(p.values, at);
    at += p.timestamps.length;
  }
  const finest = parts[parts.length - 1]!;
  return {
    timestamps,
    values,
    tier: finest.tier,
    step: finest.step,
    agg: finest.agg,
    segments: parts.flatMap((p) => p.segments),
  };
}
