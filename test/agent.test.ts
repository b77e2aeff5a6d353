import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Counter, Registry } from 'prom-client';
import * as snappy from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, RemoteWriteError, Store, pushTo, loadRemoteWriteProto, type Collector } from '../src/index';
import { ensureBuilt, ROOT } from './fixtures/build';
import { tempDir } from './helpers';
import {
  ensureReceiversInstalled,
  getJson,
  startFaultServer,
  startPrometheus,
  type FaultServer,
  type PrometheusReceiver,
} from './support/receivers';

const SCHEMAS = [{ name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] }];
const silent = () => {};

/** A collector that throws every time it is called, and counts its calls. */
function brokenCollector(): Collector & { calls: number } {
  const c = {
    name: 'broken',
    calls: 0,
    collect(): void {
      c.calls++;
      throw new Error('sensor unplugged');
    },
  };
  return c;
}

/** Seconds (interval starts) from the one holding `from` to the one holding `to`. */
function secondsBetween(from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(from / 1000) * 1000; t <= to; t += 1000) out.push(t);
  return out;
}

/** Polls until `cond` holds (the test's timeout bounds the wait). */
async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

/** Every sample a fault server received, per series (name and labels as text), as a receiver decodes them. */
function received(server: FaultServer): Map<string, Array<[number, number]>> {
  const type = loadRemoteWriteProto().lookupType('prometheus.WriteRequest');
  const out = new Map<string, Array<[number, number]>>();
  for (const req of server.requests) {
    const msg = type.toObject(type.decode(snappy.uncompress(req.body)), { longs: Number, defaults: true }) as {
      timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }>;
    };
    for (const ts of msg.timeseries) {
      const key = ts.labels.map((l) => `${l.name}=${l.value}`).join(',');
      const list = out.get(key) ?? [];
      for (const x of ts.samples) list.push([x.timestamp, x.value]);
      out.set(key, list);
    }
  }
  return out;
}

describe('Agent', () => {
  it('records the process figures every second of its life, the last second included after stop()', async () => {
    const dir = tempDir();
    const started = Date.now();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, onError: silent });
    await new Promise((r) => setTimeout(r, 3200));
    await agent.stop();
    const stopped = Date.now();
    expect(agent.stats.errors).toBe(0);
    const store = Store.openReadOnly(dir);
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_open_fds', 'nodejs_heap_used_bytes']) {
      const h = store.find(name)!;
      expect(h, name).toBeDefined();
      const r = store.query(h, { start: started - 1000, end: stopped, tier: 0 });
      const have = new Set(Array.from(r.timestamps).filter((_, i) => !Number.isNaN(r.values[i])));
      // Every second from the first tick to the last (the one stop() ran) has its point.
      for (const t of secondsBetween(started, stopped)) expect(have.has(t), `${name} at ${new Date(t).toISOString()}`).toBe(true);
    }
    expect(store.find('process_cpu_seconds_total')!.kind).toBe('counter');
    expect(store.lastPoint(store.find('rondo_agent_ticks_total')!)![1]).toBe(agent.stats.ticks);
    store.close();
  });

  it('records its uptime, rising every tick, and the event-loop delay in seconds', async () => {
    const dir = tempDir();
    const started = Date.now();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, onError: silent });
    await waitFor(() => agent.stats.ticks >= 4);
    await agent.stop();
    const stopped = Date.now();
    expect(agent.stats.errors).toBe(0);
    const store = Store.openReadOnly(dir);
    const points = (name: string, labels = {}): Array<[number, number]> => {
      const h = store.find(name, labels);
      expect(h, name).toBeDefined();
      const r = store.query(h!, { start: started - 1000, end: stopped, tier: 0 });
      return Array.from(r.timestamps).map((t, i): [number, number] => [t, r.values[i]!]).filter(([, v]) => !Number.isNaN(v));
    };

    const uptime = points('process_uptime_seconds');
    expect(uptime.length).toBeGreaterThanOrEqual(4);
    const startTime = points('process_start_time_seconds');
    expect(startTime.length).toBe(uptime.length);
    for (let i = 0; i < uptime.length; i++) {
      const [t, up] = uptime[i]!;
      expect(up).toBeGreaterThan(0);
      if (i > 0) expect(up, `uptime at ${new Date(t).toISOString()}`).toBeGreaterThan(uptime[i - 1]![1]);
      // Start time plus uptime is the tick's time: within the second it was recorded in.
      const at = startTime[i]![1] + up;
      expect(at).toBeGreaterThanOrEqual(t / 1000 - 0.5);
      expect(at).toBeLessThan(t / 1000 + 1.5);
    }
    expect(startTime[0]![1] * 1000).toBeLessThanOrEqual(started);

    const p50 = points('nodejs_eventloop_delay_seconds', { quantile: '0.5' });
    const p99 = points('nodejs_eventloop_delay_seconds', { quantile: '0.99' });
    const max = points('nodejs_eventloop_delay_max_seconds');
    // A tick right after the histogram was enabled or reset has no sample yet; the others have their figures.
    expect(max.length).toBeGreaterThanOrEqual(Math.max(2, uptime.length - 2));
    expect(p50.map(([t]) => t)).toEqual(max.map(([t]) => t));
    expect(p99.map(([t]) => t)).toEqual(max.map(([t]) => t));
    for (let i = 0; i < max.length; i++) {
      for (const v of [p50[i]![1], p99[i]![1], max[i]![1]]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        // Seconds, not ms or ns: no delay can outlast the agent's whole life.
        expect(v).toBeLessThanOrEqual((stopped - started) / 1000);
      }
      expect(p50[i]![1]).toBeLessThanOrEqual(p99[i]![1]);
    }
    store.close();
  }, 20_000);

  it('a failing receiver does not stop the agent: ticks go on, the failure is reported and recorded, and the data waits in the store', async () => {
    const dir = tempDir();
    const down = await startFaultServer({ status: 500, body: 'receiver broken' });
    const up = await startFaultServer({ status: 200 });
    try {
      const reported: Array<[string, unknown]> = [];
      let n = 0;
      const started = Date.now();
      const agent = await Agent.start({
        dir,
        schemas: SCHEMAS,
        collectors: [{ name: 'n', collect: (ctx) => ctx.record('vm_ticks_total', { vm: 'a' }, ++n, 'counter') }],
        remoteWrite: { url: down.url, exporter: 'rw', interval: '1s', maxRetries: 1, minBackoffMs: 1, maxBackoffMs: 5, logger: silent },
        onError: (source, e) => reported.push([source, e]),
      });
      await waitFor(() => agent.stats.pushErrors >= 1);
      const ticksAtFailure = agent.stats.ticks;
      await waitFor(() => agent.stats.ticks > ticksAtFailure + 1);
      const stopAsked = Date.now();
      await expect(agent.stop()).resolves.toBeUndefined();

      expect(down.requests.length).toBeGreaterThanOrEqual(2 * agent.stats.pushErrors); // tried, and retried, each time
      expect(agent.stats.pushes).toBe(0);
      expect(agent.stats.pushErrors).toBeGreaterThanOrEqual(2); // on the interval, and the last one at stop()
      const pushReports = reported.filter(([source]) => source === 'push');
      expect(pushReports).toHaveLength(agent.stats.pushErrors);
      expect(reported).toHaveLength(pushReports.length); // nothing else failed
      for (const [, e] of pushReports) {
        expect(e).toBeInstanceOf(RemoteWriteError);
        expect((e as RemoteWriteError).status).toBe(500);
      }

      const store = Store.open(dir);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'push' })!)![1]).toBe(agent.stats.pushErrors);
      expect(store.lastPoint(store.find('rondo_remote_write_samples_failed_total', { exporter: 'rw' })!)![1]).toBeGreaterThan(0);
      expect(store.lastPoint(store.find('rondo_remote_write_samples_sent_total', { exporter: 'rw' })!)![1]).toBe(0);
      const h = store.find('vm_ticks_total', { vm: 'a' })!;
      const local = store.query(h, { start: started - 1000, end: Date.now(), tier: 0 });
      const want = Array.from(local.timestamps).map((t, i): [number, number] => [t, local.values[i]!]).filter(([, v]) => !Number.isNaN(v));
      // Every second of its life has its point (the last one from stop()'s tick): none lost while the receiver failed.
      expect(want.map(([t]) => t)).toEqual(secondsBetween(started, want.at(-1)![0]));
      expect(want.at(-1)![0]).toBeGreaterThanOrEqual(Math.floor(stopAsked / 1000) * 1000);
      expect(want.at(-1)![1]).toBe(n);
      // The cursor never moved: a push to a working receiver delivers all of it, and the stale marker stop() queued.
      expect(store.exporter('rw').committedSamples).toBe(0);
      const s = await pushTo(store, up.url, { exporter: 'rw', until: Infinity, logger: silent });
      expect(s.start).toBeLessThanOrEqual(want[0]![0]);
      // In the order sent: every sample in time order, and the stale marker after them all (a
      // receiver refuses samples older than a series' newest, the marker included).
      const got = received(up).get('__name__=vm_ticks_total,vm=a')!;
      expect(got.slice(0, -1)).toEqual(want);
      expect(Number.isNaN(got.at(-1)![1])).toBe(true);
      expect(got.at(-1)![0]).toBeGreaterThan(want.at(-1)![0]);
      expect(store.lastPoint(store.find('rondo_remote_write_samples_sent_total', { exporter: 'rw' })!)![1]).toBe(s.samples);
      store.close();
    } finally {
      await down.stop();
      await up.stop();
    }
  }, 30_000);

  it('a failing collector is counted, reported and recorded; the others and the host go on', async () => {
    const dir = tempDir();
    const reported: string[] = [];
    const broken = brokenCollector();
    const fine: Collector = { name: 'fine', collect: (ctx) => ctx.record('fine_value', {}, 42) };
    const agent = await Agent.start({ dir, schemas: SCHEMAS, collectors: [broken, fine], onError: (s, e) => reported.push(`${s}: ${(e as Error).message}`) });
    await agent.tick();
    await agent.stop();
    expect(broken.calls).toBeGreaterThanOrEqual(3);
    expect(agent.stats.errors).toBe(broken.calls);
    expect(reported[0]).toBe('collector broken: sensor unplugged');
    const store = Store.openReadOnly(dir);
    expect(store.lastPoint(store.find('fine_value')!)![1]).toBe(42);
    expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'collector' })!)![1]).toBe(broken.calls);
    store.close();
  });

  it('counts failures per source: each rondo_agent_errors_total series holds its own source\'s count', async () => {
    const down = await startFaultServer({ status: 500 });
    try {
      const dir = tempDir();
      const broken = brokenCollector();
      const agent = await Agent.start({
        dir,
        schemas: SCHEMAS,
        collectors: [broken],
        remoteWrite: { url: down.url, interval: '1h', maxRetries: 0, logger: silent },
        onError: silent,
      });
      for (let i = 0; i < 3; i++) await agent.tick();
      await agent.stop(); // a last tick, and the last push, which fails
      expect(agent.stats.pushErrors).toBe(1);
      expect(agent.stats.errors).toBe(broken.calls + 1);
      const store = Store.openReadOnly(dir);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'collector' })!)![1]).toBe(broken.calls);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'push' })!)![1]).toBe(1);
      store.close();
    } finally {
      await down.stop();
    }
  }, 20_000);

  it('does not keep the process alive: a host that never calls stop() still exits', async () => {
    ensureBuilt();
    const dir = tempDir();
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        ['-e', `require(${JSON.stringify(path.join(ROOT, 'dist', 'src'))}).Agent.start({ dir: ${JSON.stringify(dir)}, metricsPort: 0, remoteWrite: { url: 'http://127.0.0.1:9/api/v1/write', interval: '1s', logger: () => {} }, onError: () => {} }).then(() => console.log('started'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (c) => {
        clearTimeout(guard);
        expect(out).toContain('started');
        resolve(c);
      });
    });
    expect(code).toBe(0); // exited by itself, not killed by the guard
  });

  it('records a prom-client registry every tick', async () => {
    const dir = tempDir();
    const registry = new Registry();
    const c = new Counter({ name: 'launches_total', help: 'VMs launched', labelNames: ['image'], registers: [registry] });
    c.inc({ image: 'alpine' }, 3);
    const { promClientCollector } = await import('../src/agent/index');
    const agent = await Agent.start({ dir, schemas: SCHEMAS, collectors: [promClientCollector(registry)], onError: silent });
    c.inc({ image: 'alpine' }, 2);
    await agent.stop();
    const store = Store.openReadOnly(dir);
    const h = store.find('launches_total', { image: 'alpine' })!;
    expect(store.lastPoint(h)![1]).toBe(5);
    expect(h.kind).toBe('counter');
    store.close();
  });

  it('serves the latest values as Prometheus text on loopback when asked', async () => {
    const dir = tempDir();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, metricsPort: 0, collectors: [{ name: 'v', collect: (ctx) => ctx.record('vm_memory_bytes', { vm: '1' }, 1234) }] });
    const addr = agent.metricsAddress!;
    expect(addr.host).toBe('127.0.0.1');
    const text = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
    expect(text).toMatch(/^# TYPE vm_memory_bytes gauge$/m);
    expect(text).toMatch(/^vm_memory_bytes\{vm="1"\} 1234$/m);
    await agent.stop();
  });

  it('refuses options that cannot work with a named error', async () => {
    await expect(Agent.start({ dir: tempDir(), tickMs: 0 })).rejects.toMatchObject({ name: 'ConfigError' });
    await expect(Agent.start({ dir: tempDir(), remoteWrite: { url: 'ftp://x' } })).rejects.toMatchObject({ name: 'ConfigError' });
  });
});

describe('Agent pushing to a real Prometheus', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
  });
  afterAll(async () => prom?.stop());

  it('pushes on its interval and at stop(): every second arrives, and the ended series get stale markers', async () => {
    const dir = tempDir();
    const started = Date.now();
    let n = 0;
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      labels: { instance: 'vm-test' },
      collectors: [{ name: 'n', collect: (ctx) => ctx.record('vm_ticks_total', {}, ++n, 'counter') }],
      remoteWrite: { url: prom.url, interval: '1s', logger: silent },
      onError: silent,
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(agent.stats.pushes).toBeGreaterThan(0); // pushed while running, not only at stop
    await agent.stop();
    const stopped = Date.now();
    const sel = encodeURIComponent('vm_ticks_total{instance="vm-test"}[1m]');
    const r = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(`${prom.api}/api/v1/query?query=${sel}&time=${stopped / 1000 + 1}`);
    const got = new Map(r.data.result[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]));
    const store = Store.openReadOnly(dir);
    const local = store.query(store.find('vm_ticks_total', { instance: 'vm-test' })!, { start: started - 1000, end: stopped, tier: 0 });
    const want = new Map(Array.from(local.timestamps).map((t, i): [number, number] => [t, local.values[i]!]).filter(([, v]) => !Number.isNaN(v)));
    expect(want.size).toBeGreaterThanOrEqual(3);
    expect(got).toEqual(want);
    // A stale marker ended the series: an instant query just after stop() finds nothing.
    const now = await getJson<{ data: { result: unknown[] } }>(
      `${prom.api}/api/v1/query?query=${encodeURIComponent('vm_ticks_total{instance="vm-test"}')}&time=${stopped / 1000 + 2}`,
    );
    expect(now.data.result).toEqual([]);
    store.close();
  });
});
