// The embedded store: one directory of slabs (one per schema and tier), a series index and the
// schemas. The record() fast path writes the mapped slab through a Float64Array and crosses
// into native code only to take a new row.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, nativeCode, type NativeSlab } from './native';
import {
  CapacityError,
  ConfigError,
  CorruptFileError,
  InvalidSeriesError,
  InvalidTimestampError,
  InvalidValueError,
  LateWriteError,
  NotAStoreError,
  ReadOnlyError,
  StorageError,
  StoreClosedError,
  StoreLockedError,
} from './errors';
import { readMetaFile, writeMetaFile, fsyncDir } from './metafile';
import {
  assertSameSchemas,
  DEFAULT_SCHEMAS,
  normalizeSchemas,
  routeSeries,
  type Aggregation,
  type SchemaOptions,
  type SchemaSpec,
  type TierSpec,
} from './schema';
import { type Labels, type SeriesKind, validateSeries } from './series';
import { formatSeries, parseSelector } from './selector';
import { formatDuration } from './duration';
import { queryTier, resolveQuery, TierView, type QueryOptions, type QueryResult } from './query';
import { Exporter, type ExporterOptions, type ExportSource } from './export/exporter';
import { exporterNameFor, pushExporter, type PushOptions, type PushSummary } from './export/push';
import { RemoteWriteClient } from './export/remote-write';

export const STORE_FILE = 'rondo.json';
export const SERIES_FILE = 'series.json';
export const LOCK_FILE = 'LOCK';
/** Timestamps before 2000-01-01 are refused: most often they are seconds passed as milliseconds. */
export const MIN_TIMESTAMP = Date.UTC(2000, 0, 1);

export interface StoreOptions {
  /** Schemas for a new store. On an existing store, omit them to use what is on disk. */
  schemas?: readonly SchemaOptions[];
  /** How far ahead of the clock a timestamp may be, at most one day. Default 1 minute: a write
   *  ahead of time moves the ring forward, and with it the window of what can be read. */
  maxFutureMs?: number;
  /** Mode of a newly created store directory. Default 0o700. */
  dirMode?: number;
  /** Mode of the files the store creates (slabs, metadata, lock, exporter cursors). Default 0o600. */
  fileMode?: number;
}

export interface RegisterOptions {
  /** gauge (default) or counter: a counter stores its running total; rates come at query time. */
  kind?: SeriesKind;
}

const EMPTY: Float64Array = new Float64Array(0);

// The classes record() reads declare their fields (`declare`) and set them in the constructor:
// defined as ES2022 class fields, each would start out undefined, and V8 would then treat it as
// holding any value and check what it holds on every record().

/** Where the JavaScript thread writes tier 0 of one schema: the mapped rows and the current row. */
class RawWriter {
  declare f64: Float64Array;
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
  constructor(slab: NativeSlab, tier: TierSpec, schema: string, writable: boolean) {
    const p = slab.params();
    // A read-only store has nothing to write through: its writer never matches a row.
    this.f64 = writable ? new Float64Array(slab.buffer(), p.headerBytes) : EMPTY;
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
  }
  disable(): void {
    this.curStart = Infinity;
    this.curEnd = -Infinity;
    this.f64 = new Float64Array(0);
  }
}

/**
 * What recordBatch() keeps about a handles array it is given call after call (an agent's tick):
 * the handles as they were (the array may be changed in place), the cell of each, and the runs
 * of consecutive handles of one schema. Lets a batch be checked by identity, not handle by handle.
 */
class BatchPlan {
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
    this.cell = 2 + column;
  }
  /** `name{label="value",...}` */
  get key(): string {
    return formatSeries(this.name, this.labels);
  }
}

interface SchemaState {
  spec: SchemaSpec;
  slabs: NativeSlab[];
  /** The slabs as the read path and consolidation see them (heads and cursors read from the map). */
  views: TierView[];
  writer: RawWriter;
  series: SeriesHandle[];
}

interface SeriesRecord {
  name: string;
  labels: Record<string, string>;
  kind: SeriesKind;
  schema: string;
  column: number;
}

export interface TierInfo {
  index: number;
  intervalMs: number;
  retentionMs: number;
  slots: number;
  consolidate: Aggregation;
  xff: number;
  file: string;
  bytes: number;
  /** Start of the newest interval held, ms; null when the tier is empty. */
  newest: number | null;
  /** Start of the oldest interval the ring can still hold, ms; null when empty. */
  oldest: number | null;
  lateWrites: number;
  rowsClaimed: number;
  rowsRepaired: number;
  /** Consolidated tiers: start of the next bucket to consolidate, ms; null before the first. */
  consolidatedUntil: number | null;
}

export interface SeriesInfo {
  id: number;
  name: string;
  labels: Labels;
  key: string;
  kind: SeriesKind;
  schema: string;
  lastTimestamp: number | null;
  lastValue: number | null;
}

export interface StoreInfo {
  dir: string;
  readOnly: boolean;
  createdMs: number;
  schemas: Array<{
    name: string;
    match: Labels;
    maxSeries: number;
    seriesCount: number;
    tiers: TierInfo[];
  }>;
  series: SeriesInfo[];
  totals: { series: number; bytes: number };
}

export interface SelectResult extends QueryResult {
  name: string;
  labels: Labels;
  kind: SeriesKind;
}

export interface ConsolidateOptions {
  /** Buckets that ended at or before this time are consolidated. Default Date.now(). */
  now?: number;
}

const LEFTOVER_RE = /^(series\.json|rondo\.json|LOCK|.*\.slab)(\.tmp)?$/;

export class Store {
  readonly dir: string;
  readonly readOnly: boolean;
  private closed = false;
  private lockFd = -1;
  private readonly schemas: SchemaState[] = [];
  private readonly byKey = new Map<string, SeriesHandle>();
  private readonly all: SeriesHandle[] = [];
  private readonly maxFutureMs: number;
  private readonly fileMode: number;
  private createdMs = 0;
  private seriesStamp = '';
  private readonly exporters = new Map<string, Exporter>();
  // recordBatch(): the handles array of the last call, and the plan made once one came twice.
  private lastBatch: readonly SeriesHandle[] | undefined;
  private batchPlan: BatchPlan | undefined;

  /** Opens (or creates) a store for writing. Only one writer per store: others get StoreLockedError. */
  static open(dir: string, options: StoreOptions = {}): Store {
    return new Store(dir, options, false);
  }

  /** Opens a store another process may be writing, to read it. Takes no lock and never writes. */
  static openReadOnly(dir: string): Store {
    return new Store(dir, {}, true);
  }

  private constructor(dir: string, options: StoreOptions, readOnly: boolean) {
    if (typeof dir !== 'string' || dir === '') throw new ConfigError('store directory must be a non-empty path string');
    if (typeof options !== 'object' || options === null) throw new ConfigError('store options must be an object');
    this.dir = path.resolve(dir);
    this.readOnly = readOnly;
    this.maxFutureMs = options.maxFutureMs ?? 60_000;
    if (typeof this.maxFutureMs !== 'number' || !(this.maxFutureMs >= 0 && this.maxFutureMs <= 86_400_000))
      throw new ConfigError(`maxFutureMs ${String(options.maxFutureMs)} must be a number of ms from 0 to 86400000 (one day)`);
    this.fileMode = options.fileMode ?? 0o600;
    if (!Number.isInteger(this.fileMode) || this.fileMode < 0 || this.fileMode > 0o777)
      throw new ConfigError(`fileMode ${String(options.fileMode)} must be a permission mode such as 0o600`);
    const given = options.schemas === undefined ? undefined : normalizeSchemas(options.schemas);
    try {
      if (readOnly) this.openExisting(undefined);
      else this.openForWriting(given, options.dirMode ?? 0o700);
    } catch (e) {
      this.releaseAll();
      throw e;
    }
  }

  private openForWriting(given: SchemaSpec[] | undefined, dirMode: number): void {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st === undefined) {
      fs.mkdirSync(this.dir, { recursive: true, mode: dirMode });
    } else if (!st.isDirectory()) {
      throw new NotAStoreError(`${this.dir} is not a directory; give the path of a store directory (it is created if missing)`);
    }
    try {
      this.lockFd = addon.lockStore(path.join(this.dir, LOCK_FILE), this.fileMode);
    } catch (e) {
      if (nativeCode(e) === 'RONDO_LOCKED')
        throw new StoreLockedError(
          `store ${this.dir} is already open for writing (${(e as Error).message}); close that Store first, or read it with Store.openReadOnly()`,
        );
      throw nativeError(e, path.join(this.dir, LOCK_FILE));
    }
    if (fs.existsSync(path.join(this.dir, STORE_FILE))) {
      this.openExisting(given);
      return;
    }
    const foreign = fs.readdirSync(this.dir).filter((f) => !LEFTOVER_RE.test(f));
    if (foreign.length > 0)
      throw new NotAStoreError(
        `${this.dir} is not a rondo store (no ${STORE_FILE}) and holds other files (${foreign.slice(0, 3).join(', ')}); use an empty or new directory`,
      );
    this.create(given ?? normalizeSchemas(DEFAULT_SCHEMAS));
  }

  // A new store: slabs first, then the series index, and the store file last, so a crash
  // part-way leaves a directory that the next open recreates rather than half a store.
  private create(specs: SchemaSpec[]): void {
    this.createdMs = Date.now();
    for (const spec of specs) {
      const slabs: NativeSlab[] = [];
      for (const t of spec.tiers) {
        const file = path.join(this.dir, t.file);
        try {
          slabs.push(
            new addon.Slab(file, 'create', {
              consolidated: t.index > 0,
              maxSeries: spec.maxSeries,
              slots: t.slots,
              intervalMs: t.intervalMs,
              tierIndex: t.index,
              createdMs: this.createdMs,
              schemaName: spec.name,
              fileMode: this.fileMode,
            }),
          );
        } catch (e) {
          slabs.forEach((s) => s.close());
          throw nativeError(e, file);
        }
      }
      this.addSchema(spec, slabs);
    }
    this.writeSeriesIndex();
    writeMetaFile(path.join(this.dir, STORE_FILE), 'rondo-store', { createdMs: this.createdMs, schemas: specs }, this.fileMode);
    fsyncDir(this.dir);
  }

  private openExisting(given: SchemaSpec[] | undefined): void {
    const storeFile = path.join(this.dir, STORE_FILE);
    let body: unknown;
    try {
      body = readMetaFile(storeFile, 'rondo-store');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') body = undefined;
      else throw e;
    }
    if (body === undefined)
      throw new NotAStoreError(`${this.dir} is not a rondo store (no ${STORE_FILE}); check the path, or open it for writing to create one`);
    const meta = body as { createdMs?: unknown; schemas?: unknown };
    let onDisk: SchemaSpec[];
    try {
      onDisk = normalizeSchemas(
        (meta.schemas as Array<SchemaSpec & { tiers: Array<TierSpec> }>).map((s) => ({
          name: s.name,
          match: s.match,
          maxSeries: s.maxSeries,
          tiers: s.tiers.map((t) => ({ interval: t.intervalMs, retention: t.retentionMs, consolidate: t.consolidate, xff: t.xff })),
        })),
      );
    } catch (e) {
      throw new CorruptFileError(`${storeFile} holds schemas this rondo cannot use (${(e as Error).message}); restore it from a backup`);
    }
    if (given !== undefined) assertSameSchemas(given, onDisk, this.dir);
    this.createdMs = typeof meta.createdMs === 'number' ? meta.createdMs : 0;
    for (const spec of onDisk) {
      const slabs: NativeSlab[] = [];
      for (const t of spec.tiers) {
        const file = path.join(this.dir, t.file);
        let slab: NativeSlab;
        try {
          slab = new addon.Slab(file, this.readOnly ? 'ro' : 'rw');
        } catch (e) {
          slabs.forEach((s) => s.close());
          throw nativeError(e, file);
        }
        slabs.push(slab);
        const p = slab.params();
        if (
          p.maxSeries !== spec.maxSeries ||
          p.slots !== t.slots ||
          p.intervalMs !== t.intervalMs ||
          p.consolidated !== t.index > 0 ||
          p.schemaName !== spec.name ||
          p.tierIndex !== t.index
        ) {
          slabs.forEach((s) => s.close());
          throw new CorruptFileError(
            `${file} does not match its schema "${spec.name}" tier ${t.index} in ${STORE_FILE} (a different or swapped slab); restore the store from a backup`,
          );
        }
        const c = slab.counters();
        if (c.head * t.intervalMs > Date.now() + 86_400_000 || c.cursor * t.intervalMs > Date.now() + 86_400_000) {
          slabs.forEach((s) => s.close());
          throw new CorruptFileError(`${file} says it holds data from more than a day in the future; the header is damaged or the clock is wrong`);
        }
      }
      this.addSchema(spec, slabs);
    }
    this.loadSeriesIndex(true);
  }

  private addSchema(spec: SchemaSpec, slabs: NativeSlab[]): void {
    const writer = new RawWriter(slabs[0]!, spec.tiers[0]!, spec.name, !this.readOnly);
    const views = spec.tiers.map((t, i) => new TierView(t, slabs[i]!, !this.readOnly));
    this.schemas.push({ spec, slabs, views, writer, series: [] });
  }

  // ---- series index ----

  private loadSeriesIndex(initial: boolean): void {
    const file = path.join(this.dir, SERIES_FILE);
    let stamp = '';
    try {
      const st = fs.statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      if (initial) throw new CorruptFileError(`${file} is missing; the store is incomplete: restore it from a backup`);
      return;
    }
    if (stamp === this.seriesStamp) return;
    const body = readMetaFile(file, 'rondo-series') as { series?: unknown } | undefined;
    const list = body?.series;
    if (!Array.isArray(list)) throw new CorruptFileError(`${file} has no series list; restore it from a backup`);
    for (let id = this.all.length; id < list.length; id++) {
      const r = list[id] as SeriesRecord;
      const schema = this.schemas.find((s) => s.spec.name === r?.schema);
      let labels: Record<string, string>;
      try {
        labels = validateSeries(r?.name, r?.labels);
      } catch (e) {
        throw new CorruptFileError(`${file} entry ${id} is not a valid series (${(e as Error).message}); restore it from a backup`);
      }
      if (schema === undefined || r.column !== schema.series.length || (r.kind !== 'gauge' && r.kind !== 'counter') || r.column >= schema.spec.maxSeries)
        throw new CorruptFileError(`${file} entry ${id} (${r?.name}) does not fit the store's schemas; restore it from a backup`);
      // register() routes by the schemas' match, which cannot change: an entry elsewhere was edited.
      if (routeSeries(this.schemas.map((s) => s.spec), r.name, labels) !== schema.spec)
        throw new CorruptFileError(`${file} entry ${id} (${r.name}) is in schema "${schema.spec.name}", which its labels do not route to; restore it from a backup`);
      this.adopt(r.name, labels, r.kind, schema);
    }
    this.seriesStamp = stamp;
  }

  private adopt(name: string, labels: Record<string, string>, kind: SeriesKind, schema: SchemaState): SeriesHandle {
    const h = new SeriesHandle(this.all.length, name, Object.freeze(labels), kind, schema.spec.name, schema.series.length, schema.writer, this);
    schema.series.push(h);
    this.all.push(h);
    this.byKey.set(formatSeries(name, labels), h);
    return h;
  }

  private writeSeriesIndex(): void {
    const file = path.join(this.dir, SERIES_FILE);
    const series: SeriesRecord[] = this.all.map((h) => ({
      name: h.name,
      labels: { ...h.labels },
      kind: h.kind,
      schema: h.schema,
      column: h.column,
    }));
    writeMetaFile(file, 'rondo-series', { series }, this.fileMode);
    const st = fs.statSync(file);
    this.seriesStamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
  }

  /**
   * The handle of a series, creating it on first use. Idempotent: the same name and labels give
   * the same series, across reopen. The series goes to the first schema whose `match` it fits.
   */
  register(name: string, labels: Labels = {}, options: RegisterOptions = {}): SeriesHandle {
    this.assertWritable();
    const clean = validateSeries(name, labels);
    const kind = options?.kind ?? 'gauge';
    if (kind !== 'gauge' && kind !== 'counter')
      throw new InvalidSeriesError(`kind ${JSON.stringify(kind)} of ${name} is not valid; use 'gauge' or 'counter'`);
    const key = formatSeries(name, clean);
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      if (existing.kind !== kind)
        throw new InvalidSeriesError(`${key} is registered as a ${existing.kind}; register it with kind: '${existing.kind}', or use another name`);
      return existing;
    }
    const spec = routeSeries(
      this.schemas.map((s) => s.spec),
      name,
      clean,
    );
    if (spec === undefined)
      throw new InvalidSeriesError(`${key} matches no schema of store ${this.dir}; add a schema with match: {} as the last one to catch every series`);
    const schema = this.schemas.find((s) => s.spec === spec)!;
    if (schema.series.length >= spec.maxSeries)
      throw new CapacityError(
        `schema "${spec.name}" is full (maxSeries ${spec.maxSeries}) and cannot take ${key}; create the store with a larger maxSeries or route these series to another schema`,
      );
    const h = this.adopt(name, clean, kind, schema);
    try {
      this.writeSeriesIndex();
    } catch (e) {
      // Not on disk means not registered: undo, so a retry starts clean.
      schema.series.pop();
      this.all.pop();
      this.byKey.delete(key);
      throw e;
    }
    return h;
  }

  /** The handle of an existing series, or undefined. Works on read-only stores. */
  find(name: string, labels: Labels = {}): SeriesHandle | undefined {
    this.assertOpen();
    const key = formatSeries(name, validateSeries(name, labels));
    let h = this.byKey.get(key);
    if (h === undefined && this.readOnly) {
      this.loadSeriesIndex(false);
      h = this.byKey.get(key);
    }
    return h;
  }

  /** Every series, in registration order. */
  series(): readonly SeriesHandle[] {
    this.assertOpen();
    if (this.readOnly) this.loadSeriesIndex(false);
    return this.all;
  }

  // ---- write path ----

  /**
   * Records a value at a time (ms since the epoch, default now). In steady state this is two
   * compares, a load and a store into the mapped slab: no call into native code.
   */
  record(h: SeriesHandle, value: number, ts: number = Date.now()): void {
    const w = h?.w;
    if (w !== undefined && typeof ts === 'number' && ts >= w.curStart && ts < w.curEnd && typeof value === 'number' && value - value === 0 && h.owner === this) {
      const f = w.f64;
      if (f[w.curBase] === w.curK) {
        f[w.curBase + h.cell] = value;
        // The stamp once more: a row taken for a newer lap meanwhile must not keep this value.
        if (f[w.curBase] === w.curK) return;
        throw this.retract(h, w.curBase, w.curK, value, ts);
      }
    }
    this.recordSlow(h, value, ts);
  }

  /**
   * Records several series at one timestamp. Checks everything first: nothing is written unless
   * all can be. Passing the same array of handles call after call (an agent's tick) is fastest:
   * from the second call on, the handles are compared with those of the last call rather than
   * checked one by one, and a frozen array (Object.freeze) is not compared at all.
   */
  recordBatch(ts: number, handles: readonly SeriesHandle[], values: ArrayLike<number>): void {
    if (handles === null || typeof handles !== 'object' || typeof handles.length !== 'number')
      throw new InvalidSeriesError('recordBatch needs an array of series handles (from register() or find())');
    if (typeof ts !== 'number' || !Number.isFinite(ts))
      throw new InvalidTimestampError(`recordBatch timestamp ${String(ts)} is not a finite number; pass milliseconds since the epoch, like Date.now()`);
    const n = handles.length;
    if (values === null || typeof values !== 'object' || values.length !== n)
      throw new InvalidValueError(`recordBatch got ${n} handles and ${String(values?.length)} values; pass one value per handle`);
    const plan = this.batchPlan;
    if (
      plan !== undefined &&
      plan.handles === handles &&
      n === plan.snapshot.length &&
      sameAndFinite(handles, plan.snapshot, plan.frozen, values, n)
    ) {
      // The array holds the plan's handles and every value is good: only the rows can refuse.
      if (plan.writer !== undefined) this.storePlannedRow(plan, plan.writer, ts, handles, values);
      else this.storePlannedRuns(plan, ts, handles, values);
      return;
    }
    this.recordBatchChecked(ts, handles, values);
    // The same array again (an agent's tick), new or changed since its plan: plan it, so later
    // batches check it by identity.
    if (handles === this.lastBatch) this.batchPlan = BatchPlan.of(handles);
    this.lastBatch = handles;
  }

  /** A planned batch of one schema: take the row if needed, store, and the stamp once more. */
  private storePlannedRow(plan: BatchPlan, w: RawWriter, ts: number, handles: readonly SeriesHandle[], values: ArrayLike<number>): void {
    const n = plan.snapshot.length;
    let base = w.curBase;
    let k = w.curK;
    if (!(ts >= w.curStart && ts < w.curEnd && w.f64[base] === k)) {
      base = this.rowFor(plan.snapshot[0]!, ts);
      k = Math.floor(ts / w.intervalMs);
    }
    const f = w.f64;
    if (plan.firstCell >= 0) storeContiguous(f, base + plan.firstCell, values, n);
    else storeRun(f, base, plan.cells, values, 0, n);
    if (f[base] !== k) this.retractRun(handles, values, 0, n, base, k, ts);
  }

  /** A planned batch across schemas: each run's row in order (as the checked path takes them), then each run's values. */
  private storePlannedRuns(plan: BatchPlan, ts: number, handles: readonly SeriesHandle[], values: ArrayLike<number>): void {
    const { writers, runStarts, cells, bases, ks } = plan;
    const runs = writers.length;
    for (let r = 0; r < runs; r++) {
      const w = writers[r]!;
      if (ts >= w.curStart && ts < w.curEnd && w.f64[w.curBase] === w.curK) {
        bases[r] = w.curBase;
        ks[r] = w.curK;
      } else {
        bases[r] = this.rowFor(plan.snapshot[runStarts[r]!]!, ts);
        ks[r] = Math.floor(ts / w.intervalMs);
      }
    }
    for (let r = 0; r < runs; r++) {
      const f = writers[r]!.f64;
      const base = bases[r]!;
      const from = runStarts[r]!;
      const to = runStarts[r + 1]!;
      storeRun(f, base, cells, values, from, to);
      if (f[base] !== ks[r]) this.retractRun(handles, values, from, to, base, ks[r]!, ts);
    }
  }

  private recordBatchChecked(ts: number, handles: readonly SeriesHandle[], values: ArrayLike<number>): void {
    const n = handles.length;
    // First check every value and make sure each schema's row for ts is taken (this may refuse
    // the whole batch), then store: a compare and a store per value.
    let last: RawWriter | undefined;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const h = handles[i]!;
      if (typeof v !== 'number' || v - v !== 0) throw this.badValue(h, v);
      if (h?.owner !== this) this.rowFor(h, ts); // throws the right error for a stranger
      const w = h.w;
      if (w !== last) {
        if (!(ts >= w.curStart && ts < w.curEnd && w.f64[w.curBase] === w.curK)) this.rowFor(h, ts);
        last = w;
      }
    }
    last = undefined;
    let base = 0;
    let k = 0;
    let runStart = 0;
    let f = EMPTY;
    for (let i = 0; i < n; i++) {
      const h = handles[i]!;
      const w = h.w;
      if (w !== last) {
        if (last !== undefined && f[base] !== k) this.retractRun(handles, values, runStart, i, base, k, ts);
        last = w;
        f = w.f64;
        k = Math.floor(ts / w.intervalMs);
        base = ts >= w.curStart && ts < w.curEnd ? w.curBase : this.rowFor(h, ts);
        runStart = i;
      }
      f[base + h.cell] = values[i]!;
    }
    // Each run of one schema's values: the stamp once more, as in record().
    if (last !== undefined && f[base] !== k) this.retractRun(handles, values, runStart, n, base, k, ts);
  }

  private retractRun(
    handles: readonly SeriesHandle[],
    values: ArrayLike<number>,
    from: number,
    to: number,
    base: number,
    k: number,
    ts: number,
  ): never {
    const errors: LateWriteError[] = [];
    for (let i = from; i < to; i++) errors.push(this.retract(handles[i]!, base, k, values[i]!, ts));
    throw errors[0]!;
  }

  /** Takes back a value stored into a row a newer lap took meanwhile; the write counts as late. */
  private retract(h: SeriesHandle, base: number, k: number, value: number, ts: number): LateWriteError {
    const f = h.w.f64;
    if (f[base + h.cell] === value) f[base + h.cell] = NaN;
    h.w.slab.countLate();
    return this.lateWrite(h, ts, k);
  }

  private recordSlow(h: SeriesHandle, value: number, ts: number): void {
    if (typeof value !== 'number' || value - value !== 0) throw this.badValue(h, value);
    const w = h.w;
    const base = this.rowFor(h, ts);
    const k = Math.floor(ts / w.intervalMs);
    w.f64[base + h.cell] = value;
    if (w.f64[base] !== k) throw this.retract(h, base, k, value, ts);
  }

  /** Index (in words) of the row that holds ts for h's schema, taking the row if needed. */
  private rowFor(h: SeriesHandle, ts: number): number {
    if (!(h instanceof SeriesHandle)) throw new InvalidSeriesError('expected a series handle from store.register()');
    if (h.owner !== this) throw new InvalidSeriesError(`${h.key} was registered in another store (${h.owner.dir}); use that store's record()`);
    this.assertWritable();
    const w = h.w;
    this.checkTimestamp(ts, h);
    const k = Math.floor(ts / w.intervalMs);
    const base = (k % w.slots) * w.rowWords;
    const stamp = w.f64[base]!;
    if (k + w.slots <= w.curK) {
      w.slab.countLate();
      throw this.lateWrite(h, ts, k);
    }
    if (stamp !== k) {
      if (stamp > k || w.slab.claim(k) !== 0) {
        if (stamp > k) w.slab.countLate();
        throw this.lateWrite(h, ts, k);
      }
    }
    if (k >= w.curK) {
      w.curK = k;
      w.curStart = k * w.intervalMs;
      w.curEnd = w.curStart + w.intervalMs;
      w.curBase = base;
    }
    return base;
  }

  private checkTimestamp(ts: number, h: SeriesHandle): void {
    if (typeof ts !== 'number' || !Number.isFinite(ts))
      throw new InvalidTimestampError(`timestamp ${String(ts)} for ${h.key} is not a finite number; pass milliseconds since the epoch, like Date.now()`);
    if (ts < MIN_TIMESTAMP)
      throw new InvalidTimestampError(
        `timestamp ${ts} for ${h.key} is before 2000-01-01${ts > 0 && ts < 1e11 ? ' (it looks like seconds)' : ''}; pass milliseconds since the epoch, like Date.now()`,
      );
    const limit = Date.now() + this.maxFutureMs;
    if (ts > limit)
      throw new InvalidTimestampError(
        `timestamp ${new Date(ts).toISOString()} for ${h.key} is more than ${formatDuration(Math.max(1, this.maxFutureMs))} in the future; check the clock, or raise maxFutureMs`,
      );
  }

  private lateWrite(h: SeriesHandle, ts: number, k: number): LateWriteError {
    const w = h.w;
    const newest = w.slab.counters().head;
    const oldest = Math.max(1, newest - w.slots + 1);
    return new LateWriteError(
      `write for ${h.key} at ${new Date(ts).toISOString()} refused: its slot in schema "${w.schema}" tier 0 already holds a newer interval; ` +
        `the ring (${w.slots} × ${formatDuration(w.intervalMs)}) reaches back to ${new Date(oldest * w.intervalMs).toISOString()} ` +
        `(write in time order, or widen the tier's retention) [k=${k}]`,
    );
  }

  private badValue(h: SeriesHandle, v: unknown): InvalidValueError {
    const what = h instanceof SeriesHandle ? h.key : 'a series';
    return new InvalidValueError(
      `value ${typeof v === 'number' ? String(v) : `of type ${typeof v}`} for ${what} is not a finite number; record finite numbers (a missing point is simply not recorded)`,
    );
  }

  // ---- consolidation ----

  /**
   * Fills the consolidated tiers from the finer ones for every bucket that has completed since
   * the last call, tier by tier. Cost is proportional to the buckets completed; the cursors live
   * in the slab headers, so a restart resumes where the last call stopped.
   */
  consolidate(options: ConsolidateOptions = {}): void {
    this.assertWritable();
    const now = options.now ?? Date.now();
    if (!Number.isFinite(now)) throw new InvalidTimestampError(`consolidate now ${String(now)} is not a finite number of ms`);
    if (now > Date.now() + this.maxFutureMs)
      throw new InvalidTimestampError(
        `consolidate now ${new Date(now).toISOString()} is ahead of the clock by more than maxFutureMs; buckets are consolidated once they have ended`,
      );
    for (const s of this.schemas) {
      const ncols = s.series.length;
      if (ncols === 0) continue;
      const tiers = s.spec.tiers;
      for (let i = 1; i < tiers.length; i++) {
        const t = tiers[i]!;
        const srcT = tiers[i - 1]!;
        const dst = s.views[i]!;
        const src = s.views[i - 1]!;
        const ratio = t.intervalMs / srcT.intervalMs;
        // Tier 1 takes buckets that have ended; coarser tiers take buckets their source has finished.
        const limit = i === 1 ? Math.floor(now / t.intervalMs) : Math.floor(src.cursor() / ratio);
        const cursor = dst.cursor();
        if (cursor >= limit && cursor !== 0) continue;
        const head = src.head();
        if (head === 0) continue;
        const srcOldest = Math.max(1, head - srcT.slots + 1);
        const from = Math.max(cursor, Math.floor(srcOldest / ratio), limit - t.slots, 1);
        if (from >= limit) continue;
        dst.slab.consolidate(src.slab, from, limit, ncols, t.xff, t.intervalMs / tiers[0]!.intervalMs);
      }
    }
  }

  // ---- read path ----

  /** Reads one series. See QueryOptions for the range, tier choice and aggregation. */
  query(h: SeriesHandle, options: QueryOptions = {}): QueryResult {
    this.assertOpen();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('query() needs a series handle of this store (from register() or find())');
    const s = this.schemaOf(h);
    return resolveQuery(s.views, h.column, h.kind, options);
  }

  /** Reads every series a Prometheus selector matches, e.g. `vcpu_exits_total{reason=~"io|mmio"}`. */
  select(selector: string, options: QueryOptions = {}): SelectResult[] {
    this.assertOpen();
    const sel = parseSelector(selector);
    const out: SelectResult[] = [];
    for (const h of this.series()) {
      if (!sel.matches(h.name, h.labels)) continue;
      const r = this.query(h, options);
      out.push({ name: h.name, labels: h.labels, kind: h.kind, ...r });
    }
    return out;
  }

  private schemaOf(h: SeriesHandle): SchemaState {
    return this.schemas.find((s) => s.spec.name === h.schema)!;
  }

  /** Schemas, tiers (with their counters), series with their last point, and totals. */
  info(): StoreInfo {
    this.assertOpen();
    const series = this.series();
    let bytes = 0;
    const schemas = this.schemas.map((s) => ({
      name: s.spec.name,
      match: s.spec.match,
      maxSeries: s.spec.maxSeries,
      seriesCount: s.series.length,
      tiers: s.spec.tiers.map((t, i): TierInfo => {
        const slab = s.slabs[i]!;
        const c = slab.counters();
        const fileBytes = slab.params().fileBytes;
        bytes += fileBytes;
        return {
          index: t.index,
          intervalMs: t.intervalMs,
          retentionMs: t.retentionMs,
          slots: t.slots,
          consolidate: t.consolidate,
          xff: t.xff,
          file: t.file,
          bytes: fileBytes,
          newest: c.head === 0 ? null : c.head * t.intervalMs,
          oldest: c.head === 0 ? null : Math.max(1, c.head - t.slots + 1) * t.intervalMs,
          lateWrites: c.lateWrites,
          rowsClaimed: c.claims,
          rowsRepaired: c.repairs,
          consolidatedUntil: i === 0 || c.cursor === 0 ? null : c.cursor * t.intervalMs,
        };
      }),
    }));
    for (const f of [STORE_FILE, SERIES_FILE]) {
      try {
        bytes += fs.statSync(path.join(this.dir, f)).size;
      } catch {
        // counted when present
      }
    }
    return {
      dir: this.dir,
      readOnly: this.readOnly,
      createdMs: this.createdMs,
      schemas,
      series: series.map((h) => {
        const last = this.lastPoint(h);
        return {
          id: h.id,
          name: h.name,
          labels: h.labels,
          key: h.key,
          kind: h.kind,
          schema: h.schema,
          lastTimestamp: last?.[0] ?? null,
          lastValue: last?.[1] ?? null,
        };
      }),
      totals: { series: series.length, bytes },
    };
  }

  /** The newest point of a series in its finest tier, or undefined. */
  lastPoint(h: SeriesHandle): [number, number] | undefined {
    this.assertOpen();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('lastPoint() needs a series handle of this store (from register() or find())');
    const s = this.schemaOf(h);
    const t = s.spec.tiers[0]!;
    const head = s.views[0]!.head();
    if (head === 0) return undefined;
    const r = queryTier(s.views[0]!, h.column, 'last', Math.max(1, head - t.slots + 1) * t.intervalMs, head * t.intervalMs);
    for (let i = r.values.length - 1; i >= 0; i--) if (!Number.isNaN(r.values[i])) return [r.timestamps[i]!, r.values[i]!];
    return undefined;
  }

  /**
   * For native code that records without JavaScript (an addon's threads, through rondo::Writer
   * in native/rondo/slab.h): the Slab object of the series' finest tier and its column.
   */
  nativeTarget(h: SeriesHandle): { slab: NativeSlab; column: number; intervalMs: number } {
    this.assertWritable();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('nativeTarget() needs a series handle of this store (from register())');
    const s = this.schemaOf(h);
    return { slab: s.slabs[0]!, column: h.column, intervalMs: s.spec.tiers[0]!.intervalMs };
  }

  // ---- export ----

  /**
   * The exporter of this name: a durable cursor over one tier of every schema, for one
   * destination. Works on read-only stores too (its cursor file is its own). One process at a
   * time holds an exporter; the store closes its exporters when it closes.
   */
  exporter(name: string, options: ExporterOptions = {}): Exporter {
    this.assertOpen();
    const open = this.exporters.get(name);
    if (open !== undefined && !open.isClosed) {
      if (options.tier !== undefined && options.tier !== open.tier)
        throw new ConfigError(`exporter "${name}" exports tier ${open.tier}, not ${options.tier}; use another exporter name for another tier`);
      return open;
    }
    const e = new Exporter(this.exportSource(), name, options);
    this.exporters.set(name, e);
    return e;
  }

  /**
   * Drains an exporter to a Prometheus remote-write receiver once and resolves with a summary.
   * Each batch is committed only after the receiver accepted it (or refused it for good with a
   * 4xx: dropped and counted); if retries run out the promise rejects with RemoteWriteError and
   * the next push starts from the first batch not accepted.
   */
  async pushTo(url: string, options: PushOptions = {}): Promise<PushSummary> {
    this.assertOpen();
    const { exporter: exporterName, tier, until, onProgress, ...clientOptions } = options;
    const client = new RemoteWriteClient({ ...clientOptions, url });
    try {
      const exporter = this.exporter(exporterName ?? exporterNameFor(url), tier === undefined ? {} : { tier });
      return await pushExporter(exporter, client, {
        ...(until === undefined ? {} : { until }),
        ...(onProgress === undefined ? {} : { onProgress }),
        recordOwn: this.exportSource().recordOwn,
      });
    } finally {
      client.close();
    }
  }

  private exportSource(): ExportSource {
    return {
      dir: this.dir,
      readOnly: this.readOnly,
      fileMode: this.fileMode,
      schemaViews: () => {
        if (this.readOnly) this.loadSeriesIndex(false);
        return this.schemas.map((s) => ({ spec: s.spec, slabs: s.slabs, series: s.series }));
      },
      recordOwn: (name, labels, kind, value, add) => {
        if (this.readOnly || this.closed) return;
        try {
          const h = this.register(name, labels, { kind });
          this.record(h, add === true ? (this.lastPoint(h)?.[1] ?? 0) + value : value);
        } catch {
          // The store's own figures never get in the way of the data (a full schema, say).
        }
      },
      lastPointOf: (id) => this.lastPoint(this.all[id]!),
      intervalOf: (id) => this.schemaOf(this.all[id]!).spec.tiers[0]!.intervalMs,
    };
  }

  // ---- lifecycle ----

  /** Writes the mapped pages to disk (msync). After it returns, a power loss costs nothing recorded before it. */
  flush(): void {
    this.assertWritable();
    for (const s of this.schemas)
      for (const slab of s.slabs) {
        try {
          slab.flush();
        } catch (e) {
          throw nativeError(e, this.dir);
        }
      }
  }

  /** Flushes and closes. The store's handles stop working; close() twice is harmless. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    for (const e of this.exporters.values()) e.close();
    for (const s of this.schemas) {
      s.writer.disable();
      for (const v of s.views) v.release();
      for (const slab of s.slabs) {
        try {
          slab.close();
        } catch (e) {
          first ??= e;
        }
      }
    }
    this.releaseAll();
    if (first !== undefined) throw nativeError(first, this.dir);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private releaseAll(): void {
    if (!this.closed) {
      // A failed open: nothing hands these out, so close what was opened.
      for (const s of this.schemas) for (const slab of s.slabs) slab.close();
      this.schemas.length = 0;
    }
    if (this.lockFd >= 0) {
      addon.unlockStore(this.lockFd);
      this.lockFd = -1;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(`store ${this.dir} is closed; open it again to use it`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new ReadOnlyError(`store ${this.dir} was opened read-only; use Store.open() in the one writing process`);
  }
}


// The loops of recordBatch()'s planned path, unrolled: V8 checks an array's shape once per pass
// through the loop body, so several elements a pass cost little more than one.

/**
 * True when values[i] is a finite number for every i < n, and (unless the array is frozen, so
 * cannot have changed) handles[i] is still snapshot[i].
 */
function sameAndFinite(handles: readonly SeriesHandle[], snapshot: readonly SeriesHandle[], frozen: boolean, values: ArrayLike<number>, n: number): boolean {
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
    const a = values[i]!;
    const b = values[i + 1]!;
    const c = values[i + 2]!;
    const d = values[i + 3]!;
    const e = values[i + 4]!;
    const f = values[i + 5]!;
    const g = values[i + 6]!;
    const h = values[i + 7]!;
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
function storeRun(f: Float64Array, base: number, cells: Int32Array, values: ArrayLike<number>, from: number, to: number): void {
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
function storeContiguous(f: Float64Array, at: number, values: ArrayLike<number>, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    f[at + i] = values[i]!;
    f[at + i + 1] = values[i + 1]!;
    f[at + i + 2] = values[i + 2]!;
    f[at + i + 3] = values[i + 3]!;
  }
  for (; i < n; i++) f[at + i] = values[i]!;
}

/** Maps an error of the addon to the store's named errors. */
function nativeError(e: unknown, file: string): Error {
  const code = nativeCode(e);
  const msg = (e as Error).message;
  if (code === 'RONDO_CORRUPT')
    return new CorruptFileError(`${msg}; the file is damaged: restore the store from a backup, or move it aside and start a new one`);
  if (code === 'RONDO_IO' && /ENOENT|No such file/.test(msg))
    return new CorruptFileError(`${file} is missing; the store is incomplete: restore it from a backup`);
  if (code === 'RONDO_IO' || (e as NodeJS.ErrnoException).syscall !== undefined)
    return new StorageError(`${msg} (check free disk space and permissions of ${path.dirname(file)})`, { cause: e });
  return e instanceof Error ? e : new Error(String(e));
}
