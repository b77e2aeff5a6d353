// The agent (src/agent/agent.ts): ticks, collectors, pushes, failures, stop(). Ticks are driven by
// the tests through the agent's clock option and tick() (see testClock), not by waiting for timers;
// one test checks the timers themselves with vitest's fake timers.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Counter, Registry } from 'prom-client';
import * as snappy from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent, RemoteWriteError, Store, pushTo, loadRemoteWriteProto, type Collector, type SeriesHandle } from '../src/index';
import { ROOT } from './fixtures/build';
import { alignedPast, tempDir } from './helpers';
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

/**
 * The agent's clock in these tests (its `clock` option, with `autoTick: false`): the test calls
 * agent.tick() at the times it chooses instead of sleeping until timers fire. It starts on a
 * second boundary ten minutes ago, since the store refuses points more than a minute ahead of the
 * real clock, and only moves when the test steps it.
 */
function testClock(): { now: () => number; step: (ms?: number) => number } {
  let t = alignedPast(600_000, 1000);
  return {
    now: () => t,
    step: (ms = 1000) => (t += ms),
  };
}

/** Real time for the event-loop delay histogram to take samples (it samples every 10 ms). */
function letTheEventLoopRun(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
    const clock = testClock();
    const started = clock.now();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, onError: silent, clock: clock.now, autoTick: false });
    for (let i = 0; i < 3; i++) {
      await agent.tick();
      clock.step();
    }
    await agent.stop(); // its last tick, in the fourth second
    const stopped = clock.now();
    expect(agent.stats.errors).toBe(0);
    expect(agent.stats.ticks).toBe(4);
    expect(agent.stats.lastTickMs).toBe(stopped);
    const store = Store.openReadOnly(dir);
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_open_fds', 'nodejs_heap_size_used_bytes']) {
      const h = store.find(name);
      expect(h, name).toBeDefined();
      const r = store.query(h!, { start: started - 1000, end: stopped + 1000, tier: 0 });
      const have = Array.from(r.timestamps).filter((_, i) => !Number.isNaN(r.values[i]));
      // Every second from the first tick to the last (the one stop() ran) has its point, and only those.
      expect(have, name).toEqual(secondsBetween(started, stopped));
    }
    expect(store.find('process_cpu_seconds_total')?.kind).toBe('counter');
    // user + system = the total, each a counter, as prom-client's processCpuTotal.
    const last = (n: string): number => store.lastPoint(store.find(n)!)![1];
    expect(store.find('process_cpu_user_seconds_total')?.kind).toBe('counter');
    expect(last('process_cpu_user_seconds_total') + last('process_cpu_system_seconds_total')).toBeCloseTo(last('process_cpu_seconds_total'), 9);
    expect(store.describe('nodejs_heap_size_used_bytes')).toEqual({ help: 'Process heap size used from Node.js in bytes.', unit: 'bytes', kind: 'gauge' });
    expect(store.lastPoint(store.find('rondo_agent_ticks_total')!)).toEqual([stopped, 4]);
    store.close();
  });

  it('records its uptime, rising every tick, and the event-loop delay in seconds', async () => {
    const dir = tempDir();
    const clock = testClock();
    const realStart = Date.now();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, onError: silent, clock: clock.now, autoTick: false });
    // The real time around each tick: the process figures are the process's, in real time.
    const realAround: Array<[number, number]> = [];
    for (let i = 0; i < 5; i++) {
      await letTheEventLoopRun(30);
      const before = Date.now();
      await (i < 4 ? agent.tick() : agent.stop()); // the fifth is stop()'s last tick
      realAround.push([before, Date.now()]);
      clock.step();
    }
    const realStop = Date.now();
    expect(agent.stats.errors).toBe(0);
    const store = Store.openReadOnly(dir);
    const points = (name: string, labels = {}): Array<[number, number]> => {
      const h = store.find(name, labels);
      expect(h, name).toBeDefined();
      const r = store.query(h!, { start: clock.now() - 10_000, end: clock.now(), tier: 0 });
      const out: Array<[number, number]> = [];
      r.timestamps.forEach((t, i) => {
        const v = r.values[i];
        if (v !== undefined && !Number.isNaN(v)) out.push([t, v]);
      });
      return out;
    };

    const uptime = points('process_uptime_seconds');
    const startTime = points('process_start_time_seconds');
    expect(uptime.map(([t]) => t)).toEqual(secondsBetween(clock.now() - 5000, clock.now() - 1000));
    expect(startTime.map(([t]) => t)).toEqual(uptime.map(([t]) => t));
    uptime.forEach(([t, up], i) => {
      expect(up).toBeGreaterThan(0);
      const prev = uptime[i - 1];
      if (prev !== undefined) expect(up, `uptime at ${new Date(t).toISOString()}`).toBeGreaterThan(prev[1]);
      // Start time plus uptime is the real time of the tick that recorded it (the start time in
      // whole seconds, as prom-client reports it: within half a second).
      const [before, after] = realAround[i] ?? [NaN, NaN];
      const at = (startTime[i]?.[1] ?? NaN) + up;
      expect(Number.isInteger(startTime[i]?.[1])).toBe(true);
      expect(at).toBeGreaterThanOrEqual(before / 1000 - 0.55);
      expect(at).toBeLessThanOrEqual(after / 1000 + 0.55);
    });
    expect((startTime[0]?.[1] ?? NaN) * 1000).toBeLessThanOrEqual(realStart + 500);

    // prom-client's names, one gauge per figure (no `quantile` label on a gauge).
    const p50 = points('nodejs_eventloop_lag_p50_seconds');
    const p99 = points('nodejs_eventloop_lag_p99_seconds');
    const max = points('nodejs_eventloop_lag_max_seconds');
    const min = points('nodejs_eventloop_lag_min_seconds');
    expect(min.map(([t]) => t)).toEqual(max.map(([t]) => t));
    min.forEach(([, m], i) => expect(m).toBeLessThanOrEqual(p50[i]?.[1] ?? NaN));
    // A tick with no sample since the histogram was enabled or reset records none; the event loop
    // ran 30 ms before each tick, so at most one goes without.
    expect(max.length).toBeGreaterThanOrEqual(uptime.length - 1);
    expect(p50.map(([t]) => t)).toEqual(max.map(([t]) => t));
    expect(p99.map(([t]) => t)).toEqual(max.map(([t]) => t));
    max.forEach(([, m], i) => {
      const q50 = p50[i]?.[1] ?? NaN;
      const q99 = p99[i]?.[1] ?? NaN;
      for (const v of [q50, q99, m]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        // Seconds, not ms or ns: no delay can outlast the agent's whole life.
        expect(v).toBeLessThanOrEqual((realStop - realStart) / 1000);
      }
      expect(q50).toBeLessThanOrEqual(q99);
    });
    store.close();
  });

  it('on its own (autoTick, the default) ticks just after each multiple of tickMs, and pushes on its interval', async () => {
    // Fake timers and a fake Date that move only when the test advances them, from ten minutes ago.
    const t0 = alignedPast(600_000, 1000);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: t0 + 500 });
    try {
      const seen: number[] = [];
      const agent = await Agent.start({
        dir: tempDir(),
        schemas: SCHEMAS,
        collectors: [{ name: 'times', collect: (ctx) => void seen.push(ctx.now) }],
        remoteWrite: { url: 'http://127.0.0.1:9/api/v1/write', interval: '2s', logger: silent },
        onError: silent,
        clock: () => Date.now(),
      });
      const push = vi.spyOn(agent, 'push').mockResolvedValue(undefined);
      expect(seen).toEqual([t0 + 500]); // start() ran the first tick
      await vi.advanceTimersByTimeAsync(4000);
      expect(seen).toEqual([t0 + 500, t0 + 1002, t0 + 2002, t0 + 3002, t0 + 4002]);
      expect(push.mock.calls).toEqual([[], []]); // at 2.5 s and 4.5 s after start
      await agent.stop();
      expect(seen.at(-1)).toBe(t0 + 4500);
      expect(push).toHaveBeenLastCalledWith(true);
      expect(vi.getTimerCount()).toBe(0); // stop() cleared both timers
      expect(agent.stats.ticks).toBe(6);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failing receiver does not stop the agent: ticks go on, the failure is reported and recorded, and the data waits in the store', async () => {
    const dir = tempDir();
    const down = await startFaultServer({ status: 500, body: 'receiver broken' });
    const up = await startFaultServer({ status: 200 });
    try {
      const reported: Array<[string, unknown]> = [];
      let n = 0;
      const clock = testClock();
      const started = clock.now();
      const agent = await Agent.start({
        dir,
        schemas: SCHEMAS,
        collectors: [{ name: 'n', collect: (ctx) => ctx.record('vm_ticks_total', { vm: 'a' }, ++n, 'counter') }],
        remoteWrite: { url: down.url, exporter: 'rw', interval: '1s', maxRetries: 1, minBackoffMs: 1, maxBackoffMs: 5, logger: silent },
        onError: (source, e) => reported.push([source, e]),
        clock: clock.now,
        autoTick: false,
      });
      // Two seconds of ticks, the push of their samples fails; two more seconds, and it fails again.
      for (let round = 1; round <= 2; round++) {
        for (let i = 0; i < 2; i++) {
          await agent.tick();
          clock.step();
        }
        await agent.push();
        expect(agent.stats.pushErrors).toBe(round);
        expect(agent.stats.ticks).toBe(2 * round);
      }
      const stopAsked = clock.now();
      await expect(agent.stop()).resolves.toBeUndefined();

      expect(agent.stats.pushes).toBe(0);
      expect(agent.stats.pushErrors).toBe(3); // the two pushes, and the last one at stop()
      expect(down.requests.length).toBe(2 * agent.stats.pushErrors); // tried, and retried, each time
      const pushReports = reported.filter(([source]) => source === 'push');
      expect(pushReports).toHaveLength(agent.stats.pushErrors);
      expect(reported).toHaveLength(pushReports.length); // nothing else failed
      for (const [, e] of pushReports) {
        expect(e).toBeInstanceOf(RemoteWriteError);
        expect((e as RemoteWriteError).status).toBe(500);
      }

      const store = Store.open(dir);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'push' })!)?.[1]).toBe(agent.stats.pushErrors);
      expect(store.lastPoint(store.find('rondo_remote_write_samples_failed_total', { exporter: 'rw' })!)?.[1]).toBeGreaterThan(0);
      expect(store.lastPoint(store.find('rondo_remote_write_samples_sent_total', { exporter: 'rw' })!)?.[1]).toBe(0);
      const h = store.find('vm_ticks_total', { vm: 'a' })!;
      const local = store.query(h, { start: started - 1000, end: stopAsked + 1000, tier: 0 });
      const want: Array<[number, number]> = [];
      local.timestamps.forEach((t, i) => {
        const v = local.values[i];
        if (v !== undefined && !Number.isNaN(v)) want.push([t, v]);
      });
      // Every second of its life has its point, the last one from stop()'s tick: none lost while the receiver failed.
      expect(want).toEqual(secondsBetween(started, stopAsked).map((t, i) => [t, i + 1]));
      expect(n).toBe(5);
      // The cursor never moved: a push to a working receiver delivers all of it, and the stale marker stop() queued.
      expect(store.exporter('rw').committedSamples).toBe(0);
      const s = await pushTo(store, up.url, { exporter: 'rw', until: Infinity, logger: silent });
      expect(s.start).toBe(started);
      // In the order sent: every sample in time order, and the stale marker after them all (a
      // receiver refuses samples older than a series' newest, the marker included).
      const got = received(up).get('__name__=vm_ticks_total,vm=a') ?? [];
      expect(got.slice(0, -1)).toEqual(want);
      const marker = got.at(-1);
      expect(Number.isNaN(marker?.[1])).toBe(true);
      expect(marker?.[0]).toBe(stopAsked + 1000); // just after the last sample's interval
      expect(store.lastPoint(store.find('rondo_remote_write_samples_sent_total', { exporter: 'rw' })!)?.[1]).toBe(s.samples);
      store.close();
    } finally {
      await down.stop();
      await up.stop();
    }
  });

  it('a failing collector is counted, reported and recorded; the others and the host go on', async () => {
    const dir = tempDir();
    const reported: string[] = [];
    const broken = brokenCollector();
    const fine: Collector = { name: 'fine', collect: (ctx) => ctx.record('fine_value', {}, 42) };
    const clock = testClock();
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      collectors: [broken, fine],
      onError: (s, e) => reported.push(`${s}: ${(e as Error).message}`),
      clock: clock.now,
      autoTick: false,
    });
    for (let i = 0; i < 2; i++) {
      await agent.tick();
      clock.step();
    }
    await agent.stop();
    expect(broken.calls).toBe(3);
    expect(agent.stats.errors).toBe(3);
    expect(reported).toEqual(Array(3).fill('collector broken: sensor unplugged'));
    const store = Store.openReadOnly(dir);
    expect(store.lastPoint(store.find('fine_value')!)).toEqual([clock.now(), 42]);
    expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'collector' })!)).toEqual([clock.now(), 3]);
    store.close();
  });

  it("a collector's open() registers the series native code records: the agent's labels added, a refused one counted, all ended with stale markers", async () => {
    const up = await startFaultServer({ status: 200 });
    try {
      const dir = tempDir();
      const reported: string[] = [];
      let handles: Array<SeriesHandle | undefined> = [];
      let given: Store | undefined;
      // Registers in open() and records nothing in collect(): the store's native writers would.
      const native: Collector = {
        name: 'native',
        open(ctx) {
          handles = ctx.registerMany([
            { name: 'native_exits_total', labels: { vcpu: '0' }, kind: 'counter' },
            { name: 'not a name', labels: {} },
          ]);
          handles.push(ctx.register('native_exits_total', { vcpu: '0' }, 'counter')); // the same series again
          given = ctx.store;
        },
        collect() {},
      };
      const failing: Collector = {
        name: 'failing',
        open() {
          throw new Error('no device');
        },
        collect: (ctx) => ctx.record('still_recorded', {}, 1),
      };
      const clock = testClock();
      const agent = await Agent.start({
        dir,
        schemas: SCHEMAS,
        labels: { instance: 'vm1' },
        collectors: [native, failing],
        remoteWrite: { url: up.url, logger: silent },
        onError: (source, e) => reported.push(`${source}: ${(e as Error).message.split(';')[0]}`),
        clock: clock.now,
        autoTick: false,
      });
      expect(given).toBe(agent.store);
      expect(handles[0]?.labels).toEqual({ vcpu: '0', instance: 'vm1' });
      expect(handles[0]?.kind).toBe('counter');
      expect(handles[1]).toBeUndefined();
      expect(handles[2]).toBe(handles[0]);
      expect(reported).toHaveLength(2);
      expect(reported[0]).toMatch(/^series not a name/);
      expect(reported[1]).toBe('collector failing: no device');
      agent.store.record(handles[0]!, 7, clock.now()); // what the native writer would do
      await agent.tick();
      clock.step();
      await agent.stop();
      expect(agent.stats.errors).toBe(2);
      const pushed = [...received(up).entries()].find(([k]) => k.includes('__name__=native_exits_total'));
      expect(pushed, 'native_exits_total pushed').toBeDefined();
      const samples = pushed![1];
      expect(samples[0]![1]).toBe(7);
      expect(Number.isNaN(samples[samples.length - 1]![1])).toBe(true); // its stale marker
      const store = Store.openReadOnly(dir);
      expect(store.lastPoint(store.find('still_recorded', { instance: 'vm1' })!)?.[1]).toBe(1);
      store.close();
    } finally {
      await up.stop();
    }
  });

  it('counts failures per source: each rondo_agent_errors_total series holds its own source\'s count', async () => {
    const down = await startFaultServer({ status: 500 });
    try {
      const dir = tempDir();
      const broken = brokenCollector();
      const clock = testClock();
      const agent = await Agent.start({
        dir,
        schemas: SCHEMAS,
        collectors: [broken],
        remoteWrite: { url: down.url, maxRetries: 0, logger: silent },
        onError: silent,
        clock: clock.now,
        autoTick: false,
      });
      for (let i = 0; i < 3; i++) {
        await agent.tick();
        clock.step();
      }
      await agent.stop(); // a last tick, and the last push, which fails
      expect(broken.calls).toBe(4);
      expect(agent.stats.pushErrors).toBe(1);
      expect(agent.stats.errors).toBe(broken.calls + 1);
      const store = Store.openReadOnly(dir);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'collector' })!)?.[1]).toBe(broken.calls);
      expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'push' })!)?.[1]).toBe(1);
      store.close();
    } finally {
      await down.stop();
    }
  });

  it('does not keep the process alive: a host that never calls stop() still exits', async () => {
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
    const clock = testClock();
    const agent = await Agent.start({ dir, schemas: SCHEMAS, collectors: [promClientCollector(registry)], onError: silent, clock: clock.now, autoTick: false });
    await agent.tick();
    clock.step();
    c.inc({ image: 'alpine' }, 2);
    await agent.stop();
    const store = Store.openReadOnly(dir);
    const h = store.find('launches_total', { image: 'alpine' })!;
    const r = store.query(h, { start: clock.now() - 1000, end: clock.now(), tier: 0 });
    expect(Array.from(r.values)).toEqual([3, 5]);
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
    await expect(Agent.start({ dir: tempDir(), clock: 5 as unknown as () => number })).rejects.toMatchObject({ name: 'ConfigError' });
    await expect(Agent.start({ dir: tempDir(), autoTick: 'no' as unknown as boolean })).rejects.toMatchObject({ name: 'ConfigError' });
  });
});

describe('Agent pushing to a real Prometheus', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
  });
  afterAll(async () => prom?.stop());

  it('pushes while it runs and at stop(): every second arrives, and the ended series get stale markers', async () => {
    const dir = tempDir();
    const clock = testClock();
    const started = clock.now();
    let n = 0;
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      labels: { instance: 'vm-test' },
      collectors: [{ name: 'n', collect: (ctx) => ctx.record('vm_ticks_total', {}, ++n, 'counter') }],
      remoteWrite: { url: prom.url, interval: '1s', logger: silent },
      onError: silent,
      clock: clock.now,
      autoTick: false,
    });
    for (let i = 0; i < 3; i++) {
      await agent.tick();
      clock.step();
      await agent.push(); // what its push timer does: the seconds that have ended
    }
    expect(agent.stats.pushes).toBe(3); // pushed while running, not only at stop
    expect(agent.stats.pushErrors).toBe(0);
    await agent.stop();
    const stopped = clock.now();
    const sel = encodeURIComponent('vm_ticks_total{instance="vm-test"}[1m]');
    const r = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(`${prom.api}/api/v1/query?query=${sel}&time=${stopped / 1000 + 1}`);
    const got = new Map((r.data.result[0]?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]));
    const store = Store.openReadOnly(dir);
    const local = store.query(store.find('vm_ticks_total', { instance: 'vm-test' })!, { start: started - 1000, end: stopped, tier: 0 });
    const want = new Map<number, number>();
    local.timestamps.forEach((t, i) => {
      const v = local.values[i];
      if (v !== undefined && !Number.isNaN(v)) want.set(t, v);
    });
    expect([...want.keys()]).toEqual(secondsBetween(started, stopped));
    expect(got).toEqual(want);
    // A stale marker ended the series: an instant query just after stop() finds nothing.
    const now = await getJson<{ data: { result: unknown[] } }>(
      `${prom.api}/api/v1/query?query=${encodeURIComponent('vm_ticks_total{instance="vm-test"}')}&time=${stopped / 1000 + 2}`,
    );
    expect(now.data.result).toEqual([]);
    store.close();
  });
});
