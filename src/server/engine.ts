// The PromQL engine (the promql room) as the server calls it: its queries, its options, and the
// error type of a PromqlError.
import { instantQuery, PromqlError, rangeQuery, type PromqlData, type PromqlOptions } from '../promql';

export type EngineOptions = PromqlOptions;
export type EngineData = PromqlData;
export const engine = { instantQuery, rangeQuery };

/** The engine's error type when `e` is a PromqlError, else undefined. */
export function promqlErrorType(e: unknown): string | undefined {
  return e instanceof PromqlError ? e.errorType : undefined;
}
