// InfluxQL statements answered from a rondo store: series chosen through the Influx catalog's view,
// the time range cut from WHERE, each series read with store.query() (the call the PromQL engine
// reads with) from the tier chooseTier() picks for the GROUP BY interval (a consolidated tier's
// sum/count/min/max/avg where they answer the function, tier 0's raw points otherwise), then
// bucketed, aggregated, filled and shaped as InfluxDB 1.x answers.
import { InfluxCatalog, type InfluxFieldType, type InfluxSeriesView } from '../ingest';
import { chooseTier, type TierNeed } from '../promql';
import { parseSelector, type Selector } from '../selector';
import type { Aggregation, SeriesHandle, Store, TierInfo } from '../store';
import type { Expr, Field, Fill, SelectStatement, ShowStatement, Source, Statement } from './parse';

/** A statement's error, answered in its result ({"statement_id":n,"error":...}). */
export class StatementError extends Error {}

export type Cell = number | string | boolean | null;

export interface OutSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values: Cell[][];
  /** True when column 0 is time (ms, formatted by the answer's epoch). */
  time: boolean;
}

export interface ExecContext {
  store: Store;
  now: number;
  /** Databases known (created or written); SHOW DATABASES lists them. */
  databases: Set<string>;
  /** What SHOW DATABASES lists when no database was created or written. */
  defaultDatabase: string;
  /** Most intervals one query may read (the server's --max-points). */
  maxPoints: number;
  /** Tiers read, for the answer's figures and tests: "tier index:aggregates". */
  plan: string[];
}

// ---- the series as Influx data ----

interface Src {
  measurement: string;
  tags: Record<string, string>;
  /** measurement,k=v,... with InfluxDB's escaping (SHOW SERIES' key; the order of series). */
  key: string;
  fields: Map<string, { type: InfluxFieldType; handle: SeriesHandle }>;
}

const escKey = (s: string): string => s.replace(/[,= ]/g, (c) => `\\${c}`);
const escMeasurement = (s: string): string => s.replace(/[, ]/g, (c) => `\\${c}`);

function sources(view: readonly InfluxSeriesView[]): Map<string, Src[]> {
  const byKey = new Map<string, Src>();
  for (const v of view) {
    const keys = Object.keys(v.tags).filter((k) => v.tags[k] !== '').sort();
    const key = escMeasurement(v.measurement) + keys.map((k) => `,${escKey(k)}=${escKey(v.tags[k]!)}`).join('');
    let s = byKey.get(key);
    if (s === undefined) {
      const tags: Record<string, string> = {};
      for (const k of keys) tags[k] = v.tags[k]!;
      s = { measurement: v.measurement, tags, key, fields: new Map() };
      byKey.set(key, s);
    }
    s.fields.set(v.field, { type: v.type, handle: v.handle });
  }
  const out = new Map<string, Src[]>();
  for (const s of [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    let l = out.get(s.measurement);
    if (l === undefined) out.set(s.measurement, (l = []));
    l.push(s);
  }
  return out;
}

// ---- regular expressions: InfluxQL's are unanchored RE2; the selector room's linear-time
// matcher runs them (anchored, so wrapped in .*(?:...).*) ----

const regexCache = new Map<string, Selector>();
function regexMatcher(src: string): (s: string) => boolean {
  let sel = regexCache.get(src);
  if (sel === undefined) {
    try {
      sel = parseSelector(`x{v=~${JSON.stringify(`.*(?:${src}).*`)}}`);
    } catch (e) {
      throw new StatementError(`invalid regular expression /${src}/: ${(e as Error).message}`);
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(src, sel);
  }
  const s = sel;
  return (v: string) => s.matches('x', { v });
}

function measurementsOf(all: Map<string, Src[]>, from: readonly Source[]): string[] {
  const names = [...all.keys()];
  const out = new Set<string>();
  for (const s of from) {
    if (s.k === 'name') {
      if (all.has(s.name)) out.add(s.name);
    } else {
      const m = regexMatcher(s.src);
      for (const n of names) if (m(n)) out.add(n);
    }
  }
  return [...out].sort();
}

// ---- time ----

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** A time literal: RFC 3339 (or its date, or 'YYYY-MM-DD HH:MM:SS'), ms. */
export function parseTimeString(s: string): number {
  const m = RFC3339.exec(s);
  if (m === null) throw new StatementError(`invalid operation: time and *influxql.StringLiteral are not compatible`);
  const [, y, mo, d, h = '00', mi = '00', se = '00', frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  if (frac !== '') ms += Math.floor(Number(`0${frac}`) * 1000);
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  if (!Number.isFinite(ms)) throw new StatementError(`invalid time ${s}`);
  return ms;
}

/** A time expression's value, ms: now(), strings, integers (ns since the epoch), durations, + and -. */
function timeValue(e: Expr, now: number): number {
  switch (e.k) {
    case 'call':
      if (e.name === 'now' && e.args.length === 0) return now;
      break;
    case 'str':
      return parseTimeString(e.v);
    case 'num':
      return e.int ? Math.floor(e.v / 1e6) : e.v / 1e6;
    case 'dur':
      return e.ms;
    case 'bin':
      if (e.op === '+') return timeValue(e.l, now) + timeValue(e.r, now);
      if (e.op === '-') return timeValue(e.l, now) - timeValue(e.r, now);
      break;
    default:
      break;
  }
  throw new StatementError(`invalid time expression: ${exprText(e)}`);
}

interface TimeRange {
  min: number;
  max: number;
  /** False when WHERE gave no lower bound (the query reads what tier 0 holds). */
  hasMin: boolean;
  hasMax: boolean;
}

const isTime = (e: Expr): boolean => e.k === 'ref' && e.name.toLowerCase() === 'time';

function refersTime(e: Expr): boolean {
  if (isTime(e)) return true;
  if (e.k === 'bin') return refersTime(e.l) || refersTime(e.r);
  return false;
}

/**
 * Splits WHERE into the time range and the rest. As InfluxDB 1.x does, a comparison of time is
 * taken out wherever it stands (an AND or OR it was part of keeps its other side) and the range
 * is the intersection of them all.
 */
function splitWhere(where: Expr | undefined, now: number): { range: TimeRange; cond: Expr | undefined } {
  const range: TimeRange = { min: -Infinity, max: Infinity, hasMin: false, hasMax: false };
  const lower = (v: number): void => {
    range.min = Math.max(range.min, v);
    range.hasMin = true;
  };
  const upper = (v: number): void => {
    range.max = Math.min(range.max, v);
    range.hasMax = true;
  };
  const flip: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '=' };
  const strip = (e: Expr): Expr | undefined => {
    if (e.k === 'bin' && (e.op === 'AND' || e.op === 'OR')) {
      const l = strip(e.l);
      const r = strip(e.r);
      if (l === undefined) return r;
      if (r === undefined) return l;
      return l === e.l && r === e.r ? e : { k: 'bin', op: e.op, l, r };
    }
    if (e.k === 'bin' && (isTime(e.l) || isTime(e.r))) {
      if (!['=', '<', '<=', '>', '>='].includes(e.op)) throw new StatementError(`invalid time comparison operator: ${e.op}`);
      const op = isTime(e.l) ? e.op : flip[e.op]!;
      const t = timeValue(isTime(e.l) ? e.r : e.l, now);
      // Times are whole milliseconds in the store: > t is >= t + 1 ms.
      if (op === '>') lower(Math.floor(t) + 1);
      else if (op === '>=') lower(Math.ceil(t));
      else if (op === '<') upper(Math.ceil(t) - 1);
      else if (op === '<=') upper(Math.floor(t));
      else {
        lower(Math.ceil(t));
        upper(Math.floor(t));
      }
      return undefined;
    }
    if (refersTime(e)) throw new StatementError(`invalid time comparison: ${exprText(e)}`);
    return e;
  };
  const cond = where === undefined ? undefined : strip(where);
  return { range, cond };
}

// ---- conditions on tags and fields ----

type Scope = (name: string) => Cell | undefined;

function refs(e: Expr | undefined, out: Set<string> = new Set()): Set<string> {
  if (e === undefined) return out;
  if (e.k === 'ref') out.add(e.name);
  else if (e.k === 'bin') {
    refs(e.l, out);
    refs(e.r, out);
  } else if (e.k === 'call') for (const a of e.args) refs(a, out);
  return out;
}

/** A condition's truth for one series (tags) or one row (tags and field values). */
function truth(e: Expr, scope: Scope): boolean {
  if (e.k === 'bin') {
    if (e.op === 'AND') return truth(e.l, scope) && truth(e.r, scope);
    if (e.op === 'OR') return truth(e.l, scope) || truth(e.r, scope);
    if (e.op === '=~' || e.op === '!~') {
      if (e.r.k !== 'regex') throw new StatementError(`invalid regex comparison: ${exprText(e)}`);
      const v = operand(e.l, scope);
      const s = typeof v === 'string' ? v : v === undefined || v === null ? '' : null;
      if (s === null) return false;
      const m = regexMatcher(e.r.src)(s);
      return e.op === '=~' ? m : !m;
    }
    if (['=', '!=', '<', '<=', '>', '>='].includes(e.op)) {
      let l = operand(e.l, scope);
      let r = operand(e.r, scope);
      // A tag that a series does not have is the empty string.
      if (l === undefined) l = typeof r === 'string' ? '' : null;
      if (r === undefined) r = typeof l === 'string' ? '' : null;
      if (l === null || r === null) return false;
      if (typeof l === 'boolean' || typeof r === 'boolean') {
        if (typeof l !== typeof r) return false;
        return e.op === '=' ? l === r : e.op === '!=' ? l !== r : false;
      }
      if (typeof l !== typeof r) return false;
      switch (e.op) {
        case '=':
          return l === r;
        case '!=':
          return l !== r;
        case '<':
          return l < r;
        case '<=':
          return l <= r;
        case '>':
          return l > r;
        default:
          return l >= r;
      }
    }
  }
  if (e.k === 'bool') return e.v;
  throw new StatementError(`invalid condition: ${exprText(e)}`);
}

function operand(e: Expr, scope: Scope): Cell | undefined {
  switch (e.k) {
    case 'ref':
      return scope(e.name);
    case 'str':
      return e.v;
    case 'num':
      return e.v;
    case 'bool':
      return e.v;
    case 'bin': {
      const l = operand(e.l, scope);
      const r = operand(e.r, scope);
      if (typeof l !== 'number' || typeof r !== 'number') return null;
      return arith(e.op, l, r);
    }
    case 'call':
      // influxd 1.x does not evaluate a function in WHERE (the condition matches nothing): refused
      // here, so that a query does not come back empty without a word.
      throw new StatementError(`a function in WHERE (${e.name}()) is not supported by rondo; influxd 1.x does not evaluate one either`);
    default:
      throw new StatementError(`invalid condition operand: ${exprText(e)}`);
  }
}

function arith(op: string, l: number, r: number): number | null {
  switch (op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    case '/':
      // InfluxDB 1.x: a division by zero is 0.
      return r === 0 ? 0 : l / r;
    case '%':
      return r === 0 ? 0 : l % r;
    default:
      throw new StatementError(`invalid arithmetic operator ${op}`);
  }
}

// ---- functions ----

type FnKind = 'aggregate' | 'selector' | 'transform';
/** The functions rondo answers: kind and argument count (min, max). */
const FUNCTIONS: Record<string, { kind: FnKind; args: [number, number] }> = {
  mean: { kind: 'aggregate', args: [1, 1] },
  median: { kind: 'aggregate', args: [1, 1] },
  count: { kind: 'aggregate', args: [1, 1] },
  sum: { kind: 'aggregate', args: [1, 1] },
  spread: { kind: 'aggregate', args: [1, 1] },
  stddev: { kind: 'aggregate', args: [1, 1] },
  min: { kind: 'selector', args: [1, 1] },
  max: { kind: 'selector', args: [1, 1] },
  first: { kind: 'selector', args: [1, 1] },
  last: { kind: 'selector', args: [1, 1] },
  percentile: { kind: 'selector', args: [2, 2] },
  derivative: { kind: 'transform', args: [1, 2] },
  non_negative_derivative: { kind: 'transform', args: [1, 2] },
  difference: { kind: 'transform', args: [1, 1] },
  non_negative_difference: { kind: 'transform', args: [1, 1] },
  cumulative_sum: { kind: 'transform', args: [1, 1] },
  moving_average: { kind: 'transform', args: [2, 2] },
};

/** InfluxDB 1.x functions rondo does not answer (refused by name rather than as undefined). */
const NOT_SUPPORTED = new Set([
  'distinct', 'integral', 'mode', 'bottom', 'top', 'sample', 'elapsed',
  'holt_winters', 'holt_winters_with_fit', 'chande_momentum_oscillator', 'exponential_moving_average',
  'double_exponential_moving_average', 'kaufmans_efficiency_ratio', 'kaufmans_adaptive_moving_average',
  'triple_exponential_moving_average', 'triple_exponential_derivative', 'relative_strength_index',
]);

/** Math functions of a row's (or a bucket's) values, as InfluxDB 1.6 has them: arguments, and the function. */
const MATH: Record<string, { args: [number, number]; f: (...x: number[]) => number }> = {
  abs: { args: [1, 1], f: Math.abs },
  sin: { args: [1, 1], f: Math.sin },
  cos: { args: [1, 1], f: Math.cos },
  tan: { args: [1, 1], f: Math.tan },
  asin: { args: [1, 1], f: Math.asin },
  acos: { args: [1, 1], f: Math.acos },
  atan: { args: [1, 1], f: Math.atan },
  atan2: { args: [2, 2], f: Math.atan2 },
  exp: { args: [1, 1], f: Math.exp },
  ln: { args: [1, 1], f: Math.log },
  log: { args: [2, 2], f: (x, b) => Math.log(x) / Math.log(b) },
  log2: { args: [1, 1], f: Math.log2 },
  log10: { args: [1, 1], f: Math.log10 },
  sqrt: { args: [1, 1], f: Math.sqrt },
  pow: { args: [2, 2], f: Math.pow },
  floor: { args: [1, 1], f: Math.floor },
  ceil: { args: [1, 1], f: Math.ceil },
  // Go's math.Round: halves away from zero.
  round: { args: [1, 1], f: (x) => Math.sign(x) * Math.round(Math.abs(x)) },
};

/** A math function's value (null when an argument is not a number or the result is not finite). */
function math(name: string, args: readonly Cell[]): number | null {
  if (!args.every((a): a is number => typeof a === 'number')) return null;
  const v = MATH[name]!.f(...args);
  return Number.isFinite(v) ? v : null;
}

/** Checks the math functions of an expression (their argument counts). */
function checkMath(e: Expr): void {
  if (e.k === 'bin') {
    checkMath(e.l);
    checkMath(e.r);
  } else if (e.k === 'call') {
    const m = MATH[e.name];
    if (m !== undefined) {
      const [lo, hi] = m.args;
      if (e.args.length < lo || e.args.length > hi) throw new StatementError(`invalid number of arguments for ${e.name}, expected ${lo}, got ${e.args.length}`);
    }
    for (const a of e.args) checkMath(a);
  }
}

function checkCall(e: Expr & { k: 'call' }, grouped: boolean): void {
  const f = FUNCTIONS[e.name];
  if (f === undefined) {
    if (NOT_SUPPORTED.has(e.name)) throw new StatementError(`function ${e.name}() is not supported by rondo`);
    throw new StatementError(`undefined function ${e.name}()`);
  }
  const [lo, hi] = f.args;
  if (e.args.length < lo || e.args.length > hi)
    throw new StatementError(`invalid number of arguments for ${e.name}, expected ${lo === hi ? lo : `at least ${lo} but no more than ${hi}`}, got ${e.args.length}`);
  const a0 = e.args[0]!;
  if (f.kind === 'transform') {
    if (grouped) {
      if (a0.k !== 'call') throw new StatementError(`aggregate function required inside the call to ${e.name}`);
      checkCall(a0, false);
      if (FUNCTIONS[a0.name]!.kind === 'transform') throw new StatementError(`${e.name}(${a0.name}()) is not supported by rondo`);
    } else if (a0.k === 'call') throw new StatementError(`${e.name} aggregate requires a GROUP BY interval`);
    else if (a0.k !== 'ref') throw new StatementError(`expected field argument in ${e.name}()`);
    if (e.name === 'moving_average') {
      const n = e.args[1]!;
      if (n.k !== 'num' || !n.int) throw new StatementError(`second argument for moving_average must be an integer, got ${exprText(n)}`);
      if (n.v <= 1) throw new StatementError(`moving_average window must be greater than 1, got ${n.v}`);
    } else if (e.args.length === 2 && e.args[1]!.k !== 'dur') throw new StatementError(`second argument to ${e.name} must be a duration, got ${exprText(e.args[1]!)}`);
    return;
  }
  if (a0.k === 'call') throw new StatementError(`${e.name}(${a0.name}()) is not supported by rondo (only transforms of aggregates nest)`);
  if (a0.k === 'wild' || a0.k === 'regex') throw new StatementError(`${e.name}(${a0.k === 'wild' ? '*' : '/regex/'}) is not supported by rondo; name the field`);
  if (a0.k !== 'ref') throw new StatementError(`expected field argument in ${e.name}()`);
  if (e.name === 'percentile') {
    const n = e.args[1]!;
    if (n.k !== 'num') throw new StatementError(`expected float argument in percentile()`);
  }
}

// ---- reading ----

interface Points {
  t: Float64Array;
  v: Float64Array;
}

/** A bucket-sized partial aggregate, from raw points or a consolidated tier's bucket. */
interface Partials {
  t: Float64Array;
  sum: Float64Array;
  count: Float64Array;
  min: Float64Array;
  max: Float64Array;
}

class Reader {
  private info: ReturnType<Store['info']> | undefined;
  constructor(
    private readonly ctx: ExecContext,
    readonly range: { min: number; max: number },
  ) {}

  private tiersOf(h: SeriesHandle): readonly TierInfo[] {
    this.info ??= this.ctx.store.info({ series: false });
    return this.info.schemas.find((s) => s.name === h.schema)?.tiers ?? [];
  }

  /** Intervals read so far, for the limit a query may read (as the PromQL engine's maxPoints). */
  private read = 0;

  count(n: number): void {
    this.read += n;
    if (this.read > this.ctx.maxPoints) throw new StatementError(`query would read more than ${this.ctx.maxPoints} points; narrow its time range or the series it selects`);
  }

  note(s: string): void {
    if (!this.ctx.plan.includes(s)) this.ctx.plan.push(s);
  }

  /** The raw points of a series (tier 0) in the range (or [lo, hi]), missing intervals left out. */
  raw(h: SeriesHandle, lo = this.range.min, hi = this.range.max): Points {
    if (hi < lo) return { t: new Float64Array(0), v: new Float64Array(0) };
    this.note('tier 0:raw');
    const r = this.ctx.store.query(h, { start: lo, end: hi, tier: 0 });
    const n = r.values.length;
    this.count(n);
    let j = 0;
    const t = new Float64Array(n);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = r.values[i]!;
      if (x !== x) continue;
      t[j] = r.timestamps[i]!;
      v[j++] = x;
    }
    return { t: t.subarray(0, j), v: v.subarray(0, j) };
  }

  /**
   * Partial aggregates of a series for buckets of `every` ms at `offset`. The tier is the one
   * chooseTier picks for what `need` asks; a consolidated tier is read when its buckets nest in the
   * query's, and only for the part of the range tier 0's ring no longer holds (its buckets wholly
   * inside that part: one an edge cuts is left out, as the PromQL engine's selectors leave it
   * out); tier 0's points answer the rest, as they answer everything otherwise.
   */
  partials(h: SeriesHandle, need: TierNeed, every: number, offset: number): Partials {
    const { min, max } = this.range;
    const tiers = this.tiersOf(h);
    const tier = h.kind === 'counter' ? undefined : chooseTier(tiers, min, every, need);
    const rawPartials = (p: Points): Partials => ({ t: p.t, sum: p.v, count: new Float64Array(p.v.length).fill(1), min: p.v, max: p.v });
    const iv = tier?.intervalMs ?? 0;
    if (tier === undefined || tier.index === 0 || every % iv !== 0 || offset % iv !== 0) return rawPartials(this.raw(h));
    // Tier 0 from the oldest interval its ring holds; the consolidated tier before that.
    const t0 = tiers[0];
    const seam = t0 === undefined || t0.oldest === null ? max + 1 : Math.min(max + 1, Math.max(min, t0.oldest));
    const fine = seam <= max ? rawPartials(this.raw(h, seam, max)) : undefined;
    const from = Math.ceil(min / iv) * iv;
    const to = seam - iv;
    if (to < from) return fine ?? rawPartials(this.raw(h));
    const coarse = this.consolidated(h, tier, need, from, to, t0?.intervalMs ?? 1000);
    if (fine === undefined || fine.t.length === 0) return coarse;
    const cat = (a: Float64Array, b: Float64Array): Float64Array => {
      const out = new Float64Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    };
    return { t: cat(coarse.t, fine.t), sum: cat(coarse.sum, fine.sum), count: cat(coarse.count, fine.count), min: cat(coarse.min, fine.min), max: cat(coarse.max, fine.max) };
  }

  /** A consolidated tier's buckets from..to (bucket starts) as partials; a tier that keeps no count has its buckets count as full. */
  private consolidated(h: SeriesHandle, tier: TierInfo, need: TierNeed, from: number, to: number, rawInterval: number): Partials {
    const iv = tier.intervalMs;
    const keeps = (a: Aggregation): boolean => tier.aggregates.includes(a);
    const q = (agg: Aggregation): Float64Array => this.ctx.store.query(h, { start: from, end: to, tier: tier.index, agg }).values;
    const base = this.ctx.store.query(h, { start: from, end: to, tier: tier.index, agg: need === 'avg-weighted' ? 'avg' : (need as Aggregation) });
    const n = base.values.length;
    this.count(n);
    const nan = (): Float64Array => new Float64Array(n).fill(NaN);
    const counts = (): Float64Array => (keeps('count') ? q('count') : new Float64Array(n).fill(iv / rawInterval));
    let sum = nan();
    let count = nan();
    let mn = nan();
    let mx = nan();
    if (need === 'avg' || need === 'avg-weighted') {
      if (keeps('sum') && keeps('count')) {
        sum = q('sum');
        count = q('count');
        this.note(`tier ${tier.index}:sum,count`);
      } else {
        const avg = base.values;
        count = counts();
        for (let i = 0; i < n; i++) sum[i] = avg[i]! * count[i]!;
        this.note(`tier ${tier.index}:avg${keeps('count') ? ',count' : ''}`);
      }
    } else {
      this.note(`tier ${tier.index}:${need}`);
      if (need === 'sum') sum = base.values;
      else if (need === 'count') count = base.values;
      else if (need === 'min') mn = base.values;
      else if (need === 'max') mx = base.values;
      if (need !== 'count') count = counts();
    }
    // Buckets that hold nothing are left out.
    const keep: number[] = [];
    for (let i = 0; i < n; i++) {
      const main = need === 'sum' ? sum[i]! : need === 'count' ? count[i]! : need === 'min' ? mn[i]! : need === 'max' ? mx[i]! : sum[i]!;
      if (main === main && !(count[i]! === 0)) keep.push(i);
    }
    const pick = (a: Float64Array): Float64Array => Float64Array.from(keep, (i) => a[i]!);
    return { t: pick(base.timestamps), sum: pick(sum), count: pick(count), min: pick(mn), max: pick(mx) };
  }
}

// ---- SELECT ----

function exprText(e: Expr): string {
  switch (e.k) {
    case 'num':
      return String(e.v);
    case 'str':
      return `'${e.v}'`;
    case 'bool':
      return String(e.v);
    case 'regex':
      return `/${e.src}/`;
    case 'dur':
      return `${e.ms}ms`;
    case 'ref':
      return e.name;
    case 'wild':
      return '*';
    case 'call':
      return `${e.name}(${e.args.map(exprText).join(', ')})`;
    case 'bin':
      return `${exprText(e.l)} ${e.op} ${exprText(e.r)}`;
  }
}

/** A column's name as InfluxDB derives it: the names of the fields and calls in it, joined by '_'. */
function columnName(e: Expr): string {
  const names: string[] = [];
  const visit = (x: Expr): void => {
    if (x.k === 'ref') names.push(x.name);
    else if (x.k === 'call') names.push(x.name);
    else if (x.k === 'bin') {
      visit(x.l);
      visit(x.r);
    }
  };
  visit(e);
  return names.join('_');
}

function calls(e: Expr, out: Array<Expr & { k: 'call' }> = []): Array<Expr & { k: 'call' }> {
  if (e.k === 'call' && MATH[e.name] !== undefined) for (const a of e.args) calls(a, out);
  else if (e.k === 'call') out.push(e);
  else if (e.k === 'bin') {
    calls(e.l, out);
    calls(e.r, out);
  }
  return out;
}

function hasWild(e: Expr): boolean {
  return e.k === 'wild' || (e.k === 'bin' && (hasWild(e.l) || hasWild(e.r)));
}

interface Group {
  tags: Record<string, string>;
  key: string;
  srcs: Src[];
}

/** The output series of a measurement: its series grouped by the GROUP BY tags. */
function groups(srcs: readonly Src[], dims: readonly string[]): Group[] {
  const byKey = new Map<string, Group>();
  for (const s of srcs) {
    const tags: Record<string, string> = {};
    for (const d of dims) tags[d] = s.tags[d] ?? '';
    const key = dims.map((d) => `${d}=${tags[d]}`).join('\u0000');
    let g = byKey.get(key);
    if (g === undefined) byKey.set(key, (g = { tags, key, srcs: [] }));
    g.srcs.push(s);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Column names, made unique as InfluxDB makes them (name, name_1, name_2 ...). */
function uniqueNames(names: readonly string[], aliased: readonly boolean[]): string[] {
  const used = new Map<string, number>();
  for (let i = 0; i < names.length; i++) if (aliased[i]) used.set(names[i]!, 0);
  return names.map((n, i) => {
    if (aliased[i]) return n;
    const k = used.get(n);
    if (k === undefined) {
      used.set(n, 0);
      return n;
    }
    let j = k + 1;
    while (used.has(`${n}_${j}`)) j++;
    used.set(n, j);
    used.set(`${n}_${j}`, 0);
    return `${n}_${j}`;
  });
}

/**
 * `f(*)` and `f(/re/)` as one call per field (named f_field), and a bare `/re/` as the fields and
 * tags it matches, as InfluxDB expands them. Functions other than count, first and last skip
 * boolean fields.
 */
function expandFields(fields: readonly Field[], wildFields: readonly string[], wildTags: readonly string[], srcs: readonly Src[]): Field[] {
  const typeOf = (f: string): InfluxFieldType | undefined => {
    for (const s of srcs) {
      const t = s.fields.get(f)?.type;
      if (t !== undefined) return t;
    }
    return undefined;
  };
  return fields.flatMap((f): Field[] => {
    const e = f.expr;
    if (e.k === 'regex') {
      const m = regexMatcher(e.src);
      return [...new Set([...wildFields, ...wildTags])].filter(m).sort().map((k) => ({ expr: { k: 'ref', name: k } }));
    }
    if (e.k === 'call' && FUNCTIONS[e.name] !== undefined && (e.args[0]?.k === 'wild' || e.args[0]?.k === 'regex')) {
      const a0 = e.args[0];
      const m = a0.k === 'regex' ? regexMatcher(a0.src) : () => true;
      const anyType = e.name === 'count' || e.name === 'first' || e.name === 'last';
      return wildFields
        .filter((k) => m(k) && (anyType || typeOf(k) !== 'boolean'))
        .map((k) => ({ expr: { ...e, args: [{ k: 'ref', name: k }, ...e.args.slice(1)] }, alias: `${f.alias ?? e.name}_${k}` }));
    }
    return [f];
  });
}

export function executeSelect(st0: SelectStatement, ctx: ExecContext): OutSeries[] {
  const all = sources(InfluxCatalog.of(ctx.store).view());
  const { range, cond } = splitWhere(st0.where, ctx.now);
  const chosen = measurementsOf(all, st0.sources);
  // A wildcard stands for the fields and tags of every measurement of FROM together, as InfluxDB expands it.
  const everySrc = chosen.flatMap((m) => all.get(m)!);
  const wildTags = [...new Set(everySrc.flatMap((s) => Object.keys(s.tags)))].sort();
  const wildFields = [...new Set(everySrc.flatMap((s) => [...s.fields.keys()]))].sort();
  const st: SelectStatement = { ...st0, fields: expandFields(st0.fields, wildFields, wildTags, everySrc) };
  if (st.fields.length === 0) return [];
  const grouped = st.interval !== undefined;
  for (const f of st.fields) checkMath(f.expr);
  if (cond !== undefined) checkMath(cond);
  for (const f of st.fields) for (const c of calls(f.expr)) checkCall(c, grouped);
  const fieldCalls = st.fields.map((f) => calls(f.expr));
  const anyCall = fieldCalls.some((c) => c.length > 0);
  const transforms = st.fields.filter((f) => f.expr.k === 'call' && FUNCTIONS[f.expr.name]?.kind === 'transform').length;
  if (transforms > 0 && transforms !== st.fields.length)
    throw new StatementError('mixing transformations (derivative, difference, moving_average ...) with other fields is not supported by rondo');
  for (const f of st.fields)
    for (const c of calls(f.expr)) if (FUNCTIONS[c.name]!.kind === 'transform' && f.expr !== c) throw new StatementError(`arithmetic on ${c.name}() is not supported by rondo`);
  const aggregate = anyCall && transforms === 0 ? true : grouped && transforms > 0;
  if (grouped && !anyCall) throw new StatementError('GROUP BY requires at least one aggregate function');
  if (aggregate) {
    const bare = st.fields.filter((f, i) => fieldCalls[i]!.length === 0 && refs(f.expr).size > 0);
    const selectors = fieldCalls.flat().filter((c) => FUNCTIONS[c.name]!.kind === 'selector');
    const total = fieldCalls.flat().length;
    if (bare.length > 0 && !(total === 1 && selectors.length === 1))
      throw new StatementError('mixing aggregate and non-aggregate queries is not supported');
    if (st.fields.some((f) => hasWild(f.expr))) throw new StatementError('mixing aggregate and non-aggregate queries is not supported');
  }
  const now = ctx.now;
  const out: OutSeries[] = [];
  for (const m of chosen) {
    const srcs0 = all.get(m)!;
    const tagKeys = [...new Set(srcs0.flatMap((s) => Object.keys(s.tags)))].sort();
    const fieldKeys = [...new Set(srcs0.flatMap((s) => [...s.fields.keys()]))].sort();
    const isTag = (n: string): boolean => (tagKeys.includes(n) || wildTags.includes(n)) && !fieldKeys.includes(n);
    const condRefs = refs(cond);
    const rowCond = [...condRefs].some((r) => fieldKeys.includes(r));
    // Series-level condition (tags only).
    const srcs = srcs0.filter((s) => cond === undefined || rowCond || truth(cond, (n) => s.tags[n]));
    const dims = st.dimensions === '*' ? tagKeys : st.dimensions.filter((d) => d.toLowerCase() !== 'time');
    const gs = groups(srcs, dims);
    // Columns.
    type Col = { name: string; expr: Expr; aliased: boolean };
    const cols: Col[] = [];
    for (const f of st.fields) {
      if (f.expr.k === 'wild') {
        for (const k of [...new Set([...wildFields, ...wildTags.filter((t) => !dims.includes(t))])].sort()) cols.push({ name: k, expr: { k: 'ref', name: k }, aliased: false });
        continue;
      }
      cols.push({ name: f.alias ?? columnName(f.expr), expr: f.expr, aliased: f.alias !== undefined });
    }
    const names = uniqueNames(cols.map((c) => c.name), cols.map((c) => c.aliased));
    const fieldsNeeded = new Set<string>();
    for (const c of cols) for (const r of refs(c.expr)) if (!isTag(r) && r.toLowerCase() !== 'time') fieldsNeeded.add(r);
    for (const r of condRefs) if (fieldKeys.includes(r)) fieldsNeeded.add(r);

    // The range read: without a lower bound, what tier 0 of the store holds.
    const lo = range.hasMin ? range.min : oldestRaw(ctx.store);
    const hi = range.hasMax ? range.max : grouped ? now : Math.max(now, newestRaw(ctx.store));
    let series: OutSeries[] = [];
    if (!aggregate) {
      const reader = new Reader(ctx, { min: lo, max: hi });
      for (const g of gs) {
        const s = rawGroup(g, cols, names, [...fieldsNeeded], reader, cond, rowCond, isTag, st, transforms > 0);
        if (s !== undefined) series.push({ name: m, ...(dims.length > 0 ? { tags: g.tags } : {}), ...s });
      }
    } else {
      series = aggregateMeasurement(m, gs, dims, cols, names, st, ctx, { lo, hi, hasMin: range.hasMin }, cond, rowCond);
    }
    out.push(...series);
  }
  // ORDER BY time DESC orders the series descending too (measurement, then tags), as influxd does.
  let res = st.desc ? out.reverse() : out;
  if (st.soffset > 0) res = res.slice(st.soffset);
  if (st.slimit > 0) res = res.slice(0, st.slimit);
  return res;
}

function oldestRaw(store: Store): number {
  let oldest = Infinity;
  for (const s of store.info({ series: false }).schemas) {
    const t0 = s.tiers[0];
    if (t0 !== undefined && t0.oldest !== null) oldest = Math.min(oldest, t0.oldest);
  }
  return oldest === Infinity ? Date.now() : oldest;
}

function newestRaw(store: Store): number {
  let newest = 0;
  for (const s of store.info({ series: false }).schemas) {
    const t0 = s.tiers[0];
    if (t0 !== undefined && t0.newest !== null) newest = Math.max(newest, t0.newest);
  }
  return newest;
}

function evalRow(e: Expr, scope: Scope): Cell {
  switch (e.k) {
    case 'ref': {
      const v = scope(e.name);
      return v === undefined ? null : v;
    }
    case 'num':
      return e.v;
    case 'str':
      return e.v;
    case 'bool':
      return e.v;
    case 'bin': {
      const l = evalRow(e.l, scope);
      const r = evalRow(e.r, scope);
      if (typeof l !== 'number' || typeof r !== 'number') return null;
      return arith(e.op, l, r);
    }
    case 'call':
      if (MATH[e.name] !== undefined) return math(e.name, e.args.map((a) => evalRow(a, scope)));
      throw new StatementError(`invalid expression in SELECT: ${exprText(e)}`);
    default:
      throw new StatementError(`invalid expression in SELECT: ${exprText(e)}`);
  }
}

/** Raw rows of one output series (or transforms of a field's points). */
function rawGroup(
  g: Group,
  cols: ReadonlyArray<{ expr: Expr }>,
  names: string[],
  fields: string[],
  reader: Reader,
  cond: Expr | undefined,
  rowCond: boolean,
  isTag: (n: string) => boolean,
  st: SelectStatement,
  transform: boolean,
): Omit<OutSeries, 'name' | 'tags'> | undefined {
  interface Row {
    t: number;
    vals: Map<string, number>;
    src: Src;
  }
  const rows: Row[] = [];
  for (const s of g.srcs) {
    const byTime = new Map<number, Row>();
    for (const f of fields) {
      const fh = s.fields.get(f);
      if (fh === undefined) continue;
      const p = reader.raw(fh.handle);
      for (let i = 0; i < p.t.length; i++) {
        const t = p.t[i]!;
        let r = byTime.get(t);
        if (r === undefined) byTime.set(t, (r = { t, vals: new Map(), src: s }));
        r.vals.set(f, p.v[i]!);
      }
    }
    for (const r of byTime.values()) rows.push(r);
  }
  // Series order within a time: the series key's, as InfluxDB merges them.
  const order = new Map(g.srcs.map((s, i) => [s, i]));
  rows.sort((a, b) => a.t - b.t || order.get(a.src)! - order.get(b.src)!);
  const scopeOf =
    (r: Row): Scope =>
    (n) => {
      const v = r.vals.get(n);
      if (v !== undefined) {
        const ty = r.src.fields.get(n)?.type;
        return ty === 'boolean' ? v !== 0 : v;
      }
      if (isTag(n)) return r.src.tags[n];
      return undefined;
    };
  const kept = cond === undefined || !rowCond ? rows : rows.filter((r) => truth(cond, scopeOf(r)));
  let values: Cell[][] = [];
  if (!transform) {
    for (const r of kept) {
      const sc = scopeOf(r);
      const row: Cell[] = [r.t];
      let any = false;
      for (const c of cols) {
        const v = evalRow(c.expr, sc);
        row.push(v);
        if (v !== null && !(c.expr.k === 'ref' && isTag(c.expr.name))) any = true;
      }
      if (any) values.push(row);
    }
  } else {
    // Each transform over its field's points; rows where any has a value.
    const results = cols.map((c) => {
      const e = c.expr as Expr & { k: 'call' };
      const f = (e.args[0] as Expr & { k: 'ref' }).name;
      const pts = kept.filter((r) => r.vals.has(f));
      return transformPoints(e, Float64Array.from(pts, (r) => r.t), Float64Array.from(pts, (r) => r.vals.get(f)!));
    });
    const times = [...new Set(results.flatMap((r) => r.map((p) => p[0])))].sort((a, b) => a - b);
    for (const t of times) values.push([t, ...results.map((r) => r.find((p) => p[0] === t)?.[1] ?? null)]);
  }
  if (values.length === 0) return undefined;
  if (st.desc) values.reverse();
  values = limitRows(values, st);
  if (values.length === 0) return undefined;
  return { columns: ['time', ...names], values, time: true };
}

function limitRows<T>(rows: T[], st: SelectStatement): T[] {
  let r = rows;
  if (st.offset > 0) r = r.slice(st.offset);
  if (st.limit > 0) r = r.slice(0, st.limit);
  return r;
}

/** derivative, non_negative_derivative, difference, non_negative_difference, cumulative_sum, moving_average over points (t, v), as InfluxDB computes them. */
function transformPoints(e: Expr & { k: 'call' }, t: ArrayLike<number>, v: ArrayLike<number>, every = 0): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const n = t.length;
  if (e.name === 'cumulative_sum') {
    let sum = 0;
    for (let i = 0; i < n; i++) out.push([t[i]!, (sum += v[i]!)]);
    return out;
  }
  if (e.name === 'moving_average') {
    const w = (e.args[1] as Expr & { k: 'num' }).v;
    for (let i = 0; i < n; i++) {
      if (i >= w - 1) {
        // Summed afresh over the window, as InfluxDB's reducer sums its buffer.
        let s = 0;
        for (let j = i - w + 1; j <= i; j++) s += v[j]!;
        out.push([t[i]!, s / w]);
      }
    }
    return out;
  }
  // The unit: the one given, else the GROUP BY interval, else a second (InfluxDB's defaults).
  const unit = e.args[1]?.k === 'dur' ? e.args[1].ms : every > 0 ? every : 1000;
  for (let i = 1; i < n; i++) {
    const dv = v[i]! - v[i - 1]!;
    if (e.name === 'difference' || e.name === 'non_negative_difference') {
      if (e.name === 'difference' || dv >= 0) out.push([t[i]!, dv]);
      continue;
    }
    const dt = t[i]! - t[i - 1]!;
    if (dt === 0) continue;
    const d = dv / (dt / unit);
    if (e.name === 'non_negative_derivative' && d < 0) continue;
    out.push([t[i]!, d]);
  }
  return out;
}

/** What a tier must keep for a function to be answered from it; undefined: raw points only. */
const NEEDS: Record<string, TierNeed | undefined> = { mean: 'avg', sum: 'sum', count: 'count', min: 'min', max: 'max' };

interface Picked {
  v: number;
  t: number;
  src: Src | undefined;
}

/** What a bucket gathers for one call: the points (for the functions that need them), their sum and count. */
interface Acc {
  pts: Picked[];
  sum: number;
  count: number;
}

function aggregateMeasurement(
  m: string,
  gs: Group[],
  dims: string[],
  cols: ReadonlyArray<{ expr: Expr }>,
  names: string[],
  st: SelectStatement,
  ctx: ExecContext,
  r: { lo: number; hi: number; hasMin: boolean },
  cond: Expr | undefined,
  rowCond: boolean,
): OutSeries[] {
  const every = st.interval?.every ?? 0;
  const offset = st.interval?.offset ?? 0;
  const bucketOf = (t: number): number => (every > 0 ? Math.floor((t - offset) / every) * every + offset : 0);
  // Transforms of aggregates read one interval before the range's start, as InfluxDB 1.x does
  // (for moving_average too: its first windows are short of buckets then, and give nothing).
  let back = 0;
  for (const c of cols) if (c.expr.k === 'call' && FUNCTIONS[c.expr.name]?.kind === 'transform' && c.expr.name !== 'cumulative_sum') back = 1;
  const aggCalls = cols.flatMap((c) => (c.expr.k === 'call' && FUNCTIONS[c.expr.name]?.kind === 'transform' ? [c.expr.args[0] as Expr & { k: 'call' }] : calls(c.expr)));
  // The range read: whole buckets, the first one holding the range's start.
  // The points read are those of the range (the first and last buckets may hold only part of theirs).
  const readLo = r.lo - back * every;
  const readHi = r.hi;
  const reader = new Reader(ctx, { min: readLo, max: readHi });
  const fieldsNeeded = [...new Set([...aggCalls.map((c) => (c.args[0] as Expr & { k: 'ref' }).name), ...(rowCond ? [...refs(cond)] : [])])];
  const needRaw = rowCond || every === 0;
  // Per group, per call: per bucket, the values (raw points) or partials.
  const out: OutSeries[] = [];
  let globalFirst = Infinity;
  type GroupData = { g: Group; perCall: Array<Map<number, Acc>>; any: boolean };
  const data: GroupData[] = [];
  for (const g of gs) {
    const perCall = aggCalls.map(() => new Map<number, Acc>());
    let any = false;
    for (const s of g.srcs) {
      // Raw rows of this series when a field condition filters them.
      let allowed: Set<number> | undefined;
      if (rowCond && cond !== undefined) {
        const rows = new Map<number, Map<string, number>>();
        for (const f of fieldsNeeded) {
          const fh = s.fields.get(f);
          if (fh === undefined) continue;
          const p = reader.raw(fh.handle);
          for (let i = 0; i < p.t.length; i++) {
            let row = rows.get(p.t[i]!);
            if (row === undefined) rows.set(p.t[i]!, (row = new Map()));
            row.set(f, p.v[i]!);
          }
        }
        allowed = new Set();
        for (const [t, row] of rows) if (truth(cond, (n) => (row.has(n) ? (s.fields.get(n)?.type === 'boolean' ? row.get(n) !== 0 : row.get(n)) : s.tags[n]))) allowed.add(t);
      }
      aggCalls.forEach((c, ci) => {
        const f = (c.args[0] as Expr & { k: 'ref' }).name;
        const fh = s.fields.get(f);
        if (fh === undefined) return;
        const buckets = perCall[ci]!;
        const need = NEEDS[c.name];
        // Points come in time order: most fall in the bucket of the point before.
        let lastB = NaN;
        let lastX: Acc | undefined;
        const add = (b: number): Acc => {
          if (b === lastB) return lastX!;
          let x = buckets.get(b);
          if (x === undefined) buckets.set(b, (x = { pts: [], sum: 0, count: 0 }));
          lastB = b;
          lastX = x;
          return x;
        };
        if (!needRaw && need !== undefined && c.name !== 'min' && c.name !== 'max') {
          const p = reader.partials(fh.handle, need, every, offset);
          for (let i = 0; i < p.t.length; i++) {
            const t = p.t[i]!;
            if (t < readLo || t > readHi) continue;
            const x = add(bucketOf(t));
            x.sum += p.sum[i]!;
            x.count += p.count[i]!;
            any = true;
            globalFirst = Math.min(globalFirst, t);
          }
          return;
        }
        if (!needRaw && (c.name === 'min' || c.name === 'max') && every > 0) {
          const p = reader.partials(fh.handle, need!, every, offset);
          for (let i = 0; i < p.t.length; i++) {
            const t = p.t[i]!;
            const x = add(bucketOf(t));
            const v = c.name === 'min' ? p.min[i]! : p.max[i]!;
            x.pts.push({ v, t, src: s });
            any = true;
            globalFirst = Math.min(globalFirst, t);
          }
          return;
        }
        const p = reader.raw(fh.handle);
        // mean, sum and count need only the running sum and count, not the points.
        const keepPoints = c.name !== 'mean' && c.name !== 'sum' && c.name !== 'count';
        for (let i = 0; i < p.t.length; i++) {
          const t = p.t[i]!;
          if (allowed !== undefined && !allowed.has(t)) continue;
          const x = add(bucketOf(t));
          const v = p.v[i]!;
          if (keepPoints) x.pts.push({ v, t, src: s });
          x.sum += v;
          x.count += 1;
          any = true;
          globalFirst = Math.min(globalFirst, t);
        }
      });
    }
    data.push({ g, perCall, any });
  }
  // Buckets: from the range's start (or, without a lower bound, the first point's) to its end.
  const firstT = r.hasMin ? r.lo : globalFirst;
  for (const { g, perCall, any } of data) {
    if (!any) continue;
    let bucketTimes: number[];
    if (every > 0) {
      const b0 = bucketOf(firstT - back * every);
      const b1 = bucketOf(r.hi);
      if ((b1 - b0) / every > 1_000_000) throw new StatementError('too many buckets for this GROUP BY time interval and range (more than 1,000,000); narrow the range or widen the interval');
      bucketTimes = [];
      for (let b = b0; b <= b1; b += every) bucketTimes.push(b);
    } else bucketTimes = [0];
    // Each call's value per bucket.
    const callVals = aggCalls.map((c, ci) =>
      bucketTimes.map((b) => {
        const x = perCall[ci]!.get(b);
        return reduce(c, x);
      }),
    );
    const singleSelector = every === 0 && aggCalls.length === 1 && FUNCTIONS[aggCalls[0]!.name]!.kind === 'selector';
    let rows: Cell[][] = [];
    const isTransform = cols[0]!.expr.k === 'call' && FUNCTIONS[cols[0]!.expr.name]?.kind === 'transform';
    if (isTransform) {
      const results = cols.map((c, ci) => {
        const vals = callVals[ci]!;
        const ts: number[] = [];
        const vs: number[] = [];
        vals.forEach((p, i) => {
          if (p !== null) {
            ts.push(bucketTimes[i]!);
            vs.push(p.v);
          }
        });
        return transformPoints(c.expr as Expr & { k: 'call' }, ts, vs, every).filter(([t]) => t >= bucketOf(firstT));
      });
      const times = [...new Set(results.flatMap((x) => x.map((p) => p[0])))].sort((a, b) => a - b);
      for (const t of times) rows.push([t, ...results.map((x) => x.find((p) => p[0] === t)?.[1] ?? null)]);
    } else {
      for (let bi = 0; bi < bucketTimes.length; bi++) {
        const scopeCalls = new Map<Expr, number | null>();
        aggCalls.forEach((c, ci) => scopeCalls.set(c, callVals[ci]![bi]?.v ?? null));
        let time = every > 0 ? bucketTimes[bi]! : r.hasMin ? r.lo : 0;
        const sel = singleSelector ? callVals[0]![bi] : null;
        if (singleSelector && sel !== null && sel !== undefined) time = sel.t;
        const row: Cell[] = [time];
        let anyVal = false;
        for (const c of cols) {
          const v = evalAgg(c.expr, scopeCalls, sel ?? null, reader);
          row.push(v);
          if (v !== null) anyVal = true;
        }
        const empty = aggCalls.every((_, ci) => perCall[ci]!.get(bucketTimes[bi]!) === undefined);
        if (every === 0 && !anyVal) continue;
        rows.push(empty && st.fill.k === 'none' ? [] : empty ? fillRow(row, st.fill, aggCalls, cols) : row);
      }
      rows = rows.filter((x) => x.length > 0);
      if (every > 0) rows = applyFill(rows, st.fill);
    }
    if (rows.length === 0) continue;
    if (st.desc) rows.reverse();
    rows = limitRows(rows, st);
    if (rows.length === 0) continue;
    out.push({ name: m, ...(dims.length > 0 ? { tags: g.tags } : {}), columns: ['time', ...names], values: rows, time: true });
  }
  return out;
}

/** An empty bucket's row: count() is 0 under fill(null), as InfluxDB answers. */
function fillRow(row: Cell[], fill: Fill, aggCalls: ReadonlyArray<Expr & { k: 'call' }>, cols: ReadonlyArray<{ expr: Expr }>): Cell[] {
  if (fill.k !== 'null') return row;
  return row.map((v, i) => (i > 0 && cols[i - 1]!.expr.k === 'call' && (cols[i - 1]!.expr as Expr & { k: 'call' }).name === 'count' && aggCalls.length > 0 ? 0 : v));
}

function applyFill(rows: Cell[][], fill: Fill): Cell[][] {
  if (fill.k === 'null' || fill.k === 'none') return rows;
  const width = rows[0]?.length ?? 0;
  for (let c = 1; c < width; c++) {
    if (fill.k === 'value') {
      for (const r of rows) if (r[c] === null) r[c] = fill.v;
    } else if (fill.k === 'previous') {
      let prev: Cell = null;
      for (const r of rows) {
        if (r[c] === null) r[c] = prev;
        else prev = r[c]!;
      }
    } else {
      // linear: between two values of the column, on a line through them; none at the ends.
      let last = -1;
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i]![c];
        if (typeof v !== 'number') continue;
        if (last >= 0 && i - last > 1) {
          const a = rows[last]![c] as number;
          const ta = rows[last]![0] as number;
          const tb = rows[i]![0] as number;
          for (let j = last + 1; j < i; j++) {
            const tj = rows[j]![0] as number;
            rows[j]![c] = a + ((v - a) * (tj - ta)) / (tb - ta);
          }
        }
        last = i;
      }
    }
  }
  return rows;
}

function evalAgg(e: Expr, callVals: Map<Expr, number | null>, sel: Picked | null, reader: Reader): Cell {
  switch (e.k) {
    case 'call':
      if (MATH[e.name] !== undefined) return math(e.name, e.args.map((a) => evalAgg(a, callVals, sel, reader)));
      return callVals.get(e) ?? null;
    case 'num':
      return e.v;
    case 'ref': {
      // A field beside a single selector: its value at the selected point.
      if (sel === null || sel.src === undefined) return null;
      const f = sel.src.fields.get(e.name);
      if (f !== undefined) {
        const p = reader.raw(f.handle);
        for (let i = 0; i < p.t.length; i++) if (p.t[i] === sel.t) return f.type === 'boolean' ? p.v[i] !== 0 : p.v[i]!;
        return null;
      }
      return sel.src.tags[e.name] ?? null;
    }
    case 'bin': {
      const l = evalAgg(e.l, callVals, sel, reader);
      const r = evalAgg(e.r, callVals, sel, reader);
      if (typeof l !== 'number' || typeof r !== 'number') return null;
      return arith(e.op, l, r);
    }
    default:
      return null;
  }
}

/** One call's value over one bucket's points or partials (null: none). */
function reduce(c: Expr & { k: 'call' }, x: { pts: Picked[]; sum: number; count: number } | undefined): Picked | null {
  if (x === undefined) return null;
  const pts = x.pts;
  const one = (v: number, p?: Picked): Picked => ({ v, t: p?.t ?? 0, src: p?.src });
  switch (c.name) {
    case 'mean':
      return x.count > 0 ? one(x.sum / x.count) : null;
    case 'sum':
      return x.count > 0 ? one(x.sum) : null;
    case 'count':
      return one(x.count);
    case 'min':
    case 'max': {
      if (pts.length === 0) return null;
      let best = pts[0]!;
      for (const p of pts) {
        const better = c.name === 'min' ? p.v < best.v || (p.v === best.v && p.t < best.t) : p.v > best.v || (p.v === best.v && p.t < best.t);
        if (better) best = p;
      }
      return best;
    }
    case 'first':
    case 'last': {
      if (pts.length === 0) return null;
      let best = pts[0]!;
      for (const p of pts) {
        const better = c.name === 'first' ? p.t < best.t || (p.t === best.t && p.v < best.v) : p.t > best.t || (p.t === best.t && p.v > best.v);
        if (better) best = p;
      }
      return best;
    }
    case 'median': {
      if (pts.length === 0) return null;
      const v = pts.map((p) => p.v).sort((a, b) => a - b);
      const n = v.length;
      return one(n % 2 === 1 ? v[(n - 1) / 2]! : v[n / 2 - 1]! + (v[n / 2]! - v[n / 2 - 1]!) / 2);
    }
    case 'spread': {
      if (pts.length === 0) return null;
      let lo = Infinity;
      let hi = -Infinity;
      for (const p of pts) {
        lo = Math.min(lo, p.v);
        hi = Math.max(hi, p.v);
      }
      return one(hi - lo);
    }
    case 'stddev': {
      if (pts.length < 2) return null;
      let mean = 0;
      for (const p of pts) mean += p.v;
      mean /= pts.length;
      let ss = 0;
      for (const p of pts) ss += (p.v - mean) ** 2;
      return one(Math.sqrt(ss / (pts.length - 1)));
    }
    case 'percentile': {
      if (pts.length === 0) return null;
      const q = (c.args[1] as Expr & { k: 'num' }).v;
      const sorted = [...pts].sort((a, b) => a.v - b.v || a.t - b.t);
      const i = Math.floor((sorted.length * q) / 100 + 0.5) - 1;
      if (i < 0 || i >= sorted.length) return null;
      return sorted[i]!;
    }
    default:
      throw new StatementError(`undefined function ${c.name}()`);
  }
}

// ---- SHOW ----

function tagCondition(where: Expr | undefined, now: number): ((s: Src) => boolean) | undefined {
  if (where === undefined) return undefined;
  const { cond } = splitWhere(where, now);
  if (cond === undefined) return undefined;
  return (s) => truth(cond, (n) => s.tags[n]);
}

function showSources(all: Map<string, Src[]>, from: readonly Source[]): string[] {
  return from.length === 0 ? [...all.keys()].sort() : measurementsOf(all, from);
}

function limitValues(values: Cell[][], st: { limit: number; offset: number }): Cell[][] {
  let v = values;
  if (st.offset > 0) v = v.slice(st.offset);
  if (st.limit > 0) v = v.slice(0, st.limit);
  return v;
}

export function executeShow(st: ShowStatement, ctx: ExecContext): OutSeries[] {
  const cat = InfluxCatalog.of(ctx.store);
  if (st.type === 'show databases') {
    // The default only while no database was created or written.
    const named = [...ctx.databases].filter((n) => n !== ctx.defaultDatabase);
    const names = named.length > 0 ? named.sort() : [ctx.defaultDatabase];
    return [{ name: 'databases', columns: ['name'], values: names.map((n) => [n]), time: false }];
  }
  if (st.type === 'show retention policies') {
    return [{ columns: ['name', 'duration', 'shardGroupDuration', 'replicaN', 'default'], values: [['autogen', '0s', '168h0m0s', 1, true]], time: false }];
  }
  const all = sources(cat.view());
  if (st.type === 'show measurements') {
    const ok = tagCondition(st.where, ctx.now);
    let names = [...all.keys()].sort().filter((m) => ok === undefined || all.get(m)!.some(ok));
    if (st.measurement !== undefined) {
      const { op, value } = st.measurement;
      if (value.k === 'regex') {
        const re = regexMatcher(value.src);
        names = names.filter((n) => re(n) === (op === '=~'));
      } else if (value.k === 'str') names = names.filter((n) => (n === value.v) === (op === '='));
    }
    const values = limitValues(names.map((n) => [n]), st);
    return values.length === 0 ? [] : [{ name: 'measurements', columns: ['name'], values, time: false }];
  }
  if (st.type === 'show series') {
    const ok = tagCondition(st.where, ctx.now);
    const keys = showSources(all, st.sources).flatMap((m) => all.get(m)!.filter((s) => ok === undefined || ok(s)).map((s) => s.key));
    const values = limitValues(keys.sort().map((k) => [k]), st);
    return values.length === 0 ? [] : [{ columns: ['key'], values, time: false }];
  }
  const out: OutSeries[] = [];
  for (const m of showSources(all, st.sources)) {
    const srcs = all.get(m)!;
    if (st.type === 'show field keys') {
      const values = limitValues(cat.fields(m).map((f) => [f.field, f.type]), st);
      if (values.length > 0) out.push({ name: m, columns: ['fieldKey', 'fieldType'], values, time: false });
      continue;
    }
    const ok = tagCondition(st.where, ctx.now);
    const chosen = srcs.filter((s) => ok === undefined || ok(s));
    if (st.type === 'show tag keys') {
      const keys = [...new Set(chosen.flatMap((s) => Object.keys(s.tags)))].sort();
      const values = limitValues(keys.map((k) => [k]), st);
      if (values.length > 0) out.push({ name: m, columns: ['tagKey'], values, time: false });
      continue;
    }
    // SHOW TAG VALUES WITH KEY op ...
    const keyOk = keyMatcher(st.keyOp, st.keys);
    const pairs = new Set<string>();
    const list: Array<[string, string]> = [];
    for (const s of chosen)
      for (const [k, v] of Object.entries(s.tags))
        if (keyOk(k) && !pairs.has(`${k}\u0000${v}`)) {
          pairs.add(`${k}\u0000${v}`);
          list.push([k, v]);
        }
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const values = limitValues(list, st);
    if (values.length > 0) out.push({ name: m, columns: ['key', 'value'], values, time: false });
  }
  return out;
}

function keyMatcher(op: string, keys: Expr): (k: string) => boolean {
  if (op === 'IN') {
    const names = new Set<string>();
    const visit = (e: Expr): void => {
      if (e.k === 'str') names.add(e.v);
      else if (e.k === 'bin') {
        visit(e.l);
        visit(e.r);
      }
    };
    visit(keys);
    return (k) => names.has(k);
  }
  if (keys.k === 'regex') {
    const re = regexMatcher(keys.src);
    return (k) => re(k) === (op === '=~');
  }
  const name = keys.k === 'str' ? keys.v : '';
  return (k) => (k === name) === (op === '=');
}

export function executeStatement(st: Statement, ctx: ExecContext): OutSeries[] {
  if (st.type === 'select') return executeSelect(st, ctx);
  if (st.type === 'create database') {
    ctx.databases.add(st.name);
    return [];
  }
  return executeShow(st, ctx);
}

