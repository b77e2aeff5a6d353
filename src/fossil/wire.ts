// fossil's wire format, as its server speaks it: every message in both directions is one frame
//
//   u32 BE length L (= 8 + data bytes; the 4 length bytes not counted)
//   8 bytes command, ASCII, NUL-padded ("QUERY\0\0\0"); a receiver strips NULs and upper-cases
//   L - 8 bytes data
//
// and the data layouts of the requests and answers (docs/events.md, "The fossil protocol").

import type { EventRows } from './source';

/** The largest L a receiver takes (fossil's own limit: 100 MiB). */
export const MAX_FRAME = 100 * 1024 * 1024;
export const COMMAND_WIDTH = 8;

/** The version string fossil's server announces. */
export const FOSSIL_VERSION = 'v1.0.0';

/** fossil's answer codes. */
export const CODES = {
  ok: 200,
  databaseChanged: 201,
  error: 500,
  commandNotFound: 501,
  malformed: 502,
  nonconformant: 503,
  query: 504,
  unknownDb: 505,
  unmarshal: 506,
} as const;

export interface Frame {
  /** Upper-cased, NULs stripped. */
  command: string;
  data: Buffer;
}

/** One frame's bytes. */
export function encodeFrame(command: string, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.alloc(4 + COMMAND_WIDTH + body.length);
  out.writeUInt32BE(COMMAND_WIDTH + body.length, 0);
  out.write(command.slice(0, COMMAND_WIDTH), 4, 'latin1');
  body.copy(out, 4 + COMMAND_WIDTH);
  return out;
}

/** A code and a text, the data of OK, ERR and VERSION answers. */
export function codeText(code: number, text: string): Buffer {
  const t = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(4 + t.length);
  out.writeUInt32BE(code >>> 0, 0);
  t.copy(out, 4);
  return out;
}

export function okFrame(code: number = CODES.ok, text = 'Ok'): Buffer {
  return encodeFrame('OK', codeText(code, text));
}

export function errFrame(code: number, text: string): Buffer {
  return encodeFrame('ERR', codeText(code, text));
}

/** u32 count, then count × (u32 length + bytes): the data of LIST and QUERY answers. */
export function lengthPrefixedList(items: readonly Buffer[]): Buffer {
  let size = 4;
  for (const b of items) size += 4 + b.length;
  const out = Buffer.alloc(size);
  out.writeUInt32BE(items.length, 0);
  let p = 4;
  for (const b of items) {
    out.writeUInt32BE(b.length, p);
    b.copy(out, p + 4);
    p += 4 + b.length;
  }
  return out;
}

/** Reads a u32-count list (LIST and QUERY answers); throws on a short buffer. */
export function readList(data: Buffer): Buffer[] {
  if (data.length < 4) throw new Error('list shorter than its count');
  const n = data.readUInt32BE(0);
  const out: Buffer[] = [];
  let p = 4;
  for (let i = 0; i < n; i++) {
    if (p + 4 > data.length) throw new Error('list entry header past the end');
    const len = data.readUInt32BE(p);
    if (p + 4 + len > data.length) throw new Error('list entry past the end');
    out.push(data.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

/** u32 topic length + topic + rest: APPEND and CREATE requests. */
export function topicAndRest(topic: string, rest: Buffer | string): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const r = typeof rest === 'string' ? Buffer.from(rest, 'utf8') : rest;
  const out = Buffer.alloc(4 + t.length + r.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  r.copy(out, 4 + t.length);
  return out;
}

/** Splits an APPEND or CREATE request; undefined when the topic length runs past the data.
 *  Topic length 0 means "/"; a topic without a leading "/" gets one. */
export function splitTopic(data: Buffer, cache?: TopicCache): { topic: string; rest: Buffer } | undefined {
  if (data.length < 4) return undefined;
  const n = data.readUInt32BE(0);
  if (4 + n > data.length) return undefined;
  if (cache !== undefined && cache.bytes.length === n && sameBytes(cache.bytes, data, 4)) return { topic: cache.topic, rest: data.subarray(4 + n) };
  let topic = data.toString('utf8', 4, 4 + n);
  if (topic === '') topic = '/';
  else if (!topic.startsWith('/')) topic = `/${topic}`;
  if (cache !== undefined && n <= 1024) {
    cache.bytes = Buffer.from(data.subarray(4, 4 + n));
    cache.topic = topic;
  }
  return { topic, rest: data.subarray(4 + n) };
}

/** The topic of n bytes at data[at] (as splitTopic reads it), from the cache when it is the last one. */
export function topicAt(data: Buffer, at: number, n: number, cache: TopicCache): string {
  if (cache.bytes.length === n && sameBytes(cache.bytes, data, at)) return cache.topic;
  let topic = data.toString('utf8', at, at + n);
  if (topic === '') topic = '/';
  else if (!topic.startsWith('/')) topic = `/${topic}`;
  if (n <= 1024) {
    cache.bytes = Buffer.from(data.subarray(at, at + n));
    cache.topic = topic;
  }
  return topic;
}

/**
 * The whole APPEND frames at the start of buf, without a Frame or a Buffer each: calls
 * append(topic, datum) for each (the datum a Uint8Array over buf) and returns the offset of the
 * first byte it did not take (a frame not whole, not an APPEND, or malformed: for FrameReader).
 */
export function appendsAt(buf: Buffer, cache: TopicCache, append: (topic: string, datum: Uint8Array) => boolean): number {
  let p = 0;
  const size = buf.length;
  while (size - p >= 16) {
    const len = buf.readUInt32BE(p);
    if (len < 12 || len > MAX_FRAME || size - p - 4 < len) break;
    if (buf.readUInt32BE(p + 4) !== APPE || buf.readUInt32BE(p + 8) !== ND00) break;
    const ds = p + 12;
    const de = p + 4 + len;
    const n = buf.readUInt32BE(ds);
    if (ds + 4 + n > de) break;
    const topic = topicAt(buf, ds + 4, n, cache);
    if (!append(topic, new Uint8Array(buf.buffer, buf.byteOffset + ds + 4 + n, de - ds - 4 - n))) break;
    p = de;
  }
  return p;
}

/** a equals b[at, at + a.length) (a byte loop: cheaper than Buffer.compare for a topic). */
function sameBytes(a: Buffer, b: Buffer, at: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[at + i]) return false;
  return true;
}

/** The last topic a connection appended to, its bytes and its name. */
export interface TopicCache {
  bytes: Buffer;
  topic: string;
}

const APPE = 0x41505045; // "APPE"
const ND00 = 0x4e440000; // "ND\0\0"

/** The command of the 8 bytes at p: NULs stripped, upper-cased (APPEND, the hot one, without
 *  making strings). */
function commandAt(buf: Buffer, p: number): string {
  if (buf.readUInt32BE(p) === APPE && buf.readUInt32BE(p + 4) === ND00) return 'APPEND';
  return buf.toString('latin1', p, p + COMMAND_WIDTH).replace(/\0/g, '').toUpperCase();
}

export type FrameEvent = { frame: Frame } | { error: 'too_large' | 'short_frame' | 'truncated'; length: number };

/**
 * Cuts frames out of a byte stream. push() takes bytes and returns the whole frames they end;
 * a length above MAX_FRAME or below 8 is an error, after which nothing more is cut (the stream
 * cannot be resynchronised). end() reports a frame cut short by the end of the stream.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private broken = false;
  /** Bytes the frame at the start of what is held needs, once its length is known: until they
   *  are all here, chunks are only kept (joining them on every chunk made a large frame's
   *  reading quadratic: a 40 MiB answer took a minute). */
  private need = 0;

  push(chunk: Buffer): FrameEvent[] {
    if (this.broken) return [];
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return [];
    this.need = 0;
    const out: FrameEvent[] = [];
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
    let p = 0;
    while (buf.length - p >= 4) {
      const len = buf.readUInt32BE(p);
      if (len > MAX_FRAME) {
        out.push({ error: 'too_large', length: len });
        this.broken = true;
        break;
      }
      if (len < COMMAND_WIDTH) {
        out.push({ error: 'short_frame', length: len });
        this.broken = true;
        break;
      }
      if (buf.length - p - 4 < len) {
        this.need = 4 + len;
        break;
      }
      const cmd = commandAt(buf, p + 4);
      out.push({ frame: { command: cmd, data: buf.subarray(p + 4 + COMMAND_WIDTH, p + 4 + len) } });
      p += 4 + len;
    }
    if (this.broken) {
      this.chunks = [];
      this.have = 0;
    } else {
      buf = buf.subarray(p);
      this.chunks = buf.length > 0 ? [buf] : [];
      this.have = buf.length;
    }
    return out;
  }

  /** Bytes still to come before the frame it holds is whole: 0 when it holds nothing, -1 when
   *  that is not known yet (under 4 bytes held) or the stream is broken. */
  missing(): number {
    if (this.broken) return -1;
    if (this.have === 0) return 0;
    return this.need > 0 ? this.need - this.have : -1;
  }

  /** The bytes left over when the stream ended: a frame cut short, when there are any. */
  end(): FrameEvent | undefined {
    if (this.broken || this.have === 0) return undefined;
    const buf = Buffer.concat(this.chunks, this.have);
    return { error: 'truncated', length: buf.length >= 4 ? buf.readUInt32BE(0) : buf.length };
  }
}

/** Go's time.RFC3339Nano of a UTC instant in ns: trailing zeros of the fraction dropped. */
export function formatTime(tsNs: bigint): string {
  const sec = tsNs >= 0n ? tsNs / 1_000_000_000n : -((-tsNs + 999_999_999n) / 1_000_000_000n);
  const frac = tsNs - sec * 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  let f = frac.toString().padStart(9, '0').replace(/0+$/, '');
  if (f !== '') f = `.${f}`;
  return `${base}${f}Z`;
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
/** The longest time formatTime writes for years 0000..9999: 2006-01-02T15:04:05.999999999Z. */
const TIME_MAX = 30;
const MIN_FAST_NS = -62135596800n * 1_000_000_000n; // 0001-01-01
const MAX_FAST_NS = 253402300799n * 1_000_000_000n; // 9999-12-31T23:59:59

/**
 * The data of a QUERY answer (lengthPrefixedList of `time<TAB>topic<TAB>base64(datum)<TAB>schema`
 * lines) written straight into one buffer, from columns: row i is at tsNs[i] on topics[k] with
 * schemas[k] (k = topicIndex[i]), its datum data[start[i] .. end[i]). What the door answers a
 * large query with: no string or buffer per line. Returns the data and its size in bytes.
 */
export function encodeAnswer(c: EventRows): Buffer {
  const n = c.count;
  const heads = c.topics.map((t) => Buffer.from(`\t${t}\t`, 'utf8'));
  const tails = c.schemas.map((t) => Buffer.from(`\t${t}`, 'utf8'));
  let size = 4;
  for (let i = 0; i < n; i++) {
    const k = c.topicIndex[i]!;
    size += 4 + TIME_MAX + heads[k]!.length + 4 * Math.ceil((c.end[i]! - c.start[i]!) / 3) + tails[k]!.length;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(n, 0);
  let p = 4;
  const data = c.data;
  // The time's text up to the second, kept while the rows stay within one second.
  let secStart = 1n;
  let secEnd = 0n;
  let prefix = Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    const k = c.topicIndex[i]!;
    const lineAt = p;
    p += 4;
    const t = c.tsNs[i]!;
    if (t < MIN_FAST_NS || t > MAX_FAST_NS) {
      p += out.write(formatTime(t), p, 'latin1');
    } else {
      if (t < secStart || t >= secEnd) {
        const text = formatTime(t);
        prefix = Buffer.from(text.slice(0, 19), 'latin1');
        secStart = t >= 0n ? (t / 1_000_000_000n) * 1_000_000_000n : -((-t + 999_999_999n) / 1_000_000_000n) * 1_000_000_000n;
        secEnd = secStart + 1_000_000_000n;
      }
      for (let j = 0; j < 19; j++) out[p + j] = prefix[j]!;
      p += 19;
      let frac = Number(t - secStart);
      if (frac !== 0) {
        out[p++] = 0x2e; // .
        let digits = 9;
        while (frac % 10 === 0) {
          frac /= 10;
          digits--;
        }
        for (let d = digits - 1; d >= 0; d--) {
          out[p + d] = 0x30 + (frac % 10);
          frac = Math.floor(frac / 10);
        }
        p += digits;
      }
      out[p++] = 0x5a; // Z
    }
    const h = heads[k]!;
    for (let j = 0; j < h.length; j++) out[p + j] = h[j]!; // short: a loop beats copy()'s call
    p += h.length;
    // base64 with padding, as Go's StdEncoding
    let s = c.start[i]!;
    const e = c.end[i]!;
    for (; s + 3 <= e; s += 3) {
      const v = (data[s]! << 16) | (data[s + 1]! << 8) | data[s + 2]!;
      out[p] = B64[v >> 18]!;
      out[p + 1] = B64[(v >> 12) & 63]!;
      out[p + 2] = B64[(v >> 6) & 63]!;
      out[p + 3] = B64[v & 63]!;
      p += 4;
    }
    if (e - s === 1) {
      const v = data[s]! << 16;
      out[p] = B64[v >> 18]!;
      out[p + 1] = B64[(v >> 12) & 63]!;
      out[p + 2] = 0x3d;
      out[p + 3] = 0x3d;
      p += 4;
    } else if (e - s === 2) {
      const v = (data[s]! << 16) | (data[s + 1]! << 8);
      out[p] = B64[v >> 18]!;
      out[p + 1] = B64[(v >> 12) & 63]!;
      out[p + 2] = B64[(v >> 6) & 63]!;
      out[p + 3] = 0x3d;
      p += 4;
    }
    const tl = tails[k]!;
    for (let j = 0; j < tl.length; j++) out[p + j] = tl[j]!;
    p += tl.length;
    out.writeUInt32BE(p - lineAt - 4, lineAt);
  }
  return out.subarray(0, p);
}

/** Go's time.Duration String() of ns: "1h2m3.5s", "1.5ms", "0s". */
export function goDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  const sign = neg ? '-' : '';
  const fracOf = (v: bigint, unit: bigint, digits: number): string => {
    const whole = v / unit;
    const rest = (v % unit).toString().padStart(digits, '0').replace(/0+$/, '');
    return rest === '' ? whole.toString() : `${whole}.${rest}`;
  };
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fracOf(u, 1000n, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fracOf(u, 1_000_000n, 6)}ms`;
  let out = '';
  const h = u / 3_600_000_000_000n;
  u -= h * 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u -= m * 60_000_000_000n;
  if (h > 0n) out += `${h}h`;
  if (h > 0n || m > 0n) out += `${m}m`;
  out += `${fracOf(u, 1_000_000_000n, 9)}s`;
  return sign + out;
}
