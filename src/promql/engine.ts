// The evaluator: every node is evaluated once over all the steps of the query (a Float64Array of
// evaluation times), as Prometheus's rangeEval does, with Prometheus's semantics.
import type { Aggregation, SeriesHandle, Store, StoreInfo, TierInfo } from '../store';
import { execError, PromqlError } from './errors';
import {
  compareLbls, dropName, formatLbls, fromSeries, getLabel, keepOnly, keyOf, NAME, setLabel, sortLbls, without,
  type Lbls,
} from './labels';
import { formatFloat } from './format';
import { parseGoFloat, type AtMod, type MatrixSelectorNode, type Matching, type Node, type SubqueryNode, type VectorSelectorNode } from './parse';
import { chooseTier } from './tiers';

/** A series' labels as PromQL sees them, made once per handle (a handle's name and labels never change). */
const handleLbls = new WeakMap<SeriesHandle, Lbls>();
function lblsOf(h: SeriesHandle): Lbls {
  let l = handleLbls.get(h);
  if (l === undefined) {
    l = fromSeries(h.name, h.labels);
    handleLbls.set(h, l);
  }
  return l;
}

/** A subquery without a step uses Prometheus's default evaluation interval. */
const DEFAULT_SUBQUERY_STEP = 60_000;

export interface VSeries {
  labels: Lbls;
  key: string;
  v: Float64Array;
  p: Uint8Array;
}
/** Samples of one series: timestamps ascending; `w` the counts of consolidated buckets (avg). */
export interface RSeries {
  labels: Lbls;
  ts: Float64Array;
  v: Float64Array;
  w?: Float64Array;
  /** `v` holds the counts of raw points (agg 'count'), not values. */
  c?: boolean;
  /** For counter functions over many steps: r[j] is how many resets (v[i] < v[i - 1]) there are
   *  at 1..j, so a window with none is told without a look at its points. */
  r?: Int32Array;
  /** Instead of r, when every value is an integer and the sums stay exact (below 2^51): rs[j] is the
   *  sum of v[i - 1] over the resets i at 1..j, so a window's correction is rs[hi - 1] - rs[lo],
   *  the same number Prometheus's sum, one reset after another, comes to. */
  rs?: Float64Array;
}
export type Value =
  | { t: 'scalar'; v: Float64Array }
  | { t: 'string'; s: string }
  | { t: 'vector'; series: VSeries[] }
  | { t: 'matrix'; series: RSeries[] };

export interface TierReport {
  selector: string;
  tier: number;
  stepMs: number;
  agg: string;
}

/**
 * How a series is read from a tier for what a selector needs: the aggregate queried (`main`),
 * whether each bucket's count is read too as its weight (`weights`, for avg_over_time) and the
 * averages are turned into sums by it (`scale`), whether `main` gives counts of raw points
 * (`counts`, for count_over_time), and the name the tier report gives it.
 */
interface ReadPlan {
  main: Aggregation;
  weights: boolean;
  scale: boolean;
  counts: boolean;
  name: string;
}

function readPlan(tier: TierInfo, agg: Aggregation | 'avg-weighted', counter: boolean): ReadPlan {
  const plan = (main: Aggregation, name: string = main, weights = false, scale = false): ReadPlan => ({ main, weights, scale, counts: false, name });
  if (tier.index === 0) return agg === 'avg-weighted' ? plan('last') : { ...plan(agg), counts: agg === 'count' };
  if (counter) return plan('last');
  // A gauge's samples in a tier that keeps no last: the tier's consolidate, what it gives by default.
  if (agg === 'last' && !tier.aggregates.includes('last')) return plan(tier.consolidate);
  if (agg !== 'avg-weighted') return { ...plan(agg), counts: agg === 'count' };
  const keeps = (a: Aggregation): boolean => tier.aggregates.includes(a);
  if (keeps('sum') && keeps('count')) return plan('sum', 'sum,count', true);
  if (keeps('count')) return plan('avg', 'avg,count', true, true);
  // Without counts, each bucket weighs the same (exact when the buckets are full).
  return plan('avg');
}

export interface EvalOptions {
  lookbackDeltaMs: number;
  maxPoints: number;
  timeoutMs: number;
}

export class Evaluator {
  readonly tiers: TierReport[] = [];
  private info: StoreInfo | undefined;
  private points = 0;
  private readonly deadline: number;

  constructor(
    private readonly store: Store,
    private readonly start: number,
    private readonly end: number,
    private readonly step: number,
    private readonly opts: EvalOptions,
  ) {
    this.deadline = Date.now() + opts.timeoutMs;
  }

  check(): void {
    if (Date.now() > this.deadline) throw new PromqlError('timeout', 'query timed out in query execution');
  }

  count(n: number): void {
    this.points += n;
    if (this.points > this.opts.maxPoints)
      throw execError('query processing would load too many samples into memory in query execution');
  }

  eval(n: Node, times: Float64Array): Value {
    this.check();
    switch (n.type) {
      case 'number':
        return { t: 'scalar', v: new Float64Array(times.length).fill(n.value) };
      case 'string':
        return { t: 'string', s: n.value };
      case 'paren':
        return this.eval(n.expr, times);
      case 'unary': {
        const v = this.eval(n.expr, times);
        if (n.op === '+') return v;
        if (v.t === 'scalar') return { t: 'scalar', v: v.v.map((x) => -x) };
        if (v.t !== 'vector') throw execError('unary minus on a non-numeric value');
        return { t: 'vector', series: mergeSame(v.series.map((s) => ({ labels: dropName(s.labels), key: '', v: s.v.map((x) => -x), p: s.p }))) };
      }
      case 'vector':
        return { t: 'vector', series: this.vectorSelector(n, times, false) };
      case 'matrix':
      case 'subquery':
        return { t: 'matrix', series: this.rangeData(n, times, 'last').series };
      case 'call':
        return this.call(n.fn, n.args, times);
      case 'agg':
        return this.aggregate(n.op, n.param, n.expr, n.grouping, n.without, times);
      case 'binary':
        return this.binary(n.op, n.lhs, n.rhs, n.bool, n.matching, times);
    }
  }

  private atTime(at: AtMod): number | undefined {
    return at === 'start' ? this.start : at === 'end' ? this.end : at;
  }

  /** The times a selector (or subquery) looks at: the steps, or its @ time, minus its offset. */
  private selTimes(node: { at: AtMod; offset: number }, times: Float64Array): Float64Array {
    const at = this.atTime(node.at);
    const out = new Float64Array(times.length);
    for (let i = 0; i < times.length; i++) out[i] = (at ?? (times[i] as number)) - node.offset;
    return out;
  }

  private storeInfo(): StoreInfo {
    this.info ??= this.store.info({ series: false });
    return this.info;
  }

  /**
   * Every series `vs` matches, read once over [from, to] from the tier chosen for its schema (among
   * those that keep what `agg` needs), with the aggregate(s) asked for; missing intervals left out.
   * A gauge's samples ('last') in a consolidated tier that keeps no last are its consolidate
   * aggregate. A counter's consolidated buckets hold its last value: there it is one sample per
   * bucket, whatever the function, and its tier is chosen for that.
   */
  readSeries(vs: VectorSelectorNode, from: number, to: number, agg: Aggregation | 'avg-weighted', what: string): RSeries[] {
    const handles = this.store.series().filter((h) => vs.selector.matches(h.name, h.labels));
    const info = this.storeInfo();
    const chosen = new Map<string, TierInfo | undefined>();
    const out: RSeries[] = [];
    for (const h of handles) {
      const counter = h.kind === 'counter';
      const key = `${h.schema}\u0000${counter ? 'counter' : 'gauge'}`;
      if (!chosen.has(key)) {
        const schema = info.schemas.find((s) => s.name === h.schema);
        const tier = schema === undefined ? undefined : chooseTier(schema.tiers, from, this.step, counter ? 'last' : agg);
        chosen.set(key, tier);
        if (tier !== undefined) {
          const r = { selector: what, tier: tier.index, stepMs: tier.intervalMs, agg: readPlan(tier, agg, counter).name };
          if (!this.tiers.some((t) => t.selector === r.selector && t.tier === r.tier && t.agg === r.agg)) this.tiers.push(r);
        }
      }
      const tier = chosen.get(key);
      if (tier === undefined) continue;
      const q = tier.intervalMs;
      const start = Math.ceil(from / q) * q;
      const end = Math.floor(to / q) * q;
      if (end < start) {
        continue;
      }
      out.push(this.readOne(h, start, end, tier, readPlan(tier, agg, counter)));
    }
    out.sort((a, b) => compareLbls(a.labels, b.labels));
    return out;
  }

  private readOne(h: SeriesHandle, start: number, end: number, tier: TierInfo, plan: ReadPlan): RSeries {
    const main = this.store.query(h, { start, end, tier: tier.index, agg: plan.main });
    const cnt = plan.weights ? this.store.query(h, { start, end, tier: tier.index, agg: 'count' }).values : undefined;
    // store.query() gives arrays of the caller's own (fresh for each call): the missing intervals
    // are squeezed out in place, without copying the points into new arrays.
    const vals = main.values;
    const stamps = main.timestamps;
    const len = vals.length;
    let j = 0;
    for (let i = 0; i < len; i++) {
      const x = vals[i] as number;
      if (x !== x) continue;
      if (j !== i) {
        stamps[j] = stamps[i] as number;
        vals[j] = x;
        if (cnt !== undefined) cnt[j] = cnt[i] as number;
      }
      j++;
    }
    // Averages weighted by their counts are made sums, as avg_over_time adds them up.
    if (plan.scale && cnt !== undefined) for (let i = 0; i < j; i++) vals[i] = (vals[i] as number) * (cnt[i] as number);
    this.count(j);
    const whole = j === len;
    const r: RSeries = { labels: lblsOf(h), ts: whole ? stamps : stamps.subarray(0, j), v: whole ? vals : vals.subarray(0, j) };
    if (cnt !== undefined) r.w = whole ? cnt : cnt.subarray(0, j);
    if (plan.counts) r.c = true;
    return r;
  }

  /** An instant vector selector at every step: the newest sample no older than the lookback. */
  vectorSelector(vs: VectorSelectorNode, times: Float64Array, sampleTimes: boolean): VSeries[] {
    const st = this.selTimes(vs, times);
    if (st.length === 0) return [];
    const lb = this.opts.lookbackDeltaMs;
    const data = this.readSeries(vs, (st[0] as number) - lb, st[st.length - 1] as number, 'last', vs.text);
    const out: VSeries[] = [];
    const N = st.length;
    for (const s of data) {
      this.check();
      const v = new Float64Array(N);
      const p = new Uint8Array(N);
      let j = -1;
      let any = false;
      const n = s.ts.length;
      for (let i = 0; i < N; i++) {
        const t = st[i] as number;
        while (j + 1 < n && (s.ts[j + 1] as number) <= t) j++;
        if (j >= 0 && (s.ts[j] as number) >= t - lb) {
          v[i] = sampleTimes ? (s.ts[j] as number) / 1000 : (s.v[j] as number);
          p[i] = 1;
          any = true;
        }
      }
      if (any) out.push({ labels: s.labels, key: keyOf(s.labels), v, p });
    }
    this.count(out.length * N);
    return out;
  }

  /** The samples of a range selector or subquery, and the windows' times. */
  rangeData(n: MatrixSelectorNode | SubqueryNode, times: Float64Array, agg: Aggregation | 'avg-weighted'): { series: RSeries[]; st: Float64Array; range: number } {
    if (n.type === 'matrix') {
      const st = this.selTimes(n.vs, times);
      if (st.length === 0) return { series: [], st, range: n.range };
      const series = this.readSeries(n.vs, (st[0] as number) - n.range, st[st.length - 1] as number, agg, n.text);
      return { series, st, range: n.range };
    }
    const st = this.selTimes(n, times);
    const step = n.step ?? DEFAULT_SUBQUERY_STEP;
    if (st.length === 0) return { series: [], st, range: n.range };
    const from = st[0] as number;
    const to = st[st.length - 1] as number;
    let first = Math.floor((from - n.range) / step) * step;
    if (first < from - n.range) first += step;
    const count = first > to ? 0 : Math.floor((to - first) / step) + 1;
    this.count(count);
    const inner = new Float64Array(count);
    for (let i = 0; i < count; i++) inner[i] = first + i * step;
    const v = this.eval(n.expr, inner);
    if (v.t !== 'vector') throw execError('subquery on a non-vector');
    const series: RSeries[] = v.series.map((s) => {
      let k = 0;
      for (let i = 0; i < count; i++) if (s.p[i]) k++;
      const ts = new Float64Array(k);
      const vals = new Float64Array(k);
      let j = 0;
      for (let i = 0; i < count; i++)
        if (s.p[i]) {
          ts[j] = inner[i] as number;
          vals[j++] = s.v[i] as number;
        }
      return { labels: s.labels, ts, v: vals };
    });
    series.sort((a, b) => compareLbls(a.labels, b.labels));
    return { series, st, range: n.range };
  }

  private scalarArg(n: Node, times: Float64Array): Float64Array {
    const v = this.eval(n, times);
    if (v.t !== 'scalar') throw execError('expected a scalar');
    return v.v;
  }

  private vectorArg(n: Node, times: Float64Array): VSeries[] {
    const v = this.eval(n, times);
    if (v.t !== 'vector') throw execError('expected an instant vector');
    return v.series;
  }

  private stringArg(n: Node, times: Float64Array): string {
    const v = this.eval(n, times);
    if (v.t !== 'string') throw execError('expected a string');
    return v.s;
  }

  call(fn: string, args: Node[], times: Float64Array): Value {
    const N = times.length;
    const a0 = args[0] as Node;
    const mapV = (f: (x: number, i: number) => number, keepName = false): Value => {
      const vs = this.vectorArg(a0, times);
      return {
        t: 'vector',
        series: mergeSame(
          vs.map((s) => {
            const v = new Float64Array(N);
            for (let i = 0; i < N; i++) if (s.p[i]) v[i] = f(s.v[i] as number, i);
            return { labels: keepName ? s.labels : dropName(s.labels), key: '', v, p: s.p };
          }),
        ),
      };
    };
    switch (fn) {
      case 'abs': return mapV(Math.abs);
      case 'ceil': return mapV(Math.ceil);
      case 'floor': return mapV(Math.floor);
      case 'exp': return mapV(Math.exp);
      case 'ln': return mapV(Math.log);
      case 'log2': return mapV(Math.log2);
      case 'log10': return mapV(Math.log10);
      case 'sqrt': return mapV(Math.sqrt);
      case 'round': {
        const to = args[1] !== undefined ? this.scalarArg(args[1], times) : undefined;
        return mapV((x, i) => {
          const inv = 1 / (to === undefined ? 1 : (to[i] as number));
          return Math.floor(x * inv + 0.5) / inv;
        });
      }
      case 'clamp': {
        const lo = this.scalarArg(args[1] as Node, times);
        const hi = this.scalarArg(args[2] as Node, times);
        const r = mapV((x, i) => goMax(lo[i] as number, goMin(hi[i] as number, x)));
        if (r.t === 'vector')
          for (const s of r.series) {
            const p = new Uint8Array(s.p);
            for (let i = 0; i < N; i++) if ((hi[i] as number) < (lo[i] as number)) p[i] = 0;
            s.p = p;
          }
        return r.t === 'vector' ? { t: 'vector', series: r.series.filter((s) => s.p.some((x) => x === 1)) } : r;
      }
      case 'clamp_min': {
        const lo = this.scalarArg(args[1] as Node, times);
        return mapV((x, i) => goMax(x, lo[i] as number));
      }
      case 'clamp_max': {
        const hi = this.scalarArg(args[1] as Node, times);
        return mapV((x, i) => goMin(x, hi[i] as number));
      }
      case 'time':
        return { t: 'scalar', v: times.map((t) => t / 1000) };
      case 'timestamp': {
        let arg = a0;
        while (arg.type === 'paren') arg = arg.expr;
        if (arg.type === 'vector') {
          const vs = this.vectorSelector(arg, times, true);
          return { t: 'vector', series: mergeSame(vs.map((s) => ({ labels: dropName(s.labels), key: '', v: s.v, p: s.p }))) };
        }
        return mapV((_x, i) => (times[i] as number) / 1000);
      }
      case 'vector': {
        const v = this.scalarArg(a0, times);
        return { t: 'vector', series: [{ labels: [], key: keyOf([]), v: Float64Array.from(v), p: new Uint8Array(N).fill(1) }] };
      }
      case 'scalar': {
        const vs = this.vectorArg(a0, times);
        const out = new Float64Array(N).fill(NaN);
        for (let i = 0; i < N; i++) {
          let n = 0;
          let val = NaN;
          for (const s of vs)
            if (s.p[i]) {
              n++;
              val = s.v[i] as number;
            }
          if (n === 1) out[i] = val;
        }
        return { t: 'scalar', v: out };
      }
      case 'sort':
      case 'sort_desc': {
        const vs = this.vectorArg(a0, times);
        if (N !== 1) return { t: 'vector', series: vs };
        const desc = fn === 'sort_desc';
        const sorted = [...vs].sort((a, b) => {
          const x = a.v[0] as number;
          const y = b.v[0] as number;
          if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
          if (Number.isNaN(y)) return 1;
          return desc ? y - x : x - y;
        });
        return { t: 'vector', series: sorted };
      }
      case 'label_replace':
        return this.labelReplace(args, times);
      case 'label_join': {
        const vs = this.vectorArg(a0, times);
        const dst = this.stringArg(args[1] as Node, times);
        const sep = this.stringArg(args[2] as Node, times);
        const srcs = args.slice(3).map((a) => this.stringArg(a, times));
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(dst)) throw execError(`invalid destination label name in label_join(): ${dst}`);
        for (const s of srcs) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(s)) throw execError(`invalid source label name in label_join(): ${s}`);
        return {
          t: 'vector',
          series: mergeSame(vs.map((s) => ({ labels: setLabel(s.labels, dst, srcs.map((l) => getLabel(s.labels, l)).join(sep)), key: '', v: s.v, p: s.p }))),
        };
      }
      case 'histogram_quantile':
        return this.histogramQuantile(args, times);
      case 'absent': {
        const vs = this.vectorArg(a0, times);
        const v = new Float64Array(N).fill(1);
        const p = new Uint8Array(N).fill(1);
        for (const s of vs) for (let i = 0; i < N; i++) if (s.p[i]) p[i] = 0;
        const labels = absentLabels(a0);
        const series = p.some((x) => x === 1) ? [{ labels, key: keyOf(labels), v, p }] : [];
        return { t: 'vector', series };
      }
      default:
        return this.rangeFunction(fn, args, times);
    }
  }

  private labelReplace(args: Node[], times: Float64Array): Value {
    const vs = this.vectorArg(args[0] as Node, times);
    const [dst, repl, src, regex] = args.slice(1).map((a) => this.stringArg(a, times)) as [string, string, string, string];
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${regex.replace(/\(\?P</g, '(?<')})$`, 'u');
    } catch {
      throw execError(`invalid regular expression in label_replace(): ${regex}`);
    }
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(dst)) throw execError(`invalid destination label name in label_replace(): ${dst}`);
    const series = vs.map((s) => {
      const m = re.exec(getLabel(s.labels, src));
      if (m === null) return s;
      return { labels: setLabel(s.labels, dst, expandTemplate(repl, m)), key: '', v: s.v, p: s.p };
    });
    return { t: 'vector', series: mergeSame(series) };
  }

  private histogramQuantile(args: Node[], times: Float64Array): Value {
    const N = times.length;
    const q = this.scalarArg(args[0] as Node, times);
    const vs = this.vectorArg(args[1] as Node, times);
    const groups = new Map<string, { labels: Lbls; members: Array<{ le: number; s: VSeries }> }>();
    for (const s of vs) {
      const le = parseGoFloat(getLabel(s.labels, 'le'));
      const leText = getLabel(s.labels, 'le');
      if (leText === '' || (Number.isNaN(le) && !/nan/i.test(leText))) continue;
      const labels = without(s.labels, [NAME, 'le']);
      const k = keyOf(labels);
      let g = groups.get(k);
      if (g === undefined) groups.set(k, (g = { labels, members: [] }));
      g.members.push({ le, s });
    }
    const out: VSeries[] = [];
    for (const g of groups.values()) {
      const v = new Float64Array(N);
      const p = new Uint8Array(N);
      for (let i = 0; i < N; i++) {
        const buckets: Array<{ ub: number; c: number }> = [];
        for (const m of g.members) if (m.s.p[i]) buckets.push({ ub: m.le, c: m.s.v[i] as number });
        if (buckets.length === 0) continue;
        v[i] = bucketQuantile(q[i] as number, buckets);
        p[i] = 1;
      }
      if (p.some((x) => x === 1)) out.push({ labels: g.labels, key: keyOf(g.labels), v, p });
    }
    return { t: 'vector', series: out };
  }

  private rangeFunction(fn: string, args: Node[], times: Float64Array): Value {
    const N = times.length;
    let param: Float64Array | undefined;
    let arg = args[0] as Node;
    if (fn === 'quantile_over_time') {
      param = this.scalarArg(arg, times);
      arg = args[1] as Node;
    }
    if (arg.type !== 'matrix' && arg.type !== 'subquery') throw execError(`expected a range vector in call to "${fn}"`);
    const agg: Aggregation | 'avg-weighted' =
      fn === 'max_over_time' ? 'max' : fn === 'min_over_time' ? 'min' : fn === 'sum_over_time' ? 'sum' : fn === 'count_over_time' ? 'count' : fn === 'avg_over_time' ? 'avg-weighted' : 'last';
    const { series, st, range } = this.rangeData(arg, times, agg);
    if (fn === 'absent_over_time') {
      const p = new Uint8Array(N).fill(1);
      for (const s of series) {
        let lo = 0;
        let hi = 0;
        for (let i = 0; i < N; i++) {
          const t = st[i] as number;
          while (hi < s.ts.length && (s.ts[hi] as number) <= t) hi++;
          while (lo < hi && (s.ts[lo] as number) < t - range) lo++;
          if (hi > lo) p[i] = 0;
        }
      }
      const labels = arg.type === 'matrix' ? absentLabels(arg.vs) : [];
      return { t: 'vector', series: p.some((x) => x === 1) ? [{ labels, key: keyOf(labels), v: new Float64Array(N).fill(1), p }] : [] };
    }
    const kernel = KERNELS[fn];
    if (kernel === undefined) throw execError(`function "${fn}" is not supported by rondo`);
    const minSamples = TWO_SAMPLE.has(fn) ? 2 : 1;
    const rangeSec = range / 1000;
    const offset = arg.type === 'matrix' ? arg.vs.offset : arg.offset;
    void offset;
    const out: VSeries[] = [];
    const counter = N > 1 && (fn === 'rate' || fn === 'increase');
    for (const s of series) {
      this.check();
      if (counter) resetCounts(s);
      const v = new Float64Array(N);
      const p = new Uint8Array(N);
      let lo = 0;
      let hi = 0;
      let any = false;
      const n = s.ts.length;
      for (let i = 0; i < N; i++) {
        const t = st[i] as number;
        while (hi < n && (s.ts[hi] as number) <= t) hi++;
        while (lo < hi && (s.ts[lo] as number) < t - range) lo++;
        if (hi - lo < minSamples) continue;
        v[i] = kernel(s, lo, hi, t - range, t, rangeSec, param === undefined ? 0 : (param[i] as number));
        p[i] = 1;
        any = true;
      }
      if (any) out.push({ labels: fn === 'last_over_time' ? s.labels : dropName(s.labels), key: '', v, p });
    }
    for (const s of out) s.key = keyOf(s.labels);
    const seen = new Set<string>();
    for (const s of out) {
      if (seen.has(s.key)) throw execError('vector cannot contain metrics with the same labelset');
      seen.add(s.key);
    }
    this.count(out.length * N);
    return { t: 'vector', series: out };
  }

  aggregate(op: string, paramNode: Node | undefined, exprNode: Node, grouping: string[], withoutMode: boolean, times: Float64Array): Value {
    const N = times.length;
    let param: Float64Array | undefined;
    let label = '';
    if (paramNode !== undefined) {
      if (op === 'count_values') label = this.stringArg(paramNode, times);
      else param = this.scalarArg(paramNode, times);
    }
    const input = this.vectorArg(exprNode, times);
    if (op === 'count_values' && !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(label)) throw execError(`invalid label name "${label}"`);
    const groupLabels = (l: Lbls): Lbls => (withoutMode ? without(l, [...grouping, NAME]) : keepOnly(l, grouping));
    if (op === 'count_values') {
      const outs = new Map<string, VSeries>();
      const order: VSeries[] = [];
      for (let i = 0; i < N; i++)
        for (const s of input) {
          if (!s.p[i]) continue;
          let labels = setLabel(s.labels, label, formatFloat(s.v[i] as number));
          labels = withoutMode ? without(labels, [...grouping, NAME]) : keepOnly(labels, [...grouping, label]);
          const k = keyOf(labels);
          let o = outs.get(k);
          if (o === undefined) {
            o = { labels, key: k, v: new Float64Array(N), p: new Uint8Array(N) };
            outs.set(k, o);
            order.push(o);
          }
          o.v[i] = (o.v[i] as number) + 1;
          o.p[i] = 1;
        }
      return { t: 'vector', series: order };
    }
    // Groups, in order of first appearance.
    const groups = new Map<string, { labels: Lbls; members: VSeries[] }>();
    for (const s of input) {
      const labels = groupLabels(s.labels);
      const k = keyOf(labels);
      let g = groups.get(k);
      if (g === undefined) groups.set(k, (g = { labels, members: [] }));
      g.members.push(s);
    }
    if (op === 'topk' || op === 'bottomk') {
      const outs = new Map<VSeries, VSeries>();
      const order: VSeries[] = [];
      const top = op === 'topk';
      for (let i = 0; i < N; i++) {
        const kf = param?.[i] as number;
        if (!Number.isFinite(kf) && !Number.isNaN(kf)) throw execError(`Scalar value ${formatFloat(kf)} overflows int64`);
        if (Number.isNaN(kf)) throw execError('Parameter value is NaN');
        const k = Math.trunc(kf);
        if (k < 1) continue;
        for (const g of groups.values()) {
          const present = g.members.filter((s) => s.p[i]);
          const better = (a: number, b: number): boolean => (top ? a > b || (Number.isNaN(b) && !Number.isNaN(a)) : a < b || (Number.isNaN(b) && !Number.isNaN(a)));
          // Stable selection: keep the first-seen on ties, as Prometheus's heap does for the first k.
          const chosen = present.slice().sort((a, b) => (better(a.v[i] as number, b.v[i] as number) ? -1 : better(b.v[i] as number, a.v[i] as number) ? 1 : 0)).slice(0, k);
          for (const s of chosen) {
            let o = outs.get(s);
            if (o === undefined) {
              o = { labels: s.labels, key: s.key === '' ? keyOf(s.labels) : s.key, v: new Float64Array(N), p: new Uint8Array(N) };
              outs.set(s, o);
              order.push(o);
            }
            o.v[i] = s.v[i] as number;
            o.p[i] = 1;
          }
          if (N === 1) {
            // Instant query: Prometheus lists each group's elements best first.
            order.sort((a, b) => (better(a.v[0] as number, b.v[0] as number) ? -1 : better(b.v[0] as number, a.v[0] as number) ? 1 : 0));
          }
        }
      }
      return { t: 'vector', series: order };
    }
    const out: VSeries[] = [];
    for (const g of groups.values()) {
      const v = new Float64Array(N);
      const p = new Uint8Array(N);
      const vals: number[] = [];
      for (let i = 0; i < N; i++) {
        let n = 0;
        let acc = 0;
        let mean = 0;
        let m2 = 0;
        vals.length = 0;
        for (const s of g.members) {
          if (!s.p[i]) continue;
          const x = s.v[i] as number;
          n++;
          switch (op) {
            case 'sum':
              acc += x;
              break;
            case 'avg':
            case 'stddev':
            case 'stdvar': {
              const d = x - mean;
              mean += d / n;
              m2 += d * (x - mean);
              break;
            }
            case 'min':
              if (n === 1 || acc > x || Number.isNaN(acc)) acc = x;
              break;
            case 'max':
              if (n === 1 || acc < x || Number.isNaN(acc)) acc = x;
              break;
            case 'quantile':
              vals.push(x);
              break;
            default:
              break;
          }
        }
        if (n === 0) continue;
        p[i] = 1;
        switch (op) {
          case 'sum':
          case 'min':
          case 'max':
            v[i] = acc;
            break;
          case 'avg':
            v[i] = avgOf(g.members, i);
            break;
          case 'count':
            v[i] = n;
            break;
          case 'group':
            v[i] = 1;
            break;
          case 'stdvar':
            v[i] = m2 / n;
            break;
          case 'stddev':
            v[i] = Math.sqrt(m2 / n);
            break;
          case 'quantile':
            v[i] = quantile(param?.[i] as number, vals);
            break;
          default:
            throw execError(`aggregation "${op}" is not supported by rondo`);
        }
      }
      if (p.some((x) => x === 1)) out.push({ labels: g.labels, key: keyOf(g.labels), v, p });
    }
    return { t: 'vector', series: out };
  }

  binary(op: string, lhsN: Node, rhsN: Node, bool: boolean, matching: Matching | undefined, times: Float64Array): Value {
    const N = times.length;
    const lhs = this.eval(lhsN, times);
    const rhs = this.eval(rhsN, times);
    if (lhs.t === 'scalar' && rhs.t === 'scalar') {
      const v = new Float64Array(N);
      for (let i = 0; i < N; i++) {
        const [val, keep] = elemOp(op, lhs.v[i] as number, rhs.v[i] as number);
        v[i] = COMPARISON.has(op) ? (keep ? 1 : 0) : val;
      }
      return { t: 'scalar', v };
    }
    if (lhs.t === 'vector' && rhs.t === 'scalar') return { t: 'vector', series: vectorScalar(op, lhs.series, rhs.v, false, bool) };
    if (lhs.t === 'scalar' && rhs.t === 'vector') return { t: 'vector', series: vectorScalar(op, rhs.series, lhs.v, true, bool) };
    if (lhs.t !== 'vector' || rhs.t !== 'vector' || matching === undefined) throw execError('binary expression on unsupported types');
    for (const s of [...lhs.series, ...rhs.series]) if (s.key === '') s.key = keyOf(s.labels);
    const sigOf = (l: Lbls): string => keyOf(matching.on ? keepOnly(l, matching.labels) : without(l, [...matching.labels, NAME]));
    const lsig = lhs.series.map((s) => sigOf(s.labels));
    const rsig = rhs.series.map((s) => sigOf(s.labels));
    if (op === 'and' || op === 'or' || op === 'unless') return { t: 'vector', series: setOp(op, lhs.series, rhs.series, lsig, rsig, N) };
    // One-to-one and many-to-one; one-to-many swaps the sides.
    const swap = matching.card === 'one-to-many';
    const [many, one, msig, osig] = swap ? [rhs.series, lhs.series, rsig, lsig] : [lhs.series, rhs.series, lsig, rsig];
    const outs = new Map<string, VSeries>();
    const order: VSeries[] = [];
    const pairLabels = new Map<string, Lbls>();
    const isCmp = COMPARISON.has(op);
    for (let i = 0; i < N; i++) {
      if (!many.some((s) => s.p[i]) || !one.some((s) => s.p[i])) continue;
      const right = new Map<string, number>();
      for (let r = 0; r < one.length; r++) {
        const s = one[r] as VSeries;
        if (!s.p[i]) continue;
        const sig = osig[r] as string;
        const dup = right.get(sig);
        if (dup !== undefined) {
          const side = swap ? 'left' : 'right';
          throw execError(
            `found duplicate series for the match group ${formatMatch(s.labels, matching)} on the ${side} hand-side of the operation: [${formatLbls(s.labels)}, ${formatLbls((one[dup] as VSeries).labels)}];many-to-many matching not allowed: matching labels must be unique on one side`,
          );
        }
        right.set(sig, r);
      }
      const matched = new Map<string, Set<string> | null>();
      for (let l = 0; l < many.length; l++) {
        const ls = many[l] as VSeries;
        if (!ls.p[i]) continue;
        const sig = msig[l] as string;
        const r = right.get(sig);
        if (r === undefined) continue;
        const rs = one[r] as VSeries;
        let vl = ls.v[i] as number;
        let vr = rs.v[i] as number;
        if (swap) [vl, vr] = [vr, vl];
        let [value, keep] = elemOp(op, vl, vr);
        if (bool) {
          value = keep ? 1 : 0;
        } else if (!keep) continue;
        const pk = `${l},${r}`;
        let labels = pairLabels.get(pk);
        if (labels === undefined) {
          labels = resultLabels(ls.labels, rs.labels, op, matching);
          if (bool) labels = dropName(labels);
          pairLabels.set(pk, labels);
        }
        const k = keyOf(labels);
        if (matching.card === 'one-to-one') {
          if (matched.has(sig)) throw execError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
          matched.set(sig, null);
        } else {
          let ins = matched.get(sig);
          if (ins === undefined || ins === null) matched.set(sig, (ins = new Set()));
          else if (ins.has(k)) throw execError('multiple matches for labels: grouping labels must ensure unique matches');
          ins.add(k);
        }
        let o = outs.get(k);
        if (o === undefined) {
          o = { labels, key: k, v: new Float64Array(N), p: new Uint8Array(N) };
          outs.set(k, o);
          order.push(o);
        } else if (o.p[i]) throw execError('vector cannot contain metrics with the same labelset');
        o.v[i] = value;
        o.p[i] = 1;
      }
      void isCmp;
    }
    return { t: 'vector', series: order };
  }
}

function formatMatch(l: Lbls, m: Matching): string {
  const ls = m.on ? keepOnly(l, m.labels) : without(l, [...m.labels, NAME]);
  return `{${ls.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')}}`;
}

function resultLabels(lhs: Lbls, rhs: Lbls, op: string, m: Matching): Lbls {
  let l = lhs;
  if (ARITH.has(op)) l = dropName(l);
  if (m.card === 'one-to-one') l = m.on ? keepOnly(l, m.labels) : without(l, m.labels);
  for (const name of m.include) l = setLabel(l, name, getLabel(rhs, name));
  return l;
}

function setOp(op: string, lhs: VSeries[], rhs: VSeries[], lsig: string[], rsig: string[], N: number): VSeries[] {
  const outL = lhs.map((s) => ({ labels: s.labels, key: s.key, v: s.v, p: new Uint8Array(N) }));
  const outR = rhs.map((s) => ({ labels: s.labels, key: s.key, v: s.v, p: new Uint8Array(N) }));
  for (let i = 0; i < N; i++) {
    const rs = new Set<string>();
    for (let r = 0; r < rhs.length; r++) if ((rhs[r] as VSeries).p[i]) rs.add(rsig[r] as string);
    const ls = new Set<string>();
    for (let l = 0; l < lhs.length; l++) {
      if (!(lhs[l] as VSeries).p[i]) continue;
      const sig = lsig[l] as string;
      ls.add(sig);
      const keep = op === 'or' ? true : op === 'and' ? rs.has(sig) : !rs.has(sig);
      if (keep) (outL[l] as VSeries).p[i] = 1;
    }
    if (op === 'or') for (let r = 0; r < rhs.length; r++) if ((rhs[r] as VSeries).p[i] && !ls.has(rsig[r] as string)) (outR[r] as VSeries).p[i] = 1;
  }
  return mergeSame([...outL, ...outR].filter((s) => s.p.some((x) => x === 1)));
}

function vectorScalar(op: string, vec: VSeries[], sc: Float64Array, swap: boolean, bool: boolean): VSeries[] {
  const N = sc.length;
  const cmp = COMPARISON.has(op);
  const out = vec.map((s) => {
    const v = new Float64Array(N);
    const p = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      if (!s.p[i]) continue;
      let lv = s.v[i] as number;
      let rv = sc[i] as number;
      if (swap) [lv, rv] = [rv, lv];
      let [value, keep] = elemOp(op, lv, rv);
      if (cmp && swap) value = rv;
      if (bool) {
        value = keep ? 1 : 0;
        keep = true;
      }
      if (keep) {
        v[i] = value;
        p[i] = 1;
      }
    }
    return { labels: ARITH.has(op) || bool ? dropName(s.labels) : s.labels, key: '', v, p };
  });
  return mergeSame(out.filter((s) => s.p.some((x) => x === 1)));
}

const ARITH = new Set(['+', '-', '*', '/', '%', '^']);
const COMPARISON = new Set(['==', '!=', '>', '<', '>=', '<=']);

/** Prometheus's vectorElemBinop: the value, and whether a comparison holds. */
function elemOp(op: string, l: number, r: number): [number, boolean] {
  switch (op) {
    case '+': return [l + r, true];
    case '-': return [l - r, true];
    case '*': return [l * r, true];
    case '/': return [l / r, true];
    case '%': return [l % r, true];
    case '^': return [goPow(l, r), true];
    case '==': return [l, l === r];
    case '!=': return [l, l !== r];
    case '>': return [l, l > r];
    case '<': return [l, l < r];
    case '>=': return [l, l >= r];
    case '<=': return [l, l <= r];
    default: throw execError(`operator "${op}" not allowed for this operation`);
  }
}

/** Go's math.Pow where it differs from JS's: 1^NaN = 1, (-1)^±Inf = 1. */
function goPow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && !Number.isFinite(y) && !Number.isNaN(y)) return 1;
  return x ** y;
}

function goMax(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  return Math.max(a, b);
}
function goMin(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  return Math.min(a, b);
}

function avgOf(members: VSeries[], i: number): number {
  let mean = 0;
  let c = 0;
  for (const s of members) if (s.p[i]) mean = nextMean(mean, s.v[i] as number, ++c);
  return mean;
}

/** Prometheus's incremental mean: the mean of c values from that of the first c − 1 and the
 *  c-th, x, with its handling of infinities (an infinite mean stays, but for one of the other sign). */
function nextMean(mean: number, x: number, c: number): number {
  if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
    if (!Number.isFinite(x) && !Number.isNaN(x) && mean > 0 === x > 0) return mean;
    if (Number.isFinite(x)) return mean;
  }
  return mean + (x / c - mean / c);
}

/** Series with the same labels become one; two present at one step are an error. */
export function mergeSame(series: VSeries[]): VSeries[] {
  const byKey = new Map<string, VSeries>();
  const out: VSeries[] = [];
  for (const s of series) {
    if (s.key === '') s.key = keyOf(s.labels);
    const o = byKey.get(s.key);
    if (o === undefined) {
      byKey.set(s.key, s);
      out.push(s);
      continue;
    }
    const v = new Float64Array(o.v);
    const p = new Uint8Array(o.p);
    for (let i = 0; i < p.length; i++) {
      if (!s.p[i]) continue;
      if (p[i]) throw execError('vector cannot contain metrics with the same labelset');
      p[i] = 1;
      v[i] = s.v[i] as number;
    }
    o.v = v;
    o.p = p;
  }
  return out;
}

function absentLabels(n: Node): Lbls {
  let m: VectorSelectorNode['matchers'] | undefined;
  if (n.type === 'vector') m = n.matchers;
  else if (n.type === 'matrix') m = n.vs.matchers;
  if (m === undefined) return [];
  const set = new Map<string, string>();
  const empty: string[] = [];
  for (const x of m) {
    if (x.name === NAME) continue;
    if (x.op === '=' && !set.has(x.name)) set.set(x.name, x.value);
    else empty.push(x.name);
  }
  for (const e of empty) set.delete(e);
  return sortLbls([...set].filter(([, v]) => v !== ''));
}

/** Go regexp's Expand: $1, ${1}, $name, ${name}, $$. */
function expandTemplate(tpl: string, m: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < tpl.length; i++) {
    const c = tpl[i] as string;
    if (c !== '$' || i + 1 >= tpl.length) {
      out += c;
      continue;
    }
    if (tpl[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string;
    if (tpl[i + 1] === '{') {
      const close = tpl.indexOf('}', i + 2);
      const inner = close < 0 ? '' : tpl.slice(i + 2, close);
      if (close < 0 || !/^[A-Za-z0-9_]+$/.test(inner)) {
        out += c;
        continue;
      }
      name = inner;
      i = close;
    } else {
      const mm = /^[A-Za-z0-9_]+/.exec(tpl.slice(i + 1));
      if (mm === null) {
        out += c;
        continue;
      }
      name = mm[0];
      i += name.length;
    }
    if (/^\d+$/.test(name)) out += m[Number(name)] ?? '';
    else out += m.groups?.[name] ?? '';
  }
  return out;
}

function quantile(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  values.sort((a, b) => (Number.isNaN(a) ? -1 : Number.isNaN(b) ? 1 : a - b));
  const n = values.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return (values[lower] as number) * (1 - weight) + (values[upper] as number) * weight;
}

function bucketQuantile(q: number, input: Array<{ ub: number; c: number }>): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = input.slice().sort((a, b) => a.ub - b.ub);
  if ((sorted[sorted.length - 1] as { ub: number }).ub !== Infinity) return NaN;
  // Coalesce equal bounds.
  const b: Array<{ ub: number; c: number }> = [];
  for (const x of sorted) {
    const last = b[b.length - 1];
    if (last !== undefined && last.ub === x.ub) last.c += x.c;
    else b.push({ ub: x.ub, c: x.c });
  }
  let max = -Infinity;
  for (const x of b) {
    if (x.c > max) max = x.c;
    else if (x.c < max) x.c = max;
  }
  if (b.length < 2) return NaN;
  const observations = (b[b.length - 1] as { c: number }).c;
  if (observations === 0) return NaN;
  let rank = q * observations;
  let idx = 0;
  while (idx < b.length - 1 && (b[idx] as { c: number }).c < rank) idx++;
  if (idx === b.length - 1) return (b[b.length - 2] as { ub: number }).ub;
  if (idx === 0 && (b[0] as { ub: number }).ub <= 0) return (b[0] as { ub: number }).ub;
  let start = 0;
  const end = (b[idx] as { ub: number }).ub;
  let count = (b[idx] as { c: number }).c;
  if (idx > 0) {
    const prev = b[idx - 1] as { ub: number; c: number };
    start = prev.ub;
    count -= prev.c;
    rank -= prev.c;
  }
  return start + (end - start) * (rank / count);
}

/** Fills s.rs when every value is an integer and every sum exact, else s.r (resets at 1..j:
 *  v[i] < v[i - 1]), for the counter kernels. */
function resetCounts(s: RSeries): void {
  const v = s.v;
  const len = v.length;
  const rs = new Float64Array(len);
  let sum = 0;
  let bound = len > 0 ? Math.abs(v[0] as number) : 0;
  let exact = len === 0 || Number.isInteger(v[0] as number);
  for (let j = 1; j < len; j++) {
    const prev = v[j - 1] as number;
    const x = v[j] as number;
    if (x < prev) {
      sum += prev;
      bound += Math.abs(prev);
    }
    if (!Number.isInteger(x)) exact = false;
    rs[j] = sum;
  }
  // Every value and every partial sum below 2^51: integers all, each addition exact.
  for (let j = 0; j < len && exact; j++) if (Math.abs(v[j] as number) >= 2 ** 51) exact = false;
  if (exact && bound < 2 ** 51) {
    s.rs = rs;
    return;
  }
  const r = new Int32Array(len);
  let n = 0;
  for (let j = 1; j < len; j++) {
    if ((v[j] as number) < (v[j - 1] as number)) n++;
    r[j] = n;
  }
  s.r = r;
}

type Kernel = (s: RSeries, lo: number, hi: number, rangeStart: number, rangeEnd: number, rangeSec: number, param: number) => number;

const TWO_SAMPLE = new Set(['rate', 'increase', 'delta', 'irate', 'idelta', 'deriv']);

function extrapolated(isCounter: boolean, isRate: boolean): Kernel {
  return (s, lo, hi, rangeStart, rangeEnd, rangeSec) => {
    const ts = s.ts;
    const v = s.v;
    const first = v[lo] as number;
    const last = v[hi - 1] as number;
    let result = last - first;
    // The resets, in Prometheus's order (a window with none, as r tells, has nothing to add).
    if (isCounter && s.rs !== undefined) result += (s.rs[hi - 1] as number) - (s.rs[lo] as number);
    else if (isCounter && (s.r === undefined || s.r[hi - 1] !== s.r[lo])) {
      let prev = first;
      for (let j = lo + 1; j < hi; j++) {
        const cur = v[j] as number;
        if (cur < prev) result += prev;
        prev = cur;
      }
    }
    const t0 = ts[lo] as number;
    const t1 = ts[hi - 1] as number;
    let durationToStart = (t0 - rangeStart) / 1000;
    const durationToEnd = (rangeEnd - t1) / 1000;
    const sampled = (t1 - t0) / 1000;
    const avgBetween = sampled / (hi - lo - 1);
    if (isCounter && result > 0 && first >= 0) {
      const durationToZero = sampled * (first / result);
      if (durationToZero < durationToStart) durationToStart = durationToZero;
    }
    const threshold = avgBetween * 1.1;
    let interval = sampled;
    interval += durationToStart < threshold ? durationToStart : avgBetween / 2;
    interval += durationToEnd < threshold ? durationToEnd : avgBetween / 2;
    let factor = interval / sampled;
    if (isRate) factor /= rangeSec;
    return result * factor;
  };
}

function instantValue(isRate: boolean): Kernel {
  return (s, _lo, hi) => {
    const last = s.v[hi - 1] as number;
    const prev = s.v[hi - 2] as number;
    const result = isRate && last < prev ? last : last - prev;
    const dt = (s.ts[hi - 1] as number) - (s.ts[hi - 2] as number);
    return isRate ? result / (dt / 1000) : result;
  };
}

function kahan(x: number, sum: number, c: number): [number, number] {
  const t = sum + x;
  if (Math.abs(sum) >= Math.abs(x)) c += sum - t + x;
  else c += x - t + sum;
  return [t, c];
}

const KERNELS: Record<string, Kernel> = {
  rate: extrapolated(true, true),
  increase: extrapolated(true, false),
  delta: extrapolated(false, false),
  irate: instantValue(true),
  idelta: instantValue(false),
  deriv: (s, lo, hi) => {
    const t0 = s.ts[lo] as number;
    const y0 = s.v[lo] as number;
    let constY = true;
    let n = 0;
    let sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    for (let j = lo; j < hi; j++) {
      const y = s.v[j] as number;
      if (constY && j > lo && y !== y0) constY = false;
      n++;
      const x = ((s.ts[j] as number) - t0) / 1000;
      [sx, cx] = kahan(x, sx, cx);
      [sy, cy] = kahan(y, sy, cy);
      [sxy, cxy] = kahan(x * y, sxy, cxy);
      [sx2, cx2] = kahan(x * x, sx2, cx2);
    }
    if (constY) return Number.isFinite(y0) ? 0 : NaN;
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    const cov = sxy - (sx * sy) / n;
    const varX = sx2 - (sx * sx) / n;
    return cov / varX;
  },
  resets: (s, lo, hi) => {
    let n = 0;
    for (let j = lo + 1; j < hi; j++) if ((s.v[j] as number) < (s.v[j - 1] as number)) n++;
    return n;
  },
  changes: (s, lo, hi) => {
    let n = 0;
    for (let j = lo + 1; j < hi; j++) {
      const a = s.v[j] as number;
      const b = s.v[j - 1] as number;
      if (!(a === b || (Number.isNaN(a) && Number.isNaN(b)))) n++;
    }
    return n;
  },
  avg_over_time: (s, lo, hi) => {
    if (s.w !== undefined) {
      let sum = 0;
      let cnt = 0;
      for (let j = lo; j < hi; j++) {
        sum += s.v[j] as number;
        cnt += s.w[j] as number;
      }
      return sum / cnt;
    }
    let mean = 0;
    let c = 0;
    for (let j = lo; j < hi; j++) mean = nextMean(mean, s.v[j] as number, ++c);
    return mean;
  },
  min_over_time: (s, lo, hi) => {
    let m = s.v[lo] as number;
    for (let j = lo + 1; j < hi; j++) {
      const x = s.v[j] as number;
      if (m > x || Number.isNaN(m)) m = x;
    }
    return m;
  },
  max_over_time: (s, lo, hi) => {
    let m = s.v[lo] as number;
    for (let j = lo + 1; j < hi; j++) {
      const x = s.v[j] as number;
      if (m < x || Number.isNaN(m)) m = x;
    }
    return m;
  },
  sum_over_time: (s, lo, hi) => {
    let sum = 0;
    let c = 0;
    for (let j = lo; j < hi; j++) [sum, c] = kahan(s.v[j] as number, sum, c);
    return sum + c;
  },
  count_over_time: (s, lo, hi, _a, _b, _c) => {
    // A consolidated tier's buckets each count their raw points (agg 'count'); raw: 1 each.
    if (!s.c) return hi - lo;
    let n = 0;
    for (let j = lo; j < hi; j++) n += s.v[j] as number;
    return n;
  },
  stddev_over_time: (s, lo, hi) => Math.sqrt(variance(s, lo, hi)),
  stdvar_over_time: (s, lo, hi) => variance(s, lo, hi),
  last_over_time: (s, _lo, hi) => s.v[hi - 1] as number,
  present_over_time: () => 1,
  quantile_over_time: (s, lo, hi, _a, _b, _c, q) => quantile(q, Array.from(s.v.subarray(lo, hi))),
};

function variance(s: RSeries, lo: number, hi: number): number {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (let j = lo; j < hi; j++) {
    const x = s.v[j] as number;
    n++;
    const d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  return m2 / n;
}
