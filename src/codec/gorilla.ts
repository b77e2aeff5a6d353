// The Gorilla encoding (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series
// Database", VLDB 2015, section 4.1) in TypeScript: delta-of-delta timestamps in the paper's
// buckets, XOR-encoded values with the leading/trailing-zero window. docs/codecs.md gives the bit
// layout; native/codec/gorilla.cc is the same encoding in C++ and must write the same bytes.
//
// JavaScript has no 64-bit integers that are fast, so every 64-bit quantity here is a pair of
// 32-bit halves (hi, lo); the values' bits are read and written through a Uint32Array view of
// the Float64Array (little-endian, as on every platform the addon builds for), never through a
// JavaScript number, so NaN payloads survive.
import { CorruptFileError, InvalidTimestampError } from '../errors';

/** Timestamps Gorilla takes: integers (ms) of at most this magnitude, so deltas of deltas stay exact in a double. */
export const GORILLA_MAX_TIMESTAMP = 2 ** 51;
/** Bit 0 of the payload's first byte: the last timestamp bucket is 64 bits wide instead of 32. */
export const GORILLA_FLAG_WIDE = 1;

const TWO32 = 4294967296;
const GORILLA_MIN_BITS_FIRST = 128; // t0 and v0
const GORILLA_MIN_BITS_NEXT = 2;
/**
 * The extra bits a new window costs over reusing the current one (5 + 6 for its lead and length).
 * The encoder reuses a window that fits unless a new one is shorter even with them; the paper
 * reuses every window that fits, which keeps a wide one long after the values narrowed. The
 * decoder cannot tell the difference: both are the paper's bit layout.
 */
const WINDOW_COST = 11; // a '0' for the timestamp and a '0' for the value

/** Whether a delta of deltas fits the n-bit bucket: Prometheus's and the paper's [-(2^(n-1) - 1), 2^(n-1)]. */
function fits(dod: number, n: number): boolean {
  const half = 2 ** (n - 1);
  return dod >= -(half - 1) && dod <= half;
}

class BitWriter {
  buf: Uint8Array;
  at = 0;
  acc = 0;
  nacc = 0;
  constructor(bytes: number) {
    this.buf = new Uint8Array(bytes);
  }
  /** The low n bits of v (0 < n <= 32; v holds no bits above them). */
  write(v: number, n: number): void {
    const free = 32 - this.nacc;
    if (n < free) {
      this.acc = (this.acc << n) | v;
      this.nacc += n;
      return;
    }
    const rest = n - free;
    const word = free === 32 ? v : (this.acc << free) | (v >>> rest);
    const b = this.buf;
    const at = this.at;
    b[at] = word >>> 24;
    b[at + 1] = word >>> 16;
    b[at + 2] = word >>> 8;
    b[at + 3] = word;
    this.at = at + 4;
    this.acc = rest === 0 ? 0 : v & ((1 << rest) - 1);
    this.nacc = rest;
  }
  /** The low n bits (0 < n <= 64) of the 64-bit (hi, lo). */
  write64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      const h = n - 32;
      this.write(h === 32 ? hi >>> 0 : hi & ((1 << h) - 1), h);
      this.write(lo >>> 0, 32);
    } else {
      this.write(n === 32 ? lo >>> 0 : lo & ((1 << n) - 1), n);
    }
  }
  finish(): Uint8Array {
    let n = this.nacc;
    let acc = this.acc;
    while (n > 0) {
      const take = n >= 8 ? 8 : n;
      this.buf[this.at++] = n >= 8 ? (acc >>> (n - 8)) & 0xff : (acc << (8 - n)) & 0xff;
      n -= take;
      acc = n === 0 ? 0 : acc & ((1 << n) - 1);
    }
    return this.buf.subarray(0, this.at);
  }
}

/** Gorilla's payload (docs/codecs.md, "Gorilla bit layout") for a chunk's points. */
export function gorillaEncodeTs(timestamps: Float64Array, values: Float64Array): Uint8Array {
  const n = timestamps.length;
  if (values.length !== n) throw new RangeError(`gorilla: ${n} timestamps but ${values.length} values`);
  // The widest delta of deltas decides the last bucket: 32 bits (the paper's) unless one needs more.
  let wide = false;
  let prevT = 0;
  let prevD = 0;
  for (let i = 0; i < n; i++) {
    const t = timestamps[i]!;
    if (!Number.isInteger(t) || t > GORILLA_MAX_TIMESTAMP || t < -GORILLA_MAX_TIMESTAMP)
      throw new InvalidTimestampError(
        `gorilla: timestamp ${t} at index ${i} is not an integer of at most 2^51 ms in magnitude; Gorilla encodes whole milliseconds (use the raw or deflate codec for other numbers)`,
      );
    if (i > 0) {
      const d = t - prevT;
      if (!fits(d - prevD, 32)) wide = true;
      prevD = d;
    }
    prevT = t;
  }
  // Worst case: 64+64 bits for the first point, then 4+64 (timestamp) and 2+5+6+64 (value).
  const w = new BitWriter(1 + 16 + (n === 0 ? 0 : (n - 1) * 19) + 8);
  w.buf[0] = wide ? GORILLA_FLAG_WIDE : 0;
  w.at = 1;
  if (n === 0) return w.finish();
  // Timestamps.
  let t = timestamps[0]!;
  let hi = Math.floor(t / TWO32);
  w.write64(hi | 0, t - hi * TWO32, 64);
  prevT = t;
  prevD = 0;
  const lastBits = wide ? 64 : 32;
  for (let i = 1; i < n; i++) {
    t = timestamps[i]!;
    const d = t - prevT;
    const dod = d - prevD;
    prevT = t;
    prevD = d;
    if (dod === 0) w.write(0, 1);
    else if (fits(dod, 7)) {
      w.write(0b10, 2);
      w.write(dod & 0x7f, 7);
    } else if (fits(dod, 9)) {
      w.write(0b110, 3);
      w.write(dod & 0x1ff, 9);
    } else if (fits(dod, 12)) {
      w.write(0b1110, 4);
      w.write(dod & 0xfff, 12);
    } else {
      w.write(0b1111, 4);
      if (lastBits === 32) w.write(dod >>> 0, 32);
      else {
        hi = Math.floor(dod / TWO32);
        w.write64(hi | 0, dod - hi * TWO32, 64);
      }
    }
  }
  // Values.
  const bits = new Int32Array(values.buffer, values.byteOffset, n * 2);
  let pl = bits[0]!;
  let ph = bits[1]!;
  w.write64(ph, pl, 64);
  let lead = -1; // the window: none yet
  let trail = 0;
  for (let i = 1; i < n; i++) {
    const l = bits[2 * i]!;
    const h = bits[2 * i + 1]!;
    const xl = l ^ pl;
    const xh = h ^ ph;
    pl = l;
    ph = h;
    if (xl === 0 && xh === 0) {
      w.write(0, 1);
      continue;
    }
    let lz = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    if (lz > 31) lz = 31;
    const tz = xl !== 0 ? 31 - Math.clz32(xl & -xl) : 32 + 31 - Math.clz32(xh & -xh);
    let shift: number;
    let sig: number;
    if (lead >= 0 && lz >= lead && tz >= trail && 64 - lz - tz + WINDOW_COST >= 64 - lead - trail) {
      w.write(0b10, 2);
      shift = trail;
      sig = 64 - lead - trail;
    } else {
      lead = lz;
      trail = tz;
      sig = 64 - lz - tz;
      w.write(0b11, 2);
      w.write(lz, 5);
      w.write(sig & 63, 6); // 64 meaningful bits are written as 0
      shift = tz;
    }
    // (xh, xl) >> shift, then its low sig bits.
    let sh: number;
    let sl: number;
    if (shift === 0) {
      sh = xh;
      sl = xl;
    } else if (shift < 32) {
      sl = (xl >>> shift) | (xh << (32 - shift));
      sh = xh >>> shift;
    } else {
      sl = xh >>> (shift - 32);
      sh = 0;
    }
    w.write64(sh, sl, sig);
  }
  return w.finish();
}

function corrupt(what: string): CorruptFileError {
  return new CorruptFileError(`gorilla chunk: ${what}`);
}

/** Decodes `count` points of a Gorilla payload; throws CorruptFileError naming what is wrong. */
export function gorillaDecodeTs(payload: Uint8Array, count: number): { timestamps: Float64Array; values: Float64Array } {
  if (payload.length < 1) throw corrupt('the payload is empty (it has at least its flags byte)');
  const flags = payload[0]!;
  if ((flags & ~GORILLA_FLAG_WIDE) !== 0) throw corrupt(`unknown flags 0x${flags.toString(16)} in the first byte`);
  const totalBits = (payload.length - 1) * 8;
  if (count > 0 && totalBits < GORILLA_MIN_BITS_FIRST + (count - 1) * GORILLA_MIN_BITS_NEXT)
    throw corrupt(`${payload.length} bytes cannot hold ${count} points`);
  const timestamps = new Float64Array(count);
  const values = new Float64Array(count);
  if (count === 0) {
    if (payload.length !== 1) throw corrupt(`${payload.length - 1} bytes after the flags of an empty chunk`);
    return { timestamps, values };
  }
  const lastBits = (flags & GORILLA_FLAG_WIDE) !== 0 ? 64 : 32;
  const b = payload;
  const end = payload.length;
  let pos = 8; // bit position in payload; the flags byte is bits [0, 8)

  // Up to 32 bits from the stream, unsigned.
  const read = (n: number): number => {
    if (pos + n > end * 8) throw corrupt(`the bit stream ends early (needed ${n} bits at bit ${pos - 8} of ${totalBits})`);
    const i = pos >>> 3;
    const off = pos & 7;
    pos += n;
    if (i + 5 <= end) {
      const word = (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
      let r = (word << off) >>> (32 - n);
      if (off + n > 32) r = (r | (b[i + 4]! >>> (40 - off - n))) >>> 0;
      return n === 0 ? 0 : r;
    }
    let r = 0;
    for (let k = 0; k < n; k++) {
      const p = pos - n + k;
      r = r * 2 + ((b[p >>> 3]! >>> (7 - (p & 7))) & 1);
    }
    return r;
  };
  const readBit = (): number => {
    if (pos >= end * 8) throw corrupt(`the bit stream ends early (at bit ${pos - 8} of ${totalBits})`);
    const r = (b[pos >>> 3]! >>> (7 - (pos & 7))) & 1;
    pos++;
    return r;
  };
  const signed = (v: number, n: number): number => (v > 2 ** (n - 1) ? v - 2 ** n : v);
  const inRange = (t: number, i: number): void => {
    if (!(t <= GORILLA_MAX_TIMESTAMP && t >= -GORILLA_MAX_TIMESTAMP))
      throw corrupt(`timestamp ${i} decodes to ${t}, beyond the 2^51 ms Gorilla encodes`);
  };

  // Timestamps.
  let t = (read(32) | 0) * TWO32 + read(32);
  inRange(t, 0);
  timestamps[0] = t;
  let d = 0;
  for (let i = 1; i < count; i++) {
    let dod: number;
    if (readBit() === 0) dod = 0;
    else if (readBit() === 0) dod = signed(read(7), 7);
    else if (readBit() === 0) dod = signed(read(9), 9);
    else if (readBit() === 0) dod = signed(read(12), 12);
    else if (lastBits === 32) dod = signed(read(32), 32);
    else dod = (read(32) | 0) * TWO32 + read(32);
    d += dod;
    t += d;
    inRange(t, i);
    timestamps[i] = t;
  }
  // Values.
  const out = new Int32Array(values.buffer);
  let ph = read(32) | 0;
  let pl = read(32) | 0;
  out[0] = pl;
  out[1] = ph;
  let lead = -1;
  let trail = 0;
  for (let i = 1; i < count; i++) {
    if (readBit() !== 0) {
      let sig: number;
      if (readBit() === 0) {
        if (lead < 0) throw corrupt(`value ${i} reuses a leading/trailing-zero window before one was set`);
        sig = 64 - lead - trail;
      } else {
        lead = read(5);
        sig = read(6);
        if (sig === 0) sig = 64;
        trail = 64 - lead - sig;
        if (trail < 0) throw corrupt(`value ${i} has ${lead} leading zeros and ${sig} meaningful bits, more than 64`);
      }
      // sig bits, then << trail.
      let sh: number;
      let sl: number;
      if (sig > 32) {
        sh = read(sig - 32);
        sl = read(32);
      } else {
        sh = 0;
        sl = read(sig);
      }
      let xh: number;
      let xl: number;
      if (trail === 0) {
        xh = sh;
        xl = sl;
      } else if (trail < 32) {
        xh = (sh << trail) | (sl >>> (32 - trail));
        xl = sl << trail;
      } else {
        xh = sl << (trail - 32);
        xl = 0;
      }
      ph ^= xh;
      pl ^= xl;
    }
    out[2 * i] = pl;
    out[2 * i + 1] = ph;
  }
  const used = pos - 8;
  if (Math.ceil(used / 8) !== end - 1) throw corrupt(`${end - 1 - Math.ceil(used / 8)} bytes after the last point's bits`);
  if (pos & 7 && (b[end - 1]! & ((1 << (8 - (pos & 7))) - 1)) !== 0) throw corrupt('the padding bits after the last point are not zero');
  return { timestamps, values };
}
