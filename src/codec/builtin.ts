// The built-in codecs: gorilla (the default), raw, and deflate (node:zlib). docs/codecs.md.
import * as zlib from 'node:zlib';
import { CorruptFileError } from '../errors';
import { checkVersion, type Codec, type Points } from './codec';
import { gorillaDecodeTs, gorillaEncodeTs } from './gorilla';
import { gorillaDecodeNative, gorillaEncodeNative } from './native';

/** raw: each point as its timestamp and value, float64 little-endian; all timestamps, then all values. */
export const rawCodec: Codec = {
  name: 'raw',
  version: 1,
  description: 'uncompressed: timestamps then values, float64 little-endian (16 bytes a point)',
  encode(timestamps, values) {
    const n = timestamps.length;
    const out = new Uint8Array(16 * n);
    // Copied as bytes, so NaN payloads stay as they are.
    out.set(new Uint8Array(timestamps.buffer, timestamps.byteOffset, 8 * n), 0);
    out.set(new Uint8Array(values.buffer, values.byteOffset, 8 * n), 8 * n);
    return out;
  },
  decode(payload, count, version) {
    checkVersion('raw', 1, version);
    return rawPoints(payload, count, 'raw');
  },
};

function rawPoints(bytes: Uint8Array, count: number, name: string): Points {
  if (bytes.length !== 16 * count)
    throw new CorruptFileError(`${name} chunk: ${bytes.length} bytes of points, ${count} points take ${16 * count}`);
  const copy = new Uint8Array(bytes); // aligned, and not a view of the caller's buffer
  return {
    timestamps: new Float64Array(copy.buffer, 0, count),
    values: new Float64Array(copy.buffer, 8 * count, count),
  };
}

/**
 * deflate: raw's bytes, compressed with zlib's raw deflate (level 6). Chosen over brotli because
 * it decodes about twice as fast (bench/codec.js) and every tool reads it; brotli
 * makes these bytes about a third smaller (bench/codec.js measures both, on the same chunks).
 */
export const deflateCodec: Codec = {
  name: 'deflate',
  version: 1,
  description: "raw's bytes through zlib's raw deflate (node:zlib)",
  encode(timestamps, values) {
    return zlib.deflateRawSync(rawCodec.encode(timestamps, values));
  },
  decode(payload, count, version) {
    checkVersion('deflate', 1, version);
    let inflated: Buffer;
    try {
      // The count bounds what inflating may produce: a damaged stream cannot ask for more.
      inflated = zlib.inflateRawSync(payload, { maxOutputLength: Math.max(1, 16 * count) });
    } catch (e) {
      throw new CorruptFileError(`deflate chunk: ${(e as Error).message}`);
    }
    return rawPoints(inflated, count, 'deflate');
  },
};

/** Gorilla in TypeScript (src/codec/gorilla.ts): the same bytes as the C++ one. */
export const gorillaTsCodec: Codec = {
  name: 'gorilla',
  version: 1,
  description: 'Gorilla (VLDB 2015): delta-of-delta timestamps, XOR values; TypeScript',
  encode: gorillaEncodeTs,
  decode(payload, count, version) {
    checkVersion('gorilla', 1, version);
    return gorillaDecodeTs(payload, count);
  },
};

/** Gorilla in C++ (native/codec/gorilla.cc, in the store's addon): the registered `gorilla`. */
export const gorillaNativeCodec: Codec = {
  name: 'gorilla',
  version: 1,
  description: 'Gorilla (VLDB 2015): delta-of-delta timestamps, XOR values; C++ in the addon',
  encode: gorillaEncodeNative,
  decode(payload, count, version) {
    checkVersion('gorilla', 1, version);
    return gorillaDecodeNative(payload, count);
  },
};
