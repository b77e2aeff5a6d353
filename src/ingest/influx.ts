// Influx line protocol into a store: lines → samples (the naming map of influx-catalog.ts) →
// the one ingest routine. What InfluxDB refuses is refused (a bad line, a field type conflict, the
// tag key or field key "time"); what rondo cannot store is refused too (string fields, skipped and
// counted; a time outside what the ring holds). The good lines of the same body are kept, as
// InfluxDB keeps them.
import { CapacityError, InvalidSeriesError, InvalidTimestampError, InvalidValueError, LateWriteError } from '../errors';
import type { Labels, SeriesHandle, Store } from '../store';
import { ingest, REFUSAL_REASONS, seriesKey, type IngestReason, type IngestResult, type IngestSample } from './ingest';
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
  /** Every '\n' ends a line, even inside a quoted string (a stream's framing: the TCP door).
   *  Default false: lines end as influxd ends them. */
  newlineFramed?: boolean;
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
   *  invalid_field (a tag key "time", or no field but "time"), time_field (a field "time" left
   *  out of a point that has others), name_conflict, and ingest()'s (too_old, out_of_bounds, out_of_order, series_limit,
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
  /** The series once the store has it (found after ingest() registered it): a line whose every
   *  field has one is recorded straight away (see ingestInflux's fast path). */
  handle?: SeriesHandle;
  /** Its schema's finest retention, ms: an older point is too old (as ingest() judges). */
  retentionMs?: number;
}

interface KeyEntry {
  /** The key's bytes as written (the cache is keyed by their hash; these settle a collision). */
  raw: Uint8Array;
  /** Another key of the same hash. */
  next: KeyEntry | undefined;
  /** The series of the field at each position of the last line of this key, with the field key's
   *  bytes: a line of a key usually has the fields of the line before, in the same order. */
  byPosition: Array<{ raw: Uint8Array; fs: FieldSeries } | undefined>;
  measurement: string;
  tags: Array<[string, string]>;
  /** Sanitized label → value, one object for every series of this key. */
  labels: Labels;
  /** label → original tag key. */
  originals: Map<string, string>;
  /** Why every point of this key is refused, if it is (tag key "time", a label clash). */
  refusal: [string, string] | undefined;
  /** raw field key (latin1 of its bytes) → its series, or why it is refused. */
  fields: Map<string, FieldSeries | [string, string]>;
}

interface StoreCache {
  /** hash of the key's bytes → the key (and its collisions, chained) */
  keys: Map<number, KeyEntry>;
}

function hashBytes(buf: Buffer, s: number, e: number): number {
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h;
}

function sameBytes(buf: Buffer, s: number, e: number, raw: Uint8Array): boolean {
  if (e - s !== raw.length) return false;
  for (let i = 0; i < raw.length; i++) if (buf[s + i] !== raw[i]) return false;
  return true;
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
  // influxd checks the tags of every point (a tag key "time") before the fields of any, so a
  // tag refusal is the one it names even after a field refusal on an earlier line.
  let tagError: string | undefined;
  let fieldError: string | undefined;
  const drop = (reason: string, message: string, tag = false): void => {
    count(reason);
    result.dropped++;
    if (tag) tagError ??= message;
    else fieldError ??= message;
  };
  const scan = SCAN;
  // The fast path: a line of a key and fields seen before, every field a number of its
  // catalogued type with a known series, its time not before what the finest ring holds and not
  // ahead of the clock, nor behind an earlier line of this body, is recorded straight away, with
  // no sample objects and no ingest() (which finds each sample's series in a Map). That is the
  // steady state of a sender (Telegraf, the same hosts every interval). The first line that
  // cannot take it, and every line after it in this body, goes through ingest() as before, so a
  // body is still recorded in its own order where it is not in time order. A store with hooks
  // that see samples (docs/hooks.md) takes no fast path: every line goes through ingest(), where
  // the hooks run.
  const fast = store.readOnly || store.hasSampleHooks ? undefined : { stored: 0, refused: {} as Partial<Record<IngestReason, number>>, messages: new Map<IngestReason, string>() };
  let fastOn = fast !== undefined;
  const clock = Date.now();
  let fastNewest = -Infinity;
  const handles: SeriesHandle[] = [];
  const values: number[] = [];
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
    const hash = hashBytes(body, scan.keyStart, scan.keyEnd);
    const head = cache.keys.get(hash);
    let k = head;
    while (k !== undefined && !sameBytes(body, scan.keyStart, scan.keyEnd, k.raw)) k = k.next;
    if (k === undefined) {
      k = keyEntry(body, scan);
      if (head !== undefined) k.next = head;
      cache.keys.set(hash, k);
    }
    if (k.refusal !== undefined) {
      drop(k.refusal[0], k.refusal[1], k.refusal[0] === 'invalid_field');
      return;
    }
    const n = scan.fieldCount;
    if (fastOn) {
      if (fastLine(store, body, scan, k, clock, fastNewest, handles, values)) {
        fastNewest = scan.timeMs;
        for (let f = 0; f < n; f++) {
          try {
            store.record(handles[f]!, values[f]!, scan.timeMs);
            fast!.stored++;
          } catch (e) {
            // The store's own failure (closed, the disk) is thrown, as ingest() throws it.
            if (!(e instanceof InvalidTimestampError || e instanceof InvalidValueError || e instanceof CapacityError)) throw e;
            const reason = reasonOf(e, scan.timeMs, clock);
            fast!.refused[reason] = (fast!.refused[reason] ?? 0) + 1;
            if (!fast!.messages.has(reason)) fast!.messages.set(reason, `${WORDING[reason]}: ${(e as Error).message.split('\n')[0]}`);
          }
        }
        return;
      }
      fastOn = false;
    }
    // First the whole point is checked (InfluxDB drops a point with any conflicting field), then
    // its numeric fields become samples.
    const first = samples.length;
    // A field "time" is left out, as influxd leaves it out; a point of no other field is refused.
    let timeFields = 0;
    for (let f = 0; f < n; f++) {
      const type = scan.fieldType[f]!;
      const ks = scan.fieldKeyStart[f]!;
      const ke = scan.fieldKeyEnd[f]!;
      const at = k.byPosition[f];
      if (at !== undefined && type !== 'string' && sameBytes(body, ks, ke, at.raw)) {
        // the usual case: the field of the line before at this position
        const hit = at.fs;
        if (hit.field.type !== type) {
          samples.length = first;
          drop('type_conflict', influxTypeConflict(k.measurement, hit.field.field, type, hit.field.type));
          return;
        }
        samples.push({ name: hit.name, labels: hit.labels, value: scan.fieldValue[f]!, timestampMs: scan.timeMs, kind: 'gauge', source: 'influx', key: hit.key, fs: hit } as IngestSample);
        continue;
      }
      const rawField = body.toString('latin1', ks, ke);
      let fs = k.fields.get(rawField);
      if (type === 'string') {
        // rondo stores numbers: a string field is skipped (counted), unless the field is known as
        // a number, which InfluxDB refuses as a type conflict
        const name = fs === undefined || Array.isArray(fs) ? unescapeName(body, scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!) : fs.field.field;
        if (name === 'time') {
          timeFields++;
          continue;
        }
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
      if (Array.isArray(fs) && fs[0] === 'time_field') {
        timeFields++;
        continue;
      }
      if (Array.isArray(fs)) {
        samples.length = first;
        drop(fs[0], fs[1]);
        return;
      }
      if (f < 64) k.byPosition[f] = { raw: Uint8Array.prototype.slice.call(body, ks, ke), fs };
      if (fs.field.type !== type) {
        samples.length = first;
        drop('type_conflict', influxTypeConflict(k.measurement, fs.field.field, type, fs.field.type));
        return;
      }
      samples.push({ name: fs.name, labels: fs.labels, value: scan.fieldValue[f]!, timestampMs: scan.timeMs, kind: 'gauge', source: 'influx', key: fs.key, fs } as IngestSample);
    }
    if (timeFields > 0) {
      if (timeFields === n) drop('invalid_field', `invalid field name: input field "time" on measurement ${JSON.stringify(k.measurement)} is invalid`);
      else count('time_field', timeFields);
    }
  }, options.newlineFramed === true);
  catalog.save();
  result.writeError = tagError ?? fieldError;
  const r = ingest(store, samples);
  if (fast !== undefined && (fast.stored > 0 || fast.messages.size > 0)) merge(r, fast);
  // The series ingest() found or registered, kept for this key's next lines' fast path.
  if (samples.length > 0) learnHandles(store, samples);
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

/**
 * Whether the line in `scan` of key `k` can take the fast path; if so, its series and values are
 * in handles[0..n) and values[0..n). No side effect otherwise (the general path takes the line).
 */
function fastLine(store: Store, body: Buffer, scan: LineScan, k: KeyEntry, clock: number, newest: number, handles: SeriesHandle[], values: number[]): boolean {
  if (k.refusal !== undefined) return false;
  const ts = scan.timeMs;
  if (!(ts >= newest) || ts > clock) return false;
  const n = scan.fieldCount;
  for (let f = 0; f < n; f++) {
    const at = k.byPosition[f];
    if (at === undefined) return false;
    const fs = at.fs;
    const h = fs.handle;
    const type = scan.fieldType[f]!;
    const v = scan.fieldValue[f]!;
    if (h === undefined || fs.field.type !== type || !Number.isFinite(v) || ts < clock - fs.retentionMs!) return false;
    if (!sameBytes(body, scan.fieldKeyStart[f]!, scan.fieldKeyEnd[f]!, at.raw)) return false;
    handles[f] = h;
    values[f] = v;
  }
  return n > 0 && !store.isClosed;
}

/** Each sample's FieldSeries gets its store handle (find(), once per series), for the fast path. */
function learnHandles(store: Store, samples: readonly IngestSample[]): void {
  if (store.readOnly || store.isClosed) return;
  let last: IngestSample | undefined;
  for (const s of samples) {
    if (last !== undefined && s.name === last.name && s.labels === last.labels) continue;
    last = s;
    const fs = (s as IngestSample & { fs?: FieldSeries }).fs;
    if (fs === undefined || fs.handle !== undefined) continue;
    let h: SeriesHandle | undefined;
    try {
      h = store.find(fs.name, fs.labels);
    } catch (e) {
      // a series the store refuses (ingest() counted it as invalid_series): no fast path for it
      if (e instanceof InvalidSeriesError) continue;
      throw e;
    }
    if (h === undefined) continue;
    fs.retentionMs = retentionOf(store, h.schema);
    fs.handle = h;
  }
}

/** Per store: each schema's finest retention, ms (as ingest() reads it). */
const retentions = new WeakMap<Store, Map<string, number>>();

function retentionOf(store: Store, schema: string): number {
  let m = retentions.get(store);
  if (m === undefined) {
    m = new Map();
    for (const sc of store.info({ series: false }).schemas) m.set(sc.name, sc.tiers[0]?.retentionMs ?? Infinity);
    retentions.set(store, m);
  }
  return m.get(schema) ?? Infinity;
}

/** ingest()'s wording for the refusals the fast path can meet. */
const WORDING: Partial<Record<IngestReason, string>> = { out_of_order: 'out of order sample', too_old: 'too old sample', out_of_bounds: 'out of bounds', series_limit: 'series limit reached', invalid_series: 'invalid series' };

/** As ingest() classes a store's refusal of a sample. */
function reasonOf(e: unknown, ts: number, clock: number): IngestReason {
  if (e instanceof LateWriteError) return e.oldestMs !== undefined && ts < e.oldestMs ? 'too_old' : 'out_of_order';
  if (e instanceof InvalidTimestampError) return ts > clock ? 'out_of_bounds' : 'too_old';
  if (e instanceof CapacityError) return 'series_limit';
  return 'invalid_series';
}

/** The fast path's counts added to what ingest() said of the rest (messages: the first of each
 *  reason, in REFUSAL_REASONS' order, the fast path's first as it came first). */
function merge(r: IngestResult, fast: { stored: number; refused: Partial<Record<IngestReason, number>>; messages: Map<IngestReason, string> }): void {
  r.stored += fast.stored;
  if (fast.messages.size === 0) return;
  const byReason = new Map<IngestReason, string>();
  for (const m of r.messages) {
    const reason = REFUSAL_REASONS.find((x) => m.startsWith(`${WORDING[x]}:`));
    if (reason !== undefined) byReason.set(reason, m);
  }
  for (const [reason, n] of Object.entries(fast.refused) as Array<[IngestReason, number]>) r.refused[reason] = (r.refused[reason] ?? 0) + n;
  for (const [reason, m] of fast.messages) byReason.set(reason, m);
  r.messages = REFUSAL_REASONS.filter((x) => byReason.has(x)).map((x) => byReason.get(x)!);
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
  // every property set here, in one order: one shape for every entry
  return { raw: Uint8Array.prototype.slice.call(body, scan.keyStart, scan.keyEnd), next: undefined, byPosition: [], measurement, tags, labels, originals, refusal, fields: new Map() };
}

function fieldSeries(catalog: InfluxCatalog, k: KeyEntry, field: string, type: InfluxFieldType): FieldSeries | [string, string] {
  if (field === 'time') return ['time_field', 'a field named time'];
  const entry = catalog.claim(k.measurement, field, type);
  if (typeof entry === 'string') return [entry.startsWith('field type conflict') ? 'type_conflict' : 'name_conflict', entry];
  for (const [label, original] of k.originals) {
    const clash = catalog.claimLabel(entry.metric, label, original);
    if (clash !== undefined) return ['name_conflict', clash];
  }
  return { field: entry, name: entry.metric, labels: k.labels, key: seriesKey(entry.metric, k.labels) };
}
