// InfluxQL (src/influxql): the parser on good and bad statements, the planner's tier choice (a
// consolidated tier's sum and count for mean() when the range is older than tier 0 reaches, raw
// points otherwise) against values computed from what was recorded, and the answer's format
// (RFC 3339 times, epoch=, InfluxDB's JSON shape and errors).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/index';
import { ingestInflux } from '../src/ingest';
import { parseInfluxQL, rfc3339, runInfluxQL, type SelectStatement } from '../src/influxql';
import { serve } from '../src/server';
import { suiteTempDir } from './helpers';
import { suiteSeed, xorshift32 } from './fixtures/random';
import { loadCorpus } from './support/influxql-data';

const sel = (q: string): SelectStatement => parseInfluxQL(q)[0] as SelectStatement;
const parseError = (q: string): string => {
  try {
    parseInfluxQL(q);
  } catch (e) {
    return (e as Error).message;
  }
  return '';
};

describe('the InfluxQL parser', () => {
  it('parses SELECT with fields, aliases, arithmetic, calls, FROM forms, WHERE, GROUP BY, fill, ORDER, limits', () => {
    const s = sel(
      `SELECT mean("value user") AS m, max(x) - min(x), y * 2 FROM db.autogen.cpu, "disk io", /^mem/ WHERE host =~ /a|b/ AND time > now() - 1h ` +
        `GROUP BY time(1m, 30s), host fill(previous) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1`,
    );
    expect(s.fields.map((f) => f.alias)).toEqual(['m', undefined, undefined]);
    expect(s.fields[0]!.expr).toEqual({ k: 'call', name: 'mean', args: [{ k: 'ref', name: 'value user' }] });
    expect(s.fields[1]!.expr).toMatchObject({ k: 'bin', op: '-', l: { k: 'call', name: 'max' }, r: { k: 'call', name: 'min' } });
    expect(s.sources).toEqual([
      { k: 'name', name: 'cpu', db: 'db', rp: 'autogen' },
      { k: 'name', name: 'disk io' },
      { k: 'regex', src: '^mem' },
    ]);
    expect(s.interval).toEqual({ every: 60_000, offset: 30_000 });
    expect(s.dimensions).toEqual(['host']);
    expect(s.fill).toEqual({ k: 'previous' });
    expect([s.desc, s.limit, s.offset, s.slimit, s.soffset]).toEqual([true, 10, 2, 3, 1]);
    expect(s.where).toMatchObject({ k: 'bin', op: 'AND', l: { op: '=~', r: { k: 'regex', src: 'a|b' } } });
  });

  it('reads durations with every unit, db..m, GROUP BY *, fill(<n>), several statements and comments', () => {
    expect(sel('SELECT mean(x) FROM m GROUP BY time(1500ms)').interval?.every).toBe(1500);
    expect(sel('SELECT mean(x) FROM m GROUP BY time(2h)').interval?.every).toBe(7_200_000);
    expect(sel('SELECT mean(x) FROM m GROUP BY time(1w)').interval?.every).toBe(604_800_000);
    expect(sel('SELECT mean(x) FROM m GROUP BY time(1d, -1h)').interval).toEqual({ every: 86_400_000, offset: 82_800_000 });
    expect(sel('SELECT x FROM db..m').sources).toEqual([{ k: 'name', name: 'm', db: 'db', rp: '' }]);
    expect(sel('SELECT mean(x) FROM m GROUP BY time(1m), * fill(-2.5)')).toMatchObject({ dimensions: '*', fill: { k: 'value', v: -2.5 } });
    expect(sel('select X from "m" where "a b" = \'c\\\'d\'').where).toEqual({ k: 'bin', op: '=', l: { k: 'ref', name: 'a b' }, r: { k: 'str', v: "c'd" } });
    const many = parseInfluxQL('SHOW DATABASES; -- a comment\nSHOW TAG VALUES FROM cpu WITH KEY IN (host, region); CREATE DATABASE x; SHOW SERIES FROM cpu WHERE host = \'a\'');
    expect(many.map((s) => s.type)).toEqual(['show databases', 'show tag values', 'create database', 'show series']);
  });

  it('refuses bad statements with InfluxDB\'s wording and position', () => {
    expect(parseError('SELEC x FROM m')).toBe('found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1');
    expect(parseError('SELECT x FROM')).toBe('found EOF, expected identifier at line 1, char 15');
    expect(parseError('SELECT x FROM m WHERE')).toBe('found EOF, expected identifier, string, number, bool at line 1, char 23');
    expect(parseError('SELECT x FROM m LIMIT x')).toBe('found x, expected integer at line 1, char 23');
    expect(parseError('SELECT x FROM m GROUP BY time(x)')).toBe('found x, expected duration at line 1, char 31');
    expect(parseError('SELECT x FROM m\nWHERE a = \'unterminated')).toMatch(/expected string at line 2, char 11$/);
    expect(parseError('SELECT x FROM m x')).toBe('found x, expected ; at line 1, char 17');
    expect(parseError('')).toBe('missing required parameter "q"');
  });

  it('names what rondo does not support', () => {
    expect(parseError('SELECT x INTO y FROM m')).toMatch(/INTO is not supported by rondo/);
    expect(parseError('DROP MEASUREMENT m')).toMatch(/DROP statements are not supported by rondo/);
    expect(parseError('SELECT mean(x) FROM m GROUP BY time(1m) tz(\'Europe/Paris\')')).toMatch(/tz\('Europe\/Paris'\) is not supported by rondo/);
    expect(parseError('SHOW CONTINUOUS QUERIES')).toMatch(/SHOW CONTINUOUS is not supported by rondo/);
    expect(parseError('SELECT x FROM m ORDER BY host')).toMatch(/only ORDER BY time/);
  });
});

describe('planning and answering over a store', () => {
  let store: Store;
  // Whole minutes: 30 minutes of 1 s data ending 5 minutes ago; tier 0 keeps only 2 minutes.
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
  const start = end - 30 * 60_000;
  const value = (t: number, host: number): number => ((t / 1000) % 97) * (host + 1) + 0.5;
  const recorded: Array<{ t: number; host: number; v: number }> = [];

  beforeAll(() => {
    store = Store.open(suiteTempDir('rondo-influxql-'), {
      schemas: [
        {
          name: 'default',
          match: {},
          maxSeries: 16,
          tiers: [
            { interval: '1s', retention: '2m' },
            { interval: '10s', retention: '2h', consolidate: 'avg', aggregates: ['avg', 'sum', 'count', 'min', 'max', 'last'] },
          ],
        },
      ],
    });
    // The past written a minute at a time, consolidated after each minute (as a running server
    // does), through the store's own API: the line protocol door refuses what tier 0's ring no
    // longer reaches. Such series are measurement = metric name, field "value" to InfluxQL; one
    // written through the door (a measurement with a field of its own name) shows the naming map.
    const hs = [store.register('cpu', { host: 'h0' }), store.register('cpu', { host: 'h1' })];
    for (let m = start; m < end; m += 60_000) {
      for (let t = m; t < m + 60_000; t += 1000)
        hs.forEach((h, host) => {
          store.record(h, value(t, host), t);
          recorded.push({ t, host, v: value(t, host) });
        });
      store.consolidate({ now: m + 60_000 });
    }
    const now = Math.floor(Date.now() / 1000) * 1000;
    // And the last 100 seconds, not consolidated yet: only tier 0 holds them.
    for (let t = now - 100_000; t < now; t += 1000)
      hs.forEach((h, host) => {
        store.record(h, value(t, host), t);
        recorded.push({ t, host, v: value(t, host) });
      });
    const w = ingestInflux(store, Buffer.from(`net,dev=eth0 rx=5i,up=true ${now / 1000}\n`), { precision: 's' });
    expect(w.stored).toBe(2);
  });
  afterAll(() => store.close());

  const results = (q: string, epoch?: string): any => {
    const a = runInfluxQL(store, q, epoch === undefined ? {} : { epoch });
    expect(a.status).toBe(200);
    return { ...JSON.parse(a.body), plan: a.plan };
  };

  it('answers mean() per minute from tier 1\'s sums and counts when tier 0 no longer reaches back, equal to the mean of what was recorded', () => {
    const from = start + 10 * 60_000;
    const to = from + 5 * 60_000;
    const r = results(`SELECT mean(value) FROM cpu WHERE time >= ${from}ms AND time < ${to}ms GROUP BY time(1m), host`);
    expect(r.plan).toEqual(['tier 1:sum,count']);
    const series = r.results[0].series;
    expect(series.map((s: any) => s.tags)).toEqual([{ host: 'h0' }, { host: 'h1' }]);
    for (const [i, s] of series.entries()) {
      expect(s.values.length).toBe(5);
      for (const [ts, mean] of s.values) {
        const t0 = Date.parse(ts);
        const pts = recorded.filter((p) => p.host === i && p.t >= t0 && p.t < t0 + 60_000);
        expect(pts.length).toBe(60);
        expect(mean).toBeCloseTo(pts.reduce((a, p) => a + p.v, 0) / pts.length, 9);
      }
    }
  });

  it('with a range whose edges cut the tier\'s buckets, leaves those buckets out (as PromQL\'s selectors do) and still reads the tier', () => {
    const from = start + 10 * 60_000 + 3000;
    const to = from + 2 * 60_000;
    const r = results(`SELECT mean(value) FROM cpu WHERE host = 'h0' AND time >= ${from}ms AND time < ${to}ms GROUP BY time(1m)`);
    expect(r.plan).toEqual(['tier 1:sum,count']);
    // Tier 1's buckets (10 s) wholly inside [from, to): from the first whole 10 s after `from`.
    const lo = Math.ceil(from / 10_000) * 10_000;
    const hi = Math.floor(to / 10_000) * 10_000;
    const want = [from - 3000, from - 3000 + 60_000, from - 3000 + 120_000].map((b) => {
      const pts = recorded.filter((p) => p.host === 0 && p.t >= Math.max(b, lo) && p.t < Math.min(b + 60_000, hi));
      return [b, pts.reduce((a, p) => a + p.v, 0) / pts.length, pts.length];
    });
    expect(want.map((w) => w[2])).toEqual([50, 60, 0]);
    const got = r.results[0].series[0].values;
    expect(got.map((v: any) => Date.parse(v[0]))).toEqual(want.map((w) => w[0]));
    expect(got[0][1]).toBeCloseTo(want[0]![1]!, 9);
    expect(got[1][1]).toBeCloseTo(want[1]![1]!, 9);
    expect(got[2][1]).toBeNull();
  });

  it('stitches: the consolidated tier where tier 0 no longer reaches, tier 0\'s points from where it does', () => {
    const from = end - 3 * 60_000;
    const r = results(`SELECT mean(value) FROM cpu WHERE host = 'h1' AND time >= ${from}ms GROUP BY time(1m) fill(none)`);
    expect(r.plan.sort()).toEqual(['tier 0:raw', 'tier 1:sum,count']);
    const values = r.results[0].series[0].values;
    expect(values.length).toBeGreaterThanOrEqual(5);
    for (const [ts, mean] of values) {
      const t0 = Date.parse(ts);
      const pts = recorded.filter((p) => p.host === 1 && p.t >= t0 && p.t < t0 + 60_000);
      expect(mean).toBeCloseTo(pts.reduce((a, p) => a + p.v, 0) / pts.length, 9);
    }
    // The newest minute is tier 0's alone.
    expect(Date.parse(values[values.length - 1][0])).toBeGreaterThan(end);
  });

  it('answers max() and count() from the tier\'s own aggregates, and median() (no aggregate answers it) only where tier 0 holds points', () => {
    const from = start + 10 * 60_000;
    const to = from + 2 * 60_000;
    const r = results(`SELECT max(value), count(value) FROM cpu WHERE host = 'h1' AND time >= ${from}ms AND time < ${to}ms GROUP BY time(1m)`);
    expect(r.plan.sort()).toEqual(['tier 1:count', 'tier 1:max']);
    const want = (t0: number): [number, number] => {
      const pts = recorded.filter((p) => p.host === 1 && p.t >= t0 && p.t < t0 + 60_000);
      return [Math.max(...pts.map((p) => p.v)), pts.length];
    };
    expect(r.results[0].series[0].values).toEqual([
      [new Date(from).toISOString().replace('.000Z', 'Z'), ...want(from)],
      [new Date(from + 60_000).toISOString().replace('.000Z', 'Z'), ...want(from + 60_000)],
    ]);
    const m = results(`SELECT median(value) FROM cpu WHERE time >= ${from}ms AND time < ${to}ms GROUP BY time(1m)`);
    expect(m.plan).toEqual(['tier 0:raw']);
    expect(m.results[0].series ?? []).toEqual([]);
  });

  it('reads raw points from tier 0, with the names and types the line protocol wrote, and epoch= times', () => {
    const t = JSON.parse(runInfluxQL(store, 'SELECT * FROM net').body).results[0].series[0];
    expect(t.columns).toEqual(['time', 'dev', 'rx', 'up']);
    expect(t.values).toHaveLength(1);
    const [ts, dev, rx, up] = t.values[0];
    expect([dev, rx, up]).toEqual(['eth0', 5, true]);
    const ms = Date.parse(ts);
    const r = results(`SELECT rx FROM net WHERE time >= now() - 1m`, 's');
    expect(r.plan).toEqual(['tier 0:raw']);
    expect(r.results[0].series[0]).toEqual({ name: 'net', columns: ['time', 'rx'], values: [[ms / 1000, 5]] });
    const ns = runInfluxQL(store, `SELECT rx FROM net WHERE time = ${ms}ms`, { epoch: 'ns' });
    expect(ns.body).toContain(`[[${BigInt(ms) * 1_000_000n},5]]`);
    expect(results(`SELECT rx FROM net`, 'ms').results[0].series[0].values).toEqual([[ms, 5]]);
    expect(results(`SELECT rx FROM net`, 'h').results[0].series[0].values).toEqual([[Math.floor(ms / 3_600_000), 5]]);
  });

  it('answers in InfluxDB\'s shapes: statement results, a statement\'s error, a parse error, SHOW', () => {
    const two = JSON.parse(runInfluxQL(store, 'SHOW MEASUREMENTS; SELECT nope(value) FROM cpu').body);
    expect(two).toEqual({
      results: [
        { statement_id: 0, series: [{ name: 'measurements', columns: ['name'], values: [['cpu'], ['net']] }] },
        { statement_id: 1, error: 'undefined function nope()' },
      ],
    });
    const bad = runInfluxQL(store, 'SELECT FROM');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: 'error parsing query: found FROM, expected identifier, string, number, bool at line 1, char 8' });
    expect(JSON.parse(runInfluxQL(store, 'SHOW FIELD KEYS; SHOW TAG VALUES WITH KEY = host').body).results).toEqual([
      { statement_id: 0, series: [{ name: 'cpu', columns: ['fieldKey', 'fieldType'], values: [['value', 'float']] }, { name: 'net', columns: ['fieldKey', 'fieldType'], values: [['rx', 'integer'], ['up', 'boolean']] }] },
      { statement_id: 1, series: [{ name: 'cpu', columns: ['key', 'value'], values: [['host', 'h0'], ['host', 'h1']] }] },
    ]);
    expect(JSON.parse(runInfluxQL(store, 'SHOW DATABASES').body).results[0].series[0].values).toEqual([['rondo']]);
    runInfluxQL(store, 'CREATE DATABASE telegraf');
    expect(JSON.parse(runInfluxQL(store, 'SHOW DATABASES').body).results[0].series[0].values).toEqual([['telegraf']]);
  });
});

describe('times as InfluxDB writes them', () => {
  it('RFC 3339 with only the fraction digits needed', () => {
    expect(rfc3339(0)).toBe('1970-01-01T00:00:00Z');
    expect(rfc3339(Date.UTC(2026, 0, 2, 3, 4, 5, 500))).toBe('2026-01-02T03:04:05.5Z');
    expect(rfc3339(Date.UTC(2026, 0, 2, 3, 4, 5, 7))).toBe('2026-01-02T03:04:05.007Z');
  });
});

describe('hostile queries', () => {
  let store: Store;
  beforeAll(() => {
    store = Store.open(suiteTempDir('rondo-influxql-fuzz-'), {});
    const now = Math.floor(Date.now() / 1000) * 1000;
    const lines = [];
    for (let i = 0; i < 60; i++) lines.push(`cpu,host=h${i % 3},region=r${i % 2} usage_user=${i % 17}.5,usage_system=${i % 5},load=${i}i,ok=${i % 2 === 0} ${(now - 60_000 + i * 1000) / 1000}`);
    expect(ingestInflux(store, Buffer.from(lines.join('\n')), { precision: 's' }).stored).toBe(240);
  });
  afterAll(() => store.close());

  it('cut, spliced and token-soup queries are answered 200 or 400 in InfluxDB\'s shape, never a throw', () => {
    const seed = suiteSeed('RONDO_INFLUXQL_FUZZ_SEED', 0x1f1f1f, 'influxql');
    const rnd = xorshift32(seed);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
    const corpus = loadCorpus().map((q) => q.text.replace(/\{(t|ns|s)\+\d+\}/g, (m) => (m.startsWith('{t') ? '2026-01-01T00:00:00Z' : '1700000000')));
    const tokens = ['SELECT', 'FROM', 'WHERE', 'GROUP BY', 'time(', ')', '(', ',', ';', '*', 'mean(', 'derivative(', 'abs(', 'round(', 'pow(', 'cumulative_sum(', 'moving_average(', 'percentile(', 'usage_user', 'host', '"cpu"', "'a'", '/a.*/', '/(/', '=~', '!~', '=', '!=', 'AND', 'OR', 'now()', '-', '+', '1h', '0s', '10', '-1', '1e309', 'fill(linear)', 'fill(', 'LIMIT', 'SLIMIT', 'ORDER BY time DESC', 'SHOW TAG VALUES WITH KEY', 'SHOW', 'SERIES', '::', 'tz(', "'", '"', '\\', '\u0000', 'µ', '💥'];
    let answered = 0;
    for (let i = 0; i < 3000; i++) {
      let q: string;
      const kind = i % 3;
      if (kind === 0) {
        const base = pick(corpus);
        q = base.slice(0, Math.floor(rnd() * (base.length + 1)));
      } else if (kind === 1) {
        const a = pick(corpus);
        const b = pick(corpus);
        q = a.slice(0, Math.floor(rnd() * a.length)) + b.slice(Math.floor(rnd() * b.length));
      } else {
        q = Array.from({ length: 1 + Math.floor(rnd() * 14) }, () => pick(tokens)).join(' ');
      }
      let a;
      try {
        a = runInfluxQL(store, q);
      } catch (e) {
        throw new Error(`seed ${seed}, query ${JSON.stringify(q)} threw: ${(e as Error).stack}`);
      }
      expect([200, 400], q).toContain(a.status);
      const body = JSON.parse(a.body);
      if (a.status === 400) expect(typeof body.error, q).toBe('string');
      else expect(Array.isArray(body.results), q).toBe(true);
      answered++;
    }
    expect(answered).toBe(3000);
  });

  it('a regex the linear-time matcher refuses, huge bucket counts and reads over the points limit are statement errors', () => {
    const re = JSON.parse(runInfluxQL(store, "SELECT usage_user FROM cpu WHERE host =~ /(?=a)/").body);
    expect(re.results[0].error).toMatch(/invalid regular expression/);
    const many = JSON.parse(runInfluxQL(store, 'SELECT mean(usage_user) FROM cpu WHERE time > now() - 1000d GROUP BY time(1ms)').body);
    expect(many.results[0].error).toMatch(/too many buckets/);
    const big = JSON.parse(runInfluxQL(store, 'SELECT * FROM cpu', { maxPoints: 100 }).body);
    expect(big.results[0].error).toMatch(/would read more than 100 points/);
    expect(JSON.parse(runInfluxQL(store, 'SELECT * FROM cpu', { maxPoints: 1_000_000 }).body).results[0].series[0].values).toHaveLength(60);
  });
});

describe('/query on rondo serve', () => {
  it('takes q from the URL or a form body, answers InfluxDB\'s shapes and statuses, and keeps serving after bad requests', async () => {
    const store = Store.open(suiteTempDir('rondo-influxql-http-'), {});
    const server = await serve(store, { listen: '127.0.0.1:0', recordOwnMetrics: false, maxBodyBytes: 4096 });
    try {
      const now = Math.floor(Date.now() / 1000);
      const w = await fetch(`${server.url}/write?db=x&precision=s`, { method: 'POST', body: `m,k=v f=1.5 ${now - 5}\nm,k=v f=2.5 ${now - 4}\n` });
      expect(w.status).toBe(204);
      const get = await fetch(`${server.url}/query?q=${encodeURIComponent('SELECT f FROM m')}&epoch=s`);
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe('application/json');
      expect(await get.json()).toEqual({ results: [{ statement_id: 0, series: [{ name: 'm', columns: ['time', 'f'], values: [[now - 5, 1.5], [now - 4, 2.5]] }] }] });
      const post = await fetch(`${server.url}/query?epoch=s`, { method: 'POST', body: new URLSearchParams({ q: 'SELECT sum(f) FROM m; SHOW DATABASES' }) });
      expect(((await post.json()) as any).results).toEqual([
        { statement_id: 0, series: [{ name: 'm', columns: ['time', 'sum'], values: [[0, 4]] }] },
        { statement_id: 1, series: [{ name: 'databases', columns: ['name'], values: [['x']] }] },
      ]);
      // A body that is not a form is not read for q (as Go's FormValue); the URL's q still counts.
      const raw = await fetch(`${server.url}/query?q=SHOW%20MEASUREMENTS`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'q=nothing' });
      expect(((await raw.json()) as any).results[0].series[0].values).toEqual([['m']]);
      const pretty = await (await fetch(`${server.url}/query?q=SHOW%20MEASUREMENTS&pretty=true`)).text();
      expect(pretty).toContain('\n    "results"');
      const none = await fetch(`${server.url}/query`);
      expect(none.status).toBe(400);
      expect(await none.json()).toEqual({ error: 'missing required parameter "q"' });
      const bad = await fetch(`${server.url}/query?q=SELECT`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).error).toMatch(/^error parsing query: found EOF/);
      const big = await fetch(`${server.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `SELECT f FROM m WHERE k = '${'x'.repeat(5000)}'` }) });
      expect(big.status).toBe(413);
      expect(typeof ((await big.json()) as any).error).toBe('string');
      const again = await fetch(`${server.url}/query?q=SELECT%20count(f)%20FROM%20m`);
      expect(((await again.json()) as any).results[0].series[0].values[0][1]).toBe(2);
      expect(server.stats().requests['/query 400']).toBe(2);
    } finally {
      await server.close();
      store.close();
    }
  });
});
