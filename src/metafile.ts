// Metadata files (schemas, series index): JSON with a checksum, replaced atomically
// (temporary file, fsync, rename, fsync of the directory).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptFileError } from './errors';

export const META_VERSION = 1;

interface Envelope {
  format: string;
  version: number;
  crc32: number;
  body: unknown;
}

export function writeMetaFile(file: string, format: string, body: unknown, mode = 0o600): void {
  const text = JSON.stringify(body);
  const envelope: Envelope = { format, version: META_VERSION, crc32: crc32(text), body };
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, JSON.stringify(envelope) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
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
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const damaged = (why: string) =>
    new CorruptFileError(
      `${file} is damaged (${why}); restore it from a backup, or move the store directory aside and start a new one`,
    );
  let env: Envelope;
  try {
    env = JSON.parse(text) as Envelope;
  } catch {
    throw damaged(text.length === 0 ? 'empty file' : 'not valid JSON, truncated or overwritten');
  }
  if (typeof env !== 'object' || env === null || env.format !== format)
    throw damaged(`not a ${format} file`);
  if (env.version !== META_VERSION)
    throw damaged(`format version ${String(env.version)}, this rondo reads version ${META_VERSION}`);
  if (crc32(JSON.stringify(env.body)) !== env.crc32) throw damaged('checksum mismatch');
  return env.body;
}
