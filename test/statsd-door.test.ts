// The StatsD door (rondo serve --statsd): hot-shots, a real StatsD/DogStatsD client, sends every
// metric type; what the store holds for each interval equals what this test computes from what
// hot-shots actually sent (sampled-out calls are not sent: hot-shots' callback says which were).
// Then hostile datagrams (truncated, oversized, binary, fuzzed): the server keeps serving,
// nothing is recorded from a refused line, and the counters say why.
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { StatsD } from 'hot-shots';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATSD_REASONS } from '../src/ingest';
import { serve, type RondoServer } from '../src/server';
import { Store, type Labels } from '../src/store';
import { suiteTempDir, tempDir } from './helpers';
import { freeUdpPort } from './support/receivers';
import { suiteSeed, xorshift32 } from './fixtures/random';

/** A series as one string, labels in name order. */
const keyOf = (name: string, labels: Labels) => `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;

const SEED = suiteSeed('RONDO_STATSD_SEED', 1616, 'statsd-door');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function start(intervalMs: number): Promise<{ store: Store; server: RondoServer; port: number }> {
  const store = Store.open(suiteTempDir('rondo-statsd-'), {
    schemas: [{ name: 's', match: {}, maxSeries: 4000, tiers: [{ interval: `${intervalMs / 1000}s`, retention: '10m' }] }],
  });
  const server = await serve(store, { listen: '127.0.0.1:0', statsd: '127.0.0.1:0', recordOwnMetrics: false });
  return { store, server, port: server.statsd!.port };
}

/** The value the store holds for a series at one interval (NaN when none; undefined: no such series). */
function valueAt(store: Store, name: string, labels: Labels, ts: number): number | undefined {
  const h = store.find(name, labels);
  if (h === undefined) return undefined;
  const r = store.query(h, { start: ts, end: ts, tier: 0 });
  const i = r.timestamps.indexOf(ts);
  return i < 0 ? NaN : r.values[i]!;
}

/** The timestamps at which a series holds a value within [from, to]. */
function stampsOf(store: Store, name: string, labels: Labels, from: number, to: number): number[] {
  const h = store.find(name, labels);
  if (h === undefined) return [];
  const r = store.query(h, { start: from, end: to, tier: 0 });
  const out: number[] = [];
  r.values.forEach((v, i) => {
    if (!Number.isNaN(v)) out.push(r.timestamps[i]!);
  });
  return out;
}

// ---- what the test expects, computed from what was sent (docs/ingest.md, "StatsD") ----

type Family = 'counter' | 'gauge' | 'summary' | 'set';
interface Expect {
  family: Family;
  name: string; // the stored name (before suffixes)
  labels: Labels;
  total: number; // counter running total; gauge value; summary running sum
  count: number; // summary running count
  values: number[]; // summary: this interval's values
  members: Set<string>; // set: this interval's members
  seen: boolean;
}

class Model {
  readonly series = new Map<string, Expect>();
  /** interval start → "name{labels}" → value */
  readonly figures = new Map<number, Map<string, { name: string; labels: Labels; value: number }>>();
  constructor(readonly quantiles: readonly number[]) {}

  private entry(family: Family, name: string, labels: Labels): Expect {
    const key = keyOf(name, labels);
    let e = this.series.get(key);
    if (e === undefined) {
      e = { family, name, labels, total: family === 'gauge' ? NaN : 0, count: 0, values: [], members: new Set(), seen: false };
      this.series.set(key, e);
    }
    e.seen = true;
    return e;
  }
  counter(name: string, labels: Labels, v: number, rate = 1): void {
    this.entry('counter', name, labels).total += v / rate;
  }
  gauge(name: string, labels: Labels, v: number, delta: boolean): void {
    const e = this.entry('gauge', name, labels);
    e.total = delta ? (Number.isNaN(e.total) ? 0 : e.total) + v : v;
  }
  observe(name: string, labels: Labels, v: number, rate = 1): void {
    const e = this.entry('summary', name, labels);
    e.values.push(v);
    e.total += v / rate;
    e.count += 1 / rate;
  }
  set(name: string, labels: Labels, member: string): void {
    this.entry('set', name, labels).members.add(member);
  }
  /** Closes the interval starting at ts: its figures, as the door should record them. */
  close(ts: number): void {
    const out = new Map<string, { name: string; labels: Labels; value: number }>();
    const put = (name: string, labels: Labels, value: number) => out.set(keyOf(name, labels), { name, labels, value });
    for (const e of this.series.values()) {
      if (e.family === 'counter') put(`${e.name}_total`, e.labels, e.total);
      else if (e.family === 'gauge') put(e.name, e.labels, e.total);
      else if (e.family === 'set') put(e.name, e.labels, e.members.size);
      else {
        if (e.values.length > 0) {
          const sorted = [...e.values].sort((a, b) => a - b);
          for (const q of this.quantiles) put(e.name, { ...e.labels, quantile: String(q) }, sorted[Math.ceil(q * sorted.length) - 1]!);
          put(`${e.name}_min`, e.labels, sorted[0]!);
          put(`${e.name}_max`, e.labels, sorted[sorted.length - 1]!);
        }
        put(`${e.name}_sum`, e.labels, e.total);
        put(`${e.name}_count`, e.labels, e.count);
      }
      e.values = [];
      e.members = new Set();
      e.seen = false;
    }
    this.figures.set(ts, out);
  }
}

describe('hot-shots into rondo serve --statsd', () => {
  const I = 2000;
  let store: Store;
  let server: RondoServer;
  let port: number;
  const model = new Model([0.5, 0.9, 0.99]);
  const rounds: number[] = [];
  let linesSent = 0;

  beforeAll(async () => {
    ({ store, server, port } = await start(I));
    const rnd = xorshift32(SEED);
    const int = (n: number) => Math.floor(rnd() * n);

    /** One round of sends, all inside the interval that starts at the next boundary. */
    const round = async (r: number): Promise<number> => {
      const t = (Math.floor(Date.now() / I) + 1) * I;
      await sleep(t + 150 - Date.now());
      // Unbuffered: one datagram per call. hot-shots samples with Math.random(): the test
      // draws that number itself, so it knows which calls were sent.
      const single = new StatsD({ host: '127.0.0.1', port, maxBufferSize: 0 });
      // Buffered: several metrics per datagram; its global tags go on every line.
      const batched = new StatsD({ host: '127.0.0.1', port, maxBufferSize: 1200, bufferFlushInterval: 60_000, globalTags: { vm: 'a' } });
      const sent: Array<Promise<void>> = [];
      const sampled = (rate: number, send: (cb: (err?: Error) => void) => void, onSent: () => void) => {
        const draw = rnd();
        const random = Math.random;
        Math.random = () => draw;
        try {
          sent.push(new Promise<void>((resolve, reject) => send((err) => (err ? reject(err) : resolve()))));
        } finally {
          Math.random = random;
        }
        if (draw < rate) {
          onSent();
          linesSent++;
        }
      };
      for (let i = 0; i < 40; i++) {
        const n = 1 + int(5);
        const route = i % 2 === 0 ? '/a' : '/b';
        sampled(0.5, (cb) => single.increment('app.requests', n, 0.5, { route }, cb), () => model.counter('app_requests', { route }, n, 0.5));
      }
      for (let i = 0; i < 30; i++) {
        const ms = int(100_000) / 100;
        sampled(0.25, (cb) => single.timing('app.latency', ms, 0.25, cb), () => model.observe('app_latency', {}, ms / 1000, 0.25));
      }
      const vm = { vm: 'a' };
      for (let i = 0; i < 50; i++) {
        const n = 1 + int(10);
        const code = ['200', '500'][int(2)]!;
        if (i % 3 === 0) {
          batched.increment('app.hits', n);
          model.counter('app_hits', vm, n);
        } else {
          batched.increment('app.hits', n, { code });
          model.counter('app_hits', { code, ...vm }, n);
        }
        linesSent++;
      }
      // a gauge set, then changed by deltas (hot-shots sends "+n" / "-n"). A negative value
      // is sent as "-n" too: in StatsD that is a change, not a value (a gauge cannot be set
      // below 0 in one line).
      const base = int(1000) - 500;
      batched.gauge('vm.mem.used', base);
      model.gauge('vm_mem_used', vm, base, base < 0);
      linesSent++;
      for (let i = 0; i < 20; i++) {
        const d = int(200) - 100;
        batched.gaugeDelta('vm.mem.used', d);
        model.gauge('vm_mem_used', vm, d, true);
        linesSent++;
      }
      for (let i = 0; i < 60; i++) {
        const ms = int(50_000) / 10;
        batched.timing('db.query', ms, { table: 'users' });
        model.observe('db_query', { table: 'users', ...vm }, ms / 1000);
        const size = int(1_000_000);
        batched.histogram('payload.size', size);
        model.observe('payload_size', vm, size);
        linesSent += 2;
      }
      for (let i = 0; i < 20; i++) {
        const v = int(1000) / 7;
        batched.distribution('io.wait', v);
        model.observe('io_wait', vm, v);
        linesSent++;
      }
      for (let i = 0; i < 80; i++) {
        const user = `u${int(20 + r * 5)}`;
        batched.set('users.active', user);
        model.set('users_active', vm, user);
        linesSent++;
      }
      await Promise.all(sent);
      await new Promise<void>((resolve) => batched.close(() => resolve()));
      await new Promise<void>((resolve) => single.close(() => resolve()));
      if (Date.now() >= t + I - 200) throw new Error(`round ${r} did not fit in its interval (the machine is too slow for this test's ${I} ms interval)`);
      return t;
    };

    rounds.push(await round(0));
    model.close(rounds[0]!);
    rounds.push(await round(1));
    model.close(rounds[1]!);
    // an interval with nothing sent
    const idle = rounds[1]! + I;
    model.close(idle);
    await sleep(idle + I / 4 - Date.now());
    rounds.push(await round(2));
    model.close(rounds[2]!);
    // the door records an interval just after it ends
    await until('the door to record the last round', () => server.stats().statsd!.flushedAt >= rounds[2]! + I);
    rounds.splice(2, 0, idle);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    store?.close();
  });

  it('received every line hot-shots sent, several to a datagram, and refused none', () => {
    const s = server.stats();
    expect(s.statsd!.lines).toBe(linesSent);
    expect(s.statsd!.accepted).toBe(linesSent);
    expect(s.statsd!.datagrams).toBeLessThan(s.statsd!.lines);
    expect(s.ingest.errors).toEqual({});
  });

  it('stored, for every interval, the figures computed from what was sent', () => {
    let checked = 0;
    for (const ts of rounds) {
      const want = model.figures.get(ts)!;
      for (const f of want.values()) {
        const got = valueAt(store, f.name, f.labels, ts);
        expect(got, `${f.name}${JSON.stringify(f.labels)} at ${new Date(ts).toISOString()}`).toBeCloseTo(f.value, 9);
        checked++;
      }
    }
    // every family is there, with its tags
    const names = new Set(store.series().map((h) => h.name));
    for (const n of ['app_requests_total', 'app_latency', 'app_latency_sum', 'app_hits_total', 'vm_mem_used', 'db_query', 'db_query_min', 'db_query_max', 'payload_size_count', 'io_wait_max', 'users_active'])
      expect(names).toContain(n);
    expect(checked).toBeGreaterThan(50);
  });

  it('recorded nothing at any other interval, and no series the test did not expect', () => {
    const from = rounds[0]! - 5 * I;
    const to = rounds[rounds.length - 1]!;
    const expected = new Set<string>();
    for (const m of model.figures.values()) for (const k of m.keys()) expected.add(k);
    for (const h of store.series()) {
      const key = keyOf(h.name, h.labels);
      expect(expected, `unexpected series ${key}`).toContain(key);
      const when = rounds.filter((ts) => model.figures.get(ts)!.has(key));
      expect(stampsOf(store, h.name, h.labels, from, to), key).toEqual(when);
    }
  });

  it('keeps a gauge, a counter and running _sum/_count through an idle interval; sets count 0, quantiles absent', () => {
    const idle = rounds[2]!;
    const before = rounds[1]!;
    expect(valueAt(store, 'vm_mem_used', { vm: 'a' }, idle)).toBe(valueAt(store, 'vm_mem_used', { vm: 'a' }, before));
    expect(valueAt(store, 'app_hits_total', { vm: 'a' }, idle)).toBe(valueAt(store, 'app_hits_total', { vm: 'a' }, before));
    expect(valueAt(store, 'db_query_count', { table: 'users', vm: 'a' }, idle)).toBe(120);
    expect(valueAt(store, 'users_active', { vm: 'a' }, idle)).toBe(0);
    expect(valueAt(store, 'db_query', { table: 'users', vm: 'a', quantile: '0.5' }, idle)).toBeNaN();
  });
});

describe('hostile datagrams on the StatsD door', { timeout: 30_000 }, () => {
  const I = 1000;
  let store: Store;
  let server: RondoServer;
  let port: number;
  let sock: dgram.Socket;
  let datagrams = 0;

  beforeAll(async () => {
    ({ store, server, port } = await start(I));
    sock = dgram.createSocket('udp4');
  });
  afterAll(async () => {
    sock?.close();
    await server?.close();
    store?.close();
  });

  const send = async (...messages: Array<string | Buffer>): Promise<void> => {
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => sock.send(m, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      datagrams++;
    }
    await until('the door to receive every datagram', () => server.stats().statsd!.datagrams === datagrams);
  };
  const refusedBy = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, n] of Object.entries(server.stats().ingest.errors)) {
      const [protocol, reason] = k.split(' ');
      if (protocol === 'statsd' && (STATSD_REASONS as readonly string[]).includes(reason!)) out[reason!] = n;
    }
    return out;
  };
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const diff = (after: Record<string, number>, before: Record<string, number>) =>
    Object.fromEntries(Object.entries(after).flatMap(([k, n]) => (n - (before[k] ?? 0) > 0 ? [[k, n - (before[k] ?? 0)]] : [])));
  /** Lines as the door frames a datagram: split at "\n", a trailing "\r" dropped, blank ones skipped. */
  const linesOf = (b: Buffer) => b.toString('latin1').split('\n').filter((l) => l.replace(/\r$/, '') !== '').length;
  /** Waits for the interval that holds now to be recorded; returns its start. */
  const settle = async (): Promise<number> => {
    const t = Math.floor(Date.now() / I) * I;
    await until('the door to record the interval', () => server.stats().statsd!.flushedAt >= t + I);
    return t;
  };
  const stored = (name: string, labels: Labels = {}) => {
    const h = store.find(name, labels);
    return h === undefined ? undefined : store.lastPoint(h)?.[1];
  };

  it('keeps the good lines of a datagram whose last line is cut short, and nothing of the cut line', async () => {
    const full = 'trunc.t:42|ms';
    const before = refusedBy();
    const cut: string[] = [];
    for (let n = 1; n < full.length; n++) cut.push(`ok.a:1|c\nok.g:${n}|g\n${full.slice(0, n)}`);
    await send(...cut);
    await settle();
    const by = diff(refusedBy(), before);
    expect(sum(by)).toBe(cut.length);
    expect(Object.keys(by).sort()).toEqual(['bad_type', 'malformed']);
    expect(stored('ok_a_total')).toBe(cut.length);
    expect(stored('ok_g')).toBe(full.length - 1);
    expect(store.series().filter((h) => h.name.startsWith('trunc'))).toEqual([]);
  });

  it('takes a datagram of the largest UDP size, refuses a line too long for a name, and the OS refuses a larger one', async () => {
    const before = refusedBy();
    const line = 'ok.big:1|c\n';
    const many = line.repeat(Math.floor(65_507 / line.length));
    const long = `big.${'x'.repeat(65_507 - 10)}:1|c`;
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(65_507);
    await send(many, long);
    await settle();
    expect(stored('ok_big_total')).toBe(Math.floor(65_507 / line.length));
    expect(diff(refusedBy(), before)).toEqual({ bad_name: 1 });
    expect(store.series().filter((h) => h.name.startsWith('big'))).toEqual([]);
    // a datagram over 64 KiB never leaves this host: the kernel refuses to send it
    await expect(new Promise<void>((resolve, reject) => sock.send(Buffer.alloc(70_000, 0x61), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())))).rejects.toMatchObject({
      code: 'EMSGSIZE',
    });
  });

  it('refuses binary datagrams line by line, counted, and records nothing of them', async () => {
    const rnd = xorshift32(SEED ^ 0x5eed);
    const before = refusedBy();
    const seriesBefore = store.series().length;
    const acceptedBefore = server.stats().statsd!.accepted;
    // bytes that are control characters or not ASCII, with the separators StatsD looks for
    const alphabet = [...Array.from({ length: 32 }, (_, i) => i), ...Array.from({ length: 128 }, (_, i) => 128 + i), 0x3a, 0x7c, 0x23, 0x40, 0x0a];
    const bins: Buffer[] = [];
    for (let i = 0; i < 60; i++) bins.push(Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 1500) }, () => alphabet[Math.floor(rnd() * alphabet.length)]!)));
    await send(...bins);
    await settle();
    const lines = bins.reduce((a, b) => a + linesOf(b), 0);
    expect(sum(diff(refusedBy(), before))).toBe(lines);
    expect(server.stats().statsd!.accepted).toBe(acceptedBefore);
    expect(store.series().length).toBe(seriesBefore);
  });

  it('accounts for every line of fuzzed datagrams, keeps serving, and stores a good line after them', async () => {
    const rnd = xorshift32(SEED ^ 0xf022);
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds = ['fz.c:12|c|@0.5|#k:v,env:prod', 'fz.g:-3.5|g', 'fz.t:250|ms|#route:/x', 'fz.h:7|h', 'fz.s:alice|s', 'fz.m:1|c:2|c', 'fz.d:1e3|d|#a:b|c:cid'];
    const before = refusedBy();
    const s0 = server.stats().statsd!;
    const datagrams: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const lines: Buffer[] = [];
      for (let j = 0, n = 1 + int(6); j < n; j++) {
        const b = [...Buffer.from(seeds[int(seeds.length)]!)];
        for (let k = 0, m = int(4); k < m; k++) {
          const at = int(b.length + 1);
          const op = int(4);
          if (op === 0) b.splice(at, 1);
          else if (op === 1) b.splice(at, 0, int(256));
          else if (op === 2) b[Math.min(at, b.length - 1)] = int(256);
          else b.splice(at, 0, ...b.slice(0, int(8)));
        }
        lines.push(Buffer.from(b));
      }
      datagrams.push(Buffer.concat(lines.flatMap((l, k) => (k === 0 ? [l] : [Buffer.from(int(5) === 0 ? '\r\n' : '\n'), l]))));
    }
    await send(...datagrams);
    await settle();
    const s1 = server.stats().statsd!;
    const lines = datagrams.reduce((a, b) => a + linesOf(b), 0);
    const refused = sum(diff(refusedBy(), before));
    expect(s1.lines - s0.lines).toBe(lines);
    expect(s1.accepted - s0.accepted + refused).toBe(lines);
    expect(refused).toBeGreaterThan(0);
    // still serving: the HTTP side answers and a good line is stored
    const res = await fetch(`${server.url}/api/v1/query?query=up`);
    expect(res.status).toBe(200);
    await send('after.fuzz:5|g');
    await settle();
    expect(stored('after_fuzz')).toBe(5);
  });

  it('shows the counts on /metrics as rondo_ingest_errors_total and rondo_ingest_points_total', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const errors = server.stats().ingest.errors;
    expect(Object.keys(errors).length).toBeGreaterThan(3);
    for (const [k, n] of Object.entries(errors)) {
      const [protocol, reason] = k.split(' ');
      expect(text).toContain(`rondo_ingest_errors_total{protocol="${protocol}",reason="${reason}"} ${n}`);
    }
    const points = server.stats().ingest.points.statsd!;
    expect(points).toBeGreaterThan(0);
    expect(text).toContain(`rondo_ingest_points_total{protocol="statsd"} ${points}`);
  });
});

describe('the StatsD door on a read-only store', { timeout: 30_000 }, () => {
  it('counts every line as read_only and stores nothing', async () => {
    const dir = tempDir('rondo-statsd-ro-');
    Store.open(dir).close();
    const store = Store.openReadOnly(dir);
    const server = await serve(store, { listen: '127.0.0.1:0', statsd: '127.0.0.1:0' });
    try {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => sock.send('a:1|c\nb:2|g\n', server.statsd!.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      sock.close();
      await until('the datagram', () => server.stats().statsd!.datagrams === 1);
      expect(server.stats().ingest.errors).toEqual({ 'statsd read_only': 2 });
    } finally {
      await server.close();
      store.close();
    }
    const again = Store.openReadOnly(dir);
    expect(again.series()).toEqual([]);
    again.close();
  });

  it('refuses an address that is not loopback unless insecureListen', async () => {
    const store = Store.open(tempDir('rondo-statsd-addr-'));
    await expect(serve(store, { listen: '127.0.0.1:0', statsd: '0.0.0.0:0' })).rejects.toThrow(/not a loopback address/);
    store.close();
  });
});

describe('rondo serve --statsd', { timeout: 30_000 }, () => {
  const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
  const children = new Set<ChildProcess>();
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const run = (args: string[]) => {
    const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    // 'close', not 'exit': the child's output is all read by then
    const exited = new Promise<number | null>((resolve) =>
      child.once('close', (code) => {
        children.delete(child);
        resolve(code);
      }),
    );
    return { child, out: () => out, err: () => err, exited };
  };

  it('takes a line sent as the shell example sends it, with the quantiles asked for, and stops on SIGTERM', async () => {
    const port = await freeUdpPort();
    const p = run([tempDir('rondo-statsd-cli-'), '--listen', '127.0.0.1:0', '--statsd', `127.0.0.1:${port}`, '--statsd-quantiles', '0.5,0.75']);
    await until('the start line', () => /on http/.test(p.out()));
    expect(p.out()).toContain(`(and StatsD on udp://127.0.0.1:${port})`);
    const url = /on (http:\/\/[^,\s]+)/.exec(p.out())![1]!;
    // echo "x:1|c" | nc -u -w0 127.0.0.1 8125: one datagram, the line and a newline
    const sock = dgram.createSocket('udp4');
    for (const m of ['x:1|c\n', 'lat:10|ms\nlat:30|ms\nlat:20|ms\n'])
      await new Promise<void>((resolve, reject) => sock.send(m, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    sock.close();
    const query = async (q: string) =>
      ((await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
    let x: Awaited<ReturnType<typeof query>> = [];
    const end = Date.now() + 10_000;
    while (x.length === 0 && Date.now() < end) {
      await sleep(200);
      x = await query('x_total');
    }
    expect(x.map((r) => r.value[1])).toEqual(['1']);
    const lat = await query('lat');
    expect(Object.fromEntries(lat.map((r) => [r.metric.quantile, r.value[1]]))).toEqual({ '0.5': '0.02', '0.75': '0.03' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('refuses a StatsD address that is not loopback (exit 2) and quantiles outside (0, 1)', async () => {
    const a = run([tempDir('rondo-statsd-cli-'), '--listen', '127.0.0.1:0', '--statsd', '0.0.0.0:8125']);
    expect(await a.exited).toBe(2);
    expect(a.err()).toMatch(/--statsd 0\.0\.0\.0 is not a loopback address/);
    const b = run([tempDir('rondo-statsd-cli-'), '--listen', '127.0.0.1:0', '--statsd', '127.0.0.1:0', '--statsd-quantiles', '0.5,1.5']);
    expect(await b.exited).toBe(2);
    expect(b.err()).toMatch(/--statsd-quantiles must be numbers between 0 and 1/);
  });
});
