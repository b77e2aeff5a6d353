// WebAssembly hooks (src/hooks/wasm.ts, docs/hooks.md "WebAssembly hooks"): the AssemblyScript
// example compiled here and checked against its JavaScript twin on 10 000 seeded samples; every
// decision made by Wasm; the C example compiled with clang and its p99 rollup; the isolation of a
// hook: a trap, an endless loop, a memory that grows without bound, a module over its memory limit.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Hook, HookResult, HookSample, SampleSource } from '../src/hooks';
import { decodeWasmLabels, encodeWasmLabels, limitWasmMemory, loadWasmHook, WasmHookError } from '../src/hooks/wasm';
import { Agent, ConfigError, Store, type Collector } from '../src/index';
import { ingest } from '../src/ingest';
import { ROOT } from './fixtures/build';
import { alignedPast, suiteTempDir, tempDir } from './helpers';
import { encodeWrite, postWrite, request } from './support/server-wire';
import { suiteSeed, xorshift32 } from './fixtures/random';

const SEED = suiteSeed('RONDO_HOOKS_SEED', 1, 'hooks-wasm');
const EXAMPLES = path.join(ROOT, 'examples', 'hooks');

/** A module from WebAssembly text, by binaryen (the tool the loader instruments with). */
async function wat(text: string): Promise<Uint8Array> {
  const binaryen = (await import('binaryen')).default;
  const m = binaryen.parseText(text);
  try {
    m.setFeatures(binaryen.Features.All);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

const ON_SAMPLE = '(param $value f64) (param $ts f64) (param $kind i32) (param $source i32) (result i32)';

function sample(over: Partial<HookSample> = {}): HookSample {
  return { name: 'cpu_usage', labels: {}, value: 1, timestamp: 1_700_000_000_000, kind: 'gauge', source: 'record', ...over };
}

/** A result as data: 'keep', 'drop' or the change with its labels sorted. */
function outcome(r: HookResult): unknown {
  if (r === false) return 'drop';
  if (r === null || typeof r !== 'object') return 'keep';
  const o: Record<string, unknown> = { ...r };
  if (r.labels !== undefined) o.labels = Object.fromEntries(Object.entries(r.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return o;
}

const SOURCES: SampleSource[] = ['agent', 'record', 'remote-write', 'influx', 'statsd', 'fossil'];

/** Samples that reach every branch of the tenant hook, and some that reach none. */
function corpus(n: number, seed: number): HookSample[] {
  const rnd = xorshift32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const names = ['cpu_usage', 'debug_trace', 'kvm_exits_ns', 'wild_total', 'net_rx_bytes', 'steal_ns', 'débit_ns', 'debug', 'x_ns_y'];
  const vms = ['acme-7', 'acme-corp-12', 'solo', '-lead', 'ünï-3', 'tail-'];
  const out: HookSample[] = [];
  for (let i = 0; i < n; i++) {
    const labels: Record<string, string> = {};
    if (rnd() < 0.6) labels.vm = pick(vms);
    if (rnd() < 0.2) labels.tenant = pick(['blue', 'green']);
    if (rnd() < 0.5) labels.host = `h${Math.floor(rnd() * 100)}`;
    if (rnd() < 0.05) labels.long = 'x'.repeat(300 + Math.floor(rnd() * 2000));
    const name = rnd() < 0.02 ? `m_${'y'.repeat(1100)}_ns` : pick(names);
    const value = pick([rnd() * 1e13, rnd() * 100, -rnd() * 1e9, 0, 2e12, 1e12 + 1]);
    const timestamp = 1_700_000_000_000 + Math.floor(rnd() * 1e7);
    out.push({ name, labels, value, timestamp, kind: rnd() < 0.5 ? 'gauge' : 'counter', source: pick(SOURCES) });
  }
  return out;
}

const SCHEMAS = [
  { name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
];

/** The value a store holds for a series at t (tier 0), or undefined without the series. */
function at(store: Store, name: string, labels: Record<string, string>, t: number): number | undefined {
  const h = store.find(name, labels);
  return h === undefined ? undefined : store.query(h, { start: t, end: t, tier: 0 }).values[0];
}

describe('the AssemblyScript example (examples/hooks/tenant)', () => {
  let wasm: Uint8Array;
  let twin: Hook;
  const out = path.join(suiteTempDir(), 'tenant.wasm');
  beforeAll(() => {
    const asc = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), 'assembly/index.ts', '--config', 'asconfig.json', '--target', 'release', '-o', out],
      { cwd: path.join(EXAMPLES, 'tenant'), encoding: 'utf8' },
    );
    expect(asc.status, `asc: ${asc.stderr}`).toBe(0);
    wasm = new Uint8Array(fs.readFileSync(out));
    twin = require(path.join(EXAMPLES, 'tenant', 'tenant.js')) as Hook;
  }, 120_000);

  it('decides as its JavaScript twin on 10 000 samples', async () => {
    const hook = await loadWasmHook(wasm, { name: 'tenant' });
    const samples = corpus(10_000, SEED);
    const seen = new Map<string, number>();
    for (const s of samples) {
      const fromWasm = outcome(hook.onSample!(s));
      const fromJs = outcome(twin.onSample!(s));
      expect(fromWasm, JSON.stringify(s).slice(0, 300)).toEqual(fromJs);
      const kind = typeof fromJs === 'string' ? fromJs : Object.keys(fromJs as object).sort().join('+');
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
    // The corpus reached every decision.
    const kinds = [...seen.keys()].join(' ');
    for (const k of ['keep', 'drop', 'value', 'name', 'labels', 'timestamp']) expect(kinds).toContain(k);
    expect(hook.restarts).toBe(0);
  });

  it('makes every decision: keep, drop, change value, rename, relabel, retime', async () => {
    const hook = await loadWasmHook(wasm, { name: 'tenant' });
    expect(hook.onSample!(sample({ name: 'cpu_usage', labels: { host: 'a' } }))).toBeUndefined();
    expect(hook.onSample!(sample({ name: 'debug_trace' }))).toBe(false);
    expect(hook.onSample!(sample({ name: 'wild_total', value: 5e12 }))).toEqual({ value: 1e12 });
    expect(hook.onSample!(sample({ name: 'steal_ns', value: 2.5e9 }))).toEqual({ name: 'steal_seconds', value: 2.5 });
    expect(hook.onSample!(sample({ labels: { vm: 'acme-7', host: 'a' } }))).toEqual({ labels: { vm: 'acme-7', host: 'a', tenant: 'acme' } });
    expect(hook.onSample!(sample({ source: 'statsd', timestamp: 1_700_000_000_123 }))).toEqual({ timestamp: 1_700_000_000_000 });
    expect(hook.onSample!(sample({ source: 'statsd', timestamp: 1_700_000_000_000 }))).toBeUndefined();
  });

  it('decides through a store: record() and the ingest path', async () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: SCHEMAS, hooks: [await loadWasmHook(wasm, { name: 'tenant' })] });
    const t = alignedPast(60_000, 1000);
    store.record(store.register('steal_ns', { vm: 'acme-7' }), 2.5e9, t);
    store.record(store.register('debug_trace', {}), 1, t);
    store.record(store.register('wild_total', {}, { kind: 'counter' }), 5e12, t);
    store.record(store.register('cpu_usage', { host: 'a' }), 0.5, t);
    const r = ingest(store, [
      { name: 'mem_ns', labels: { vm: 'solo' }, value: 3e9, timestampMs: t, source: 'remote_write' },
      { name: 'debug_x', labels: {}, value: 1, timestampMs: t, source: 'remote_write' },
    ]);
    expect(r.stored).toBe(1);
    // Renamed, the value changed, relabelled: the sample went to the series the hook named.
    expect(at(store, 'steal_seconds', { vm: 'acme-7', tenant: 'acme' }, t)).toBe(2.5);
    expect(at(store, 'steal_ns', { vm: 'acme-7' }, t)).toBeNaN();
    expect(at(store, 'mem_seconds', { vm: 'solo', tenant: 'default' }, t)).toBe(3);
    expect(at(store, 'debug_trace', {}, t)).toBeNaN();
    expect(store.find('debug_x', {})).toBeUndefined();
    expect(at(store, 'wild_total', {}, t)).toBe(1e12);
    expect(at(store, 'cpu_usage', { host: 'a' }, t)).toBe(0.5);
    expect(store.hookFigures()[0]).toMatchObject({ hook: 'tenant', errors: 0 });
    store.close();
  });

  it("decides on the agent's samples", async () => {
    const dir = tempDir();
    const collector: Collector = {
      name: 'input',
      collect: (ctx) => {
        ctx.record('steal_ns', { vm: 'acme-1' }, 5e8);
        ctx.record('debug_counter', {}, 1);
        ctx.record('cpu_usage', { host: 'a' }, 0.25);
      },
    };
    const agent = await Agent.start({ dir, schemas: SCHEMAS, hooks: [await loadWasmHook(wasm, { name: 'tenant' })], collectors: [collector], onError: () => {} });
    const before = agent.stats.ticks;
    while (agent.stats.ticks < before + 2) await new Promise((r) => setTimeout(r, 100));
    await agent.stop();
    const store = Store.openReadOnly(dir);
    const values = (name: string, labels: Record<string, string>): number[] => {
      const h = store.find(name, labels);
      return h === undefined ? [] : Array.from(store.query(h, { tier: 0 }).values).filter((v) => !Number.isNaN(v));
    };
    expect(values('steal_seconds', { vm: 'acme-1', tenant: 'acme' })).toContain(0.5);
    expect(store.find('steal_ns', { vm: 'acme-1' })).toBeUndefined();
    expect(store.find('debug_counter', {})).toBeUndefined();
    expect(values('cpu_usage', { host: 'a' })).toContain(0.25);
    store.close();
  });

  it('a { wasm: bytes } entry: Agent.start loads it; Store.open, synchronous, refuses it saying to await loadWasmHook', async () => {
    const dir = tempDir();
    // Store.open cannot wait for the module to be instrumented and compiled: a ConfigError that says what to do, nothing opened.
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ wasm } as unknown as Hook] })).toThrow(ConfigError);
    expect(() => Store.open(dir, { schemas: SCHEMAS, hooks: [{ wasm } as unknown as Hook] })).toThrow(/hooks: \[await loadWasmHook\(bytes, options\)\]/);
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
    const collector: Collector = { name: 'input', collect: (ctx) => ctx.record('steal_ns', { vm: 'acme-1' }, 5e8) };
    // A bad entry is refused by start() before any store is opened.
    await expect(Agent.start({ dir, schemas: SCHEMAS, hooks: [{ wasm: new Uint8Array([0, 97, 115, 109]) }], collectors: [collector] })).rejects.toThrow(
      /hooks\[0\] is not a WebAssembly hook/,
    );
    // The options beside wasm are loadWasmHook's; a JavaScript hook after it sees what it gave.
    const seen: string[] = [];
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      hooks: [{ wasm, name: 'tenant-bytes', maxConsecutiveFaults: 5 }, { name: 'after', onSample: (s) => void seen.push(s.name) }],
      collectors: [collector],
      onError: () => {},
    });
    const before = agent.stats.ticks;
    while (agent.stats.ticks < before + 1) await new Promise((r) => setTimeout(r, 100));
    expect(agent.store.hookFigures().map((f) => f.hook)).toEqual(['tenant-bytes', 'after']);
    expect(seen).toContain('steal_seconds');
    expect(seen).not.toContain('steal_ns');
    await agent.stop();
    const store = Store.openReadOnly(dir);
    expect(store.find('steal_seconds', { vm: 'acme-1', tenant: 'acme' })).toBeDefined();
    expect(store.find('steal_ns', { vm: 'acme-1' })).toBeUndefined();
    store.close();
  });

  it('runs in rondo serve --hook tenant.wasm on remote-write receive and Influx lines', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', dir, '--listen', '127.0.0.1:0', '--hook', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = alignedPast(60_000, 1000);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout!.on('data', (c: Buffer) => {
          text += c.toString();
          const m = /on (https?:\/\/\S+)/.exec(text);
          if (m !== null && text.includes('\n')) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`rondo serve exited with ${code}: ${stderr}`)));
      });
      const rw = await postWrite(url, encodeWrite([{ labels: { __name__: 'busy_ns', vm: 'acme-3' }, samples: [{ value: 4e9, ts: t }] }, { labels: { __name__: 'debug_a' }, samples: [{ value: 1, ts: t }] }]));
      expect(rw.status).toBe(204);
      const lp = await request(`${url}/write?precision=ms`, { body: Buffer.from(`disk,vm=solo used=7 ${t}\n`) });
      expect(lp.status).toBe(204);
      const metrics = (await request(`${url}/metrics`, { method: 'GET' })).text;
      expect(metrics).toContain('rondo_hook_errors_total{hook="tenant"} 0');
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
    }
    const store = Store.openReadOnly(dir);
    expect(at(store, 'busy_seconds', { vm: 'acme-3', tenant: 'acme' }, t)).toBe(4);
    expect(store.find('debug_a', {})).toBeUndefined();
    expect(store.series().filter((h) => h.name.startsWith('disk')).map((h) => h.labels)).toEqual([{ vm: 'solo', tenant: 'default' }]);
    store.close();
  });
});

/** The 99th percentile by nearest rank. */
function p99(values: ArrayLike<number>): number {
  const v = Array.from(values).sort((a, b) => a - b);
  return v[Math.max(0, Math.ceil(0.99 * v.length) - 1)]!;
}

describe('the C example (examples/hooks/p99)', () => {
  const clang = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0;
  if (!clang) console.log('hooks-wasm: the C example is skipped: clang and wasm-ld are not installed (Debian: apt-get install clang lld)');
  const out = path.join(suiteTempDir(), 'p99.wasm');
  beforeAll(() => {
    if (!clang) return;
    const cc = spawnSync(
      'clang',
      ['--target=wasm32', '-nostdlib', '-Wl,--no-entry', '-Wl,--export-dynamic', '-O2', '-o', out, path.join(EXAMPLES, 'p99', 'p99.c')],
      { encoding: 'utf8' },
    );
    expect(cc.status, `clang: ${cc.stderr}`).toBe(0);
  }, 60_000);

  it.skipIf(!clang)('compiles with clang for wasm32, keeps samples and rolls a bucket up to its p99', async () => {
    const hook = await loadWasmHook(out);
    expect(hook.name).toBe('p99');
    expect(hook.rollupTiers).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(hook.onSample!(sample())).toBeUndefined();
    const rnd = xorshift32(SEED ^ 0x99);
    for (const n of [1, 2, 99, 100, 101, 1000, 86_400]) {
      const ts = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 1000);
      const vs = Float64Array.from({ length: n }, () => Math.round((rnd() - 0.3) * 1e6) / 100);
      const expected = p99(vs);
      const ctx = { schema: 's', tier: 1, series: 'x', start: ts[0]!, end: ts[0]! + n * 1000 };
      expect(hook.rollup![1]!(ts, vs, ctx), `p99 of ${n} points`).toBe(expected);
      // The host's arrays are left as they were (the module sorts its own copy).
      expect(vs.length).toBe(n);
    }
  });

  it.skipIf(!clang)('its p99 rollup gives each bucket of a store the p99 of its raw points, across a restart', async () => {
    const dir = tempDir();
    const start = alignedPast(400_000, 10_000);
    const raw = new Map<number, number[]>();
    const rnd = xorshift32(SEED ^ 0x5199);
    const fill = (store: Store, from: number, buckets: number): void => {
      const h = store.register('latency');
      for (let b = 0; b < buckets; b++) {
        const bs = from + b * 10_000;
        const vs: number[] = [];
        for (let i = 0; i < 10; i++) {
          const v = Math.round(rnd() * 100_000) / 100;
          store.record(h, v, bs + i * 1000);
          vs.push(v);
        }
        raw.set(bs, vs);
      }
    };
    let store = Store.open(dir, { schemas: SCHEMAS, hooks: [await loadWasmHook(out)] });
    fill(store, start, 6);
    store.consolidate({ now: start + 6 * 10_000 });
    store.close();
    // Reopened with the hook loaded again: consolidation goes on from its cursor.
    store = Store.open(dir, { hooks: [await loadWasmHook(out)] });
    fill(store, start + 60_000, 6);
    store.consolidate({ now: start + 12 * 10_000 });
    const r = store.query(store.find('latency')!, { start, end: start + 11 * 10_000, tier: 1 });
    expect(r.timestamps.length).toBe(12);
    for (let i = 0; i < 12; i++) {
      const vs = raw.get(r.timestamps[i]!)!;
      // The tier keeps float32: the p99 rounded to it (the built-in average would differ).
      expect(r.values[i], `bucket ${i}`).toBe(Math.fround(p99(vs)));
      expect(p99(vs)).not.toBeCloseTo(vs.reduce((a, b) => a + b, 0) / vs.length, 3);
    }
    expect(store.hookFigures()[0]).toMatchObject({ hook: 'p99', errors: 0 });
    store.close();
    const again = Store.openReadOnly(dir);
    expect(Array.from(again.query(again.find('latency')!, { start, end: start + 11 * 10_000, tier: 1 }).values)).toEqual(Array.from(r.values));
    again.close();
  });
});

describe('isolation', () => {
  it('a trap is a fault, and the next call runs on a fresh instance', async () => {
    const bytes = await wat(`(module
      (memory (export "memory") 1)
      (global $calls (mut i32) (i32.const 0))
      (func (export "on_sample") ${ON_SAMPLE}
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (if (f64.lt (local.get $value) (f64.const 0)) (then (unreachable)))
        ;; drops the sample on its second call on one instance: a fresh instance keeps it again
        (i32.ne (global.get $calls) (i32.const 1))))`);
    const hook = await loadWasmHook(bytes, { name: 'trapper' });
    expect(hook.onSample!(sample({ value: 1 }))).toBeUndefined();
    expect(() => hook.onSample!(sample({ value: -1 }))).toThrow(WasmHookError);
    try {
      hook.onSample!(sample({ value: -1 }));
    } catch (e) {
      expect((e as WasmHookError).reason).toBe('trap');
      expect((e as Error).message).toMatch(/hook trapper: trapped: unreachable/);
    }
    expect(hook.restarts).toBe(2);
    expect(hook.onSample!(sample({ value: 1 }))).toBeUndefined();
    expect(hook.onSample!(sample({ value: 1 }))).toBe(false);
  });

  it('an endless loop is stopped when its fuel runs out, and the hook answers again afterwards', async () => {
    const bytes = await wat(`(module
      (func (export "on_sample") ${ON_SAMPLE}
        (if (f64.lt (local.get $value) (f64.const 0)) (then (loop $forever (br $forever))))
        (i32.const 0)))`);
    const hook = await loadWasmHook(bytes, { name: 'spinner', fuel: 100_000 });
    let error: unknown;
    try {
      hook.onSample!(sample({ value: -1 }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WasmHookError);
    expect((error as WasmHookError).reason).toBe('fuel');
    expect(hook.onSample!(sample({ value: 1 }))).toBeUndefined();
    // Fuel is per call: many calls that each loop a little never run out.
    const counting = await loadWasmHook(
      await wat(`(module (func (export "on_sample") ${ON_SAMPLE} (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 900))))
        (i32.const 0)))`),
      { fuel: 1000 },
    );
    for (let i = 0; i < 100; i++) expect(counting.onSample!(sample())).toBeUndefined();
  });

  it('recursion without end is a fault', async () => {
    const hook = await loadWasmHook(
      await wat(`(module (func $f (export "on_sample") ${ON_SAMPLE} (call $f (local.get 0) (local.get 1) (local.get 2) (local.get 3))))`),
      { fuel: 100_000_000 },
    );
    expect(() => hook.onSample!(sample())).toThrow(WasmHookError);
  });

  it('memory cannot grow past the limit: grow returns -1, and a module that insists is stopped', async () => {
    // Grows a page per call, answering drop while it can and keep once refused.
    const polite = await loadWasmHook(
      await wat(`(module (memory (export "memory") 1)
        (func (export "on_sample") ${ON_SAMPLE} (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))`),
      { memoryLimitPages: 4 },
    );
    expect([1, 2, 3, 4, 5].map(() => polite.onSample!(sample()))).toEqual([false, false, false, undefined, undefined]);
    // Traps when refused: a fault.
    const trapping = await loadWasmHook(
      await wat(`(module (memory (export "memory") 1 65536)
        (func (export "on_sample") ${ON_SAMPLE}
          (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
          (unreachable)))`),
      { memoryLimitPages: 16 },
    );
    expect(() => trapping.onSample!(sample())).toThrow(/trapped/);
    // Ignores the refusal and keeps asking: stopped by its fuel.
    const insisting = await loadWasmHook(
      await wat(`(module (memory (export "memory") 1)
        (func (export "on_sample") ${ON_SAMPLE} (loop $l (drop (memory.grow (i32.const 1))) (br $l)) (i32.const 0)))`),
      { memoryLimitPages: 16, fuel: 10_000 },
    );
    expect(() => insisting.onSample!(sample())).toThrow(/out of fuel/);
  });

  it('refuses at load a module over its memory limit, importing what the host does not give, or without on_sample or rollup', async () => {
    await expect(loadWasmHook(await wat(`(module (memory (export "memory") 32) (func (export "on_sample") ${ON_SAMPLE} (i32.const 0)))`), { memoryLimitPages: 16 })).rejects.toThrow(
      /starts with 32 pages of memory, over the limit of 16/,
    );
    await expect(
      loadWasmHook(await wat(`(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "on_sample") ${ON_SAMPLE} (i32.const 0)))`)),
    ).rejects.toThrow(/imports wasi_snapshot_preview1.fd_write/);
    await expect(loadWasmHook(await wat(`(module (func (export "f")))`))).rejects.toThrow(/neither on_sample nor rollup/);
    await expect(loadWasmHook(await wat(`(module (func (export "on_sample") (param f64) (result i32) (i32.const 0)))`))).rejects.toThrow(/on_sample must be/);
    await expect(loadWasmHook(new Uint8Array([1, 2, 3]))).rejects.toThrow(/not a valid WebAssembly module/);
  });

  it('lowers a larger declared maximum to the limit in the binary', async () => {
    const bytes = await wat(`(module (memory (export "memory") 2 100)
      (func (export "on_sample") ${ON_SAMPLE} (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))`);
    const limited = limitWasmMemory(bytes, 8);
    expect(limited).not.toBe(bytes);
    for (const unmetered of [false, true]) {
      const hook = await loadWasmHook(bytes, { memoryLimitPages: 8, unmetered });
      // 2 pages to start with, 6 more granted (drop), then refused (keep).
      const answers = Array.from({ length: 8 }, () => hook.onSample!(sample()));
      expect(answers).toEqual([false, false, false, false, false, false, undefined, undefined]);
    }
    // A maximum under the limit is left as it is.
    expect(limitWasmMemory(bytes, 1000)).toBe(bytes);
  });

  it('a bad result, an out-of-bounds name, an import called outside on_sample are faults', async () => {
    const bad = await loadWasmHook(await wat(`(module (func (export "on_sample") ${ON_SAMPLE} (i32.const 7)))`));
    expect(() => bad.onSample!(sample())).toThrow(/on_sample returned 7/);
    const oob = await loadWasmHook(
      await wat(`(module (import "env" "set_name" (func $set_name (param i32 i32))) (memory (export "memory") 1)
        (func (export "on_sample") ${ON_SAMPLE} (call $set_name (i32.const 65530) (i32.const 100)) (i32.const 0)))`),
    );
    expect(() => oob.onSample!(sample())).toThrow(/outside its memory/);
    const badUtf8 = await loadWasmHook(
      await wat(`(module (import "env" "set_name" (func $set_name (param i32 i32))) (memory (export "memory") 1) (data (i32.const 0) "\\ff\\fe")
        (func (export "on_sample") ${ON_SAMPLE} (call $set_name (i32.const 0) (i32.const 2)) (i32.const 0)))`),
    );
    expect(() => badUtf8.onSample!(sample())).toThrow(WasmHookError);
  });

  it('env.log reaches the host with the hook name', async () => {
    const lines: string[] = [];
    const hook = await loadWasmHook(
      await wat(`(module (import "env" "log" (func $log (param i32 i32))) (memory (export "memory") 1) (data (i32.const 16) "h\\c3\\a9llo")
        (func (export "on_sample") ${ON_SAMPLE} (call $log (i32.const 16) (i32.const 6)) (i32.const 0)))`),
      { name: 'talker', log: (h, m) => lines.push(`${h}: ${m}`) },
    );
    hook.onSample!(sample());
    expect(lines).toEqual(['talker: héllo']);
  });
});

describe('the label encoding', () => {
  it('round-trips, sorted by name, and refuses truncated input', () => {
    const labels = { zone: 'é', a: '', vm: 'acme-7' };
    const bytes = encodeWasmLabels(labels);
    expect(decodeWasmLabels(bytes)).toEqual(labels);
    expect(Object.keys(decodeWasmLabels(bytes))).toEqual(['a', 'vm', 'zone']);
    expect(() => decodeWasmLabels(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => decodeWasmLabels(new Uint8Array([1, 0, 0]))).toThrow();
  });
});

describe('faults through a store and the agent', () => {
  const TRAP = `(module (func (export "on_sample") ${ON_SAMPLE} (if (i32.eq (local.get $kind) (i32.const 1)) (then (unreachable))) (i32.const 0)))`;
  const SPIN = `(module (func (export "on_sample") ${ON_SAMPLE} (loop $l (br $l)) (i32.const 0)))`;
  const GROW = `(module (memory (export "memory") 1)
    (func (export "on_sample") ${ON_SAMPLE} (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)))`;

  it('a trapping hook is counted, its sample kept or dropped per onError, and disabled after N with a logged reason', async () => {
    const dir = tempDir();
    const logged: string[] = [];
    const store = Store.open(dir, {
      schemas: SCHEMAS,
      hooks: [
        await loadWasmHook(await wat(TRAP), { name: 'trap-drop', onError: 'drop', maxConsecutiveFaults: 100 }),
        await loadWasmHook(await wat(SPIN), { name: 'spin', fuel: 10_000, maxConsecutiveFaults: 3 }),
      ],
      hookLog: (m) => logged.push(m),
    });
    const counter = store.register('c_total', {}, { kind: 'counter' });
    const gauge = store.register('g', {});
    const t0 = alignedPast(120_000, 1000);
    for (let i = 0; i < 5; i++) {
      store.record(counter, i, t0 + i * 1000);
      store.record(gauge, i, t0 + i * 1000);
    }
    const [trap, spin] = store.hookFigures();
    expect(trap).toMatchObject({ hook: 'trap-drop', errors: 5, disabled: false });
    // The spinning hook faulted on its first 3 samples (kept: its onError is the default), then was disabled.
    expect(spin).toMatchObject({ hook: 'spin', errors: 3, disabled: true });
    expect(spin!.reason).toMatch(/out of fuel/);
    expect(logged.some((l) => /hook spin disabled after 3 consecutive faults/.test(l))).toBe(true);
    expect(store.query(counter, { start: t0, end: t0 + 4000, tier: 0 }).values.every((v) => Number.isNaN(v))).toBe(true);
    expect(Array.from(store.query(gauge, { start: t0, end: t0 + 4000, tier: 0 }).values)).toEqual([0, 1, 2, 3, 4]);
    store.close();
    const ro = Store.openReadOnly(dir);
    expect(Array.from(ro.query(ro.find('g')!, { start: t0, end: t0 + 4000, tier: 0 }).values)).toEqual([0, 1, 2, 3, 4]);
    ro.close();
  });

  it('the agent keeps ticking every second with hooks in an endless loop and growing their memory without bound, and counts their faults', async () => {
    const dir = tempDir();
    const input: Collector = { name: 'input', collect: (ctx) => ctx.record('keep_me', {}, 7) };
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      hooks: [
        await loadWasmHook(await wat(SPIN), { name: 'spin', maxConsecutiveFaults: 1_000_000 }),
        await loadWasmHook(await wat(GROW), { name: 'grow', memoryLimitPages: 64, maxConsecutiveFaults: 1_000_000 }),
      ],
      hookLog: () => {},
      collectors: [input],
      onError: () => {},
    });
    const before = agent.stats.ticks;
    await new Promise((r) => setTimeout(r, 4500));
    const ticks = agent.stats.ticks - before;
    const [spin, grow] = agent.store.hookFigures();
    await agent.stop();
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(spin!.errors).toBeGreaterThanOrEqual(ticks);
    expect(grow!.errors).toBeGreaterThanOrEqual(ticks);
    const store = Store.openReadOnly(dir);
    expect(store.query(store.find('keep_me')!, { tier: 0 }).values.filter((v) => v === 7).length).toBeGreaterThanOrEqual(3);
    expect(store.find('rondo_hook_errors_total', { hook: 'spin' })).toBeDefined();
    expect(store.find('rondo_hook_errors_total', { hook: 'grow' })).toBeDefined();
    store.close();
  });
});
