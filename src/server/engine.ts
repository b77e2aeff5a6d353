// The PromQL engine (src/promql, the promql room), as the server uses it. Its contract:
//   instantQuery(store, expr, timeMs, options) and rangeQuery(store, expr, startMs, endMs, stepMs,
//   options) give Prometheus's `data` ({resultType, result, rondo: {tiers}}), values already as
//   strings; PromqlError carries errorType 'bad_data' | 'execution' | 'timeout' | 'canceled'.
import type { Store } from '../store';
import * as promql from '../promql';

export interface EngineOptions {
  lookbackDeltaMs?: number;
  maxPoints?: number;
  timeoutMs?: number;
}

/** Prometheus's `data` of a query, plus rondo's own field. */
export interface EngineData {
  resultType: string;
  result: unknown;
  [key: string]: unknown;
}

export interface Engine {
  instantQuery(store: Store, expr: string, timeMs: number, options?: EngineOptions): EngineData;
  rangeQuery(store: Store, expr: string, startMs: number, endMs: number, stepMs: number, options?: EngineOptions): EngineData;
  parsePromql(expr: string): unknown;
  /** A formatter, when the engine has one (format_query). */
  formatPromql?: (expr: string) => string;
  formatQuery?: (expr: string) => string;
  prettifyPromql?: (expr: string) => string;
}

/** The engine. (It is loaded with the server; a formatter is looked up on it at run time.) */
export function engine(): Engine | null {
  return promql as unknown as Engine;
}

export function engineMissing(): string {
  return 'the PromQL engine (src/promql) is not part of this build';
}

/** The engine's error type when `e` is a PromqlError (it carries errorType), else undefined. */
export function promqlErrorType(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && (e as Error).name === 'PromqlError') {
    const t = (e as { errorType?: unknown }).errorType;
    return typeof t === 'string' ? t : 'bad_data';
  }
  return undefined;
}

/** The formatter the engine exports, if any. */
export function formatterOf(e: Engine): ((expr: string) => string) | undefined {
  return e.formatPromql ?? e.formatQuery ?? e.prettifyPromql;
}
