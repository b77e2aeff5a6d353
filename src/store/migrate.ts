// Migration of a store of storage format 1 to format 2 (docs/storage-format.md, "Format 1 and its
// migration"), made by a writer's open, under the store's lock: each slab is rewritten in format
// 2 under a temporary name and renamed over the old one; the store file is rewritten last, in
// version 2, which is what marks the store migrated. A crash part-way leaves a store file of
// version 1 over slabs some of which are already of format 2: the next writer's open migrates the
// rest (a slab of format 2 is left as it is), so the migration is finished whatever stops it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MigrationNeededError, nativeError, SchemaMismatchError } from '../errors';
import { fsyncDir } from './metafile';
import { addon, format } from './native';
import { aggregateMask, AGGREGATIONS, valueBytes, type SchemaSpec } from './schema';
import { slabParams, SERIES_FILE, writeStoreFile } from './layout';
import { readSeriesIndex } from './series-index';

/** The store file's version of a store of storage format 1. */
export const V1_STORE_VERSION = 1;

/** The refusal of a reader: only a writer migrates. */
export function migrationNeeded(dir: string): MigrationNeededError {
  return new MigrationNeededError(
    `store ${dir} is in storage format 1; this rondo reads format ${format.formatVersion}, to which a writer's open migrates a store ` +
      '(once, in place): open it once with Store.open() (or any rondo command that writes to it), then read it',
  );
}

/**
 * The version of the slab file (its header's) and, in version 2, its cell layout's aggregates
 * and value bytes; undefined when it is missing or too short to say.
 */
export function slabHeader(file: string): { version: number; aggregates: number; valueBytes: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const head = Buffer.alloc(format.offsets.layoutEnd);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length) return undefined;
    if (head.toString('latin1', 0, format.offsets.version) !== format.magic) return undefined;
    return {
      version: head.readUInt32LE(format.offsets.version),
      aggregates: head.readUInt32LE(format.offsets.aggregates),
      valueBytes: head.readUInt32LE(format.offsets.valueBytes),
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Migrates the store in `dir` (its store file of version 1, read as `schemas`) to format 2: every
 * slab still of format 1, then the store file. The caller holds the store's lock.
 */
export function migrateStore(dir: string, createdMs: number, schemas: readonly SchemaSpec[], fileMode: number): void {
  // Which columns are counters: a counter's consolidated cells keep its last value only.
  const kinds = new Map(schemas.map((s) => [s, new Uint8Array(s.maxSeries)]));
  for (const r of readSeriesIndex(path.join(dir, SERIES_FILE), 0, schemas, () => 0)) if (r.kind === 'counter') kinds.get(r.spec)![r.column] = 1;
  // First every slab a migration cut off may have made already: it must have the cells asked
  // for now. Anything else but format 1 is left to the open that follows: format 2 is what it
  // reads, and it refuses the rest, saying why.
  const todo: Array<{ spec: SchemaSpec; t: SchemaSpec['tiers'][number]; file: string }> = [];
  for (const spec of schemas)
    for (const t of spec.tiers) {
      const file = path.join(dir, t.file);
      const header = slabHeader(file);
      if (header?.version === format.formatVersion && t.index > 0 && (header.aggregates !== aggregateMask(t.aggregates) || header.valueBytes !== valueBytes(t.precision))) {
        const had = AGGREGATIONS.filter((a) => (header.aggregates >> format.aggregates[a]) & 1);
        throw new SchemaMismatchError(
          `store ${dir} was being migrated from storage format 1 with schema "${spec.name}" tier ${t.index} keeping ${had.join(', ')} as ${header.valueBytes === 4 ? 'float32' : 'float64'}, not ${t.aggregates.join(', ')} as ${t.precision}; open it with the schemas of that migration to finish it`,
        );
      }
      if (header?.version === V1_STORE_VERSION) todo.push({ spec, t, file });
    }
  for (const { spec, t, file } of todo) {
    try {
      // The file keeps its mode.
      const mode = fs.statSync(file).mode & 0o777;
      addon.migrateV1Slab(file, slabParams(spec, t, createdMs, mode), kinds.get(spec)!);
    } catch (e) {
      throw nativeError(e, file);
    }
  }
  fsyncDir(dir);
  writeStoreFile(dir, createdMs, schemas, fileMode);
}
