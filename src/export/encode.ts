// Prometheus remote-write 1.0 WriteRequest encoding, written straight into a protobufjs Writer
// (no intermediate message objects). The wire layout follows proto/remote-write.proto:
//
//   WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//   MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
//   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   Label        { string name = 1; string value = 2; }
//   Sample       { double value = 1; int64 timestamp = 2; }
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';
import { util, Writer } from 'protobufjs/minimal';
import type { Root } from 'protobufjs';
import { InvalidTimestampError, InvalidValueError } from '../errors';
import type { ExportSeries } from '../store';

// Field tags: (field number << 3) | wire type. Wire types: 0 varint, 1 fixed64, 2 length-delimited.
const TAG_WRITE_REQUEST_TIMESERIES = (1 << 3) | 2;
const TAG_TIMESERIES_LABEL = (1 << 3) | 2;
const TAG_TIMESERIES_SAMPLE = (2 << 3) | 2;
const TAG_LABEL_NAME = (1 << 3) | 2;
const TAG_LABEL_VALUE = (2 << 3) | 2;
const TAG_SAMPLE_VALUE = (1 << 3) | 1;
const TAG_SAMPLE_TIMESTAMP = (2 << 3) | 0;
const TAG_WRITE_REQUEST_METADATA = (3 << 3) | 2;
const TAG_METADATA_TYPE = (1 << 3) | 0;
const TAG_METADATA_FAMILY = (2 << 3) | 2;
const TAG_METADATA_HELP = (4 << 3) | 2;
const TAG_METADATA_UNIT = (5 << 3) | 2;

/** prometheus.MetricMetadata.MetricType. */
export const METRIC_TYPES = { unknown: 0, counter: 1, gauge: 2, histogram: 3, gaugehistogram: 4, summary: 5, info: 6, stateset: 7 } as const;

/** One metric family's metadata, as a WriteRequest carries it. */
export interface RemoteWriteMetadata {
  type: keyof typeof METRIC_TYPES;
  /** The metric name as exposed (a counter's with its _total). */
  family: string;
  help?: string;
  unit?: string;
}

/**
 * Prometheus's stale marker: the NaN with bit pattern 0x7ff0000000000002 (value.StaleNaN).
 * Written as raw bits, since JavaScript engines may canonicalise NaN payloads.
 */
export const STALE_NAN_BITS = { low: 0x00000002, high: 0x7ff00000, unsigned: true } as const;

const NAME_LABEL = '__name__';

/** Bytes a protobuf int64 varint of `v` (a safe integer) takes. */
function int64VarintLength(v: number): number {
  if (v < 0) return 10; // two's complement, sign-extended to 64 bits
  if (v < 0x10000000) return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
  // 2^35, 2^42, 2^49; a safe integer is below 2^53 < 2^56
  return v < 34359738368 ? 5 : v < 4398046511104 ? 6 : v < 562949953421312 ? 7 : 8;
}

/** Bytes a protobuf varint of the unsigned 32-bit `v` takes. */
function uint32VarintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

const byName = (a: readonly [string, string], b: readonly [string, string]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

/** The Label fields of one TimeSeries (its __name__, own and external labels, sorted), encoded. */
function encodeLabels(s: ExportSeries, external: readonly (readonly [string, string])[]): Uint8Array {
  const labels: (readonly [string, string])[] = [[NAME_LABEL, s.name]];
  for (const k of Object.keys(s.labels)) {
    const v = s.labels[k];
    if (k === NAME_LABEL || v === undefined || v === '') continue;
    labels.push([k, v]);
  }
  for (const pair of external) {
    const own = s.labels[pair[0]];
    if (own === undefined || own === '') labels.push(pair);
  }
  labels.sort(byName);
  const w = Writer.create();
  for (const [k, v] of labels) {
    w.uint32(TAG_TIMESERIES_LABEL).fork().uint32(TAG_LABEL_NAME).string(k).uint32(TAG_LABEL_VALUE).string(v).ldelim();
  }
  return w.finish();
}

/**
 * Encoded labels of series whose labels object cannot change (frozen, with plain values: a
 * store's series handles' are), per name and external-label set: an exporter sends the same
 * series batch after batch.
 */
const labelCache = new WeakMap<object, { name: string; external: string; bytes: Uint8Array }>();

function labelBytes(s: ExportSeries, external: readonly (readonly [string, string])[], externalKey: string): Uint8Array {
  const hit = labelCache.get(s.labels);
  if (hit !== undefined && hit.name === s.name && hit.external === externalKey) return hit.bytes;
  const bytes = encodeLabels(s, external);
  if (Object.isFrozen(s.labels) && Object.values(Object.getOwnPropertyDescriptors(s.labels)).every((d) => 'value' in d))
    labelCache.set(s.labels, { name: s.name, external: externalKey, bytes });
  return bytes;
}

// Sample bytes are written straight into the output, two passes over the samples: the first
// sizes the message (and checks the timestamps), the second writes it.

/** Bytes of one Sample field (tag, length, value, timestamp) for timestamp ts. */
function sampleFieldLength(ts: number): number {
  return 2 + 1 + 8 + 1 + int64VarintLength(ts);
}

/** Writes the int64 varint of the safe integer v at out[p]; returns the next position. */
function writeInt64Varint(out: Uint8Array, p: number, v: number): number {
  let lo: number;
  let hi: number;
  if (v >= 0) {
    lo = v >>> 0;
    hi = Math.floor(v / 4294967296);
  } else {
    // two's complement of |v| over 64 bits
    const bits = util.LongBits.fromNumber(v);
    lo = bits.lo >>> 0;
    hi = bits.hi >>> 0;
  }
  while (hi !== 0) {
    out[p++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    out[p++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  out[p++] = lo;
  return p;
}

function writeUint32Varint(out: Uint8Array, p: number, v: number): number {
  while (v > 0x7f) {
    out[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[p++] = v;
  return p;
}

/**
 * The protobuf bytes of a remote-write WriteRequest holding `series`.
 *
 * Each series becomes one TimeSeries whose labels are `__name__`, the series' labels and the
 * external labels (a series label wins over an external label of the same name), sorted by
 * name; its samples keep the given order, timestamps in ms. Indexes listed in `stale` are sent
 * as Prometheus stale markers (NaN 0x7ff0000000000002). Series without samples are omitted.
 * Empty label values are left out (Prometheus treats them as absent).
 */
export function encodeWriteRequest(
  series: readonly ExportSeries[],
  externalLabels?: Readonly<Record<string, string>>,
  metadata?: readonly RemoteWriteMetadata[],
): Uint8Array {
  const meta = metadata !== undefined && metadata.length > 0 ? encodeMetadata(metadata) : undefined;
  const external: [string, string][] = [];
  if (externalLabels) {
    for (const k of Object.keys(externalLabels)) {
      const v = externalLabels[k];
      if (k !== NAME_LABEL && typeof v === 'string' && v !== '') external.push([k, v]);
    }
  }
  const externalKey = JSON.stringify(external);

  // First pass: check each series, encode its labels, size its message.
  const count = series.length;
  const labels: Uint8Array[] = new Array(count);
  const bodies = new Float64Array(count);
  let total = 0;
  for (let j = 0; j < count; j++) {
    const s = series[j]!;
    const n = s.timestamps.length;
    if (n === 0) continue;
    if (s.values.length !== n)
      throw new InvalidValueError(
        `series ${s.name} (id ${s.id}) has ${n} timestamps but ${s.values.length} values; they must pair up`,
      );
    const lb = labelBytes(s, external, externalKey);
    let body = lb.length;
    const ts = s.timestamps;
    for (let i = 0; i < n; i++) {
      const t = ts[i] as number;
      if (!Number.isSafeInteger(t))
        throw new InvalidTimestampError(
          `series ${s.name} (id ${s.id}) has timestamp ${String(t)} at index ${i}; timestamps must be integer ms since the epoch`,
        );
      body += sampleFieldLength(t);
    }
    labels[j] = lb;
    bodies[j] = body;
    total += 1 + uint32VarintLength(body) + body;
  }

  // Second pass: write.
  const out = Buffer.allocUnsafe(total + (meta?.length ?? 0));
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = 0;
  for (let j = 0; j < count; j++) {
    const lb = labels[j];
    if (lb === undefined) continue;
    const s = series[j]!;
    out[p++] = TAG_WRITE_REQUEST_TIMESERIES;
    p = writeUint32Varint(out, p, bodies[j]!);
    out.set(lb, p);
    p += lb.length;
    const ts = s.timestamps;
    const vs = s.values;
    const n = ts.length;
    let stale: Uint8Array | undefined;
    if (s.stale && s.stale.length > 0) {
      stale = new Uint8Array(n);
      for (const i of s.stale) {
        if (Number.isInteger(i) && i >= 0 && i < n) stale[i] = 1;
      }
    }
    for (let i = 0; i < n; i++) {
      const t = ts[i] as number;
      // A Sample is 1 + 8 bytes of value and 1 + varint bytes of timestamp: its length is known.
      out[p] = TAG_TIMESERIES_SAMPLE;
      out[p + 1] = 1 + 8 + 1 + int64VarintLength(t);
      out[p + 2] = TAG_SAMPLE_VALUE;
      if (stale !== undefined && stale[i] === 1) {
        view.setUint32(p + 3, STALE_NAN_BITS.low, true);
        view.setUint32(p + 7, STALE_NAN_BITS.high, true);
      } else {
        view.setFloat64(p + 3, vs[i] as number, true);
      }
      out[p + 11] = TAG_SAMPLE_TIMESTAMP;
      p = writeInt64Varint(out, p + 12, t);
    }
  }
  if (p !== total) throw new Error(`remote-write encoding wrote ${p} bytes, expected ${total}`);
  if (meta !== undefined) out.set(meta, p);
  return out;
}

/** The WriteRequest.metadata fields (tag 3) for `metadata`, encoded. */
function encodeMetadata(metadata: readonly RemoteWriteMetadata[]): Uint8Array {
  const w = Writer.create();
  for (const m of metadata) {
    w.uint32(TAG_WRITE_REQUEST_METADATA).fork();
    const type = METRIC_TYPES[m.type] ?? 0;
    if (type !== 0) w.uint32(TAG_METADATA_TYPE).int32(type);
    w.uint32(TAG_METADATA_FAMILY).string(m.family);
    if (m.help !== undefined && m.help !== '') w.uint32(TAG_METADATA_HELP).string(m.help);
    if (m.unit !== undefined && m.unit !== '') w.uint32(TAG_METADATA_UNIT).string(m.unit);
    w.ldelim();
  }
  return w.finish();
}

/** Samples `encodeWriteRequest` would send for `series` (stale markers included). */
export function countSamples(series: readonly ExportSeries[]): number {
  let total = 0;
  for (const s of series) total += s.timestamps.length;
  return total;
}

/** Path of the remote-write .proto in the package. */
export const REMOTE_WRITE_PROTO_PATH = path.join(PACKAGE_ROOT, 'proto', 'remote-write.proto');

let protoRoot: Root | undefined;

/**
 * The protobufjs Root of proto/remote-write.proto, for decoding what was sent (tests, tools):
 * `root.lookupType('prometheus.WriteRequest').decode(bytes)`. Loaded once, then cached.
 * Note: decoding a stale marker into a JavaScript number may lose its NaN payload.
 */
export function loadRemoteWriteProto(): Root {
  if (protoRoot === undefined) {
    // The full protobufjs (with the .proto parser) is only needed here, so load it lazily.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protobuf = require('protobufjs') as typeof import('protobufjs');
    protoRoot = protobuf.loadSync(REMOTE_WRITE_PROTO_PATH);
  }
  return protoRoot;
}
