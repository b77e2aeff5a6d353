// rondo/kvm: the demo VMM's KVM layer (Linux x64), and its agent collector. Not part of the
// main entry point: a store-only user never loads it.
export {
  KvmVm,
  probeKvm,
  KvmUnavailableError,
  KvmError,
  KernelImageError,
  KVM_EXIT_REASONS,
  LINUX_DEFAULT_CMDLINE,
  CPUID_FEATURES,
  inspectKernel,
  prepareBoot,
  parseCpuidBit,
} from './vm';
export type {
  KvmVmOptions,
  KvmProbe,
  KvmVcpuCounters,
  KvmGuestReport,
  KvmEndReason,
  KvmEndDetails,
  KvmStats,
  KvmStatDescriptor,
  KvmStatDescriptors,
  KvmStatWords,
  KvmGuest,
  KvmPhase,
  KvmLatency,
  KvmExitReason,
  KvmLinuxBoot,
  KvmE820Entry,
  KernelInfo,
  PreparedBoot,
  KvmCaptureStore,
  KvmCaptureOptions,
  KvmCapture,
} from './vm';
export { kvmCollector } from './collector';
export { kvmStatSeriesName, kvmStatSeries, kvmStatValue } from './stat-series';
export type { KvmStatSeries } from './stat-series';
export type { KvmCollectorOptions } from './collector';
