// Hooks with the demo VMM on real KVM (docs/hooks.md): with a hook on the agent's store the KVM
// collector records on the tick (native capture never passes through JavaScript), so the example
// hook examples/hooks/ns-to-seconds.js sees every KVM statistic and the store holds them in seconds.
import { describe, expect, it } from 'vitest';
import { runVm } from '../demo-vmm/vmm';
import { Store, type Hook, type HookSample } from '../src/index';
import { KvmVm, probeKvm, kvmStatSeriesName } from '../src/kvm/index';
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
