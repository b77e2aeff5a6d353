// A VM's figures in the agent's store: the VMM's exit counters per vCPU and reason,
// exit-handling time, time in KVM_RUN, and every KVM binary statistic of the VM and of each vCPU,
// by its name. Recorded by native code every interval (KvmVm.captureInto), or by the agent's tick.
import type { Collector, CollectContext, OpenContext } from '../agent';
import { ConfigError } from '../errors';
import { KVM_EXIT_REASONS, kvmStatKind, kvmStatSeriesName, type KvmVm } from './vm';

export { kvmStatSeriesName };

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
 * `vmm_vcpu_run_seconds_total`; and each KVM statistic as `kvm_vm_<name>` or `kvm_vcpu_<name>{vcpu}`
 * (cumulative ones as counters, histograms as their sample count), in the kernel's units.
 * Natively by default (see KvmCollectorOptions.capture); when the native capture cannot be set up
 * (the VM started before the agent, say), the failure is the agent's to report and the tick
 * records instead.
 */
export function kvmCollector(vm: KvmVm, options: KvmCollectorOptions = {}): Collector {
  const mode = options.capture ?? 'native';
  if (mode !== 'native' && mode !== 'tick') throw new ConfigError(`kvmCollector: capture must be 'native' or 'tick', not ${JSON.stringify(mode)}`);
  let native = false;
  const descriptors = vm.statsDescriptors();
  const vmKinds = new Map(descriptors.vm.map((d) => [d.name, kvmStatKind(d)] as const));
  const vcpuKinds = new Map(descriptors.vcpu.map((d) => [d.name, kvmStatKind(d)] as const));
  return {
    name: 'kvm',
    open(ctx: OpenContext) {
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
      const s = vm.stats();
      for (const [name, value] of Object.entries(s.vm)) ctx.record(kvmStatSeriesName('vm', name), {}, value, vmKinds.get(name));
      s.vcpus.forEach((stats, i) => {
        for (const [name, value] of Object.entries(stats))
          ctx.record(kvmStatSeriesName('vcpu', name), { vcpu: String(i) }, value, vcpuKinds.get(name));
      });
    },
  };
}
