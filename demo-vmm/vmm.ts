// Running one VM with the embedded agent: the micro-guest or a Linux kernel on KVM, its console,
// every second recorded into the VM's store (the VM's series by native threads through
// kvmCollector's capture, the process's by the agent's tick), a push when asked, and the report
// at the end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent, Store, formatSeries, processCollector, type Hook, type PushSummary, type SchemaOptions } from '../src/index';
import {
  KVM_EXIT_REASONS,
  KvmVm,
  LINUX_DEFAULT_CMDLINE,
  kvmCollector,
  kvmStatSeries,
  kvmStatValue,
  type KvmEndDetails,
  type KvmEndReason,
  type KvmExitReason,
  type KvmGuest,
  type KvmGuestReport,
  type KvmLinuxBoot,
  type KvmStatDescriptors,
} from '../src/kvm/index';

export interface RunOptions {
  /**
   * The micro-guest: how long it runs. Linux: a time limit after which the VM is stopped
   * (absent or 0: none, it runs until the guest ends or `signal` aborts).
   */
  durationMs?: number;
  /** The micro-guest: 1 to 64. Linux: 1 (the default). */
  vcpus?: number;
  /** Linux: a vmlinux (booted through PVH) or a bzImage; the micro-guest when absent. */
  kernel?: string;
  /** Linux: the initramfs. */
  initrd?: string;
  /** Linux: the command line; LINUX_DEFAULT_CMDLINE by default. */
  cmdline?: string;
  /** Guest memory; the KVM layer's default (2 MiB, or 256 MiB for Linux) when absent. */
  memoryBytes?: number;
  /** CPUID features to hide from the guest (see KvmVmOptions.hideCpuid). */
  hideCpuid?: string[];
  /** Stops the VM (cleanly, as stop() does) once a console line matches. */
  stopOn?: RegExp;
  /** The VM's store directory (created if missing). */
  storeDir: string;
  guest?: KvmGuest;
  devicePath?: string;
  /** Push to this remote-write URL every pushIntervalMs and once more at the end. */
  remoteWrite?: string;
  /** Hooks for the agent's store (docs/hooks.md): the KVM collector then records on the tick. */
  hooks?: readonly Hook[];
  externalLabels?: Record<string, string>;
  pushIntervalMs?: number;
  /** Where the guest's console goes (default: nowhere). */
  console?: (text: string) => void;
  /** Agent failures (default: ignored, they are counted and recorded in the store). */
  onError?: (source: string, e: unknown) => void;
  /** Stops the VM early (Ctrl-C): the run still ends with a last tick, push and report. */
  signal?: AbortSignal;
  /** The VMM's own messages about the run (default: nowhere). */
  log?: (line: string) => void;
  /**
   * The VM's name in its event topics (/vm/<id>/console, /vm/<id>/lifecycle, /vm/<id>/error):
   * letters, digits, '.', '_' and '-'. Default: the store directory's name, other characters as '_'.
   */
  vmId?: string;
  /** The store's event ring: bytes or a size such as '4MiB' (VM_EVENTS_SIZE, 1 MiB, by default). */
  eventsSize?: number | string;
  /** Serve the store's latest values on http://127.0.0.1:<port>/metrics while the VM runs (0: a free port; the URL goes to log). */
  metricsPort?: number;
}

/**
 * The demo VM's event ring: 1 MiB, on disk and mapped in every VM's store (the ring file is
 * allocated whole), so kept small beside the metrics' 7 to 12 MiB. A record costs its payload
 * plus a small header: this keeps about 10 000 console lines of 60 bytes, a Linux boot (a few
 * hundred lines) and its workload's lines many times over, and a micro-guest's handful.
 */
export const VM_EVENTS_SIZE = 1024 * 1024;

/** The fossil schema of /vm/<id>/lifecycle: what happened, the vCPU (-1: the whole VM), and words. */
export const LIFECYCLE_SCHEMA = '{"event": string, "vcpu": int32, "detail": string}';

/** One record of /vm/<id>/lifecycle. */
export interface LifecycleEvent {
  /** created, started, vcpu_up, vcpu_exit, ended. */
  event: 'created' | 'started' | 'vcpu_up' | 'vcpu_exit' | 'ended';
  vcpu: number;
  detail: string;
}

/** The topics of a VM's events. */
export function vmTopics(id: string): { console: string; lifecycle: string; error: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`a VM id is letters, digits, '.', '_' or '-', not ${JSON.stringify(id)}`);
  return { console: `/vm/${id}/console`, lifecycle: `/vm/${id}/lifecycle`, error: `/vm/${id}/error` };
}

/** The default VM id: the store directory's name. */
export function defaultVmId(storeDir: string): string {
  return path.basename(path.resolve(storeDir)).replace(/[^A-Za-z0-9._-]/g, '_') || 'vm';
}

/** Console lines whose first appearance a run notes, with the time since the VM's start. */
export const CONSOLE_MILESTONES: ReadonlyArray<{ name: string; pattern: RegExp }> = [
  { name: 'first console line', pattern: /\S/ },
  { name: 'Linux version', pattern: /Linux version / },
  { name: 'init', pattern: /rondo linux guest: init/ },
  { name: 'power off', pattern: /rondo linux guest: (powering off|bye)/ },
];

export interface RunReport {
  storeDir: string;
  vcpus: number;
  startedAtMs: number;
  endedAtMs: number;
  /** Wall-clock lifetime of the VM, s. */
  secondsLived: number;
  /** The seconds (interval starts, ms) the VM was alive in, and those with a point in the store. */
  seconds: number[];
  secondsCaptured: number;
  /** Seconds of the VM's life without a point (empty when every second was captured). */
  missingSeconds: number[];
  /** Points each series with a point in the store has over the VM's life: series key → points. */
  pointsPerSeries: Map<string, number>;
  exits: Record<KvmExitReason, number>;
  exitsPerVcpu: Array<Record<KvmExitReason, number>>;
  guest: KvmGuestReport[];
  endReason: KvmEndReason | null;
  endDetails: KvmEndDetails | null;
  /** The time limit stopped the VM (a Linux guest with durationMs). */
  stoppedAtLimit: boolean;
  /** The VM's id in its event topics (vmTopics). */
  vmId: string;
  /** Console lines appended to /vm/<id>/console. */
  consoleLines: number;
  /** The console line that matched stopOn and stopped the VM, if one did. */
  stoppedOn: string | null;
  /** How Linux was loaded (null for the micro-guest). */
  boot: KvmLinuxBoot | null;
  /** Milliseconds from the VM's start to the first console line matching each milestone seen. */
  milestones: Record<string, number>;
  /** Exits of every reason and vCPU in each second of the VM's life, from the store's counters. */
  exitsPerSecond: number[];
  /** KVM statistics with the largest values at the end (vCPU ones summed over vCPUs). */
  busiestStats: Array<{ name: string; value: number }>;
  storeBytes: number;
  push: PushSummary | null;
}

/** The series the exit counters live in, per vCPU and reason. */
export const EXITS_SERIES = 'vmm_vcpu_exits_total';

/**
 * Room for the series of the process collector (21) and the agent itself (ticks, tick time, and
 * errors by source), with a few to spare: a series past maxSeries is refused, and counted.
 */
export const PROCESS_AND_AGENT_SERIES = 40;

/**
 * One schema sized for this VM: the process's and agent's own series, every KVM statistic of
 * the VM and of each vCPU, and the VMM's exit counters and timings per vCPU. Every column costs
 * its bytes in every row of every tier whether used or not, so the count is what the VM records,
 * rounded up to 8.
 */
export function vmSchemas(vcpus: number, stats: KvmStatDescriptors): SchemaOptions[] {
  // A KVM histogram is many series: its buckets, sum and count (kvmStatSeries).
  const perVcpu = kvmStatSeries('vcpu', stats.vcpu).length + KVM_EXIT_REASONS.length * 3 + 1;
  const need = PROCESS_AND_AGENT_SERIES + kvmStatSeries('vm', stats.vm).length + vcpus * perVcpu;
  return [
    {
      name: 'vm',
      match: {},
      maxSeries: Math.ceil(need / 8) * 8,
      tiers: [
        { interval: '1s', retention: '1h' },
        { interval: '10s', retention: '6h', consolidate: 'avg' },
        { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
      ],
    },
  ];
}

/** Boots the micro-guest or Linux, records every second of its life, and reports. */
export async function runVm(o: RunOptions): Promise<RunReport> {
  const linux = o.kernel !== undefined;
  const vm = new KvmVm({
    ...(linux
      ? { guest: 'linux' as const, kernel: o.kernel, cmdline: o.cmdline ?? LINUX_DEFAULT_CMDLINE, vcpus: o.vcpus ?? 1, ...(o.initrd === undefined ? {} : { initrd: o.initrd }) }
      : { vcpus: o.vcpus ?? 2, durationMs: o.durationMs ?? 5000, ...(o.guest === undefined ? {} : { guest: o.guest }) }),
    ...(o.memoryBytes === undefined ? {} : { memoryBytes: o.memoryBytes }),
    ...(o.hideCpuid === undefined ? {} : { hideCpuid: o.hideCpuid }),
    ...(o.devicePath === undefined ? {} : { devicePath: o.devicePath }),
  });
  const vcpus = vm.counters().length;
  const vmId = o.vmId ?? defaultVmId(o.storeDir);
  const topics = vmTopics(vmId);
  try {
    const boot = vm.boot();
    if (boot !== null)
      o.log?.(
        `booting ${o.kernel} (${boot.format === 'bzimage' ? `bzImage, boot protocol ${boot.bootProtocol}, 64-bit entry` : 'vmlinux, PVH entry'} ` +
          `at 0x${boot.entry.toString(16)})${boot.initrdBytes > 0 ? ` with a ${(boot.initrdBytes / 1024).toFixed(0)} KiB initrd` : ''}`,
      );
    const agent = await Agent.start({
      dir: o.storeDir,
      schemas: vmSchemas(vcpus, vm.statsDescriptors()),
      collectors: [processCollector(), kvmCollector(vm)],
      ...(o.hooks === undefined ? {} : { hooks: o.hooks }),
      ...(o.remoteWrite === undefined
        ? {}
        : {
            remoteWrite: {
              url: o.remoteWrite,
              interval: o.pushIntervalMs ?? 5000,
              ...(o.externalLabels === undefined ? {} : { externalLabels: o.externalLabels }),
              logger: (level, message) => o.onError?.('push', new Error(`${level}: ${message}`)),
            },
          }),
      onError: o.onError ?? (() => {}),
      events: { size: o.eventsSize ?? VM_EVENTS_SIZE },
      ...(o.metricsPort === undefined ? {} : { metricsPort: o.metricsPort }),
    });
    if (agent.metricsAddress !== undefined) o.log?.(`metrics on http://${agent.metricsAddress.host}:${agent.metricsAddress.port}/metrics`);
    // The VM's events go into the same store, appended from this (the JavaScript) thread: the
    // console as the VMM drains it (every 50 ms: the UART hands over whole lines), the lifecycle
    // as the VMM sees it. A failed append is an agent error, like a failed tick.
    const store = agent.store;
    let consoleLines = 0;
    const append = (topic: string, data: unknown) => {
      try {
        store.append(topic, data);
      } catch (e) {
        (o.onError ?? (() => {}))('events', e);
      }
    };
    if (store.topics().find((t) => t.name === topics.lifecycle) === undefined) store.createTopic(topics.lifecycle, LIFECYCLE_SCHEMA);
    const life = (event: LifecycleEvent) => append(topics.lifecycle, event);
    life({
      event: 'created',
      vcpu: -1,
      detail: linux ? `Linux ${o.kernel}${o.initrd === undefined ? '' : ` with ${o.initrd}`}, ${vcpus} vCPU` : `${o.guest ?? 'micro'} guest, ${vcpus} vCPUs, ${o.durationMs ?? 5000} ms`,
    });
    const up = new Array<boolean>(vcpus).fill(false);
    const exited = new Array<boolean>(vcpus).fill(false);
    // vCPU up: its thread entered KVM_RUN (its first run counted); exit: its end reason set. Seen
    // by the 50 ms poll, so their times are the poll's.
    const watchVcpus = () => {
      vm.counters().forEach((c, i) => {
        if (!up[i] && c.runs > 0) {
          up[i] = true;
          life({ event: 'vcpu_up', vcpu: i, detail: `vCPU ${i} entered KVM_RUN` });
        }
        if (!exited[i] && c.end !== null) {
          exited[i] = true;
          life({ event: 'vcpu_exit', vcpu: i, detail: c.end });
        }
      });
    };
    const stop = () => vm.stop();
    o.signal?.addEventListener('abort', stop);
    const milestones: Record<string, number> = {};
    let stoppedOn: string | null = null;
    const watch = (text: string) => {
      const at = Date.now() - (vm.startedAtMs ?? Date.now());
      // Whole lines ending in \n (the UART ends a line at \n, at 512 bytes, and at its vCPU's end).
      const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
      for (const line of lines) {
        append(topics.console, line);
        consoleLines++;
      }
      for (const line of lines) {
        for (const m of CONSOLE_MILESTONES) if (milestones[m.name] === undefined && m.pattern.test(line)) milestones[m.name] = at;
        if (o.stopOn !== undefined && stoppedOn === null && o.stopOn.test(line) && !vm.done()) {
          stoppedOn = line;
          vm.stop();
        }
      }
      o.console?.(text);
    };
    vm.start();
    life({ event: 'started', vcpu: -1, detail: `${vcpus} vCPU thread${vcpus === 1 ? '' : 's'} started` });
    watchVcpus();
    let stoppedAtLimit = false;
    const limit =
      linux && o.durationMs !== undefined && o.durationMs > 0
        ? setTimeout(() => {
            stoppedAtLimit = !vm.done();
            vm.stop();
          }, o.durationMs)
        : undefined;
    // The process's figures at the VM's start (the VM's own series got theirs from start()).
    await agent.tick();
    const pump = setInterval(() => {
      watchVcpus();
      const text = vm.console();
      if (text !== '') watch(text);
    }, 50);
    try {
      await vm.wait();
    } finally {
      clearInterval(pump);
      if (limit !== undefined) clearTimeout(limit);
      o.signal?.removeEventListener('abort', stop);
      const rest = vm.console();
      if (rest !== '') watch(rest);
      watchVcpus();
      const d = vm.endDetails();
      const reason = vm.endReason();
      if (reason === 'internal_error' || reason === 'fail_entry' || reason === 'run_error') append(topics.error, JSON.stringify(d));
      life({
        event: 'ended',
        vcpu: d?.vcpu ?? -1,
        detail: `${reason ?? 'unknown'}${d?.message ? `: ${d.message}` : ''}, after ${((((vm.endedAtMs ?? Date.now()) - (vm.startedAtMs ?? Date.now())) / 1000)).toFixed(2)} s`,
      });
      // The last tick and the last push (the VM's final second is in the store already: the
      // capture recorded it before wait() resolved).
      await agent.stop();
    }
    return report(o, vm, agent.stats.lastPush, { vcpus, stoppedAtLimit, stoppedOn, milestones, vmId, consoleLines });
  } finally {
    vm.stop();
  }
}

function report(
  o: RunOptions,
  vm: KvmVm,
  push: PushSummary | null,
  run: { vcpus: number; stoppedAtLimit: boolean; stoppedOn: string | null; milestones: Record<string, number>; vmId: string; consoleLines: number },
): RunReport {
  const startedAtMs = vm.startedAtMs!;
  const endedAtMs = vm.endedAtMs ?? Date.now();
  const firstSecond = Math.floor(startedAtMs / 1000) * 1000;
  const seconds: number[] = [];
  for (let t = firstSecond; t <= endedAtMs; t += 1000) seconds.push(t);
  const store = Store.openReadOnly(o.storeDir);
  try {
    const pointsPerSeries = new Map<string, number>();
    const covered = new Set<number>();
    const exitTotals = new Map<number, number>(); // second -> exits of every reason and vCPU so far
    for (const r of store.select('{__name__=~".+"}', { start: firstSecond - 1000, end: seconds.at(-1) ?? firstSecond, tier: 0 })) {
      let n = 0;
      r.timestamps.forEach((t, i) => {
        const v = r.values[i];
        if (v === undefined || Number.isNaN(v)) return;
        if (r.name === EXITS_SERIES) exitTotals.set(t, (exitTotals.get(t) ?? 0) + v);
        if (t < firstSecond) return;
        n++;
        if (r.name === EXITS_SERIES) covered.add(t);
      });
      // A series registered up front (the native capture registers every one at the start) that
      // never got a point, such as the exit-handling time of an exit that never happened, is left out.
      if (n > 0) pointsPerSeries.set(formatSeries(r.name, r.labels), n);
    }
    // Exits in each second: the counters' growth since the second before (from 0 at the start;
    // unknown after a second with no point, rather than the whole total).
    const exitsPerSecond = seconds.map((t, i) => (exitTotals.get(t) ?? NaN) - (exitTotals.get(t - 1000) ?? (i === 0 ? 0 : NaN)));
    const counters = vm.counters();
    const exitsPerVcpu = counters.map((c) => ({ ...c.exits }));
    const exits = Object.fromEntries(KVM_EXIT_REASONS.map((r) => [r, exitsPerVcpu.reduce((a, e) => a + e[r], 0)])) as Record<KvmExitReason, number>;
    // Each scalar statistic under its series name (histograms left out), vCPU ones summed.
    const descriptors = vm.statsDescriptors();
    const words = vm.statsWords();
    const summed = new Map<string, number>();
    if (descriptors.available) {
      for (const s of kvmStatSeries('vm', descriptors.vm)) if (s.name === s.family) summed.set(s.name, kvmStatValue(s, words.vm));
      const vcpuSeries = kvmStatSeries('vcpu', descriptors.vcpu).filter((s) => s.name === s.family);
      for (const w of words.vcpus) for (const s of vcpuSeries) summed.set(s.name, (summed.get(s.name) ?? 0) + kvmStatValue(s, w));
    }
    const busiestStats = [...summed.entries()]
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, value]) => ({ name, value }));
    return {
      storeDir: path.resolve(o.storeDir),
      vcpus: run.vcpus,
      startedAtMs,
      endedAtMs,
      secondsLived: (endedAtMs - startedAtMs) / 1000,
      seconds,
      secondsCaptured: seconds.filter((t) => covered.has(t)).length,
      missingSeconds: seconds.filter((t) => !covered.has(t)),
      pointsPerSeries,
      exits,
      exitsPerVcpu,
      guest: vm.guestReport(),
      endReason: vm.endReason(),
      endDetails: vm.endDetails(),
      stoppedAtLimit: run.stoppedAtLimit,
      stoppedOn: run.stoppedOn,
      vmId: run.vmId,
      consoleLines: run.consoleLines,
      boot: vm.boot(),
      milestones: run.milestones,
      exitsPerSecond,
      busiestStats,
      storeBytes: store.info().totals.bytes,
      push,
    };
  } finally {
    store.close();
  }
}

/** The summary printed at the end of a run. */
export function formatReport(r: RunReport): string {
  const lines: string[] = [];
  const reason = r.endReason === null ? 'running' : r.endReason;
  lines.push(
    `VM ended: ${reason}${r.endDetails?.message ? ` (${r.endDetails.message})` : ''}${r.stoppedAtLimit ? ' at the time limit' : ''}`,
    `lived ${r.secondsLived.toFixed(2)} s; captured ${r.secondsCaptured} of the ${r.seconds.length} seconds it was alive in` +
      (r.missingSeconds.length > 0 ? ` (missing: ${r.missingSeconds.map((t) => new Date(t).toISOString()).join(', ')})` : ''),
    `exits by reason (all ${r.vcpus} vCPUs):`,
  );
  for (const reasonName of KVM_EXIT_REASONS) {
    const n = r.exits[reasonName];
    if (n > 0) lines.push(`  ${reasonName.padEnd(15)} ${String(n).padStart(10)}   ${r.exitsPerVcpu.map((e, i) => `vcpu${i} ${e[reasonName]}`).join('  ')}`);
  }
  if (r.guest.length > 0) {
    const g = r.guest.reduce(
      (a, x) => ({ io: a.io + x.ioIn + x.ioOut, mmio: a.mmio + x.mmioRead + x.mmioWrite }),
      { io: 0, mmio: 0 },
    );
    lines.push(`the guest counted ${g.io} port I/O and ${g.mmio} MMIO operations itself`);
  }
  const seen = Object.entries(r.milestones);
  if (r.boot !== null && seen.length > 0)
    lines.push(`console: ${seen.map(([name, ms]) => `${name} after ${(ms / 1000).toFixed(1)} s`).join(', ')}`);
  const perSecond = r.exitsPerSecond.filter((n) => !Number.isNaN(n));
  if (perSecond.length > 0) {
    const sorted = [...perSecond].sort((a, b) => a - b);
    lines.push(
      `exits per second (store): median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted[sorted.length - 1]}, ` +
        `mean ${(perSecond.reduce((a, b) => a + b, 0) / perSecond.length).toFixed(0)}`,
    );
  }
  if (r.busiestStats.length > 0) {
    lines.push('busiest KVM statistics:');
    for (const s of r.busiestStats) lines.push(`  ${s.name.padEnd(36)} ${s.value}`);
  }
  lines.push(`store ${r.storeDir}: ${r.pointsPerSeries.size} series, ${(r.storeBytes / 1024 / 1024).toFixed(1)} MiB`);
  lines.push(`events: ${r.consoleLines} console lines in /vm/${r.vmId}/console, the lifecycle in /vm/${r.vmId}/lifecycle (rondo events ${r.storeDir} --topic /vm/${r.vmId})`);
  if (r.push !== null)
    lines.push(`pushed ${r.push.samples} samples in ${r.push.batches} batches (${r.push.retries} retried, ${r.push.dropped} dropped)`);
  return lines.join('\n');
}

/** Makes a fresh directory for a VM's store (removing an old store there). */
export function freshStoreDir(dir: string): string {
  if (fs.existsSync(path.join(dir, 'rondo.json'))) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
