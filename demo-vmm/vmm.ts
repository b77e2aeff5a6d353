// Running one VM with the embedded agent: the micro-guest on KVM, its console, the agent
// recording every second into the VM's store, a push when asked, and the report at the end.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Agent,
  KVM_EXIT_REASONS,
  KvmVm,
  Store,
  formatSeries,
  kvmCollector,
  processCollector,
  type KvmEndDetails,
  type KvmEndReason,
  type KvmExitReason,
  type KvmGuest,
  type KvmGuestReport,
  type KvmStatDescriptors,
  type PushSummary,
  type SchemaOptions,
} from '../src/index';

export interface RunOptions {
  durationMs: number;
  vcpus: number;
  /** The VM's store directory (created if missing). */
  storeDir: string;
  guest?: KvmGuest;
  devicePath?: string;
  /** Push to this remote-write URL every pushIntervalMs and once more at the end. */
  remoteWrite?: string;
  externalLabels?: Record<string, string>;
  pushIntervalMs?: number;
  /** Where the guest's console goes (default: nowhere). */
  console?: (text: string) => void;
  /** Agent failures (default: ignored, they are counted and recorded in the store). */
  onError?: (source: string, e: unknown) => void;
  /** Stops the VM early (Ctrl-C): the run still ends with a last tick, push and report. */
  signal?: AbortSignal;
}

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
  /** Points each series recorded by the agent has over the VM's life: series key → points. */
  pointsPerSeries: Map<string, number>;
  exits: Record<KvmExitReason, number>;
  exitsPerVcpu: Array<Record<KvmExitReason, number>>;
  guest: KvmGuestReport[];
  endReason: KvmEndReason | null;
  endDetails: KvmEndDetails | null;
  /** KVM statistics with the largest values at the end (vCPU ones summed over vCPUs). */
  busiestStats: Array<{ name: string; value: number }>;
  storeBytes: number;
  push: PushSummary | null;
}

/** The series the exit counters live in, per vCPU and reason. */
export const EXITS_SERIES = 'vmm_vcpu_exits_total';

/**
 * One schema sized for this VM: the process's and agent's own series, every KVM statistic of
 * the VM and of each vCPU, and the VMM's exit counters and timings per vCPU.
 */
export function vmSchemas(vcpus: number, stats: KvmStatDescriptors): SchemaOptions[] {
  const perVcpu = stats.vcpu.length + KVM_EXIT_REASONS.length * 3 + 1;
  const need = 48 + stats.vm.length + vcpus * perVcpu;
  return [
    {
      name: 'vm',
      match: {},
      maxSeries: Math.ceil(need / 16) * 16,
      tiers: [
        { interval: '1s', retention: '1h' },
        { interval: '10s', retention: '6h', consolidate: 'avg' },
        { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
      ],
    },
  ];
}

/** Boots the micro-guest, records every second of its life, and reports. */
export async function runVm(o: RunOptions): Promise<RunReport> {
  const vm = new KvmVm({
    vcpus: o.vcpus,
    durationMs: o.durationMs,
    ...(o.guest === undefined ? {} : { guest: o.guest }),
    ...(o.devicePath === undefined ? {} : { devicePath: o.devicePath }),
  });
  try {
    const agent = await Agent.start({
      dir: o.storeDir,
      schemas: vmSchemas(o.vcpus, vm.statsDescriptors()),
      collectors: [processCollector(), kvmCollector(vm)],
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
    });
    const stop = () => vm.stop();
    o.signal?.addEventListener('abort', stop);
    vm.start();
    // A point at the VM's start: its first second may begin before the agent's next tick.
    await agent.tick();
    const pump = setInterval(() => {
      const text = vm.console();
      if (text !== '') o.console?.(text);
    }, 50);
    try {
      await vm.wait();
    } finally {
      clearInterval(pump);
      o.signal?.removeEventListener('abort', stop);
      const rest = vm.console();
      if (rest !== '') o.console?.(rest);
      // The last tick and the last push: the VM's final second is kept.
      await agent.stop();
    }
    return report(o, vm, agent.stats.lastPush);
  } finally {
    vm.stop();
  }
}

function report(o: RunOptions, vm: KvmVm, push: PushSummary | null): RunReport {
  const startedAtMs = vm.startedAtMs!;
  const endedAtMs = vm.endedAtMs ?? Date.now();
  const seconds: number[] = [];
  for (let t = Math.floor(startedAtMs / 1000) * 1000; t <= endedAtMs; t += 1000) seconds.push(t);
  const store = Store.openReadOnly(o.storeDir);
  try {
    const pointsPerSeries = new Map<string, number>();
    const covered = new Set<number>();
    for (const r of store.select('{__name__=~".+"}', { start: seconds[0]!, end: seconds[seconds.length - 1]!, tier: 0 })) {
      let n = 0;
      r.values.forEach((v, i) => {
        if (Number.isNaN(v)) return;
        n++;
        if (r.name === EXITS_SERIES) covered.add(r.timestamps[i]!);
      });
      pointsPerSeries.set(formatSeries(r.name, r.labels), n);
    }
    const counters = vm.counters();
    const exitsPerVcpu = counters.map((c) => ({ ...c.exits }));
    const exits = Object.fromEntries(KVM_EXIT_REASONS.map((r) => [r, exitsPerVcpu.reduce((a, e) => a + e[r], 0)])) as Record<KvmExitReason, number>;
    const stats = vm.stats();
    const summed = new Map<string, number>();
    for (const [k, v] of Object.entries(stats.vm)) summed.set(`kvm_vm_${k}`, v);
    for (const s of stats.vcpus) for (const [k, v] of Object.entries(s)) summed.set(`kvm_vcpu_${k}`, (summed.get(`kvm_vcpu_${k}`) ?? 0) + v);
    const busiestStats = [...summed.entries()]
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([name, value]) => ({ name, value }));
    return {
      storeDir: path.resolve(o.storeDir),
      vcpus: o.vcpus,
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
    `VM ended: ${reason}${r.endDetails?.message ? ` (${r.endDetails.message})` : ''}`,
    `lived ${r.secondsLived.toFixed(2)} s; captured ${r.secondsCaptured} of the ${r.seconds.length} seconds it was alive in` +
      (r.missingSeconds.length > 0 ? ` (missing: ${r.missingSeconds.map((t) => new Date(t).toISOString()).join(', ')})` : ''),
    `exits by reason (all ${r.vcpus} vCPUs):`,
  );
  for (const reasonName of KVM_EXIT_REASONS) {
    const n = r.exits[reasonName];
    if (n > 0) lines.push(`  ${reasonName.padEnd(15)} ${String(n).padStart(10)}   ${r.exitsPerVcpu.map((e, i) => `vcpu${i} ${e[reasonName]}`).join('  ')}`);
  }
  const g = r.guest.reduce(
    (a, x) => ({ io: a.io + x.ioIn + x.ioOut, mmio: a.mmio + x.mmioRead + x.mmioWrite }),
    { io: 0, mmio: 0 },
  );
  lines.push(`the guest counted ${g.io} port I/O and ${g.mmio} MMIO operations itself`);
  if (r.busiestStats.length > 0) {
    lines.push('busiest KVM statistics:');
    for (const s of r.busiestStats) lines.push(`  ${s.name.padEnd(36)} ${s.value}`);
  }
  lines.push(`store ${r.storeDir}: ${r.pointsPerSeries.size} series, ${(r.storeBytes / 1024 / 1024).toFixed(1)} MiB`);
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
