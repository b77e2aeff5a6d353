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
  /** Bytes on disk of each VM's store (allocated blocks). */
  storeBytesPerVm: number[];
  /** Every VM's every second has a point. */
  everySecondCaptured: boolean;
}

export async function runFleet(o: { vms: number; durationMs: number; vcpus: number; baseDir: string }): Promise<FleetReport> {
  fs.mkdirSync(o.baseDir, { recursive: true, mode: 0o700 });
  const reports = await Promise.all(
    Array.from({ length: o.vms }, (_, i) =>
      runVm({ durationMs: o.durationMs, vcpus: o.vcpus, storeDir: freshStoreDir(path.join(o.baseDir, `vm${i}`)) }),
    ),
  );
  return {
    vms: o.vms,
    durationMs: o.durationMs,
    reports,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    storeBytesPerVm: reports.map((r) => diskBytes(r.storeDir)),
    everySecondCaptured: reports.every((r) => r.missingSeconds.length === 0),
  };
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
    `peak RSS of the launcher: ${mib(f.peakRssBytes)}`,
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
