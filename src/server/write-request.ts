// A decoder of the remote-write 1.0 WriteRequest (proto/remote-write.proto), by hand: one pass
// over the bytes, strings decoded once per label, samples straight into IngestSamples, and the
// stale marker told apart by its bits (a double read into a JavaScript number may lose a NaN's
// payload). It reads what protobufjs would (test/server-api.test.ts compares both on the same
// requests and prints both timings: protobufjs's decode alone is faster, but its objects would
// still need turning into samples), and refuses malformed input with a ProtoError.
import type { IngestSample } from '../ingest';
import type { SeriesKind } from '../store';

export class ProtoError extends Error {
  override name = 'ProtoError';
}

export interface DecodedWriteRequest {
  /** Every sample, those of one series sharing one labels object. */
  samples: IngestSample[];
  /** Series (TimeSeries messages) in the request. */
  series: number;
  /** Metric family name → kind, from the request's metadata (COUNTER → counter, GAUGE → gauge). */
  kinds: Map<string, SeriesKind>;
  /** Native histograms and exemplars, which rondo does not store (counted). */
  histograms: number;
}

const STALE_HI = 0x7ff00000;
const STALE_LO = 0x00000002;

class Reader {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  varint(): number {
    // Up to 10 bytes; values past 2^53 lose precision (only int64 timestamps could, and those are refused later).
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError(`protobuf: truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ProtoError(`protobuf: varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** An int64 varint: two's complement for negative values. */
  int64(): number {
    const start = this.pos;
    const v = this.varint();
    if (this.pos - start === 10 || v >= 2 ** 63) return v - 2 ** 64;
    return v;
  }

  length(): number {
    const len = this.varint();
    if (len > this.end - this.pos) throw new ProtoError(`protobuf: a field of ${len} bytes runs past the end of its message at byte ${this.pos}`);
    return len;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.need(8);
        this.pos += 8;
        return;
      case 2:
        this.pos += this.length();
        return;
      case 5:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new ProtoError(`protobuf: wire type ${wireType} is not valid at byte ${this.pos}`);
    }
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new ProtoError(`protobuf: truncated field at byte ${this.pos}`);
  }

  /** A little-endian double; its bits are kept in `bitsStale` (true for the stale marker), read
   *  only when the value is a NaN, since only a NaN can be one. */
  double(): number {
    this.need(8);
    const value = this.view.getFloat64(this.pos, true);
    this.bitsStale = value !== value && this.view.getUint32(this.pos + 4, true) === STALE_HI && this.view.getUint32(this.pos, true) === STALE_LO;
    this.pos += 8;
    return value;
  }

  /** Whether the last double() read the stale marker's exact bits. */
  bitsStale = false;

  string(len: number): string {
    const start = this.pos;
    this.pos += len;
    // Label names and most values are short ASCII: built here, without a call into the decoder,
    // and the same names and values, request after request, are found in a small table of the
    // strings made before (checked byte for byte) rather than made again.
    if (len <= 64) {
      const b = this.buf;
      let ascii = true;
      let h = len;
      for (let i = start; i < start + len; i++) {
        const c = b[i]!;
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        h = (Math.imul(h, 31) + c) | 0;
      }
      if (ascii) {
        const slot = h & (INTERNED - 1);
        const seen = interned[slot];
        if (seen !== undefined && seen.length === len) {
          let same = true;
          for (let i = 0; i < len; i++)
            if (seen.charCodeAt(i) !== b[start + i]) {
              same = false;
              break;
            }
          if (same) return seen;
        }
        const made = String.fromCharCode.apply(null, b.subarray(start, start + len) as unknown as number[]);
        interned[slot] = made;
        return made;
      }
    }
    return utf8.decode(this.buf.subarray(start, start + len));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Short ASCII strings decoded before, by a hash of their bytes (a power of two of slots). */
const INTERNED = 4096;
const interned: Array<string | undefined> = new Array<string | undefined>(INTERNED).fill(undefined);

/** A field's tag: field number × 8 + wire type. */
function tagOf(r: Reader): number {
  const tag = r.varint();
  if (tag < 8) throw new ProtoError(`protobuf: field number 0 at byte ${r.pos}`);
  return tag;
}

function expectWire(field: number, wire: number, want: number, what: string): void {
  if (wire !== want) throw new ProtoError(`protobuf: ${what} (field ${field}) has wire type ${wire}, expected ${want}`);
}

/** Decodes a WriteRequest; throws ProtoError on malformed bytes or invalid UTF-8. */
export function decodeWriteRequest(buf: Uint8Array, source = 'remote_write'): DecodedWriteRequest {
  const r = new Reader(buf, 0, buf.length);
  const out: DecodedWriteRequest = { samples: [], series: 0, kinds: new Map(), histograms: 0 };
  const pending: Array<{ name: string; labels: Record<string, string>; from: number }> = [];
  try {
    while (r.pos < r.end) {
      const tag = tagOf(r);
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1) {
        expectWire(field, wire, 2, 'WriteRequest.timeseries');
        const len = r.length();
        const end = r.pos + len;
        out.series++;
        const from = out.samples.length;
        const { name, labels } = decodeTimeSeries(r, end, out, source);
        pending.push({ name, labels, from });
        r.pos = end;
      } else if (field === 3) {
        expectWire(field, wire, 2, 'WriteRequest.metadata');
        const len = r.length();
        decodeMetadata(r, r.pos + len, out.kinds);
      } else r.skip(wire);
    }
  } catch (e) {
    if (e instanceof TypeError) throw new ProtoError(`protobuf: a string is not valid UTF-8 (${e.message})`);
    throw e;
  }
  // Names and kinds are known only now (metadata may come after the series).
  for (let i = 0; i < pending.length; i++) {
    const p = pending[i]!;
    const to = i + 1 < pending.length ? pending[i + 1]!.from : out.samples.length;
    const kind = out.kinds.get(p.name) ?? out.kinds.get(familyOf(p.name));
    for (let j = p.from; j < to; j++) {
      const s = out.samples[j]!;
      s.name = p.name;
      if (kind !== undefined) s.kind = kind;
    }
  }
  return out;
}

/** The family a series name belongs to, for metadata of histograms and summaries. */
function familyOf(name: string): string {
  for (const suffix of ['_total', '_bucket', '_count', '_sum']) if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return name;
}

function decodeTimeSeries(r: Reader, end: number, out: DecodedWriteRequest, source: string): { name: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  let name = '';
  let sawName = false;
  while (r.pos < end) {
    const tag = tagOf(r);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1) {
      expectWire(field, wire, 2, 'TimeSeries.labels');
      const len = r.length();
      const lend = r.pos + len;
      if (lend > end) throw new ProtoError('protobuf: a label runs past its series');
      let ln = '';
      let lv = '';
      while (r.pos < lend) {
        const t = tagOf(r);
        const f = Math.floor(t / 8);
        const w = t & 7;
        if (f === 1 || f === 2) {
          expectWire(f, w, 2, 'Label.name/value');
          const l = r.length();
          if (r.pos + l > lend) throw new ProtoError('protobuf: a label string runs past its label');
          if (f === 1) ln = r.string(l);
          else lv = r.string(l);
        } else r.skip(w);
      }
      if (ln === '__name__') {
        name = lv;
        sawName = true;
      } else if (lv !== '') labels[ln] = lv;
    } else if (field === 2) {
      expectWire(field, wire, 2, 'TimeSeries.samples');
      const len = r.length();
      const send = r.pos + len;
      if (send > end) throw new ProtoError('protobuf: a sample runs past its series');
      let value = 0;
      let stale = false;
      let ts = 0;
      while (r.pos < send) {
        // One-byte tags (every field of Sample) without the general varint reader.
        const b = r.buf[r.pos]!;
        const t = b < 0x80 ? (r.pos++, b) : r.varint();
        if (t < 8) throw new ProtoError(`protobuf: field number 0 at byte ${r.pos}`);
        const f = Math.floor(t / 8);
        const w = t & 7;
        if (f === 1) {
          expectWire(f, w, 1, 'Sample.value');
          value = r.double();
          stale = r.bitsStale;
        } else if (f === 2) {
          expectWire(f, w, 0, 'Sample.timestamp');
          ts = r.int64();
        } else r.skip(w);
      }
      if (r.pos !== send) throw new ProtoError('protobuf: a sample overruns its length');
      const s: IngestSample = { name: '', labels, value, timestampMs: ts, source };
      if (stale) s.stale = true;
      out.samples.push(s);
    } else if (field === 3 || field === 4) {
      // Exemplars and native histograms: not stored.
      if (field === 4) out.histograms++;
      r.skip(wire);
    } else r.skip(wire);
    if (r.pos > end) throw new ProtoError('protobuf: a field overruns its series');
  }
  if (!sawName) name = '';
  return { name, labels };
}

function decodeMetadata(r: Reader, end: number, kinds: Map<string, SeriesKind>): void {
  let type = 0;
  let family = '';
  while (r.pos < end) {
    const t = tagOf(r);
        const f = Math.floor(t / 8);
        const w = t & 7;
    if (f === 1 && w === 0) type = r.varint();
    else if (f === 2 && w === 2) family = r.string(r.length());
    else r.skip(w);
  }
  if (r.pos !== end) throw new ProtoError('protobuf: metadata overruns its length');
  // COUNTER = 1, GAUGE = 2; histograms and summaries (3, 5): their _count, _sum and _bucket are counters.
  if (family === '') return;
  if (type === 1) kinds.set(family, 'counter');
  else if (type === 2) kinds.set(family, 'gauge');
}
