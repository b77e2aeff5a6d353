// The codecs (src/codec/, native/codec/): every codec gives back every point bit for bit, the
// two Gorilla implementations write the same bytes, damaged chunks are refused with
// CorruptFileError (never a crash), and a user's codec registers and decodes its own chunks.
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  codecByName,
  CodecExistsError,
  codecs,
  CorruptFileError,
  decodeChunk,
  encodeChunk,
  InvalidTimestampError,
  readChunkHeader,
  registerCodec,
  UnknownCodecError,
  type Codec,
} from '../src/index';
import { gorillaNativeCodec, gorillaTsCodec, crc32 } from '../src/codec';

/** A seeded generator (mulberry32): the same cases on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float64 from its two 32-bit halves, through memory (so NaN payloads are kept). */
function bits(hi: number, lo: number): Float64Array {
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  u[0] = lo >>> 0;
  u[1] = hi >>> 0;
  return f;
}

function hexOf(a: Float64Array): string[] {
  return Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength).reduce<string[]>((acc, b, i) => {
    if (i % 8 === 0) acc.push('');
    acc[acc.length - 1] = b.toString(16).padStart(2, '0') + acc[acc.length - 1];
    return acc;
  }, []));
}

const T0 = 1_714_564_800_000;
const N = 2000;

/** Value series of every shape the issue names, as Float64Arrays (special bits set through memory). */
function valueCases(): Record<string, Float64Array> {
  const r = rng(17);
  const random = new Float64Array(N).map(() => (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20));
  const randomBits = new Float64Array(N);
  const rb = new Uint32Array(randomBits.buffer);
  for (let i = 0; i < rb.length; i++) rb[i] = Math.floor(r() * 4294967296);
  const constant = new Float64Array(N).fill(42.5);
  const monotonic = new Float64Array(N).map((_, i) => i * 1024 + 7);
  const spiky = new Float64Array(N).map((_, i) => (i % 97 === 0 ? 1e12 * r() : i % 13 === 0 ? -3.75 : 0.1 + (i % 5)));
  const gauge = new Float64Array(N);
  let g = 100;
  for (let i = 0; i < N; i++) gauge[i] = g = Math.round((g + r() - 0.5) * 100) / 100;
  const specials: Float64Array[] = [
    bits(0x7ff80000, 0), // the canonical NaN
    bits(0x7ff00000, 2), // Prometheus's stale marker
    bits(0xfff80000, 0xdeadbeef), // a negative quiet NaN with a payload
    bits(0x7ff00000, 1), // a signalling NaN
    bits(0x80000000, 0), // -0
    bits(0, 0), // +0
    bits(0, 1), // the smallest subnormal
    bits(0x000fffff, 0xffffffff), // the largest subnormal
    bits(0x800fffff, 0xfffffff0), // a negative subnormal
    bits(0x7ff00000, 0), // +Infinity
    bits(0xfff00000, 0), // -Infinity
    bits(0x7fefffff, 0xffffffff), // the largest double
    bits(0x00100000, 0), // the smallest normal
  ];
  const special = new Float64Array(N);
  for (let i = 0; i < N; i++) special.set(specials[Math.floor(r() * specials.length)]!, i);
  // Runs of each special, so windows are reused across them too.
  const runs = new Float64Array(N);
  for (let i = 0; i < N; i++) runs.set(specials[Math.floor(i / 20) % specials.length]!, i);
  return { random, randomBits, constant, monotonic, spiky, gauge, special, runs };
}

function timestampCases(): Record<string, Float64Array> {
  const r = rng(99);
  const regular = new Float64Array(N).map((_, i) => T0 + i * 1000);
  let t = T0;
  const jitter = new Float64Array(N).map(() => (t += 1000 + Math.floor(r() * 41) - 20));
  t = T0;
  // Every bucket: gaps of 0 ms to days, repeats, steps back, and one over 2^31 ms (the wide form).
  const irregular = new Float64Array(N).map((_, i) => {
    const k = Math.floor(r() * 8);
    const step = [0, 1, 63, 64, 65, 255, 2048, 5_000_000][k]!;
    t += i === N / 2 ? 3 * 2 ** 31 : r() < 0.1 ? -Math.floor(r() * 1000) : step;
    return t;
  });
  const extremes = new Float64Array(N).map((_, i) => (i % 2 === 0 ? 2 ** 51 - (i % 3) : -(2 ** 51) + (i % 5)));
  return { regular, jitter, irregular, extremes };
}

const IMPLS: Record<string, Codec> = { 'gorilla (C++)': gorillaNativeCodec, 'gorilla (TypeScript)': gorillaTsCodec };

describe('every codec gives back every point bit for bit', () => {
  const values = valueCases();
  const times = timestampCases();
  const all: [string, Codec][] = [...codecs().map((c) => [c.name, c] as [string, Codec]), ...Object.entries(IMPLS)];
  for (const [cname, codec] of all)
    for (const [vname, v] of Object.entries(values))
      for (const [tname, ts] of Object.entries(times))
        it(`${cname}: ${vname} values, ${tname} timestamps`, () => {
          const chunk = encodeChunk(codec, ts, v);
          const back = decodeChunk(chunk);
          expect(back.codec).toBe(codec.name);
          expect(Array.from(back.timestamps)).toEqual(Array.from(ts));
          expect(hexOf(back.values)).toEqual(hexOf(v));
        });

  it('empty chunks and one-point chunks', () => {
    for (const c of [...codecs(), gorillaTsCodec]) {
      const e = decodeChunk(encodeChunk(c, new Float64Array(0), new Float64Array(0)));
      expect(e.timestamps.length).toBe(0);
      const one = decodeChunk(encodeChunk(c, [T0], bits(0x7ff00000, 2)));
      expect(Array.from(one.timestamps)).toEqual([T0]);
      expect(hexOf(one.values)).toEqual(['7ff0000000000002']);
    }
  });

  it('raw and deflate keep any float timestamp; gorilla refuses what is not a whole millisecond', () => {
    const ts = new Float64Array([0.5, -1e300, NaN, Infinity]);
    const v = new Float64Array([1, 2, 3, 4]);
    for (const name of ['raw', 'deflate']) expect(hexOf(decodeChunk(encodeChunk(name, ts, v)).timestamps)).toEqual(hexOf(ts));
    for (const c of Object.values(IMPLS)) {
      expect(() => encodeChunk(c, [T0, T0 + 0.5], [1, 2])).toThrow(InvalidTimestampError);
      expect(() => encodeChunk(c, [2 ** 52], [1])).toThrow(InvalidTimestampError);
      expect(() => encodeChunk(c, [NaN], [1])).toThrow(/whole milliseconds/);
    }
  });

  it('Gorilla compresses a regular gauge to a few bytes a point, and a constant to about 2 bits', () => {
    const { regular } = times;
    const gauge = decodeChunk(encodeChunk('gorilla', regular!, values.gauge!));
    expect(gauge.values.length).toBe(N);
    const sizeOf = (v: Float64Array): number => readChunkHeader(encodeChunk('gorilla', regular!, v)).payloadLength / N;
    expect(sizeOf(values.constant!)).toBeLessThan(0.3);
    expect(sizeOf(values.gauge!)).toBeLessThan(sizeOf(values.randomBits!));
    expect(sizeOf(values.randomBits!)).toBeLessThan(10);
  });
});

describe('the C++ and TypeScript Gorilla write the same bytes', () => {
  const values = valueCases();
  const times = timestampCases();
  it('on every value and timestamp case', () => {
    for (const v of Object.values(values))
      for (const ts of Object.values(times)) {
        const a = gorillaNativeCodec.encode(ts, v);
        const b = gorillaTsCodec.encode(ts, v);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }
  });

  it('on seeded random chunks of every length from 0 to 300', () => {
    const r = rng(5);
    for (let n = 0; n <= 300; n++) {
      const ts = new Float64Array(n);
      const v = new Float64Array(n);
      const u = new Uint32Array(v.buffer);
      let t = Math.floor((r() - 0.5) * 2 ** 40);
      for (let i = 0; i < n; i++) {
        t += Math.floor((r() - 0.3) * 10 ** Math.floor(r() * 8));
        ts[i] = t;
        if (r() < 0.5) v[i] = i > 0 && r() < 0.3 ? v[i - 1]! : Math.round(r() * 1000) / 10;
        else {
          u[2 * i] = Math.floor(r() * 4294967296);
          u[2 * i + 1] = Math.floor(r() * 4294967296);
        }
      }
      const a = gorillaNativeCodec.encode(ts, v);
      expect(Buffer.from(a).equals(Buffer.from(gorillaTsCodec.encode(ts, v))), `length ${n}`).toBe(true);
      const dn = gorillaNativeCodec.decode(a, n, 1);
      const dt = gorillaTsCodec.decode(a, n, 1);
      expect(hexOf(dn.values)).toEqual(hexOf(v));
      expect(hexOf(dt.values)).toEqual(hexOf(v));
      expect(Array.from(dn.timestamps)).toEqual(Array.from(ts));
      expect(Array.from(dt.timestamps)).toEqual(Array.from(ts));
    }
  });
});

/** Runs fn; returns the error it threw (and fails if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Re-seals a chunk's checksum after its bytes were changed, so the codec itself reads them. */
function reseal(chunk: Uint8Array): Uint8Array {
  const out = new Uint8Array(chunk);
  const at = out.length - 4;
  new DataView(out.buffer).setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

describe('damaged chunks are refused with CorruptFileError', () => {
  const values = valueCases();
  const times = timestampCases();
  const base = (name: string, n = 200): Uint8Array => encodeChunk(name, times.irregular!.subarray(0, n), values.special!.subarray(0, n));

  it('names what is wrong: checksum, truncation, trailing bytes, lengths, frame version, codec, count', () => {
    const c = base('gorilla');
    const flipped = new Uint8Array(c);
    flipped[40]! ^= 0x10;
    expect(thrown(() => decodeChunk(flipped))).toBeInstanceOf(CorruptFileError);
    expect(() => decodeChunk(flipped)).toThrow(/checksum mismatch/);
    expect(() => decodeChunk(c.subarray(0, c.length - 1))).toThrow(/payload bytes, but only/);
    expect(() => decodeChunk(c.subarray(0, 2))).toThrow(/too short for a chunk header/);
    expect(() => decodeChunk(new Uint8Array([...c, 0]))).toThrow(/1 bytes after the chunk's checksum/);
    const v = new Uint8Array(c);
    v[0] = 9;
    expect(() => decodeChunk(v)).toThrow(/frame version 9/);
    const ver = new Uint8Array(c);
    ver[1] = 2;
    expect(() => decodeChunk(reseal(ver))).toThrow(/gorilla version 2; this build reads version 1/);
    // A count the payload cannot hold, sealed again: the codec refuses it without allocating for it.
    const count = new Uint8Array(c);
    new DataView(count.buffer).setUint32(3 + 7, 16_000_000, true);
    expect(() => decodeChunk(reseal(count))).toThrow(/cannot hold 16000000 points/);
    new DataView(count.buffer).setUint32(3 + 7, 2 ** 31, true);
    expect(() => decodeChunk(reseal(count))).toThrow(/more than a chunk holds/);
    const other = new Uint8Array(c);
    other.set(Buffer.from('gorillb'), 3);
    const e = thrown(() => decodeChunk(reseal(other)));
    expect(e).toBeInstanceOf(CorruptFileError);
    expect((e as Error).message).toMatch(/codec gorillb, which is not registered/);
    for (const name of ['raw', 'deflate']) {
      const r = base(name);
      const shorter = new Uint8Array(r);
      new DataView(shorter.buffer).setUint32(3 + name.length, 199, true);
      expect(() => decodeChunk(reseal(shorter))).toThrow(CorruptFileError);
    }
  });

  it('a fuzzed corpus (bit flips, truncations, wrong lengths, random bytes; sealed and not) never crashes', () => {
    const r = rng(2024);
    const seeds = ['gorilla', 'raw', 'deflate'].flatMap((n) => [base(n), base(n, 1), base(n, 3), base(n, 50)]);
    let refused = 0;
    let decoded = 0;
    const tally = { checksum: 0, codec: 0 };
    for (let k = 0; k < 6000; k++) {
      const src = seeds[Math.floor(r() * seeds.length)]!;
      let m: Uint8Array = new Uint8Array(src);
      const kind = Math.floor(r() * 5);
      if (kind === 0) for (let f = 1 + Math.floor(r() * 4); f > 0; f--) m[Math.floor(r() * m.length)]! ^= 1 << Math.floor(r() * 8);
      else if (kind === 1) m = m.subarray(0, Math.floor(r() * m.length));
      else if (kind === 2) {
        // A wrong count or payload length in the header.
        const nameLen = m[2]!;
        new DataView(m.buffer).setUint32(3 + nameLen + (r() < 0.5 ? 0 : 4), Math.floor(r() * 2 ** 32), true);
      } else if (kind === 3) for (let i = 12; i < m.length - 4; i++) if (r() < 0.05) m[i] = Math.floor(r() * 256);
      else m = new Uint8Array(Math.floor(r() * 64)).map(() => Math.floor(r() * 256));
      const changed = !Buffer.from(m).equals(Buffer.from(src));
      // Most cases are sealed again, so the codecs' own checks meet them, not only the checksum.
      const sealed = r() < 0.7 && m.length >= 4;
      if (sealed) m = reseal(m);
      const e = thrown(() => decodeChunk(m));
      if (e === undefined) {
        // Only a sealed chunk can be read (raw's and deflate's payloads have no redundancy to miss a flip).
        expect(!changed || sealed, `case ${k}: a damaged chunk was read without its checksum resealed`).toBe(true);
        decoded++;
        continue;
      }
      expect(e, `case ${k}: ${String(e)}`).toBeInstanceOf(CorruptFileError);
      refused++;
      if (/checksum/.test((e as Error).message)) tally.checksum++;
      else if (/gorilla chunk|raw chunk|deflate chunk|version/.test((e as Error).message)) tally.codec++;
    }
    expect(decoded + refused).toBe(6000);
    // Both the checksum and the codecs' own checks refused a good share of the corpus.
    expect(tally.checksum).toBeGreaterThan(500);
    expect(tally.codec).toBeGreaterThan(500);
  });

  it('the two Gorilla decoders agree on hostile payloads: both refuse, or both give the same points', () => {
    const r = rng(7);
    const good = gorillaTsCodec.encode(times.irregular!.subarray(0, 100), values.special!.subarray(0, 100));
    let bothRefused = 0;
    for (let k = 0; k < 4000; k++) {
      const m = new Uint8Array(good.subarray(0, r() < 0.2 ? Math.floor(r() * good.length) : good.length));
      for (let f = 1 + Math.floor(r() * 3); f > 0 && m.length > 0; f--) m[Math.floor(r() * m.length)]! ^= 1 << Math.floor(r() * 8);
      const count = r() < 0.8 ? 100 : Math.floor(r() * 200);
      let a: ReturnType<Codec['decode']> | undefined;
      let b: ReturnType<Codec['decode']> | undefined;
      const ea = thrown(() => (a = gorillaNativeCodec.decode(m, count, 1)));
      const eb = thrown(() => (b = gorillaTsCodec.decode(m, count, 1)));
      if (ea !== undefined || eb !== undefined) {
        expect(ea, `case ${k}`).toBeInstanceOf(CorruptFileError);
        expect(eb, `case ${k}`).toBeInstanceOf(CorruptFileError);
        bothRefused++;
      } else {
        expect(hexOf(a!.values)).toEqual(hexOf(b!.values));
        expect(Array.from(a!.timestamps)).toEqual(Array.from(b!.timestamps));
      }
    }
    expect(bothRefused).toBeGreaterThan(1000);
  });
});

describe('the registry', () => {
  /** A user's codec: values as float32 (lossy on purpose), timestamps as raw float64. */
  const float32: Codec = {
    name: 'test-float32',
    version: 3,
    description: 'values as float32',
    encode(ts, v) {
      const out = new Uint8Array(12 * ts.length);
      out.set(new Uint8Array(ts.buffer, ts.byteOffset, ts.byteLength), 0);
      out.set(new Uint8Array(Float32Array.from(v).buffer), 8 * ts.length);
      return out;
    },
    decode(payload, count, version) {
      if (version !== 3) throw new Error(`version ${version}`);
      if (payload.length !== 12 * count) throw new Error(`${payload.length} bytes for ${count} points`);
      const copy = new Uint8Array(payload);
      return { timestamps: new Float64Array(copy.buffer, 0, count), values: Float64Array.from(new Float32Array(copy.buffer.slice(8 * count))) };
    },
  };

  it('a user codec registers, encodes and decodes its chunks by name', () => {
    registerCodec(float32);
    expect(codecByName('test-float32')).toBe(float32);
    expect(codecs().map((c) => c.name)).toEqual(expect.arrayContaining(['gorilla', 'raw', 'deflate', 'test-float32']));
    const chunk = encodeChunk('test-float32', [T0, T0 + 1000], [1.5, 0.1]);
    expect(readChunkHeader(chunk)).toMatchObject({ codec: 'test-float32', version: 3, count: 2 });
    const back = decodeChunk(chunk);
    expect(Array.from(back.timestamps)).toEqual([T0, T0 + 1000]);
    expect(Array.from(back.values)).toEqual([1.5, Math.fround(0.1)]);
    // Its errors on a damaged payload become CorruptFileError naming it.
    const bad = new Uint8Array(chunk);
    new DataView(bad.buffer).setUint32(3 + 12, 3, true);
    expect(() => decodeChunk(reseal(bad))).toThrow(/codec test-float32 \(version 3\) cannot decode its 3 points: 24 bytes for 3 points/);
  });

  it("docs/codecs.md's brotli codec registers and round-trips", () => {
    const raw = codecByName('raw');
    registerCodec({
      name: 'brotli',
      version: 1,
      description: "raw's bytes through brotli",
      encode: (ts, vs) => zlib.brotliCompressSync(raw.encode(ts, vs)),
      decode: (payload, count) => raw.decode(zlib.brotliDecompressSync(payload, { maxOutputLength: Math.max(1, 16 * count) }), count, raw.version),
    });
    const v = valueCases().special!;
    const ts = timestampCases().irregular!;
    const back = decodeChunk(encodeChunk('brotli', ts, v));
    expect(back.codec).toBe('brotli');
    expect(hexOf(back.values)).toEqual(hexOf(v));
    const bad = encodeChunk('brotli', ts, v);
    bad[40]! ^= 1;
    expect(() => decodeChunk(reseal(bad))).toThrow(CorruptFileError);
  });

  it('refuses a name already taken, and bad names and versions', () => {
    expect(() => registerCodec({ ...float32, name: 'gorilla' })).toThrow(CodecExistsError);
    expect(() => registerCodec({ ...float32, name: 'gorilla' })).toThrow(/a codec named gorilla is already registered/);
    expect(() => registerCodec({ ...float32, name: 'Bad Name' })).toThrow(/is not valid/);
    expect(() => registerCodec({ ...float32, name: 'ok-name', version: 256 })).toThrow(/version must be an integer from 0 to 255/);
    expect(() => codecByName('nope')).toThrow(UnknownCodecError);
    expect(() => codecByName('nope')).toThrow(/the registered ones are gorilla, raw, deflate/);
    expect(codecByName('gorilla')).toBe(gorillaNativeCodec);
  });
});
