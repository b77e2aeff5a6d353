// pushTo(store, ) against real receivers: every sample, label and timestamp arrives.
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { uncompress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteWriteError, Store, pushTo, formatSeries, type Labels } from '../src/index';
import { loadRemoteWriteProto } from '../src/export/encode';
import { FIXTURES } from './fixtures/build';
import { alignedPast, tempDir } from './helpers';
import {
  ensureReceiversInstalled,
  getJson,
  startPrometheus,
  startVictoriaMetrics,
  type PrometheusReceiver,
} from './support/receivers';

const HOURS3 = 3 * 3600;
const SCHEMA = [{ name: 'p', match: {}, maxSeries: 32, tiers: [{ interval: '1s', retention: '4h' }] }];
const quiet = () => {};

interface Want {
  name: string;
  labels: Labels;
  points: Map<number, number>;
}

/** A store holding `series` series of 1 s data from `t0` for `seconds`, and what it holds. */
function fillStore(dir: string, t0: number, seconds: number, prefix: string): Want[] {
  const store = Store.open(dir, { schemas: SCHEMA });
  const defs: Array<{ name: string; labels: Labels; kind: 'counter' | 'gauge'; f: (i: number) => number }> = [
    { name: `${prefix}_exits_total`, labels: { reason: 'io', vcpu: '0' }, kind: 'counter' as const, f: (i: number) => i * 3 },
    { name: `${prefix}_exits_total`, labels: { reason: 'mmio', vcpu: '0' }, kind: 'counter' as const, f: (i: number) => i * 2 + 1 },
    { name: `${prefix}_exits_total`, labels: { reason: 'hlt', vcpu: '1' }, kind: 'counter' as const, f: (i: number) => i },
    { name: `${prefix}_load`, labels: { vm: 'a' }, kind: 'gauge' as const, f: (i: number) => (i % 100) * 0.25 },
    { name: `${prefix}_rss_bytes`, labels: {}, kind: 'gauge' as const, f: (i: number) => 1e8 + (i % 7) * 4096 },
  ];
  const hs = defs.map((d) => store.register(d.name, d.labels, { kind: d.kind }));
  const wants: Want[] = defs.map((d) => ({ name: d.name, labels: d.labels, points: new Map() }));
  for (let i = 0; i < seconds; i++) {
    const ts = t0 + i * 1000;
    defs.forEach((d, j) => {
      // Leave a few holes: missing points must stay missing, not become zeros.
      if (j === 3 && i % 97 === 5) return;
      store.record(hs[j]!, d.f(i), ts);
      wants[j]!.points.set(ts, d.f(i));
    });
  }
  store.close();
  return wants;
}

/** Raw samples of one series from Prometheus (a range-vector instant query). */
async function promSamples(api: string, w: Want, end: number, rangeS: number): Promise<Map<number, number>> {
  const sel = formatSeries(w.name, w.labels);
  const r = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(
    `${api}/api/v1/query?query=${encodeURIComponent(`${sel}[${rangeS}s]`)}&time=${end / 1000}`,
  );
  expect(r.data.result.length).toBe(1);
  return new Map(r.data.result[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]));
}

function expectSame(got: Map<number, number>, want: Map<number, number>): void {
  expect(got.size).toBe(want.size);
  for (const [t, v] of want) expect(got.get(t), `sample at ${t}`).toBe(v);
}

describe('pushTo a real Prometheus', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
  });
  afterAll(async () => prom?.stop());

  it('delivers 3 hours of 1 s data of several series: every sample, label and timestamp (default receiver settings)', async () => {
    const dir = tempDir();
    const t0 = alignedPast(HOURS3 * 1000 + 120_000, 1000);
    const wants = fillStore(dir, t0, HOURS3, 'three_h');
    const store = Store.open(dir);
    const summary = await pushTo(store, prom.url, { logger: quiet });
    const total = wants.reduce((a, w) => a + w.points.size, 0);
    expect(summary.samples).toBe(total);
    expect(summary.dropped).toBe(0);
    expect(summary.batches).toBe(Math.ceil(total / 2000));
    const end = t0 + (HOURS3 - 1) * 1000;

    const series = await getJson<{ data: Array<Record<string, string>> }>(
      `${prom.api}/api/v1/series?match[]=${encodeURIComponent('{__name__=~"three_h_.*"}')}&start=${t0 / 1000}&end=${end / 1000}`,
    );
    const got = series.data.map((m) => formatSeries(m.__name__!, Object.fromEntries(Object.entries(m).filter(([k]) => k !== '__name__')))).sort();
    expect(got).toEqual(wants.map((w) => formatSeries(w.name, w.labels)).sort());

    for (const w of wants) expectSame(await promSamples(prom.api, w, end, HOURS3), w.points);

    // query_range at the data's own step gives the same values at every step.
    const w = wants[0]!;
    const qr = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(
      `${prom.api}/api/v1/query_range?query=${encodeURIComponent(formatSeries(w.name, w.labels))}&start=${t0 / 1000}&end=${end / 1000}&step=1`,
    );
    const values = qr.data.result[0]!.values;
    expect(values.length).toBe(HOURS3);
    for (const [t, v] of values) expect(Number(v)).toBe(w.points.get(Math.round(t * 1000)));

    // The push's own figures are series in the store.
    const sent = store.find('rondo_remote_write_samples_sent_total', { exporter: summary.exporter })!;
    expect(store.lastPoint(sent)![1]).toBe(total);
    // Nothing left: a second push sends nothing.
    expect((await pushTo(store, prom.url, { logger: quiet })).samples).toBeLessThan(20); // only the figures just recorded
    store.close();
  });

  it('a backlog older than the newest data by more than an hour is refused by a default receiver (dropped, counted, logged)', async () => {
    const recent = tempDir();
    const old = tempDir();
    const now = alignedPast(60_000, 1000);
    fillStore(recent, now - 600_000, 600, 'ooo_recent');
    const oldWants = fillStore(old, now - HOURS3 * 1000, 600, 'ooo_old');
    const fresh = await startPrometheus();
    try {
      const a = Store.open(recent);
      expect((await pushTo(a, fresh.url, { logger: quiet })).dropped).toBe(0);
      a.close();
      const logs: string[] = [];
      const b = Store.open(old);
      const s = await pushTo(b, fresh.url, { logger: (_l, m) => logs.push(m) });
      expect(s.dropped).toBe(oldWants.reduce((n, w) => n + w.points.size, 0));
      expect(s.samples).toBe(0);
      expect(logs.join('\n')).toMatch(/out of bounds/);
      b.close();
    } finally {
      await fresh.stop();
    }
  });

  it('the same backlog is accepted by a receiver with an out-of-order window', async () => {
    const recent = tempDir();
    const old = tempDir();
    const now = alignedPast(60_000, 1000);
    fillStore(recent, now - 600_000, 600, 'ooo_recent');
    const oldWants = fillStore(old, now - HOURS3 * 1000, 600, 'ooo_old');
    const ooo = await startPrometheus({ outOfOrderWindow: '4h' });
    try {
      const a = Store.open(recent);
      await pushTo(a, ooo.url, { logger: quiet });
      a.close();
      const b = Store.open(old);
      const s = await pushTo(b, ooo.url, { logger: quiet });
      expect(s.dropped).toBe(0);
      b.close();
      for (const w of oldWants) expectSame(await promSamples(ooo.api, w, now - HOURS3 * 1000 + 599_000, 600), w.points);
    } finally {
      await ooo.stop();
    }
  });

  it('a receiver that is down loses nothing: the push fails, and a later push delivers everything', async () => {
    const dir = tempDir();
    const t0 = alignedPast(900_000, 1000);
    const wants = fillStore(dir, t0, 300, 'down_then_up');
    const store = Store.open(dir);
    // Nothing listens on port 9 of loopback (discard): connection refused.
    await expect(
      pushTo(store, 'http://127.0.0.1:9/api/v1/write', { exporter: 'later', maxRetries: 2, minBackoffMs: 1, maxBackoffMs: 5, logger: quiet }),
    ).rejects.toBeInstanceOf(RemoteWriteError);
    expect(store.exporter('later').committedSamples).toBe(0);
    const s = await pushTo(store, prom.url, { exporter: 'later', logger: quiet });
    expect(s.samples).toBe(wants.reduce((n, w) => n + w.points.size, 0));
    for (const w of wants) expectSame(await promSamples(prom.api, w, t0 + 299_000, 300), w.points);
    store.close();
  });

  it('a pushing process killed mid-push resumes from its cursor: nothing lost, at most one batch twice', async () => {
    const dir = tempDir();
    const t0 = alignedPast(1_800_000, 1000);
    const wants = fillStore(dir, t0, 1200, 'killed_push');
    const total = wants.reduce((n, w) => n + w.points.size, 0);
    const batch = 500;
    // A slow pass-through in front of Prometheus that counts the samples it forwards.
    const { proto, forwarded, server, url } = await countingProxy(prom.url, 40);
    const run = (expectKill: boolean) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [path.join(FIXTURES, 'pusher.js'), dir, url, String(batch)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let killed = false;
        const watch = setInterval(() => {
          if (expectKill && !killed && forwarded.requests >= 4) {
            killed = true;
            child.kill('SIGKILL');
          }
        }, 5);
        child.on('exit', (code) => {
          clearInterval(watch);
          resolve(code);
        });
      });
    expect(await run(true)).toBe(null); // killed
    const afterKill = forwarded.samples;
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(total);
    expect(await run(false)).toBe(0);
    server.close();
    void proto;
    // Every sample is in Prometheus...
    for (const w of wants) expectSame(await promSamples(prom.api, w, t0 + 1_199_000, 1200), w.points);
    // ...and what was sent twice is at most the batch in flight when the process died.
    expect(forwarded.samples - total).toBeGreaterThanOrEqual(0);
    expect(forwarded.samples - total).toBeLessThanOrEqual(batch);
  });
});

describe('pushTo a real VictoriaMetrics', () => {
  it('delivers every sample, label and timestamp', async () => {
    ensureReceiversInstalled();
    const vm = await startVictoriaMetrics();
    try {
      const dir = tempDir();
      const t0 = alignedPast(HOURS3 * 1000 + 120_000, 1000);
      const wants = fillStore(dir, t0, HOURS3, 'vm_three_h');
      const store = Store.open(dir);
      const s = await pushTo(store, vm.url, { logger: quiet });
      expect(s.samples).toBe(wants.reduce((n, w) => n + w.points.size, 0));
      store.close();
      await vm.flush();
      const text = await (
        await fetch(`${vm.api}/api/v1/export?match[]=${encodeURIComponent('{__name__=~"vm_three_h_.*"}')}&start=${t0 / 1000 - 1}&end=${t0 / 1000 + HOURS3 + 1}`)
      ).text();
      const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] });
      expect(lines.length).toBe(wants.length);
      for (const w of wants) {
        const key = formatSeries(w.name, w.labels);
        const line = lines.find((l) => formatSeries(l.metric.__name__!, Object.fromEntries(Object.entries(l.metric).filter(([k]) => k !== '__name__'))) === key);
        expect(line, key).toBeDefined();
        expectSame(new Map(line!.timestamps.map((t, i) => [t, line!.values[i]!])), w.points);
      }
    } finally {
      await vm.stop();
    }
  });
});

/** A real HTTP server that forwards remote-write requests to `target` after a delay and counts their samples. */
async function countingProxy(target: string, delayMs: number) {
  const proto = loadRemoteWriteProto();
  const WriteRequest = proto.lookupType('prometheus.WriteRequest');
  const forwarded = { requests: 0, samples: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      setTimeout(() => {
        const out = http.request(target, { method: 'POST', headers: { ...req.headers, host: new URL(target).host } }, (r) => {
          const rc: Buffer[] = [];
          r.on('data', (c: Buffer) => rc.push(c));
          r.on('end', () => {
            if ((r.statusCode ?? 500) < 300) {
              const msg = WriteRequest.decode(uncompress(new Uint8Array(body))) as unknown as { timeseries: Array<{ samples: unknown[] }> };
              forwarded.requests++;
              forwarded.samples += msg.timeseries.reduce((n, t) => n + t.samples.length, 0);
            }
            res.writeHead(r.statusCode ?? 500);
            res.end(Buffer.concat(rc));
          });
        });
        out.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        out.end(body);
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { proto, forwarded, server, url: `http://127.0.0.1:${port}/api/v1/write` };
}
