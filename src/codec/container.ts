// The series container (`rondo export --format gorilla`, docs/codecs.md "The export container"):
// a small binary file of series, each a checksummed JSON header and its points in codec chunks.
//
//   file    = magic "RONDOSC" (7 bytes) | version u8 (1) | series count u32 LE | series...
//   series  = header length u32 LE | header (UTF-8 JSON {"name","labels","kind","points","chunks"})
//             | CRC-32 of the header u32 LE | chunks... (as many as the header says, each a chunk frame)
//
// All integers little-endian. Every chunk carries its own CRC-32 (./codec.ts), so a damaged file
// names the series and chunk that are damaged.
import { CorruptFileError } from '../errors';
import { chunkLength, crc32, decodeChunk, encodeChunk, type Codec } from './codec';

export const CONTAINER_MAGIC = 'RONDOSC';
export const CONTAINER_VERSION = 1;
/** Points per chunk the writer uses unless told otherwise. */
export const DEFAULT_CHUNK_POINTS = 1024;
/** The most bytes a series header may take. */
const MAX_HEADER_BYTES = 1 << 20;

/** One series of a container: what it is, and its points (timestamps in ms). */
export interface ContainerSeries {
  name: string;
  labels: Record<string, string>;
  kind: string;
  timestamps: Float64Array;
  values: Float64Array;
}

/** A series file in memory: its parts, to be written one after another. */
export function encodeContainer(series: readonly ContainerSeries[], codec: Codec | string, chunkPoints = DEFAULT_CHUNK_POINTS): Uint8Array[] {
  if (!Number.isInteger(chunkPoints) || chunkPoints < 1) throw new RangeError(`chunkPoints must be a positive integer, got ${chunkPoints}`);
  const head = Buffer.alloc(12);
  head.write(CONTAINER_MAGIC, 0, 'latin1');
  head[7] = CONTAINER_VERSION;
  head.writeUInt32LE(series.length, 8);
  const parts: Uint8Array[] = [head];
  for (const s of series) {
    const n = s.timestamps.length;
    const chunks = Math.ceil(n / chunkPoints);
    const json = Buffer.from(JSON.stringify({ name: s.name, labels: s.labels, kind: s.kind, points: n, chunks }), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length, 0);
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(crc32(json), 0);
    parts.push(len, json, sum);
    for (let i = 0; i < n; i += chunkPoints)
      parts.push(encodeChunk(codec, s.timestamps.subarray(i, i + chunkPoints), s.values.subarray(i, i + chunkPoints)));
  }
  return parts;
}

/** A series of a container as read back; `damaged` lists the chunks that could not be read (their points are missing). */
export interface ReadSeries extends ContainerSeries {
  damaged: string[];
}

/**
 * The series of a container file. A damaged chunk is skipped and named in its series' `damaged`
 * (the other chunks are read); a damaged file header or series header, which leaves nothing to
 * find the rest by, is a CorruptFileError.
 */
export function decodeContainer(bytes: Uint8Array): ReadSeries[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.toString('latin1', 0, 7) !== CONTAINER_MAGIC)
    throw new CorruptFileError(`not a rondo series container (it does not start with ${CONTAINER_MAGIC})`);
  if (buf[7] !== CONTAINER_VERSION) throw new CorruptFileError(`series container version ${buf[7]!}; this build reads version ${CONTAINER_VERSION}`);
  const count = buf.readUInt32LE(8);
  let at = 12;
  const out: ReadSeries[] = [];
  for (let k = 0; k < count; k++) {
    if (at + 4 > buf.length) throw new CorruptFileError(`series container: cut short before series ${k} of ${count}`);
    const len = buf.readUInt32LE(at);
    if (len > MAX_HEADER_BYTES || at + 8 + len > buf.length)
      throw new CorruptFileError(`series container: series ${k}'s header length ${len} does not fit the ${buf.length - at - 8} bytes left`);
    const json = buf.subarray(at + 4, at + 4 + len);
    if (buf.readUInt32LE(at + 4 + len) !== crc32(json)) throw new CorruptFileError(`series container: series ${k}'s header fails its checksum`);
    at += 8 + len;
    let meta: { name: string; labels: Record<string, string>; kind: string; points: number; chunks: number };
    try {
      meta = JSON.parse(json.toString('utf8')) as typeof meta;
    } catch (e) {
      throw new CorruptFileError(`series container: series ${k}'s header is not JSON (${(e as Error).message})`);
    }
    if (typeof meta?.name !== 'string' || !Number.isInteger(meta.points) || !Number.isInteger(meta.chunks) || meta.points < 0 || meta.chunks < 0)
      throw new CorruptFileError(`series container: series ${k}'s header lacks its name, point or chunk count`);
    const ts: Float64Array[] = [];
    const vs: Float64Array[] = [];
    const damaged: string[] = [];
    for (let c = 0; c < meta.chunks; c++) {
      let length: number;
      try {
        length = chunkLength(buf, at);
      } catch (e) {
        // Without a chunk's length the rest of the file cannot be found.
        throw new CorruptFileError(`series container: ${meta.name}, chunk ${c}: ${(e as Error).message}`);
      }
      try {
        const d = decodeChunk(buf.subarray(at, at + length));
        ts.push(d.timestamps);
        vs.push(d.values);
      } catch (e) {
        if (!(e instanceof CorruptFileError)) throw e;
        damaged.push(`chunk ${c}: ${e.message}`);
      }
      at += length;
    }
    const n = ts.reduce((a, t) => a + t.length, 0);
    const timestamps = new Float64Array(n);
    const values = new Float64Array(n);
    let o = 0;
    for (let i = 0; i < ts.length; i++) {
      timestamps.set(ts[i]!, o);
      values.set(vs[i]!, o);
      o += ts[i]!.length;
    }
    out.push({ name: meta.name, labels: meta.labels ?? {}, kind: meta.kind, timestamps, values, damaged });
  }
  if (at !== buf.length) throw new CorruptFileError(`series container: ${buf.length - at} bytes after the last series`);
  return out;
}
