// StatsD (and DogStatsD) lines: the parser and the per-interval aggregator. Pure: no sockets
// and no clock of its own (the caller passes the time), so the door (src/server/statsd.ts) only
// receives datagrams, hands them here, and sends what flush() returns through ingest().
//
// Line grammar (docs/ingest.md, "StatsD"):
//   line    = name ":" sample *( ":" sample )          several samples only without "|#" tags
//   sample  = value "|" type [ "|@" rate ] [ "|#" tags ] [ "|c:" container-id ]
//   type    = "c" | "g" | "ms" | "h" | "d" | "s"
//   tags    = tag *( "," tag ) ;  tag = key [ ":" value ]
// Naming follows Prometheus's statsd_exporter: every character of the name that a Prometheus
// metric name may not hold becomes "_" ("api.requests-ok" → "api_requests_ok"); counters get
// "_total"; a timer or histogram `t` is the summary t{quantile=…}, t_sum, t_count (+ t_min,
// t_max); sets and gauges keep the name.
import { SERIES_LIMITS, type Labels, type SeriesKind } from '../store';
import type { IngestSample } from './ingest';

/** Why a StatsD line was refused (nothing of it is recorded). */
export type StatsdReason =
  | 'malformed' // no "name:", no "|type", an empty value, an unknown section
  | 'bad_type' // a type other than c g ms h d s
  | 'bad_value' // not a number (or not finite), a negative counter increment or timing
  | 'bad_sample_rate' // "@r" with r outside (0, 1]
  | 'bad_name' // a name with control characters, invalid UTF-8, no letter or digit, too long, or "__" reserved
  | 'bad_tags' // a tag with an empty or reserved key, control characters, too many or too long
  | 'type_conflict' // a name already used by another type (a gauge and a counter both named "x")
  | 'series_limit' // a new name or tag set when the aggregator holds as many as it may
  | 'unsupported'; // DogStatsD events (_e{…}) and service checks (_sc|…), and "|T" timestamps

export const STATSD_REASONS: readonly StatsdReason[] = [
  'malformed',
  'bad_type',
  'bad_value',
  'bad_sample_rate',
  'bad_name',
  'bad_tags',
  'type_conflict',
  'series_limit',
  'unsupported',
];

export type StatsdType = 'c' | 'g' | 'ms' | 'h' | 'd' | 's';

/** One sample of a line, parsed. */
export interface StatsdSample {
  /** The metric name as sent. */
  name: string;
  /** The Prometheus name it is stored under: a counter's with "_total", a timer's or
   *  histogram's before the summary's suffixes. */
  metric: string;
  type: StatsdType;
  /** The number (counter increment, gauge value or delta, timing, histogram value); NaN for a set. */
  value: number;
  /** A gauge's "+n" / "-n": a change of the last value rather than a new value. */
  delta: boolean;
  /** A set's member. */
  member: string;
  /** The sample rate (1 when not given). */
  rate: number;
  /** The DogStatsD tags as labels (sanitized keys, sorted; the same object for the same tags). */
  labels: Labels;
  /** The labels as one string, to find the series. */
  labelsKey: string;
}

export type StatsdLine = { ok: true; samples: StatsdSample[] } | { ok: false; reason: StatsdReason; message: string };

/** The quantiles a timer or histogram reports when the caller chooses none. */
export const DEFAULT_STATSD_QUANTILES: readonly number[] = [0.5, 0.9, 0.99];

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set<string>(['c', 'g', 'ms', 'h', 'd', 's']);
/** The longest suffix a name gets ("_total"), so the stored name keeps within the store's limit. */
const NAME_MAX = SERIES_LIMITS.nameLength - '_total'.length;

/** Control characters, DEL, C1, and U+FFFD (what invalid UTF-8 decodes to). */
// eslint-disable-next-line no-control-regex
const HOSTILE_RE = /[\u0000-\u001f\u007f-\u009f\ufffd]/;

/** A Prometheus metric or label name from a StatsD one: each invalid character → "_", and a
 *  leading digit gets a "_" in front (statsd_exporter's escaping). */
export function statsdName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 48 && c <= 57);
    out += ok ? name[i] : '_';
  }
  return out.length > 0 && out.charCodeAt(0) >= 48 && out.charCodeAt(0) <= 57 ? `_${out}` : out;
}

function refuse(reason: StatsdReason, message: string): StatsdLine {
  return { ok: false, reason, message };
}

/** A bounded memo of a pure function of a string (emptied when full): a sender repeats the
 *  same names and tag sets line after line, so each is checked and mapped once. */
class Memo<T> {
  private readonly m = new Map<string, T>();
  constructor(
    private readonly max: number,
    private readonly f: (k: string) => T,
  ) {}
  get(k: string): T {
    let v = this.m.get(k);
    if (v === undefined) {
      if (this.m.size >= this.max) this.m.clear();
      v = this.f(k);
      this.m.set(k, v);
    }
    return v;
  }
}

type Refusal = Extract<StatsdLine, { ok: false }>;
interface TagSet {
  labels: Labels;
  key: string;
}

/** A name's Prometheus name and its counter name, or why it is refused. */
const NAMES = new Memo<{ metric: string; counter: string } | Refusal>(10_000, (name) => {
  if (name.length > NAME_MAX) return refusal('bad_name', `the name is ${name.length} characters; the limit is ${NAME_MAX}`);
  if (HOSTILE_RE.test(name)) return refusal('bad_name', 'the name holds control characters or invalid UTF-8');
  const metric = statsdName(name);
  if (metric.length > NAME_MAX) return refusal('bad_name', `the name is ${metric.length} characters once mapped; the limit is ${NAME_MAX}`);
  if (!/[a-zA-Z0-9]/.test(metric)) return refusal('bad_name', `the name ${JSON.stringify(name)} has no letter or digit`);
  if (metric.startsWith('__')) return refusal('bad_name', `the name ${JSON.stringify(name)} becomes ${metric}; names starting with "__" are reserved`);
  return { metric, counter: counterName(metric) };
});

/** A tag section's labels (one frozen object per distinct section), or what is wrong with it. */
const TAG_SETS = new Memo<TagSet | string>(10_000, (text) => tagSet(text, {}));

function tagSet(text: string, into: Record<string, string>): TagSet | string {
  const t = parseTags(text, into);
  return typeof t === 'string' ? t : { labels: Object.freeze(t), key: labelsKey(t) };
}

function refusal(reason: StatsdReason, message: string): Refusal {
  return { ok: false, reason, message };
}

/** Parses one line (no newline in it). The line is refused whole when any of its samples is. */
export function parseStatsdLine(line: string): StatsdLine {
  if (line.startsWith('_e{') || line.startsWith('_sc|')) return refuse('unsupported', 'DogStatsD events and service checks are not stored (rondo stores numbers)');
  const colon = line.indexOf(':');
  if (colon < 0) return refuse('malformed', 'no ":" after the name');
  const name = line.slice(0, colon);
  if (name === '') return refuse('malformed', 'the name is empty');
  const names = NAMES.get(name);
  if ('ok' in names) return names;
  const rest = line.slice(colon + 1);
  // DogStatsD tags hold ":" themselves: with tags, one sample per line (as statsd_exporter).
  const parts = rest.indexOf(':') < 0 || rest.includes('|#') ? [rest] : rest.split(':');
  const samples: StatsdSample[] = [];
  for (const part of parts) {
    const bar = part.indexOf('|');
    const valueText = bar < 0 ? part : part.slice(0, bar);
    if (bar < 0) return refuse('malformed', `no "|type" after the value ${JSON.stringify(valueText.slice(0, 40))}`);
    let next = part.indexOf('|', bar + 1);
    const type = part.slice(bar + 1, next < 0 ? part.length : next);
    if (!TYPES.has(type)) return refuse('bad_type', `type ${JSON.stringify(type.slice(0, 40))} is not one of c g ms h d s`);
    if (valueText === '') return refuse('malformed', 'the value is empty');
    let rate = 1;
    let tags: TagSet | undefined;
    while (next >= 0) {
      const from = next + 1;
      next = part.indexOf('|', from);
      const f = part.slice(from, next < 0 ? part.length : next);
      const c0 = f.charCodeAt(0);
      if (c0 === 64 /* @ */) {
        const r = f.slice(1);
        rate = NUMBER_RE.test(r) ? Number(r) : NaN;
        if (!(rate > 0 && rate <= 1)) return refuse('bad_sample_rate', `sample rate ${JSON.stringify(f.slice(0, 40))} is not a number in (0, 1]`);
      } else if (c0 === 35 /* # */) {
        // A second tag section adds to the first (not memoized: rare).
        const t = tags === undefined ? TAG_SETS.get(f.slice(1)) : tagSet(f.slice(1), { ...tags.labels });
        if (typeof t === 'string') return refuse('bad_tags', t);
        tags = t;
      } else if (f.startsWith('c:')) {
        // DogStatsD's container id: not a label (it would make a series per container)
      } else if (c0 === 84 /* T */) {
        return refuse('unsupported', 'DogStatsD timestamps ("|T") are not taken: a StatsD value is aggregated into the interval it arrives in');
      } else return refuse('malformed', `unknown section ${JSON.stringify(f.slice(0, 40))}`);
    }
    if (tags !== undefined && (type === 'ms' || type === 'h' || type === 'd') && 'quantile' in tags.labels)
      return refuse('bad_tags', 'a timer or histogram cannot have a "quantile" tag: the summary uses that label');
    let value = NaN;
    let delta = false;
    let member = '';
    if (type === 's') {
      if (HOSTILE_RE.test(valueText)) return refuse('bad_value', 'the set member holds control characters or invalid UTF-8');
      member = valueText;
    } else {
      if (!NUMBER_RE.test(valueText)) return refuse('bad_value', `value ${JSON.stringify(valueText.slice(0, 40))} is not a number`);
      value = Number(valueText);
      if (!Number.isFinite(value)) return refuse('bad_value', `value ${JSON.stringify(valueText.slice(0, 40))} is not finite`);
      if (type === 'g') delta = valueText.charCodeAt(0) === 43 || valueText.charCodeAt(0) === 45;
      else if (type === 'c' && value < 0) return refuse('bad_value', `counter increment ${valueText} is negative (a counter only goes up)`);
      else if (type === 'ms' && value < 0) return refuse('bad_value', `timing ${valueText} is negative`);
    }
    samples.push({
      name,
      metric: type === 'c' ? names.counter : names.metric,
      type: type as StatsdType,
      value,
      delta,
      member,
      rate,
      labels: tags?.labels ?? EMPTY_LABELS,
      labelsKey: tags?.key ?? '',
    });
  }
  return { ok: true, samples };
}

const EMPTY_LABELS: Labels = Object.freeze({});

/** DogStatsD tags into labels (added to `into`); a string says what is wrong. A tag without a
 *  value is dropped, as statsd_exporter drops it (an empty label is no label in Prometheus). */
function parseTags(text: string, into: Record<string, string>): Record<string, string> | string {
  if (text === '') return into;
  for (const tag of text.split(',')) {
    if (tag === '') continue;
    if (HOSTILE_RE.test(tag)) return `tag ${JSON.stringify(tag.slice(0, 40))} holds control characters or invalid UTF-8`;
    const c = tag.indexOf(':');
    if (c < 0) continue;
    const rawKey = tag.slice(0, c);
    const value = tag.slice(c + 1);
    if (rawKey === '') return `tag ${JSON.stringify(tag.slice(0, 40))} has an empty key`;
    const key = statsdName(rawKey);
    if (key.startsWith('__')) return `tag key ${JSON.stringify(rawKey)} becomes ${key}; label names starting with "__" are reserved`;
    if (key.length > SERIES_LIMITS.labelNameLength) return `tag key ${JSON.stringify(rawKey.slice(0, 40))}… is longer than ${SERIES_LIMITS.labelNameLength}`;
    if (value.length > SERIES_LIMITS.labelValueLength) return `tag ${key}'s value is longer than ${SERIES_LIMITS.labelValueLength}`;
    if (value === '') continue;
    into[key] = value;
  }
  const keys = Object.keys(into);
  if (keys.length > SERIES_LIMITS.labels - 1) return `more than ${SERIES_LIMITS.labels - 1} tags`;
  // Sorted, so the same tags in another order are the same series.
  keys.sort();
  const sorted: Record<string, string> = {};
  for (const k of keys) sorted[k] = into[k]!;
  return sorted;
}

/** What one datagram gave: its lines (blank ones not counted), taken and refused by reason. */
export interface StatsdAddResult {
  lines: number;
  accepted: number;
  refused: Partial<Record<StatsdReason, number>>;
  /** The first refused line's message (for a log), or ''. */
  firstMessage: string;
}

export interface StatsdAggregatorOptions {
  /** The quantiles of timers and histograms, each in (0, 1). Default 0.5, 0.9, 0.99. */
  quantiles?: readonly number[];
  /** The aggregation interval of a series (its schema's tier-0 interval), by the name it is
   *  stored under and its labels. Default: 1000 ms for every series. */
  intervalOf?: (name: string, labels: Labels) => number;
  /** Most series families (a name with its tags) held; a line that would add one more is
   *  refused (series_limit). Default: no limit. */
  maxSeries?: number;
}

type Family = 'counter' | 'gauge' | 'summary' | 'set';
const FAMILY: Record<StatsdType, Family> = { c: 'counter', g: 'gauge', ms: 'summary', h: 'summary', d: 'summary', s: 'set' };

/** One series family being aggregated (a name and its tags). */
interface Entry {
  family: Family;
  metric: string;
  labels: Labels;
  intervalMs: number;
  /** Start of the interval being filled. */
  windowStart: number;
  /** Samples since the window started (any type). */
  seen: number;
  /** counter: running total; gauge: the value (NaN before the first); summary: running sum. */
  total: number;
  /** summary: running count. */
  count: number;
  /** summary: this window's values; set: unused. */
  values: number[];
  /** set: this window's members. */
  members: Set<string> | undefined;
  /** summary: labels of each quantile series (made once). */
  quantileLabels: Labels[];
}

/**
 * Aggregates StatsD samples per series and interval, as statsd flushes: a counter is kept as a
 * running total (recorded every interval: a Prometheus counter), a gauge as its last value
 * (recorded every interval, updated or not, as statsd keeps sending it), a timer or histogram as
 * the interval's quantiles, min and max (only in intervals that had values) with running _sum
 * and _count, a set as the number of distinct members seen in the interval (0 when none).
 * Each interval's figures carry the interval's start as their timestamp.
 */
export class StatsdAggregator {
  readonly quantiles: readonly number[];
  private readonly intervalOf: (name: string, labels: Labels) => number;
  /** By stored name: the family it was first used as (a second one would write the same series)
   *  and its series by tags. Two levels, keyed by the parser's memoized strings, whose hashes
   *  V8 keeps: no key string is built per line. */
  private readonly metrics = new Map<string, { family: Family; series: Map<string, Entry> }>();
  private count = 0;
  private readonly maxSeries: number;

  constructor(options: StatsdAggregatorOptions = {}) {
    const q = options.quantiles ?? DEFAULT_STATSD_QUANTILES;
    for (const x of q) if (!(typeof x === 'number' && x > 0 && x < 1)) throw new RangeError(`quantile ${String(x)} must be a number between 0 and 1 (exclusive)`);
    this.quantiles = [...new Set(q)].sort((a, b) => a - b);
    this.intervalOf = options.intervalOf ?? (() => 1000);
    this.maxSeries = options.maxSeries ?? Infinity;
  }

  /** Series families held (a counter, a gauge, a timer with its tags: one each). */
  get size(): number {
    return this.count;
  }

  /** Adds the lines of one datagram (newline-separated; "\r\n" too) received at nowMs. */
  addDatagram(data: string, nowMs: number): StatsdAddResult {
    const result: StatsdAddResult = { lines: 0, accepted: 0, refused: {}, firstMessage: '' };
    let start = 0;
    while (start <= data.length) {
      let end = data.indexOf('\n', start);
      if (end < 0) end = data.length;
      let line = data.slice(start, end);
      start = end + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') continue;
      result.lines++;
      const why = this.addLine(line, nowMs);
      if (why === undefined) result.accepted++;
      else {
        result.refused[why.reason] = (result.refused[why.reason] ?? 0) + 1;
        if (result.firstMessage === '') result.firstMessage = `${why.message}: ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)}`;
      }
    }
    return result;
  }

  /** Adds one line; returns why it was refused, or undefined when taken. */
  addLine(line: string, nowMs: number): { reason: StatsdReason; message: string } | undefined {
    const parsed = parseStatsdLine(line);
    if (!parsed.ok) return parsed;
    // Nothing of a line is taken unless all of it can be.
    const first = parsed.samples[0]!;
    const f = this.metrics.get(first.metric)?.family ?? FAMILY[first.type];
    for (const s of parsed.samples) {
      if (f !== FAMILY[s.type]) return { reason: 'type_conflict', message: `${s.metric} is a ${f}; it cannot also be a ${FAMILY[s.type]}` };
    }
    if (this.count >= this.maxSeries && this.metrics.get(first.metric)?.series.has(first.labelsKey) !== true)
      return { reason: 'series_limit', message: `${this.count} series are held, the most this door takes (the store's schemas' maxSeries)` };
    for (const s of parsed.samples) this.add(s, nowMs);
    return undefined;
  }

  private add(s: StatsdSample, nowMs: number): void {
    const family = FAMILY[s.type];
    let m = this.metrics.get(s.metric);
    if (m === undefined) {
      m = { family, series: new Map() };
      this.metrics.set(s.metric, m);
    }
    let e = m.series.get(s.labelsKey);
    if (e === undefined) {
      const intervalMs = this.intervalOf(s.metric, s.labels);
      e = {
        family,
        metric: s.metric,
        labels: s.labels,
        intervalMs,
        windowStart: Math.floor(nowMs / intervalMs) * intervalMs,
        seen: 0,
        total: family === 'gauge' ? NaN : 0,
        count: 0,
        values: [],
        members: family === 'set' ? new Set() : undefined,
        quantileLabels: family === 'summary' ? this.quantiles.map((q) => ({ ...s.labels, quantile: String(q) })) : [],
      };
      m.series.set(s.labelsKey, e);
      this.count++;
    } else if (nowMs >= e.windowStart + e.intervalMs) {
      // A sample for a later interval than the one being filled (the caller has not flushed
      // yet): the open interval's figures are taken now, kept for the next flush(), and the
      // sample goes to the interval it arrived in.
      this.emit(e, nowMs, this.pendingLate);
    }
    e.seen++;
    const w = 1 / s.rate;
    switch (family) {
      case 'counter':
        e.total += s.value * w;
        break;
      case 'gauge':
        e.total = s.delta ? (Number.isNaN(e.total) ? 0 : e.total) + s.value : s.value;
        break;
      case 'summary': {
        const v = s.type === 'ms' ? s.value / 1000 : s.value;
        e.values.push(v);
        e.total += v * w;
        e.count += w;
        break;
      }
      case 'set':
        e.members!.add(s.member);
        break;
    }
  }

  /** Figures of windows that ended when a sample arrived before the caller's flush. */
  private pendingLate: IngestSample[] = [];

  /**
   * The figures of every interval that has ended by nowMs, as samples for ingest(), each at its
   * interval's start. Pass `final` (closing) to take the open intervals too.
   */
  flush(nowMs: number, final = false): IngestSample[] {
    const out = this.pendingLate;
    this.pendingLate = [];
    for (const m of this.metrics.values()) {
      for (const e of m.series.values()) {
        const ended = nowMs >= e.windowStart + e.intervalMs;
        if (ended) this.emit(e, nowMs, out);
        else if (final && e.seen > 0) this.emit(e, e.windowStart + e.intervalMs, out);
      }
    }
    return out;
  }

  /** Adds the figures of e's open window to out; then e's window moves to the one holding
   *  nowMs (idle windows in between get their figures too, up to a few: a late timer does not
   *  leave gaps). */
  private emit(e: Entry, nowMs: number, out: IngestSample[]): void {
    let steps = 0;
    while (nowMs >= e.windowStart + e.intervalMs) {
      this.figures(e, e.windowStart, out);
      steps++;
      e.seen = 0;
      e.values.length = 0;
      e.members?.clear();
      e.windowStart += e.intervalMs;
      if (steps >= 4) {
        e.windowStart = Math.floor(nowMs / e.intervalMs) * e.intervalMs;
        break;
      }
    }
  }

  private figures(e: Entry, ts: number, out: IngestSample[]): void {
    const source = 'statsd';
    const push = (name: string, labels: Labels, value: number, kind: SeriesKind): void => {
      out.push({ name, labels, value, timestampMs: ts, kind, source });
    };
    switch (e.family) {
      case 'counter':
        push(e.metric, e.labels, e.total, 'counter');
        break;
      case 'gauge':
        if (!Number.isNaN(e.total)) push(e.metric, e.labels, e.total, 'gauge');
        break;
      case 'set':
        push(e.metric, e.labels, e.members!.size, 'gauge');
        break;
      case 'summary': {
        const n = e.values.length;
        if (n > 0) {
          const sorted = Float64Array.from(e.values).sort();
          this.quantiles.forEach((q, i) => push(e.metric, e.quantileLabels[i]!, quantileOf(sorted, q), 'gauge'));
          push(`${e.metric}_min`, e.labels, sorted[0]!, 'gauge');
          push(`${e.metric}_max`, e.labels, sorted[n - 1]!, 'gauge');
        }
        push(`${e.metric}_sum`, e.labels, e.total, 'counter');
        push(`${e.metric}_count`, e.labels, e.count, 'counter');
        break;
      }
    }
  }
}

/** A counter's stored name: "_total" added unless the name has it. */
export function counterName(metric: string): string {
  return metric.endsWith('_total') ? metric : `${metric}_total`;
}

/** The q-quantile of sorted values, nearest rank: the value at rank ceil(q·n) (1-based). */
export function quantileOf(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1]!;
}

function labelsKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  let k = '';
  for (const n of keys) k += `${n}\u0000${labels[n]}\u0000`;
  return k;
}
