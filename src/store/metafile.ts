// Metadata files (schemas, series index, exporter cursors): JSON with a checksum, replaced
// atomically (temporary file, fsync, rename, fsync of the directory). Reading one never trusts
// it: whatever the bytes, the result is a body of the expected shape or a CorruptFileError.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptFileError, StorageError } from '../errors';

/** The envelope version written. Version 1 files (rondo 0.1's, storage format 1) are read too: their
 *  envelope is the same; a store file of version 1 marks a store still to migrate (migrate.ts). */
export const META_VERSION = 2;
const READ_VERSIONS: readonly number[] = [1, 2];
/** The store file (`rondo-store`) is also read in version 3: a store of storage format 3 (layout.ts, STORE_VERSION). */
const STORE_READ_VERSIONS: readonly number[] = [1, 2, 3];

/** Largest metadata file read: longer than any string Node can hold, so larger means damaged. */
export const MAX_META_BYTES = 512 * 1024 * 1024 - 64;

interface Envelope {
  format: string;
  version: number;
  crc32: number;
  body: unknown;
}

export function writeMetaFile(file: string, format: string, body: unknown, mode = 0o600, version = META_VERSION): void {
  const text = JSON.stringify(body);
  const envelope: Envelope = { format, version, crc32: crc32(text), body };
  const tmp = `${file}.tmp`;
  let renamed = false;
  try {
    // O_NOFOLLOW: a symlink planted at the temporary name must not make us truncate its target.
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
    try {
      fs.writeSync(fd, JSON.stringify(envelope) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    renamed = true;
    fsyncDir(path.dirname(file));
  } catch (e) {
    // The previous file stays in place; the temporary one goes, so it holds no space and the
    // next write starts clean. A failed fsync is not retried here: the caller is told.
    if (!renamed) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // never made, or the file system refuses even this (read-only): nothing more to do
      }
    }
    throw metaWriteError(file, e, renamed);
  }
}

/** A failure to write a metadata file, as a StorageError saying which file, why and what to do. */
function metaWriteError(file: string, e: unknown, renamed: boolean): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === undefined) return e instanceof Error ? e : new Error(String(e));
  const what =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'the disk is full: free space on it and try again'
      : code === 'EROFS'
        ? 'the file system is read-only: remount it read-write (and check the kernel log for why it went read-only) and try again'
        : code === 'EIO'
          ? 'the disk reported an I/O error: check the kernel log and the disk; what was written since the last good write may be lost'
          : `check the permissions and free space of ${path.dirname(file)}`;
  const state = renamed
    ? 'the new file is in place but its directory could not be synced, so a crash may bring back the previous one'
    : 'the previous file is left as it was';
  return new StorageError(`cannot write ${file} (${code}: ${(e as Error).message}); ${state}; ${what}`, { cause: e });
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and checks a metadata file; undefined if it does not exist. */
export function readMetaFile(file: string, format: string): unknown {
  return readMetaFileVersioned(file, format)?.body;
}

/** readMetaFile(), with the envelope's version (1 or 2). */
export function readMetaFileVersioned(file: string, format: string): { version: number; body: unknown } | undefined {
  const damaged = (why: string) =>
    new CorruptFileError(
      `${file} is damaged (${why}); restore it from a backup, or move the store directory aside and start a new one`,
    );
  const text = readText(file, damaged);
  if (text === undefined) return undefined;
  let env: Envelope;
  try {
    env = JSON.parse(text) as Envelope;
  } catch {
    throw damaged(text.length === 0 ? 'empty file' : 'not valid JSON, truncated or overwritten');
  }
  if (typeof env !== 'object' || env === null || env.format !== format)
    throw damaged(`not a ${format} file`);
  const versions = format === 'rondo-store' ? STORE_READ_VERSIONS : READ_VERSIONS;
  if (!versions.includes(env.version))
    throw damaged(`format version ${String(env.version)}, this rondo reads versions ${versions.join(', ')}`);
  let sum: number;
  try {
    sum = crc32(JSON.stringify(env.body));
  } catch {
    // A body nested deeper than the stack (JSON.parse takes it, JSON.stringify does not).
    throw damaged('nested too deeply');
  }
  if (sum !== env.crc32) throw damaged('checksum mismatch');
  const fault = BODY_CHECKS[format]?.(env.body);
  if (fault !== undefined) throw damaged(fault);
  return { version: env.version, body: env.body };
}

// Only a regular file is read, and never a FIFO or device that would block or never end.
function readText(file: string, damaged: (why: string) => CorruptFileError): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') throw damaged('a directory, not a file');
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw damaged('not a regular file');
    if (st.size > MAX_META_BYTES) throw damaged(`${st.size} bytes, larger than any metadata file rondo writes`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

// ---- the shape of each format's body (docs/storage-format.md) ----

type Check = (body: unknown) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The store file: what store.ts validates in depth (normalizeSchemas) must at least be there. */
const checkStore: Check = (body) => {
  if (!isObject(body)) return 'its body is not an object';
  if (typeof body.createdMs !== 'number' || !Number.isFinite(body.createdMs)) return 'createdMs is not a time';
  if (!Array.isArray(body.schemas) || body.schemas.length === 0) return 'it has no list of schemas';
  for (const [i, s] of body.schemas.entries()) {
    if (!isObject(s) || typeof s.name !== 'string' || !isObject(s.match) || !Array.isArray(s.tiers))
      return `schema ${i} is not a schema`;
    if (s.tiers.some((t) => !isObject(t))) return `schema ${i} has a tier that is not an object`;
  }
  return undefined;
};

/** The series index: each entry is checked against the schemas by store.ts. */
const checkSeries: Check = (body) => {
  if (!isObject(body) || !Array.isArray(body.series)) return 'it has no series list';
  for (const [i, r] of body.series.entries()) {
    if (!isObject(r) || typeof r.name !== 'string' || !isObject(r.labels) || typeof r.schema !== 'string' || !isCount(r.column))
      return `entry ${i} is not a series`;
  }
  return undefined;
};

/** An exporter's cursor: every number a count, every position a place in a ring. */
const checkExporter: Check = (body) => {
  if (!isObject(body)) return 'its body is not an object';
  if (!isCount(body.tier) || body.tier > 7) return 'tier is not a tier index';
  if (!isObject(body.positions)) return 'positions is not an object';
  for (const [schema, p] of Object.entries(body.positions)) {
    if (!isObject(p) || !isCount(p.k) || !isCount(p.col) || p.col > 1 << 20)
      return `the position of schema ${JSON.stringify(schema.slice(0, 64))} is not an interval and column`;
  }
  for (const key of ['lost', 'committedSamples', 'commits'] as const)
    if (!isCount(body[key])) return `${key} is not a count`;
  if (body.inflight !== undefined) {
    if (!isObject(body.inflight)) return 'inflight is not an object';
    for (const p of Object.values(body.inflight))
      if (!isObject(p) || !isCount(p.k) || !isCount(p.col) || p.col > 1 << 20) return 'an inflight end is not an interval and column';
  }
  if (!Array.isArray(body.stale)) return 'stale is not a list';
  for (const s of body.stale)
    if (!isObject(s) || !isCount(s.id) || typeof s.ts !== 'number' || !Number.isFinite(s.ts))
      return 'a stale marker is not a series and a time';
  return undefined;
};

const BODY_CHECKS: Readonly<Record<string, Check>> = {
  'rondo-store': checkStore,
  'rondo-series': checkSeries,
  'rondo-exporter': checkExporter,
};
