// fossil's query language over a store's events: the grammar's own examples, a corpus of queries
// with expected results on a fixed data set, and malformed queries with positioned errors.
// Expected results of selections (topic, time, sample) come from the simple evaluator below,
// written independently of src/fossil (a linear scan of the data set); pipeline results are
// written out by hand from the data set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsOf, FossilQueryError, parseQuery, runQuery, type EventSource } from '../src/fossil';
import { Store } from '../src/store';
import { suiteTempDir } from './helpers';

const S = 1_000_000_000n;
const MIN = 60n * S;
const HOUR = 60n * MIN;
const DAY = 24n * HOUR;
/** "now" for every query: 2026-01-01T12:00:00Z. */
const NOW = BigInt(Date.UTC(2026, 0, 1, 12)) * 1_000_000n;

type V = string | number | bigint | boolean | bigint[];
interface Ev {
  topic: string;
  ts: bigint;
  schema: string;
  value: V;
}

function bytesOf(v: V, schema: string): Buffer {
  if (schema === 'string') return Buffer.from(v as string);
  if (schema === 'float64') {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v as number);
    return b;
  }
  if (schema === 'int32') {
    const b = Buffer.alloc(4);
    b.writeInt32LE(Number(v));
    return b;
  }
  if (schema === 'boolean') return Buffer.from([v ? 1 : 0]);
  if (schema === '[2]int64') {
    const b = Buffer.alloc(16);
    (v as bigint[]).forEach((x, i) => b.writeBigInt64LE(x, i * 8));
    return b;
  }
  throw new Error(schema);
}

const ago = (d: bigint): bigint => NOW - d;
const EVENTS: Ev[] = [
  { topic: '/old', ts: BigInt(Date.UTC(2020, 5, 1)) * 1_000_000n, schema: 'string', value: 'ancient' },
  { topic: '/flags', ts: ago(7n * DAY + HOUR), schema: 'boolean', value: true },
  { topic: '/flags', ts: ago(6n * DAY), schema: 'boolean', value: false },
  { topic: '/flags', ts: ago(5n * DAY), schema: 'boolean', value: true },
  { topic: '/pair', ts: ago(3n * DAY), schema: '[2]int64', value: [1n, 2n] },
  { topic: '/pair', ts: ago(2n * DAY), schema: '[2]int64', value: [3n, 4n] },
  { topic: '/pair', ts: ago(DAY), schema: '[2]int64', value: [5n, 6n] },
  { topic: '/temp', ts: ago(6n * HOUR), schema: 'int32', value: 5 },
  { topic: '/temp', ts: ago(2n * HOUR), schema: 'int32', value: -3 },
  { topic: '/temp', ts: ago(90n * MIN), schema: 'int32', value: 12 },
  { topic: '/temp', ts: ago(61n * MIN), schema: 'int32', value: 7 },
  { topic: '/cpu', ts: ago(59n * MIN), schema: 'float64', value: 10.5 },
  { topic: '/vm/1/console', ts: ago(50n * MIN), schema: 'string', value: 'boot' },
  { topic: '/cpu', ts: ago(50n * MIN), schema: 'float64', value: 20 },
  { topic: '/vm/2/console', ts: ago(45n * MIN), schema: 'string', value: 'boot' },
  { topic: '/vm/1/console', ts: ago(40n * MIN), schema: 'string', value: 'login:' },
  { topic: '/cpu', ts: ago(40n * MIN), schema: 'float64', value: 30.25 },
  { topic: '/vm/1/console', ts: ago(30n * MIN), schema: 'string', value: 'hello world' },
  { topic: '/cpu', ts: ago(30n * MIN), schema: 'float64', value: 40 },
  { topic: '/vm/10/console', ts: ago(20n * MIN), schema: 'string', value: 'x' },
  { topic: '/cpu', ts: ago(20n * MIN), schema: 'float64', value: 55.5 },
  { topic: '/vm/2/console', ts: ago(10n * MIN), schema: 'string', value: 'ready' },
  { topic: '/vm/1/console', ts: ago(5n * MIN), schema: 'string', value: 'panic' },
  { topic: '/cpu', ts: ago(MIN), schema: 'float64', value: 60 },
  { topic: '/temp', ts: ago(S), schema: 'int32', value: 0 },
];

/** How a value is shown in expectations: "topic=value". */
function show(topic: string, v: V): string {
  return `${topic}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`;
}

/** A result row's datum decoded by its schema. */
function decode(b: Buffer, schema: string): V {
  switch (schema) {
    case 'string':
      return b.toString();
    case 'float64':
      return b.readDoubleLE(0);
    case 'int32':
      return b.readInt32LE(0);
    case 'int64':
      return b.readBigInt64LE(0);
    case 'boolean':
      return b[0] !== 0;
    default: {
      const m = /^\[(\d+)\]int64$/.exec(schema);
      if (m) return Array.from({ length: Number(m[1]) }, (_, i) => b.readBigInt64LE(i * 8));
      const f = /^\[(\d+)\]float64$/.exec(schema);
      if (f) return Array.from({ length: Number(f[1]) }, (_, i) => b.readDoubleLE(i * 8)) as unknown as bigint[];
      throw new Error(`schema ${schema}`);
    }
  }
}

// ---- the independent evaluator of selections ----

interface Sel {
  topic?: string;
  start?: bigint;
  end?: bigint;
  sample?: bigint;
}
function expectSel(sel: Sel): string[] {
  const inTopic = (t: string): boolean => sel.topic === undefined || sel.topic === '/' || t === sel.topic || t.startsWith(`${sel.topic}/`);
  const sorted = [...EVENTS].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const picked = sorted.filter((e) => inTopic(e.topic) && (sel.start === undefined || e.ts >= sel.start) && (sel.end === undefined || e.ts < sel.end));
  const out: Ev[] = [];
  for (const e of picked) if (sel.sample === undefined || out.length === 0 || e.ts - out[out.length - 1]!.ts >= sel.sample) out.push(e);
  return out.map((e) => show(e.topic, e.value));
}

let store: Store;
let source: EventSource;
const run = (q: string): string[] => runQuery(source, q, { nowNs: NOW }).map((r) => show(r.topic, decode(r.bytes, r.schema)));
const rows = (q: string) => runQuery(source, q, { nowNs: NOW });

beforeAll(() => {
  store = Store.open(suiteTempDir('rondo-fossil-query-'), { events: true });
  source = eventsOf(store);
  for (const t of ['/flags', '/pair', '/temp', '/cpu']) source.createTopic(t, EVENTS.find((e) => e.topic === t)!.schema);
  for (const e of EVENTS) source.append(e.topic, bytesOf(e.value, e.schema), e.ts);
});
afterAll(() => store.close());

const ISO = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

// [query, expected]: selections compared with the independent evaluator
const SELECTIONS: Array<[string, Sel]> = [
  ['all', {}],
  ['all in /', {}],
  ['all in /vm', { topic: '/vm' }],
  ['all in /vm/1', { topic: '/vm/1' }],
  ['all in /vm/1/console', { topic: '/vm/1/console' }],
  ['all in /vm/10', { topic: '/vm/10' }],
  ['all in /vm/2/', { topic: '/vm/2' }],
  ['all in /cpu', { topic: '/cpu' }],
  ['all in /nothing', { topic: '/nothing' }],
  ['all in /v', { topic: '/v' }],
  ['all since ~now - @hour', { start: NOW - HOUR }],
  ['all in /vm since ~now - @hour', { topic: '/vm', start: NOW - HOUR }],
  ['all in /vm since ~now - 30 * @minute', { topic: '/vm', start: NOW - 30n * MIN }],
  ['all in /vm since ~now - @minute * 30', { topic: '/vm', start: NOW - 30n * MIN }],
  ['all in /cpu since ~now - @hour + @minute * 30', { topic: '/cpu', start: NOW - (HOUR + 30n * MIN) }],
  ['all in /cpu since ~now - @hour - @minute * 30', { topic: '/cpu', start: NOW - (HOUR - 30n * MIN) }],
  ['all in /cpu before ~now - 30 * @minute', { topic: '/cpu', end: NOW - 30n * MIN }],
  ['all in /cpu between ~now - @hour, ~now - 30 * @minute', { topic: '/cpu', start: NOW - HOUR, end: NOW - 30n * MIN }],
  ['all in /temp since ~now - @day', { topic: '/temp', start: NOW - DAY }],
  ['all since ~now - @week', { start: NOW - 7n * DAY }],
  ['all since ~now - @week - @hour * 2', { start: NOW - (7n * DAY - 2n * HOUR) }],
  ['all since ~now - @month', { start: NOW - 30n * DAY }],
  ['all since ~now - @year', { start: NOW - 365n * DAY }],
  ['all before ~now - @year', { end: NOW - 365n * DAY }],
  ['all in /pair since ~now - @day * 2', { topic: '/pair', start: NOW - 2n * DAY }],
  ['all since @hour', { start: NOW - HOUR }],
  ['all in /vm since @minute * 15', { topic: '/vm', start: NOW - 15n * MIN }],
  ['all since ~now + @hour', { start: NOW + HOUR }],
  [`all before ~(${ISO(NOW - DAY)})`, { end: NOW - DAY }],
  [`all since ~(${ISO(NOW - 45n * MIN)})`, { start: NOW - 45n * MIN }],
  ['all since ~(2026-01-01T11:30:00+00:00)', { start: NOW - 30n * MIN }],
  ['all since ~(2026-01-01T12:30:00+01:00)', { start: NOW - 30n * MIN }],
  ['all since ~(2026-01-01)', { start: NOW - 12n * HOUR }],
  ['all between ~(2020-01-01T00:00:00Z), ~(2021-01-01T00:00:00Z)', { start: BigInt(Date.UTC(2020, 0, 1)) * 1_000_000n, end: BigInt(Date.UTC(2021, 0, 1)) * 1_000_000n }],
  ['all in /cpu since ~(2026-01-01T11:40:00.000000001Z)', { topic: '/cpu', start: NOW - 20n * MIN + 1n }],
  ['all in /cpu since ~(2026-01-01T11:40:00Z) - 1', { topic: '/cpu', start: NOW - 20n * MIN - 1n }],
  ['sample(@minute) in /cpu', { topic: '/cpu', sample: MIN }],
  ['sample(@minute * 15) in /cpu', { topic: '/cpu', sample: 15n * MIN }],
  ['sample(@hour) in /vm', { topic: '/vm', sample: HOUR }],
  ['sample(@minute * 12) in /vm', { topic: '/vm', sample: 12n * MIN }],
  ['sample(@day) since ~now - @week', { start: NOW - 7n * DAY, sample: DAY }],
  ['sample(@second) in /temp', { topic: '/temp', sample: S }],
  ['sample(@hour - @minute * 30) in /cpu', { topic: '/cpu', sample: 30n * MIN }],
  ['sample(@year) ', { sample: 365n * DAY }],
  ['  all   in   /vm/2  ', { topic: '/vm/2' }],
];

// [query, expected rows "topic=value"], written out from the data set
const PIPELINES: Array<[string, string[]]> = [
  ['all in /cpu | filter x -> x > 40', ['/cpu=55.5', '/cpu=60']],
  ['all in /cpu | filter x -> x >= 40', ['/cpu=40', '/cpu=55.5', '/cpu=60']],
  ['all in /cpu | filter x -> x < 20', ['/cpu=10.5']],
  ['all in /cpu | filter x -> x <= 20', ['/cpu=10.5', '/cpu=20']],
  ['all in /cpu | filter x -> x == 40', ['/cpu=40']],
  ['all in /cpu | filter x -> x != 40', ['/cpu=10.5', '/cpu=20', '/cpu=30.25', '/cpu=55.5', '/cpu=60']],
  ['all in /cpu | filter x -> x > 20 | filter x -> x < 55', ['/cpu=30.25', '/cpu=40']],
  ['all in /cpu | map x -> x * 2', ['/cpu=21', '/cpu=40', '/cpu=60.5', '/cpu=80', '/cpu=111', '/cpu=120']],
  ['all in /cpu | map x -> x - 10', ['/cpu=0.5', '/cpu=10', '/cpu=20.25', '/cpu=30', '/cpu=45.5', '/cpu=50']],
  ['all in /cpu | map x -> 1 | reduce a, b -> a + b', ['N/A=6']],
  ['all in /cpu | reduce a, b -> a + b', ['N/A=216.25']],
  ['all in /cpu | reduce a, b -> max(a, b)', ['N/A=60']],
  ['all in /cpu | reduce a, b -> min(a, b)', ['N/A=10.5']],
  ['all in /temp | filter t -> t > 0', ['/temp=5', '/temp=12', '/temp=7']],
  ['all in /temp | filter t -> t < 0', ['/temp=-3']],
  ['all in /temp | map t -> t * 2', ['/temp=10', '/temp=-6', '/temp=24', '/temp=14', '/temp=0']],
  ['all in /temp | map t -> t / 2', ['/temp=2', '/temp=-1', '/temp=6', '/temp=3', '/temp=0']],
  ['all in /temp | map t -> t / 2.0', ['/temp=2.5', '/temp=-1.5', '/temp=6', '/temp=3.5', '/temp=0']],
  ['all in /temp | map t -> -t', ['/temp=-5', '/temp=3', '/temp=-12', '/temp=-7', '/temp=0']],
  ['all in /temp | map t -> 1 + 2 * 3', ['/temp=7', '/temp=7', '/temp=7', '/temp=7', '/temp=7']],
  ['all in /temp | map t -> (1 + 2) * 3', ['/temp=9', '/temp=9', '/temp=9', '/temp=9', '/temp=9']],
  ['all in /temp | map t -> 10 - 4 - 3', ['/temp=3', '/temp=3', '/temp=3', '/temp=3', '/temp=3']],
  ['all in /temp | map t -> 5 / 9 * (t - 32)', ['/temp=0', '/temp=0', '/temp=0', '/temp=0', '/temp=0']],
  ['all in /temp | map t -> 5.0 / 9 * (t - 32) > -18', ['/temp=true', '/temp=false', '/temp=true', '/temp=true', '/temp=true']],
  ['all in /temp | reduce a, b -> a + b', ['N/A=21']],
  ['all in /temp since ~now - @hour * 3 | reduce a, b -> a + b', ['N/A=16']],
  ['all in /temp | map t -> max(t, 6)', ['/temp=6', '/temp=6', '/temp=12', '/temp=7', '/temp=6']],
  ['all in /temp | map t -> min(t, 0, 4)', ['/temp=0', '/temp=-3', '/temp=0', '/temp=0', '/temp=0']],
  ['all in /temp | map x -> 1, x | reduce a, b -> a[0] + b[0], a[1] + b[1]', ['N/A=[5,21]']],
  ['all in /temp | map x -> 1, x | reduce a, b -> a[0] + b[0], a[1] + b[1] | map count, sum -> sum / count', ['N/A=4']],
  ['all in /temp | map x -> 1, x | reduce a, b -> a[0] + b[0], a[1] + b[1] | map c, s -> s * 1.0 / c', ['N/A=4.2']],
  ['all in /pair | map p -> p[0] + p[1]', ['/pair=3', '/pair=7', '/pair=11']],
  ['all in /pair | map a, b -> b - a', ['/pair=1', '/pair=1', '/pair=1']],
  ['all in /pair | reduce a, b -> a + b', ['N/A=[9,12]']],
  ['all in /pair | filter p -> p[1] > 3', ['/pair=[3,4]', '/pair=[5,6]']],
  ['all in /pair | map p -> p[1], p[0]', ['/pair=[2,1]', '/pair=[4,3]', '/pair=[6,5]']],
  ['all in /flags | filter f -> f', ['/flags=true', '/flags=true']],
  ['all in /flags | filter f -> f == (1 > 2)', ['/flags=false']],
  ['all in /vm/1 | filter x -> x == "panic"', ['/vm/1/console=panic']],
  ["all in /vm | filter x -> x != 'boot'", ['/vm/1/console=login:', '/vm/1/console=hello world', '/vm/10/console=x', '/vm/2/console=ready', '/vm/1/console=panic']],
  ['all in /vm | filter x -> x == "boot" | map x -> 1 | reduce a, b -> a + b', ['N/A=2']],
  ['all in /vm | map log -> len(log) | reduce s_a, s_b -> s_a + s_b', ['N/A=36']],
  ['all in /vm/1 | map x -> len(x)', ['/vm/1/console=4', '/vm/1/console=6', '/vm/1/console=11', '/vm/1/console=5']],
  ['all in /vm/1 | map x -> x + "!"', ['/vm/1/console=boot!', '/vm/1/console=login:!', '/vm/1/console=hello world!', '/vm/1/console=panic!']],
  ['all in /vm/2 | filter x -> x > "c"', ['/vm/2/console=ready']],
  ['all in /vm since ~now - @hour | map event -> 1 | reduce x, y -> x + y', ['N/A=7']],
  ['sample(@minute * 15) in /cpu | reduce a, b -> a + b', ['N/A=156.25']],
  ['all in /cpu | filter x -> x > 1000 | reduce a, b -> a + b', []],
  ['all in /old | reduce a, b -> a + b', ['/old=ancient']],
];

describe('the grammar\'s examples', () => {
  it('all in /visits since ~now - @day; sample(@minute) in /cpu-usage since @week; the pipelines document\'s queries parse', () => {
    for (const q of [
      'all in /visits since ~now - @day',
      'sample(@minute) in /cpu-usage since @week',
      'all in /sensors/temp since ~now - @day * 7 | map F -> 5/9 * (F-32)',
      'all in /latency | map x -> 1, x | reduce a, b -> a[0] + b[0], a[1] + b[1] | map  count, sum -> sum / count',
      'all in /logs | map log -> len(log) | reduce s_a, s_b -> s_a + s_b',
      'all in /events since ~now - @day | map event -> 1 | reduce x, y -> x + y',
      'all | filter x -> x > 50',
      'all | map x -> 1, x',
    ]) expect(() => parseQuery(q), q).not.toThrow();
    const p = parseQuery('sample(@minute) in /cpu-usage since @week');
    expect(p.quantifier).toMatchObject({ kind: 'sample', everyNs: MIN });
    expect(p.topic).toBe('/cpu-usage');
    expect(p.time).toMatchObject({ kind: 'since', at: { whence: 'now', offsetNs: -7n * DAY } });
  });

  it('the examples run on the data set', () => {
    expect(run('all in /vm since ~now - @day')).toEqual(expectSel({ topic: '/vm', start: NOW - DAY }));
    expect(run('sample(@minute) in /cpu since @week')).toEqual(expectSel({ topic: '/cpu', start: NOW - 7n * DAY, sample: MIN }));
    expect(run('all in /temp since ~now - @day * 7 | map F -> 5/9 * (F-32)')).toEqual(['/temp=0', '/temp=0', '/temp=0', '/temp=0', '/temp=0']);
  });
});

describe('the corpus', () => {
  it(`has at least 60 queries (${SELECTIONS.length + PIPELINES.length})`, () => {
    expect(SELECTIONS.length + PIPELINES.length).toBeGreaterThanOrEqual(60);
  });
  for (const [q, sel] of SELECTIONS) {
    it(`selection: ${q}`, () => {
      expect(run(q)).toEqual(expectSel(sel));
    });
  }
  for (const [q, want] of PIPELINES) {
    it(`pipeline: ${q}`, () => {
      expect(run(q)).toEqual(want);
    });
  }

  it('map keeps each entry\'s time and topic; reduce gives topic N/A at the time of the last entry; computed values carry int64, float64, boolean, [N]int64 schemas', () => {
    const m = rows('all in /temp | map t -> t * 2');
    expect(m.map((r) => [r.tsNs, r.topic, r.schema])).toEqual(EVENTS.filter((e) => e.topic === '/temp').map((e) => [e.ts, '/temp', 'int64']));
    const r = rows('all in /cpu | reduce a, b -> a + b');
    expect(r.map((x) => [x.tsNs, x.topic, x.schema])).toEqual([[NOW - MIN, 'N/A', 'float64']]);
    expect(rows('all in /flags | map f -> f == f')[0]!.schema).toBe('boolean');
    expect(rows('all in /temp | map x -> x, 1')[0]!.schema).toBe('[2]int64');
    // a filter passes the datum through unchanged
    expect(rows('all in /temp | filter t -> t > 6').map((x) => [x.schema, x.bytes.toString('hex')])).toEqual([
      ['int32', bytesOf(12, 'int32').toString('hex')],
      ['int32', bytesOf(7, 'int32').toString('hex')],
    ]);
  });
});

describe('malformed queries: positioned errors', () => {
  // [query, the text the error points at ('' = the end of the query)]
  const BAD: Array<[string, string]> = [
    ['', ''],
    ['some in /vm', 'some'],
    ['all in', ''],
    ['all in vm', 'vm'],
    ['all since', ''],
    ['all since ~yesterday', '~yesterday'],
    ['all since ~(2026-13-01T00:00:00Z)', '2026-13'],
    ['all since ~(last week)', 'last week'],
    ['all since ~now -', ''],
    ['all since ~now - @fortnight', '@fortnight'],
    ['sample(@minute', ''],
    ['sample()', ')'],
    ['sample(0)', '0'],
    ['sample(@minute - @hour) in /cpu', '@minute'],
    ['all | map x', ''],
    ['all | map x ->', ''],
    ['all | fold x -> x', 'fold'],
    ['all | map x -> len(x', ''],
    ['all | map x -> foo(x)', 'foo'],
    ['all | reduce a -> a', 'reduce'],
    ['all | map x -> x +', ''],
    ['all | filter x -> x == "abc', '"abc'],
    ['all in /vm | map x -> 1 in /x', 'in /x'],
    ['all in /vm since ~now - @hour in /x', 'in /x'],
    ['all between ~now - @day ~now', '~now'],
    ['all | map x -> x[', ''],
    ['all | map x -> 1 $', '$'],
    ['all | map 1 -> 1', '1 ->'],
    ['all all', 'all'],
    ['all | map x -> 12abc', '12abc'],
  ];
  for (const [q, at] of BAD) {
    it(`${JSON.stringify(q)} → an error at ${at === '' ? 'the end' : JSON.stringify(at)}`, () => {
      const want = at === '' ? q.length : at === 'all' ? 4 : at === '~now' ? q.lastIndexOf('~now') : q.indexOf(at) + (at === '2026-13' || at === 'last week' ? 0 : 0);
      let err: unknown;
      try {
        parseQuery(q);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FossilQueryError);
      const fe = err as FossilQueryError;
      expect(fe.position, fe.message).toBe(want);
      // the described error shows the query and a caret under the position
      const lines = fe.describe().split('\n');
      expect(lines[lines.length - 1]).toBe(`${' '.repeat(want)}^`);
    });
  }

  it('errors found while evaluating are positioned too: a name not bound, a type mismatch, a division by zero, a bad index', () => {
    const cases: Array<[string, string]> = [
      ['all in /temp | map t -> y', 'y'],
      ['all in /vm | filter x -> x > 3', '>'],
      ['all in /cpu | map x -> x == "a"', '=='],
      ['all in /temp | map t -> t / 0', '/ 0'],
      ['all in /pair | map p -> p[2]', 'p[2]'],
      ['all in /temp | map t -> t[0]', 't[0]'],
      ['all in /vm | map x -> -x', '-x'],
      ['all in /vm/1 | filter x -> x', 'x', ],
    ];
    for (const [q, at] of cases) {
      let err: unknown;
      try {
        runQuery(source, q, { nowNs: NOW });
      } catch (e) {
        err = e;
      }
      expect(err, q).toBeInstanceOf(FossilQueryError);
      const want = at === 'x' ? q.lastIndexOf('x') : q.lastIndexOf(at);
      expect((err as FossilQueryError).position, `${q}: ${(err as Error).message}`).toBe(want);
    }
  });
});

describe('sample() over numeric topics recorded as series', () => {
  it('sample(@minute) reads the consolidated 1-minute tier; an interval no tier has samples the events', () => {
    const s = Store.open(suiteTempDir('rondo-fossil-tiers-'), {
      events: true,
      schemas: [{ name: 'm', match: {}, maxSeries: 16, tiers: [{ interval: '1s', retention: '1h' }, { interval: '1m', retention: '1d' }] }],
    });
    try {
      s.createTopic('/load', 'float64', { series: true });
      const minuteNs = 60n * S;
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const base = (nowNs / minuteNs) * minuteNs - 5n * minuteNs;
      for (let i = 0; i < 180; i++) s.append('/load', i + 0.5, base + BigInt(i) * S);
      s.consolidate();
      const tier = s.info().schemas[0]!.tiers[1]!;
      const agg = (xs: number[]): number => {
        switch (tier.consolidate) {
          case 'avg':
            return xs.reduce((a, b) => a + b, 0) / xs.length;
          case 'last':
            return xs[xs.length - 1]!;
          case 'max':
            return Math.max(...xs);
          case 'min':
            return Math.min(...xs);
          case 'sum':
            return xs.reduce((a, b) => a + b, 0);
          default:
            throw new Error(`consolidate ${tier.consolidate}`);
        }
      };
      const want = [0, 1, 2].map((m) => ({
        ts: base + BigInt(m) * minuteNs,
        v: agg(Array.from({ length: 60 }, (_, i) => m * 60 + i + 0.5)),
      }));
      const src = eventsOf(s);
      const got = runQuery(src, 'sample(@minute) in /load').map((r) => ({ ts: r.tsNs, v: r.bytes.readDoubleLE(0), topic: r.topic, schema: r.schema }));
      expect(got).toEqual(want.map((w) => ({ ts: w.ts, v: w.v, topic: '/load', schema: 'float64' })));
      // no 30 s tier: the events themselves, one at least every 30 s
      const ev = runQuery(src, 'sample(@second * 30) in /load').map((r) => r.bytes.readDoubleLE(0));
      expect(ev).toEqual([0, 30, 60, 90, 120, 150].map((i) => i + 0.5));
      // a topic under the prefix that is not a series: the events are sampled
      s.append('/load/note', 'restart', base + 5n * S);
      const mixed = runQuery(src, 'sample(@minute) in /load').map((r) => r.topic);
      expect(mixed).toEqual(['/load', '/load', '/load']);
      expect(runQuery(src, 'sample(@minute) in /load').map((r) => r.bytes.readDoubleLE(0))).toEqual([0.5, 60.5, 120.5]);
    } finally {
      s.close();
    }
  });
});
