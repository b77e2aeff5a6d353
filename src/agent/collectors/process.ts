// The process's own figures, as Prometheus's client libraries name them.
import * as fs from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Collector, CollectContext } from '../collector';

/** RSS, heap, open fds, uptime, CPU seconds and event-loop delay of this process. */
export function processCollector(): Collector {
  let eld: IntervalHistogram | undefined = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const startSeconds = Date.now() / 1000 - process.uptime();
  return {
    name: 'process',
    collect(ctx: CollectContext) {
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      ctx.record('process_resident_memory_bytes', {}, mem.rss);
      ctx.record('nodejs_heap_used_bytes', {}, mem.heapUsed);
      ctx.record('process_cpu_seconds_total', {}, (cpu.user + cpu.system) / 1e6, 'counter');
      ctx.record('process_start_time_seconds', {}, startSeconds);
      ctx.record('process_uptime_seconds', {}, process.uptime());
      const fds = openFds();
      if (Number.isFinite(fds)) ctx.record('process_open_fds', {}, fds);
      if (eld !== undefined && eld.count > 0) {
        ctx.record('nodejs_eventloop_delay_seconds', { quantile: '0.5' }, eld.percentile(50) / 1e9);
        ctx.record('nodejs_eventloop_delay_seconds', { quantile: '0.99' }, eld.percentile(99) / 1e9);
        ctx.record('nodejs_eventloop_delay_max_seconds', {}, eld.max / 1e9);
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
