// What the fossil door and the query language need of a store's event rings, in one place: the
// only file of this room that calls the store's event API.
import type { Store } from '../store';
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

export interface TopicRow {
  topic: string;
  schema: string;
}

export interface EventSource {
  /** Appends; returns the topic the datum went to (a non-conforming one: /nonconformant). */
  append(topic: string, data: Buffer, tsNs?: bigint): string;
  /** Events in time order; `topic` selects it and its sub-topics (a path prefix). */
  events(o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRow[];
  createTopic(topic: string, schema: string): void;
  /** Every topic with its schema, in creation order. */
  topics(): TopicRow[];
  /** Records held (fossil's STATS "segments" field carries it). */
  count(): number;
}

const sources = new WeakMap<Store, EventSource>();

/** The event API of a store, as this room uses it. */
export function eventsOf(store: Store): EventSource {
  let s = sources.get(store);
  if (s !== undefined) return s;
  s = {
    append: (topic, data, tsNs) => store.append(topic, data, tsNs),
    events: (o) => {
      // a row's schema is its topic's (the store's record type says how a datum was given:
      // bytes given to a string topic are "binary" there)
      const schemas = new Map(orEmpty(() => store.topics(), []).map((t) => [t.name, t.schema]));
      return orEmpty(() => store.events({
          ...(o.topic !== undefined ? { topic: o.topic } : {}),
          ...(o.start !== undefined ? { start: o.start } : {}),
          ...(o.end !== undefined ? { end: o.end } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
        }), [])
        .map((r) => ({ tsNs: r.tsNs, topic: r.topic, schema: schemas.get(r.topic) ?? r.type, data: r.raw }));
    },
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
  };
  sources.set(store, s);
  return s;
}
