// Hooks at the doors that need a running agent or server (docs/hooks.md): the agent's tick goes on
// every second under a hook that always throws; `rondo serve --hook` runs a hook module on
// remote-write receive and Influx lines, and reports the hook's faults on /metrics.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, Store, type Collector } from '../src/index';
import { alignedPast, tempDir } from './helpers';
import { CLI, killServes, startServe, stopServe } from './support/serve-cli';
import { encodeWrite, postWrite, request } from './support/server-wire';

afterAll(killServes);


/** rondo serve run to its end: exit code and stderr. */
function runServe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr: err })));
}

// A hook module as an operator writes one: CommonJS, an array of two hooks.
const HOOK_MODULE = `
module.exports = [
  {
    name: 'units',
    onSample(s) {
      if (s.labels.noisy === 'yes') return false;
      if (s.name.endsWith('_ns')) return { name: s.name.slice(0, -3) + '_seconds', value: s.value / 1e9 };
      if (s.labels.vm !== undefined) return { labels: { ...s.labels, tenant: 'acme-' + s.source } };
    },
  },
  { name: 'broken', onSample(s) { if (s.name === 'explode') throw new Error('kaboom'); } },
];
`;

describe('rondo serve --hook', () => {
  it('runs a JavaScript hook module on remote-write receive and Influx lines, and shows its faults on /metrics', async () => {
    const dir = tempDir();
    const hookFile = path.join(tempDir(), 'hook.js');
    fs.writeFileSync(hookFile, HOOK_MODULE);
    const { child, url } = await startServe([dir, '--listen', '127.0.0.1:0', '--hook', hookFile]);
    const t = alignedPast(60_000, 1000);
    const rw = await postWrite(
      url,
      encodeWrite([
        { labels: { __name__: 'busy_ns' }, samples: [{ value: 2e9, ts: t }] },
        { labels: { __name__: 'mem', vm: 'vm1' }, samples: [{ value: 5, ts: t }] },
        { labels: { __name__: 'chatter', noisy: 'yes' }, samples: [{ value: 1, ts: t }] },
        { labels: { __name__: 'explode' }, samples: [{ value: 9, ts: t }] },
      ]),
    );
    expect(rw.status).toBe(204);
    const lp = await request(`${url}/write?precision=ms`, { body: Buffer.from(`disk,vm=vm2 used=7 ${t}\ndisk,noisy=yes used=1 ${t}\n`) });
    expect(lp.status).toBe(204);
    const metrics = (await request(`${url}/metrics`, { method: 'GET' })).text;
    expect(metrics).toContain('rondo_hook_errors_total{hook="broken"} 1');
    expect(metrics).toContain('rondo_hook_errors_total{hook="units"} 0');
    expect(metrics).toContain('rondo_hook_disabled{hook="broken"} 0');
    expect(await stopServe(child)).toBe(0);

    const store = Store.openReadOnly(dir);
    const value = (name: string, labels: Record<string, string>): number | undefined => {
      const h = store.find(name, labels);
      return h === undefined ? undefined : store.query(h, { start: t, end: t, tier: 0 }).values[0];
    };
    expect(value('busy_seconds', {})).toBe(2);
    expect(store.find('busy_ns')).toBeUndefined();
    expect(value('mem', { vm: 'vm1', tenant: 'acme-remote-write' })).toBe(5);
    expect(store.find('chatter', { noisy: 'yes' })).toBeUndefined();
    expect(value('explode', {})).toBe(9); // kept: the broken hook's onError is the default, keep
    const disk = store.series().filter((h) => h.name.startsWith('disk'));
    expect(disk.map((h) => h.labels)).toEqual([{ vm: 'vm2', tenant: 'acme-influx' }]);
    store.close();
  });

  it('refuses a .wasm file that is no WebAssembly hook, and a JavaScript file that is no hook', async () => {
    const dir = tempDir();
    const other = tempDir();
    const wasm = path.join(other, 'h.wasm');
    fs.writeFileSync(wasm, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    const r = await runServe([dir, '--listen', '127.0.0.1:0', '--hook', wasm]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a WebAssembly hook: hook h: exports neither on_sample nor rollup/);
    const notHook = path.join(other, 'nothook.js');
    fs.writeFileSync(notHook, 'module.exports = 42;');
    const r2 = await runServe([dir, '--listen', '127.0.0.1:0', '--hook', notHook]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/must export a hook/);
  });
});

const SCHEMAS = [
  { name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }, { interval: '10s', retention: '1h' }] },
];
const INPUT: Array<[string, Record<string, string>, number]> = [
  ['keep_me', {}, 7],
  ['other', { vm: 'vm1' }, 4],
];

/** A collector recording INPUT every tick. */
function inputCollector(): Collector {
  return { name: 'input', collect: (ctx) => INPUT.forEach(([name, labels, v]) => ctx.record(name, labels, v)) };
}

describe('faults in the agent', () => {
  it("the agent keeps ticking every second with a hook that always throws, and counts its faults", async () => {
    const dir = tempDir();
    const agent = await Agent.start({
      dir,
      schemas: SCHEMAS,
      hooks: [{ name: 'broken', maxConsecutiveFaults: 1_000_000, onSample: () => { throw new Error('always'); } }],
      hookLog: () => {},
      collectors: [inputCollector()],
      onError: () => {},
    });
    const before = agent.stats.ticks;
    await new Promise((r) => setTimeout(r, 4500));
    const ticks = agent.stats.ticks - before;
    const errors = agent.store.hookFigures()[0]!.errors;
    await agent.stop();
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(errors).toBeGreaterThan(ticks * INPUT.length - 1);
    // The samples were kept (onError 'keep'), the hook's faults recorded by the agent.
    const store = Store.openReadOnly(dir);
    const h = store.find('keep_me')!;
    expect(store.query(h, { tier: 0 }).values.filter((v) => v === 7).length).toBeGreaterThanOrEqual(3);
    expect(store.find('rondo_hook_errors_total', { hook: 'broken' })).toBeDefined();
    store.close();
  });
});
