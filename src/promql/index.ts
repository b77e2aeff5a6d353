// The promql room: PromQL evaluated over a rondo store, with Prometheus's semantics, answering in
// the shape of Prometheus's /api/v1/query and /api/v1/query_range `data`.
import type { Store } from '../store';
import { Evaluator, type TierReport, type Value } from './engine';
import { badData, PromqlError } from './errors';
import { formatFloat } from './format';
import { compareLbls, toObject } from './labels';
import { parseExpr, typeOf, type Node } from './parse';

export { PromqlError } from './errors';
export type { PromqlErrorType } from './errors';
export { chooseTier } from './tiers';
export type { TierNeed } from './tiers';
export { formatFloat } from './format';

export interface PromqlOptions {
  /** How far back an instant selector looks for a sample; default 300_000 (5 m). */
  lookbackDeltaMs?: number;
  /** Total points a query may read or produce; default 50_000_000. */
  maxPoints?: number;
  /** Default 30_000; checked as the evaluation goes. */
  timeoutMs?: number;
}

export type PromqlSamplePair = [number, string];
export interface PromqlVectorSample { metric: Record<string, string>; value: PromqlSamplePair }
export interface PromqlMatrixSeries { metric: Record<string, string>; values: PromqlSamplePair[] }

export type PromqlData = (
  | { resultType: 'vector'; result: PromqlVectorSample[] }
  | { resultType: 'matrix'; result: PromqlMatrixSeries[] }
  | { resultType: 'scalar'; result: PromqlSamplePair }
  | { resultType: 'string'; result: PromqlSamplePair }
) & { rondo: { tiers: Array<{ selector: string; tier: number; stepMs: number; agg: string }> } };

const DEFAULTS = { lookbackDeltaMs: 300_000, maxPoints: 50_000_000, timeoutMs: 30_000 };

function options(o: PromqlOptions | undefined): typeof DEFAULTS {
  const r = { ...DEFAULTS };
  if (o !== undefined) {
    if (o.lookbackDeltaMs !== undefined) r.lookbackDeltaMs = o.lookbackDeltaMs;
    if (o.maxPoints !== undefined) r.maxPoints = o.maxPoints;
    if (o.timeoutMs !== undefined) r.timeoutMs = o.timeoutMs;
  }
  for (const [k, v] of Object.entries(r)) if (typeof v !== 'number' || !(v > 0)) throw badData(`invalid option ${k}: ${String(v)}`);
  return r;
}

/** Parses an expression (throws PromqlError bad_data, worded as Prometheus words it). */
export function parsePromql(expr: string): unknown {
  return parseExpr(expr);
}

// Dashboards send the same expressions again and again: their trees are kept (the evaluator
// only reads them), up to this many, the oldest dropped first.
const PARSED_KEPT = 512;
const parsed = new Map<string, Node>();

function parseOnce(expr: string): Node {
  const hit = parsed.get(expr);
  if (hit !== undefined) return hit;
  const node = parseExpr(expr);
  if (parsed.size >= PARSED_KEPT) parsed.delete(parsed.keys().next().value as string);
  parsed.set(expr, node);
  return node;
}

function checkTime(t: number, what: string): void {
  if (typeof t !== 'number' || !Number.isFinite(t)) throw badData(`invalid parameter "${what}": cannot parse ${String(t)} to a valid timestamp`);
}

const sec = (ms: number): number => ms / 1000;

export function instantQuery(store: Store, expr: string, timeMs: number, opts?: PromqlOptions): PromqlData {
  checkTime(timeMs, 'time');
  const o = options(opts);
  const node = parseOnce(expr);
  const ev = new Evaluator(store, timeMs, timeMs, Infinity, o);
  const v = run(ev, node, Float64Array.of(timeMs));
  const rondo = { tiers: ev.tiers.map((t) => ({ ...t })) };
  const t = sec(timeMs);
  switch (v.t) {
    case 'scalar':
      return { resultType: 'scalar', result: [t, formatFloat(v.v[0] as number)], rondo };
    case 'string':
      return { resultType: 'string', result: [t, v.s], rondo };
    case 'vector':
      return {
        resultType: 'vector',
        result: v.series.filter((s) => s.p[0]).map((s) => ({ metric: toObject(s.labels), value: [t, formatFloat(s.v[0] as number)] as PromqlSamplePair })),
        rondo,
      };
    case 'matrix':
      return {
        resultType: 'matrix',
        result: v.series
          .filter((s) => s.ts.length > 0)
          .map((s) => ({ metric: toObject(s.labels), values: Array.from(s.ts, (ts, i) => [sec(ts), formatFloat(s.v[i] as number)] as PromqlSamplePair) })),
        rondo,
      };
  }
}

/** Most steps a range query may have, as in Prometheus. */
const MAX_STEPS = 11_000;

export function rangeQuery(store: Store, expr: string, startMs: number, endMs: number, stepMs: number, opts?: PromqlOptions): PromqlData {
  checkTime(startMs, 'start');
  checkTime(endMs, 'end');
  if (endMs < startMs) throw badData('invalid parameter "end": end timestamp must not be before start time');
  if (typeof stepMs !== 'number' || !(stepMs > 0) || !Number.isFinite(stepMs))
    throw badData('invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer');
  if ((endMs - startMs) / stepMs > MAX_STEPS) throw badData('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
  const o = options(opts);
  const node = parseOnce(expr);
  const t = typeOf(node);
  if (t !== 'scalar' && t !== 'vector')
    throw badData(`invalid expression type "${t === 'matrix' ? 'range vector' : 'string'}" for range query, must be Scalar or instant Vector`);
  const n = Math.floor((endMs - startMs) / stepMs) + 1;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = startMs + i * stepMs;
  const ev = new Evaluator(store, startMs, endMs, stepMs, o);
  const v = run(ev, node, times);
  const rondo = { tiers: ev.tiers.map((x) => ({ ...x })) };
  if (v.t === 'scalar') {
    return { resultType: 'matrix', result: [{ metric: {}, values: Array.from(times, (ts, i) => [sec(ts), formatFloat(v.v[i] as number)] as PromqlSamplePair) }], rondo };
  }
  if (v.t !== 'vector') throw badData('invalid expression type for range query');
  const series = v.series.filter((s) => s.p.some((x) => x === 1)).sort((a, b) => compareLbls(a.labels, b.labels));
  const result = series.map((s) => {
    const values: PromqlSamplePair[] = [];
    for (let i = 0; i < n; i++) if (s.p[i]) values.push([sec(times[i] as number), formatFloat(s.v[i] as number)]);
    return { metric: toObject(s.labels), values };
  });
  return { resultType: 'matrix', result, rondo };
}

function run(ev: Evaluator, node: Node, times: Float64Array): Value {
  try {
    return ev.eval(node, times);
  } catch (e) {
    if (e instanceof PromqlError) throw e;
    if (e instanceof RangeError) throw new PromqlError('execution', `query processing failed: ${e.message}`, { cause: e });
    throw e;
  }
}
