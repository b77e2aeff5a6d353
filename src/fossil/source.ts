// What the fossil door and the query language need of a store's event rings, in one place: the
// only file of this room that calls the store's event API.
import type { Store } from '../store';
import { chooseTier } from '../promql';
import { ConfigError } from '../errors';

/** Reads of a store without an event ring see no events (appends say why they cannot). */
function orEmpty<T>(read: () => T, empty: T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ConfigError) return empty;
    throw e;
  }
}

export interface EventRow {
  tsNs: bigint;
  topic: string;
  /** The datum's schema text ("string", "int32", "[2]int64", ...). */
  schema: string;
  /** The datum's bytes as stored (fossil's encoding). */
  data: Buffer;
}

/** Events as columns (EventSource.columns): row i is at tsNs[i] on topics[topicIndex[i]] with
 *  schemas[topicIndex[i]], its datum data[start[i] .. end[i]). */
export interface EventRows {
  count: number;
  tsNs: BigInt64Array;
  topicIndex: Uint32Array;
  topics: readonly string[];
  schemas: readonly string[];
  start: Uint32Array;
  end: Uint32Array;
  data: Buffer;
}

const NO_ROWS: EventRows = {
  count: 0,
  tsNs: new BigInt64Array(0),
  topicIndex: new Uint32Array(0),
  topics: [],
  schemas: [],
  start: new Uint32Array(0),
  end: new Uint32Array(0),
  data: Buffer.alloc(0),
};

/** The rows of columns, one object each. */
export function rowsOf(c: EventRows): EventRow[] {
  const out: EventRow[] = new Array(c.count);
  const { tsNs, topicIndex, topics, schemas, start, end, data } = c;
  for (let i = 0; i < c.count; i++) {
    const k = topicIndex[i]!;
    out[i] = { tsNs: tsNs[i]!, topic: topics[k]!, schema: schemas[k]!, data: data.subarray(start[i]!, end[i]!) };
  }
  return out;
}

export interface TopicRow {
  topic: string;
  schema: string;
}

export interface EventSource {
  /** Appends; returns the topic the datum went to (a non-conforming one: /nonconformant). */
  append(topic: string, data: Uint8Array, tsNs?: bigint): string;
  /** Events in time order; `topic` selects it and its sub-topics (a path prefix). */
  events(o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRow[];
  /** events() as columns (no object per row). */
  columns?(o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRows;
  createTopic(topic: string, schema: string): void;
  /** Every topic with its schema, in creation order. */
  topics(): TopicRow[];
  /** Records held (fossil's STATS "segments" field carries it). */
  count(): number;
  /**
   * sample(every) over topics recorded as series: when every topic under `topic` is a numeric
   * topic recorded as a series and each series' schema has a consolidated tier of exactly that
   * interval (the tier chooseTier picks for the range and step), one row per interval from that
   * tier (its consolidate aggregate, as float64, at the interval's start); otherwise undefined.
   */
  sampleFromTiers?(topic: string | undefined, everyNs: bigint, start?: bigint, end?: bigint): EventRow[] | undefined;
}

function sampleFromTiers(store: Store, topic: string | undefined, everyNs: bigint, start?: bigint, end?: bigint): EventRow[] | undefined {
  if (everyNs % 1_000_000n !== 0n) return undefined;
  const everyMs = Number(everyNs / 1_000_000n);
  const prefix = topic === undefined || topic === '/' ? '/' : topic;
  const under = orEmpty(() => store.topics(), []).filter((t) => prefix === '/' || t.name === prefix || t.name.startsWith(`${prefix}/`));
  if (under.length === 0 || under.some((t) => t.series === undefined)) return undefined;
  const info = store.info();
  const startMs = start === undefined ? 0 : Number(start / 1_000_000n);
  const endMs = end === undefined ? Date.now() : Number((end - 1n) / 1_000_000n);
  const rows: EventRow[] = [];
  for (const t of under) {
    const h = store.find(t.series!.name, t.series!.labels);
    if (h === undefined) continue; // nothing recorded yet
    const schema = info.schemas.find((x) => x.name === h.schema);
    const tier = schema === undefined ? undefined : chooseTier(schema.tiers, startMs, everyMs);
    if (tier === undefined || tier.index === 0 || tier.intervalMs !== everyMs) return undefined;
    const r = store.query(h, { start: startMs, end: endMs, tier: tier.index });
    for (let i = 0; i < r.timestamps.length; i++) {
      const v = r.values[i]!;
      const ts = r.timestamps[i]!;
      if (Number.isNaN(v) || ts < startMs) continue;
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v, 0);
      rows.push({ tsNs: BigInt(ts) * 1_000_000n, topic: t.name, schema: 'float64', data: b });
    }
  }
  return rows.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.topic < b.topic ? -1 : 1));
}

/** The store's events as columns; a row's schema is its topic's (the store's record type says
 *  how a datum was given: bytes given to a string topic are "binary" there). */
function columnsOf(store: Store, o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRows {
  const c = orEmpty(
    () =>
      store.eventColumns({
        ...(o.topic !== undefined ? { topic: o.topic } : {}),
        ...(o.start !== undefined ? { start: o.start } : {}),
        ...(o.end !== undefined ? { end: o.end } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
      }),
    undefined,
  );
  if (c === undefined) return NO_ROWS;
  return { count: c.count, tsNs: c.tsNs, topicIndex: c.topicIndex, topics: c.topics.map((t) => t.name), schemas: c.topics.map((t) => t.schema), start: c.start, end: c.end, data: c.data };
}

const sources = new WeakMap<Store, EventSource>();

/** The event API of a store, as this room uses it. */
export function eventsOf(store: Store): EventSource {
  let s = sources.get(store);
  if (s !== undefined) return s;
  const columns = (o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRows => columnsOf(store, o);
  s = {
    append: (topic, data, tsNs) => store.append(topic, data, tsNs),
    events: (o) => rowsOf(columns(o)),
    columns: (o) => columns(o),
    createTopic: (topic, schema) => {
      store.createTopic(topic, schema);
    },
    // fossil's topic list starts with "/", which every database has from its start
    topics: () => {
      const all = orEmpty(() => store.topics(), []);
      const root = all.find((t) => t.name === '/');
      return [{ topic: '/', schema: root?.schema ?? 'string' }, ...all.filter((t) => t !== root).map((t) => ({ topic: t.name, schema: t.schema }))];
    },
    count: () => orEmpty(() => store.eventStats().records, 0),
    sampleFromTiers: (topic, everyNs, start, end) => sampleFromTiers(store, topic, everyNs, start, end),
  };
  sources.set(store, s);
  return s;
}
