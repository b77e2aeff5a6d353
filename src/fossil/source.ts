// What the fossil door and the query language need of a store's event rings, in one place: the
// only file of this room that knows the store's event API.
import type { Store } from '../store';
import { standinEvents } from './standin';

export interface EventRow {
  tsNs: bigint;
  topic: string;
  /** The topic's schema text ("string", "int32", ...). */
  schema: string;
  /** The datum's value as the store gives it back (decoded by type) or its bytes. */
  data: unknown;
}

export interface TopicRow {
  topic: string;
  schema: string;
}

export interface EventSource {
  append(topic: string, data: Buffer, tsNs?: bigint): void;
  /** Events in time order; `topic` selects it and its sub-topics (a path prefix). */
  events(o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRow[];
  createTopic(topic: string, schema: string): void;
  topics(): TopicRow[];
  /** Records held (fossil's STATS "segments" field carries it). */
  count(): number;
}

/** The event API of a store. */
export function eventsOf(store: Store): EventSource {
  return standinEvents(store);
}
