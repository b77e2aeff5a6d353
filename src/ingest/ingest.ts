// The one path by which samples from outside (remote-write receive, and any other receiver to
// come) enter a store: route through the store's schemas, register a series on first sight,
// record, and count every sample that could not be stored by reason. Nothing here throws for a
// sample: a refused sample is counted, and the first message of each reason is kept.
import { CapacityError, InvalidSeriesError, InvalidTimestampError, InvalidValueError, LateWriteError, RondoError } from '../errors';
import { Store, type Labels, type SeriesHandle, type SeriesKind } from '../store';
import type { SampleSource } from '../hooks';

/** One sample from outside. Samples of one series should share their `labels` object: the
 *  series is then looked up once for all of them. */
export interface IngestSample {
  /** The metric name (`__name__`). */
  name: string;
  /** The other labels (no `__name__`). */
  labels: Labels;
  value: number;
  /** Milliseconds since the epoch. */
  timestampMs: number;
  /** What the sender's metadata says; otherwise inferred from the name (kindFor). */
  kind?: SeriesKind;
  /** Where it came from, for messages: 'remote_write', say. */
  source: string;
  /** True for a Prometheus stale marker (NaN with payload 0x7ff0000000000002): skipped, counted. */
  stale?: boolean;
  /** seriesKey(name, labels), when the caller has it already (a door that keeps its series'
   *  samples' labels across requests computes it once per series): saves ingest() making it. */
  key?: string;
}

/** Why a sample was not stored. The first five are refusals (the sender is told); the last two
 *  are skips (counted, the request still succeeds). */
export type IngestReason =
  | 'series_limit'
  | 'invalid_series'
  | 'out_of_order'
  | 'too_old'
  | 'out_of_bounds'
  | 'stale_marker'
  | 'non_finite'
  | 'hook_dropped';

export const REFUSAL_REASONS: readonly IngestReason[] = ['series_limit', 'invalid_series', 'out_of_order', 'too_old', 'out_of_bounds'];
export const SKIP_REASONS: readonly IngestReason[] = ['stale_marker', 'non_finite', 'hook_dropped'];

export interface IngestResult {
  /** Samples recorded. */
  stored: number;
  /** Samples refused, by reason (refusals only). */
  refused: Partial<Record<IngestReason, number>>;
  /** Samples skipped on purpose (stale markers, NaN and infinite values), by reason. */
  skipped: Partial<Record<IngestReason, number>>;
  /** Series registered by this call. */
  registered: number;
  /** The first message of each refusal reason, in Prometheus's wording first, e.g.
   *  "out of order sample: ...". Empty when nothing was refused. */
  messages: string[];
}

export interface IngestOptions {
  /** Refuse every series this call would have to register (only known series are written). */
  noNewSeries?: boolean;
}

/** counter when the name says so (`_total`, `_count`, `_sum`, `_bucket`), gauge otherwise. */
export function kindFor(name: string): SeriesKind {
  // Most names end in none of l, t, m (…_total, …_count, …_bucket, …_sum): one load and compare.
  const c = name.charCodeAt(name.length - 1);
  if (c !== 108 && c !== 116 && c !== 109) return 'gauge';
  return name.endsWith('_total') || name.endsWith('_count') || name.endsWith('_sum') || name.endsWith('_bucket') ? 'counter' : 'gauge';
}

/** Prometheus's wording for each refusal, the start of the message a sender sees. */
const WORDING: Record<IngestReason, string> = {
  series_limit: 'series limit reached',
  invalid_series: 'invalid series',
  out_of_order: 'out of order sample',
  too_old: 'too old sample',
  out_of_bounds: 'out of bounds',
  stale_marker: 'stale marker',
  non_finite: 'non-finite value',
  hook_dropped: 'dropped by a hook',
};

/** The hook contract's name for where an IngestSample came from (its `source`). */
function hookSource(source: string): SampleSource {
  switch (source) {
    case 'remote_write':
    case 'remote-write':
      return 'remote-write';
    case 'influx':
    case 'statsd':
    case 'fossil':
    case 'agent':
      return source;
    default:
      return 'record';
  }
}

/** The samples as the store's hooks leave them (each sample's source given): the dropped ones
 *  counted as skipped (hook_dropped); stale markers and non-finite values go on as they are.
 *  `keys[i]` and `found[i]`: the series key of `samples[i]` and its handle, when they were worked
 *  out here for a sample the hooks kept in its series, so the series pass does not do it again. */
function hooked(store: Store, samples: readonly IngestSample[], skip: (reason: IngestReason) => void): { samples: IngestSample[]; keys: string[]; found: Array<SeriesHandle | undefined> } {
  const out: IngestSample[] = [];
  const keys: string[] = [];
  const found: Array<SeriesHandle | undefined> = [];
  const known = knownOf(store);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as IngestSample;
    if (s.stale === true || typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      out.push(s);
      keys.push('');
      found.push(undefined);
      continue;
    }
    const key = s.key ?? quickKey(s.name, s.labels);
    const seen = key === '' ? undefined : known.get(key);
    const kind = s.kind ?? kindFor(s.name);
    let r;
    try {
      r = store.applyHooks({ name: s.name, labels: s.labels, value: s.value, timestamp: s.timestampMs, kind, source: hookSource(s.source) }, seen);
    } catch (e) {
      // A series the store refuses (its name or labels): refused below, as without hooks.
      if (!(e instanceof InvalidSeriesError)) throw e;
      out.push(s);
      keys.push('');
      found.push(undefined);
      continue;
    }
    if (r === null) {
      skip('hook_dropped');
      continue;
    }
    const sameSeries = r.name === s.name && r.labels === s.labels;
    if (sameSeries && r.value === s.value && r.timestamp === s.timestampMs) out.push(s);
    // A change of value or time only keeps the labels object (and the series found for it).
    else out.push({ name: r.name, labels: r.labels as Labels, value: r.value, timestampMs: r.timestamp, kind, source: s.source });
    keys.push(sameSeries ? key : '');
    found.push(sameSeries ? seen : undefined);
  }
  return { samples: out, keys, found };
}

/**
 * Records `samples` into `store` (opened for writing). Samples of a series should come in time
 * order; a sample for an interval the ring has moved past is refused as out of order (or too
 * old when it is before what the finest ring reaches back to). Never throws for a sample; a
 * failure of the store itself (StorageError, StoreClosedError) is thrown, after the samples
 * before it were stored.
 */
export function ingest(store: Store, given: readonly IngestSample[], options: IngestOptions = {}): IngestResult {
  const result: IngestResult = { stored: 0, refused: {}, skipped: {}, registered: 0, messages: [] };
  const firstMessage = new Map<IngestReason, string>();
  const refuse = (reason: IngestReason, message: string): void => {
    result.refused[reason] = (result.refused[reason] ?? 0) + 1;
    if (!firstMessage.has(reason)) firstMessage.set(reason, `${WORDING[reason]}: ${message}`);
  };
  const skip = (reason: IngestReason): void => {
    result.skipped[reason] = (result.skipped[reason] ?? 0) + 1;
  };
  // The store's hooks (docs/hooks.md) first, before any series is registered: a dropped or
  // renamed sample registers nothing under its old name. Then recorded past them.
  const withHooks = !store.readOnly && !store.isClosed && store.hasSampleHooks;
  const pre = withHooks ? hooked(store, given, skip) : undefined;
  const samples = pre === undefined ? given : pre.samples;

  // First the series: each run of samples of one series is one series, found or (all the new
  // ones together, with one write of the series index) registered.
  const runs: Array<SeriesHandle | [IngestReason, string]> = [];
  const fresh: Array<{ run: number; name: string; labels: Labels; kind: 'gauge' | 'counter'; key: string }> = [];
  let lastLabels: Labels | undefined;
  let lastName = '';
  // Series found before, by their name and labels as given (a sender sends the same ones,
  // request after request): no check and no canonical key for them. A closed store goes to
  // find(), which throws as before.
  const known = store.readOnly ? undefined : knownOf(store);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as IngestSample;
    if (s.labels === lastLabels && s.name === lastName) continue;
    lastLabels = s.labels;
    lastName = s.name;
    // The hooks' pass may have found the series already (a sample they kept in it).
    const hit0 = pre?.found[i];
    const key = known === undefined ? '' : hit0 !== undefined ? (pre!.keys[i] as string) : (pre?.keys[i] || (s.key ?? quickKey(s.name, s.labels)));
    const hit = hit0 ?? (key === '' ? undefined : known?.get(key));
    if (hit !== undefined && !store.isClosed) {
      runs.push(hit);
      continue;
    }
    try {
      const found = store.find(s.name, s.labels);
      if (found !== undefined) {
        runs.push(found);
        remember(known, key, found);
      }
      else if (options.noNewSeries === true) runs.push(['series_limit', `new series ${describe(s)} not accepted`]);
      else {
        fresh.push({ run: runs.length, name: s.name, labels: s.labels, kind: s.kind ?? kindFor(s.name), key });
        runs.push(['invalid_series', describe(s)]);
      }
    } catch (e) {
      // A series Prometheus would refuse; anything else (a closed store) is the store's failure.
      if (!(e instanceof InvalidSeriesError)) throw e;
      runs.push(['invalid_series', messageOf(e)]);
    }
  }
  if (fresh.length > 0) {
    const before = store.series().length;
    // A full schema or an invalid series comes back as an error for that series; a failure of
    // the store itself (the disk) is thrown to the caller.
    store.registerMany(fresh).forEach((r, i) => {
      const f = fresh[i] as (typeof fresh)[number];
      runs[f.run] = r instanceof Error ? [r instanceof CapacityError ? 'series_limit' : 'invalid_series', messageOf(r)] : r;
      if (!(r instanceof Error)) remember(known, f.key, r);
    });
    result.registered = store.series().length - before;
  }

  const handles: SeriesHandle[] = [];
  const chosen: IngestSample[] = [];
  const sortTimes: number[] = [];
  // While the samples come in time order (a batch of one timestamp does), each sorts by its own
  // time and nothing is sorted; from the first that goes back, each sorts by the newest time of
  // its series so far (seriesNewest), so that a series' own order is kept (an out-of-order sample
  // stays after the newer one and is refused, as Prometheus does).
  let inOrder = true;
  let lastT = -Infinity;
  let seriesNewest: Map<SeriesHandle, number> | undefined;
  // What the finest ring of each schema reaches back to from now: an older sample is refused as
  // too old (the ring could only take it into a row it would give away at once).
  const horizons = horizonsOf(store);
  const nowMs = Date.now();
  let horizon = -Infinity;
  let run = -1;
  let handle: SeriesHandle | undefined;
  let handleError: [IngestReason, string] | undefined;
  lastLabels = undefined;
  lastName = '';
  for (const s of samples) {
    if (s.labels !== lastLabels || s.name !== lastName) {
      lastLabels = s.labels;
      lastName = s.name;
      const r = runs[++run];
      handle = Array.isArray(r) ? undefined : r;
      handleError = Array.isArray(r) ? r : undefined;
      horizon = handle === undefined ? -Infinity : nowMs - (horizons.get(handle.schema) ?? Infinity);
    }
    if (s.stale === true) {
      skip('stale_marker');
      continue;
    }
    if (typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      skip('non_finite');
      continue;
    }
    if (handle === undefined) {
      const [reason, message] = handleError ?? ['invalid_series', describe(s)];
      refuse(reason, message);
      continue;
    }
    const t = typeof s.timestampMs === 'number' ? s.timestampMs : 0;
    if (t < horizon) {
      refuse('too_old', `${handle.key} at ${Number.isFinite(t) && Math.abs(t) < 8.64e15 ? new Date(t).toISOString() : String(t)} is before what the ring of schema "${handle.schema}" holds (${new Date(horizon).toISOString()} and after)`);
      continue;
    }
    let sortTime = t;
    if (inOrder) {
      if (t >= lastT) lastT = t;
      else {
        inOrder = false;
        seriesNewest = new Map();
        for (let j = 0; j < handles.length; j++) seriesNewest.set(handles[j] as SeriesHandle, sortTimes[j] as number);
      }
    }
    if (!inOrder) {
      sortTime = Math.max(seriesNewest!.get(handle) ?? -Infinity, t);
      seriesNewest!.set(handle, sortTime);
    }
    handles.push(handle);
    sortTimes.push(sortTime);
    chosen.push(s);
  }
  // Recorded in time order across series (stable), so a request of many series takes each
  // interval's row once and the rest of that interval's values go down the fast path, rather
  // than every sample of a series older than the newest row taking the slow one.
  let order: number[] | undefined;
  if (!inOrder) {
    order = Array.from({ length: chosen.length }, (_, i) => i);
    order.sort((a, b) => (sortTimes[a] as number) - (sortTimes[b] as number));
  }
  // Past the first timestamp the store found too far in the future, the rest are refused here:
  // a sender stamping everything ahead of the clock costs one store error, not one per sample.
  let futureFloor = Infinity;
  for (let x = 0; x < chosen.length; x++) {
    const i = order === undefined ? x : (order[x] as number);
    const s = chosen[i] as IngestSample;
    if (s.timestampMs >= futureFloor) {
      refuse('out_of_bounds', '');
      continue;
    }
    try {
      if (withHooks) store.recordUnhooked(handles[i] as SeriesHandle, s.value, s.timestampMs);
      else store.record(handles[i] as SeriesHandle, s.value, s.timestampMs);
      result.stored++;
    } catch (e) {
      if (!(e instanceof InvalidTimestampError || e instanceof InvalidValueError || e instanceof CapacityError)) throw e;
      const reason = reasonOf(e, s.timestampMs);
      if (reason === 'out_of_bounds' && e instanceof InvalidTimestampError) futureFloor = Math.min(futureFloor, s.timestampMs);
      refuse(reason, messageOf(e));
    }
  }
  for (const reason of REFUSAL_REASONS) {
    const m = firstMessage.get(reason);
    if (m !== undefined) result.messages.push(m);
  }
  return result;
}

/** Per store: each schema's finest retention, ms (schemas never change while a store is open). */
const storeHorizons = new WeakMap<Store, Map<string, number>>();

function horizonsOf(store: Store): Map<string, number> {
  let m = storeHorizons.get(store);
  if (m === undefined) {
    m = new Map();
    for (const s of store.info({ series: false }).schemas) m.set(s.name, s.tiers[0]?.retentionMs ?? Infinity);
    storeHorizons.set(store, m);
  }
  return m;
}

/** The identity ingest() keeps a series by (name and labels, in the order given): what a caller
 *  may pass as IngestSample.key. */
export function seriesKey(name: string, labels: Labels): string {
  return quickKey(name, labels);
}

/** Per store: a series' quickKey → its handle (handles live as long as their store). */
const knownHandles = new WeakMap<Store, Map<string, SeriesHandle>>();
/** At most this many series are remembered per store; past it, the map starts over. */
const KNOWN_MAX = 200_000;

function knownOf(store: Store): Map<string, SeriesHandle> {
  let m = knownHandles.get(store);
  if (m === undefined) {
    m = new Map();
    knownHandles.set(store, m);
  }
  return m;
}

function remember(known: Map<string, SeriesHandle> | undefined, key: string, h: SeriesHandle): void {
  if (known === undefined || key === '') return;
  if (known.size >= KNOWN_MAX) known.clear();
  known.set(key, h);
}

/** Name and labels, in the order given, each with its length: one string for one labelling
 *  ('' for what is not a name and an object of labels: find() judges those). */
function quickKey(name: unknown, labels: unknown): string {
  if (typeof name !== 'string' || typeof labels !== 'object' || labels === null || Array.isArray(labels)) return '';
  let k = `${name.length}:${name}`;
  const names = Object.keys(labels);
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as string;
    const v = (labels as Labels)[n] as string;
    k += `|${n.length}:${n}${typeof v === 'string' ? v.length : -1}:${String(v)}`;
  }
  return k;
}

function reasonOf(e: unknown, ts: number): IngestReason {
  if (e instanceof LateWriteError) {
    // Past what the ring reaches back to: too old; else a newer interval holds the slot.
    return e.oldestMs !== undefined && ts < e.oldestMs ? 'too_old' : 'out_of_order';
  }
  if (e instanceof InvalidTimestampError) return ts > Date.now() ? 'out_of_bounds' : 'too_old';
  if (e instanceof CapacityError) return 'series_limit';
  if (e instanceof InvalidValueError) return 'non_finite';
  if (e instanceof InvalidSeriesError) return 'invalid_series';
  return 'invalid_series';
}

function messageOf(e: unknown): string {
  const m = e instanceof RondoError || e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!;
}

function describe(s: IngestSample): string {
  const names = Object.keys(s.labels).sort();
  return `${s.name}{${names.map((n) => `${n}=${JSON.stringify(s.labels[n])}`).join(',')}}`;
}
