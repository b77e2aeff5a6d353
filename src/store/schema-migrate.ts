// Schema migration: a store's data carried over to other schemas (docs/migrations.md; the
// switch protocol in docs/storage-format.md, "Schema migrations"). Made by a writer under the
// store's lock: the migrated store is built beside the old one, in a directory of the same
// parent (.<name>.migrate-new), whose store file is written last, fsynced; then two renames
// swap it in (<name> -> .<name>.migrate-old, .<name>.migrate-new -> <name>) and the old one is
// removed. A writer's open finishes a switch a crash cut off (recoverSwitch) and removes what a
// crash left beside the store (removeLeftovers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapacityError, nativeError, NotAStoreError, StoreLockedError } from '../errors';
import { formatSeries } from '../selector';
import { formatDuration } from '../duration';
import { addon, format, type NativeSlab } from './native';
import { fsyncDir, readMetaFile, writeMetaFile } from './metafile';
import { aggregateMask, assertSameSchemas, routeSeries, valueBytes, type Aggregation, type SchemaSpec, type TierSpec } from './schema';
import { createSlabs, LOCK_FILE, readStoreFile, SERIES_FILE, STORE_FILE, writeStoreFile } from './layout';
import { readSeriesIndex, writeSeriesIndex, type SeriesRecord } from './series-index';
import { EXPORTERS_DIR, type ExportPosition } from './exporter';

/** What a schema migration did (or, in a dry run, would do). */
export interface MigrationReport {
  dir: string;
  dryRun: boolean;
  /** The differences between the schemas on disk and the new ones, one line each. */
  changes: string[];
  /** Series carried over to the same schema and column. */
  seriesKept: number;
  /** Series carried to another schema or column. */
  seriesMoved: Array<{ key: string; from: { schema: string; column: number }; to: { schema: string; column: number } }>;
  /** Series not carried over, and why. */
  seriesDropped: Array<{ key: string; schema: string; reason: string }>;
  /** Per new schema and tier, the points (cells holding a value) written. */
  tiers: Array<{ schema: string; tier: number; intervalMs: number; retentionMs: number; points: number }>;
  /** Exporter cursors: carried (positions mapped by time) or dropped, and why. */
  exporters: Array<{ name: string; carried: boolean; reason?: string }>;
  /** Files and directories of the store directory that are not the store's own, copied as they are. */
  copied: string[];
}

/** Where a migration builds the new store, and where the old one goes during the switch. */
export function switchDirs(dir: string): { fresh: string; old: string } {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  return { fresh: path.join(parent, `.${base}.migrate-new`), old: path.join(parent, `.${base}.migrate-old`) };
}

// A hook the crash tests use to stop a migration at a known step (test/fixtures/schema-migrate.js).
let stepHook: ((step: string) => void) | undefined;
/** @internal For tests: called at each step of a migration, with its name. */
export function setMigrationHook(f: ((step: string) => void) | undefined): void {
  stepHook = f;
}
const step = (name: string) => stepHook?.(name);

const exists = (p: string) => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/**
 * Before a writer's open takes the lock of `dir`: when `dir` is missing but a migration's old
 * store is beside it, a switch was cut off between its two renames. If the migrator still runs
 * (it holds the old store's lock), StoreLockedError; else the switch is finished: the new
 * store, when it is whole (its store file is written last), takes the name, else the old one
 * goes back.
 */
export function recoverSwitch(dir: string, fileMode: number): void {
  if (exists(dir)) return;
  const { fresh, old } = switchDirs(dir);
  if (!exists(path.join(old, STORE_FILE))) return;
  let fd: number;
  const lock = path.join(old, LOCK_FILE);
  try {
    fd = addon.lockStore(lock, fileMode);
  } catch (e) {
    throw nativeError(e, lock, (detail) => `store ${dir} is being migrated by another process (${detail}); wait until it is done`);
  }
  try {
    if (exists(dir)) return;
    fs.renameSync(exists(path.join(fresh, STORE_FILE)) ? fresh : old, dir);
    fsyncDir(path.dirname(dir));
  } finally {
    addon.unlockStore(fd);
  }
}

/** The refusal of a reader that finds a store mid-switch (only a writer finishes the switch). */
export function switchInProgress(dir: string): StoreLockedError | undefined {
  if (exists(dir) || !exists(switchDirs(dir).old)) return undefined;
  return new StoreLockedError(
    `store ${dir} is being switched to its migrated schemas (or a migration was cut off); try again, or open it for writing once to finish the switch`,
  );
}

/** Removes what a migration cut off left beside the store. The caller holds the store's lock. */
export function removeLeftovers(dir: string): void {
  const { fresh, old } = switchDirs(dir);
  let removed = false;
  for (const d of [fresh, old])
    if (exists(d)) {
      fs.rmSync(d, { recursive: true, force: true });
      removed = true;
    }
  if (removed) fsyncDir(path.dirname(dir));
}

/** True when the schemas given differ from the store's (what a migration would change). */
export function schemasDiffer(given: readonly SchemaSpec[], onDisk: readonly SchemaSpec[], dir: string): boolean {
  try {
    assertSameSchemas(given, onDisk, dir);
    return false;
  } catch {
    return true;
  }
}

interface OldSeries extends SeriesRecord {
  id: number;
  spec: SchemaSpec;
  key: string;
}

interface Placed {
  s: OldSeries;
  /** The new schema and column. */
  spec: SchemaSpec;
  column: number;
}

/** One old schema's slabs, opened for reading by the migration. */
class OldSchema {
  readonly slabs: NativeSlab[];
  constructor(
    readonly spec: SchemaSpec,
    dir: string,
  ) {
    this.slabs = [];
    try {
      for (const t of spec.tiers) this.slabs.push(new addon.Slab(path.join(dir, t.file), 'rw'));
    } catch (e) {
      this.close();
      throw nativeError(e, path.join(dir, spec.name));
    }
  }

  /** The intervals a tier's ring holds, [oldest, head] (empty when head is 0). */
  window(i: number): { oldest: number; head: number } {
    const head = this.slabs[i]!.counters().head;
    const t = this.spec.tiers[i]!;
    return { oldest: head === 0 ? 1 : Math.max(1, head - t.slots + 1), head };
  }

  /** What rawColumn() and aggColumn() read, until forget(): a column is read once for every new tier. */
  private readonly memo = new Map<string, unknown>();

  forget(): void {
    this.memo.clear();
  }

  private memoized<T>(key: string, f: () => T): T {
    let v = this.memo.get(key) as T | undefined;
    if (v === undefined) {
      v = f();
      this.memo.set(key, v);
    }
    return v;
  }

  /** A raw column over the ring: values[k - oldest], NaN where missing. */
  rawColumn(col: number): { oldest: number; values: Float64Array } {
    return this.memoized(`r${col}`, () => this.readRaw(col));
  }

  private readRaw(col: number): { oldest: number; values: Float64Array } {
    const { oldest, head } = this.window(0);
    const n = head === 0 ? 0 : head - oldest + 1;
    const values = new Float64Array(n).fill(NaN);
    if (n === 0) return { oldest, values };
    const slab = this.slabs[0]!;
    const p = slab.params();
    const f64 = new Float64Array(slab.buffer());
    const hw = format.headerBytes / 8;
    const slots = this.spec.tiers[0]!.slots;
    for (let k = oldest; k <= head; k++) {
      const base = hw + (k % slots) * p.rowWords;
      if (f64[base] === k) values[k - oldest] = f64[base + format.rowHeaderWords + col]!;
    }
    return { oldest, values };
  }

  /** Intervals of the raw ring whose row holds them. */
  rawRows(): number[] {
    const { oldest, head } = this.window(0);
    if (head === 0) return [];
    const slab = this.slabs[0]!;
    const f64 = new Float64Array(slab.buffer());
    const hw = format.headerBytes / 8;
    const rw = slab.params().rowWords;
    const slots = this.spec.tiers[0]!.slots;
    const out: number[] = [];
    for (let k = oldest; k <= head; k++) if (f64[hw + (k % slots) * rw] === k) out.push(k);
    return out;
  }

  /** A consolidated tier's column over its ring: each aggregate it keeps (a counter: last), NaN where missing. */
  aggColumn(i: number, col: number, counter: boolean): { oldest: number; n: number; aggs: Map<Aggregation, Float64Array> } {
    return this.memoized(`${i}:${col}:${counter ? 'c' : 'g'}`, () => this.readAggs(i, col, counter));
  }

  private readAggs(i: number, col: number, counter: boolean): { oldest: number; n: number; aggs: Map<Aggregation, Float64Array> } {
    const { oldest, head } = this.window(i);
    const n = head === 0 ? 0 : head - oldest + 1;
    const aggs = new Map<Aggregation, Float64Array>();
    const t = this.spec.tiers[i]!;
    const kept: readonly Aggregation[] = counter ? ['last'] : t.aggregates;
    for (const a of kept) {
      const out = new Float64Array(n);
      if (n > 0) this.slabs[i]!.readColumn(col, format.aggregates[a], counter, oldest, n, out);
      aggs.set(a, out);
    }
    return { oldest, n, aggs };
  }

  /** True when the column holds a point in any tier. */
  live(col: number, counter: boolean): boolean {
    try {
      if (this.rawColumn(col).values.some((v) => !Number.isNaN(v))) return true;
      for (let i = 1; i < this.spec.tiers.length; i++)
        for (const a of this.aggColumn(i, col, counter).aggs.values()) if (a.some((v) => !Number.isNaN(v))) return true;
      return false;
    } finally {
      this.forget();
    }
  }

  close(): void {
    for (const s of this.slabs) s.close();
    this.slabs.length = 0;
  }
}

/** The differences between two lists of schemas, for the report. */
function describeChanges(from: readonly SchemaSpec[], to: readonly SchemaSpec[]): string[] {
  const out: string[] = [];
  const byName = new Map(from.map((s) => [s.name, s]));
  const tierText = (t: TierSpec) =>
    `${formatDuration(t.intervalMs)} × ${formatDuration(t.retentionMs)}` + (t.index > 0 ? ` (${t.aggregates.join(',')} as ${t.precision}, xff ${t.xff})` : '');
  for (const s of to) {
    const o = byName.get(s.name);
    if (o === undefined) {
      out.push(`schema "${s.name}" added (match ${JSON.stringify(s.match)}, maxSeries ${s.maxSeries}, ${s.tiers.length} tiers)`);
      continue;
    }
    if (JSON.stringify(o.match) !== JSON.stringify(s.match)) out.push(`schema "${s.name}" match ${JSON.stringify(o.match)} -> ${JSON.stringify(s.match)}`);
    if (o.maxSeries !== s.maxSeries) out.push(`schema "${s.name}" maxSeries ${o.maxSeries} -> ${s.maxSeries}`);
    const n = Math.max(o.tiers.length, s.tiers.length);
    for (let i = 0; i < n; i++) {
      const a = o.tiers[i];
      const b = s.tiers[i];
      if (a === undefined && b !== undefined) out.push(`schema "${s.name}" tier ${i} added: ${tierText(b)}`);
      else if (b === undefined && a !== undefined) out.push(`schema "${s.name}" tier ${i} removed: ${tierText(a)}`);
      else if (a !== undefined && b !== undefined && (tierText(a) !== tierText(b) || a.consolidate !== b.consolidate))
        out.push(`schema "${s.name}" tier ${i}: ${tierText(a)} -> ${tierText(b)}${a.consolidate !== b.consolidate ? `, consolidate ${a.consolidate} -> ${b.consolidate}` : ''}`);
    }
  }
  for (const o of from) if (!to.some((s) => s.name === o.name)) out.push(`schema "${o.name}" removed`);
  const order = (l: readonly SchemaSpec[]) => l.map((s) => s.name).filter((n) => from.some((f) => f.name === n) && to.some((t) => t.name === n));
  if (order(from).join() !== order(to).join()) out.push(`schemas reordered: ${to.map((s) => s.name).join(', ')}`);
  return out;
}

export interface MigrateOptions {
  fileMode: number;
  /** Consolidated tiers are filled for the buckets that ended before this time (ms). */
  now: number;
  dryRun: boolean;
}

/**
 * Migrates the store in `dir` (a store of the current format, whose lock the caller holds) to
 * `target`. Returns the report and, unless a dry run, the fd of the lock of the store now in
 * `dir` (the caller's lock fd is then of the old store, gone: the caller releases it).
 */
export function migrateSchemas(dir: string, target: SchemaSpec[], o: MigrateOptions): { report: MigrationReport; lockFd?: number } {
  // The switch renames the directory: a symbolic link would be renamed, not the store.
  if (fs.lstatSync(dir).isSymbolicLink())
    throw new NotAStoreError(`store directory ${dir} is a symbolic link; migrate the directory it points to (${fs.realpathSync(dir)})`);
  const { createdMs, schemas: from } = readStoreFile(dir, undefined);
  const report: MigrationReport = {
    dir,
    dryRun: o.dryRun,
    changes: describeChanges(from, target),
    seriesKept: 0,
    seriesMoved: [],
    seriesDropped: [],
    tiers: [],
    exporters: [],
    copied: [],
  };
  const olds = new Map<string, OldSchema>();
  const exporterLocks: number[] = [];
  let lockFd: number | undefined;
  // Set while the new store is being built: a failure then removes it (the old one is untouched).
  let building: string | undefined;
  try {
    for (const s of from) olds.set(s.name, new OldSchema(s, dir));
    const records: OldSeries[] = readSeriesIndex(path.join(dir, SERIES_FILE), 0, from, () => 0).map((r, id) => ({
      ...r,
      id,
      key: formatSeries(r.name, r.labels),
    }));
    const placed = placeSeries(records, target, olds, report);
    step('planned');
    const exporters = planExporters(dir, from, target, placed, o.fileMode, exporterLocks, report);
    if (o.dryRun) {
      fill(undefined, target, placed, olds, o.now, report);
      return { report };
    }
    // ---- build the new store beside the old one ----
    const { fresh, old } = switchDirs(dir);
    removeLeftovers(dir);
    building = fresh;
    fs.mkdirSync(fresh, { mode: fs.statSync(dir).mode & 0o777 });
    fsyncDir(path.dirname(dir));
    const lock = path.join(fresh, LOCK_FILE);
    try {
      lockFd = addon.lockStore(lock, o.fileMode);
    } catch (e) {
      throw nativeError(e, lock);
    }
    step('building');
    const slabs = new Map<string, NativeSlab[]>();
    try {
      for (const spec of target) slabs.set(spec.name, createSlabs(fresh, spec, createdMs, o.fileMode));
      fill(slabs, target, placed, olds, o.now, report);
      for (const list of slabs.values()) for (const s of list) s.flush();
    } finally {
      for (const list of slabs.values()) for (const s of list) s.close();
    }
    step('slabs');
    const series: SeriesRecord[] = placed
      .slice()
      .sort((a, b) => a.s.id - b.s.id)
      .map((p) => ({ name: p.s.name, labels: p.s.labels, kind: p.s.kind, schema: p.spec.name, column: p.column }));
    writeSeriesIndex(path.join(fresh, SERIES_FILE), series, o.fileMode);
    if (exporters.length > 0) {
      fs.mkdirSync(path.join(fresh, EXPORTERS_DIR), { mode: 0o700 });
      for (const e of exporters) writeMetaFile(path.join(fresh, EXPORTERS_DIR, `${e.name}.json`), 'rondo-exporter', e.state, o.fileMode);
      fsyncDir(path.join(fresh, EXPORTERS_DIR));
    }
    copyForeign(dir, fresh, from, report);
    step('metadata');
    // The store file last: it marks the new store whole (recoverSwitch rolls forward only then).
    writeStoreFile(fresh, createdMs, target, o.fileMode);
    fsyncDir(path.dirname(dir));
    step('built');
    // ---- the switch ----
    // From here a failure (or a crash) is finished by the next writer's open (recoverSwitch).
    building = undefined;
    fs.renameSync(dir, old);
    fsyncDir(path.dirname(dir));
    step('moved-old');
    fs.renameSync(fresh, dir);
    fsyncDir(path.dirname(dir));
    step('switched');
    for (const s of olds.values()) s.close();
    fs.rmSync(old, { recursive: true, force: true });
    fsyncDir(path.dirname(dir));
    step('removed-old');
    const fd = lockFd;
    lockFd = undefined;
    return { report, lockFd: fd };
  } finally {
    for (const s of olds.values()) s.close();
    for (const fd of exporterLocks) addon.unlockStore(fd);
    // A failure before the switch: the new lock goes (the directory built is a leftover, removed
    // by the next writer's open or migration).
    if (lockFd !== undefined) addon.unlockStore(lockFd);
    if (building !== undefined) {
      try {
        fs.rmSync(building, { recursive: true, force: true });
      } catch {
        // left for the next writer's open (removeLeftovers)
      }
    }
  }
}

/** Each series' new schema and column, in registration order; refuses a schema too small. */
function placeSeries(records: readonly OldSeries[], target: readonly SchemaSpec[], olds: Map<string, OldSchema>, report: MigrationReport): Placed[] {
  const groups = new Map<SchemaSpec, OldSeries[]>(target.map((s) => [s, []]));
  for (const r of records) {
    const spec = routeSeries(target, r.name, r.labels);
    if (spec === undefined) report.seriesDropped.push({ key: r.key, schema: r.schema, reason: 'its labels match no schema' });
    else groups.get(spec)!.push(r);
  }
  const placed: Placed[] = [];
  for (const [spec, list] of groups) {
    let keep = list;
    if (list.length > spec.maxSeries) {
      // Series that hold no point in any tier are dropped to make room; live ones must fit.
      const live = list.filter((r) => olds.get(r.schema)!.live(r.column, r.kind === 'counter'));
      if (live.length > spec.maxSeries) {
        const out = live.slice(spec.maxSeries);
        const names = out.slice(0, 20).map((r) => r.key);
        throw new CapacityError(
          `schema "${spec.name}" maxSeries ${spec.maxSeries} cannot hold its ${live.length} live series (series holding points); ` +
            `these would not fit: ${names.join(', ')}${out.length > names.length ? ` and ${out.length - names.length} more` : ''}; ` +
            'raise maxSeries, or route some of them to another schema',
        );
      }
      keep = live;
      for (const r of list) if (!live.includes(r)) report.seriesDropped.push({ key: r.key, schema: r.schema, reason: `it holds no point, and schema "${spec.name}" has room for its live series only` });
    }
    keep.forEach((s, column) => {
      placed.push({ s, spec, column });
      if (s.schema === spec.name && s.column === column) report.seriesKept++;
      else report.seriesMoved.push({ key: s.key, from: { schema: s.schema, column: s.column }, to: { schema: spec.name, column } });
    });
  }
  return placed;
}

interface ExporterFile {
  tier: number;
  positions: Record<string, ExportPosition>;
  lost: number;
  committedSamples: number;
  commits: number;
  stale: Array<{ id: number; ts: number }>;
  inflight?: Record<string, ExportPosition>;
}

/**
 * The exporters' cursors in the new store. A cursor is kept by time: in each new schema, the
 * earliest time any old schema that feeds it had reached, as an interval of the new tier (so
 * nothing is skipped; a little may be sent again). A pinned batch is forgotten; stale markers
 * follow their series by identity. An exporter whose tier a new schema lacks is dropped. Takes
 * each exporter's lock (refuses while another process holds one) until the migration ends.
 */
function planExporters(
  dir: string,
  from: readonly SchemaSpec[],
  target: readonly SchemaSpec[],
  placed: readonly Placed[],
  fileMode: number,
  locks: number[],
  report: MigrationReport,
): Array<{ name: string; state: ExporterFile }> {
  const edir = path.join(dir, EXPORTERS_DIR);
  let names: string[];
  try {
    // Every exporter with a cursor file or a lock file (one in use may not have saved yet).
    const files = fs.readdirSync(edir);
    names = [...new Set(files.filter((f) => /\.(json|lock)$/.test(f)).map((f) => f.replace(/\.(json|lock)$/, '')))].sort();
  } catch {
    return [];
  }
  const out: Array<{ name: string; state: ExporterFile }> = [];
  const newId = new Map<number, number>();
  placed
    .slice()
    .sort((a, b) => a.s.id - b.s.id)
    .forEach((p, i) => newId.set(p.s.id, i));
  for (const name of names) {
    const lock = path.join(edir, `${name}.lock`);
    try {
      locks.push(addon.lockStore(lock, fileMode));
    } catch (e) {
      throw nativeError(
        e,
        lock,
        (detail) => `exporter "${name}" of store ${dir} is in use (${detail}); stop the process that exports (rondo push, serve) before migrating`,
      );
    }
    const state = readMetaFile(path.join(edir, `${name}.json`), 'rondo-exporter') as ExporterFile | undefined;
    if (state === undefined) continue;
    const t = state.tier;
    const lacking = target.find((s) => s.tiers.length <= t);
    if (lacking !== undefined) {
      report.exporters.push({ name, carried: false, reason: `it exports tier ${t}, which schema "${lacking.name}" no longer has` });
      continue;
    }
    const positions: Record<string, ExportPosition> = {};
    for (const spec of target) {
      const sources = new Set(placed.filter((p) => p.spec === spec).map((p) => p.s.schema));
      if (sources.size === 0) continue;
      let time = Infinity;
      for (const name of sources) {
        const pos = state.positions[name];
        const old = from.find((s) => s.name === name)!;
        if (pos === undefined || pos.k === 0) time = -1;
        else time = Math.min(time, pos.k * old.tiers[t]!.intervalMs);
      }
      if (time > 0 && Number.isFinite(time)) positions[spec.name] = { k: Math.floor(time / spec.tiers[t]!.intervalMs), col: 0 };
    }
    const stale = state.stale.filter((x) => newId.has(x.id)).map((x) => ({ id: newId.get(x.id)!, ts: x.ts }));
    out.push({ name, state: { tier: t, positions, lost: state.lost, committedSamples: state.committedSamples, commits: state.commits, stale } });
    report.exporters.push({ name, carried: true });
  }
  return out;
}

/** Fsyncs a file, or a directory and everything under it. */
function fsyncTree(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) for (const f of fs.readdirSync(p)) fsyncTree(path.join(p, f));
  if (!st.isDirectory() && !st.isFile()) return;
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Copies what the store directory holds that is not the store's own (another tool's files). */
function copyForeign(dir: string, fresh: string, from: readonly SchemaSpec[], report: MigrationReport): void {
  const own = new Set([STORE_FILE, SERIES_FILE, LOCK_FILE, EXPORTERS_DIR, ...from.flatMap((s) => s.tiers.map((t) => t.file))]);
  for (const f of fs.readdirSync(dir)) {
    if (own.has(f) || f.endsWith('.tmp')) continue;
    fs.cpSync(path.join(dir, f), path.join(fresh, f), { recursive: true, preserveTimestamps: true });
    fsyncTree(path.join(fresh, f));
    report.copied.push(f);
  }
  const edir = path.join(dir, EXPORTERS_DIR);
  if (exists(edir))
    for (const f of fs.readdirSync(edir)) {
      if (f.endsWith('.json') || f.endsWith('.lock') || f.endsWith('.tmp')) continue;
      fs.mkdirSync(path.join(fresh, EXPORTERS_DIR), { recursive: true, mode: 0o700 });
      fs.cpSync(path.join(edir, f), path.join(fresh, EXPORTERS_DIR, f), { recursive: true, preserveTimestamps: true });
      fsyncTree(path.join(fresh, EXPORTERS_DIR, f));
      fsyncDir(path.join(fresh, EXPORTERS_DIR));
      report.copied.push(`${EXPORTERS_DIR}/${f}`);
    }
}

// ---- the data ----

const EMPTY_F32 = 0x7ff80000;

/**
 * Fills the new slabs (undefined: a dry run, which only counts) from the old ones: tier 0 point
 * by point, each consolidated tier bucket by bucket from the best source the old schema has.
 */
function fill(
  slabs: Map<string, NativeSlab[]> | undefined,
  target: readonly SchemaSpec[],
  placed: readonly Placed[],
  olds: Map<string, OldSchema>,
  now: number,
  report: MigrationReport,
): void {
  for (const spec of target) {
    const cols = placed.filter((p) => p.spec === spec);
    const mine = slabs?.get(spec.name);
    report.tiers.push({ schema: spec.name, tier: 0, intervalMs: spec.tiers[0]!.intervalMs, retentionMs: spec.tiers[0]!.retentionMs, points: fillRaw(mine?.[0], spec, cols, olds) });
    if (mine !== undefined) step(`tier ${spec.name} 0`);
    // The buckets consolidate() would have filled by now: tier 1 those ended, a coarser tier
    // those its source has finished (so the next consolidate() carries on from there).
    const sources = [...new Set(cols.map((c) => c.s.schema))].map((n) => olds.get(n)!);
    const fillers: TierFiller[] = [];
    let limit = 0;
    for (let i = 1; i < spec.tiers.length; i++) {
      const t = spec.tiers[i]!;
      limit = i === 1 ? Math.floor(now / t.intervalMs) : Math.floor(limit / (t.intervalMs / spec.tiers[i - 1]!.intervalMs));
      fillers.push(new TierFiller(mine?.[i], t, sources, limit));
    }
    // Column by column, every tier: each old column is read once (OldSchema keeps it meanwhile).
    for (const c of cols) {
      const o = olds.get(c.s.schema)!;
      for (const f of fillers) f.column(c, o);
      o.forget();
    }
    for (const f of fillers) {
      report.tiers.push({ schema: spec.name, tier: f.t.index, intervalMs: f.t.intervalMs, retentionMs: f.t.retentionMs, points: f.finish() });
      if (mine !== undefined) step(`tier ${spec.name} ${f.t.index}`);
    }
  }
}

/** Tier 0: each old raw point goes to the interval of the new tier that holds its time (the last one wins, as in record()). */
function fillRaw(slab: NativeSlab | undefined, spec: SchemaSpec, cols: readonly Placed[], olds: Map<string, OldSchema>): number {
  const t = spec.tiers[0]!;
  const sources = [...new Set(cols.map((c) => c.s.schema))].map((n) => olds.get(n)!);
  let head = 0;
  for (const o of sources) head = Math.max(head, Math.floor((o.window(0).head * o.spec.tiers[0]!.intervalMs) / t.intervalMs));
  if (head === 0) return 0;
  const lowest = Math.max(1, head - t.slots + 1);
  const f64 = slab === undefined ? undefined : new Float64Array(slab.buffer());
  const hw = format.headerBytes / 8;
  const rw = slab?.params().rowWords ?? 0;
  let written = 0;
  for (const o of sources) {
    const iv = o.spec.tiers[0]!.intervalMs;
    const mapK = (k: number) => Math.floor((k * iv) / t.intervalMs);
    // Every row the old ring holds is taken (in order), so the new head is the old one's.
    if (slab !== undefined) for (const k of o.rawRows()) if (mapK(k) >= lowest && slab.claim(mapK(k)) !== 0) throw new Error(`migration: row ${mapK(k)} refused`);
    for (const c of cols) {
      if (c.s.schema !== o.spec.name) continue;
      const { oldest, values } = o.rawColumn(c.s.column);
      let lastK = -1;
      for (let j = 0; j < values.length; j++) {
        const v = values[j]!;
        if (Number.isNaN(v)) continue;
        const k = mapK(oldest + j);
        if (k < lowest) continue;
        // (k grows with j: points that share a new interval count once)
        if (k !== lastK) written++;
        lastK = k;
        if (f64 !== undefined) f64[hw + (k % t.slots) * rw + format.rowHeaderWords + c.column] = v;
      }
      o.forget();
    }
  }
  return written;
}

/** What a bucket of one column adds up to. */
interface Acc {
  count: number;
  sum: number;
  sumKnown: boolean;
  min: number;
  max: number;
  last: number;
  /** A single bucket of the same interval that kept avg: its avg as it was. */
  avg: number;
}

const newAcc = (): Acc => ({ count: 0, sum: 0, sumKnown: true, min: Infinity, max: -Infinity, last: NaN, avg: NaN });

/**
 * One consolidated tier of a new schema being filled: made ready (its rows in the window
 * emptied), then filled column by column (column()), then published (finish(): the rows' tags,
 * the header's head, claims and cursor). The new slab is written in place: no one else has it.
 */
class TierFiller {
  points = 0;
  /** The buckets written: [lo, hi). */
  private readonly lo: number;
  private readonly hi: number;
  private readonly view: DataView | undefined;
  private readonly rowBytes: number;
  private readonly layout: { cellBytes: number; offsets: number[] };
  private readonly vb: number;

  constructor(
    private readonly slab: NativeSlab | undefined,
    readonly t: TierSpec,
    sources: readonly OldSchema[],
    private readonly limit: number,
  ) {
    // The buckets the sources' rings reach (a ring holds its newest slots before its head, which
    // may be long before now when the store was not written lately), up to the limit.
    let first = Infinity;
    let last = 0;
    for (const o of sources)
      o.spec.tiers.forEach((ot, i) => {
        const w = o.window(i);
        if (w.head === 0) return;
        first = Math.min(first, Math.floor((w.oldest * ot.intervalMs) / t.intervalMs));
        last = Math.max(last, Math.floor(((w.head + 1) * ot.intervalMs - 1) / t.intervalMs) + 1);
      });
    this.hi = Math.min(limit, last);
    this.lo = Math.max(1, this.hi - t.slots, first);
    this.view = slab === undefined ? undefined : new DataView(slab.buffer());
    const p = slab?.params();
    this.rowBytes = p?.rowBytes ?? 0;
    this.layout = addon.cellLayout(aggregateMask(t.aggregates), valueBytes(t.precision));
    this.vb = valueBytes(t.precision);
    const view = this.view;
    if (this.lo < this.hi && view !== undefined && p !== undefined) {
      // Every row of the window empty first (every 4-byte part the empty float32, count 0).
      const countAt = this.layout.offsets[format.aggregates.count]!; // -1: not kept
      for (let b = this.lo; b < this.hi; b++) {
        const r = this.rowAt(b) + format.consolidatedRowHeaderBytes;
        for (let x = 0; x < p.maxSeries * this.layout.cellBytes; x += 4) view.setUint32(r + x, EMPTY_F32, true);
        if (countAt >= 0) for (let c = 0; c < p.maxSeries; c++) view.setUint32(r + c * this.layout.cellBytes + countAt, 0, true);
      }
    }
  }

  private rowAt(b: number): number {
    return format.headerBytes + (b % this.t.slots) * this.rowBytes;
  }

  /** Fills one series' cells from its old schema. */
  column(c: Placed, o: OldSchema): void {
    const { t, lo, hi, view, layout } = this;
    if (lo >= hi) return;
    const counter = c.s.kind === 'counter';
    const accs = bucketsOf(o, c.s.column, counter, t, lo, hi);
    const expected = t.intervalMs / o.spec.tiers[0]!.intervalMs;
    const off = (g: Aggregation) => layout.offsets[format.aggregates[g]]!;
    for (let b = lo; b < hi; b++) {
      const a = accs[b - lo]!;
      if (!(a.count > 0) || 1 - a.count / expected > t.xff + 1e-12) continue;
      this.points++;
      if (view === undefined) continue;
      const cell = this.rowAt(b) + format.consolidatedRowHeaderBytes + c.column * layout.cellBytes;
      if (counter) {
        view.setFloat64(cell, a.last, true);
        continue;
      }
      const value: Record<Aggregation, number> = {
        avg: Number.isNaN(a.avg) ? (a.sumKnown ? a.sum / a.count : NaN) : a.avg,
        min: a.min === Infinity ? NaN : a.min,
        max: a.max === -Infinity ? NaN : a.max,
        sum: a.sumKnown ? a.sum : NaN,
        count: a.count,
        last: a.last,
      };
      for (const g of t.aggregates) {
        if (g === 'count') view.setUint32(cell + off(g), Math.min(0xffffffff, Math.max(1, Math.round(a.count))), true);
        else if (this.vb === 4) view.setFloat32(cell + off(g), value[g], true);
        else view.setFloat64(cell + off(g), value[g], true);
      }
    }
  }

  /** Publishes the rows (bucket << shift | generation 1), then the header's head, claims and cursor. */
  finish(): number {
    const { view, lo, hi, limit } = this;
    if (view === undefined) return this.points;
    if (lo < hi) {
      for (let b = lo; b < hi; b++) view.setBigUint64(this.rowAt(b), (BigInt(b) << BigInt(format.tag.bucketShift)) | (1n << BigInt(format.tag.genShift)), true);
      view.setBigUint64(format.offsets.head, BigInt(hi - 1), true);
      view.setBigUint64(format.offsets.claims, BigInt(hi - lo), true);
    }
    view.setBigUint64(format.offsets.cursor, BigInt(Math.max(0, limit)), true);
    return this.points;
  }
}

/**
 * The buckets [lo, limit) of the new tier `t` for one old column, each from the best source the
 * old schema holds it in: a tier of the same interval that keeps every aggregate t keeps (its
 * cell as kept), else tier 0 when its ring holds the whole bucket (every aggregate exact), else
 * the consolidated tiers whose interval divides t's, finest first (aggregates they cannot make
 * are left missing), else what tier 0 holds of it (xff decides).
 */
function bucketsOf(o: OldSchema, col: number, counter: boolean, t: TierSpec, lo: number, limit: number): Acc[] {
  const accs: Acc[] = [];
  for (let b = lo; b < limit; b++) accs.push(newAcc());
  const done = new Uint8Array(limit - lo);
  const iv0 = o.spec.tiers[0]!.intervalMs;
  const expected = t.intervalMs / iv0;
  // Consolidated sources: the same interval first, then the finer ones, finest first.
  const tiers = o.spec.tiers
    .slice(1)
    .filter((ot) => ot.intervalMs <= t.intervalMs && t.intervalMs % ot.intervalMs === 0)
    .sort((a, b) => a.intervalMs - b.intervalMs);
  const raw = o.rawColumn(col);
  const rawWhole = (b: number) => raw.values.length > 0 && b * t.intervalMs >= raw.oldest * iv0;
  // The buckets tier 0's ring reaches (only those are looked at in it).
  const rawLo = Math.max(lo, Math.floor((raw.oldest * iv0) / t.intervalMs));
  const rawHi = raw.values.length === 0 ? lo : Math.min(limit, Math.floor(((raw.oldest + raw.values.length) * iv0) / t.intervalMs) + 1);
  const fromRaw = (b: number, a: Acc) => {
    const k0 = Math.ceil((b * t.intervalMs) / iv0);
    const k1 = Math.ceil(((b + 1) * t.intervalMs) / iv0);
    for (let k = Math.max(k0, raw.oldest); k < k1 && k - raw.oldest < raw.values.length; k++) {
      const v = raw.values[k - raw.oldest]!;
      if (Number.isNaN(v)) continue;
      a.count += 1;
      a.sum += v;
      if (v < a.min) a.min = v;
      if (v > a.max) a.max = v;
      a.last = v;
    }
  };
  const fromTier = (ot: TierSpec) => {
    const col0 = o.aggColumn(o.spec.tiers.indexOf(ot), col, counter);
    const ratio = t.intervalMs / ot.intervalMs;
    const full = expected / ratio;
    const keeps = (g: Aggregation) => col0.aggs.has(g);
    const presence = (['avg', 'min', 'max', 'sum', 'last'] as const).find((g) => keeps(g));
    // The buckets the source's ring reaches.
    const bLo = Math.max(lo, Math.floor(col0.oldest / ratio));
    const bHi = Math.min(limit, Math.ceil((col0.oldest + col0.n) / ratio));
    for (let b = bLo; b < bHi; b++) {
      if (done[b - lo]) continue;
      const a = accs[b - lo]!;
      let any = false;
      for (let m = b * ratio; m < (b + 1) * ratio; m++) {
        const j = m - col0.oldest;
        if (j < 0 || j >= col0.n) continue;
        const get = (g: Aggregation) => col0.aggs.get(g)![j]!;
        if (counter) {
          const v = get('last');
          if (Number.isNaN(v)) continue;
          a.count += full;
          a.last = v;
          any = true;
          continue;
        }
        let n = full;
        if (keeps('count')) {
          n = get('count');
          if (!(n > 0)) continue;
        } else if (presence === undefined || Number.isNaN(get(presence))) continue;
        any = true;
        a.count += n;
        if (keeps('sum')) a.sum += get('sum');
        else if (keeps('avg')) a.sum += get('avg') * n;
        else a.sumKnown = false;
        if (keeps('min')) a.min = Math.min(a.min, get('min'));
        if (keeps('max')) a.max = Math.max(a.max, get('max'));
        if (keeps('last')) a.last = get('last');
        if (ratio === 1 && keeps('avg')) a.avg = get('avg');
      }
      if (!any) continue;
      // Aggregates the source does not keep are unknown (NaN), not made up.
      if (!counter) {
        if (!keeps('min')) a.min = Infinity;
        if (!keeps('max')) a.max = -Infinity;
        if (!keeps('last')) a.last = NaN;
      }
      done[b - lo] = 1;
    }
  };
  // The same interval's cells come first when they keep what this tier keeps; else tier 0
  // first where it holds the bucket whole (every aggregate exact).
  const same = tiers.find((ot) => ot.intervalMs === t.intervalMs);
  const sameKeeps = same !== undefined && (counter || t.aggregates.every((g) => same.aggregates.includes(g)));
  if (same !== undefined && sameKeeps) fromTier(same);
  for (let b = rawLo; b < rawHi; b++)
    if (!done[b - lo] && rawWhole(b)) {
      fromRaw(b, accs[b - lo]!);
      done[b - lo] = 1;
    }
  for (const ot of tiers) if (ot !== same || !sameKeeps) fromTier(ot);
  // What tier 0 holds of a bucket it does not hold whole (its xff decides).
  for (let b = rawLo; b < rawHi; b++) if (!done[b - lo]) fromRaw(b, accs[b - lo]!);
  return accs;
}

