// The embedded store: one directory of slabs (one per schema and tier), a series index and the
// schemas. The record() fast path writes the mapped slab through a Float64Array and crosses
// into native code only to take a new row.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, format, type NativeSlab } from './native';
import { nativeError, StorageError } from '../errors';
import {
  CapacityError,
  ConfigError,
  CorruptFileError,
  InvalidSeriesError,
  InvalidTimestampError,
  InvalidValueError,
  LateWriteError,
  MigrationNeededError,
  NotAStoreError,
  ReadOnlyError,
  StoreClosedError,
} from '../errors';
import { DEFAULT_SCHEMAS, normalizeSchemas, routeSeries, type Aggregation, type SchemaOptions, type SchemaSpec } from './schema';
import { type Labels, type SeriesKind, validateSeries } from './series';
import { formatSeries, parseSelector } from '../selector';
import { formatDuration } from '../duration';
import { clampToHeld, queryTier, resolveQuery, TierView, type QueryOptions, type QueryResult } from './query';
import { Exporter, type ExporterOptions, type ExportSource } from './exporter';
import { createSlabs, STORE_VERSION, hasStoreFile, lockStoreDir, openSlabs, readStoreFile, SERIES_FILE, STORE_FILE, writeStoreFile } from './layout';
import { readSeriesIndex, seriesIndexStamp, writeSeriesIndex, type SeriesRecord } from './series-index';
import { consolidateSchema } from './consolidate';
import { defaultMigrationBackup, finishFormatMigration, migrateStore, migrationNeeded, V1_STORE_VERSION } from './migrate';
import { migrateSchemas, recoverSwitch, removeLeftovers, schemasDiffer, switchInProgress, type MigrationReport } from './schema-migrate';
import { tierInfo, type StoreInfo, type TierInfo } from './info';
import { EventLog, parseEventsSize, EVENTS_FILE, type CreateTopicOptions, type EventColumns, type EventPage, type EventQuery, type EventRecord, type EventStats, type TopicInfo } from './events';
import {
  capture,
  restoreArchives,
  verifyArchive,
  type BackupOptions,
  type BackupSource,
  type BackupSummary,
  type RestoreOptions,
  type RestoreReport,
  type VerifyReport,
} from './backup';
import { HookChain, type Hook, type HookFigures, type HookSample, type SampleSource } from '../hooks';
import { applyRollups } from './hook-rollup';
import { checkDescription, DescriptionTable, type DescribeOptions, type MetricDescription } from './descriptions';
import { BatchPlan, EMPTY, MIN_TIMESTAMP, RawWriter, SeriesHandle, sameAndFinite, storeContiguous, storeRun } from './write';

export interface StoreOptions {
  /** Schemas for a new store. On an existing store, omit them to use what is on disk. */
  schemas?: readonly SchemaOptions[];
  /** How far ahead of the clock a timestamp may be, at most one day. Default 1 minute: a write
   *  ahead of time moves the ring forward, and with it the window of what can be read. */
  maxFutureMs?: number;
  /** The clock maxFutureMs is measured from (by record() and consolidate()), ms since the epoch.
   *  Default Date.now. The agent passes its own: the wall clock plus its lead after a step back. */
  clock?: () => number;
  /** Mode of a newly created store directory. Default 0o700. */
  dirMode?: number;
  /** Mode of the files the store creates (slabs, metadata, lock, exporter cursors). Default 0o600. */
  fileMode?: number;
  /**
   * When the store exists with other schemas than `schemas`: carry its data over to them (a
   * schema migration, docs/migrations.md) instead of refusing with SchemaMismatchError. The
   * report is `store.migration`. Consolidated tiers are filled up to `clock()`.
   */
  migrate?: boolean;
  /**
   * An event ring (docs/events.md): true for one of 16 MiB, or { size } in bytes or as '64MiB'.
   * Made on the first open that asks for it (a store without one gets it added); its size is
   * then fixed. Omit it to use the ring the store has, if any.
   */
  events?: boolean | { size?: number | string };
  /**
   * A store of an older storage format is migrated by a writer's open; before it, a backup
   * archive of it is written (docs/migrations.md, "Format migrations"): true (default) to
   * `<dir>/backups/pre-migrate-v<format>-<UTC time>.rbak`, a path for another file, false
   * for none.
   */
  backupBeforeMigrate?: boolean | string;
  /**
   * Hooks (docs/hooks.md): run in order on each sample recorded into a schema they apply to
   * (record(), recordBatch(), ingest(), the agent), and their rollups in consolidate(). JavaScript
   * hooks are trusted code and run on this thread. Not for read-only stores.
   */
  hooks?: readonly Hook[];
  /** Where a hook's first fault and its disabling are told. Default console.warn. */
  hookLog?: (message: string) => void;
}

export interface MigrateStoreOptions extends Pick<StoreOptions, 'clock' | 'fileMode'> {
  /** The schemas to migrate the store to. */
  schemas: readonly SchemaOptions[];
  /** Only say what would be done: the store is not changed. */
  dryRun?: boolean;
}

/** What a writer's open did to a store of an older storage format (Store.formatMigration). */
export interface FormatMigration {
  from: number;
  to: number;
  /** The archive written before the migration, unless disabled. */
  backup: BackupSummary | undefined;
}

export interface RegisterOptions {
  /** gauge (default) or counter: a counter stores its running total; rates come at query time. */
  kind?: SeriesKind;
}

interface SchemaState {
  spec: SchemaSpec;
  slabs: NativeSlab[];
  /** The slabs as the read path and consolidation see them (heads and cursors read from the map). */
  views: TierView[];
  writer: RawWriter;
  series: SeriesHandle[];
  /** Each slab's size (fixed when it was created). */
  fileBytes: number[];
  /** Per column, 1 when its series is a counter (whose consolidated cells keep its last value). */
  kinds: Uint8Array;
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

export class Store {
  readonly dir: string;
  readonly readOnly: boolean;
  private closed = false;
  private lockFd = -1;
  private readonly schemas: SchemaState[] = [];
  private readonly byKey = new Map<string, SeriesHandle>();
  private readonly all: SeriesHandle[] = [];
  private readonly maxFutureMs: number;
  private readonly clock: () => number;
  /** The latest timestamp a write may have: the clock when last read, plus maxFutureMs. */
  private futureLimit = -Infinity;
  private readonly fileMode: number;
  private createdMs = 0;
  /** Writes to disk that failed (StorageError): info().totals.storageErrors. */
  private storageErrors = 0;
  private seriesStamp = '';
  private storeFileBytes = -1;
  private readonly exporters = new Map<string, Exporter>();
  /** What the schema migration made by this open did (Store.open with migrate: true), if it made one. */
  migration: MigrationReport | undefined;
  private readonly backupBeforeMigrate: boolean | string;
  /** What this open did to a store of an older storage format, if it migrated one. */
  formatMigration: FormatMigration | undefined;
  // recordBatch(): the handles array of the last call, and the plan made once one came twice.
  private lastBatch: readonly SeriesHandle[] | undefined;
  private batchPlan: BatchPlan | undefined;
  /** The event ring and topics, when the store has a ring. */
  private eventLog: EventLog | undefined;
  private readonly eventsSize: number | undefined;
  /** The hooks given at open (undefined: none, and no hook check anywhere but one per write). */
  private hooks: HookChain | undefined;
  /** The description table (descriptions.json), read on first use. */
  private descTable: DescriptionTable | undefined;

  /** Opens (or creates) a store for writing. Only one writer per store: others get StoreLockedError. */
  static open(dir: string, options: StoreOptions = {}): Store {
    return new Store(dir, options, false);
  }

  /** Opens a store another process may be writing, to read it. Takes no lock and never writes. */
  static openReadOnly(dir: string): Store {
    return new Store(dir, {}, true);
  }

  /**
   * Migrates the store in `dir` to other schemas (what Store.open with migrate: true does) and
   * closes it; with dryRun, only says what would be done. Returns the report.
   */
  static migrate(dir: string, options: MigrateStoreOptions): MigrationReport {
    if (typeof options !== 'object' || options === null || options.schemas === undefined)
      throw new ConfigError('Store.migrate needs options with the schemas to migrate to');
    if (typeof dir === 'string' && dir !== '' && !hasStoreFile(path.resolve(dir), true))
      throw new NotAStoreError(`${path.resolve(dir)} is not a rondo store (no ${STORE_FILE}); there is nothing to migrate`);
    const store = new Store(dir, { ...options, migrate: true }, false, options.dryRun === true);
    const report = store.migration;
    store.close();
    if (report !== undefined) return report;
    // Nothing to do: the schemas are those on disk.
    return {
      dir: store.dir,
      dryRun: options.dryRun === true,
      changes: [],
      seriesKept: store.all.length,
      seriesMoved: [],
      seriesDropped: [],
      tiers: [],
      exporters: [],
      copied: [],
    };
  }

  private constructor(dir: string, options: StoreOptions, readOnly: boolean, dryRun = false) {
    if (typeof dir !== 'string' || dir === '') throw new ConfigError('store directory must be a non-empty path string');
    if (typeof options !== 'object' || options === null) throw new ConfigError('store options must be an object');
    this.dir = path.resolve(dir);
    this.readOnly = readOnly;
    this.maxFutureMs = options.maxFutureMs ?? 60_000;
    if (typeof this.maxFutureMs !== 'number' || !(this.maxFutureMs >= 0 && this.maxFutureMs <= 86_400_000))
      throw new ConfigError(`maxFutureMs ${String(options.maxFutureMs)} must be a number of ms from 0 to 86400000 (one day)`);
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new ConfigError('clock must be a function returning ms since the epoch, like Date.now');
    this.clock = options.clock ?? Date.now;
    this.fileMode = options.fileMode ?? 0o600;
    this.backupBeforeMigrate = options.backupBeforeMigrate ?? true;
    if (typeof this.backupBeforeMigrate !== 'boolean' && (typeof this.backupBeforeMigrate !== 'string' || this.backupBeforeMigrate === ''))
      throw new ConfigError('backupBeforeMigrate must be true, false or the path of the archive to write');
    if (!Number.isInteger(this.fileMode) || this.fileMode < 0 || this.fileMode > 0o777)
      throw new ConfigError(`fileMode ${String(options.fileMode)} must be a permission mode such as 0o600`);
    const given = options.schemas === undefined ? undefined : normalizeSchemas(options.schemas);
    this.eventsSize = parseEventsSize(options.events);
    const hooks = options.hooks === undefined || options.hooks.length === 0 ? undefined : new HookChain(options.hooks, options.hookLog === undefined ? {} : { log: options.hookLog });
    if (hooks !== undefined && readOnly) throw new ConfigError('hooks are for a store opened for writing');
    try {
      if (readOnly) this.openExisting(undefined);
      else this.openForWriting(given, options.dirMode ?? 0o700, options.migrate === true, dryRun);
      if (!dryRun && (this.eventsSize !== undefined || EventLog.exists(this.dir)))
        this.eventLog = EventLog.open(this.dir, { size: this.eventsSize, readOnly, createdMs: this.createdMs, fileMode: this.fileMode });
    } catch (e) {
      this.releaseAll();
      throw e;
    }
    if (hooks !== undefined) {
      this.hooks = hooks;
      for (const s of this.schemas) s.writer.hooked = hooks.samplesFor(s.spec.name);
    }
  }

  // ---- hooks ----

  /** True when the store has a hook with onSample for some schema (the KVM collector's native capture then falls back to the tick). */
  get hasSampleHooks(): boolean {
    return this.hooks?.hasSampleHooks === true;
  }

  /** Each hook's figures (rondo_hook_errors_total{hook}, disabled and why), in order; [] without hooks. */
  hookFigures(): HookFigures[] {
    return this.hooks?.figures() ?? [];
  }

  /**
   * Runs the store's hooks over a sample of a series that may not be registered yet (the
   * schema its name and labels route to decides which hooks apply): the sample to record, or
   * null when a hook dropped it. For ingest() and the agent, which register what the hooks give.
   * `schemaOf`: the series' handle, when the caller has it (saves looking the series up).
   */
  applyHooks(sample: HookSample, schemaOf?: SeriesHandle): HookSample | null {
    const chain = this.hooks;
    if (chain === undefined) return sample;
    let schema: string | undefined;
    // The caller may know the series already (a handle of this store): its schema, no lookup.
    const h = schemaOf instanceof SeriesHandle && schemaOf.owner === this ? schemaOf : this.byKey.get(formatSeries(sample.name, sample.labels));
    if (h !== undefined) schema = h.schema;
    else {
      try {
        schema = routeSeries(
          this.schemas.map((x) => x.spec),
          sample.name,
          sample.labels,
        )?.name;
      } catch {
        schema = undefined;
      }
    }
    // run() gives the sample back as it is when no hook applies to the schema.
    return schema === undefined ? sample : chain.run(sample, schema);
  }

  /**
   * Records without running the hooks (they ran already: ingest(), the agent). Otherwise as
   * record().
   */
  recordUnhooked(h: SeriesHandle, value: number, ts: number): void {
    if (h instanceof SeriesHandle && h.w.hooked) this.writeOne(h, value, ts);
    else this.record(h, value, ts);
  }

  /** record() of a series whose schema has hooks: run them, then write what they gave where it goes. */
  private recordHooked(h: SeriesHandle, value: number, ts: number, source: SampleSource): void {
    if (typeof value !== 'number' || value - value !== 0) throw this.badValue(h, value);
    this.assertWritable();
    const r = this.hooks!.run({ name: h.name, labels: h.labels, value, timestamp: ts, kind: h.kind, source }, h.schema);
    if (r === null) return;
    const t = r.name === h.name && r.labels === h.labels ? h : this.register(r.name, r.labels, { kind: h.kind });
    this.writeOne(t, r.value, r.timestamp);
  }

  /** recordBatch() when some of its series' schemas have hooks: each sample through them; the
   *  ones kept where they were still go down as one batch (all or nothing), the moved ones after. */
  private recordBatchHooked(ts: number, handles: readonly SeriesHandle[], values: ArrayLike<number>): void {
    const n = handles.length;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const h = handles[i]!;
      if (typeof v !== 'number' || v - v !== 0) throw this.badValue(h, v);
      if (!(h instanceof SeriesHandle) || h.owner !== this) this.rowFor(h, ts);
    }
    this.assertWritable();
    const keptH: SeriesHandle[] = [];
    const keptV: number[] = [];
    const moved: Array<[SeriesHandle, number, number]> = [];
    for (let i = 0; i < n; i++) {
      const h = handles[i]!;
      const v = values[i]!;
      if (!h.w.hooked) {
        keptH.push(h);
        keptV.push(v);
        continue;
      }
      const r = this.hooks!.run({ name: h.name, labels: h.labels, value: v, timestamp: ts, kind: h.kind, source: 'record' }, h.schema);
      if (r === null) continue;
      if (r.name === h.name && r.labels === h.labels && r.timestamp === ts && typeof r.value === 'number' && r.value - r.value === 0) {
        keptH.push(h);
        keptV.push(r.value);
      } else moved.push([r.name === h.name && r.labels === h.labels ? h : this.register(r.name, r.labels, { kind: h.kind }), r.value, r.timestamp]);
    }
    if (keptH.length > 0) this.recordBatchChecked(ts, keptH, keptV);
    for (const [h, v, t] of moved) this.writeOne(h, v, t);
  }

  private openForWriting(given: SchemaSpec[] | undefined, dirMode: number, migrate: boolean, dryRun: boolean): void {
    // A schema migration's switch cut off between its renames is finished first (the directory
    // is then missing), and what one left beside the store is removed once the lock is held.
    recoverSwitch(this.dir, this.fileMode);
    this.lockFd = lockStoreDir(this.dir, dirMode, this.fileMode);
    removeLeftovers(this.dir);
    // A format migration cut off part-way is finished (or forgotten) before anything is read.
    finishFormatMigration(this.dir);
    if (!hasStoreFile(this.dir)) {
      if (dryRun) throw new NotAStoreError(`${this.dir} is not a rondo store (no ${STORE_FILE}); there is nothing to migrate`);
      this.create(given ?? normalizeSchemas(DEFAULT_SCHEMAS));
      return;
    }
    if (migrate && given !== undefined) {
      let onDisk = readStoreFile(this.dir, undefined);
      if (onDisk.version === V1_STORE_VERSION && schemasDiffer(given, onDisk.schemas, this.dir)) {
        // Format 1 first (to the schemas on disk), then the schemas.
        if (dryRun) throw new MigrationNeededError(`${migrationNeeded(this.dir).message}; then migrate its schemas`);
        const backup = migrateStore(this.dir, onDisk.createdMs, onDisk.schemas, this.fileMode, this.migrationBackup(V1_STORE_VERSION));
        this.formatMigration = { from: V1_STORE_VERSION, to: format.formatVersion, backup };
        onDisk = readStoreFile(this.dir, undefined);
      }
      if (onDisk.version !== V1_STORE_VERSION && schemasDiffer(given, onDisk.schemas, this.dir)) {
        const { report, lockFd } = migrateSchemas(this.dir, given, { fileMode: this.fileMode, now: this.clock(), dryRun });
        this.migration = report;
        if (lockFd !== undefined) {
          // The lock held was the old store's (removed): the new one's is held since it was built.
          addon.unlockStore(this.lockFd);
          this.lockFd = lockFd;
        }
        if (dryRun) given = undefined;
      }
    }
    this.openExisting(given);
  }

  // A new store: slabs first, then the series index, and the store file last, so a crash
  // part-way leaves a directory that the next open recreates rather than half a store.
  private create(specs: SchemaSpec[]): void {
    this.createdMs = Date.now();
    try {
      for (const spec of specs) this.addSchema(spec, createSlabs(this.dir, spec, this.createdMs, this.fileMode));
      this.writeSeriesIndex();
      writeStoreFile(this.dir, this.createdMs, specs, this.fileMode);
    } catch (e) {
      // A disk too small or full: remove what this attempt made, so it holds no space and the
      // directory is no half a store (this was a new store: none of these files was there before).
      const files = [STORE_FILE, SERIES_FILE, ...specs.flatMap((s) => s.tiers.map((t) => t.file))];
      for (const f of files) {
        try {
          fs.rmSync(path.join(this.dir, f), { force: true });
        } catch {
          // a file system that refuses even this (read-only): the next open recreates them
        }
      }
      throw e;
    }
  }

  private openExisting(given: SchemaSpec[] | undefined): void {
    if (this.readOnly) {
      const e = switchInProgress(this.dir);
      if (e !== undefined) throw e;
    }
    const { createdMs, schemas, version } = readStoreFile(this.dir, given);
    if (version === V1_STORE_VERSION) {
      if (this.readOnly) throw migrationNeeded(this.dir);
      const backup = migrateStore(this.dir, createdMs, schemas, this.fileMode, this.migrationBackup(version));
      this.formatMigration = { from: version, to: format.formatVersion, backup };
    } else if (version < STORE_VERSION && !this.readOnly) {
      // Format 2 to 3: the slabs are the same; format 3 adds the event ring and topics files,
      // which an older rondo would not know, so the store file says the store may have them.
      writeStoreFile(this.dir, createdMs, schemas, this.fileMode);
    }
    this.createdMs = createdMs;
    for (const spec of schemas) this.addSchema(spec, openSlabs(this.dir, spec, this.readOnly));
    this.loadSeriesIndex(true);
  }

  /** Where the archive written before a format migration goes (backupBeforeMigrate), or false. */
  private migrationBackup(version: number): string | false {
    const b = this.backupBeforeMigrate;
    return b === false ? false : b === true ? defaultMigrationBackup(this.dir, version) : path.resolve(b);
  }

  private addSchema(spec: SchemaSpec, slabs: NativeSlab[]): void {
    const writer = new RawWriter(slabs[0]!, spec.tiers[0]!, spec.name, !this.readOnly);
    const views = spec.tiers.map((t, i) => new TierView(t, slabs[i]!, !this.readOnly));
    this.schemas.push({ spec, slabs, views, writer, series: [], fileBytes: slabs.map((x) => x.params().fileBytes), kinds: new Uint8Array(spec.maxSeries) });
  }

  // ---- series index ----

  private loadSeriesIndex(initial: boolean): void {
    const file = path.join(this.dir, SERIES_FILE);
    const stamp = seriesIndexStamp(file);
    if (stamp === undefined) {
      if (initial) throw new CorruptFileError(`${file} is missing; the store is incomplete: restore it from a backup`);
      return;
    }
    if (stamp === this.seriesStamp) return;
    const specs = this.schemas.map((s) => s.spec);
    for (const r of readSeriesIndex(file, this.all.length, specs, (spec) => this.stateOf(spec).series.length))
      this.adopt(r.name, r.labels, r.kind, this.stateOf(r.spec));
    this.seriesStamp = stamp;
  }

  private stateOf(spec: SchemaSpec): SchemaState {
    return this.schemas.find((s) => s.spec === spec) as SchemaState;
  }

  private adopt(name: string, labels: Record<string, string>, kind: SeriesKind, schema: SchemaState): SeriesHandle {
    const h = new SeriesHandle(this.all.length, name, Object.freeze(labels), kind, schema.spec.name, schema.series.length, schema.writer, this);
    schema.kinds[h.column] = kind === 'counter' ? 1 : 0;
    schema.series.push(h);
    this.all.push(h);
    this.byKey.set(formatSeries(name, labels), h);
    return h;
  }

  private writeSeriesIndex(): void {
    const series: SeriesRecord[] = this.all.map((h) => ({
      name: h.name,
      labels: { ...h.labels },
      kind: h.kind,
      schema: h.schema,
      column: h.column,
    }));
    this.seriesStamp = writeSeriesIndex(path.join(this.dir, SERIES_FILE), series, this.fileMode);
  }

  /**
   * The handle of a series, creating it on first use. Idempotent: the same name and labels give
   * the same series, across reopen. The series goes to the first schema whose `match` it fits.
   */
  register(name: string, labels: Labels = {}, options: RegisterOptions = {}): SeriesHandle {
    const [r] = this.registerMany([{ name, labels, kind: options?.kind ?? 'gauge' }]);
    if (r instanceof Error) throw r;
    return r as SeriesHandle;
  }

  /**
   * register() for many series at once, with one write of the series index (one fsync) for all
   * the new ones: what a receiver of many new series at a time (a remote-write request) wants.
   * Gives, in order, each entry's handle or the error register() would have thrown for it
   * (InvalidSeriesError, CapacityError); the others are registered. A failure to write the
   * index registers none of them and is thrown.
   */
  registerMany(entries: ReadonlyArray<{ name: string; labels?: Labels; kind?: SeriesKind }>): Array<SeriesHandle | InvalidSeriesError | CapacityError> {
    this.assertWritable();
    const out: Array<SeriesHandle | InvalidSeriesError | CapacityError> = [];
    const added: Array<{ schema: SchemaState; key: string }> = [];
    const specs = this.schemas.map((x) => x.spec);
    for (const e of entries) {
      try {
        const name = e?.name;
        const clean = validateSeries(name, e?.labels ?? {});
        const kind = e?.kind ?? 'gauge';
        if (kind !== 'gauge' && kind !== 'counter')
          throw new InvalidSeriesError(`kind ${JSON.stringify(kind)} of ${name} is not valid; use 'gauge' or 'counter'`);
        const key = formatSeries(name as string, clean);
        const existing = this.byKey.get(key);
        if (existing !== undefined) {
          if (existing.kind !== kind)
            throw new InvalidSeriesError(`${key} is registered as a ${existing.kind}; register it with kind: '${existing.kind}', or use another name`);
          out.push(existing);
          continue;
        }
        const spec = routeSeries(specs, name, clean);
        if (spec === undefined)
          throw new InvalidSeriesError(`${key} matches no schema of store ${this.dir}; add a schema with match: {} as the last one to catch every series`);
        const schema = this.stateOf(spec);
        if (schema.series.length >= spec.maxSeries)
          throw new CapacityError(
            `schema "${spec.name}" is full (maxSeries ${spec.maxSeries}) and cannot take ${key}; create the store with a larger maxSeries or route these series to another schema`,
          );
        out.push(this.adopt(name, clean, kind, schema));
        added.push({ schema, key });
      } catch (err) {
        if (!(err instanceof InvalidSeriesError || err instanceof CapacityError)) throw err;
        out.push(err);
      }
    }
    if (added.length === 0) return out;
    try {
      this.writeSeriesIndex();
    } catch (e) {
      // Not on disk means not registered: undo, so a retry starts clean.
      if (e instanceof StorageError) this.storageErrors++;
      for (let i = added.length - 1; i >= 0; i--) {
        const a = added[i] as { schema: SchemaState; key: string };
        a.schema.series.pop();
        this.all.pop();
        this.byKey.delete(a.key);
      }
      throw e;
    }
    return out;
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

  // ---- descriptions ----

  /**
   * describe(name, { help?, unit? }): sets what a metric name measures and its unit, kept in the
   * store directory (descriptions.json, replaced atomically) so every process that opens the
   * store sees it (rondo serve's and an agent's /metrics, rondo push's metadata). Replaces the
   * name's description; neither help nor unit removes it. Writes nothing when unchanged.
   * Writer only. describe(name): the name's description (with the kind of its series), or
   * undefined when it has neither a description nor a series.
   * @throws InvalidSeriesError (not a metric name, help too long, not a unit), CapacityError
   * (65536 names described), ReadOnlyError, StorageError, CorruptFileError (a damaged file)
   */
  describe(name: string): MetricDescription | undefined;
  describe(name: string, description: DescribeOptions): void;
  describe(name: string, description?: DescribeOptions): MetricDescription | undefined | void {
    if (arguments.length < 2) {
      this.assertOpen();
      const t = this.descriptionTable();
      const d = typeof name === 'string' ? t.get(name) : undefined;
      const kind = typeof name === 'string' ? this.kindOf(name) : undefined;
      if (d === undefined && kind === undefined) return undefined;
      return { ...d, ...(kind === undefined ? {} : { kind }) };
    }
    this.assertWritable();
    const clean = checkDescription(name, description);
    this.descriptionTable().set(name, clean);
  }

  /**
   * describe(name, description) for many names, with one write of descriptions.json for all the
   * changes: gives, in order, each entry's error (InvalidSeriesError, CapacityError) or
   * undefined; the others are described. A failed write (StorageError) describes none and is thrown.
   */
  describeMany(entries: Iterable<readonly [string, DescribeOptions]>): Array<InvalidSeriesError | CapacityError | undefined> {
    this.assertWritable();
    const out: Array<InvalidSeriesError | CapacityError | undefined> = [];
    const ok: Array<[string, { help?: string; unit?: string }]> = [];
    const at: number[] = [];
    for (const [name, d] of entries) {
      try {
        ok.push([name, checkDescription(name, d)]);
        at.push(out.length);
        out.push(undefined);
      } catch (e) {
        if (!(e instanceof InvalidSeriesError)) throw e;
        out.push(e);
      }
    }
    this.descriptionTable()
      .setMany(ok)
      .forEach((e, i) => {
        if (e !== undefined) out[at[i]!] = e;
      });
    return out;
  }

  /**
   * Every metric name that has a description or a series, with its help, unit and kind (each
   * when known), sorted by name. A read-only store rereads the file when its writer changed it.
   */
  descriptions(): Map<string, MetricDescription> {
    this.assertOpen();
    const t = this.descriptionTable();
    const kinds = new Map<string, SeriesKind>();
    for (const h of this.series()) if (!kinds.has(h.name)) kinds.set(h.name, h.kind);
    const names = new Set<string>(kinds.keys());
    for (const [n] of t.entries()) names.add(n);
    const out = new Map<string, MetricDescription>();
    for (const n of [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const kind = kinds.get(n);
      out.set(n, { ...t.get(n), ...(kind === undefined ? {} : { kind }) });
    }
    return out;
  }

  private descriptionTable(): DescriptionTable {
    if (this.descTable === undefined) this.descTable = new DescriptionTable(this.dir, this.fileMode);
    else if (this.readOnly) this.descTable.reload();
    return this.descTable;
  }

  private kindOf(name: string): SeriesKind | undefined {
    for (const h of this.series()) if (h.name === name) return h.kind;
    return undefined;
  }

  // ---- write path ----

  /**
   * Records a value at a time (ms since the epoch, default now). In steady state this is a load
   * of the current row's stamp, a compare of ts with the interval it names, a store into the
   * mapped slab and the stamp once more: no call into native code.
   */
  record(h: SeriesHandle, value: number, ts: number = Date.now()): void {
    if (h !== undefined && h !== null && typeof ts === 'number' && typeof value === 'number') {
      const w = h.w;
      if (w !== undefined && w.hooked === false) {
        // The row this schema wrote last: its stamp says which interval it holds, and ts is in
        // that interval when ts - stamp * interval is in [0, interval). A row taken meanwhile for
        // another lap (or a writer disabled: no rows, the stamp undefined) does not match.
        const f = w.f64;
        const base = w.curBase;
        const stamp = f[base]!;
        const d = ts - stamp * w.intervalMs;
        if (d >= 0 && d < w.intervalMs && value - value === 0) {
          f[base + h.cell] = value;
          // The stamp once more: a row taken for a newer lap meanwhile must not keep this value.
          if (f[base] === stamp) return;
          throw this.retract(h, base, stamp, value, ts);
        }
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
    if (this.hooks !== undefined && handles.some((h) => h instanceof SeriesHandle && h.w.hooked)) return this.recordBatchHooked(ts, handles, values);
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
      const v = values[i];
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
    throw errors[0];
  }

  /** Takes back a value stored into a row a newer lap took meanwhile; the write counts as late. */
  private retract(h: SeriesHandle, base: number, k: number, value: number, ts: number): LateWriteError {
    const f = h.w.f64;
    if (f[base + h.cell] === value) f[base + h.cell] = NaN;
    h.w.countLate();
    return this.lateWrite(h, ts, k);
  }

  private recordSlow(h: SeriesHandle, value: number, ts: number): void {
    if (h instanceof SeriesHandle && h.w.hooked && h.owner === this) return this.recordHooked(h, value, ts, 'record');
    this.writeOne(h, value, ts);
  }

  /** The slow path's write, hooks or not. */
  private writeOne(h: SeriesHandle, value: number, ts: number): void {
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
      w.countLate();
      throw this.lateWrite(h, ts, k);
    }
    if (stamp !== k) {
      if (stamp > k || w.claim(k) !== 0) {
        if (stamp > k) w.countLate();
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
    // The clock is read only when ts passes the limit it gave last time: a new row costs no
    // clock read. (A clock set back meanwhile lets ts run ahead of it by as much, until then.)
    if (ts > this.futureLimit) this.futureLimit = this.clock() + this.maxFutureMs;
    if (ts > this.futureLimit)
      throw new InvalidTimestampError(
        `timestamp ${new Date(ts).toISOString()} for ${h.key} is more than ${formatDuration(Math.max(1, this.maxFutureMs))} in the future; check the clock, or raise maxFutureMs`,
      );
  }

  private lateWrite(h: SeriesHandle, ts: number, k: number): LateWriteError {
    const w = h.w;
    // (A slab found cut short throws here: CorruptFileError, not a late write.)
    const newest = this.mapped(() => w.slab.counters().head);
    const oldest = Math.max(1, newest - w.slots + 1);
    const e = new LateWriteError(
      `write for ${h.key} at ${new Date(ts).toISOString()} refused: its slot in schema "${w.schema}" tier 0 already holds a newer interval; ` +
        `the ring (${w.slots} × ${formatDuration(w.intervalMs)}) reaches back to ${new Date(oldest * w.intervalMs).toISOString()} ` +
        `(write in time order, or widen the tier's retention) [k=${k}]`,
    );
    e.oldestMs = oldest * w.intervalMs;
    return e;
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
    if (now > this.clock() + this.maxFutureMs)
      throw new InvalidTimestampError(
        `consolidate now ${new Date(now).toISOString()} is ahead of the clock by more than maxFutureMs; buckets are consolidated once they have ended`,
      );
    this.mapped(() => {
      for (const s of this.schemas) {
        // A slab found cut short refuses: the addon's counters() throws, made CorruptFileError.
        for (const v of s.views) if (!v.intact()) v.slab.counters();
        const rolled = this.hooks !== undefined && this.hooks.hasRollups(s.spec.name);
        const before = rolled ? s.views.map((v) => v.cursor()) : undefined;
        consolidateSchema(s.spec, s.views, s.series.length, s.kinds, now);
        if (before !== undefined) {
          // The buckets just filled, per tier: from the cursor before (or the oldest the ring
          // holds, on a first consolidation) to the cursor now.
          const after = s.views.map((v) => v.cursor());
          const from = before.map((b, i) => (b === 0 ? Math.max(1, (after[i] as number) - (s.spec.tiers[i]?.slots ?? 0)) : b));
          applyRollups(s.spec, s.slabs, s.series.map((x) => ({ key: x.key, column: x.column, kind: x.kind })), this.hooks!, from, after);
        }
      }
    });
  }

  /** Runs f, turning the addon's coded errors into named ones (a slab cut short: CorruptFileError). */
  private mapped<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw nativeError(e, this.dir);
    }
  }

  // ---- read path ----

  /** Reads one series. See QueryOptions for the range, tier choice and aggregation. */
  query(h: SeriesHandle, options: QueryOptions = {}): QueryResult {
    this.assertOpen();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('query() needs a series handle of this store (from register() or find())');
    return this.read(h, clampToHeld(options, [this.schemaOf(h).views]));
  }

  /** One series over a range already cut to what the store holds (clampToHeld). */
  private read(h: SeriesHandle, options: QueryOptions): QueryResult {
    return this.mapped(() => resolveQuery(this.schemaOf(h).views, h.column, h.kind, options, h.key, h.schema));
  }

  /** Reads every series a Prometheus selector matches, e.g. `vcpu_exits_total{reason=~"io|mmio"}`. */
  select(selector: string, options: QueryOptions = {}): SelectResult[] {
    this.assertOpen();
    const sel = parseSelector(selector);
    const out: SelectResult[] = [];
    const window = clampToHeld(options, this.schemas.map((s) => s.views));
    for (const h of this.series()) {
      if (!sel.matches(h.name, h.labels)) continue;
      const r = this.read(h, window);
      out.push({ name: h.name, labels: h.labels, kind: h.kind, ...r });
    }
    return out;
  }

  private schemaOf(h: SeriesHandle): SchemaState {
    return this.schemas.find((s) => s.spec.name === h.schema)!;
  }

  /** Schemas, tiers (with their counters), series with their last point, and totals. `{ series: false }`
   *  leaves the series out (an empty list): the schemas and tiers alone cost a few native calls. */
  info(options: { series?: boolean } = {}): StoreInfo {
    this.assertOpen();
    const series = options.series === false ? [] : this.series();
    let bytes = 0;
    const schemas = this.schemas.map((s) => ({
      name: s.spec.name,
      match: s.spec.match,
      maxSeries: s.spec.maxSeries,
      seriesCount: s.series.length,
      tiers: s.spec.tiers.map((t, i): TierInfo => {
        const info = this.mapped(() => tierInfo(t, s.slabs[i] as NativeSlab, s.fileBytes[i] as number));
        bytes += info.bytes;
        return info;
      }),
    }));
    bytes += this.metaFileBytes();
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
      totals: { series: options.series === false ? this.all.length : series.length, bytes, storageErrors: this.storageErrors },
    };
  }

  /** The store file's size (read once; it never changes) and the series index's (from its stamp). */
  private metaFileBytes(): number {
    if (this.storeFileBytes < 0) {
      try {
        this.storeFileBytes = fs.statSync(path.join(this.dir, STORE_FILE)).size;
      } catch {
        this.storeFileBytes = 0;
      }
    }
    const size = Number(this.seriesStamp.split(':')[1]);
    return this.storeFileBytes + (Number.isFinite(size) ? size : 0);
  }

  /** The newest point of a series in its finest tier, or undefined. */
  lastPoint(h: SeriesHandle): [number, number] | undefined {
    this.assertOpen();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('lastPoint() needs a series handle of this store (from register() or find())');
    const s = this.schemaOf(h);
    const t = s.spec.tiers[0]!;
    const view = s.views[0]!;
    const head = this.mapped(() => view.head());
    if (head === 0) return undefined;
    const oldest = Math.max(1, head - t.slots + 1);
    // Back from the head in growing windows: a series written this interval costs 16 rows, not the ring.
    for (let hi = head, span = 16; hi >= oldest; hi -= span, span *= 16) {
      const lo = Math.max(oldest, hi - span + 1);
      const r = this.mapped(() => queryTier(view, h.column, 'last', lo * t.intervalMs, hi * t.intervalMs));
      for (let i = r.values.length - 1; i >= 0; i--) if (!Number.isNaN(r.values[i])) return [r.timestamps[i]!, r.values[i]!];
    }
    return undefined;
  }

  /**
   * For native code in another addon (a VMM's vCPU threads, say) that records without
   * JavaScript, through rondo::Writer (native/rondo/slab.h) on the same file: the slab file of
   * the series' finest tier, its column there, and the tier's interval. That code maps the file
   * itself (rondo::Slab::Open with OpenMode::kAttach) while this store has it open; mappings of
   * one file in one process are coherent, so what it records, this store reads. An ObjectWrap
   * of this store's addon means nothing to another addon, hence a path, not an object.
   */
  nativeTarget(h: SeriesHandle): { file: string; column: number; intervalMs: number } {
    this.assertWritable();
    if (!(h instanceof SeriesHandle) || h.owner !== this)
      throw new InvalidSeriesError('nativeTarget() needs a series handle of this store (from register())');
    const t = this.schemaOf(h).spec.tiers[0]!;
    return { file: path.join(this.dir, t.file), column: h.column, intervalMs: t.intervalMs };
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

  private exportSource(): ExportSource {
    return {
      dir: this.dir,
      readOnly: this.readOnly,
      fileMode: this.fileMode,
      schemaViews: () => {
        if (this.readOnly) this.loadSeriesIndex(false);
        return this.schemas.map((s) => ({ spec: s.spec, slabs: s.slabs, series: s.series, kinds: s.kinds }));
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

  // ---- events (docs/events.md) ----

  private events_(): EventLog {
    this.assertOpen();
    if (this.eventLog === undefined)
      throw new ConfigError(`store ${this.dir} has no event ring; open it for writing with events: { size: '64MiB' } (or events: true) to add one`);
    return this.eventLog;
  }

  /** True when the store has an event ring. */
  get hasEvents(): boolean {
    return this.eventLog !== undefined;
  }

  /**
   * Creates a topic with a schema in fossil's syntax (default: its parent's, else string);
   * idempotent for the same schema. Numeric topics may also be recorded as a series.
   */
  createTopic(topic: string, schema?: string, options: CreateTopicOptions = {}): TopicInfo {
    this.assertWritable();
    return this.events_().create(topic, schema, options).info;
  }

  /** Every topic with its id and schema, in creation order. */
  topics(): readonly TopicInfo[] {
    return this.events_().list();
  }

  /**
   * Appends a datum to a topic (created on first use with its parent's schema, else string).
   * A datum that does not conform to the topic's schema goes to /nonconformant. tsNs: ns since
   * the epoch (default now). Returns the topic the datum went to.
   */
  append(topic: string, data: unknown, tsNs?: bigint): string {
    this.assertWritable();
    const log = this.events_();
    if (tsNs !== undefined && typeof tsNs !== 'bigint') throw new InvalidTimestampError(`tsNs ${String(tsNs)} must be a bigint of ns since the epoch`);
    try {
      return log.append(topic, data, tsNs, this.topicSeries).info.name;
    } catch (e) {
      throw nativeError(e, path.join(this.dir, EVENTS_FILE));
    }
  }

  /** recordTopicSeries as append() hands it on (made once, not a closure a call). */
  private readonly topicSeries = (t: { info: TopicInfo; seriesHandle?: unknown }, v: number, tsNs: bigint | undefined): void => this.recordTopicSeries(t, v, tsNs);

  private recordTopicSeries(t: { info: TopicInfo; seriesHandle?: unknown }, v: number, tsNs: bigint | undefined): void {
    const s = t.info.series!;
    let h = t.seriesHandle as SeriesHandle | undefined;
    if (h === undefined) {
      h = this.register(s.name, s.labels);
      t.seriesHandle = h;
    }
    try {
      this.record(h, v, tsNs === undefined ? Date.now() : Number(tsNs / 1_000_000n));
    } catch (e) {
      // The event is kept; a point the ring of numbers refuses (late, out of range) is not.
      if (!(e instanceof LateWriteError || e instanceof InvalidTimestampError || e instanceof InvalidValueError)) throw e;
    }
  }

  /** Events, oldest first: { topic (with its sub-topics unless subtopics: false), start, end, limit, after }. */
  events(query: EventQuery = {}): EventRecord[] {
    return this.events_().read(query).records;
  }

  /** events() as columns, with no object per record: what a query over many records reads. */
  eventColumns(query: EventQuery = {}): EventColumns {
    return this.events_().readColumns(query);
  }

  /** events() with the position to continue from (for following a ring). */
  eventPage(query: EventQuery = {}): EventPage {
    return this.events_().read(query);
  }

  /** The ring's counts and bytes, and its oldest and newest record's time. */
  eventStats(): EventStats {
    return this.events_().stats();
  }

  // ---- backup ----

  /**
   * Writes a backup archive of the store to `file` (docs/backup-format.md) while writers keep
   * recording: every row read whole (the seqlock), the series, schemas and other metadata files
   * taken at one instant, which the archive states (`asOfMs`). `since`: an archive of this store,
   * to write only what is newer than its instant (an incremental). Works on read-only stores.
   * The instant is taken when this is called; the rows are read a span at a time, letting the
   * event loop run between spans (the JavaScript thread keeps recording meanwhile).
   */
  backup(file: string, options: BackupOptions = {}): Promise<BackupSummary> {
    return new Promise((resolve, reject) => {
      let gen: Generator<void, BackupSummary>;
      const step = (): void => {
        try {
          const r = gen.next();
          if (r.done) resolve(r.value);
          else setImmediate(step);
        } catch (e) {
          reject(e);
        }
      };
      try {
        this.assertOpen();
        gen = capture(this.backupSource(), file, options);
      } catch (e) {
        reject(e);
        return;
      }
      step();
    });
  }

  /** backup(), in one go: nothing else runs on this thread until the archive is written. */
  backupSync(file: string, options: BackupOptions = {}): BackupSummary {
    this.assertOpen();
    const gen = capture(this.backupSource(), file, options);
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Rebuilds a store in `dir` (new, or an empty directory) from a full archive and, after it,
   * the incrementals made --since it, in order. Every intact chunk is restored; damaged or
   * missing ones are listed in the report's `damaged` (not thrown). Unreadable archives, or
   * archives out of order, throw.
   */
  static restore(files: string | readonly string[], dir: string, options: RestoreOptions = {}): RestoreReport {
    return restoreArchives(
      typeof files === 'string' ? [files] : files,
      dir,
      options,
      (d, schemas, dirMode, fileMode) => {
        const s = Store.open(d, { schemas, dirMode, fileMode });
        return {
          register: (series) =>
            s.registerMany(series.map((r) => ({ name: r.name, labels: r.labels, kind: r.kind }))).map((g, i) => {
              if (g instanceof Error) throw new CorruptFileError(`restore: series ${i} of the archive cannot be registered: ${g.message}`);
              return { schema: g.schema, column: g.column };
            }),
          close: () => s.close(),
        };
      },
      (d) => Store.openReadOnly(d).close(),
    );
  }

  /** Checks an archive without restoring it: every chunk read, decoded and checked. */
  static verifyBackup(file: string): VerifyReport {
    return verifyArchive(file);
  }

  private backupSource(): BackupSource {
    return {
      dir: this.dir,
      createdMs: this.createdMs,
      isClosed: () => this.closed,
      snapshot: () => {
        if (this.readOnly) this.loadSeriesIndex(false);
        return {
          schemas: this.schemas.map((s) => ({ spec: s.spec, slabs: s.slabs })),
          series: this.all.map((h) => ({ name: h.name, labels: { ...h.labels }, kind: h.kind, schema: h.schema, column: h.column })),
        };
      },
      mapped: (f) => this.mapped(f),
      events: () => this.eventLog?.ring,
    };
  }

  // ---- lifecycle ----

  /** Writes the mapped pages to disk (msync). After it returns, a power loss costs nothing recorded before it. */
  flush(): void {
    this.assertWritable();
    if (this.eventLog !== undefined) {
      try {
        this.eventLog.ring.flush();
      } catch (e) {
        throw nativeError(e, path.join(this.dir, EVENTS_FILE));
      }
    }
    for (const s of this.schemas)
      for (const slab of s.slabs) {
        try {
          slab.flush();
        } catch (e) {
          const err = nativeError(e, this.dir);
          if (err instanceof StorageError) {
            this.storageErrors++;
            // msync failed: the kernel may have dropped the dirty pages' error state, and a later
            // flush that succeeds does not prove these were written (docs/reliability.md).
            err.message = `flush of ${this.dir} failed: ${err.message}; points recorded before this flush may not be on disk even if a later flush succeeds`;
          }
          throw err;
        }
      }
  }

  /** Flushes and closes. The store's handles stop working; close() twice is harmless. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    this.hooks?.close();
    for (const e of this.exporters.values()) e.close();
    if (this.eventLog !== undefined) {
      try {
        this.eventLog.close();
      } catch (e) {
        first ??= e;
      }
      this.eventLog = undefined;
    }
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
      this.eventLog?.close();
      this.eventLog = undefined;
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
