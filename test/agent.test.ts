import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Store, type Collector } from '../src/index';
import { ensureBuilt, ROOT } from './fixtures/build';
import { tempDir } from './helpers';
import { ensureReceiversInstalled, getJson, startPrometheus, type PrometheusReceiver } from './support/receivers';

const SCHEMAS = [{ name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] }];
const silent = () => {};

/** Seconds (interval starts) from the one holding `from` to the one holding `to`. */
function secondsBetween(from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(from / 1000) * 1000; t <= to; t += 1000) out.push(t);
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

  it('a failing collector is counted, reported and recorded; the others and the host go on', async () => {
    const dir = tempDir();
    const reported: string[] = [];
    let calls = 0;
    const broken: Collector = {
      name: 'broken',
      collect() {
        calls++;
        throw new Error('sensor unplugged');
      },
    };
    const fine: Collector = { name: 'fine', collect: (ctx) => ctx.record('fine_value', {}, 42) };
    const agent = await Agent.start({ dir, schemas: SCHEMAS, collectors: [broken, fine], onError: (s, e) => reported.push(`${s}: ${(e as Error).message}`) });
    await agent.tick();
    await agent.stop();
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(agent.stats.errors).toBe(calls);
    expect(reported[0]).toBe('collector broken: sensor unplugged');
    const store = Store.openReadOnly(dir);
    expect(store.lastPoint(store.find('fine_value')!)![1]).toBe(42);
    expect(store.lastPoint(store.find('rondo_agent_errors_total', { source: 'collector' })!)![1]).toBe(calls);
    store.close();
  });

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
    const { promClientCollector } = await import('../src/collectors/prom-client');
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
