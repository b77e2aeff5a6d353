// Prometheus remote-write 1.0 WriteRequest encoding, written straight into a protobufjs Writer
// (no intermediate message objects). The wire layout follows proto/remote-write.proto:
//
//   WriteRequest { repeated TimeSeries timeseries = 1; }
//   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   Label        { string name = 1; string value = 2; }
//   Sample       { double value = 1; int64 timestamp = 2; }
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';
import { Writer } from 'protobufjs/minimal';
import type { Root } from 'protobufjs';
import { InvalidTimestampError, InvalidValueError } from '../errors';
import type { ExportSeries } from './types';

// Field tags: (field number << 3) | wire type. Wire types: 0 varint, 1 fixed64, 2 length-delimited.
const TAG_WRITE_REQUEST_TIMESERIES = (1 << 3) | 2;
const TAG_TIMESERIES_LABEL = (1 << 3) | 2;
const TAG_TIMESERIES_SAMPLE = (2 << 3) | 2;
const TAG_LABEL_NAME = (1 << 3) | 2;
const TAG_LABEL_VALUE = (2 << 3) | 2;
const TAG_SAMPLE_VALUE = (1 << 3) | 1;
const TAG_SAMPLE_TIMESTAMP = (2 << 3) | 0;

/**
 * Prometheus's stale marker: the NaN with bit pattern 0x7ff0000000000002 (value.StaleNaN).
 * Written as raw bits, since JavaScript engines may canonicalise NaN payloads.
 */
export const STALE_NAN_BITS = { low: 0x00000002, high: 0x7ff00000, unsigned: true } as const;

const NAME_LABEL = '__name__';

/** Bytes a protobuf int64 varint of `v` (a safe integer) takes. */
function int64VarintLength(v: number): number {
  if (v < 0) return 10; // two's complement, sign-extended to 64 bits
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

const byName = (a: readonly [string, string], b: readonly [string, string]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

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
): Uint8Array {
  const external: [string, string][] = [];
  if (externalLabels) {
    for (const k of Object.keys(externalLabels)) {
      const v = externalLabels[k];
      if (k !== NAME_LABEL && typeof v === 'string' && v !== '') external.push([k, v]);
    }
  }

  const w = Writer.create();
  for (const s of series) {
    const n = s.timestamps.length;
    if (n === 0) continue;
    if (s.values.length !== n)
      throw new InvalidValueError(
        `series ${s.name} (id ${s.id}) has ${n} timestamps but ${s.values.length} values; they must pair up`,
      );

    w.uint32(TAG_WRITE_REQUEST_TIMESERIES).fork();

    const labels: [string, string][] = [[NAME_LABEL, s.name]];
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
    for (const [k, v] of labels) {
      w.uint32(TAG_TIMESERIES_LABEL).fork().uint32(TAG_LABEL_NAME).string(k).uint32(TAG_LABEL_VALUE).string(v).ldelim();
    }

    let stale: Uint8Array | undefined;
    if (s.stale && s.stale.length > 0) {
      stale = new Uint8Array(n);
      for (const i of s.stale) {
        if (Number.isInteger(i) && i >= 0 && i < n) stale[i] = 1;
      }
    }

    for (let i = 0; i < n; i++) {
      const ts = s.timestamps[i] as number;
      if (!Number.isSafeInteger(ts))
        throw new InvalidTimestampError(
          `series ${s.name} (id ${s.id}) has timestamp ${String(ts)} at index ${i}; timestamps must be integer ms since the epoch`,
        );
      // A Sample is 1 + 8 bytes of value and 1 + varint bytes of timestamp: its length is known.
      w.uint32(TAG_TIMESERIES_SAMPLE).uint32(1 + 8 + 1 + int64VarintLength(ts));
      w.uint32(TAG_SAMPLE_VALUE);
      if (stale !== undefined && stale[i] === 1) w.fixed64(STALE_NAN_BITS);
      else w.double(s.values[i] as number);
      w.uint32(TAG_SAMPLE_TIMESTAMP).int64(ts);
    }

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
