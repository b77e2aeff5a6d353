// The native per-interval capture of the KVM layer (KvmVm.captureInto, kvmCollector's default;
// native/kvm/capture.h, docs/architecture.md "Native capture") on the real /dev/kvm: the vCPU
// threads and the sampler thread record every interval of every VM into its store, whatever the
// JavaScript event loop does; a fleet of 100 VMs in one process keeps every second of each; native
// and JavaScript writers share a store without losing or garbling each other's values.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFleet } from '../demo-vmm/fleet';
import { vmSchemas } from '../demo-vmm/vmm';
import { Agent, ConfigError, ReadOnlyError, Store, formatSeries, processCollector } from '../src/index';
import { KVM_EXIT_REASONS, KvmError, KvmVm, kvmCollector, probeKvm } from '../src/kvm/index';
import { processCounts, tempDir, type ProcessCounts } from './helpers';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the native capture tests: ${probe.reason}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The interval starts (ms) from the one `fromMs` falls in to the one `toMs` falls in. */
function intervals(fromMs: number, toMs: number, stepMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(fromMs / stepMs) * stepMs; t <= toMs; t += stepMs) out.push(t);
  return out;
}

/** Every exit counter series of the store (each vCPU, each reason): the intervals of `at` it has no point in. */
function exitCounterGaps(store: Store, at: number[], stepMs: number): Map<string, number[]> {
  const gaps = new Map<string, number[]>();
  const rows = store.select('vmm_vcpu_exits_total', { start: at[0]!, end: at[at.length - 1]!, tier: 0 });
  for (const r of rows) {
    const missing = at.filter((t) => {
      const i = (t - r.timestamps[0]!) / stepMs;
      return !(i >= 0 && i < r.values.length) || Number.isNaN(r.values[i]!);
    });
    gaps.set(formatSeries(r.name, r.labels), missing);
  }
  return gaps;
}

async function expectBackTo(before: ProcessCounts): Promise<void> {
  for (let i = 0; i < 100 && JSON.stringify(processCounts()) !== JSON.stringify(before); i++) await sleep(20);
  expect(processCounts()).toEqual(before);
}

describe.skipIf(!probe.ok)('native capture on KVM', () => {
  it('a fleet of 100 micro-guest VMs (10 s each) in one process: every exit counter of every VM has a point in every second of its life', async () => {
    const base = tempDir('rondo-fleet-test-');
    const f = await runFleet({ vms: 100, durationMs: 10_000, vcpus: 1, baseDir: base });
    expect(f.reports).toHaveLength(100);
    const incomplete: string[] = [];
    for (const [i, r] of f.reports.entries()) {
      expect(r.endReason).toBe('shutdown');
      expect(r.seconds.length).toBeGreaterThanOrEqual(11);
      const store = Store.openReadOnly(r.storeDir);
      try {
        const gaps = exitCounterGaps(store, r.seconds, 1000);
        expect(gaps.size).toBe(KVM_EXIT_REASONS.length);
        for (const [series, missing] of gaps) if (missing.length > 0) incomplete.push(`vm${i} ${series}: ${missing.map((t) => new Date(t).toISOString()).join(', ')}`);
        // The last point is the VM's final count, the guest's own.
        const h = store.find('vmm_vcpu_exits_total', { vcpu: '0', reason: 'io_out' })!;
        expect(store.lastPoint(h)![1]).toBe(r.guest[0]!.ioOut);
      } finally {
        store.close();
      }
    }
    expect(incomplete).toEqual([]);
    expect(f.everySecondCaptured).toBe(true);
    fs.rmSync(base, { recursive: true, force: true });
  }, 180_000);

  it('a VM whose launcher\'s event loop is blocked for 5 s still has a point in every exit counter for each of those seconds', async () => {
    const dir = tempDir();
    const vm = new KvmVm({ vcpus: 2, durationMs: 8000 });
    const agent = await Agent.start({ dir, schemas: vmSchemas(2, vm.statsDescriptors()), collectors: [processCollector(), kvmCollector(vm)] });
    vm.start();
    await sleep(1200);
    const blockedFrom = Date.now();
    while (Date.now() - blockedFrom < 5000) {
      // the event loop runs nothing else: no tick, no timer
    }
    const blockedTo = Date.now();
    await vm.wait();
    await agent.stop();
    const store = Store.openReadOnly(dir);
    try {
      const seconds = intervals(vm.startedAtMs!, vm.endedAtMs!, 1000);
      const gaps = exitCounterGaps(store, seconds, 1000);
      expect(gaps.size).toBe(2 * KVM_EXIT_REASONS.length);
      for (const [series, missing] of gaps) expect(missing, series).toEqual([]);
      // The seconds wholly inside the block: the agent's tick, on the blocked thread, recorded
      // nothing of its own in them; the native capture has them all.
      const blocked = seconds.filter((t) => t >= blockedFrom && t + 1000 <= blockedTo);
      expect(blocked.length).toBeGreaterThanOrEqual(3);
      const rss = store.query(store.find('process_resident_memory_bytes', {})!, { start: blocked[0]!, end: blocked[blocked.length - 1]!, tier: 0 });
      expect(Array.from(rss.values).every(Number.isNaN)).toBe(true);
      // Counters grow through the block: the vCPUs ran and counted, and each second got its value.
      const h = store.find('vmm_vcpu_run_seconds_total', { vcpu: '0' })!;
      const run = store.query(h, { start: blocked[0]!, end: blocked[blocked.length - 1]!, tier: 0 }).values;
      for (let i = 1; i < run.length; i++) expect(run[i]!).toBeGreaterThan(run[i - 1]!);
    } finally {
      store.close();
    }
  }, 60_000);

  it('native and JavaScript writers in one store at once (100 ms intervals, a ring that wraps): nothing lost, nothing garbled', async () => {
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [{ name: 'mix', match: {}, maxSeries: 512, tiers: [{ interval: 100, retention: 3000 }] }] });
    const vm = new KvmVm({ vcpus: 2, durationMs: 4000 });
    const cap = vm.captureInto(store, { labels: { vm: 'a' } });
    expect(cap.intervalMs).toBe(100);
    const js = Array.from({ length: 16 }, (_, j) => store.register('js_value', { j: String(j) }));
    const written = new Set<number>();
    let ended = false;
    vm.start();
    const waited = vm.wait().then(() => {
      ended = true;
    });
    // The JavaScript thread records too, as fast as it can: value = interval * 1000 + column,
    // so a value in the wrong row or column, or half of another's, shows.
    while (!ended) {
      const now = Date.now();
      const k = Math.floor(now / 100);
      for (let j = 0; j < js.length; j++) store.record(js[j]!, k * 1000 + j, now);
      written.add(k);
      await new Promise((r) => setImmediate(r));
    }
    await waited;
    const slots = 30;
    const endK = Math.floor(vm.endedAtMs! / 100);
    const startK = Math.max(Math.floor(vm.startedAtMs! / 100), endK - slots + 1); // what the ring still holds
    const at = intervals(startK * 100, endK * 100, 100);
    expect(at.length).toBe(slots);
    for (let j = 0; j < js.length; j++) {
      const q = store.query(js[j]!, { start: at[0]!, end: at[at.length - 1]!, tier: 0 });
      q.timestamps.forEach((t, i) => {
        const k = t / 100;
        const v = q.values[i]!;
        if (written.has(k)) expect(v, `js_value{j="${j}"} at ${k}`).toBe(k * 1000 + j);
        else expect(Number.isNaN(v) || v === k * 1000 + j, `js_value{j="${j}"} at ${k}`).toBe(true);
      });
    }
    const gaps = exitCounterGaps(store, at, 100);
    expect(gaps.size).toBe(2 * KVM_EXIT_REASONS.length);
    for (const [series, missing] of gaps) expect(missing, series).toEqual([]);
    const counters = vm.counters();
    for (const c of counters)
      for (const reason of KVM_EXIT_REASONS) {
        const h = store.find('vmm_vcpu_exits_total', { vcpu: String(c.vcpu), reason, vm: 'a' })!;
        const v = Array.from(store.query(h, { start: at[0]!, end: at[at.length - 1]!, tier: 0 }).values);
        for (let i = 1; i < v.length; i++) expect(v[i]!).toBeGreaterThanOrEqual(v[i - 1]!);
        expect(v[v.length - 1]).toBe(c.exits[reason]);
      }
    const tier0 = store.info().schemas[0]!.tiers[0]!;
    expect(tier0.lateWrites).toBe(0);
    store.close();
  }, 60_000);

  it('records the series the tick collector records, by the same names and labels', async () => {
    const keys = async (capture: 'native' | 'tick'): Promise<string[]> => {
      const dir = tempDir();
      const vm = new KvmVm({ vcpus: 2, durationMs: 1500 });
      const agent = await Agent.start({ dir, schemas: vmSchemas(2, vm.statsDescriptors()), collectors: [kvmCollector(vm, { capture })] });
      expect(vm.capturing).toBe(capture === 'native');
      vm.start();
      await vm.wait();
      await agent.stop();
      const store = Store.openReadOnly(dir);
      try {
        const sel = store.select('{__name__=~"vmm_.+|kvm_.+"}', { start: vm.startedAtMs! - 1000, end: vm.endedAtMs!, tier: 0 });
        return sel.filter((r) => Array.from(r.values).some((v) => !Number.isNaN(v))).map((r) => formatSeries(r.name, r.labels)).sort();
      } finally {
        store.close();
      }
    };
    const native = await keys('native');
    const tick = await keys('tick');
    expect(native.length).toBeGreaterThan(2 * (KVM_EXIT_REASONS.length + 1));
    expect(native).toEqual(tick);
  }, 30_000);

  it('refuses what it cannot do, with named errors, and leaves no thread or fd behind', async () => {
    const before = processCounts();
    const dir = tempDir();
    const store = Store.open(dir, { schemas: [{ name: 'vm', match: {}, maxSeries: 512, tiers: [{ interval: '1s', retention: '10m' }] }] });
    const vm = new KvmVm({ vcpus: 1, durationMs: 1000 });
    vm.captureInto(store);
    expect(() => vm.captureInto(store)).toThrow(KvmError);
    vm.start();
    const late = new KvmVm({ vcpus: 1, durationMs: 1000 });
    late.start();
    expect(() => late.captureInto(store)).toThrow(/before it starts/);
    expect(() => late.captureInto(store)).toThrow(KvmError);
    late.stop();
    expect(() => kvmCollector(vm, { capture: 'sometimes' as 'native' })).toThrow(ConfigError);
    const unstarted = new KvmVm({ vcpus: 1, durationMs: 1000 });
    expect(() => unstarted.captureInto({} as Store)).toThrow(ConfigError);
    unstarted.stop();
    await vm.wait();
    store.close();

    // Series in tier-0 slabs of different intervals cannot be captured at one interval.
    const mixed = Store.open(tempDir(), {
      schemas: [
        { name: 'exits', match: { __name__: 'vmm_vcpu_exits_total' }, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }] },
        { name: 'rest', match: {}, maxSeries: 512, tiers: [{ interval: '10s', retention: '1h' }] },
      ],
    });
    const other = new KvmVm({ vcpus: 1, durationMs: 1000 });
    expect(() => other.captureInto(mixed)).toThrow(ConfigError);
    other.stop();
    mixed.close();
    const readOnly = Store.openReadOnly(dir);
    const third = new KvmVm({ vcpus: 1, durationMs: 1000 });
    expect(() => third.captureInto(readOnly)).toThrow(ReadOnlyError);
    third.stop();
    readOnly.close();
    // The sampler thread ends with the last capture; the VMs' threads and fds are gone.
    await expectBackTo(before);
    expect(fs.readdirSync('/proc/self/task').some((t) => {
      try {
        return fs.readFileSync(path.join('/proc/self/task', t, 'comm'), 'utf8').startsWith('rondo-sampler');
      } catch {
        return false;
      }
    })).toBe(false);
  }, 30_000);
});
