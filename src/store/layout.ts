// A store directory on disk: its files, its writer lock, creating its slabs and opening them
// against the schemas of its store file. The Store (store.ts) calls these when it opens.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon, type NativeSlab } from './native';
import { nativeError } from '../errors';
import { CorruptFileError, NotAStoreError } from '../errors';
import { readMetaFileVersioned, writeMetaFile, fsyncDir } from './metafile';
import { aggregateMask, assertSameSchemas, normalizeSchemas, valueBytes, type SchemaSpec, type TierSpec } from './schema';
import type { SlabCreateParams } from './native';

export const STORE_FILE = 'rondo.json';
export const SERIES_FILE = 'series.json';
export const LOCK_FILE = 'LOCK';
/** What a crash part-way through creating a store can leave: the next open recreates over it. */
const LEFTOVER_RE = /^(series\.json|rondo\.json|topics\.json|LOCK|.*\.slab)(\.tmp)?$/;
/**
 * The store file's version: 1 storage format 1 (migrate.ts), 2 format 2, 3 format 3 (format 2's
 * slabs, and the event ring and topics files: docs/storage-format.md). A writer's open rewrites a
 * version-2 store file as version 3.
 */
export const STORE_VERSION = 3;

/** Makes the directory when missing, and takes the writer lock: the lock's fd. */
export function lockStoreDir(dir: string, dirMode: number, fileMode: number): number {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st === undefined) {
    fs.mkdirSync(dir, { recursive: true, mode: dirMode });
  } else if (!st.isDirectory()) {
    throw new NotAStoreError(`${dir} is not a directory; give the path of a store directory (it is created if missing)`);
  }
  const lock = path.join(dir, LOCK_FILE);
  try {
    return addon.lockStore(lock, fileMode);
  } catch (e) {
    throw nativeError(
      e,
      lock,
      (detail) => `store ${dir} is already open for writing (${detail}); close that Store first, or read it with Store.openReadOnly()`,
    );
  }
}

/**
 * True when the directory holds a store file; throws NotAStoreError when it holds other files
 * instead. `orSwitching`: also true when the directory is missing because a schema migration's
 * switch is under way or was cut off (the old store beside it: schema-migrate.ts).
 */
export function hasStoreFile(dir: string, orSwitching = false): boolean {
  if (fs.existsSync(path.join(dir, STORE_FILE))) return true;
  if (orSwitching) {
    if (!fs.existsSync(dir)) return fs.existsSync(path.join(path.dirname(dir), `.${path.basename(dir)}.migrate-old`, STORE_FILE));
    if (!fs.statSync(dir).isDirectory()) return false;
  }
  const foreign = fs.readdirSync(dir).filter((f) => !LEFTOVER_RE.test(f));
  if (foreign.length > 0)
    throw new NotAStoreError(
      `${dir} is not a rondo store (no ${STORE_FILE}) and holds other files (${foreign.slice(0, 3).join(', ')}); use an empty or new directory`,
    );
  return false;
}

/** What a tier's slab is made with (docs/storage-format.md). */
export function slabParams(spec: SchemaSpec, t: TierSpec, createdMs: number, fileMode: number): SlabCreateParams {
  return {
    consolidated: t.index > 0,
    maxSeries: spec.maxSeries,
    slots: t.slots,
    intervalMs: t.intervalMs,
    tierIndex: t.index,
    createdMs,
    schemaName: spec.name,
    fileMode,
    ...(t.index > 0 ? { aggregates: aggregateMask(t.aggregates), valueBytes: valueBytes(t.precision) } : {}),
  };
}

/** Creates one schema's slabs (one per tier). On failure, closes what it made and throws. */
export function createSlabs(dir: string, spec: SchemaSpec, createdMs: number, fileMode: number): NativeSlab[] {
  const slabs: NativeSlab[] = [];
  for (const t of spec.tiers) {
    const file = path.join(dir, t.file);
    try {
      slabs.push(new addon.Slab(file, 'create', slabParams(spec, t, createdMs, fileMode)));
    } catch (e) {
      slabs.forEach((s) => s.close());
      throw nativeError(e, file);
    }
  }
  return slabs;
}

/** Writes the store file last of all a new store's files, so that it marks a whole store. */
export function writeStoreFile(dir: string, createdMs: number, specs: readonly SchemaSpec[], fileMode: number): void {
  writeMetaFile(path.join(dir, STORE_FILE), 'rondo-store', { createdMs, schemas: specs }, fileMode, STORE_VERSION);
  fsyncDir(dir);
}

/**
 * The store file's schemas and creation time, and its version: 1 for a store of storage format 1
 * (still to migrate: migrate.ts), 2 for one of format 2. `given` schemas must be the same; of a
 * format-1 store but for the tiers' aggregates and precision, and then they are the schemas.
 */
export function readStoreFile(dir: string, given: SchemaSpec[] | undefined): { createdMs: number; schemas: SchemaSpec[]; version: number } {
  const storeFile = path.join(dir, STORE_FILE);
  let file: { version: number; body: unknown } | undefined;
  try {
    file = readMetaFileVersioned(storeFile, 'rondo-store');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') file = undefined;
    else throw e;
  }
  const body = file?.body;
  if (file === undefined || body === undefined)
    throw new NotAStoreError(`${dir} is not a rondo store (no ${STORE_FILE}); check the path, or open it for writing to create one`);
  const meta = body as { createdMs?: unknown; schemas?: unknown };
  let onDisk: SchemaSpec[];
  try {
    onDisk = normalizeSchemas(
      (meta.schemas as Array<SchemaSpec & { tiers: Array<TierSpec> }>).map((s) => ({
        name: s.name,
        match: s.match,
        maxSeries: s.maxSeries,
        // Format 1 stores have no aggregates or precision: their tiers get the defaults.
        tiers: s.tiers.map((t, i) => ({
          interval: t.intervalMs,
          retention: t.retentionMs,
          consolidate: t.consolidate,
          xff: t.xff,
          ...(i === 0 ? {} : { aggregates: t.aggregates, precision: t.precision }),
        })),
      })),
    );
  } catch (e) {
    throw new CorruptFileError(`${storeFile} holds schemas this rondo cannot use (${(e as Error).message}); restore it from a backup`);
  }
  // A store of format 1 kept every aggregate: given schemas choose what its migrated tiers keep.
  const v1 = file.version === 1;
  if (given !== undefined) assertSameSchemas(given, onDisk, dir, !v1);
  return { createdMs: typeof meta.createdMs === 'number' ? meta.createdMs : 0, schemas: v1 && given !== undefined ? given : onDisk, version: file.version };
}

/**
 * Opens one schema's slabs and checks each against the schema (a swapped or foreign slab, a
 * header from the future). On failure, closes what it opened and throws.
 */
export function openSlabs(dir: string, spec: SchemaSpec, readOnly: boolean): NativeSlab[] {
  const slabs: NativeSlab[] = [];
  const fail = (e: Error): never => {
    slabs.forEach((s) => s.close());
    throw e;
  };
  for (const t of spec.tiers) {
    const file = path.join(dir, t.file);
    try {
      slabs.push(new addon.Slab(file, readOnly ? 'ro' : 'rw'));
    } catch (e) {
      fail(nativeError(e, file));
    }
    const slab = slabs[slabs.length - 1] as NativeSlab;
    const p = slab.params();
    if (
      p.maxSeries !== spec.maxSeries ||
      p.slots !== t.slots ||
      p.intervalMs !== t.intervalMs ||
      p.consolidated !== t.index > 0 ||
      p.schemaName !== spec.name ||
      p.tierIndex !== t.index ||
      (t.index > 0 && (p.aggregates !== aggregateMask(t.aggregates) || p.valueBytes !== valueBytes(t.precision)))
    )
      fail(
        new CorruptFileError(
          `${file} does not match its schema "${spec.name}" tier ${t.index} in ${STORE_FILE} (a different or swapped slab); restore the store from a backup`,
        ),
      );
    const c = slab.counters();
    if (c.head * t.intervalMs > Date.now() + 86_400_000 || c.cursor * t.intervalMs > Date.now() + 86_400_000)
      fail(new CorruptFileError(`${file} says it holds data from more than a day in the future; the header is damaged or the clock is wrong`));
  }
  return slabs;
}
