// The demo VMM's KVM layer (demo-vmm/README.md) on this machine's real /dev/kvm: the
// micro-guest's own counts equal the VMM's exit counters exactly, the VM lives its configured
// wall-clock duration, KVM's binary statistics are read by their kernel names, the error guests
// end the VM with their reason, and no VM leaves a thread or an fd behind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  KVM_EXIT_REASONS,
  KvmUnavailableError,
  KvmVm,
  probeKvm,
  type KvmGuestReport,
  type KvmVcpuCounters,
  type KvmVmOptions,
} from '../src/kvm/index';
import { processCounts, vcpuThreads, type ProcessCounts } from './helpers';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the KVM tests: ${probe.reason}`);


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The process is back to `before`: threads and fds. Polled briefly: a finalizer runs late, and
 * the kernel ends a VM's own worker thread (e.g. kvm-nx-lpage-recovery, which lives in this
 * process) only after the VM's last fd is closed.
 */
async function expectBackTo(before: ProcessCounts): Promise<void> {
  for (let i = 0; i < 50 && JSON.stringify(processCounts()) !== JSON.stringify(before); i++) await sleep(20);
  expect(processCounts()).toEqual(before);
}

async function runToEnd(options: KvmVmOptions): Promise<{ vm: KvmVm; wallMs: number }> {
  const kvm = new KvmVm(options);
  const t0 = Date.now();
  kvm.start();
  await kvm.wait();
  return { vm: kvm, wallMs: Date.now() - t0 };
}

/** The guest's own count of each exit the VMM counts, side by side. */
function sideBySide(c: KvmVcpuCounters, g: KvmGuestReport): Record<string, [number, number]> {
  return {
    io_in: [c.exits.io_in, g.ioIn],
    io_out: [c.exits.io_out, g.ioOut],
    mmio_read: [c.exits.mmio_read, g.mmioRead],
    mmio_write: [c.exits.mmio_write, g.mmioWrite],
    hlt: [c.exits.hlt, g.hlt],
  };
}

/**
 * An independent reader of KVM's statistics names (Python's ioctl and pread, not our C++): it
 * creates a VM and a vCPU and prints the descriptor names of each, as JSON.
 */
const KERNEL_STAT_NAMES_PY = `
import fcntl, json, os, struct, sys
def names(fd):
    s = fcntl.ioctl(fd, 0xAECE, 0)  # KVM_GET_STATS_FD
    flags, name_size, num_desc, id_off, desc_off, data_off = struct.unpack('<6I', os.pread(s, 24, 0))
    size = 16 + name_size  # flags, exponent, size, offset, bucket_size, then the name
    raw = os.pread(s, size * num_desc, desc_off)
    return [raw[i * size + 16:(i + 1) * size].split(b'\\0')[0].decode() for i in range(num_desc)]
kvm = os.open(sys.argv[1], os.O_RDWR)
vm = fcntl.ioctl(kvm, 0xAE01, 0)  # KVM_CREATE_VM
vcpu = fcntl.ioctl(vm, 0xAE41, 0)  # KVM_CREATE_VCPU
print(json.dumps({'vm': names(vm), 'vcpu': names(vcpu)}))
`;

function kernelStatNames(): { vm: string[]; vcpu: string[] } | null {
  try {
    return JSON.parse(execFileSync('python3', ['-c', KERNEL_STAT_NAMES_PY, '/dev/kvm'], { encoding: 'utf8' }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    console.warn('python3 is missing: KVM statistics names are not compared with an independent reader');
    return null;
  }
}

describe('a missing KVM device', () => {
  it('gives KvmUnavailableError whose message names the path and what to do', () => {
    const p = probeKvm('/dev/kvm-missing');
    expect(p.ok).toBe(false);
    expect(p.reason).toMatch(/^\/dev\/kvm-missing does not exist: this machine has no KVM/);
    let thrown: unknown;
    try {
      new KvmVm({ vcpus: 1, durationMs: 1000, devicePath: '/dev/kvm-missing' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(KvmUnavailableError);
    expect((thrown as Error).message).toBe(
      '/dev/kvm-missing does not exist: this machine has no KVM; run on a host with virtualization ' +
        'enabled (kvm_intel/kvm_amd loaded)',
    );
  });
});

describe.skipIf(!probe.ok)('the demo VMM on /dev/kvm', () => {
  let baseline: ProcessCounts;
  let gc: () => void;
  beforeAll(async () => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    // One short VM first, so that whatever the process creates once (libuv's thread pool, the
    // kick signal's handler) exists before threads and fds are counted.
    await runToEnd({ vcpus: 1, durationMs: 200 });
    gc();
    await sleep(100);
    baseline = processCounts();
  }, 30_000);

  it.each([1, 2])(
    'a 2-second micro-guest VM with %i vCPU(s): the VMM counted exactly the exits the guest counted',
    async (vcpus) => {
      const durationMs = 2000;
      const { vm: kvm, wallMs } = await runToEnd({ vcpus, durationMs });

      expect(kvm.endReason()).toBe('shutdown');
      expect(kvm.done()).toBe(true);
      expect(wallMs).toBeGreaterThanOrEqual(durationMs);
      expect(kvm.endedAtMs! - kvm.startedAtMs!).toBeGreaterThanOrEqual(durationMs);

      const counters = kvm.counters();
      const guest = kvm.guestReport();
      expect(counters).toHaveLength(vcpus);
      const total: Record<string, [number, number]> = {};
      for (let i = 0; i < vcpus; i++) {
        const c = counters[i]!;
        const g = guest[i]!;
        expect(g.started).toBe(true);
        for (const [reason, [vmm, own]] of Object.entries(sideBySide(c, g))) {
          expect(vmm, `vCPU ${i} ${reason}`).toBe(own);
          const t = (total[reason] ??= [0, 0]);
          t[0] += vmm;
          t[1] += own;
        }
        // Every phase did work, and every vCPU halted and triple-faulted at the end.
        expect(g.cpuUnits).toBeGreaterThan(0);
        expect(g.pioUnits).toBeGreaterThan(0);
        expect(g.mmioUnits).toBeGreaterThan(0);
        expect(c.exits.hlt).toBeGreaterThanOrEqual(1);
        expect(c.exits.shutdown).toBe(1);
        expect(c.end).toBe('shutdown');
        expect(g.echoErrors).toBe(0);
        expect(g.mmioErrors).toBe(0);
        expect(c.exits.internal_error + c.exits.fail_entry + c.exits.other).toBe(0);
        expect(c.unclaimedIo + c.unclaimedMmio).toBe(0);
        expect(c.runNs).toBeGreaterThan(0);
        for (const reason of KVM_EXIT_REASONS) {
          const l = c.latencyNs[reason];
          expect(l.count, `latency count of ${reason}`).toBe(c.exits[reason]);
          if (l.count > 0) {
            expect(l.min).toBeLessThanOrEqual(l.max);
            expect(l.sum).toBeGreaterThanOrEqual(l.max);
          }
        }
      }
      for (const [reason, [vmm, own]] of Object.entries(total)) expect(vmm, `total ${reason}`).toBe(own);

      const out = kvm.console();
      for (let i = 0; i < vcpus; i++) expect(out).toContain(`rondo micro-guest: vcpu ${i} up\n`);
      expect(out).toContain('rondo micro-guest: bye\n');
      expect(kvm.console()).toBe(''); // drained

      // KVM's own statistics agree with the VMM on the exits both see.
      const stats = kvm.stats();
      if (stats.available) {
        for (let i = 0; i < vcpus; i++) {
          const s = stats.vcpus[i]!;
          const c = counters[i]!;
          if ('halt_exits' in s) expect(s.halt_exits, `vCPU ${i} halt_exits`).toBe(c.exits.hlt);
          if ('mmio_exits' in s)
            expect(s.mmio_exits, `vCPU ${i} mmio_exits`).toBe(c.exits.mmio_read + c.exits.mmio_write);
        }
      }
      await expectBackTo(baseline);
    },
    30_000,
  );

  it('reads KVM binary statistics by the names the kernel gives, for the VM and each vCPU', async () => {
    const { vm: kvm } = await runToEnd({ vcpus: 2, durationMs: 300 });
    const d = kvm.statsDescriptors();
    if (!probe.binaryStats) {
      console.warn(`no KVM binary statistics here: ${d.reason}`);
      expect(d).toMatchObject({ available: false, vm: [], vcpu: [] });
      expect(d.reason).toMatch(/KVM_CAP_BINARY_STATS_FD/);
      return;
    }
    expect(d.available).toBe(true);
    for (const list of [d.vm, d.vcpu]) {
      const names = list.map((x) => x.name);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names).size).toBe(names.length);
      for (const x of list) {
        expect(x.name).toMatch(/^[a-z0-9_]+$/);
        expect(['cumulative', 'instant', 'peak', 'linear_hist', 'log_hist']).toContain(x.type);
        expect(x.size).toBeGreaterThanOrEqual(1);
        if (x.type.endsWith('_hist')) expect(x.size).toBeGreaterThan(1);
      }
    }
    const vcpuNames = d.vcpu.map((x) => x.name);
    const kernel = kernelStatNames();
    if (kernel) expect({ vm: d.vm.map((x) => x.name), vcpu: vcpuNames }).toEqual(kernel);
    expect(vcpuNames).toContain('exits');
    expect(vcpuNames).toContain('halt_exits');

    const s = kvm.stats();
    expect(Object.keys(s.vm)).toEqual(d.vm.map((x) => x.name));
    expect(s.vcpus).toHaveLength(2);
    for (const v of s.vcpus) {
      expect(Object.keys(v)).toEqual(vcpuNames);
      for (const value of Object.values(v)) expect(Number.isInteger(value) && value >= 0).toBe(true);
      expect(v.exits).toBeGreaterThan(0);
    }
  }, 30_000);

  it('the internal-error guest ends the VM with internal_error reported, and the process is whole', async () => {
    const { vm: kvm } = await runToEnd({ vcpus: 2, durationMs: 1000, guest: 'internal-error' });
    const out = kvm.console();
    expect(out).toMatch(/rondo internal-error guest: vcpu \d: lock cmpxchg16b on MMIO\n/);
    if (kvm.endReason() === 'shutdown') {
      // A KVM that completes cmpxchg16b on MMIO: the guest says so and shuts down.
      console.warn('this KVM emulated cmpxchg16b on MMIO: no internal error to report');
      expect(out).toContain('no internal error');
    } else {
      expect(kvm.endReason()).toBe('internal_error');
      const d = kvm.endDetails()!;
      expect(d.reason).toBe('internal_error');
      expect(d.vcpu === 0 || d.vcpu === 1).toBe(true);
      expect(d.suberror).toBeGreaterThan(0);
      expect(d.message).toMatch(/^vCPU \d: KVM internal error, suberror \d+/);
      // The vCPU that failed had announced the instruction; the other may have been cut short.
      expect(out).toContain(`rondo internal-error guest: vcpu ${d.vcpu}: lock cmpxchg16b on MMIO\n`);
      const ends = kvm.counters().map((c) => c.end);
      expect(ends).toContain('internal_error');
      for (const e of ends) expect(['internal_error', 'stopped']).toContain(e);
      expect(kvm.counters().reduce((n, c) => n + c.exits.internal_error, 0)).toBeGreaterThanOrEqual(1);
    }
    await expectBackTo(baseline);
  }, 30_000);

  it('the fail-entry guest ends the VM with fail_entry reported, or says this KVM accepted its state', async () => {
    const { vm: kvm } = await runToEnd({ vcpus: 2, durationMs: 1000, guest: 'fail-entry' });
    const out = kvm.console();
    if (kvm.endReason() === 'fail_entry') {
      const d = kvm.endDetails()!;
      expect(d.hardwareEntryFailureReason).toMatch(/^0x[0-9a-f]+$/);
      expect(d.message).toMatch(/could not enter the guest/);
      expect(out).toBe(''); // the guest never ran
    } else {
      // This machine's emulated KVM runs guests whose state VMX and SVM refuse: the guest's
      // first act is to say so, then it triple-faults.
      console.warn('this KVM accepted an invalid guest state (CS.L=1 with CS.D=1): no FAIL_ENTRY here');
      expect(kvm.endReason()).toBe('shutdown');
      expect(out).toContain('rondo fail-entry guest: vcpu 0 runs: this KVM accepted an invalid guest state');
    }
    await expectBackTo(baseline);
  }, 30_000);

  it('stop() ends a running VM at once with reason stopped, and leaves no thread or fd', async () => {
    const kvm = new KvmVm({ vcpus: 2, durationMs: 60_000 });
    kvm.start();
    const waited = kvm.wait();
    await sleep(500);
    expect(vcpuThreads()).toBe(2);
    expect(kvm.done()).toBe(false);
    expect(kvm.endReason()).toBeNull();
    kvm.stop();
    expect(kvm.done()).toBe(true); // stop() returns with every vCPU out of KVM_RUN and joined
    expect(vcpuThreads()).toBe(0);
    expect(kvm.endReason()).toBe('stopped');
    expect(kvm.endDetails()).toMatchObject({ reason: 'stopped', vcpu: null, message: 'stopped by stop()' });
    expect(kvm.counters().map((c) => c.end)).toEqual(['stopped', 'stopped']);
    await waited;
    kvm.stop(); // idempotent
    // What was read before the fds closed stays readable.
    expect(kvm.guestReport()[0]!.started).toBe(true);
    if (probe.binaryStats) expect(kvm.stats().vcpus[0]!.exits).toBeGreaterThan(0);
    await expectBackTo(baseline);
  }, 30_000);

  it('a running VM that JavaScript drops is stopped by its finalizer', async () => {
    (() => {
      new KvmVm({ vcpus: 2, durationMs: 60_000 }).start();
    })();
    expect(vcpuThreads()).toBe(2);
    for (let i = 0; i < 20 && vcpuThreads() > 0; i++) {
      gc();
      await sleep(50);
    }
    expect(vcpuThreads()).toBe(0);
    await expectBackTo(baseline);
  }, 30_000);
});
