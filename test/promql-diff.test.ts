// The PromQL engine against a real Prometheus (Debian's 2.42): the same 2 h of 1 s data, with a
// counter reset and gaps, is loaded into a rondo store and, by rondo's own pushTo(), into a
// Prometheus on loopback; then every expression of the corpus runs as instant queries (at a few
// times) and as range queries (15 s, 60 s and 1 s steps) on both, and the answers must be equal:
// the same series, timestamps and values (within 1e-9 relative; NaN equals NaN).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, pushTo, type Labels, type SchemaOptions } from '../src/index';
import { instantQuery, rangeQuery, PromqlError, type PromqlData } from '../src/promql';
import { alignedPast, suiteTempDir } from './helpers';
import { ensureReceiversInstalled, startPrometheus, type PrometheusReceiver } from './support/receivers';

// The data: counters with a reset and gaps, gauges that go up and down, a histogram's buckets, at 1 s.
export const PROMQL_SCHEMA: SchemaOptions = {
  name: 'p',
  match: {},
  maxSeries: 64,
  tiers: [
    { interval: '1s', retention: '3h' },
    { interval: '10s', retention: '1d' },
    { interval: '5m', retention: '7d' },
  ],
};

export interface SeriesDef {
  name: string;
  labels: Labels;
  kind: 'counter' | 'gauge';
  /** The value at second i, or undefined for a gap. */
  f: (i: number) => number | undefined;
}

const le = (bound: string, share: number): SeriesDef => ({
  name: 'http_request_duration_seconds_bucket',
  labels: { vm: 'a', le: bound },
  kind: 'counter',
  f: (i) => Math.floor(i * 3 * share) + (i > 3000 ? Math.floor((i - 3000) * share) : 0),
});

export function promqlSeries(seconds: number): SeriesDef[] {
  const reset = Math.floor(seconds * 0.55);
  return [
    // A counter with a reset (back to a small value) and a different slope after it.
    { name: 'vm_cpu_seconds_total', labels: { vm: 'a', cpu: '0' }, kind: 'counter', f: (i) => (i < reset ? 1000 + i * 2 + (i % 7) : (i - reset) * 3 + (i % 5)) },
    // Gaps: 5 s missing every 50 s, and 10 minutes missing (longer than the lookback).
    {
      name: 'vm_cpu_seconds_total',
      labels: { vm: 'a', cpu: '1' },
      kind: 'counter',
      f: (i) => (i % 50 >= 10 && i % 50 < 15) || (i >= Math.floor(seconds * 0.3) && i < Math.floor(seconds * 0.3) + 600) ? undefined : i * 0.5,
    },
    { name: 'vm_cpu_seconds_total', labels: { vm: 'b', cpu: '0' }, kind: 'counter', f: (i) => i * 4 + ((i * 7) % 11) },
    { name: 'vm_mem_bytes', labels: { vm: 'a' }, kind: 'gauge', f: (i) => 1_000_000 + 4 * Math.round(1000 * Math.sin(i / 300)) },
    { name: 'vm_mem_bytes', labels: { vm: 'b' }, kind: 'gauge', f: (i) => (i % 13 === 0 ? undefined : 2_000_000 - ((i * 37) % 5000)) },
    { name: 'vm_load', labels: { vm: 'a' }, kind: 'gauge', f: (i) => ((i * 7) % 17) * 0.25 },
    le('0.1', 0.2),
    le('0.5', 0.6),
    le('1', 0.9),
    le('+Inf', 1),
  ];
}

/** Records `seconds` seconds from t0 (ms, aligned to the second); returns the series' handles. */
export function fillPromqlStore(store: Store, t0: number, seconds: number, defs = promqlSeries(seconds)): void {
  const hs = defs.map((d) => store.register(d.name, d.labels, { kind: d.kind }));
  for (let i = 0; i < seconds; i++) {
    const ts = t0 + i * 1000;
    defs.forEach((d, j) => {
      const v = d.f(i);
      if (v !== undefined) store.record(hs[j]!, v, ts);
    });
  }
}

const SECONDS = 7200;
const C = 'vm_cpu_seconds_total';
const G = 'vm_mem_bytes';
const L = 'vm_load';
const B = 'http_request_duration_seconds_bucket';

/** The corpus; `@T` is replaced by a fixed time inside the data. */
function corpus(): string[] {
  const e: string[] = [];
  // Selectors, matchers, lookback, offset, @.
  e.push(C, `${C}{vm="a"}`, `${C}{cpu!="0"}`, `${C}{vm=~"a|b"}`, `${C}{vm!~"b"}`, `${C}{vm=~"a.*",cpu=~"1|2"}`);
  e.push('{__name__=~"vm_.*"}', '{__name__="vm_load"}', '{__name__=~"vm_(mem|load).*",vm="a"}', G, L, 'nonexistent_metric');
  e.push(`${C} offset 5m`, `${G} offset 1h`, `${L} @ end()`, `${L} @ start()`, `${G} @ @T`, `${C}{cpu="1"} offset 90s`, `${G} offset -2m`);
  e.push(`${C}[5m]`, `${L}[30s]`, `${G}[1m] offset 2m`);
  // Counter and gauge range functions.
  for (const fn of ['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'resets', 'changes']) {
    e.push(`${fn}(${C}[5m])`, `${fn}(${C}[1m])`, `${fn}(${C}{cpu="1"}[2m])`);
    if (['delta', 'idelta', 'deriv', 'changes'].includes(fn)) e.push(`${fn}(${G}[5m])`);
  }
  e.push(`rate(${C}[5m] offset 10m)`, `rate(${C}[90s] @ @T)`, `increase(${C}{vm="b"}[10m])`, `rate(${C}[15s])`, `irate(${C}{cpu="1"}[10s])`);
  // *_over_time.
  for (const fn of ['avg', 'min', 'max', 'sum', 'count', 'stddev', 'stdvar', 'last', 'present']) {
    e.push(`${fn}_over_time(${G}[5m])`, `${fn}_over_time(${L}[1m])`, `${fn}_over_time(${C}{cpu="1"}[3m] offset 2m)`);
  }
  e.push(`quantile_over_time(0.5, ${G}[5m])`, `quantile_over_time(0.9, ${L}[10m])`, `quantile_over_time(0, ${L}[2m])`, `quantile_over_time(1.5, ${L}[2m])`);
  e.push(`absent(nonexistent{job="x"})`, `absent(${C})`, `absent(nonexistent{a="b",c=~"d"})`, `absent_over_time(nonexistent[5m])`, `absent_over_time(${C}{cpu="1"}[1m])`);
  // Aggregations.
  e.push(`sum(${C})`, `sum by (vm) (rate(${C}[5m]))`, `sum without (cpu) (rate(${C}[5m]))`, `avg by (vm) (${G})`, `avg(${L})`);
  e.push(`min(${G})`, `max by (vm) (${C})`, `count(${C}) by (vm)`, `stddev(${G})`, `stdvar(rate(${C}[5m]))`, `stddev by (vm) (${C})`);
  e.push(`topk(1, ${G})`, `topk(2, rate(${C}[5m]))`, `bottomk(1, rate(${C}[5m]))`, `topk by (vm) (1, ${C})`, `bottomk(2, ${G})`);
  e.push(`quantile(0.5, rate(${C}[5m]))`, `quantile(0.9, ${G})`, `quantile by (vm) (0.25, ${C})`);
  e.push(`count_values("value", ${L})`, `count_values by (vm) ("v", round(${G} / 100000))`, `count_values without (cpu) ("x", ${C}{vm="a"} > 0)`);
  e.push(`group by (vm) (${C})`, `group(${G})`, `sum(${C}) by (__name__)`, `sum by () (${L})`, `max without (vm) (${G})`, `sum(rate({__name__=~"vm_cpu.*"}[5m]))`);
  // Binary operators.
  e.push(`rate(${C}[5m]) * 100`, `2 * ${G}`, `${G} / 1024 / 1024`, `${G} % 7`, `${L} ^ 2`, `2 ^ ${L}`, `-${G}`, `- - ${L}`);
  e.push(`${G} > 1000000`, `${G} > bool 1000000`, `1000000 < ${G}`, `${C} > bool 100`, `${L} == 2`, `${L} != 2`, `${L} >= 2`, `${L} <= 2`, `2 <= bool ${L}`);
  e.push('1 + 2', '2 ^ 3 ^ 2', '5 % 3', '1 > bool 2', '-1.5', '42', '(1 + 2) * 3', '0x10 - 1e1', '10 / 0', '-10 / 0', '0 / 0', '7 == bool 7');
  e.push(`${C} / on(vm) group_left ${G}`, `${G} / on(vm) group_right ${C}`, `rate(${C}[5m]) / ignoring(cpu) group_left sum without (cpu) (rate(${C}[5m]))`);
  e.push(`${G} - ${G} offset 1m`, `${G} + on(vm) ${L}`, `${G} + ignoring(vm) ${L}`, `${C} * on(vm, cpu) ${C}`, `${C} - ignoring(cpu) group_left(cpu) ${G}`);
  e.push(`${G} > on(vm) ${L}`, `${G} > bool on(vm) ${L}`, `${L} < on(vm) group_right ${C}`, `sum by (vm) (${C}) / on(vm) ${G}`);
  e.push(`${C} and ${C}{vm="a"}`, `${G} or ${L}`, `${C} unless ${C}{cpu="1"}`, `${C} and on(vm) ${L}`, `${G} > 1000000 or ${G} < 999000`, `${C} unless on(vm) ${L}`);
  e.push(`${C}{cpu="1"} or ${C}{cpu="0"}`, `rate(${C}[5m]) > 1 and rate(${C}[5m]) < 5`, `${G} and nonexistent`, `nonexistent or ${L}`);
  // Functions.
  e.push(`abs(-${G})`, `ceil(${L} / 3)`, `floor(${L} / 3)`, `round(${L} / 3)`, `round(${G}, 1000)`, `round(${L}, 0.3)`, `clamp(${L}, 1, 3)`);
  e.push(`clamp_min(${L}, 2)`, `clamp_max(${L}, 2)`, `clamp(${L}, 3, 1)`, `exp(${L})`, `ln(${L})`, `log2(${L})`, `log10(${G})`, `sqrt(${L})`);
  e.push('time()', `timestamp(${G})`, `timestamp(${C}{cpu="1"})`, `timestamp(${C} offset 1m)`, `timestamp(-${L})`, 'vector(1)', 'vector(time())');
  e.push(`scalar(${L})`, `scalar(${G})`, `${G} * scalar(${L})`, `label_replace(${G}, "x", "$1", "vm", "(.*)")`);
  e.push(`label_replace(${C}, "vm", "vm-$1-\${2}", "cpu", "(\\\\d)(.*)")`, `label_replace(${C}, "new", "x", "nomatch", "y")`, `label_replace(${L}, "vm", "", "vm", ".*")`);
  e.push(`label_join(${C}, "id", "-", "vm", "cpu")`, `label_join(${G}, "vm", "", "nope")`, `sort(${G})`, `sort_desc(${G})`, `sort(rate(${C}[5m]))`);
  e.push(`histogram_quantile(0.9, rate(${B}[5m]))`, `histogram_quantile(0.5, sum by (le) (rate(${B}[5m])))`, `histogram_quantile(0.99, ${B})`);
  e.push(`histogram_quantile(1.5, rate(${B}[5m]))`, `histogram_quantile(0.05, rate(${B}[1m]))`, `histogram_quantile(0.5, rate(${B}{le!="+Inf"}[5m]))`);
  // Subqueries.
  e.push(`max_over_time(rate(${C}[1m])[10m:1m])`, `avg_over_time(${G}[10m:30s])`, `rate(${C}[5m:15s])`, `min_over_time(sum(${G})[15m:])`);
  e.push(`max_over_time(deriv(${G}[2m])[5m:10s] offset 3m)`, `sum_over_time(${L}[10m:1m] @ end())`, `count_over_time(${C}{cpu="1"}[7m:20s])`);
  e.push(`${C}[5m:1m]`, `last_over_time(${G}[3m:45s])`, `quantile_over_time(0.75, rate(${C}[2m])[20m:2m])`);
  // Literals.
  e.push('"hello"', 'Inf', '-Inf', 'NaN');
  // Errors both must report: many-to-many matching, duplicate label sets.
  e.push(`${C} + on(vm) ${G}`, `label_replace(${C}, "cpu", "x", "cpu", ".*")`);
  return e;
}

/** Expressions whose instant results Prometheus returns in a defined order. */
const ORDERED = /^sort(_desc)?\(/;

interface PromAnswer {
  status: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

type Mine = { data: PromqlData } | { errorType: string; error: string };

function mine(f: () => PromqlData): Mine {
  try {
    return { data: f() };
  } catch (e) {
    if (e instanceof PromqlError) return { errorType: e.errorType, error: e.message };
    throw e;
  }
}

function close(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

const keyOf = (m: Record<string, string>): string => JSON.stringify(Object.entries(m).sort());

/** Undefined when equal, else what differs. */
function diff(p: PromAnswer, m: Mine, ordered: boolean): string | undefined {
  if (p.status !== 'success' || p.data === undefined) {
    if ('data' in m) return `prometheus: error ${p.errorType}: ${p.error}; rondo: ${JSON.stringify(m.data).slice(0, 300)}`;
    return p.errorType === m.errorType ? undefined : `error types differ: prometheus ${p.errorType} (${p.error}), rondo ${m.errorType} (${m.error})`;
  }
  if (!('data' in m)) return `rondo: error ${m.errorType}: ${m.error}; prometheus: ${JSON.stringify(p.data).slice(0, 300)}`;
  const pd = p.data;
  const md = m.data;
  if (pd.resultType !== md.resultType) return `resultType ${pd.resultType} vs ${md.resultType}`;
  if (pd.resultType === 'scalar' || pd.resultType === 'string') {
    const [pt, pv] = pd.result as [number, string];
    const [mt, mv] = md.result as [number, string];
    return pt === mt && close(pv, mv) ? undefined : `${JSON.stringify(pd.result)} vs ${JSON.stringify(md.result)}`;
  }
  const pr = pd.result as Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>;
  const mr = md.result as typeof pr;
  if (pr.length !== mr.length) return `${pr.length} series vs ${mr.length}: ${JSON.stringify(pr.map((s) => s.metric))} vs ${JSON.stringify(mr.map((s) => s.metric))}`;
  const byKey = new Map(mr.map((s) => [keyOf(s.metric), s]));
  for (let i = 0; i < pr.length; i++) {
    const ps = pr[i]!;
    const ms = ordered ? mr[i]! : byKey.get(keyOf(ps.metric));
    if (ms === undefined || keyOf(ms.metric) !== keyOf(ps.metric)) return `series ${JSON.stringify(ps.metric)} missing in rondo (order or labels)`;
    if (JSON.stringify(Object.keys(ps.metric)) !== JSON.stringify(Object.keys(ms.metric))) return `label order ${JSON.stringify(ps.metric)} vs ${JSON.stringify(ms.metric)}`;
    const pv = ps.values ?? [ps.value!];
    const mv = ms.values ?? [ms.value!];
    if (pv.length !== mv.length) return `${JSON.stringify(ps.metric)}: ${pv.length} points vs ${mv.length}; first prometheus ${JSON.stringify(pv.slice(0, 3))}, rondo ${JSON.stringify(mv.slice(0, 3))}`;
    for (let j = 0; j < pv.length; j++) {
      const [pt, pval] = pv[j]!;
      const [mt, mval] = mv[j]!;
      if (pt !== mt || !close(pval, mval)) return `${JSON.stringify(ps.metric)} point ${j}: prometheus [${pt}, ${pval}] vs rondo [${mt}, ${mval}]`;
    }
  }
  if (pd.resultType === 'matrix' && !ordered) {
    // Range results: Prometheus sorts series by labels; so must we.
    for (let i = 0; i < pr.length; i++) if (keyOf(pr[i]!.metric) !== keyOf(mr[i]!.metric)) return `matrix series order differs at ${i}`;
  }
  return undefined;
}

async function promQuery(api: string, path: string, params: Record<string, string>): Promise<PromAnswer> {
  const qs = new URLSearchParams(params).toString();
  const res = await fetch(`${api}${path}?${qs}`);
  return (await res.json()) as PromAnswer;
}

describe('PromQL: rondo against a real Prometheus', () => {
  let prom: PrometheusReceiver;
  let store: Store;
  let t0: number;
  let end: number;

  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
    const dir = suiteTempDir('rondo-promql-');
    t0 = alignedPast(SECONDS * 1000 + 60_000, 1000);
    end = t0 + (SECONDS - 1) * 1000;
    const w = Store.open(dir, { schemas: [PROMQL_SCHEMA] });
    fillPromqlStore(w, t0, SECONDS);
    w.close();
    store = Store.openReadOnly(dir); // a read-only store pushes without recording its own figures
    const summary = await pushTo(store, prom.url, { logger: () => {} });
    expect(summary.dropped).toBe(0);
  }, 90_000);

  afterAll(async () => {
    store?.close();
    await prom?.stop();
  });

  it('answers a corpus of expressions exactly as Prometheus does', async () => {
    const exprs = corpus().map((x) => x.replace(/@T/g, ((t0 + 4000_000) / 1000).toFixed(3)));
    expect(exprs.length).toBeGreaterThanOrEqual(150);
    const s = (ms: number): string => (ms / 1000).toFixed(3);
    const instants = [end + 30_000, t0 + 3_600_500, t0 + Math.floor(SECONDS * 0.3) * 1000 + 400_000, t0 + 4_500_000];
    const ranges: Array<[number, number, number]> = [
      [end - 1_800_000 + 7000, end + 60_000, 15_000],
      [t0 + 2_000_000, t0 + 4_200_000, 60_000],
      [t0 + 3_900_000, t0 + 4_100_000, 1000],
    ];
    interface Job { expr: string; what: string; prom: () => Promise<PromAnswer>; mine: () => Mine; ordered: boolean }
    const jobs: Job[] = [];
    for (const expr of exprs) {
      for (const t of instants)
        jobs.push({
          expr,
          what: `instant @${s(t)}`,
          prom: () => promQuery(prom.api, '/api/v1/query', { query: expr, time: s(t) }),
          mine: () => mine(() => instantQuery(store, expr, t)),
          ordered: ORDERED.test(expr),
        });
      for (const [a, b, step] of ranges)
        jobs.push({
          expr,
          what: `range ${s(a)}..${s(b)} step ${step / 1000}s`,
          prom: () => promQuery(prom.api, '/api/v1/query_range', { query: expr, start: s(a), end: s(b), step: String(step / 1000) }),
          mine: () => mine(() => rangeQuery(store, expr, a, b, step)),
          ordered: false,
        });
    }
    const failures: string[] = [];
    let equal = 0;
    let withData = 0;
    let errors = 0;
    const BATCH = 16;
    for (let i = 0; i < jobs.length; i += BATCH) {
      const batch = jobs.slice(i, i + BATCH);
      const answers = await Promise.all(batch.map((j) => j.prom()));
      batch.forEach((j, k) => {
        const a = answers[k]!;
        if (a.status !== 'success') errors++;
        else if (!Array.isArray(a.data?.result) || a.data.result.length > 0) withData++;
        const d = diff(a, j.mine(), j.ordered);
        if (d === undefined) equal++;
        else failures.push(`${j.expr} [${j.what}]: ${d}`);
      });
    }
    console.log(`promql differential: ${exprs.length} expressions, ${jobs.length} queries compared, ${equal} equal, ${failures.length} different (Prometheus: ${withData} with data, ${errors} errors)`);
    // The comparisons are not vacuous: most queries return data.
    expect(withData).toBeGreaterThan(jobs.length * 0.8);
    expect(failures.slice(0, 40)).toEqual([]);
  }, 120_000);
});
