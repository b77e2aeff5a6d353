// StatsD lines and their aggregation (src/ingest/statsd.ts): the parser's rules line by line,
// what each refused line's reason is, and the figures each interval gives (docs/ingest.md,
// "StatsD").
import { describe, expect, it } from 'vitest';
import { counterName, parseStatsdLine, quantileOf, StatsdAggregator, statsdName, type IngestSample, type StatsdSample } from '../src/ingest';
import { xorshift32 } from './fixtures/random';

function ok(line: string): StatsdSample[] {
  const r = parseStatsdLine(line);
  if (!r.ok) throw new Error(`${line}: refused (${r.reason}: ${r.message})`);
  return r.samples;
}

function reason(line: string): string {
  const r = parseStatsdLine(line);
  return r.ok ? 'taken' : r.reason;
}

/** flush() output as "name{labels}" → value at each timestamp. */
function table(samples: readonly IngestSample[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) {
    const labels = Object.keys(s.labels)
      .sort()
      .map((k) => `${k}=${s.labels[k]}`)
      .join(',');
    m.set(`${s.timestampMs} ${s.name}{${labels}}`, s.value);
  }
  return m;
}

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0); // an interval start

describe('StatsD names', () => {
  it('turns every character a Prometheus name may not hold into "_", and guards a leading digit', () => {
    expect(statsdName('api.requests-ok')).toBe('api_requests_ok');
    expect(statsdName('a b/c')).toBe('a_b_c');
    expect(statsdName('5xx.count')).toBe('_5xx_count');
    expect(statsdName('plain_name9')).toBe('plain_name9');
    expect(statsdName('héllo')).toBe('h_llo');
  });
  it('gives counters _total once', () => {
    expect(counterName('hits')).toBe('hits_total');
    expect(counterName('hits_total')).toBe('hits_total');
  });
});

describe('StatsD lines', () => {
  it('reads each type', () => {
    expect(ok('hits:3|c')[0]).toMatchObject({ name: 'hits', metric: 'hits_total', type: 'c', value: 3, rate: 1, delta: false, labels: {} });
    expect(ok('hits_total:3|c')[0]).toMatchObject({ metric: 'hits_total' });
    expect(ok('temp:21.5|g')[0]).toMatchObject({ type: 'g', value: 21.5, delta: false });
    expect(ok('temp:+2|g')[0]).toMatchObject({ type: 'g', value: 2, delta: true });
    expect(ok('temp:-2.5|g')[0]).toMatchObject({ type: 'g', value: -2.5, delta: true });
    expect(ok('req.time:320|ms')[0]).toMatchObject({ metric: 'req_time', type: 'ms', value: 320 });
    expect(ok('size:1e3|h')[0]).toMatchObject({ type: 'h', value: 1000 });
    expect(ok('size:7|d')[0]).toMatchObject({ type: 'd', value: 7 });
    expect(ok('users:alice|s')[0]).toMatchObject({ type: 's', member: 'alice' });
  });

  it('reads a sample rate', () => {
    expect(ok('hits:1|c|@0.1')[0]!.rate).toBe(0.1);
    expect(ok('t:5|ms|@.5')[0]!.rate).toBe(0.5);
    expect(ok('hits:1|c|@1')[0]!.rate).toBe(1);
  });

  it('reads DogStatsD tags as labels: keys sanitized and sorted, a tag without a value dropped', () => {
    const [s] = ok('page.views:1|c|#route:/home,env:prod,canary,http.method:GET');
    expect(s!.labels).toEqual({ env: 'prod', http_method: 'GET', route: '/home' });
    expect(Object.keys(s!.labels)).toEqual(['env', 'http_method', 'route']);
    expect(ok('x:1|c|@0.5|#a:b')[0]).toMatchObject({ rate: 0.5, labels: { a: 'b' } });
    expect(ok('x:1|c|#a:b:c')[0]!.labels).toEqual({ a: 'b:c' });
    expect(ok('x:1|c|#')[0]!.labels).toEqual({});
    // DogStatsD's container id is not a label
    expect(ok('x:1|c|#a:b|c:abc123')[0]!.labels).toEqual({ a: 'b' });
  });

  it('reads several samples on one line (without tags), as statsd does', () => {
    const s = ok('multi:1|c:2|c|@0.5:3|ms');
    expect(s.map((x) => [x.type, x.value, x.rate])).toEqual([
      ['c', 1, 1],
      ['c', 2, 0.5],
      ['ms', 3, 1],
    ]);
    // with tags, a line is one sample (tags hold ":"), so a second sample makes the type wrong
    expect(reason('multi:1|c:2|c|#a:b')).toBe('bad_type');
  });

  it.each([
    ['no colon', 'hits|c', 'malformed'],
    ['empty name', ':1|c', 'malformed'],
    ['no type', 'hits:1', 'malformed'],
    ['empty value', 'hits:|c', 'malformed'],
    ['unknown section', 'hits:1|c|x', 'malformed'],
    ['truncated', 'hits:1|', 'bad_type'],
    ['unknown type', 'hits:1|q', 'bad_type'],
    ['not a number', 'hits:one|c', 'bad_value'],
    ['hex', 'hits:0x10|c', 'bad_value'],
    ['space in value', 'hits: 1|c', 'bad_value'],
    ['infinite', 'hits:1e999|c', 'bad_value'],
    ['NaN', 'temp:NaN|g', 'bad_value'],
    ['negative counter', 'hits:-1|c', 'bad_value'],
    ['negative timing', 't:-5|ms', 'bad_value'],
    ['rate above 1', 'hits:1|c|@2', 'bad_sample_rate'],
    ['rate 0', 'hits:1|c|@0', 'bad_sample_rate'],
    ['rate not a number', 'hits:1|c|@x', 'bad_sample_rate'],
    ['control character in name', 'hi\u0001ts:1|c', 'bad_name'],
    ['invalid UTF-8 in name', 'hi\ufffdts:1|c', 'bad_name'],
    ['name of punctuation only', '...:1|c', 'bad_name'],
    ['reserved name', '__x:1|c', 'bad_name'],
    ['name too long', `${'n'.repeat(300)}:1|c`, 'bad_name'],
    ['empty tag key', 'hits:1|c|#:v', 'bad_tags'],
    ['reserved tag key', 'hits:1|c|#__name__:x', 'bad_tags'],
    ['control character in tag', 'hits:1|c|#a:b\u0000', 'bad_tags'],
    ['tag value too long', `hits:1|c|#a:${'v'.repeat(2000)}`, 'bad_tags'],
    ['too many tags', `hits:1|c|#${Array.from({ length: 40 }, (_, i) => `k${i}:v`).join(',')}`, 'bad_tags'],
    ['quantile tag on a timer', 't:1|ms|#quantile:x', 'bad_tags'],
    ['event', '_e{5,4}:title|text', 'unsupported'],
    ['service check', '_sc|name|0', 'unsupported'],
    ['timestamp', 'hits:1|c|T1656581400', 'unsupported'],
    ['one bad sample of several', 'm:1|c:x|c', 'bad_value'],
  ])('refuses %s: %j → %s', (_what, line, why) => {
    expect(reason(line)).toBe(why);
  });
});

describe('quantiles', () => {
  it('are nearest-rank: the value at rank ceil(q·n)', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(quantileOf(sorted, 0.5)).toBe(5);
    expect(quantileOf(sorted, 0.9)).toBe(9);
    expect(quantileOf(sorted, 0.99)).toBe(10);
    expect(quantileOf([42], 0.01)).toBe(42);
  });
});

describe('the aggregator', () => {
  it('keeps the good lines of a datagram and counts the bad ones by reason', () => {
    const a = new StatsdAggregator();
    const r = a.addDatagram('a:1|c\nbad\r\nb:2|g\r\n\nc:x|c\nd:1|q\n', T0 + 10);
    expect(r).toMatchObject({ lines: 5, accepted: 2, refused: { malformed: 1, bad_value: 1, bad_type: 1 } });
    expect(r.firstMessage).toContain('"bad"');
    const t = table(a.flush(T0 + 1000));
    expect([...t.keys()].sort()).toEqual([`${T0} a_total{}`, `${T0} b{}`]);
  });

  it('records each interval at its start, counters as running totals scaled by 1/rate', () => {
    const a = new StatsdAggregator();
    a.addDatagram('hits:1|c\nhits:2|c|@0.5\nhits:1|c|#k:v', T0 + 100);
    expect(a.flush(T0 + 999)).toEqual([]); // the interval has not ended
    let t = table(a.flush(T0 + 1000));
    expect(t.get(`${T0} hits_total{}`)).toBe(1 + 2 / 0.5);
    expect(t.get(`${T0} hits_total{k=v}`)).toBe(1);
    a.addDatagram('hits:3|c', T0 + 1500);
    t = table(a.flush(T0 + 2000));
    expect(t.get(`${T0 + 1000} hits_total{}`)).toBe(8);
    // idle: the total stays, recorded again (rate 0)
    t = table(a.flush(T0 + 3000));
    expect(t.get(`${T0 + 2000} hits_total{}`)).toBe(8);
    expect(t.get(`${T0 + 2000} hits_total{k=v}`)).toBe(1);
    const kinds = new Set(a.flush(T0 + 4000).map((s) => s.kind));
    expect(kinds).toEqual(new Set(['counter']));
  });

  it('applies gauge deltas in order, starts a delta from 0, and repeats the last value when idle', () => {
    const a = new StatsdAggregator();
    a.addDatagram('g:10|g\ng:+5|g\ng:-3|g\nd:-4|g', T0);
    let t = table(a.flush(T0 + 1000));
    expect(t.get(`${T0} g{}`)).toBe(12);
    expect(t.get(`${T0} d{}`)).toBe(-4);
    t = table(a.flush(T0 + 2000));
    expect(t.get(`${T0 + 1000} g{}`)).toBe(12);
    a.addDatagram('g:+1|g', T0 + 2001);
    a.addDatagram('g:7|g', T0 + 2002);
    t = table(a.flush(T0 + 3000));
    expect(t.get(`${T0 + 2000} g{}`)).toBe(7);
  });

  it('gives timers and histograms quantiles, min and max per interval, _sum and _count running (ms → seconds)', () => {
    const rnd = xorshift32(7);
    const a = new StatsdAggregator({ quantiles: [0.25, 0.5, 0.99] });
    const timings: number[] = [];
    const sizes: number[] = [];
    let lines = '';
    for (let i = 0; i < 200; i++) {
      const ms = Math.floor(rnd() * 5000) / 10;
      const size = Math.floor(rnd() * 1e6) - 5e5;
      timings.push(ms / 1000);
      sizes.push(size);
      lines += `rt:${ms}|ms\nsize:${size}|h|#zone:a\n`;
    }
    a.addDatagram(lines, T0 + 1);
    a.addDatagram('rt:100|ms|@0.25', T0 + 2);
    const t = table(a.flush(T0 + 1000));
    const all = [...timings, 0.1].sort((x, y) => x - y);
    const nearest = (v: number[], q: number) => v[Math.ceil(q * v.length) - 1];
    for (const q of [0.25, 0.5, 0.99]) expect(t.get(`${T0} rt{quantile=${q}}`)).toBe(nearest(all, q));
    expect(t.get(`${T0} rt_min{}`)).toBe(all[0]);
    expect(t.get(`${T0} rt_max{}`)).toBe(all[all.length - 1]);
    expect(t.get(`${T0} rt_count{}`)).toBe(200 + 4);
    expect(t.get(`${T0} rt_sum{}`)).toBeCloseTo(timings.reduce((x, y) => x + y, 0) + 0.1 * 4, 9);
    const s = [...sizes].sort((x, y) => x - y);
    expect(t.get(`${T0} size{quantile=0.5,zone=a}`)).toBe(nearest(s, 0.5));
    expect(t.get(`${T0} size_min{zone=a}`)).toBe(s[0]);
    expect(t.get(`${T0} size_count{zone=a}`)).toBe(200);
    // an idle interval: no quantiles, min or max; _sum and _count stay
    const idle = table(a.flush(T0 + 2000));
    expect([...idle.keys()].filter((k) => k.includes(' rt')).sort()).toEqual([`${T0 + 1000} rt_count{}`, `${T0 + 1000} rt_sum{}`]);
    expect(idle.get(`${T0 + 1000} rt_count{}`)).toBe(204);
  });

  it('counts the distinct members of a set per interval, 0 when idle', () => {
    const a = new StatsdAggregator();
    a.addDatagram('u:alice|s\nu:bob|s\nu:alice|s\nu:carol|s|#app:x', T0);
    let t = table(a.flush(T0 + 1000));
    expect(t.get(`${T0} u{}`)).toBe(2);
    expect(t.get(`${T0} u{app=x}`)).toBe(1);
    t = table(a.flush(T0 + 2000));
    expect(t.get(`${T0 + 1000} u{}`)).toBe(0);
  });

  it('refuses a stored name already used by another type, and nothing of that line', () => {
    const a = new StatsdAggregator();
    expect(a.addDatagram('x_total:1|c', T0).accepted).toBe(1);
    // y:1|g:2|c parses (each sample is well formed) but is a gauge and a counter of one name
    expect(parseStatsdLine('y:1|g:2|c').ok).toBe(true);
    // x and x_total are one counter; a gauge x_total would write the same series
    const r = a.addDatagram('x_total:1|g\ny:1|g:2|c\nz:1|c:2|c\nx:2|c\nx:5|g', T0);
    expect(r.refused).toEqual({ type_conflict: 2 });
    expect(r.accepted).toBe(3);
    const t = table(a.flush(T0 + 1000));
    expect([...t.keys()].sort()).toEqual([`${T0} x_total{}`, `${T0} x{}`, `${T0} z_total{}`]);
    expect(t.get(`${T0} x_total{}`)).toBe(3);
    expect(t.get(`${T0} z_total{}`)).toBe(3);
  });

  it('flushes a pending interval when a later sample comes before the flush', () => {
    const a = new StatsdAggregator();
    a.addDatagram('g:1|g\nt:5|ms', T0 + 10);
    a.addDatagram('g:2|g\nt:7|ms', T0 + 1010);
    const t = table(a.flush(T0 + 2000));
    expect(t.get(`${T0} g{}`)).toBe(1);
    expect(t.get(`${T0 + 1000} g{}`)).toBe(2);
    expect(t.get(`${T0} t_max{}`)).toBe(0.005);
    expect(t.get(`${T0 + 1000} t_max{}`)).toBe(0.007);
  });

  it("aggregates each series over its schema's interval", () => {
    const a = new StatsdAggregator({ intervalOf: (name) => (name.startsWith('slow') ? 10_000 : 1000) });
    a.addDatagram('slow:1|c\nfast:1|c', T0 + 500);
    a.addDatagram('slow:1|c\nfast:1|c', T0 + 5500);
    const t = table(a.flush(T0 + 6000));
    expect(t.get(`${T0} fast_total{}`)).toBe(1);
    expect(t.get(`${T0 + 5000} fast_total{}`)).toBe(2);
    expect([...t.keys()].some((k) => k.includes('slow'))).toBe(false);
    expect(table(a.flush(T0 + 10_000)).get(`${T0} slow_total{}`)).toBe(2);
  });

  it('takes the open intervals on a final flush', () => {
    const a = new StatsdAggregator();
    a.addDatagram('c:2|c', T0 + 300);
    expect(table(a.flush(T0 + 400, true)).get(`${T0} c_total{}`)).toBe(2);
  });

  it('refuses a line for a new series once it holds maxSeries, and keeps taking the series it holds', () => {
    const a = new StatsdAggregator({ maxSeries: 2 });
    expect(a.addDatagram('a:1|c\nb:1|g|#k:v', T0).accepted).toBe(2);
    const r = a.addDatagram('c:1|c\nb:1|g|#k:w\na:2|c\nb:5|g|#k:v', T0);
    expect(r).toMatchObject({ accepted: 2, refused: { series_limit: 2 } });
    const t = table(a.flush(T0 + 1000));
    expect([...t.keys()].sort()).toEqual([`${T0} a_total{}`, `${T0} b{k=v}`]);
    expect(t.get(`${T0} a_total{}`)).toBe(3);
  });

  it('refuses quantiles outside (0, 1)', () => {
    expect(() => new StatsdAggregator({ quantiles: [0.5, 1] })).toThrow(/between 0 and 1/);
  });
});
