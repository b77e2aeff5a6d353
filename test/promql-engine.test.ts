// The PromQL engine on a store the test fills: selectors and lookback, the function families,
// aggregations, binary operators with vector matching, result shapes, and errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { formatFloat, instantQuery, parsePromql, PromqlError, rangeQuery, type PromqlData } from '../src/promql';
import { alignedPast, suiteTempDir } from './helpers';

let store: Store;
let t0: number;
const S = 1000;

const num = (s: string): number => (s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : Number(s));

/** Instant vector as { 'labels': value }. */
function vec(expr: string, t: number): Record<string, number> {
  const d = instantQuery(store, expr, t);
  if (d.resultType !== 'vector') throw new Error(`not a vector: ${d.resultType}`);
  return Object.fromEntries(d.result.map((s) => [JSON.stringify(s.metric), num(s.value[1])]));
}
const one = (expr: string, t: number): number => {
  const v = Object.values(vec(expr, t));
  expect(v.length).toBe(1);
  return v[0]!;
};
function err(f: () => unknown): PromqlError {
  try {
    f();
  } catch (e) {
    if (e instanceof PromqlError) return e;
    throw e;
  }
  throw new Error('no error');
}

beforeAll(() => {
  store = Store.open(suiteTempDir(), {
    schemas: [{ name: 'u', match: {}, maxSeries: 16, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }],
  });
  t0 = alignedPast(1800 * S, 60_000);
  const c0 = store.register('req_total', { job: 'a', inst: '0' }, { kind: 'counter' });
  const c1 = store.register('req_total', { job: 'a', inst: '1' }, { kind: 'counter' });
  const c2 = store.register('req_total', { job: 'b', inst: '0' }, { kind: 'counter' });
  const g = store.register('temp', { job: 'a' });
  const h = store.register('temp', { job: 'b' });
  // 10 minutes at 1 s; req_total{inst="1"} resets at 300 s; temp{job="b"} stops at 400 s.
  for (let i = 0; i < 600; i++) {
    const ts = t0 + i * S;
    store.record(c0, i * 10, ts);
    store.record(c1, i < 300 ? i : i - 300, ts);
    store.record(c2, i * 2, ts);
    store.record(g, i % 10, ts);
    if (i < 400) store.record(h, 100 - (i % 4), ts);
  }
});
afterAll(() => store.close());

describe('selectors', () => {
  it('matches with every operator, and shapes results as Prometheus does', () => {
    const t = t0 + 100 * S;
    expect(Object.keys(vec('req_total', t)).length).toBe(3);
    expect(Object.keys(vec('req_total{job="a"}', t)).length).toBe(2);
    expect(Object.keys(vec('req_total{job!="a"}', t))).toEqual(['{"__name__":"req_total","inst":"0","job":"b"}']);
    expect(Object.keys(vec('req_total{inst=~"1|2"}', t)).length).toBe(1);
    expect(Object.keys(vec('{__name__=~"req.*",job!~"a"}', t)).length).toBe(1);
    const d = instantQuery(store, 'req_total{job="b"}', t + 500);
    expect(d).toEqual({
      resultType: 'vector',
      result: [{ metric: { __name__: 'req_total', inst: '0', job: 'b' }, value: [(t + 500) / 1000, '200'] }],
      rondo: { tiers: [{ selector: 'req_total{job="b"}', tier: 0, stepMs: 1000, agg: 'last' }] },
    });
  });

  it('looks back 5 minutes for a sample, no further', () => {
    const last = t0 + 399 * S;
    expect(vec('temp{job="b"}', last + 300 * S)).toEqual({ '{"__name__":"temp","job":"b"}': 100 - (399 % 4) });
    expect(vec('temp{job="b"}', last + 300 * S + 1)).toEqual({});
    expect(Object.keys(vec('temp', last + 200 * S, )).length).toBe(2);
    expect(one('temp{job="a"}', t0 + 50 * S + 999)).toBe(0);
  });

  it('offset and @ move the time looked at', () => {
    expect(one('req_total{inst="0",job="a"} offset 1m', t0 + 200 * S)).toBe(1400);
    expect(one('req_total{inst="0",job="a"} @ ' + (t0 + 42 * S) / 1000, t0 + 500 * S)).toBe(420);
    const r = rangeQuery(store, 'req_total{job="b"} @ start()', t0 + 10 * S, t0 + 20 * S, 5 * S);
    expect((r.result as Array<{ values: unknown[] }>)[0]!.values).toEqual([[(t0 + 10 * S) / 1000, '20'], [(t0 + 15 * S) / 1000, '20'], [(t0 + 20 * S) / 1000, '20']]);
  });

  it('range queries step through time, dropping steps without data', () => {
    const r = rangeQuery(store, 'temp{job="b"}', t0 + 600 * S, t0 + 800 * S, 60 * S);
    expect(r.resultType).toBe('matrix');
    expect((r.result as Array<{ values: Array<[number, string]> }>)[0]!.values.map((v) => v[0])).toEqual(
      [600, 660].map((s) => (t0 + s * S) / 1000),
    );
    const s = rangeQuery(store, '1 + 1', t0, t0 + 2 * S, S);
    expect(s.result).toEqual([{ metric: {}, values: [[t0 / 1000, '2'], [t0 / 1000 + 1, '2'], [t0 / 1000 + 2, '2']] }]);
  });
});

describe('functions', () => {
  let t = 0;
  beforeAll(() => {
    t = t0 + 500 * S;
  });
  it('rate, increase, irate with counter resets and extrapolation', () => {
    expect(one('rate(req_total{inst="0",job="a"}[1m])', t)).toBeCloseTo(10, 12);
    expect(one('increase(req_total{inst="0",job="a"}[1m])', t)).toBeCloseTo(600, 9);
    // Across the reset at 300 s (299 -> 0: the reset's own second adds nothing): 59 in 60 s.
    expect(one('rate(req_total{inst="1"}[1m])', t0 + 330 * S)).toBeCloseTo(59 / 60, 12);
    expect(one('irate(req_total{inst="1"}[1m])', t0 + 300 * S)).toBe(0);
    expect(one('resets(req_total{inst="1"}[10m])', t)).toBe(1);
    expect(one('changes(temp{job="a"}[10s])', t)).toBe(10);
    expect(one('delta(temp{job="a"}[9s])', t0 + 9 * S)).toBeCloseTo(9, 12);
    expect(one('idelta(req_total{job="b"}[5s])', t)).toBe(2);
    expect(one('deriv(req_total{job="b"}[1m])', t)).toBeCloseTo(2, 12);
  });

  it('*_over_time and quantile_over_time', () => {
    const tt = t0 + 59 * S;
    expect(one('avg_over_time(temp{job="a"}[9s])', tt)).toBe(4.5);
    expect(one('min_over_time(temp{job="a"}[9s])', tt)).toBe(0);
    expect(one('max_over_time(temp{job="a"}[9s])', tt)).toBe(9);
    expect(one('sum_over_time(temp{job="a"}[9s])', tt)).toBe(45);
    expect(one('count_over_time(temp{job="a"}[9s])', tt)).toBe(10);
    expect(one('last_over_time(temp{job="a"}[9s])', tt)).toBe(9);
    expect(one('present_over_time(temp{job="a"}[9s])', tt)).toBe(1);
    expect(one('stdvar_over_time(temp{job="a"}[9s])', tt)).toBeCloseTo(8.25, 12);
    expect(one('stddev_over_time(temp{job="a"}[9s])', tt)).toBeCloseTo(Math.sqrt(8.25), 12);
    expect(one('quantile_over_time(0.5, temp{job="a"}[9s])', tt)).toBe(4.5);
    expect(vec('last_over_time(temp{job="a"}[9s])', tt)).toHaveProperty(['{"__name__":"temp","job":"a"}']);
    expect(vec('max_over_time(temp{job="a"}[9s])', tt)).toHaveProperty(['{"job":"a"}']);
  });

  it('absent, math, labels, time, sort, histogram_quantile', () => {
    expect(vec('absent(nope{job="x",a=~"b"})', t)).toEqual({ '{"job":"x"}': 1 });
    expect(vec('absent(temp)', t)).toEqual({});
    expect(vec('absent_over_time(temp{job="b"}[1m])', t)).toEqual({ '{"job":"b"}': 1 });
    expect(one('sqrt(temp{job="b"} offset 2m)', t)).toBeCloseTo(Math.sqrt(100 - (380 % 4)), 12);
    expect(one('clamp(temp{job="a"}, 2, 3)', t0 + 9 * S)).toBe(3);
    expect(one('round(temp{job="a"} / 4)', t0 + 6 * S)).toBe(2);
    const tm = instantQuery(store, 'time()', t);
    expect(tm).toMatchObject({ resultType: 'scalar', result: [t / 1000, String(t / 1000)] });
    expect(one('timestamp(temp{job="b"})', t0 + 450 * S)).toBe((t0 + 399 * S) / 1000);
    expect(vec('label_replace(temp{job="a"}, "j", "x-$1", "job", "(.*)")', t)).toEqual({ '{"__name__":"temp","j":"x-a","job":"a"}': 0 });
    expect(vec('label_join(req_total{job="b"}, "id", ":", "job", "inst")', t)).toEqual({ '{"__name__":"req_total","id":"b:0","inst":"0","job":"b"}': 1000 });
    const sorted = instantQuery(store, 'sort_desc(req_total)', t);
    expect((sorted.result as Array<{ value: [number, string] }>).map((s) => s.value[1])).toEqual(['5000', '1000', '200']);
    expect(one('scalar(temp{job="a"}) + vector(1)', t0 + 3 * S)).toBe(4);
  });
});

describe('aggregations', () => {
  let t = 0;
  beforeAll(() => {
    t = t0 + 100 * S;
  });
  it('sum avg min max count group stddev by/without', () => {
    expect(vec('sum by (job) (req_total)', t)).toEqual({ '{"job":"a"}': 1100, '{"job":"b"}': 200 });
    expect(vec('sum without (inst) (req_total)', t)).toEqual({ '{"job":"a"}': 1100, '{"job":"b"}': 200 });
    expect(one('avg(req_total)', t)).toBeCloseTo(1300 / 3, 9);
    expect(vec('min(req_total)', t)).toEqual({ '{}': 100 });
    expect(vec('max by (job) (req_total)', t)).toEqual({ '{"job":"a"}': 1000, '{"job":"b"}': 200 });
    expect(vec('count(req_total)', t)).toEqual({ '{}': 3 });
    expect(vec('group by (inst) (req_total)', t)).toEqual({ '{"inst":"0"}': 1, '{"inst":"1"}': 1 });
    expect(vec('stddev by (job) (req_total)', t)).toEqual({ '{"job":"a"}': 450, '{"job":"b"}': 0 });
    expect(vec('stdvar(req_total{job="a"})', t)).toEqual({ '{}': 202500 });
  });
  it('topk bottomk quantile count_values', () => {
    expect(vec('topk(1, req_total)', t)).toEqual({ '{"__name__":"req_total","inst":"0","job":"a"}': 1000 });
    expect(vec('bottomk by (job) (1, req_total)', t)).toEqual({
      '{"__name__":"req_total","inst":"1","job":"a"}': 100,
      '{"__name__":"req_total","inst":"0","job":"b"}': 200,
    });
    expect(vec('quantile(0.5, req_total)', t)).toEqual({ '{}': 200 });
    expect(vec('quantile(0.75, req_total)', t)).toEqual({ '{}': 600 });
    expect(vec('count_values("v", temp)', t0 + 10 * S)).toEqual({ '{"v":"0"}': 1, '{"v":"98"}': 1 });
  });
});

describe('binary operators', () => {
  let t = 0;
  beforeAll(() => {
    t = t0 + 100 * S;
  });
  it('scalar and vector arithmetic and comparisons', () => {
    expect(instantQuery(store, '2 ^ 10 % 1000', t).result).toEqual([t / 1000, '24']);
    expect(vec('req_total{job="b"} * 2', t)).toEqual({ '{"inst":"0","job":"b"}': 400 });
    expect(vec('req_total > 150', t)).toEqual({
      '{"__name__":"req_total","inst":"0","job":"a"}': 1000,
      '{"__name__":"req_total","inst":"0","job":"b"}': 200,
    });
    expect(vec('req_total{job="b"} < bool 150', t)).toEqual({ '{"inst":"0","job":"b"}': 0 });
    expect(vec('150 < req_total{job="b"}', t)).toEqual({ '{"__name__":"req_total","inst":"0","job":"b"}': 200 });
    expect(vec('-req_total{job="b"}', t)).toEqual({ '{"inst":"0","job":"b"}': -200 });
  });
  it('vector matching: one-to-one, on/ignoring, group_left/right, and/or/unless', () => {
    expect(vec('req_total - req_total offset 10s', t)).toEqual({ '{"inst":"0","job":"a"}': 100, '{"inst":"1","job":"a"}': 10, '{"inst":"0","job":"b"}': 20 });
    expect(vec('req_total / on(job) group_left temp', t)).toEqual({
      '{"inst":"0","job":"a"}': Infinity,
      '{"inst":"1","job":"a"}': Infinity,
      '{"inst":"0","job":"b"}': 2,
    });
    expect(vec('temp * on(job) group_right req_total', t0 + 101 * S)).toEqual({
      '{"inst":"0","job":"a"}': 1010,
      '{"inst":"1","job":"a"}': 101,
      '{"inst":"0","job":"b"}': 99 * 202,
    });
    expect(vec('sum by (job) (req_total) / on(job) temp', t0 + 102 * S)).toEqual({ '{"job":"a"}': (1020 + 102) / 2, '{"job":"b"}': 204 / 98 });
    expect(Object.keys(vec('req_total and on(job) temp{job="b"}', t))).toEqual(['{"__name__":"req_total","inst":"0","job":"b"}']);
    expect(Object.keys(vec('req_total unless on(job) temp{job="b"}', t)).length).toBe(2);
    expect(Object.keys(vec('temp or req_total', t)).length).toBe(5);
    expect(Object.keys(vec('temp or on(job) req_total', t)).length).toBe(2);
    const e = err(() => instantQuery(store, 'req_total + on(job) temp', t));
    expect(e.errorType).toBe('execution');
    expect(e.message).toMatch(/many-to-many matching not allowed|multiple matches/);
  });
});

describe('subqueries', () => {
  it('evaluate the inner expression at aligned steps', () => {
    const t = t0 + 300 * S;
    expect(one('max_over_time(req_total{job="b"}[1m:10s])', t)).toBe(600);
    expect(one('count_over_time(req_total{job="b"}[1m:10s])', t)).toBe(Number.isInteger(t / 10_000) ? 7 : 6);
  });
});

describe('errors', () => {
  it('bad syntax is bad_data with the position', () => {
    const e = err(() => parsePromql('rate(x[5m'));
    expect(e).toBeInstanceOf(PromqlError);
    expect(e.errorType).toBe('bad_data');
    expect(e.message).toMatch(/^1:\d+: parse error: /);
    expect(err(() => instantQuery(store, 'sum(', t0)).errorType).toBe('bad_data');
    expect(err(() => instantQuery(store, '', t0)).message).toMatch(/no expression/);
  });
  it('unknown and unsupported functions are bad_data naming them', () => {
    expect(err(() => parsePromql('foo(x)')).message).toMatch(/unknown function with name "foo"/);
    expect(err(() => parsePromql('holt_winters(x[5m], 0.5, 0.5)')).message).toMatch(/holt_winters/);
    const e = err(() => parsePromql('predict_linear(x[5m], 60)'));
    expect(e.errorType).toBe('bad_data');
    expect(e.message).toMatch(/predict_linear/);
  });
  it('type errors are bad_data', () => {
    expect(err(() => parsePromql('rate(x)')).message).toMatch(/expected type range vector in call to function "rate", got instant vector/);
    expect(err(() => parsePromql('1 > 2')).message).toMatch(/comparisons between scalars must use BOOL modifier/);
    expect(err(() => parsePromql('x and 1')).message).toMatch(/set operator "and" not allowed/);
    expect(err(() => rangeQuery(store, 'x[5m]', t0, t0 + 60_000, 15_000)).message).toMatch(/invalid expression type "range vector" for range query/);
  });
  it('limits: points and steps', () => {
    expect(err(() => rangeQuery(store, 'req_total', t0, t0 + 600_000, 1000, { maxPoints: 100 })).errorType).toBe('execution');
    expect(err(() => rangeQuery(store, '1', t0, t0 + 20_000_000, 1)).errorType).toBe('bad_data');
  });
});

describe('number formatting', () => {
  it('formats as Go strconv.FormatFloat(v, "f", -1, 64)', () => {
    expect([1e21, 1.5e-7, 0.1, -0, NaN, Infinity, -Infinity, 123456789.125].map(formatFloat)).toEqual([
      '1000000000000000000000', '0.00000015', '0.1', '-0', 'NaN', '+Inf', '-Inf', '123456789.125',
    ]);
  });
  it('a range result is a matrix', () => {
    const d: PromqlData = rangeQuery(store, 'temp', t0, t0 + 2 * S, S);
    expect(d.resultType).toBe('matrix');
  });
});
