// The demo VMM with the embedded agent (demo-vmm/README.md, docs/api.md's Agent), on the real
// /dev/kvm: what the store holds after a VM equals what the guest did, every second of its life.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVm, type RunReport } from '../demo-vmm/vmm';
import { scrapesWithin } from '../demo-vmm/capture';
import { Store } from '../src/index';
import { KVM_EXIT_REASONS, KvmUnavailableError, KvmVm, probeKvm, kvmStatSeriesName, kvmStatSeries } from '../src/kvm/index';
import { ROOT } from './fixtures/build';
import { processCounts, suiteTempDir, tempDir } from './helpers';
import { ensureReceiversInstalled, getJson, startPrometheus, type PrometheusReceiver } from './support/receivers';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the demo VMM tests that need KVM: ${probe.reason}`);

/** Last recorded value of a series (tier 0). */
function last(store: Store, name: string, labels: Record<string, string>): number {
  const h = store.find(name, labels);
  expect(h, `${name}${JSON.stringify(labels)}`).toBeDefined();
  return store.lastPoint(h!)![1];
}

describe.skipIf(!probe.ok)('the demo VMM on KVM', () => {
  let one: RunReport;
  let two: RunReport;
  const sharedDir = () => suiteTempDir('rondo-vmm-test-'); // stores that outlive single tests
  beforeAll(async () => {
    one = await runVm({ durationMs: 2000, vcpus: 1, storeDir: sharedDir() });
    two = await runVm({ durationMs: 2000, vcpus: 2, storeDir: sharedDir() });
  }, 60_000);

  it('a 2-second VM: the recorded exit counters equal the guest\'s own counts of port I/O and MMIO exactly', () => {
    for (const r of [one, two]) {
      expect(r.endReason).toBe('shutdown');
      const store = Store.openReadOnly(r.storeDir);
      r.guest.forEach((g, i) => {
        const vcpu = String(i);
        expect(last(store, 'vmm_vcpu_exits_total', { vcpu, reason: 'io_in' })).toBe(g.ioIn);
        expect(last(store, 'vmm_vcpu_exits_total', { vcpu, reason: 'io_out' })).toBe(g.ioOut);
        expect(last(store, 'vmm_vcpu_exits_total', { vcpu, reason: 'mmio_read' })).toBe(g.mmioRead);
        expect(last(store, 'vmm_vcpu_exits_total', { vcpu, reason: 'mmio_write' })).toBe(g.mmioWrite);
        expect(last(store, 'vmm_vcpu_exits_total', { vcpu, reason: 'hlt' })).toBe(g.hlt);
        expect(g.ioOut).toBeGreaterThan(0);
        expect(g.mmioRead).toBeGreaterThan(0);
      });
      store.close();
    }
  });

  it('two vCPUs: the counters per vCPU and in total are right', () => {
    expect(two.guest.length).toBe(2);
    const store = Store.openReadOnly(two.storeDir);
    for (const reason of ['io_in', 'io_out', 'mmio_read', 'mmio_write'] as const) {
      const field = { io_in: 'ioIn', io_out: 'ioOut', mmio_read: 'mmioRead', mmio_write: 'mmioWrite' }[reason] as 'ioIn' | 'ioOut' | 'mmioRead' | 'mmioWrite';
      const perVcpu = [0, 1].map((v) => last(store, 'vmm_vcpu_exits_total', { vcpu: String(v), reason }));
      expect(perVcpu).toEqual(two.guest.map((g) => g[field]));
      expect(perVcpu[0]! + perVcpu[1]!).toBe(two.exits[reason]);
      const sel = store.select(`vmm_vcpu_exits_total{reason="${reason}"}`, { start: two.startedAtMs - 1000, end: two.endedAtMs, tier: 0 });
      expect(sel.length).toBe(2);
    }
    expect(last(store, 'vmm_vcpu_exits_total', { vcpu: '0', reason: 'shutdown' })).toBe(1);
    expect(last(store, 'vmm_vcpu_exits_total', { vcpu: '1', reason: 'shutdown' })).toBe(1);
    store.close();
  });

  it('every second of the VM\'s life has a point in the store, the last second included after stop()', () => {
    for (const r of [one, two]) {
      const store = Store.openReadOnly(r.storeDir);
      const first = Math.floor(r.startedAtMs / 1000) * 1000;
      const lastSecond = Math.floor(r.endedAtMs / 1000) * 1000;
      for (const name of ['vmm_vcpu_exits_total', 'kvm_vcpu_exits_total', 'process_resident_memory_bytes']) {
        const labels: Record<string, string> = name === 'vmm_vcpu_exits_total' ? { vcpu: '0', reason: 'io_out' } : name === 'kvm_vcpu_exits_total' ? { vcpu: '0' } : {};
        const q = store.query(store.find(name, labels)!, { start: first, end: lastSecond, tier: 0 });
        expect(q.values.length).toBe((lastSecond - first) / 1000 + 1);
        q.values.forEach((v, i) => expect(Number.isNaN(v), `${name} at ${new Date(q.timestamps[i]!).toISOString()}`).toBe(false));
      }
      // The final value (recorded by stop()'s last tick) is the VM's final count.
      expect(last(store, 'vmm_vcpu_exits_total', { vcpu: '0', reason: 'io_out' })).toBe(r.guest[0]!.ioOut);
      expect(r.missingSeconds).toEqual([]);
      store.close();
    }
  });

  it('KVM statistic series are named after the descriptors the kernel returns, all of them, by Prometheus\'s rules', () => {
    const vm = new KvmVm({ vcpus: 1, durationMs: 1000 });
    const d = vm.statsDescriptors();
    vm.stop();
    expect(d.available).toBe(true);
    const store = Store.openReadOnly(one.storeDir);
    const names = new Set(store.series().map((h) => h.name));
    const want = [...kvmStatSeries('vm', d.vm), ...kvmStatSeries('vcpu', d.vcpu)].map((s) => s.name);
    expect(want.length).toBeGreaterThan(10);
    // Every family by the rules promtool checks: counters end in _total, units are base units.
    for (const x of [...d.vm, ...d.vcpu]) {
      const n = kvmStatSeriesName('vcpu', x);
      if (x.type === 'cumulative') expect(n, x.name).toMatch(/_total$/);
      if (x.unit === 'seconds') expect(n, x.name).toMatch(/_seconds(_total)?$/);
      expect(n, x.name).not.toMatch(/_(ns|us|ms)(_|$)/);
    }
    for (const n of want) expect(names.has(n), n).toBe(true);
    const kvmSeries = [...names].filter((n) => n.startsWith('kvm_'));
    expect(kvmSeries.sort()).toEqual([...new Set(want)].sort());
    // The kernel's own exit statistics agree with the VMM's: every HLT and MMIO exit.
    expect(last(store, 'kvm_vcpu_halt_exits_total', { vcpu: '0' })).toBe(one.guest[0]!.hlt);
    expect(last(store, 'kvm_vcpu_mmio_exits_total', { vcpu: '0' })).toBe(one.guest[0]!.mmioRead + one.guest[0]!.mmioWrite);
    store.close();
  });

  it('a guest that triggers an internal error ends with that reason reported, and the process stays healthy', async () => {
    const before = processCounts();
    const r = await runVm({ durationMs: 2000, vcpus: 2, storeDir: tempDir(), guest: 'internal-error' });
    expect(r.endReason).toBe('internal_error');
    expect(r.endDetails?.message).toMatch(/internal error/i);
    const store = Store.openReadOnly(r.storeDir);
    expect(store.series().some((h) => h.name === 'vmm_vcpu_exits_total' && h.labels.reason === 'internal_error')).toBe(true);
    store.close();
    for (let i = 0; i < 50 && JSON.stringify(processCounts()) !== JSON.stringify(before); i++) await new Promise((res) => setTimeout(res, 20));
    expect(processCounts()).toEqual(before);
  }, 30_000);

  it('a failed entry, where this KVM produces one, ends the VM with that reason, and the process stays healthy', async () => {
    const before = processCounts();
    const r = await runVm({ durationMs: 1000, vcpus: 1, storeDir: tempDir(), guest: 'fail-entry' });
    if (r.endReason !== 'fail_entry') console.warn(`this KVM entered the invalid state (ended: ${r.endReason}); no FAIL_ENTRY to report here`);
    expect(['fail_entry', 'shutdown']).toContain(r.endReason);
    for (let i = 0; i < 50 && JSON.stringify(processCounts()) !== JSON.stringify(before); i++) await new Promise((res) => setTimeout(res, 20));
    expect(processCounts()).toEqual(before);
  }, 30_000);
});

describe('the demo VMM without KVM', () => {
  it('a missing device path gives the clear error, from the API and from rondo-vmm', async () => {
    await expect(runVm({ durationMs: 1000, vcpus: 1, storeDir: tempDir(), devicePath: '/dev/kvm-missing' })).rejects.toSatisfy(
      (e: unknown) => e instanceof KvmUnavailableError && /\/dev\/kvm-missing does not exist/.test((e as Error).message),
    );
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = execFile(process.execPath, [path.join(ROOT, 'dist', 'demo-vmm', 'cli.js'), 'run', '--device', '/dev/kvm-missing', '--store', tempDir()], (err, _o, se) =>
        resolve({ code: err === null ? 0 : (c.exitCode ?? 1), stderr: se }),
      );
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/KvmUnavailableError: .*\/dev\/kvm-missing does not exist/);
  });

  it('the capture table counts the scrapes a scraper would have made between start and stop', () => {
    expect(scrapesWithin(14_000, 19_000, 15_000)).toBe(1);
    expect(scrapesWithin(16_000, 29_000, 15_000)).toBe(0);
    expect(scrapesWithin(0, 30_000, 15_000)).toBe(3);
    expect(KVM_EXIT_REASONS.length).toBe(9);
  });
});

describe.skipIf(!probe.ok)('the demo VMM pushing to a real Prometheus', () => {
  let prom: PrometheusReceiver;
  beforeAll(async () => {
    ensureReceiversInstalled();
    prom = await startPrometheus();
  }, 90_000);
  afterAll(async () => prom?.stop());

  it("the agent pushes a VM's metrics, and they read back equal to the store", async () => {
    const r = await runVm({ durationMs: 2000, vcpus: 1, storeDir: tempDir(), remoteWrite: prom.url, externalLabels: { instance: 'vm-push' }, pushIntervalMs: 1000 });
    expect(r.push).not.toBeNull();
    expect(r.push!.dropped).toBe(0);
    const store = Store.openReadOnly(r.storeDir);
    for (const reason of ['io_out', 'mmio_read']) {
      const h = store.find('vmm_vcpu_exits_total', { vcpu: '0', reason })!;
      // Everything the store holds of the series: the agent's first tick came before the VM started.
      const q = store.query(h, { start: r.startedAtMs - 60_000, end: r.endedAtMs + 1000, tier: 0 });
      const want = new Map(Array.from(q.timestamps).map((t, i): [number, number] => [t, q.values[i]!]).filter(([, v]) => !Number.isNaN(v)));
      const sel = encodeURIComponent(`vmm_vcpu_exits_total{instance="vm-push",vcpu="0",reason="${reason}"}[1m]`);
      const res = await getJson<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(`${prom.api}/api/v1/query?query=${sel}&time=${r.endedAtMs / 1000 + 1}`);
      expect(res.data.result.length).toBe(1);
      const got = new Map(res.data.result[0]!.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]));
      expect(got).toEqual(want);
    }
    store.close();
  }, 60_000);
});
