// Many VMs at once, each with its own store (see README: why one store per VM).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runVm, freshStoreDir, type RunReport } from './vmm';

export interface FleetReport {
  vms: number;
  durationMs: number;
  reports: RunReport[];
  /** Peak resident set of this process over its life, bytes. */
  peakRssBytes: number;
  /** The most threads and open fds this process had while the fleet ran (sampled every 500 ms). */
  peakThreads: number;
  peakFds: number;
  /** Bytes on disk of each VM's store (allocated blocks). */
  storeBytesPerVm: number[];
  /** Every VM's every second has a point. */
  everySecondCaptured: boolean;
}

export async function runFleet(o: { vms: number; durationMs: number; vcpus: number; baseDir: string }): Promise<FleetReport> {
  fs.mkdirSync(o.baseDir, { recursive: true, mode: 0o700 });
  const peak = { threads: 0, fds: 0 };
  const sample = () => {
    peak.threads = Math.max(peak.threads, count('/proc/self/task'));
    peak.fds = Math.max(peak.fds, count('/proc/self/fd'));
  };
  const sampler = setInterval(sample, 500);
  let reports: RunReport[];
  try {
    reports = await Promise.all(
      Array.from({ length: o.vms }, (_, i) =>
        runVm({ durationMs: o.durationMs, vcpus: o.vcpus, storeDir: freshStoreDir(path.join(o.baseDir, `vm${i}`)) }),
      ),
    );
  } finally {
    clearInterval(sampler);
  }
  return {
    vms: o.vms,
    durationMs: o.durationMs,
    reports,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    peakThreads: peak.threads,
    peakFds: peak.fds,
    storeBytesPerVm: reports.map((r) => diskBytes(r.storeDir)),
    everySecondCaptured: reports.every((r) => r.missingSeconds.length === 0),
  };
}

/** Entries of a /proc directory (0 where there is no /proc). */
function count(dir: string): number {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return 0;
  }
}

function diskBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? diskBytes(p) : fs.statSync(p).blocks * 512;
  }
  return n;
}

export function formatFleet(f: FleetReport): string {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const lines = [
    `${f.vms} VMs × ${f.durationMs / 1000} s, one store each`,
    `peak RSS of the launcher: ${mib(f.peakRssBytes)} (${mib(f.peakRssBytes / f.vms)} per VM); at most ${f.peakThreads} threads and ${f.peakFds} open fds`,
    `store on disk per VM: ${mib(Math.min(...f.storeBytesPerVm))}${Math.min(...f.storeBytesPerVm) === Math.max(...f.storeBytesPerVm) ? '' : ` to ${mib(Math.max(...f.storeBytesPerVm))}`}`,
    `every second of every VM captured: ${f.everySecondCaptured ? 'yes' : 'NO'}`,
  ];
  f.reports.forEach((r, i) =>
    lines.push(
      `  vm${i}: lived ${r.secondsLived.toFixed(2)} s, captured ${r.secondsCaptured}/${r.seconds.length} s, ended ${r.endReason}, ${r.exits.io_in + r.exits.io_out} port I/O and ${r.exits.mmio_read + r.exits.mmio_write} MMIO exits` +
        (r.missingSeconds.length > 0 ? `; missing ${r.missingSeconds.map((t) => new Date(t).toISOString().slice(11, 19)).join(', ')} (VM ${new Date(r.startedAtMs).toISOString().slice(11, 23)}–${new Date(r.endedAtMs).toISOString().slice(11, 23)})` : ''),
    ),
  );
  return lines.join('\n');
}
