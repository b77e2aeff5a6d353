// Influx line protocol into a store: lines → samples (the naming map of influx-catalog.ts) →
// the one ingest routine. What InfluxDB refuses is refused (a bad line, a field type conflict, the
// tag key or field key "time"); what rondo cannot store is refused too (string fields, skipped and
// counted; a time outside what the ring holds). The good lines of the same body are kept, as
// InfluxDB keeps them.
import type { Labels, Store } from '../store';
import { ingest, seriesKey, type IngestReason, type IngestResult, type IngestSample } from './ingest';
import { InfluxCatalog, influxTypeConflict, labelNameOf, type InfluxField, type InfluxFieldType } from './influx-catalog';
import { forEachLine, keyOf, LineScan, PRECISION_NS, scanLine, unescapeName } from './influx-line';

export interface InfluxIngestOptions {
  /** n (default), u, ms, s, m, h; also ns and us. Anything else: n, as influxd 1.x. */
  precision?: string;
  /** The time of a line without a timestamp (ms); default Date.now(). */
  nowMs?: number;
  /** Most bad lines whose text is kept in the result (all are counted). Default 100. */
  maxErrorLines?: number;
  /** A longer line is refused (reason line_too_long) without being parsed. Default: no limit. */
  maxLineBytes?: number;
}

export interface InfluxIngestResult {
  /** Lines that were not blank nor comments. */
  lines: number;
  /** Lines that parsed. */
  points: number;
  /** Samples recorded. */
  stored: number;
  /** Lines refused by the parser, with influxd's reason ("unable to parse '<line>': <reason>"). */
  parseErrors: string[];
  /** How many lines the parser refused (parseErrors may hold fewer). */
  parseErrorCount: number;
  /** Points (or samples, for the store's refusals) that parsed but were not stored: InfluxDB's "dropped". */
  dropped: number;
  /** The first write refusal in InfluxDB's words ("field type conflict: ...", "points beyond
   *  retention policy"), when any point was dropped. */
  writeError?: string;
  /** Everything refused or skipped, by reason: parse, line_too_long, string_field, type_conflict,
   *  invalid_field, name_conflict, and ingest()'s (too_old, out_of_bounds, out_of_order, series_limit,
   *  invalid_series, non_finite). */
  errors: Partial<Record<string, number>>;
  /** What ingest() said. */
  ingest: IngestResult;
}

interface FieldSeries {
  /** The catalog's entry (its type is compared on each write). */
  field: InfluxField;
  name: string;
  labels: Labels;
  key: string;
}

interface KeyEntry {
  measurement: string;
  tags: Array<[string, string]>;
  /** Sanitized label → value, one object for every series of this key. */
  labels: Labels;
  /** label → original tag key. */
  originals: Map<string, string>;
  /** Why every point of this key is refused, if it is (tag key "time", a label clash). */
  refusal?: [string, string];
  /** raw field key (latin1 of its bytes) → its series, or why it is refused. */
  fields: Map<string, FieldSeries | [string, string]>;
}

interface StoreCache {
  keys: Map<string, KeyEntry>;
}

const caches = new WeakMap<Store, StoreCache>();
const CACHE_MAX = 100_000;

function cacheOf(store: Store): StoreCache {
  let c = caches.get(store);
  if (c === undefined) {
    c = { keys: new Map() };
    caches.set(store, c);
  }
  return c;
}

const SCAN = new LineScan();

/**
 * Parses `body` (Influx line protocol) and records its points in `store` (opened for writing)
 * through ingest(). Never throws for bad input; a failure of the store itself is thrown.
 */
export function ingestInflux(store: Store, body: Buffer, options: InfluxIngestOptions = {}): InfluxIngestResult {
  const precisionNs = PRECISION_NS[options.precision ?? 'n'] ?? 1;
  const nowMs = options.nowMs ?? Date.now();
  const maxErrorLines = options.maxErrorLines ?? 100;
  const maxLineBytes = options.maxLineBytes ?? Infinity;
  const catalog = InfluxCatalog.of(store);
  const cache = cacheOf(store);
  if (cache.keys.size > CACHE_MAX) cache.keys.clear();
  const samples: IngestSample[] = [];
  const errors: Partial<Record<string, number>> = {};
  const count = (reason: string, n = 1): void => {
    errors[reason] = (errors[reason] ?? 0) + n;
  };
  const result: InfluxIngestResult = { lines: 0, points: 0, stored: 0, parseErrors: [], parseErrorCount: 0, dropped: 0, errors, ingest: undefined as unknown as IngestResult };
  const drop = (reason: string, message: string): void => {
    count(reason);
    result.dropped++;
    result.writeError ??= message;
  };
  const scan = SCAN;
  forEachLine(body, 0, body.length, (s, e) => {
    result.lines++;
    if (e - s > maxLineBytes) {
      count('line_too_long');
      return;
    }
    const why = scanLine(body, s, e, precisionNs, nowMs, scan);
    if (why !== null) {
      result.parseErrorCount++;
      count('parse');
      if (result.parseErrors.length < maxErrorLines) result.parseErrors.push(`unable to parse '${body.toString('utf8', s, e)}': ${why}`);
      return;
    }
    result.points++;
    const rawKey = body.toString('latin1', scan.keyStart, scan.keyEnd);
    let k = cache.keys.get(rawKey);
    if (k === undefined) {
      k = keyEntry(body, scan);
      cache.keys.set(rawKey, k);
    }
    if (k.refusal !== undefined) {
      drop(k.refusal[0], k.refusal[1]);
      return;
    }
    // First the whole point is checked (InfluxDB drops a point with any conflicting field), then
    // its numeric fields become samples.
    const n = scan.fieldCount;
    const first = samples.length;
    for (let f = 0; f < n; f++) {
      const type = scan.fieldType[f]!;
      const rawField = body.toString('latin1', scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!);
      let fs = k.fields.get(rawField);
      if (type === 'string') {
        // rondo stores numbers: a string field is skipped (counted), unless the field is known as
        // a number, which InfluxDB refuses as a type conflict
        const name = fs === undefined || Array.isArray(fs) ? unescapeName(body, scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!) : fs.field.field;
        const known = catalog.field(k.measurement, name);
        if (known !== undefined) {
          samples.length = first;
          drop('type_conflict', influxTypeConflict(k.measurement, name, 'string', known.type));
          return;
        }
        count('string_field');
        continue;
      }
      if (fs === undefined) {
        fs = fieldSeries(catalog, k, unescapeName(body, scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!), type);
        if (!Array.isArray(fs)) k.fields.set(rawField, fs);
      }
      if (Array.isArray(fs)) {
        samples.length = first;
        drop(fs[0], fs[1]);
        return;
      }
      if (fs.field.type !== type) {
        samples.length = first;
        drop('type_conflict', influxTypeConflict(k.measurement, fs.field.field, type, fs.field.type));
        return;
      }
      samples.push({ name: fs.name, labels: fs.labels, value: scan.fieldValue[f]!, timestampMs: scan.timeMs, kind: 'gauge', source: 'influx', key: fs.key });
    }
  });
  catalog.save();
  const r = ingest(store, samples);
  result.ingest = r;
  result.stored = r.stored;
  for (const [reason, n] of Object.entries(r.refused) as Array<[IngestReason, number]>) {
    count(reason, n);
    result.dropped += n;
    result.writeError ??= INFLUX_WORDING[reason] ?? r.messages[0] ?? reason;
  }
  for (const [reason, n] of Object.entries(r.skipped) as Array<[IngestReason, number]>) count(reason, n);
  return result;
}

/** InfluxDB's words for ingest()'s refusals where it has them. */
const INFLUX_WORDING: Partial<Record<IngestReason, string>> = {
  too_old: 'points beyond retention policy',
  out_of_bounds: 'points beyond retention policy',
};

function keyEntry(body: Buffer, scan: LineScan): KeyEntry {
  const { measurement, tags } = keyOf(body, scan);
  const labels: Record<string, string> = {};
  const originals = new Map<string, string>();
  let refusal: [string, string] | undefined;
  for (const [key, value] of tags) {
    if (key === 'time') {
      refusal ??= ['invalid_field', `invalid tag key: input tag "time" on measurement ${JSON.stringify(measurement)} is invalid`];
      continue;
    }
    const label = labelNameOf(key);
    const before = originals.get(label);
    if (before !== undefined) {
      refusal ??= ['name_conflict', `tag keys ${JSON.stringify(before)} and ${JSON.stringify(key)} of measurement ${JSON.stringify(measurement)} are both stored as label ${label}`];
      continue;
    }
    originals.set(label, key);
    labels[label] = value;
  }
  const e: KeyEntry = { measurement, tags, labels, originals, fields: new Map() };
  if (refusal !== undefined) e.refusal = refusal;
  return e;
}

function fieldSeries(catalog: InfluxCatalog, k: KeyEntry, field: string, type: InfluxFieldType): FieldSeries | [string, string] {
  if (field === 'time') return ['invalid_field', `invalid field name: input field "time" on measurement ${JSON.stringify(k.measurement)} is invalid`];
  const entry = catalog.claim(k.measurement, field, type);
  if (typeof entry === 'string') return [entry.startsWith('field type conflict') ? 'type_conflict' : 'name_conflict', entry];
  for (const [label, original] of k.originals) {
    const clash = catalog.claimLabel(entry.metric, label, original);
    if (clash !== undefined) return ['name_conflict', clash];
  }
  return { field: entry, name: entry.metric, labels: k.labels, key: seriesKey(entry.metric, k.labels) };
}
