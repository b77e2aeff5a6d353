// A VM's figures in the agent's store: the VMM's exit counters per vCPU and reason,
// exit-handling time, time in KVM_RUN, and every KVM binary statistic of the VM and of each vCPU,
// by its name. Recorded by native code every interval (KvmVm.captureInto), or by the agent's tick.
import type { Collector, CollectContext, OpenContext } from '../agent';
import { ConfigError } from '../errors';
import { KVM_EXIT_REASONS, type KvmVm } from './vm';
import { kvmStatSeries, kvmStatSeriesName, kvmStatValue, type KvmStatSeries } from './stat-series';

export { kvmStatSeriesName };

/** The VMM's own series of a vCPU: name, help, unit. */
const VMM_DESCRIPTIONS: ReadonlyArray<readonly [string, string, string?]> = [
  ['vmm_vcpu_exits_total', 'Exits of the vCPU from KVM_RUN handled by the VMM, by reason.'],
  ['vmm_vcpu_exit_handling_seconds_total', 'Time the VMM spent handling exits of the vCPU, by reason.', 'seconds'],
  ['vmm_vcpu_exit_handling_max_seconds', 'The longest time the VMM spent handling one exit of the vCPU, by reason.', 'seconds'],
  ['vmm_vcpu_run_seconds_total', 'Time the vCPU spent in KVM_RUN.', 'seconds'],
];

export interface KvmCollectorOptions {
  /**
   * `'native'` (default): the agent's start registers the series and hands them to the VM's
   * native capture (vm.captureInto): the vCPU threads and a sampler thread record every interval
   * of tier 0 themselves, whatever the event loop does; the tick records nothing for the VM.
   * The VM must not have started when the agent starts. `'tick'`: the agent's tick reads the
   * counters and statistics and records them at the tick's time (a late tick loses its second).
   */
  capture?: 'native' | 'tick';
}

/**
 * Records, for every vCPU: `vmm_vcpu_exits_total{vcpu,reason}`, `vmm_vcpu_exit_handling_seconds_total`
 * and `vmm_vcpu_exit_handling_max_seconds` (per reason, once it has been seen), and
 * `vmm_vcpu_run_seconds_total`; and each KVM statistic under `kvm_vm_…` or `kvm_vcpu_…{vcpu}`
 * (kvmStatSeries: base units, `_total` on cumulative ones, histograms as Prometheus histograms),
 * every name described in the store (help and unit).
 * Natively by default (see KvmCollectorOptions.capture); when the native capture cannot be set up
 * (the VM started before the agent, say), the failure is the agent's to report and the tick
 * records instead.
 */
export function kvmCollector(vm: KvmVm, options: KvmCollectorOptions = {}): Collector {
  const mode = options.capture ?? 'native';
  if (mode !== 'native' && mode !== 'tick') throw new ConfigError(`kvmCollector: capture must be 'native' or 'tick', not ${JSON.stringify(mode)}`);
  let native = false;
  const descriptors = vm.statsDescriptors();
  const vmStats = descriptors.available ? kvmStatSeries('vm', descriptors.vm) : [];
  const vcpuStats = descriptors.available ? kvmStatSeries('vcpu', descriptors.vcpu) : [];
  const describe = (ctx: { describe(name: string, help: string, unit?: string): void }): void => {
    for (const [name, help, unit] of VMM_DESCRIPTIONS) ctx.describe(name, help, unit);
    const seen = new Set<string>();
    for (const s of [...vmStats, ...vcpuStats]) {
      if (seen.has(s.name)) continue;
      seen.add(s.name);
      // A histogram's parts are described under their own names: a reader groups them by `le`.
      ctx.describe(s.name, s.help, s.unit);
    }
  };
  let described = false;
  const record = (ctx: CollectContext, series: readonly KvmStatSeries[], words: ArrayLike<number>, labels: Record<string, string>): void => {
    for (const s of series) ctx.record(s.name, Object.keys(s.labels).length === 0 ? labels : { ...s.labels, ...labels }, kvmStatValue(s, words), s.kind);
  };
  return {
    name: 'kvm',
    open(ctx: OpenContext) {
      describe(ctx);
      described = true;
      // Native capture writes from C++ threads, past any hook: with hooks on the store, the
      // tick records (through JavaScript, through the hooks) instead. docs/hooks.md.
      if (mode !== 'native' || ctx.store.hasSampleHooks) return;
      vm.captureInto({
        register: (name, labels, o) => ctx.register(name, labels, o.kind),
        registerMany: (entries) => ctx.registerMany(entries),
        nativeTarget: (h) => ctx.store.nativeTarget(h),
      });
      native = true;
    },
    collect(ctx: CollectContext) {
      if (!described) {
        describe(ctx);
        described = true;
      }
      if (native) return;
      for (const c of vm.counters()) {
        const vcpu = String(c.vcpu);
        for (const reason of KVM_EXIT_REASONS) {
          ctx.record('vmm_vcpu_exits_total', { vcpu, reason }, c.exits[reason], 'counter');
          const l = c.latencyNs[reason];
          if (l.count > 0) {
            ctx.record('vmm_vcpu_exit_handling_seconds_total', { vcpu, reason }, l.sum / 1e9, 'counter');
            ctx.record('vmm_vcpu_exit_handling_max_seconds', { vcpu, reason }, l.max / 1e9);
          }
        }
        ctx.record('vmm_vcpu_run_seconds_total', { vcpu }, c.runNs / 1e9, 'counter');
      }
      if (!descriptors.available) return;
      const w = vm.statsWords();
      if (w.vm.length > 0) record(ctx, vmStats, w.vm, {});
      w.vcpus.forEach((words, i) => record(ctx, vcpuStats, words, { vcpu: String(i) }));
    },
  };
}
