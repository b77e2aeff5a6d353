// Differential test of the Influx write doors against a real InfluxDB 1.x (Debian's influxd): the
// corpus test/fixtures/influx/corpus.lp (good and bad lines, every escaping and type rule) is sent
// to both over HTTP (line by line, and as one body) and over UDP; each side's answers are compared,
// and what each stored is read back (influxd through SELECT, rondo through the store and the
// Influx catalog) and compared equal. Known differences, documented in docs/ingest.md: rondo does
// not store string fields (skipped, counted), stores booleans as 1/0, and keeps one value per
// tier-0 interval (the corpus uses whole seconds, one per line).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, type SchemaOptions } from '../src/index';
import { InfluxCatalog, parseInflux } from '../src/ingest';
import { serve, type RondoServer } from '../src/server';
import { ensureReceiversInstalled, startInfluxDB, type InfluxDBReference } from './support/receivers';
import { suiteTempDir } from './helpers';

const CORPUS = fs.readFileSync(path.join(__dirname, 'fixtures', 'influx', 'corpus.lp'), 'utf8').replace(/\n$/, '').split('\n');
const SCHEMAS: SchemaOptions[] = [{ name: 'all', match: {}, maxSeries: 2000, tiers: [{ interval: '1s', retention: '1h' }] }];

/** The corpus with every `@T` replaced by its own time: base + the line's index, in seconds or ns. */
function materialize(base: number, unit: 's' | 'ns'): string[] {
  return CORPUS.map((l, i) => l.replace('@T', unit === 's' ? String(base + i) : `${base + i}000000000`));
}

interface Side {
  store: Store;
  server: RondoServer;
}

async function rondoSide(dir: string, udp: boolean): Promise<Side> {
  const store = Store.open(dir, { schemas: SCHEMAS });
  const server = await serve(store, { listen: '127.0.0.1:0', recordOwnMetrics: false, ...(udp ? { influxUdp: '127.0.0.1:0' } : {}) });
  return { store, server };
}

async function post(url: string, body: string): Promise<{ status: number; error: string | undefined }> {
  const r = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  const text = await r.text();
  return { status: r.status, error: text === '' ? undefined : (JSON.parse(text) as { error?: string }).error };
}

async function query(api: string, db: string, q: string): Promise<unknown> {
  const r = await fetch(`${api}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
  expect(r.status).toBe(200);
  return r.json();
}

/** Every numeric point influxd holds in db: "measurement|tags|field|time|value" (booleans 1/0;
 *  strings left out, as rondo does not store them). */
async function influxPoints(api: string, db: string): Promise<string[]> {
  const out: string[] = [];
  type Result = { results: Array<{ series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>; error?: string }> };
  const ms = (await query(api, db, 'SHOW MEASUREMENTS')) as Result;
  const names = (ms.results[0]!.series?.[0]?.values ?? []).map((r) => r[0] as string);
  // One measurement at a time: SELECT * over several would merge their columns (and types).
  const series: NonNullable<Result['results'][number]['series']> = [];
  for (const m of names) {
    const res = (await query(api, db, `SELECT * FROM "${m.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}" GROUP BY *`)) as Result;
    expect(res.results[0]!.error).toBeUndefined();
    series.push(...(res.results[0]!.series ?? []));
  }
  for (const s of series) {
    const tags = JSON.stringify(Object.entries(s.tags ?? {}).filter(([, v]) => v !== '').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const row of s.values) {
      const t = row[0] as number;
      for (let c = 1; c < s.columns.length; c++) {
        const v = row[c];
        if (v === null || v === undefined || typeof v === 'string') continue;
        out.push(`${s.name}|${tags}|${s.columns[c]}|${t}|${typeof v === 'boolean' ? (v ? 1 : 0) : (v as number)}`);
      }
    }
  }
  return out.sort();
}

/** Every point rondo holds, as influxPoints says them (names and tag keys as written, from the catalog). */
function rondoPoints(store: Store, fromMs: number, toMs: number): string[] {
  const out: string[] = [];
  for (const v of InfluxCatalog.of(store).view()) {
    const tags = JSON.stringify(Object.entries(v.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const r = store.query(v.handle, { start: fromMs, end: toMs, tier: 0 });
    for (let i = 0; i < r.timestamps.length; i++) {
      const x = r.values[i]!;
      if (x !== x) continue;
      out.push(`${v.measurement}|${tags}|${v.field}|${r.timestamps[i]}|${x}`);
    }
  }
  return out.sort();
}

function sendUdp(port: number, datagrams: string[]): Promise<void> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    let i = 0;
    const next = (): void => {
      if (i >= datagrams.length) {
        sock.close();
        resolve();
        return;
      }
      sock.send(Buffer.from(datagrams[i++]!), port, '127.0.0.1', (e) => (e ? reject(e) : setTimeout(next, 2)));
    };
    next();
  });
}

async function until<T>(f: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await f();
  while (!done(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await f();
  }
  return v;
}

async function warmUp(influxApi: string, rondoUrl: string, db: string, base: number): Promise<void> {
  for (const url of [`${influxApi}/write?db=${db}&precision=s`, `${rondoUrl}/write?db=${db}&precision=s`]) expect((await post(url, `warmup v=1 ${base - 1}`)).status).toBe(204);
}

describe('Influx writes: rondo against influxd 1.x', () => {
  let influx: InfluxDBReference;
  const dir = suiteTempDir('rondo-influx-diff-');
  const sides: Side[] = [];
  // A recent base, whole seconds; every line has its own second after it, all inside the ring.
  const base = Math.floor(Date.now() / 1000) - 900;
  const window = [base * 1000 - 1000, (base + CORPUS.length + 1) * 1000] as const;

  beforeAll(async () => {
    ensureReceiversInstalled();
    influx = await startInfluxDB({ udp: true });
    for (const db of ['lines', 'body']) await query(influx.api, db, `CREATE DATABASE ${db}`);
  }, 90_000);

  afterAll(async () => {
    for (const s of sides) {
      await s.server.close();
      s.store.close();
    }
    await influx?.stop();
  });

  it('the corpus is big and mixed: at least 300 lines, good and bad', () => {
    const lines = CORPUS.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(lines.length).toBeGreaterThanOrEqual(300);
  });

  it('line by line over HTTP: the same answer for every line, and the same points stored', async () => {
    const side = await rondoSide(path.join(dir, 'lines'), false);
    sides.push(side);
    await warmUp(influx.api, side.server.url, 'lines', base);
    const lines = materialize(base, 's');
    let refused = 0;
    const differ: string[] = [];
    for (const line of lines) {
      const a = await post(`${influx.api}/write?db=lines&precision=s`, line);
      const b = await post(`${side.server.url}/write?db=lines&precision=s`, line);
      if (a.status !== 204) refused++;
      if (a.status !== b.status || a.error !== b.error) differ.push(`${JSON.stringify(line)}: influxd ${a.status} ${a.error ?? ''} | rondo ${b.status} ${b.error ?? ''}`);
    }
    expect(differ).toEqual([]);
    expect(refused).toBeGreaterThan(60);
    const want = await influxPoints(influx.api, 'lines');
    const got = rondoPoints(side.store, ...window);
    expect(want.length).toBeGreaterThan(600);
    expect(got).toEqual(want);
  }, 120_000);

  it('as one body over HTTP: the same 400 naming the same lines, and the good lines stored by both', async () => {
    const side = await rondoSide(path.join(dir, 'body'), false);
    sides.push(side);
    await warmUp(influx.api, side.server.url, 'body', base);
    // influxd 1.6 answers a body with type conflicts in two measurements with a bare "field type
    // conflict" and stores none of the body (a quirk of its shard validation); rondo answers as
    // for one. So the corpus goes as one body without its conflict lines, then each measurement's
    // conflict lines as a body of their own.
    const all = materialize(base, 's');
    const isConflict = (l: string) => /^conflict\d?[ ,]/.test(l);
    const bodies = [
      all.filter((l) => !isConflict(l)),
      all.filter((l) => l.startsWith('conflict,')),
      all.filter((l) => l.startsWith('conflict2 ')),
      all.filter((l) => l.startsWith('conflict3 ')),
    ];
    for (const lines of bodies) {
      const body = lines.join('\n');
      const a = await post(`${influx.api}/write?db=body&precision=s`, body);
      const b = await post(`${side.server.url}/write?db=body&precision=s`, body);
      expect(a.status).toBe(400);
      expect(b).toEqual(a);
    }
    const want = await influxPoints(influx.api, 'body');
    expect(want.length).toBeGreaterThan(500);
    expect(rondoPoints(side.store, ...window)).toEqual(want);
  }, 60_000);

  it('the bad lines alone: influxd and rondo name them all, in order, in the same words', async () => {
    const side = sides[1]!;
    const bad = materialize(base, 's').filter((l) => /^(bad|cpu|,|dup|only|=)/.test(l.trim()) && !l.startsWith('cpu,host='));
    expect(bad.length).toBeGreaterThan(40);
    const a = await post(`${influx.api}/write?db=body&precision=s`, bad.join('\n'));
    const b = await post(`${side.server.url}/write?db=body&precision=s`, bad.join('\n'));
    expect(a.status).toBe(400);
    expect(b).toEqual(a);
  });

  it('over UDP: datagrams of lines (ns), the same points stored', async () => {
    const side = await rondoSide(path.join(dir, 'udp'), true);
    sides.push(side);
    // Without the type-conflict lines: influxd's UDP listener writes what arrives within 10 ms as
    // one batch, and a batch with conflicts in two measurements is dropped whole (see above); the
    // HTTP tests compare the conflicts.
    const lines = materialize(base, 'ns').filter((l) => !/^conflict\d?[ ,]/.test(l));
    // influxd 1.6 drops a whole datagram when one of its lines is bad (rondo keeps the good lines,
    // see influx-hostile.test.ts): each bad line goes alone, the good ones ten to a datagram.
    const datagrams: string[] = [];
    let group: string[] = [];
    let badLines = 0;
    for (const l of lines) {
      if (parseInflux(l).errors.length > 0) {
        datagrams.push(l);
        badLines++;
        continue;
      }
      group.push(l);
      if (group.length === 10) {
        datagrams.push(group.join('\n'));
        group = [];
      }
    }
    if (group.length > 0) datagrams.push(group.join('\n'));
    await sendUdp(influx.udpPort!, [`warmup v=1 ${base - 1}000000000`]);
    await until(
      () => influxPoints(influx.api, 'udp'),
      (v) => v.length > 0,
    );
    await sendUdp(side.server.influxUdp!.port, [`warmup v=1 ${base - 1}000000000`]);
    await sendUdp(influx.udpPort!, datagrams);
    await sendUdp(side.server.influxUdp!.port, datagrams);
    const want = await until(
      () => influxPoints(influx.api, 'udp'),
      (() => {
        let last = -1;
        return (v: string[]) => {
          const stable = v.length > 0 && v.length === last;
          last = v.length;
          return stable;
        };
      })(),
    );
    expect(want.length).toBeGreaterThan(600);
    const got = await until(
      async () => rondoPoints(side.store, ...window),
      (v) => v.length >= want.length,
    );
    expect(got).toEqual(want);
    const counted = side.server.stats().ingest;
    expect(badLines).toBeGreaterThan(50);
    expect(counted.errors['influx_udp parse']).toBe(badLines);
    // (samples: a line whose field comes twice stores it twice, into one point)
    expect(counted.points.influx_udp).toBeGreaterThanOrEqual(got.length);
  }, 60_000);
});
