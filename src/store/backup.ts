// Hot, consistent backups of a store (docs/backup-format.md): capture() reads every tier's rows
// through the slab's seqlock reads (readRows, as exporters do) while writers keep recording, and
// writes an archive of checksummed records holding codec chunks; readArchive() finds every intact
// record of an archive, however damaged; restoreArchives() rebuilds a store from a base archive
// and its incrementals; verifyArchives() checks them without restoring.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ConfigError, CorruptFileError, StoreClosedError } from '../errors';
import { codecByName, decodeChunk, encodeChunk, crc32, readChunkHeader, DEFAULT_CODEC, type Codec } from '../codec';
import { addon, format, type NativeEventRecord, type NativeEventRing, type NativeSlab } from './native';
import { AGGREGATIONS, normalizeSchemas, type SchemaOptions, type SchemaSpec } from './schema';
import { validateSeries, type SeriesKind } from './series';
import { formatSeries } from '../selector';
import { SERIES_FILE, STORE_FILE, writeStoreFile } from './layout';
import { fsyncDir } from './metafile';
import { EXPORTERS_DIR } from './exporter';
import { EVENTS_FILE } from './events';
import type { SeriesRecord } from './series-index';

/** The archive format's version (docs/backup-format.md). 2 added the event ring; 1 is still read. */
export const BACKUP_FORMAT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
export const BACKUP_MAGIC = 'RONDOBAK';
const FILE_HEADER_BYTES = 16;
const RECORD_SYNC = 'RBKR';
const RECORD_HEADER_BYTES = 16;
/** The largest record body an archive may hold (a chunk record is far smaller). */
const MAX_RECORD_BYTES = 1 << 30;
const RECORD = { manifest: 1, chunk: 2, end: 3, events: 4 } as const;
/** An events chunk: at most this many records, or this many bytes of them before compression. */
const EVENTS_CHUNK_RECORDS = 4096;
const EVENTS_CHUNK_BYTES = 1 << 20;
const EVENT_HEAD_BYTES = 28;
const EVENTS_CHUNK_HEAD_BYTES = 20;
const EVENTS_COMPRESSION = { raw: 0, deflate: 1 } as const;
const CHUNK_KEY_BYTES = 12;
/** Chunk fields: an aggregate's number (AGGREGATIONS), a raw value, or the rows a span holds. */
const FIELD_VALUE = 6;
const FIELD_ROWS = 7;
const FIELD_NAMES = [...AGGREGATIONS, 'value', 'rows'] as const;
/** The most cells one read of rows takes (rows × columns): bounds a backup's memory. */
const READ_CELLS = 1 << 19;
const MAX_CHUNK_ROWS = 4096;
const EMPTY_F32_BITS = 0x7ff80000;

export interface BackupOptions {
  /** An archive of this store (a full one or an incremental): only what is newer than its instant is written. */
  since?: string;
  /** The codec of the chunks (a registered name). Default gorilla. */
  codec?: string;
}

/** One tier's part of an archive: the interval numbers it covers and the slab's counters as of its instant. */
export interface BackupTier {
  schema: string;
  tier: number;
  intervalMs: number;
  /** Interval (or bucket) numbers [from, to] the archive holds rows of; empty when to < from. */
  from: number;
  to: number;
  /** The newest interval that had ended at asOfMs (tier 0), or the newest bucket consolidated (tiers 1…). */
  complete: number;
  head: number;
  cursor: number;
  claims: number;
  lateWrites: number;
  repairs: number;
  /** Rows per chunk. */
  chunkRows: number;
  /** Columns (series of the schema) the archive holds. */
  columns: number;
}

/** One events chunk as the manifest lists it: its records' ring positions and times. */
export interface BackupEventsChunk {
  j: number;
  records: number;
  /** Ring positions of its first and last record. */
  firstPos: number;
  lastPos: number;
  /** Times (ns, as decimal strings) of its first and last record. */
  firstNs: string;
  lastNs: string;
}

/** The event ring's part of an archive (format 2; null when the store has no ring). */
export interface BackupEvents {
  /** The ring's size in bytes, and its creation time. */
  size: number;
  createdMs: number;
  /** Ring positions at the instant: the oldest record read, and just past the newest published one. */
  tail: number;
  published: number;
  /** The position records were read from: tail, or for an incremental the base's published if later. */
  from: number;
  compression: keyof typeof EVENTS_COMPRESSION;
  chunks: BackupEventsChunk[];
}

export interface BackupManifest {
  format: 'rondo-backup';
  version: number;
  id: string;
  /** The id of the archive this one is incremental to, or null (a full archive). */
  base: string | null;
  asOfMs: number;
  codec: string;
  store: { createdMs: number; schemas: SchemaSpec[] };
  series: SeriesRecord[];
  /** Other metadata files of the store directory, verbatim: influx.json, exporters/<name>.json. */
  files: Record<string, string>;
  tiers: BackupTier[];
  /** The event ring (format 2; absent in format 1, null when the store has none). */
  events?: BackupEvents | null;
}

export interface BackupSummary {
  file: string;
  id: string;
  base: string | null;
  asOfMs: number;
  codec: string;
  chunks: number;
  points: number;
  bytes: number;
  series: number;
  files: string[];
  tiers: BackupTier[];
  /** Event records in the archive (0 when the store has no ring). */
  events: number;
}

/** What the Store hands capture(): its slabs and series as they are now. */
export interface BackupSource {
  dir: string;
  createdMs: number;
  isClosed(): boolean;
  /** Schemas with their slabs, and the series: taken together, in one turn of the event loop. */
  snapshot(): { schemas: Array<{ spec: SchemaSpec; slabs: NativeSlab[] }>; series: SeriesRecord[] };
  mapped<T>(f: () => T): T;
  /** The store's event ring, if it has one. */
  events?(): NativeEventRing | undefined;
}

// ---------------------------------------------------------------------------------------------
// Capture

function fieldsOf(tier: number, kind: SeriesKind, spec: SchemaSpec): number[] {
  if (tier === 0) return [FIELD_VALUE];
  if (kind === 'counter') return [AGGREGATIONS.indexOf('last')];
  return spec.tiers[tier]!.aggregates.map((a) => AGGREGATIONS.indexOf(a));
}

function chunkRowsFor(columns: number): number {
  return Math.max(16, Math.min(MAX_CHUNK_ROWS, Math.floor(READ_CELLS / Math.max(1, columns))));
}

class RecordWriter {
  private parts: Buffer[] = [];
  private pending = 0;
  bytes = 0;
  constructor(private readonly fd: number) {}
  put(type: number, body: Uint8Array): void {
    const head = Buffer.alloc(RECORD_HEADER_BYTES);
    head.write(RECORD_SYNC, 0, 'latin1');
    head[4] = type;
    head.writeUInt32LE(body.length, 8);
    head.writeUInt32LE(crc32(head.subarray(0, 12)), 12);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(crc32(body), 0);
    this.parts.push(head, Buffer.from(body.buffer, body.byteOffset, body.length), tail);
    this.pending += body.length + RECORD_HEADER_BYTES + 4;
    if (this.pending >= 1 << 20) this.flush();
  }
  raw(b: Buffer): void {
    this.parts.push(b);
    this.pending += b.length;
  }
  flush(): void {
    if (this.parts.length === 0) return;
    let off = 0;
    const all = Buffer.concat(this.parts, this.pending);
    while (off < all.length) off += fs.writeSync(this.fd, all, off, all.length - off);
    this.bytes += all.length;
    this.parts = [];
    this.pending = 0;
  }
}

function chunkKey(schema: number, tier: number, field: number, column: number, j: number): Buffer {
  const b = Buffer.alloc(CHUNK_KEY_BYTES);
  b.writeUInt16LE(schema, 0);
  b[2] = tier;
  b[3] = field;
  b.writeUInt32LE(column, 4);
  b.writeUInt32LE(j, 8);
  return b;
}

/** Reads the store directory's other metadata files: influx.json and the like, and exporter cursors. */
function metadataFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const read = (rel: string): void => {
    try {
      out[rel] = fs.readFileSync(path.join(dir, rel), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  };
  for (const f of fs.readdirSync(dir).sort())
    if (f.endsWith('.json') && f !== STORE_FILE && f !== SERIES_FILE && EXTRA_FILE_RE.test(f)) read(f);
  let names: string[] = [];
  try {
    names = fs.readdirSync(path.join(dir, EXPORTERS_DIR)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const f of names) if (EXTRA_FILE_RE.test(f) && f.endsWith('.json')) read(`${EXPORTERS_DIR}/${f}`);
  return out;
}
const EXTRA_FILE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The manifest of an archive: from its first record, or its end record when the first is damaged. */
export function readManifest(file: string): BackupManifest {
  const a = readArchive(fs.readFileSync(file), file);
  return a.manifest;
}

/**
 * Writes an archive of the store to `file` (through `file`.tmp, renamed into place when whole).
 * A generator: it yields between spans of rows, so an async caller can let the event loop run.
 */
export function* capture(src: BackupSource, file: string, options: BackupOptions = {}): Generator<void, BackupSummary> {
  if (typeof file !== 'string' || file === '') throw new ConfigError('backup: file must be a non-empty path string');
  if (typeof options !== 'object' || options === null) throw new ConfigError('backup: options must be an object');
  const codecName = options.codec ?? DEFAULT_CODEC;
  const codec: Codec = codecByName(codecName);
  let base: BackupManifest | undefined;
  if (options.since !== undefined) {
    if (typeof options.since !== 'string') throw new ConfigError('backup: since must be the path of an archive of this store');
    base = readManifest(options.since);
  }

  // One point: the instant, the series and schemas, the other metadata files and the counters
  // of every slab, in one turn of the event loop (nothing in this process records meanwhile).
  const asOfMs = Date.now();
  const snap = src.snapshot();
  const files = metadataFiles(src.dir);
  const specs = snap.schemas.map((s) => s.spec);
  if (base !== undefined) {
    if (JSON.stringify(base.store.schemas) !== JSON.stringify(specs) || base.store.createdMs !== src.createdMs)
      throw new ConfigError(`backup --since ${options.since}: that archive is of another store (or of its schemas before a migration); make a full backup`);
    if (base.asOfMs > asOfMs) throw new ConfigError(`backup --since ${options.since}: that archive is from the future (${new Date(base.asOfMs).toISOString()}); check the clock`);
  }
  const tiers: BackupTier[] = [];
  snap.schemas.forEach(({ spec, slabs }) => {
    const columns = snap.series.filter((r) => r.schema === spec.name).length;
    spec.tiers.forEach((t, i) => {
      const c = src.mapped(() => slabs[i]!.counters());
      let to: number;
      let complete: number;
      if (i === 0) {
        to = c.head;
        complete = Math.min(c.head, Math.floor(asOfMs / t.intervalMs) - 1);
      } else {
        to = c.cursor > 0 ? Math.min(c.head, c.cursor - 1) : 0;
        complete = to;
      }
      let from = Math.max(1, to - t.slots + 1);
      const b = base?.tiers.find((x) => x.schema === spec.name && x.tier === i);
      if (b !== undefined) from = Math.max(from, b.complete + 1);
      tiers.push({
        schema: spec.name,
        tier: i,
        intervalMs: t.intervalMs,
        from,
        to,
        complete,
        head: c.head,
        cursor: c.cursor,
        claims: c.claims,
        lateWrites: c.lateWrites,
        repairs: c.repairs,
        chunkRows: chunkRowsFor(columns),
        columns,
      });
    });
  });
  // The event ring, read whole at the instant through its reader (never a torn record): the
  // records published before it, from the base's position for an incremental.
  const ring = src.events?.();
  let evs: { meta: BackupEvents; bodies: Buffer[] } | null = null;
  if (ring !== undefined) {
    const compression = codec.name === 'raw' ? 'raw' : 'deflate';
    evs = src.mapped(() => readRingAtInstant(ring, base?.events ?? null, compression));
  }
  const manifest: BackupManifest = {
    format: 'rondo-backup',
    version: BACKUP_FORMAT_VERSION,
    id: crypto.randomBytes(12).toString('hex'),
    base: base?.id ?? null,
    asOfMs,
    codec: codec.name,
    store: { createdMs: src.createdMs, schemas: specs },
    series: snap.series,
    files,
    tiers,
    events: evs?.meta ?? null,
  };

  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  let done = false;
  try {
    const w = new RecordWriter(fd);
    const head = Buffer.alloc(FILE_HEADER_BYTES);
    head.write(BACKUP_MAGIC, 0, 'latin1');
    head.writeUInt32LE(BACKUP_FORMAT_VERSION, 8);
    w.raw(head);
    const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    w.put(RECORD.manifest, manifestBytes);
    let chunks = 0;
    let points = 0;
    for (let si = 0; si < snap.schemas.length; si++) {
      const { spec, slabs } = snap.schemas[si]!;
      const cols = snap.series.filter((r) => r.schema === spec.name);
      const kinds = new Uint8Array(Math.max(1, cols.length));
      cols.forEach((r) => (kinds[r.column] = r.kind === 'counter' ? 1 : 0));
      for (let ti = 0; ti < spec.tiers.length; ti++) {
        const bt = tiers.find((x) => x.schema === spec.name && x.tier === ti)!;
        const slab = slabs[ti]!;
        const ncols = cols.length;
        const R = bt.chunkRows;
        const iv = bt.intervalMs;
        // The aggregates to read, one readRows pass each: every kept one in a consolidated tier
        // with gauges; one pass otherwise (raw values; counters read their last value in any pass).
        const passes = ti === 0 || !cols.some((r) => r.kind === 'gauge') ? [AGGREGATIONS.indexOf('last')] : spec.tiers[ti]!.aggregates.map((a) => AGGREGATIONS.indexOf(a));
        const buf = new Float64Array(R * Math.max(1, ncols));
        const colBuf = new Float64Array(R * Math.max(1, ncols));
        const ts = new Float64Array(R);
        const vs = new Float64Array(R);
        for (let j = 0, k0 = bt.from; k0 <= bt.to; j++, k0 += R) {
          if (src.isClosed()) throw new StoreClosedError(`store ${src.dir} was closed during its backup to ${file}; the archive was not written`);
          const n = Math.min(R, bt.to - k0 + 1);
          const present = new Uint8Array(n);
          for (let p = 0; p < passes.length; p++) {
            const agg = passes[p]!;
            const found = src.mapped(() => slab.readRows(k0, n, ncols, agg, kinds, buf));
            if (p === 0) {
              // A row is there when any of its cells is; rows of all-missing cells are asked one by one.
              let seen = 0;
              for (let r = 0; r < n; r++) {
                for (let c = 0; c < ncols; c++)
                  if (!Number.isNaN(buf[r * ncols + c]!)) {
                    present[r] = 1;
                    seen++;
                    break;
                  }
              }
              if (found > seen) for (let r = 0; r < n; r++) if (present[r] === 0) present[r] = src.mapped(() => slab.readRows(k0 + r, 1, 0, agg, kinds, vs)) > 0 ? 1 : 0;
              let m = 0;
              for (let r = 0; r < n; r++) if (present[r] === 1) ts[m++] = (k0 + r) * iv;
              w.put(RECORD.chunk, withKey(chunkKey(si, ti, FIELD_ROWS, 0, j), encodeChunk(codec, ts.subarray(0, m), new Float64Array(m))));
              chunks++;
            }
            // Column by column from here: the span transposed in tiles (cache-friendly).
            transpose(buf, colBuf, n, ncols);
            for (const rec of cols) {
              const c = rec.column;
              const fields = fieldsOf(ti, rec.kind, spec);
              const field = ti === 0 ? FIELD_VALUE : rec.kind === 'counter' ? (p === 0 ? fields[0]! : -1) : agg;
              if (field < 0 || !fields.includes(field)) continue;
              let m = 0;
              const at = c * n;
              for (let r = 0; r < n; r++) {
                const v = colBuf[at + r]!;
                if (present[r] === 1 && !Number.isNaN(v)) {
                  ts[m] = (k0 + r) * iv;
                  vs[m++] = v;
                }
              }
              w.put(RECORD.chunk, withKey(chunkKey(si, ti, field, c, j), encodeChunk(codec, ts.subarray(0, m), vs.subarray(0, m))));
              chunks++;
              points += m;
            }
          }
          yield;
        }
      }
    }
    if (evs !== null) {
      for (const b of evs.bodies) w.put(RECORD.events, b);
      chunks += evs.bodies.length;
    }
    w.put(RECORD.end, Buffer.from(JSON.stringify({ ...manifest, end: { chunks, points } }), 'utf8'));
    w.flush();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    done = true;
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(path.resolve(file)));
    return {
      file,
      id: manifest.id,
      base: manifest.base,
      asOfMs,
      codec: codec.name,
      chunks,
      points,
      bytes: w.bytes,
      series: snap.series.length,
      files: Object.keys(files),
      tiers,
      events: evs === null ? 0 : evs.meta.chunks.reduce((n, c) => n + c.records, 0),
    };
  } catch (e) {
    if (!done) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never made, or renamed
    }
    throw e;
  }
}

/**
 * Reads the ring's records published before now (its `published` position), oldest first, from
 * the base archive's position when it holds the same ring, and packs them into events chunk
 * bodies: [j u32 | compression u8 | 3 reserved | count u32 | raw bytes u32 | CRC-32 of the raw
 * bytes u32 | payload], the raw bytes one record after another (eventBytes).
 */
function readRingAtInstant(ring: NativeEventRing, base: BackupEvents | null, compression: BackupEvents['compression']): { meta: BackupEvents; bodies: Buffer[] } {
  const st = ring.stats();
  const params = ring.params();
  const published = st.published;
  const from = base !== null && base.createdMs === params.createdMs && base.size === params.size ? Math.max(st.tail, base.published) : st.tail;
  const chunks: BackupEventsChunk[] = [];
  const bodies: Buffer[] = [];
  let parts: Buffer[] = [];
  let bytes = 0;
  let first: { pos: number; ts: bigint } | undefined;
  let lastRec: { pos: number; ts: bigint } | undefined;
  const close = (): void => {
    if (parts.length === 0) return;
    const raw = Buffer.concat(parts, bytes);
    const payload = compression === 'deflate' ? zlib.deflateRawSync(raw) : raw;
    const head = Buffer.alloc(EVENTS_CHUNK_HEAD_BYTES);
    head.writeUInt32LE(chunks.length, 0);
    head[4] = EVENTS_COMPRESSION[compression];
    head.writeUInt32LE(parts.length, 8);
    head.writeUInt32LE(raw.length, 12);
    head.writeUInt32LE(crc32(raw), 16);
    bodies.push(Buffer.concat([head, payload]));
    chunks.push({ j: chunks.length, records: parts.length, firstPos: first!.pos, lastPos: lastRec!.pos, firstNs: first!.ts.toString(), lastNs: lastRec!.ts.toString() });
    parts = [];
    bytes = 0;
    first = undefined;
  };
  const got: NativeEventRecord[] = [];
  let pos = from;
  for (;;) {
    const page = ring.read(pos, null, null, null, 65536);
    let more = false;
    for (const r of page.records) {
      if (r.pos >= published) break;
      more = true;
      got.push(r);
    }
    if (!more || page.records.length === 0 || page.next <= pos || page.records[page.records.length - 1]!.pos >= published) break;
    pos = page.next;
  }
  // A writer of another process or thread that laps the ring during the read overwrites records
  // the read had not reached yet: the reader skips them (never returning one torn), leaving a gap
  // after records it had read. The ring's tail after the read is past every record lost that way,
  // so the records from it on are a gapless run, as a ring holds them.
  const tail = Math.min(published, Math.max(st.tail, ring.stats().tail));
  for (const r of got) {
    if (r.pos < tail) continue;
    const b = eventBytes(r.pos, r.ts, r.topic, r.type, r.flags, r.data);
    if (parts.length >= EVENTS_CHUNK_RECORDS || (parts.length > 0 && bytes + b.length > EVENTS_CHUNK_BYTES)) close();
    first ??= { pos: r.pos, ts: r.ts };
    lastRec = { pos: r.pos, ts: r.ts };
    parts.push(b);
    bytes += b.length;
  }
  close();
  return { meta: { size: params.size, createdMs: params.createdMs, tail, published, from: Math.max(from, tail), compression, chunks }, bodies };
}

/** One record as an archive holds it: pos u64 | ts i64 | topic u32 | type u8 | flags u8 | 2 reserved | length u32 | data. */
function eventBytes(pos: number, ts: bigint, topic: number, type: number, flags: number, data: Buffer): Buffer {
  const b = Buffer.alloc(EVENT_HEAD_BYTES + data.length);
  b.writeBigUInt64LE(BigInt(pos), 0);
  b.writeBigInt64LE(ts, 8);
  b.writeUInt32LE(topic, 16);
  b[20] = type;
  b[21] = flags;
  b.writeUInt32LE(data.length, 24);
  data.copy(b, EVENT_HEAD_BYTES);
  return b;
}

interface ArchivedEvent {
  pos: number;
  ts: bigint;
  topic: number;
  type: number;
  flags: number;
  data: Buffer;
}

/** An events chunk's records, checked against what the manifest says of it; CorruptFileError when they do not fit. */
function eventsOfChunk(body: Uint8Array, c: BackupEventsChunk, ev: BackupEvents): ArchivedEvent[] {
  const b = Buffer.from(body.buffer, body.byteOffset, body.length);
  if (b.length < EVENTS_CHUNK_HEAD_BYTES) throw new CorruptFileError('the events chunk is shorter than its header');
  const count = b.readUInt32LE(8);
  const rawLen = b.readUInt32LE(12);
  if (count !== c.records) throw new CorruptFileError(`the events chunk holds ${count} records, the manifest says ${c.records}`);
  if (rawLen > EVENTS_CHUNK_BYTES + EVENT_HEAD_BYTES + (1 << 26)) throw new CorruptFileError(`the events chunk says ${rawLen} bytes`);
  const payload = b.subarray(EVENTS_CHUNK_HEAD_BYTES);
  let raw: Buffer;
  if (b[4] === EVENTS_COMPRESSION.raw) raw = payload;
  else if (b[4] === EVENTS_COMPRESSION.deflate) {
    try {
      raw = zlib.inflateRawSync(payload, { maxOutputLength: Math.max(1, rawLen) });
    } catch (e) {
      throw new CorruptFileError(`the events chunk does not inflate: ${(e as Error).message}`);
    }
  } else throw new CorruptFileError(`the events chunk's compression ${b[4]} is unknown`);
  if (raw.length !== rawLen || crc32(raw) !== b.readUInt32LE(16)) throw new CorruptFileError('the events chunk fails its checksum');
  const out: ArchivedEvent[] = [];
  let o = 0;
  let prev = -1;
  while (o < raw.length) {
    if (o + EVENT_HEAD_BYTES > raw.length) throw new CorruptFileError(`record ${out.length} of the events chunk is cut short`);
    const len = raw.readUInt32LE(o + 24);
    if (o + EVENT_HEAD_BYTES + len > raw.length) throw new CorruptFileError(`record ${out.length} of the events chunk is cut short`);
    const pos = Number(raw.readBigUInt64LE(o));
    if (pos <= prev || pos < ev.from || pos >= ev.published || pos < c.firstPos || pos > c.lastPos) throw new CorruptFileError(`record ${out.length} of the events chunk is at position ${pos}, outside the chunk's`);
    prev = pos;
    out.push({ pos, ts: raw.readBigInt64LE(o + 8), topic: raw.readUInt32LE(o + 16), type: raw[o + 20]!, flags: raw[o + 21]!, data: Buffer.from(raw.subarray(o + EVENT_HEAD_BYTES, o + EVENT_HEAD_BYTES + len)) });
    o += EVENT_HEAD_BYTES + len;
  }
  if (out.length !== count) throw new CorruptFileError(`the events chunk holds ${out.length} records, its header says ${count}`);
  return out;
}

function eventsChunkName(c: BackupEventsChunk): string {
  const t = (ns: string): string => new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
  return `events ${c.records} records, ${t(c.firstNs)} to ${t(c.lastNs)} (events chunk ${c.j})`;
}

/** Row-major [n][ncols] into column-major [ncols][n], a 32 × 32 tile at a time. */
function transpose(src: Float64Array, dst: Float64Array, n: number, ncols: number): void {
  const T = 32;
  for (let r0 = 0; r0 < n; r0 += T) {
    const r1 = Math.min(n, r0 + T);
    for (let c0 = 0; c0 < ncols; c0 += T) {
      const c1 = Math.min(ncols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const row = r * ncols;
        for (let c = c0; c < c1; c++) dst[c * n + r] = src[row + c]!;
      }
    }
  }
}

function withKey(key: Buffer, chunk: Uint8Array): Buffer {
  return Buffer.concat([key, chunk]);
}

// ---------------------------------------------------------------------------------------------
// Reading an archive

interface ChunkRecord {
  schema: number;
  tier: number;
  field: number;
  column: number;
  j: number;
  /** The codec chunk (frame and all). */
  bytes: Uint8Array;
  at: number;
}

export interface ParsedArchive {
  file: string;
  manifest: BackupManifest;
  /** Intact chunk records, in file order. */
  chunks: ChunkRecord[];
  /** Intact events chunk records' bodies, by chunk number (the first of each number found). */
  events: Map<number, { body: Uint8Array; at: number }>;
  /** Damage found while reading: unreadable byte ranges, records whose checksum fails. */
  problems: string[];
  /** The end record was found: the archive was written whole. */
  complete: boolean;
  end?: { chunks: number; points: number };
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Every intact record of an archive. A damaged manifest falls back on the copy in the end record;
 * with neither, or with the bytes of something that is not an archive, CorruptFileError.
 */
export function readArchive(bytes: Uint8Array, file: string): ParsedArchive {
  const problems: string[] = [];
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let pos = FILE_HEADER_BYTES;
  if (buf.length < FILE_HEADER_BYTES || buf.toString('latin1', 0, 8) !== BACKUP_MAGIC) {
    if (buf.indexOf(RECORD_SYNC, 0, 'latin1') < 0) throw new CorruptFileError(`${file} is not a rondo backup archive (no ${BACKUP_MAGIC} header and no records)`);
    problems.push(`the file header (bytes 0-15) is damaged`);
    pos = 0;
  } else {
    const v = buf.readUInt32LE(8);
    if (!READABLE_VERSIONS.includes(v)) throw new CorruptFileError(`${file} is a backup archive of format version ${v}; this rondo reads versions ${READABLE_VERSIONS.join(' and ')}`);
  }
  let manifest: unknown;
  let endBody: unknown;
  const chunks: ChunkRecord[] = [];
  const events = new Map<number, { body: Uint8Array; at: number }>();
  let badFrom = -1;
  const noteBad = (upTo: number): void => {
    if (badFrom >= 0) problems.push(`bytes ${badFrom}-${upTo - 1} are not a readable record`);
    badFrom = -1;
  };
  while (pos < buf.length) {
    const ok = pos + RECORD_HEADER_BYTES <= buf.length && buf.toString('latin1', pos, pos + 4) === RECORD_SYNC && buf.readUInt32LE(pos + 12) === crc32(buf.subarray(pos, pos + 12));
    if (!ok) {
      if (badFrom < 0) badFrom = pos;
      const next = buf.indexOf(RECORD_SYNC, pos + 1, 'latin1');
      pos = next < 0 ? buf.length : next;
      continue;
    }
    const type = buf[pos + 4]!;
    const len = buf.readUInt32LE(pos + 8);
    const end = pos + RECORD_HEADER_BYTES + len + 4;
    if (len > MAX_RECORD_BYTES || end > buf.length) {
      noteBad(pos);
      problems.push(`the record at byte ${pos} says ${len} bytes, but the file ends ${buf.length - pos - RECORD_HEADER_BYTES} bytes later (cut short)`);
      const next = buf.indexOf(RECORD_SYNC, pos + 1, 'latin1');
      pos = next < 0 ? buf.length : next;
      continue;
    }
    noteBad(pos);
    const body = buf.subarray(pos + RECORD_HEADER_BYTES, pos + RECORD_HEADER_BYTES + len);
    const sum = buf.readUInt32LE(end - 4);
    if (sum !== crc32(body)) {
      problems.push(`the ${type === RECORD.chunk ? 'chunk' : type === RECORD.manifest ? 'manifest' : type === RECORD.end ? 'end' : `type-${type}`} record at byte ${pos} fails its checksum (stored ${hex(sum)})`);
      pos = end;
      continue;
    }
    if (type === RECORD.manifest || type === RECORD.end) {
      try {
        const j: unknown = JSON.parse(body.toString('utf8'));
        if (type === RECORD.manifest) manifest ??= j;
        else endBody = j;
      } catch {
        problems.push(`the ${type === RECORD.manifest ? 'manifest' : 'end'} record at byte ${pos} is not JSON`);
      }
    } else if (type === RECORD.events && len >= EVENTS_CHUNK_HEAD_BYTES) {
      const j = body.readUInt32LE(0);
      if (!events.has(j)) events.set(j, { body, at: pos });
    } else if (type === RECORD.chunk && len >= CHUNK_KEY_BYTES) {
      chunks.push({
        schema: body.readUInt16LE(0),
        tier: body[2]!,
        field: body[3]!,
        column: body.readUInt32LE(4),
        j: body.readUInt32LE(8),
        bytes: body.subarray(CHUNK_KEY_BYTES),
        at: pos,
      });
    } else {
      problems.push(`the record at byte ${pos} is of an unknown type ${type}`);
    }
    pos = end;
  }
  noteBad(buf.length);
  let m: BackupManifest | undefined;
  let why = 'it has no manifest record';
  for (const cand of [manifest, endBody]) {
    if (cand === undefined) continue;
    try {
      m = checkManifest(cand);
      break;
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (m === undefined) throw new CorruptFileError(`${file}: the archive's manifest is damaged in both copies (${why}); nothing can be restored from it`);
  const e = (endBody as { end?: { chunks?: unknown; points?: unknown } } | undefined)?.end;
  const endOk = e !== undefined && typeof e.chunks === 'number' && typeof e.points === 'number' && (endBody as { id?: unknown }).id === m.id;
  if (!endOk) problems.push('the end record is missing or damaged: the archive may be cut short');
  return { file, manifest: m, chunks, events, problems, complete: endOk, end: endOk ? { chunks: e.chunks as number, points: e.points as number } : undefined };
}

const isInt = (v: unknown, lo = 0, hi = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi;

/** The manifest's shape, every field checked (a hostile archive can say anything). */
function checkManifest(x: unknown): BackupManifest {
  const bad = (what: string): never => {
    throw new CorruptFileError(`manifest: ${what}`);
  };
  if (typeof x !== 'object' || x === null) bad('not an object');
  const m = x as Record<string, unknown>;
  if (m.format !== 'rondo-backup') bad('not a rondo-backup manifest');
  if (!READABLE_VERSIONS.includes(m.version as number)) bad(`version ${String(m.version)}, this rondo reads ${READABLE_VERSIONS.join(' and ')}`);
  if (typeof m.id !== 'string' || !/^[0-9a-f]{24}$/.test(m.id)) bad('bad id');
  if (m.base !== null && (typeof m.base !== 'string' || !/^[0-9a-f]{24}$/.test(m.base))) bad('bad base');
  if (!isInt(m.asOfMs)) bad('bad asOfMs');
  if (typeof m.codec !== 'string') bad('bad codec');
  const store = m.store as { createdMs?: unknown; schemas?: unknown } | undefined;
  if (typeof store !== 'object' || store === null || !isInt(store.createdMs) || !Array.isArray(store.schemas)) bad('bad store');
  let specs: SchemaSpec[] = [];
  try {
    specs = normalizeSchemas((store!.schemas as SchemaSpec[]).map(specOptions));
  } catch (e) {
    bad(`schemas: ${(e as Error).message}`);
  }
  if (JSON.stringify(specs) !== JSON.stringify(store!.schemas)) bad('schemas are not in their normalized form');
  if (!Array.isArray(m.series)) bad('no series list');
  const taken = new Map<string, number>();
  const series = (m.series as unknown[]).map((r0, id): SeriesRecord => {
    const r = r0 as Partial<SeriesRecord>;
    let labels: Record<string, string> = {};
    try {
      labels = validateSeries(r?.name as string, r?.labels);
    } catch (e) {
      bad(`series ${id}: ${(e as Error).message}`);
    }
    const spec = specs.find((s) => s.name === r?.schema);
    const col = spec === undefined ? -1 : (taken.get(spec.name) ?? 0);
    if (spec === undefined || r.column !== col || col >= spec.maxSeries || (r.kind !== 'gauge' && r.kind !== 'counter')) bad(`series ${id} does not fit the schemas`);
    taken.set(spec!.name, col + 1);
    return { name: r.name as string, labels, kind: r.kind as SeriesKind, schema: spec!.name, column: col };
  });
  const files = m.files as Record<string, unknown>;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) bad('bad files');
  for (const [k, v] of Object.entries(files)) if (!extraFileOk(k) || typeof v !== 'string') bad(`bad file entry ${JSON.stringify(k)}`);
  if (!Array.isArray(m.tiers)) bad('no tiers');
  const tiers = m.tiers as BackupTier[];
  const want = specs.flatMap((s) => s.tiers.map((t) => ({ s, t })));
  if (tiers.length !== want.length) bad('tiers do not match the schemas');
  tiers.forEach((bt, i) => {
    const { s, t } = want[i]!;
    if (typeof bt !== 'object' || bt === null || bt.schema !== s.name || bt.tier !== t.index || bt.intervalMs !== t.intervalMs) bad(`tier ${i} does not match the schemas`);
    for (const k of ['from', 'to', 'complete', 'head', 'cursor', 'claims', 'lateWrites', 'repairs'] as const) if (!isInt(bt[k])) bad(`tier ${i}: bad ${k}`);
    if (!isInt(bt.chunkRows, 1, MAX_CHUNK_ROWS) || bt.columns !== (taken.get(s.name) ?? 0)) bad(`tier ${i}: bad chunkRows or columns`);
    if (bt.from < 1 || (bt.to >= bt.from && bt.to - bt.from >= t.slots)) bad(`tier ${i}: window [${bt.from}, ${bt.to}] does not fit the ring`);
  });
  let events: BackupEvents | null = null;
  if (m.version === 1 && m.events !== undefined) bad('a version 1 manifest has no events');
  if (m.events !== undefined && m.events !== null) {
    const e = m.events as Partial<BackupEvents>;
    if (typeof e !== 'object' || !isInt(e.size, 4096, 2 ** 40) || !isInt(e.createdMs) || !isInt(e.tail) || !isInt(e.published) || !isInt(e.from)) bad('events: bad size or positions');
    if (e.from! > e.published! || e.tail! > e.published! || e.published! - e.tail! > e.size!) bad('events: positions do not fit the ring');
    if (e.compression !== 'raw' && e.compression !== 'deflate') bad('events: bad compression');
    if (!Array.isArray(e.chunks)) bad('events: no chunk list');
    let prev = -1;
    e.chunks!.forEach((c, j) => {
      if (typeof c !== 'object' || c === null || c.j !== j || !isInt(c.records, 1, EVENTS_CHUNK_RECORDS) || !isInt(c.firstPos) || !isInt(c.lastPos)) bad(`events chunk ${j}: bad entry`);
      if (c.firstPos <= prev || c.lastPos < c.firstPos || c.firstPos < e.from! || c.lastPos >= e.published!) bad(`events chunk ${j}: positions out of order`);
      if (typeof c.firstNs !== 'string' || typeof c.lastNs !== 'string' || !/^-?[0-9]{1,19}$/.test(c.firstNs) || !/^-?[0-9]{1,19}$/.test(c.lastNs)) bad(`events chunk ${j}: bad times`);
      prev = c.lastPos;
    });
    events = { size: e.size!, createdMs: e.createdMs!, tail: e.tail!, published: e.published!, from: e.from!, compression: e.compression!, chunks: e.chunks!.map((c) => ({ ...c })) };
  }
  return { ...(m as unknown as BackupManifest), series, store: { createdMs: store!.createdMs as number, schemas: specs }, files: files as Record<string, string>, events };
}

function extraFileOk(name: string): boolean {
  const parts = name.split('/');
  if (parts.length === 2 && parts[0] === EXPORTERS_DIR) return EXTRA_FILE_RE.test(parts[1]!) && name.endsWith('.json');
  return parts.length === 1 && EXTRA_FILE_RE.test(name) && name.endsWith('.json') && name !== STORE_FILE && name !== SERIES_FILE;
}

/** A normalized schema back as the options that make it. */
export function specOptions(s: SchemaSpec): SchemaOptions {
  return {
    name: s.name,
    match: s.match,
    maxSeries: s.maxSeries,
    tiers: s.tiers.map((t, i) => ({
      interval: t.intervalMs,
      retention: t.retentionMs,
      consolidate: t.consolidate,
      xff: t.xff,
      ...(i === 0 ? {} : { aggregates: t.aggregates, precision: t.precision }),
    })),
  };
}

/** Every chunk an archive's manifest says it holds, by key, with its rows. */
function expectedChunks(m: BackupManifest): Map<string, { name: string; si: number; ti: number; field: number; column: number; j: number; k0: number; k1: number }> {
  const out = new Map<string, { name: string; si: number; ti: number; field: number; column: number; j: number; k0: number; k1: number }>();
  const specs = m.store.schemas;
  let ti0 = 0;
  specs.forEach((spec, si) => {
    const cols = m.series.filter((r) => r.schema === spec.name);
    spec.tiers.forEach((_t, ti) => {
      const bt = m.tiers[ti0 + ti]!;
      for (let j = 0, k0 = bt.from; k0 <= bt.to; j++, k0 += bt.chunkRows) {
        const k1 = Math.min(bt.to, k0 + bt.chunkRows - 1);
        const span = `${new Date(k0 * bt.intervalMs).toISOString()} to ${new Date((k1 + 1) * bt.intervalMs).toISOString()}`;
        out.set(keyString(si, ti, FIELD_ROWS, 0, j), { name: `schema ${spec.name} tier ${ti} rows, ${span} (chunk ${j})`, si, ti, field: FIELD_ROWS, column: 0, j, k0, k1 });
        for (const r of cols)
          for (const f of fieldsOf(ti, r.kind, spec))
            out.set(keyString(si, ti, f, r.column, j), {
              name: `schema ${spec.name} tier ${ti} ${formatSeries(r.name, r.labels)} ${FIELD_NAMES[f]}, ${span} (chunk ${j})`,
              si,
              ti,
              field: f,
              column: r.column,
              j,
              k0,
              k1,
            });
      }
    });
    ti0 += spec.tiers.length;
  });
  return out;
}

const keyString = (si: number, ti: number, field: number, column: number, j: number): string => `${si}/${ti}/${field}/${column}/${j}`;

/** A chunk's points, checked against the rows it covers; CorruptFileError when they do not fit. */
function chunkPoints(c: ChunkRecord, k0: number, k1: number, iv: number): { ks: Float64Array; values: Float64Array } {
  // At most one point a row: a count beyond that is damage, refused before any codec allocates for it.
  const count = readChunkHeader(c.bytes, 0).count;
  if (count > k1 - k0 + 1) throw new CorruptFileError(`the chunk says ${count} points, more than its ${k1 - k0 + 1} rows`);
  const d = decodeChunk(c.bytes);
  const ks = new Float64Array(d.timestamps.length);
  let prev = -1;
  for (let i = 0; i < ks.length; i++) {
    const k = d.timestamps[i]! / iv;
    if (!Number.isInteger(k) || k < k0 || k > k1 || k <= prev) throw new CorruptFileError(`point ${i} at ${d.timestamps[i]} is not one of the chunk's intervals`);
    ks[i] = prev = k;
  }
  return { ks, values: d.values };
}

// ---------------------------------------------------------------------------------------------
// Verify

export interface VerifyReport {
  file: string;
  id: string;
  base: string | null;
  asOfMs: number;
  codec: string;
  series: number;
  chunks: number;
  intactChunks: number;
  points: number;
  /** Event records in the intact events chunks. */
  events: number;
  /** Chunks the manifest lists that are damaged or missing, by name. */
  damaged: string[];
  /** Other damage: unreadable bytes, records that fail their checksum, a missing end record. */
  problems: string[];
}

/** An archive's events chunks, decoded and checked: the records of the intact ones, the names of the others. */
function checkEventsChunks(a: ParsedArchive): { records: ArchivedEvent[]; intact: number; damaged: string[]; problems: string[] } {
  const ev = a.manifest.events;
  const records: ArchivedEvent[] = [];
  const damaged: string[] = [];
  const problems: string[] = [];
  let intact = 0;
  if (ev === null || ev === undefined) {
    if (a.events.size > 0) problems.push(`${a.events.size} events chunk records that the manifest does not list`);
    return { records, intact, damaged, problems };
  }
  for (const c of ev.chunks) {
    const got = a.events.get(c.j);
    if (got === undefined) {
      damaged.push(eventsChunkName(c));
      continue;
    }
    try {
      records.push(...eventsOfChunk(got.body, c, ev));
      intact++;
    } catch (err) {
      damaged.push(eventsChunkName(c));
      problems.push(`${eventsChunkName(c)}: ${(err as Error).message}`);
    }
  }
  for (const j of a.events.keys()) if (j >= ev.chunks.length) problems.push(`the events chunk record at byte ${a.events.get(j)!.at} (${j}) is not one the manifest lists`);
  return { records, intact, damaged, problems };
}

/** Checks an archive without restoring it: every chunk decoded and checked against its rows. */
export function verifyArchive(file: string): VerifyReport {
  const a = readArchive(readArchiveFile(file), file);
  const expected = expectedChunks(a.manifest);
  const intact = new Set<string>();
  let points = 0;
  const problems = [...a.problems];
  for (const c of a.chunks) {
    const key = keyString(c.schema, c.tier, c.field, c.column, c.j);
    const e = expected.get(key);
    if (e === undefined) {
      problems.push(`the chunk record at byte ${c.at} (${key}) is not one the manifest lists`);
      continue;
    }
    if (intact.has(key)) continue;
    try {
      const bt = a.manifest.tiers.find((t) => t.schema === a.manifest.store.schemas[e.si]!.name && t.tier === e.ti)!;
      const p = chunkPoints(c, e.k0, e.k1, bt.intervalMs);
      if (e.field !== FIELD_ROWS) points += p.ks.length;
      intact.add(key);
    } catch (err) {
      problems.push(`${e.name}: ${(err as Error).message}`);
    }
  }
  const damaged = [...expected].filter(([k]) => !intact.has(k)).map(([, e]) => e.name);
  const m = a.manifest;
  const ev = checkEventsChunks(a);
  damaged.push(...ev.damaged);
  problems.push(...ev.problems);
  const evChunks = m.events?.chunks.length ?? 0;
  return { file, id: m.id, base: m.base, asOfMs: m.asOfMs, codec: m.codec, series: m.series.length, chunks: expected.size + evChunks, intactChunks: intact.size + ev.intact, points, events: ev.records.length, damaged, problems };
}

function readArchiveFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${file}: no such archive`);
    if (code === 'ERR_FS_FILE_TOO_LARGE' || code === 'ERR_BUFFER_TOO_LARGE') throw new CorruptFileError(`${file} is larger than this rondo reads at once`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Restore

export interface RestoreOptions {
  /** Mode of the new store directory. Default 0o700. */
  dirMode?: number;
  /** Mode of its files. Default 0o600. */
  fileMode?: number;
}

export interface RestoreReport {
  dir: string;
  /** The instant the restored store is as of: the last archive's. */
  asOfMs: number;
  archives: Array<{ file: string; id: string; base: string | null; asOfMs: number }>;
  chunks: number;
  restoredChunks: number;
  points: number;
  series: number;
  files: string[];
  /** Event records restored into the new store's ring (0 when the archive has no ring). */
  events: number;
  /** Chunks that could not be restored (damaged or missing), by name; empty when all were. */
  damaged: string[];
  problems: string[];
}

/** Creates the store of a manifest in `dir` (empty): schemas, series, the store file's creation time. */
type OpenStore = (dir: string, schemas: SchemaOptions[], dirMode: number, fileMode: number) => { register(series: SeriesRecord[]): Array<{ schema: string; column: number }>; close(): void };

/**
 * Rebuilds a store in `dir` (which must not exist, or be empty) from a full archive and the
 * incrementals made after it, in order. Every intact chunk is restored; the damaged and missing
 * ones are named in the report (restore does not throw for them).
 */
export function restoreArchives(files: readonly string[], dir: string, options: RestoreOptions, openStore: OpenStore, validate: (dir: string) => void): RestoreReport {
  if (!Array.isArray(files) || files.length === 0 || files.some((f) => typeof f !== 'string' || f === ''))
    throw new ConfigError('restore: give one or more archive files: a full backup, then its incrementals in order');
  if (typeof dir !== 'string' || dir === '') throw new ConfigError('restore: the store directory must be a non-empty path');
  const dirMode = options.dirMode ?? 0o700;
  const fileMode = options.fileMode ?? 0o600;
  const archives = files.map((f) => readArchive(readArchiveFile(f), f));
  archives.forEach((a, i) => {
    const m = a.manifest;
    if (i === 0 && m.base !== null)
      throw new ConfigError(`restore: ${a.file} is an incremental archive (made --since ${m.base}); give its full archive first, then the incrementals in order`);
    if (i > 0) {
      const prev = archives[i - 1]!.manifest;
      if (m.base !== prev.id)
        throw new ConfigError(`restore: ${a.file} is not the incremental made --since ${archives[i - 1]!.file} (it follows archive ${m.base ?? 'none: it is a full one'}); give the archives in the order they were made`);
      if (JSON.stringify(m.store) !== JSON.stringify(prev.store)) throw new CorruptFileError(`restore: ${a.file} is of a store with other schemas than ${archives[i - 1]!.file}`);
    }
  });
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory() || fs.readdirSync(target).length > 0)
      throw new ConfigError(`restore: ${target} exists and is not an empty directory; restore into a new directory`);
  }
  const last = archives[archives.length - 1]!.manifest;
  const specs = last.store.schemas;
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.restore-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const damaged: string[] = [];
  const problems: string[] = [];
  let chunks = 0;
  let restoredChunks = 0;
  let points = 0;
  let events = 0;
  try {
    const s = openStore(tmp, specs.map(specOptions), dirMode, fileMode);
    try {
      const got = s.register(last.series);
      got.forEach((g, i) => {
        const r = last.series[i]!;
        if (g.schema !== r.schema || g.column !== r.column) throw new CorruptFileError(`restore: series ${i} (${r.name}) lands in schema ${g.schema} column ${g.column}, not ${r.schema} column ${r.column}`);
      });
    } finally {
      s.close();
    }
    writeStoreFile(tmp, last.store.createdMs, specs, fileMode);

    const expectedOf = archives.map((a) => expectedChunks(a.manifest));
    let tierIndex = 0;
    specs.forEach((spec, si) => {
      spec.tiers.forEach((t, ti) => {
        const slab = new addon.Slab(path.join(tmp, t.file), 'rw');
        try {
          const r = restoreTier(slab, spec, si, ti, tierIndex + ti, archives, expectedOf);
          chunks += r.chunks;
          restoredChunks += r.restored;
          points += r.points;
          damaged.push(...r.damaged);
          problems.push(...r.problems);
          slab.flush();
        } finally {
          slab.close();
        }
      });
      tierIndex += spec.tiers.length;
    });
    for (const a of archives) for (const p of a.problems) problems.push(`${a.file}: ${p}`);
    // The event ring: the records of every archive that the last one's ring still held at its
    // instant (positions from its tail), in ring order, appended to a new ring of the same size.
    const lastEv = last.events;
    if (lastEv !== null && lastEv !== undefined) {
      const byPos = new Map<number, ArchivedEvent>();
      for (const a of archives) {
        const r = checkEventsChunks(a);
        chunks += a.manifest.events?.chunks.length ?? 0;
        restoredChunks += r.intact;
        for (const d of r.damaged) damaged.push(`${a.file}: ${d}`);
        for (const p of r.problems) problems.push(`${a.file}: ${p}`);
        const ev = a.manifest.events;
        if (ev === null || ev === undefined || ev.createdMs !== lastEv.createdMs || ev.size !== lastEv.size) continue;
        for (const e of r.records) if (e.pos >= lastEv.tail && e.pos < lastEv.published) byPos.set(e.pos, e);
      }
      const ring = new addon.EventRing(path.join(tmp, EVENTS_FILE), 'create', { size: lastEv.size, createdMs: lastEv.createdMs, fileMode });
      try {
        for (const e of [...byPos.values()].sort((x, y) => x.pos - y.pos)) {
          ring.append(e.topic, e.type | (e.flags << 8), e.data, e.ts);
          events++;
        }
        ring.flush();
      } finally {
        ring.close();
      }
    }
    for (const [name, text] of Object.entries(last.files)) {
      const to = path.join(tmp, ...name.split('/'));
      fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
      fs.writeFileSync(to, text, { mode: fileMode });
    }
    validate(tmp);
    fsyncDir(tmp);
    if (fs.existsSync(target)) fs.rmdirSync(target);
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return {
    dir: target,
    asOfMs: last.asOfMs,
    archives: archives.map((a) => ({ file: a.file, id: a.manifest.id, base: a.manifest.base, asOfMs: a.manifest.asOfMs })),
    chunks,
    restoredChunks,
    points,
    series: last.series.length,
    files: Object.keys(last.files),
    events,
    damaged,
    problems,
  };
}

/**
 * One tier of the new store, written straight into its slab (the store is closed, nothing else
 * maps it): archive by archive, the rows of its window are cleared, then its rows made (stamp or
 * tag, every cell empty) and its points stored. A row of a later archive replaces an earlier one;
 * two intervals of one slot keep the newer, as the ring does.
 */
function restoreTier(
  slab: NativeSlab,
  spec: SchemaSpec,
  si: number,
  ti: number,
  tierIndex: number,
  archives: ParsedArchive[],
  expectedOf: Array<ReturnType<typeof expectedChunks>>,
): { chunks: number; restored: number; points: number; damaged: string[]; problems: string[] } {
  const p = slab.params();
  const ab = slab.buffer();
  const dv = new DataView(ab);
  const hb = format.headerBytes;
  const consolidated = ti > 0;
  const rowBytes = p.rowBytes;
  const slots = p.slots;
  const cb = p.cellBytes;
  const layout = consolidated ? addon.cellLayout(p.aggregates, p.valueBytes) : undefined;
  const rowAt = (k: number): number => hb + (k % slots) * rowBytes;
  // What each slot holds (its interval or bucket, 0: empty), kept here rather than read back
  // from the mapping; and the mapping as typed arrays (rows and cells are aligned to their size).
  const held = new Float64Array(slots);
  for (let s = 0; s < slots; s++) {
    const at = hb + s * rowBytes;
    held[s] = consolidated ? Number(dv.getBigUint64(at, true) >> BigInt(format.tag.bucketShift)) : dv.getFloat64(at, true);
  }
  const stampOf = (k: number): number => held[k % slots]!;
  const f64 = new Float64Array(ab, 0, Math.floor(ab.byteLength / 8));
  const f32 = new Float32Array(ab, 0, Math.floor(ab.byteLength / 4));
  const u32 = new Uint32Array(ab, 0, Math.floor(ab.byteLength / 4));
  const ncolsMax = p.maxSeries;
  const COUNT = AGGREGATIONS.indexOf('count');
  const countOff = layout === undefined ? -1 : layout.offsets[COUNT]!;
  const clearRow = (s: number): void => {
    new Uint8Array(ab, hb + s * rowBytes, rowBytes).fill(0);
    held[s] = 0;
  };
  const makeRow = (k: number): void => {
    const at = rowAt(k);
    held[k % slots] = k;
    if (consolidated) {
      dv.setBigUint64(at, BigInt(k) << BigInt(format.tag.bucketShift), true);
      u32.fill(EMPTY_F32_BITS, (at + 8) / 4, (at + rowBytes) / 4);
      if (countOff >= 0) for (let c = 0; c < ncolsMax; c++) u32[(at + 8 + c * cb + countOff) / 4] = 0;
    } else {
      f64[at / 8] = k;
      dv.setBigUint64(at + 8, 0n, true);
      f64.fill(NaN, at / 8 + 2, at / 8 + 2 + ncolsMax);
    }
  };
  /** Stores a point of (column, field) into row k: a raw value, a gauge's aggregate, or (field -1) a counter's last value. */
  const put = (k: number, column: number, field: number, v: number): void => {
    const at = rowAt(k);
    if (!consolidated) {
      f64[at / 8 + 2 + column] = v;
      return;
    }
    const cell = at + 8 + column * cb;
    if (field === -1) {
      f64[cell / 8] = v;
      return;
    }
    const off = layout!.offsets[field]!;
    if (!(off >= 0)) return;
    if (field === COUNT) u32[(cell + off) / 4] = v;
    else if (p.valueBytes === 4) f32[(cell + off) / 4] = v;
    else f64[(cell + off) / 8] = v;
  };
  let chunks = 0;
  let restored = 0;
  let points = 0;
  const damaged: string[] = [];
  const problems: string[] = [];
  let last: BackupTier | undefined;
  archives.forEach((a, ai) => {
    const bt = a.manifest.tiers[tierIndex]!;
    last = bt;
    const kinds = new Map(a.manifest.series.filter((r) => r.schema === spec.name).map((r) => [r.column, r.kind]));
    // Rows of this archive's window made by an earlier archive give way to this one's.
    if (bt.to >= bt.from)
      for (let s = 0; s < slots; s++) {
        const k = held[s]!;
        if (k >= bt.from && k <= bt.to) clearRow(s);
      }
    const expected = expectedOf[ai]!;
    const intact = new Set<string>();
    const rowsSeen = new Set<number>();
    for (const c of a.chunks) {
      if (c.schema !== si || c.tier !== ti) continue;
      const key = keyString(si, ti, c.field, c.column, c.j);
      const e = expected.get(key);
      if (e === undefined || intact.has(key)) continue;
      let pts: { ks: Float64Array; values: Float64Array };
      try {
        pts = chunkPoints(c, e.k0, e.k1, bt.intervalMs);
      } catch (err) {
        problems.push(`${a.file}: ${e.name}: ${(err as Error).message}`);
        continue;
      }
      intact.add(key);
      if (c.field === FIELD_ROWS) {
        rowsSeen.add(c.j);
        for (const k of pts.ks) if (stampOf(k) < k) makeRow(k);
        continue;
      }
      const kind = kinds.get(c.column);
      const field = kind === 'counter' && consolidated ? -1 : c.field;
      for (let i = 0; i < pts.ks.length; i++) {
        const k = pts.ks[i]!;
        const s = stampOf(k);
        // A span whose rows chunk is damaged: its rows are made by the points found in it.
        if (s < k && !rowsSeen.has(c.j)) makeRow(k);
        if (stampOf(k) !== k) continue;
        put(k, c.column, field, pts.values[i]!);
        points++;
      }
    }
    for (const [k, e] of expected) {
      if (e.si !== si || e.ti !== ti) continue;
      chunks++;
      if (intact.has(k)) restored++;
      else damaged.push(`${a.file}: ${e.name}`);
    }
  });
  // The header's counters: the head is the newest row made, the rest as the last archive found them.
  let head = 0;
  for (let s = 0; s < slots; s++) if (held[s]! > head) head = held[s]!;
  const o = format.offsets;
  const setU64 = (off: number, v: number): void => dv.setBigUint64(off, BigInt(v), true);
  setU64(o.head, head);
  if (last !== undefined) {
    setU64(o.cursor, consolidated ? last.cursor : 0);
    setU64(o.claims, last.claims);
    setU64(o.lateWrites, last.lateWrites);
    setU64(o.repairs, last.repairs);
  }
  return { chunks, restored, points, damaged, problems };
}
