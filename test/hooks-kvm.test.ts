// Hooks with the demo VMM on real KVM (docs/hooks.md): with a hook on the agent's store the KVM
// collector records on the tick (native capture never passes through JavaScript), so a hook sees
// every KVM statistic, already in base units (the example hook examples/hooks/ns-to-seconds.js
// finds no nanosecond name to rename), under the same names and values the native capture gives.
// And rondo-vmm run --hook FILE.wasm: a WebAssembly hook loaded by the CLI (its refusals need no KVM).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runVm } from '../demo-vmm/vmm';
import { Store, type Hook, type HookSample } from '../src/index';
import { KvmVm, probeKvm, kvmStatSeries } from '../src/kvm/index';
import { ROOT } from './fixtures/build';
import { tempDir } from './helpers';

const probe = probeKvm();

describe.skipIf(!probe.ok)('the demo VMM with the ns-to-seconds hook', () => {
  it("passes every KVM statistic through the hook, in seconds already, and the exits as the guest counted them", async () => {
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
    // The tick records every series of every statistic (as the native capture would), and none
    // reaches the hook under a nanosecond name: the collector scales them to seconds itself.
    for (const s of [...kvmStatSeries('vm', d.vm), ...kvmStatSeries('vcpu', d.vcpu)]) expect(names.has(s.name), s.name).toBe(true);
    expect(seenNs).toEqual([]);
    expect([...names].filter((n) => /_ns$/.test(n))).toEqual([]);
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
