// Hooks with the demo VMM on real KVM (docs/hooks.md): with a hook on the agent's store the KVM
// collector records on the tick (native capture never passes through JavaScript), so the example
// hook examples/hooks/ns-to-seconds.js sees every KVM statistic and the store holds them in seconds.
// And rondo-vmm run --hook FILE.wasm: a WebAssembly hook loaded by the CLI (its refusals need no KVM).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runVm } from '../demo-vmm/vmm';
import { Store, type Hook, type HookSample } from '../src/index';
import { KvmVm, probeKvm, kvmStatSeriesName } from '../src/kvm/index';
import { ROOT } from './fixtures/build';
import { tempDir } from './helpers';

const probe = probeKvm();

describe.skipIf(!probe.ok)('the demo VMM with the ns-to-seconds hook', () => {
  it("records KVM's nanosecond statistics in seconds, and the exits as the guest counted them", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const example = require('../examples/hooks/ns-to-seconds.js') as Hook & { secondsName(name: string, kind: string): string | undefined };
    const sources = new Set<string>();
    const seenNs: HookSample[] = [];
    const hook: Hook = {
      name: example.name,
      onSample(s) {
        sources.add(s.source);
        if (s.name.endsWith('_ns')) seenNs.push(s);
        return example.onSample!(s);
      },
    };
    const dir = tempDir();
    const r = await runVm({ durationMs: 2000, vcpus: 1, storeDir: dir, hooks: [hook] });
    expect([...sources]).toEqual(['agent']);
    const vm = new KvmVm({ vcpus: 1, durationMs: 1000 });
    const d = vm.statsDescriptors();
    vm.stop();
    const store = Store.openReadOnly(dir);
    const names = new Set(store.series().map((h) => h.name));
    const nsStats = [...d.vm.map((x) => ({ x, scope: 'vm' as const })), ...d.vcpu.map((x) => ({ x, scope: 'vcpu' as const }))].filter(({ x }) =>
      x.name.endsWith('_ns'),
    );
    for (const { x, scope } of nsStats) {
      const kind = x.type === 'cumulative' || x.type.endsWith('_hist') ? 'counter' : 'gauge';
      expect(names.has(kvmStatSeriesName(scope, x.name)), x.name).toBe(false);
      expect(names.has(example.secondsName(kvmStatSeriesName(scope, x.name), kind)!), x.name).toBe(true);
    }
    if (nsStats.length > 0) expect(seenNs.length).toBeGreaterThan(0);
    // Each value is the nanoseconds the hook was given, over 1e9.
    for (const s of seenNs.slice(-5)) {
      const h = store.find(example.secondsName(s.name, s.kind)!, s.labels)!;
      const at = Math.floor(s.timestamp / 1000) * 1000;
      const q = store.query(h, { start: at, end: at, tier: 0 });
      expect(q.values[0]).toBe(s.value / 1e9);
    }
    // Recorded by the tick, the exits still equal the guest's own counts.
    const exits = (reason: string): number => {
      const h = store.find('vmm_vcpu_exits_total', { vcpu: '0', reason })!;
      const v = store.query(h, { tier: 0 }).values.filter((x) => x === x);
      return v[v.length - 1]!;
    };
    expect(exits('io_in') + exits('io_out')).toBe(r.guest[0]!.ioIn + r.guest[0]!.ioOut);
    store.close();
  });
});

// rondo-vmm run --hook FILE.wasm: a WebAssembly hook, loaded as rondo serve --hook loads one.
const VMM = path.join(ROOT, 'dist', 'demo-vmm', 'cli.js');

/** A Wasm hook that drops every counter and keeps every gauge: on_sample returns the kind (0 gauge: keep, 1 counter: drop). */
async function dropCountersWasm(): Promise<string> {
  const binaryen = (await import('binaryen')).default;
  const m = binaryen.parseText('(module (func (export "on_sample") (param f64 f64 i32 i32) (result i32) (local.get 2)))');
  const file = path.join(tempDir(), 'drop-counters.wasm');
  fs.writeFileSync(file, m.emitBinary());
  m.dispose();
  return file;
}

function vmm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(process.execPath, [VMM, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : (c.exitCode ?? 1), stdout, stderr }),
    );
  });
}

describe('rondo-vmm run --hook FILE.wasm', () => {
  it('refuses a .wasm that is not a hook, as a usage error, before any VM', async () => {
    const bad = path.join(tempDir(), 'bad.wasm');
    fs.writeFileSync(bad, 'not wasm');
    const r = await vmm(['run', '--device', '/dev/kvm-missing', '--store', path.join(tempDir(), 's'), '--hook', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rondo-vmm run: --hook ".*bad\.wasm" is not a WebAssembly hook: hook bad: not a valid WebAssembly module/);
    const missing = await vmm(['run', '--device', '/dev/kvm-missing', '--store', path.join(tempDir(), 's'), '--hook', '/nonexistent/x.wasm']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--hook "\/nonexistent\/x\.wasm" cannot be read \(ENOENT\)/);
  });

  it.skipIf(!probe.ok)('runs the VM with a Wasm hook on every sample the agent records', async () => {
    const store = path.join(tempDir(), 'vm-metrics');
    const r = await vmm(['run', '--duration', '2s', '--vcpus', '1', '--store', store, '--hook', await dropCountersWasm()]);
    expect(r.code, r.stderr).toBe(0);
    const s = Store.openReadOnly(store);
    const series = s.series();
    // The gauges were kept (the VM's and the KVM statistics'), every counter dropped by the hook.
    expect(series.length).toBeGreaterThan(0);
    expect(series.filter((h) => h.kind === 'counter').map((h) => h.name)).toEqual([]);
    expect(s.find('vmm_vcpu_exits_total', { vcpu: '0', reason: 'io_out' })).toBeUndefined();
    s.close();
  }, 60_000);
});
