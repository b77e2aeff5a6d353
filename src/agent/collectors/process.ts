// The process's own figures, under the names, types and help of prom-client's
// collectDefaultMetrics (node_modules/prom-client/lib/metrics), so Node.js dashboards built on
// them show the agent's process as they show any other.
import * as fs from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Collector, CollectContext } from '../collector';

/** Every name the process collector records: name, kind, help (prom-client's), unit. */
export const PROCESS_METRICS: ReadonlyArray<{ name: string; kind: 'counter' | 'gauge'; help: string; unit?: string }> = [
  { name: 'process_cpu_user_seconds_total', kind: 'counter', help: 'Total user CPU time spent in seconds.', unit: 'seconds' },
  { name: 'process_cpu_system_seconds_total', kind: 'counter', help: 'Total system CPU time spent in seconds.', unit: 'seconds' },
  { name: 'process_cpu_seconds_total', kind: 'counter', help: 'Total user and system CPU time spent in seconds.', unit: 'seconds' },
  { name: 'process_start_time_seconds', kind: 'gauge', help: 'Start time of the process since unix epoch in seconds.', unit: 'seconds' },
  { name: 'process_resident_memory_bytes', kind: 'gauge', help: 'Resident memory size in bytes.', unit: 'bytes' },
  { name: 'process_virtual_memory_bytes', kind: 'gauge', help: 'Virtual memory size in bytes.', unit: 'bytes' },
  { name: 'process_heap_bytes', kind: 'gauge', help: 'Process heap size in bytes.', unit: 'bytes' },
  { name: 'process_open_fds', kind: 'gauge', help: 'Number of open file descriptors.' },
  { name: 'process_max_fds', kind: 'gauge', help: 'Maximum number of open file descriptors.' },
  { name: 'nodejs_heap_size_total_bytes', kind: 'gauge', help: 'Process heap size from Node.js in bytes.', unit: 'bytes' },
  { name: 'nodejs_heap_size_used_bytes', kind: 'gauge', help: 'Process heap size used from Node.js in bytes.', unit: 'bytes' },
  { name: 'nodejs_external_memory_bytes', kind: 'gauge', help: 'Node.js external memory size in bytes.', unit: 'bytes' },
  { name: 'nodejs_eventloop_lag_min_seconds', kind: 'gauge', help: 'The minimum recorded event loop delay.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_max_seconds', kind: 'gauge', help: 'The maximum recorded event loop delay.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_mean_seconds', kind: 'gauge', help: 'The mean of the recorded event loop delays.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_stddev_seconds', kind: 'gauge', help: 'The standard deviation of the recorded event loop delays.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_p50_seconds', kind: 'gauge', help: 'The 50th percentile of the recorded event loop delays.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_p90_seconds', kind: 'gauge', help: 'The 90th percentile of the recorded event loop delays.', unit: 'seconds' },
  { name: 'nodejs_eventloop_lag_p99_seconds', kind: 'gauge', help: 'The 99th percentile of the recorded event loop delays.', unit: 'seconds' },
  { name: 'nodejs_version_info', kind: 'gauge', help: 'Node.js version info.' },
  { name: 'process_uptime_seconds', kind: 'gauge', help: 'Seconds since the process started (rondo; prom-client has no such metric).', unit: 'seconds' },
];

/**
 * CPU, memory, open and maximum fds, start time and uptime of this process, its V8 heap, and the
 * event loop's delay over the tick (min, max, mean, stddev, p50, p90, p99, as prom-client's
 * eventLoopLag reports them; nothing when the loop was not sampled since the last tick), under
 * prom-client's names. Every name is described in the store (help, unit).
 */
export function processCollector(): Collector {
  let eld: IntervalHistogram | undefined = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  const kinds = new Map(PROCESS_METRICS.map((m) => [m.name, m.kind] as const));
  const [major, minor, patch] = process.versions.node.split('.');
  const versionLabels = { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' };
  const maxFds = readMaxFds();
  let described = false;
  return {
    name: 'process',
    collect(ctx: CollectContext) {
      if (!described) {
        for (const m of PROCESS_METRICS) ctx.describe(m.name, m.help, m.unit);
        described = true;
      }
      const rec = (name: string, value: number, labels: Record<string, string> = {}): void => {
        if (Number.isFinite(value)) ctx.record(name, labels, value, kinds.get(name));
      };
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      rec('process_cpu_user_seconds_total', cpu.user / 1e6);
      rec('process_cpu_system_seconds_total', cpu.system / 1e6);
      rec('process_cpu_seconds_total', (cpu.user + cpu.system) / 1e6);
      rec('process_start_time_seconds', startSeconds);
      const status = readStatus();
      rec('process_resident_memory_bytes', status.VmRSS ?? mem.rss);
      if (status.VmSize !== undefined) rec('process_virtual_memory_bytes', status.VmSize);
      if (status.VmData !== undefined) rec('process_heap_bytes', status.VmData);
      rec('process_open_fds', openFds());
      rec('process_max_fds', maxFds);
      rec('nodejs_heap_size_total_bytes', mem.heapTotal);
      rec('nodejs_heap_size_used_bytes', mem.heapUsed);
      rec('nodejs_external_memory_bytes', mem.external);
      rec('nodejs_version_info', 1, versionLabels);
      rec('process_uptime_seconds', process.uptime());
      if (eld !== undefined && eld.count > 0) {
        rec('nodejs_eventloop_lag_min_seconds', eld.min / 1e9);
        rec('nodejs_eventloop_lag_max_seconds', eld.max / 1e9);
        rec('nodejs_eventloop_lag_mean_seconds', eld.mean / 1e9);
        rec('nodejs_eventloop_lag_stddev_seconds', eld.stddev / 1e9);
        rec('nodejs_eventloop_lag_p50_seconds', eld.percentile(50) / 1e9);
        rec('nodejs_eventloop_lag_p90_seconds', eld.percentile(90) / 1e9);
        rec('nodejs_eventloop_lag_p99_seconds', eld.percentile(99) / 1e9);
        eld.reset();
      }
    },
    close() {
      eld?.disable();
      eld = undefined;
    },
  };
}

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1; // less the one readdir opened
  } catch {
    return NaN;
  }
}

/** The soft limit of open files (/proc/self/limits), as prom-client reads it; NaN where there is none. */
function readMaxFds(): number {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(n) ? n : NaN;
  } catch {
    return NaN;
  }
}

/** VmRSS, VmSize and VmData of /proc/self/status, in bytes (prom-client's osMemoryHeapLinux); {} elsewhere. */
function readStatus(): { VmRSS?: number; VmSize?: number; VmData?: number } {
  const out: { VmRSS?: number; VmSize?: number; VmData?: number } = {};
  try {
    for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
      const m = /^(VmRSS|VmSize|VmData):\s+(\d+)\s+kB/.exec(line);
      if (m !== null) out[m[1] as 'VmRSS'] = Number(m[2]) * 1024;
    }
  } catch {
    // not Linux: process.memoryUsage().rss stands in for VmRSS
  }
  return out;
}
