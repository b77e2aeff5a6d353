// Linux on this machine's /dev/kvm (demo-vmm/README.md, Linux guests): Debian's kernel and a busybox
// initramfs built by demo-vmm/guest/build.sh, booted by the demo VMM with the agent recording.
//
// This machine's KVM is emulated (about 1-2 µs per guest instruction): the kernel booted through
// PVH prints "Linux version" after about 25 s and KVM stops it about a minute in, with an
// emulation failure on cmpxchg16b. So here the tests boot to the first console lines, check that
// every second of the run was recorded, and that the VM ends cleanly with its reason reported
// (the internal error, or the time limit's stop() if it comes later than that). A bzImage runs
// its decompressor here, which reads the command line from boot_params and says so on the
// console, long before it has decompressed the kernel. On a KVM fast enough (hardware), the
// same kernels boot to the busybox init, which runs its phases and powers off.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runVm, type RunReport } from '../demo-vmm/vmm';
import { Store } from '../src/index';
import { probeKvm } from '../src/kvm/index';
import { processCounts, tempDir, vcpuThreads, type ProcessCounts } from './helpers';

const probe = probeKvm();
if (!probe.ok) console.warn(`skipping the Linux boot tests: ${probe.reason}`);

const BUILD = path.join(__dirname, '..', 'demo-vmm', 'guest', 'build.sh');
/** The run stops at this time limit if KVM has not ended it: the whole test stays bounded. */
const LIMIT_MS = 200_000;
/** "Linux version" must be on the console by then. */
const LINUX_VERSION_WITHIN_MS = 180_000;
/** A KVM that prints "Linux version" within this time boots to init in well under a minute. */
const FAST_ENOUGH_MS = 10_000;

interface Guest {
  vmlinux: string;
  bzImage: string;
  initrd: string;
}

async function expectBackTo(before: ProcessCounts): Promise<void> {
  for (let i = 0; i < 100 && JSON.stringify(processCounts()) !== JSON.stringify(before); i++) await new Promise((r) => setTimeout(r, 20));
  expect(processCounts()).toEqual(before);
  expect(vcpuThreads()).toBe(0);
}

/** Every second of the run has a point in the store for these series; returns the count. */
function expectEverySecond(r: RunReport, series: Array<[string, Record<string, string>]>): number {
  const store = Store.openReadOnly(r.storeDir);
  try {
    const first = Math.floor(r.startedAtMs / 1000) * 1000;
    const last = Math.floor(r.endedAtMs / 1000) * 1000;
    for (const [name, labels] of series) {
      const h = store.find(name, labels);
      expect(h, `${name}${JSON.stringify(labels)}`).toBeDefined();
      const q = store.query(h!, { start: first, end: last, tier: 0 });
      expect(q.values.length).toBe((last - first) / 1000 + 1);
      q.values.forEach((v, i) => expect(Number.isNaN(v), `${name} at ${new Date(q.timestamps[i]!).toISOString()}`).toBe(false));
    }
    return (last - first) / 1000 + 1;
  } finally {
    store.close();
  }
}

function summary(what: string, r: RunReport): string {
  const ms = (n: number | undefined) => (n === undefined ? 'never' : `${(n / 1000).toFixed(1)} s`);
  const perSecond = r.exitsPerSecond.filter((n) => !Number.isNaN(n));
  const sorted = [...perSecond].sort((a, b) => a - b);
  return (
    `${what}: first console line after ${ms(r.milestones['first console line'])}, "Linux version" after ${ms(r.milestones['Linux version'])}; ` +
    `ended ${r.endReason}${r.stoppedAtLimit ? ' (time limit)' : ''} after ${r.secondsLived.toFixed(1)} s: ${r.endDetails?.message ?? ''}; ` +
    `VMM exits per second: median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted[sorted.length - 1]}, mean ${(perSecond.reduce((a, b) => a + b, 0) / perSecond.length).toFixed(0)}; ` +
    `captured ${r.secondsCaptured}/${r.seconds.length} s`
  );
}

describe.skipIf(!probe.ok)('Linux on this machine\'s KVM', () => {
  let guest: Guest | null = null;
  let skipReason = '';
  let pvh: RunReport | undefined;

  beforeAll(() => {
    // Installs busybox-static and linux-image-amd64 when missing (as root); cached in out/.
    const b = spawnSync('bash', [BUILD], { encoding: 'utf8', timeout: 540_000 });
    if (b.status === 3) {
      skipReason = b.stderr.trim();
      console.warn(`skipping the Linux boot tests: ${skipReason}`);
      return;
    }
    if (b.status !== 0) throw new Error(`demo-vmm/guest/build.sh failed (${b.status ?? b.signal}): ${b.stderr}`);
    const out = b.stdout.trim().split('\n').pop()!;
    guest = { vmlinux: path.join(out, 'vmlinux'), bzImage: path.join(out, 'bzImage'), initrd: path.join(out, 'initramfs.cpio.gz') };
  }, 600_000);

  it('boots Debian\'s vmlinux through PVH: "Linux version" within 180 s, exits recorded every second, a clean end with its reason', async (ctx) => {
    if (guest === null) return ctx.skip();
    const before = processCounts();
    let text = '';
    const r = await runVm({ kernel: guest.vmlinux, initrd: guest.initrd, storeDir: tempDir(), durationMs: LIMIT_MS, console: (t) => (text += t) });
    pvh = r;
    console.log(summary('PVH boot', r));

    expect(r.boot).toMatchObject({ format: 'vmlinux-pvh', entryMode: 'protected32' });
    expect(text).toMatch(/Linux version \d+\.\d+\.\d+/);
    expect(r.milestones['Linux version']).toBeLessThan(LINUX_VERSION_WITHIN_MS);
    // What the kernel found: the memory map and the initrd this VMM handed it.
    expect(text).toMatch(/BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable/);
    expect(text).toMatch(/RAMDISK: \[mem /);
    // Every console byte is one OUT to the UART's transmit register, counted.
    expect(r.exits.io_out).toBeGreaterThanOrEqual(text.replace(/\n/g, '').length);

    // The agent recorded every second of the run: the VMM's exit counters and KVM's own.
    expect(r.missingSeconds).toEqual([]);
    const seconds = expectEverySecond(r, [
      ['vmm_vcpu_exits_total', { vcpu: '0', reason: 'io_out' }],
      ['vmm_vcpu_exits_total', { vcpu: '0', reason: 'io_in' }],
      ['kvm_vcpu_exits_total', { vcpu: '0' }],
    ]);
    expect(seconds).toBeGreaterThanOrEqual(Math.floor(r.milestones['Linux version']! / 1000));
    expect(r.exitsPerSecond.filter((n) => n > 0).length).toBeGreaterThan(0);

    // The end: KVM's emulation failure here (reported with the instruction), the guest powering
    // off on a fast KVM, or the time limit's stop().
    expect(['internal_error', 'shutdown', 'stopped']).toContain(r.endReason);
    if (r.endReason === 'internal_error') {
      expect(r.endDetails?.message).toMatch(/KVM internal error, suberror 1 \(emulation failure\)/);
      expect(r.endDetails?.instructionBytes).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2})*$/);
      expect(r.exits.internal_error).toBe(1);
      const store = Store.openReadOnly(r.storeDir);
      expect(store.lastPoint(store.find('vmm_vcpu_exits_total', { vcpu: '0', reason: 'internal_error' })!)![1]).toBe(1);
      store.close();
    } else if (r.endReason === 'stopped') {
      expect(r.stoppedAtLimit).toBe(true);
      console.warn(`the guest was still running at the ${LIMIT_MS / 1000} s limit and was stopped cleanly`);
    } else {
      expect(text).toMatch(/rondo linux guest: powering off/);
    }
    // Stopped or ended, the VM left no thread and no fd behind.
    await expectBackTo(before);
  }, LIMIT_MS + 60_000);

  it('boots Debian\'s bzImage through the 64-bit boot protocol: its decompressor reads the command line from boot_params', async (ctx) => {
    if (guest === null) return ctx.skip();
    const before = processCounts();
    let text = '';
    const r = await runVm({
      kernel: guest.bzImage,
      initrd: guest.initrd,
      storeDir: tempDir(),
      durationMs: 60_000,
      stopOn: /KASLR disabled|Linux version/,
      console: (t) => (text += t),
    });
    console.log(summary('bzImage boot', r));
    expect(r.boot).toMatchObject({ format: 'bzimage', entryMode: 'long64', entry: 0x100200 });
    // Printed by the decompressor (arch/x86/boot/compressed) after parsing boot_params' command line.
    expect(text).toMatch(/KASLR disabled: 'nokaslr' on cmdline/);
    expect(r.stoppedOn).not.toBeNull();
    expect(r.endReason).toBe('stopped');
    expect(r.missingSeconds).toEqual([]);
    await expectBackTo(before);
  }, 120_000);

  it('on a KVM fast enough, both kernels reach the busybox init, run its phases and power off', async (ctx) => {
    if (guest === null || pvh === undefined) return ctx.skip();
    const version = pvh.milestones['Linux version'];
    if (version === undefined || version > FAST_ENOUGH_MS) {
      console.warn(
        `not booting to init: this KVM printed "Linux version" after ${version === undefined ? 'never' : `${(version / 1000).toFixed(1)} s`} ` +
          `(an emulated KVM; booting to init needs one that does it within ${FAST_ENOUGH_MS / 1000} s, such as hardware KVM)`,
      );
      return ctx.skip();
    }
    for (const kernel of [guest.vmlinux, guest.bzImage]) {
      let text = '';
      const r = await runVm({ kernel, initrd: guest.initrd, storeDir: tempDir(), durationMs: 120_000, console: (t) => (text += t) });
      console.log(summary(`${path.basename(kernel)} to init`, r));
      expect(text).toMatch(/rondo linux guest: init on Linux/);
      for (const phase of ['cpu', 'io', 'idle']) expect(text).toMatch(new RegExp(`rondo linux guest: phase ${phase}`));
      expect(text).toMatch(/rondo linux guest: powering off/);
      expect(r.endReason).toBe('shutdown');
      expect(r.endDetails?.message).toMatch(/reset the machine through the i8042/);
      expect(r.missingSeconds).toEqual([]);
    }
  }, 300_000);
});
