// The Codec interface, the registry of codecs by name, and the chunk frame every codec's payload
// travels in (docs/codecs.md): a header naming the codec and the point count, the payload, and a
// CRC-32 of it all, so a damaged chunk is refused with CorruptFileError before any codec reads it.
import * as zlib from 'node:zlib';
import { ConfigError, CorruptFileError } from '../errors';

/** The points of one chunk: timestamps (ms) and values, index by index. */
export interface Points {
  timestamps: Float64Array;
  values: Float64Array;
}

/**
 * A way to turn a chunk of points into bytes and back. encode() gets equal-length arrays and
 * returns the payload; decode() gets that payload, the point count and the version byte the
 * chunk was written with, and returns the points, or throws (any error: the chunk frame reports
 * it as a CorruptFileError naming the codec). A codec must give back every value bit for bit
 * (NaN payloads, -0) when it is lossless; its name and version go in every chunk it writes.
 */
export interface Codec {
  /** 1 to 32 characters of [a-z0-9._-], starting with a letter: what chunks name it by. */
  readonly name: string;
  /** 0 to 255, written in each chunk; decode() is told the version a chunk was written with. */
  readonly version: number;
  /** One line for listings. */
  readonly description?: string;
  encode(timestamps: Float64Array, values: Float64Array): Uint8Array;
  decode(payload: Uint8Array, count: number, version: number): Points;
}

/** registerCodec() of a name that is taken. */
export class CodecExistsError extends ConfigError {
  override name = 'CodecExistsError';
}

/** codecByName() of a name no codec is registered under. */
export class UnknownCodecError extends ConfigError {
  override name = 'UnknownCodecError';
}

/** The most points a chunk may hold (so a damaged count cannot ask for gigabytes). */
export const MAX_CHUNK_POINTS = 1 << 24;
/** The chunk frame's own version (its first byte). */
export const CHUNK_FRAME_VERSION = 1;
const NAME = /^[a-z][a-z0-9._-]{0,31}$/;

const registry = new Map<string, Codec>();

function checkCodec(codec: Codec): void {
  if (typeof codec !== 'object' || codec === null) throw new ConfigError('registerCodec: a codec is an object with name, version, encode and decode');
  if (typeof codec.name !== 'string' || !NAME.test(codec.name))
    throw new ConfigError(
      `registerCodec: codec name ${JSON.stringify(codec.name)} is not valid; use 1 to 32 characters of a-z, 0-9, '.', '_', '-', starting with a letter`,
    );
  if (!Number.isInteger(codec.version) || codec.version < 0 || codec.version > 255)
    throw new ConfigError(`registerCodec: codec ${codec.name}'s version must be an integer from 0 to 255, got ${String(codec.version)}`);
  if (typeof codec.encode !== 'function' || typeof codec.decode !== 'function')
    throw new ConfigError(`registerCodec: codec ${codec.name} needs encode() and decode() functions`);
}

/**
 * Adds a codec to the registry, under its name: chunks naming it decode with it from then on.
 * A name already registered (a built-in one too) is refused with CodecExistsError.
 */
export function registerCodec(codec: Codec): void {
  checkCodec(codec);
  const had = registry.get(codec.name);
  if (had !== undefined)
    throw new CodecExistsError(
      `registerCodec: a codec named ${codec.name} is already registered (version ${had.version}${had.description ? `: ${had.description}` : ''}); choose another name`,
    );
  registry.set(codec.name, codec);
}

/** The codec registered under `name`; UnknownCodecError (listing the registered ones) if none is. */
export function codecByName(name: string): Codec {
  const c = registry.get(name);
  if (c === undefined)
    throw new UnknownCodecError(`no codec is registered as ${JSON.stringify(name)}; the registered ones are ${[...registry.keys()].join(', ')}`);
  return c;
}

/** Every registered codec, built-ins first, in the order they were registered. */
export function codecs(): Codec[] {
  return [...registry.values()];
}

/** CRC-32 (zlib's, the polynomial of gzip and PNG) of bytes. */
export function crc32(bytes: Uint8Array): number {
  return zlib.crc32(bytes) >>> 0;
}

function asF64(a: ArrayLike<number>, what: string): Float64Array {
  if (a instanceof Float64Array) return a;
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') throw new TypeError(`encodeChunk: ${what} must be a Float64Array or an array of numbers`);
  return Float64Array.from(a);
}

/**
 * One chunk of points, encoded by `codec` (a Codec or a registered name) and framed:
 * [frame version u8][codec version u8][name length u8][name][count u32 LE][payload length u32 LE]
 * [payload][CRC-32 u32 LE of every byte before it]. Timestamps and values are equal in length,
 * at most MAX_CHUNK_POINTS; pass Float64Arrays to keep NaN payloads bit for bit.
 */
export function encodeChunk(codec: Codec | string, timestamps: ArrayLike<number>, values: ArrayLike<number>): Uint8Array {
  const c = typeof codec === 'string' ? codecByName(codec) : codec;
  if (typeof codec !== 'string') checkCodec(c);
  const ts = asF64(timestamps, 'timestamps');
  const vs = asF64(values, 'values');
  if (ts.length !== vs.length) throw new RangeError(`encodeChunk: ${ts.length} timestamps but ${vs.length} values`);
  if (ts.length > MAX_CHUNK_POINTS) throw new RangeError(`encodeChunk: ${ts.length} points; a chunk holds at most ${MAX_CHUNK_POINTS}`);
  const payload = c.encode(ts, vs);
  if (!(payload instanceof Uint8Array)) throw new TypeError(`codec ${c.name}: encode() must return a Uint8Array`);
  const name = Buffer.from(c.name, 'latin1');
  const head = 3 + name.length + 8;
  const out = new Uint8Array(head + payload.length + 4);
  const dv = new DataView(out.buffer);
  out[0] = CHUNK_FRAME_VERSION;
  out[1] = c.version;
  out[2] = name.length;
  out.set(name, 3);
  dv.setUint32(3 + name.length, ts.length, true);
  dv.setUint32(7 + name.length, payload.length, true);
  out.set(payload, head);
  dv.setUint32(head + payload.length, crc32(out.subarray(0, head + payload.length)), true);
  return out;
}

/** What a chunk's header says, and where its payload is. */
export interface ChunkHeader {
  codec: string;
  version: number;
  count: number;
  /** Byte offset of the payload within the chunk, and its length. */
  payloadOffset: number;
  payloadLength: number;
  /** The chunk's whole length in bytes, header and checksum included. */
  length: number;
}

function damaged(what: string): CorruptFileError {
  return new CorruptFileError(`chunk: ${what}`);
}

/**
 * The header of the chunk starting at bytes[offset] (the chunk may be followed by more bytes):
 * CorruptFileError if it is cut short, of an unknown frame version, or its checksum is wrong.
 */
export function readChunkHeader(bytes: Uint8Array, offset = 0): ChunkHeader {
  const left = bytes.length - offset;
  if (left < 3) throw damaged(`${left} bytes, too short for a chunk header`);
  if (bytes[offset] !== CHUNK_FRAME_VERSION)
    throw damaged(`frame version ${bytes[offset]!}, this build reads version ${CHUNK_FRAME_VERSION}`);
  const version = bytes[offset + 1]!;
  const nameLen = bytes[offset + 2]!;
  if (nameLen < 1 || nameLen > 32) throw damaged(`codec name length ${nameLen}, not 1 to 32`);
  const head = 3 + nameLen + 8;
  if (left < head + 4) throw damaged(`${left} bytes, too short for a header naming a ${nameLen}-character codec and a checksum`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, left);
  const count = dv.getUint32(3 + nameLen, true);
  const payloadLength = dv.getUint32(7 + nameLen, true);
  if (head + payloadLength + 4 > left)
    throw damaged(`the header says ${payloadLength} payload bytes, but only ${left - head - 4} follow it`);
  const sum = dv.getUint32(head + payloadLength, true);
  const actual = crc32(bytes.subarray(offset, offset + head + payloadLength));
  if (sum !== actual)
    throw damaged(`checksum mismatch (stored 0x${sum.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')}): the chunk is damaged`);
  const codec = Buffer.from(bytes.subarray(offset + 3, offset + 3 + nameLen)).toString('latin1');
  if (!NAME.test(codec)) throw damaged(`codec name ${JSON.stringify(codec)} is not a valid name`);
  if (count > MAX_CHUNK_POINTS) throw damaged(`point count ${count}, more than a chunk holds (${MAX_CHUNK_POINTS})`);
  return { codec, version, count, payloadOffset: offset + head, payloadLength, length: head + payloadLength + 4 };
}

/**
 * The length of the chunk starting at bytes[offset], from its header alone (its checksum is not
 * checked): what a reader of several chunks in a row needs to skip a damaged one.
 */
export function chunkLength(bytes: Uint8Array, offset = 0): number {
  const left = bytes.length - offset;
  if (left < 3) throw damaged(`${left} bytes, too short for a chunk header`);
  if (bytes[offset] !== CHUNK_FRAME_VERSION) throw damaged(`frame version ${bytes[offset]!}, this build reads version ${CHUNK_FRAME_VERSION}`);
  const nameLen = bytes[offset + 2]!;
  if (nameLen < 1 || nameLen > 32) throw damaged(`codec name length ${nameLen}, not 1 to 32`);
  const head = 3 + nameLen + 8;
  if (left < head + 4) throw damaged(`${left} bytes, too short for a header naming a ${nameLen}-character codec and a checksum`);
  const payloadLength = new DataView(bytes.buffer, bytes.byteOffset + offset, left).getUint32(7 + nameLen, true);
  if (head + payloadLength + 4 > left) throw damaged(`the header says ${payloadLength} payload bytes, but only ${left - head - 4} follow it`);
  return head + payloadLength + 4;
}

/** A decoded chunk: its points and the codec that wrote it. */
export interface DecodedChunk extends Points {
  codec: string;
  version: number;
}

/**
 * The points of a chunk (exactly one, filling `bytes`), decoded by the codec it names. A chunk
 * that is damaged, cut short, too long, or names a codec not registered here is refused with
 * CorruptFileError saying what is wrong; so is one its codec cannot decode.
 */
export function decodeChunk(bytes: Uint8Array): DecodedChunk {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeChunk: bytes must be a Uint8Array');
  const h = readChunkHeader(bytes, 0);
  if (h.length !== bytes.length) throw damaged(`${bytes.length - h.length} bytes after the chunk's checksum (the header says ${h.length} bytes in all)`);
  const c = registry.get(h.codec);
  if (c === undefined)
    throw damaged(`written by codec ${h.codec}, which is not registered in this process (registerCodec() it before decoding)`);
  const payload = bytes.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
  let p: Points;
  try {
    p = c.decode(payload, h.count, h.version);
  } catch (e) {
    if (e instanceof CorruptFileError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new CorruptFileError(`chunk: codec ${h.codec} (version ${h.version}) cannot decode its ${h.count} points: ${msg}`, { cause: e });
  }
  if (!(p?.timestamps instanceof Float64Array) || !(p.values instanceof Float64Array) || p.timestamps.length !== h.count || p.values.length !== h.count)
    throw damaged(`codec ${h.codec} decoded a number of points other than the ${h.count} the header says`);
  return { codec: h.codec, version: h.version, timestamps: p.timestamps, values: p.values };
}

/** Refuses a version other than the one a built-in codec writes. */
export function checkVersion(name: string, want: number, got: number): void {
  if (got !== want) throw new CorruptFileError(`chunk: ${name} version ${got}; this build reads version ${want}`);
}
