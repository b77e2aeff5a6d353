// Migration of a store of storage format 1 to format 2 (docs/storage-format.md, "Format 1 and its
// migration"), made by a writer's open, under the store's lock. The old store is not touched until
// the new one is whole: every slab is migrated into the staging directory format-migration/ beside
// the old files, with the new store file; then the journal format-migration.json is written (the
// commit point) and the staged files are renamed over the old ones, the store file last; then the
// journal and the staging directory go. A crash before the journal leaves the old store (its
// files as they were; the next writer's open removes the staging directory and migrates again); a
// crash after it leaves a switch the next writer's open finishes from the journal before it reads
// anything. So a SIGKILL at any point leaves a store that opens as format 1 or as format 2.
// Before anything is staged, a backup archive of the old store is written (unless disabled): its
// slabs migrated losslessly (every aggregate as float64) into format-migration/backup/, read by
// backup.ts's capture() as a store's are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptFileError, MigrationNeededError, nativeError, SchemaMismatchError } from '../errors';
import { fsyncDir, readMetaFile, readMetaFileVersioned, writeMetaFile } from './metafile';
import { addon, format, type NativeSlab } from './native';
import { aggregateMask, AGGREGATIONS, normalizeSchemas, valueBytes, type SchemaSpec } from './schema';
import { slabParams, SERIES_FILE, STORE_FILE, writeStoreFile } from './layout';
import { readSeriesIndex, type SeriesRecord } from './series-index';
import { capture, specOptions, type BackupSummary } from './backup';

/** The store file's version of a store of storage format 1. */
export const V1_STORE_VERSION = 1;

/** Where a backup archive made before a format migration goes, inside the store directory. */
export const BACKUPS_DIR = 'backups';
/** The staging directory of a format migration, inside the store directory. */
export const MIGRATION_DIR = 'format-migration';
/** The journal of a format migration: while it exists, the staged files are being switched in. */
export const MIGRATION_JOURNAL = 'format-migration.json';
const JOURNAL_FORMAT = 'rondo-format-migration';

interface Journal {
  from: number;
  to: number;
  /** The staged files, in the order they are renamed into the store directory (the store file last). */
  files: string[];
}

// A hook the crash tests use to stop a migration at a known step (test/fixtures/format-migrate.js).
let stepHook: ((step: string) => void) | undefined;
/** @internal For tests: called at each step of a format migration, with its name. */
export function setFormatMigrationHook(f: ((step: string) => void) | undefined): void {
  stepHook = f;
}
const step = (name: string) => stepHook?.(name);

/** The refusal of a reader: only a writer migrates. */
export function migrationNeeded(dir: string): MigrationNeededError {
  const cut = fs.existsSync(path.join(dir, MIGRATION_JOURNAL)) ? ' (its migration was cut off after the new files were made: a writer\'s open finishes it)' : '';
  return new MigrationNeededError(
    `store ${dir} is in storage format 1${cut}; this rondo reads format ${format.formatVersion}, to which a writer's open migrates a store ` +
      '(once, in place): open it once with Store.open() (or any rondo command that writes to it), then read it',
  );
}

function readJournal(file: string): Journal | undefined {
  const body = readMetaFile(file, JOURNAL_FORMAT) as Partial<Journal> | undefined;
  if (body === undefined) return undefined;
  const names = body.files;
  if (
    typeof body.from !== 'number' ||
    typeof body.to !== 'number' ||
    !Array.isArray(names) ||
    names.length === 0 ||
    names[names.length - 1] !== STORE_FILE ||
    !names.every((f) => typeof f === 'string' && /^[a-zA-Z0-9_.-]+$/.test(f) && !f.startsWith('.'))
  )
    throw new CorruptFileError(`${file} is not a format migration's journal; remove it and the directory ${MIGRATION_DIR} beside it only if rondo.json is of version 1 and every slab of format 1`);
  if (body.to > format.formatVersion)
    throw new CorruptFileError(`${file} is the journal of a migration to storage format ${body.to}, newer than this rondo's ${format.formatVersion}, cut off part-way; open the store with that rondo to finish it`);
  return body as Journal;
}

/**
 * What a format migration cut off left in `dir` is finished or forgotten, before a writer reads
 * the store (it holds the lock): with the journal, the staged files not yet renamed are renamed
 * into place, the store file last (unless the store file is already of the migration's version:
 * then every staged file was switched in); without it, the staging directory is removed and the
 * store is as it was. Says which it did.
 */
export function finishFormatMigration(dir: string): 'none' | 'finished' | 'rolled back' {
  const journalFile = path.join(dir, MIGRATION_JOURNAL);
  const staging = path.join(dir, MIGRATION_DIR);
  const journal = readJournal(journalFile);
  let done: 'none' | 'finished' | 'rolled back' = 'none';
  if (journal !== undefined) {
    const version = readMetaFileVersioned(path.join(dir, STORE_FILE), 'rondo-store')?.version;
    if (version !== undefined && version < journal.to) switchIn(dir, staging, journal.files);
    fs.rmSync(journalFile, { force: true });
    fsyncDir(dir);
    done = 'finished';
  } else if (fs.existsSync(staging)) {
    done = 'rolled back';
  }
  fs.rmSync(`${journalFile}.tmp`, { force: true });
  fs.rmSync(staging, { recursive: true, force: true });
  // An archive a cut-off backup left half-written (a whole one is kept).
  let names: string[] = [];
  try {
    names = fs.readdirSync(path.join(dir, BACKUPS_DIR));
  } catch {
    // none made
  }
  for (const f of names) if (/^pre-migrate-v\d+-.*\.rbak\.tmp$/.test(f)) fs.rmSync(path.join(dir, BACKUPS_DIR, f), { force: true });
  return done;
}

/** Renames each staged file still in the staging directory over its namesake in `dir`. */
function switchIn(dir: string, staging: string, files: readonly string[]): void {
  for (const f of files) {
    try {
      fs.renameSync(path.join(staging, f), path.join(dir, f));
    } catch (e) {
      // Renamed already, by the open the crash cut off.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    step(`switched ${f}`);
  }
  fsyncDir(dir);
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

/** The default archive of a store of format `from` before its migration: `<dir>/backups/pre-migrate-v<from>-<UTC time>.rbak`. */
export function defaultMigrationBackup(dir: string, from: number, now = Date.now()): string {
  const time = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return path.join(dir, BACKUPS_DIR, `pre-migrate-v${from}-${time}.rbak`);
}

/**
 * Migrates the store in `dir` (its store file of version 1, read as `schemas`) to format 2: a
 * backup archive of it is written to `backup` (false: none), then every slab still of format 1
 * and the store file are made in the staging directory, then switched in (above). The caller
 * holds the store's lock. Returns the archive's summary, if one was written.
 */
export function migrateStore(
  dir: string,
  createdMs: number,
  schemas: readonly SchemaSpec[],
  fileMode: number,
  backup: string | false = defaultMigrationBackup(dir, V1_STORE_VERSION),
): BackupSummary | undefined {
  finishFormatMigration(dir);
  // Which columns are counters: a counter's consolidated cells keep its last value only.
  const kinds = new Map(schemas.map((s) => [s, new Uint8Array(s.maxSeries)]));
  for (const r of readSeriesIndex(path.join(dir, SERIES_FILE), 0, schemas, () => 0)) if (r.kind === 'counter') kinds.get(r.spec)![r.column] = 1;
  // First every slab an in-place migration (rondo's before the staging directory) cut off may
  // have made already: it must have the cells asked for now. Anything else but format 1 is left
  // to the open that follows: format 2 is what it reads, and it refuses the rest, saying why.
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
  const staging = path.join(dir, MIGRATION_DIR);
  fs.mkdirSync(staging, { mode: 0o700 });
  let summary: BackupSummary | undefined;
  try {
    if (backup !== false) {
      try {
        summary = backupV1(dir, createdMs, schemas, kinds, todo, backup, fileMode);
      } catch (e) {
        if (e instanceof Error && !(e instanceof CorruptFileError))
          e.message = `the backup of store ${dir} before its migration from storage format 1 failed, and the store is left as it was: ${e.message}; make room, or open it with backupBeforeMigrate set to a file elsewhere (or to false: no backup)`;
        throw e;
      }
      step('backed up');
    }
    for (const { spec, t, file } of todo) {
      try {
        // The file keeps its mode.
        const mode = fs.statSync(file).mode & 0o777;
        addon.migrateV1Slab(file, slabParams(spec, t, createdMs, mode), kinds.get(spec)!, path.join(staging, t.file));
      } catch (e) {
        throw nativeError(e, file);
      }
      step(`staged ${t.file}`);
    }
    writeStoreFile(staging, createdMs, schemas, fileMode);
    step(`staged ${STORE_FILE}`);
  } catch (e) {
    // The store is as it was: what was staged goes.
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  // The commit point: from here on, the next writer's open finishes the switch.
  const files = [...todo.map((x) => x.t.file), STORE_FILE];
  writeMetaFile(path.join(dir, MIGRATION_JOURNAL), JOURNAL_FORMAT, { from: V1_STORE_VERSION, to: format.formatVersion, files } satisfies Journal, fileMode);
  step('committed');
  switchIn(dir, staging, files);
  fs.rmSync(path.join(dir, MIGRATION_JOURNAL));
  fsyncDir(dir);
  step('journal removed');
  fs.rmSync(staging, { recursive: true, force: true });
  step('done');
  return summary;
}

/**
 * A backup archive of a store of format 1, written to `file`: its slabs migrated with every
 * aggregate as float64 (all format 1 kept: the archive restores a store that answers as format 1
 * did) into the staging directory's backup/, read as a store's slabs are, then removed.
 */
function backupV1(
  dir: string,
  createdMs: number,
  schemas: readonly SchemaSpec[],
  kinds: Map<SchemaSpec, Uint8Array>,
  todo: ReadonlyArray<{ spec: SchemaSpec; t: SchemaSpec['tiers'][number]; file: string }>,
  file: string,
  fileMode: number,
): BackupSummary {
  const work = path.join(dir, MIGRATION_DIR, 'backup');
  fs.mkdirSync(work, { mode: 0o700 });
  // Each consolidated tier keeps every aggregate as float64; but in a schema of which an earlier
  // rondo's in-place migration made some tiers already (read as they are), every tier is backed
  // up as the migration makes it (a coarser tier's aggregates must be made from the finer one's).
  const exact = normalizeSchemas(
    schemas.map((spec) => {
      const o = specOptions(spec);
      const partial = spec.tiers.some((t) => t.index > 0 && !todo.some((x) => x.spec === spec && x.t.index === t.index));
      if (partial) return o;
      return { ...o, tiers: o.tiers!.map((t, i) => (i > 0 ? { ...t, aggregates: AGGREGATIONS, precision: 'float64' as const } : t)) };
    }),
  );
  const opened: NativeSlab[] = [];
  try {
    const sources = exact.map((spec, si) => ({
      spec,
      slabs: spec.tiers.map((t) => {
        const old = path.join(dir, t.file);
        const pending = todo.find((x) => x.spec === schemas[si] && x.t.index === t.index);
        let src = old;
        if (pending !== undefined) {
          src = path.join(work, t.file);
          try {
            addon.migrateV1Slab(old, slabParams(spec, t, createdMs, 0o600), kinds.get(schemas[si]!)!, src);
          } catch (e) {
            throw nativeError(e, old);
          }
        }
        try {
          opened.push(new addon.Slab(src, 'ro'));
        } catch (e) {
          throw nativeError(e, src);
        }
        return opened[opened.length - 1]!;
      }),
    }));
    const series: SeriesRecord[] = readSeriesIndex(path.join(dir, SERIES_FILE), 0, schemas, () => 0).map((r) => ({
      name: r.name,
      labels: r.labels,
      kind: r.kind,
      schema: r.spec.name,
      column: r.column,
    }));
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const gen = capture(
      {
        dir,
        createdMs,
        isClosed: () => false,
        snapshot: () => ({ schemas: sources, series }),
        mapped: (f) => {
          try {
            return f();
          } catch (e) {
            throw nativeError(e, dir);
          }
        },
      },
      file,
    );
    for (;;) {
      const r = gen.next();
      if (r.done) {
        try {
          fs.chmodSync(file, fileMode);
        } catch {
          // the archive is written; its mode is the umask's
        }
        return r.value;
      }
    }
  } finally {
    for (const s of opened) s.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
