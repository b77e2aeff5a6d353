// The store's compiled addon (build/<variant>/rondo.node or its prebuilt binary, see
// ../package-root.ts; native/addon.cc), loaded once, and the
// slab format it exports: the one source of the format's numbers for the TypeScript side. Its API
// is internal: the Store wraps it. The bench/test helpers are another addon (./dev-addon.ts), the
// KVM layer a third (../kvm/native.ts).
import { addonFile } from '../package-root';
import { STORE_ERROR_CODES } from '../errors';

export interface SlabCreateParams {
  consolidated: boolean;
  maxSeries: number;
  slots: number;
  intervalMs: number;
  tierIndex: number;
  createdMs: number;
  schemaName: string;
  fileMode?: number;
  /** Consolidated tiers: the aggregates kept, bit (1 << format.aggregates[a]) for each a. */
  aggregates?: number;
  /** Consolidated tiers: bytes of a gauge's value, 4 (float32) or 8 (float64). */
  valueBytes?: number;
}

export interface SlabParams extends Omit<SlabCreateParams, 'fileMode' | 'aggregates' | 'valueBytes'> {
  /** Bytes of one series' cell: 8 in the raw tier; in a consolidated one, what its aggregates need. */
  cellBytes: number;
  rowBytes: number;
  rowWords: number;
  /** 0 for the raw tier. */
  aggregates: number;
  valueBytes: number;
  fileBytes: number;
}

export interface SlabCounters {
  /** Newest interval number a row was claimed for (0: none). */
  head: number;
  lateWrites: number;
  claims: number;
  repairs: number;
  /** Consolidated tiers: the next bucket number to fill (0: not started). */
  cursor: number;
}

export interface NativeSlab {
  buffer(): ArrayBuffer;
  /** format.claimResults.ok: the row holds interval k; .late: refused, the slot holds a newer interval (counted). */
  claim(k: number): number;
  record(col: number, ts: number, value: number): number;
  /**
   * Intervals [k0, k0+n) of a column: the values (raw tier), or aggregate `agg` (format.aggregates)
   * of a gauge, or a counter's last value (consolidated tiers); NaN where missing or not kept.
   */
  readColumn(col: number, agg: number, counter: boolean, k0: number, n: number, out: Float64Array): void;
  /** Tier 0: intervals [k0, k0 + n) of col, n = out.length / 2: out[0..n) their starts (ms), out[n..2n) their values (NaN where missing or outside the ring). */
  readRawSpan(col: number, k0: number, out: Float64Array): void;
  /** Rows [k0, k0+n), columns [0, ncols), one value a cell as readColumn gives it (kinds[c] 1: a counter): out[i*ncols + c]. */
  readRows(k0: number, n: number, ncols: number, agg: number, kinds: Uint8Array, out: Float64Array): number;
  consolidate(
    src: NativeSlab,
    fromBucket: number,
    toBucket: number,
    ncols: number,
    xff: number,
    expectedPoints: number,
    kinds: Uint8Array,
  ): void;
  counters(): SlabCounters;
  countLate(): void;
  params(): SlabParams;
  flush(): void;
  close(): void;
  /** A u32 over the slab's damage flag: 1 once its file was found cut short under the mapping (undefined: not covered). */
  damageFlag(): ArrayBuffer | undefined;
}

/** The slab format (native/rondo/slab.h, docs/storage-format.md) as the addon exports it. */
export interface SlabFormat {
  magic: string;
  formatVersion: number;
  headerBytes: number;
  /** Byte offsets of the header's fields; head, lateWrites, claims, cursor, repairs are u64 counters. */
  offsets: {
    magic: number;
    version: number;
    headerBytes: number;
    kind: number;
    cellBytes: number;
    maxSeries: number;
    slots: number;
    intervalMs: number;
    rowBytes: number;
    dataOffset: number;
    fileBytes: number;
    createdMs: number;
    tierIndex: number;
    schemaName: number;
    crc: number;
    head: number;
    lateWrites: number;
    claims: number;
    cursor: number;
    repairs: number;
    /** The cell layout block, [layout, layoutEnd), covered by the crc with the bytes before crc. */
    layout: number;
    rowHeaderBytes: number;
    valueBytes: number;
    aggregates: number;
    fieldOffsets: number;
    layoutEnd: number;
  };
  /** Words (f64) of a raw (tier 0) row: [stamp][seq][cells...]. */
  rowStampWord: number;
  rowSeqWord: number;
  rowHeaderWords: number;
  /** Words of one series' cell in the raw tier. */
  rawCellWords: number;
  /** Bytes before the cells of a consolidated row: its tag (bucket, generation, busy bit). */
  consolidatedRowHeaderBytes: number;
  tag: { busy: number; genShift: number; genMask: number; bucketShift: number };
  /** The aggregates' numbers (bits of a tier's aggregates mask, readColumn's agg). */
  aggregates: { avg: number; min: number; max: number; sum: number; count: number; last: number };
  /** Bytes the header keeps for the schema name, its NUL included. */
  schemaNameBytes: number;
  claimResults: { ok: number; late: number };
  /** Bounds of the create parameters the addon accepts. */
  limits: { maxSeries: number; slots: number; intervalMs: number; createdMs: number; fileMode: number };
  errorCodes: string[];
}

/** One record as the addon reads it from an event ring (native/rondo/events.h). */
export interface NativeEventRecord {
  /** Its position in the ring (bytes appended before it). */
  pos: number;
  ts: bigint;
  topic: number;
  type: number;
  flags: number;
  data: Buffer;
}

export interface NativeEventStats {
  capacity: number;
  tail: number;
  published: number;
  appends: number;
  dropped: number;
  repairs: number;
  oldestNs: bigint | null;
  newestNs: bigint | null;
}

/** An event ring (events.slab): see docs/storage-format.md, "The event ring". */
export interface NativePackedEvents {
  next: number;
  count: number;
  ts: BigInt64Array;
  topic: Uint32Array;
  typeFlags: Uint16Array;
  end: Uint32Array;
  data: Buffer;
}

export interface NativeEventRing {
  /** Appends a record: typeAndFlags = type | flags << 8; tsNs default the clock (CLOCK_REALTIME). Its position. */
  append(topic: number, typeAndFlags: number, data: Uint8Array | string, tsNs?: bigint): number;
  /** Records from position `from` on (clamped to the oldest) with start <= ts < end, of the topics whose topics[id] is 1 (null: all), at most limit of them. */
  read(from: number, startNs: bigint | null, endNs: bigint | null, topics: Uint8Array | null, limit: number, maxBytes?: number): { next: number; records: NativeEventRecord[] };
  /** read() as columns: record i is ts[i], topic[i], typeFlags[i] (type | flags << 8), data[end[i-1] .. end[i]). */
  readPacked(from: number, startNs: bigint | null, endNs: bigint | null, topics: Uint8Array | null, limit: number, maxBytes?: number): NativePackedEvents;
  /** The writable mapping (header and records), detached by close(). */
  buffer(): ArrayBuffer;
  /** 4 bytes over the ring's damage flag (a u32, 1 once its file was found cut short); undefined when not covered. */
  damageFlag(): ArrayBuffer | undefined;
  stats(): NativeEventStats;
  params(): { size: number; createdMs: number; fileBytes: number; maxPayload: number };
  flush(): void;
  close(): void;
}

export interface Addon {
  EventRing: new (path: string, mode: 'create' | 'rw' | 'ro' | 'attach', params?: { size: number; createdMs: number; fileMode?: number }) => NativeEventRing;
  /** 'attach': another read-write mapping of a slab this process has open for writing (no repair). */
  Slab: new (path: string, mode: 'create' | 'rw' | 'ro' | 'attach', params?: SlabCreateParams) => NativeSlab;
  lockStore(path: string, mode?: number): number;
  unlockStore(fd: number): void;
  /** The cell layout of a consolidated tier keeping these aggregates (a mask) at this value size. */
  cellLayout(aggregates: number, valueBytes: number): { cellBytes: number; offsets: number[] };
  /** Rewrites a format-1 slab file as format 2 of these parameters (docs/storage-format.md, migration),
   *  at `dest` when given (the format-1 file is then only read), else over `path`. */
  migrateV1Slab(path: string, params: SlabCreateParams, kinds: Uint8Array, dest?: string): void;
  format: SlabFormat;
  /** The event ring's layout (native/rondo/events.h), for src/store/events-js.ts. */
  eventFormat: {
    formatVersion: number;
    headerBytes: number;
    recordHeaderBytes: number;
    maxPayload: number;
    offsets: { tail: number; published: number; lock: number; appends: number; dropped: number; last: number };
  };
}

/** The slab format version this TypeScript reads and writes (docs/storage-format.md). */
const FORMAT_VERSION = 2;
/** The longest schema name schema.ts allows (ASCII: as many bytes); the header must hold it and a NUL. */
export const SCHEMA_NAME_MAX = 40;

/**
 * Checks that the addon's format is the one this TypeScript was written for: the version, and
 * what the code here relies on without asking (record() reads a row's stamp at word 0 and stores
 * a raw series' value at one word per column after the row header; the head and cursor are read
 * from the mapped header as two u32 halves; an aggregate's number is its place in AGGREGATIONS;
 * the error codes errors.ts maps). The numbers themselves are then taken from the addon, not
 * repeated here. Returns the problems found.
 */
export function formatProblems(f: SlabFormat | undefined): string[] {
  if (typeof f !== 'object' || f === null) return ['it exports no slab format (an addon older than this rondo)'];
  const p: string[] = [];
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (f.formatVersion !== FORMAT_VERSION) p.push(`slab format version ${String(f.formatVersion)}, this rondo reads version ${FORMAT_VERSION}`);
  if (!int(f.headerBytes) || f.headerBytes % 8 !== 0) p.push(`header of ${String(f.headerBytes)} bytes, not a whole number of 8-byte words`);
  for (const k of ['head', 'lateWrites', 'claims', 'cursor', 'repairs'] as const) {
    const at = f.offsets?.[k];
    if (!int(at) || at % 8 !== 0 || at + 8 > f.headerBytes) p.push(`counter ${k} at byte ${String(at)}, not an aligned u64 in the header`);
  }
  if (f.rowStampWord !== 0) p.push(`row stamp at word ${String(f.rowStampWord)}, not 0`);
  if (!int(f.rowSeqWord) || !int(f.rowHeaderWords) || f.rowSeqWord >= f.rowHeaderWords) p.push('row header words out of order');
  if (f.rawCellWords !== 1) p.push(`raw cells of ${String(f.rawCellWords)} words, not 1`);
  // The order of AGGREGATIONS (schema.ts), which imports this module.
  const aggs = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;
  if (!aggs.every((a, i) => f.aggregates?.[a] === i)) p.push(`aggregate numbers ${JSON.stringify(f.aggregates)}, not ${aggs.join(', ')} = 0 to 5`);
  if (!int(f.schemaNameBytes) || f.schemaNameBytes <= SCHEMA_NAME_MAX) p.push(`schema names of ${String(f.schemaNameBytes)} bytes, too short for ${SCHEMA_NAME_MAX} characters`);
  if (f.claimResults?.ok !== 0 || !int(f.claimResults?.late) || f.claimResults.late === 0) p.push(`claim results ${JSON.stringify(f.claimResults)}, not ok = 0`);
  if (!int(f.limits?.maxSeries) || !int(f.limits?.slots) || f.limits.maxSeries < 1 || f.limits.slots < 1) p.push(`limits ${JSON.stringify(f.limits)}`);
  const codes = Array.isArray(f.errorCodes) ? f.errorCodes : [];
  const known: readonly string[] = STORE_ERROR_CODES;
  if (codes.length !== known.length || !known.every((c) => codes.includes(c)))
    p.push(`error codes ${JSON.stringify(f.errorCodes)}, this rondo maps ${JSON.stringify(known)}`);
  return p;
}

function load(): Addon {
  const file = addonFile('rondo');
  let a: Addon;
  try {
    a = require(file) as Addon;
  } catch (e) {
    throw new Error(`rondo: the store's addon ${file} did not load (${(e as Error).message}); build it with \`npm rebuild rondo\` (in a checkout: \`npx node-gyp rebuild\`)`, { cause: e });
  }
  const problems = formatProblems(a.format);
  if (problems.length > 0)
    throw new Error(
      `rondo: the store's addon ${file} is from another version of rondo than this JavaScript: ${problems.join('; ')}. ` +
        'Rebuild it from this package (`npm rebuild rondo`, or `npx node-gyp rebuild` in a checkout)',
    );
  for (const v of Object.values(a.format)) if (typeof v === 'object' && v !== null) Object.freeze(v);
  Object.freeze(a.format);
  return a;
}

export const addon: Addon = load();

/** The slab format, from the addon: use these, never a copy of the numbers. */
export const format: Readonly<SlabFormat> = addon.format;

/**
 * Another Slab object of a slab file this process's store has open for writing (its own
 * read-write mapping, without the repair a writer's open makes): `rondo bench`'s plain N-API
 * write path, next to the store's own. Close it before the store.
 */
export function attachSlab(file: string): NativeSlab {
  return new addon.Slab(file, 'attach');
}
