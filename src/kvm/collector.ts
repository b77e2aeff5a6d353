// A VM's figures every tick: the VMM's exit counters per vCPU and reason, exit-handling time,
// time in KVM_RUN, and every KVM binary statistic of the VM and of each vCPU, by its name.
import type { Collector, CollectContext } from '../agent';
import { KVM_EXIT_REASONS, type KvmStatDescriptor, type KvmVm } from './vm';

/** Series names for a KVM statistic: the kernel's name with a prefix, as the kernel spells it. */
export const kvmStatSeriesName = (scope: 'vm' | 'vcpu', statName: string): string => `kvm_${scope}_${statName}`;

/**
 * Records, for every vCPU: `vmm_vcpu_exits_total{vcpu,reason}`, `vmm_vcpu_exit_handling_seconds_total`
 * and `vmm_vcpu_exit_handling_max_seconds` (per reason, once it has been seen), and
 * `vmm_vcpu_run_seconds_total`; and each KVM statistic as `kvm_vm_<name>` or `kvm_vcpu_<name>{vcpu}`
 * (cumulative ones as counters, histograms as their sample count), in the kernel's units.
 */
export function kvmCollector(vm: KvmVm): Collector {
  const descriptors = vm.statsDescriptors();
  const kindOf = (d: KvmStatDescriptor) => (d.type === 'cumulative' || d.type.endsWith('_hist') ? 'counter' : 'gauge');
  const vmKinds = new Map(descriptors.vm.map((d) => [d.name, kindOf(d)] as const));
  const vcpuKinds = new Map(descriptors.vcpu.map((d) => [d.name, kindOf(d)] as const));
  return {
    name: 'kvm',
    collect(ctx: CollectContext) {
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
