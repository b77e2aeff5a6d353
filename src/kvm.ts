/**
 * The demo VMM's KVM layer (native/kvm/), typed: a VM that runs the built-in micro-guest in long
 * mode, the VMM's exit counters, the guest's own counts, and KVM's binary statistics.
 *
 * The wrapper is thin: every call goes to the addon; coded native errors become named errors.
 */
import { ConfigError, RondoError } from './errors';
import { addon, nativeCode } from './native';

/** No usable KVM: the device is missing, not accessible, or not a KVM. The message says what to do. */
export class KvmUnavailableError extends RondoError {
  override name = 'KvmUnavailableError';
}

/** A KVM call failed on a device that exists, or the VM was used out of order (start() twice). */
export class KvmError extends RondoError {
  override name = 'KvmError';
}

/** The exit reasons the VMM counts, port I/O and MMIO split by direction. */
export const KVM_EXIT_REASONS = [
  'io_in',
  'io_out',
  'mmio_read',
  'mmio_write',
  'hlt',
  'shutdown',
  'internal_error',
  'fail_entry',
  'other',
] as const;
export type KvmExitReason = (typeof KVM_EXIT_REASONS)[number];

/**
 * The guest to run. `micro`: the workload whose phases follow the wall clock. `internal-error`:
 * a `lock cmpxchg16b` on MMIO, which an emulating KVM cannot complete. `fail-entry`: vCPUs
 * entered with CS.L = CS.D = 1, a state VMX and SVM refuse at VM entry.
 */
export type KvmGuest = 'micro' | 'internal-error' | 'fail-entry';

/** Why a VM (or one vCPU) ended. `run_error`: KVM_RUN itself failed (see `errno`). */
export type KvmEndReason = 'shutdown' | 'internal_error' | 'fail_entry' | 'run_error' | 'stopped';

/** The micro-guest's phases: `none` before start() and after the end. */
export type KvmPhase = 'none' | 'cpu' | 'pio' | 'mmio' | 'idle' | 'shutdown';

export interface KvmVmOptions {
  /** 1 to 64. */
  vcpus: number;
  /** How long the micro-guest runs, in ms (at least 200): cpu 20%, port I/O 20%, MMIO 20%, idle the rest. */
  durationMs: number;
  /** Guest memory, a multiple of 4096 from 1 MiB to 1 GiB; 2 MiB by default. */
  memoryBytes?: number;
  guest?: KvmGuest;
  /** `/dev/kvm` by default. */
  devicePath?: string;
}

export interface KvmProbe {
  ok: boolean;
  apiVersion?: number;
  /** Whether the kernel has KVM binary statistics (KVM_GET_STATS_FD, Linux 5.14+). */
  binaryStats?: boolean;
  /** Why not, when !ok: the path and what to do. */
  reason?: string;
}

/** Exit-handling time of one reason in ns, from KVM_RUN's return to the end of its handling. */
export interface KvmLatency {
  min: number;
  max: number;
  sum: number;
  count: number;
}

/** One vCPU's cumulative counters, as the VMM saw its exits; never reset by reading. */
export interface KvmVcpuCounters {
  vcpu: number;
  exits: Record<KvmExitReason, number>;
  latencyNs: Record<KvmExitReason, KvmLatency>;
  /** Time spent inside KVM_RUN. */
  runNs: number;
  /** KVM_RUN calls. */
  runs: number;
  /** KVM_RUN calls that returned EINTR (a kick from stop()). */
  interrupted: number;
  /** Port accesses no device answers (also counted in io_in/io_out). */
  unclaimedIo: number;
  /** MMIO outside the test device (also counted in mmio_read/mmio_write). */
  unclaimedMmio: number;
  /** The raw KVM exit_reason of the last `other` exit. */
  lastOtherReason: number;
  end: KvmEndReason | null;
}

/** What the guest counted itself, in its report area in guest memory. */
export interface KvmGuestReport {
  vcpu: number;
  /** The guest reached its first instruction. */
  started: boolean;
  ioIn: number;
  ioOut: number;
  mmioRead: number;
  mmioWrite: number;
  hlt: number;
  /** Units of work done, all phases. */
  loops: number;
  cpuUnits: number;
  pioUnits: number;
  mmioUnits: number;
  /** The phase the guest last read from the control port. */
  phase: KvmPhase;
  /** Test-port reads that did not echo the byte written. */
  echoErrors: number;
  /** MMIO reads that did not return the VMM's pattern. */
  mmioErrors: number;
}

export interface KvmEndDetails {
  reason: KvmEndReason;
  /** The vCPU whose end ended the VM; null when stop() did. */
  vcpu: number | null;
  message: string;
  /** internal_error: KVM's suberror (1: emulation failure) and data words (hex). */
  suberror?: number;
  data?: string[];
  /** internal_error with an emulation failure: the instruction bytes KVM fetched (hex). */
  instructionBytes?: string;
  /** fail_entry: hardware_entry_failure_reason (hex) and the host CPU. */
  hardwareEntryFailureReason?: string;
  cpu?: number;
  /** run_error: the errno of KVM_RUN. */
  errno?: number;
}

/** One KVM binary statistic as the kernel describes it: its value is value × base^exponent in unit. */
export interface KvmStatDescriptor {
  name: string;
  type: 'cumulative' | 'instant' | 'peak' | 'linear_hist' | 'log_hist';
  unit: 'none' | 'bytes' | 'seconds' | 'cycles' | 'boolean';
  base: 10 | 2;
  exponent: number;
  /** 1, or a histogram's number of buckets. */
  size: number;
  bucketSize: number;
  offset: number;
}

export interface KvmStatDescriptors {
  /** False when the kernel lacks KVM_CAP_BINARY_STATS_FD: the lists are empty and `reason` says why. */
  available: boolean;
  reason?: string;
  vm: KvmStatDescriptor[];
  vcpu: KvmStatDescriptor[];
}

/** Values by the kernel's names. A histogram's value is the sum of its buckets (its sample count). */
export interface KvmStats {
  available: boolean;
  vm: Record<string, number>;
  vcpus: Array<Record<string, number>>;
}

interface NativeKvmVm {
  start(): void;
  stop(): void;
  done(): boolean;
  wait(): Promise<void>;
  endReason(): KvmEndReason | null;
  endDetails(): KvmEndDetails | null;
  console(): string;
  phase(): KvmPhase;
  counters(): KvmVcpuCounters[];
  guestReport(): KvmGuestReport[];
  statsDescriptors(): KvmStatDescriptors;
  stats(): KvmStats;
  startedAtMs(): number | null;
  endedAtMs(): number | null;
}

interface NativeKvm {
  probe(devicePath?: string): KvmProbe;
  Vm: new (options: KvmVmOptions) => NativeKvmVm;
}

const native = (): NativeKvm => (addon as unknown as { kvm: NativeKvm }).kvm;

function named(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  switch (nativeCode(e)) {
    case 'RONDO_NO_KVM':
      return new KvmUnavailableError(message, { cause: e });
    case 'RONDO_KVM':
    case 'RONDO_STATE':
      return new KvmError(message, { cause: e });
    case 'RONDO_ARG':
      return new ConfigError(message, { cause: e });
    default:
      return e;
  }
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw named(e);
  }
}

/** Whether KVM can be used here, and if not, why (never throws for a missing device). */
export function probeKvm(devicePath?: string): KvmProbe {
  return call(() => native().probe(devicePath));
}

/**
 * A VM of the demo VMM. The constructor opens the device and builds the VM (memory, guest,
 * vCPUs, statistics fds); start() runs one thread per vCPU. The VM ends by itself (the guest
 * shuts down, or KVM reports an internal error or a failed entry) or by stop(); once it has
 * ended and done() or wait() saw it, its threads are joined and every fd is closed. Counters,
 * the guest report and the last statistics stay readable. A VM that JavaScript drops is stopped.
 */
export class KvmVm {
  private readonly vm: NativeKvmVm;

  /** @throws KvmUnavailableError, KvmError, ConfigError */
  constructor(readonly options: KvmVmOptions) {
    this.vm = call(() => new (native().Vm)(options));
  }

  start(): void {
    call(() => this.vm.start());
  }

  /** Ends the VM now: every vCPU leaves KVM_RUN, threads are joined, fds closed. Idempotent. */
  stop(): void {
    this.vm.stop();
  }

  /** True once every vCPU has ended (and then the VM's resources are released). */
  done(): boolean {
    return this.vm.done();
  }

  /** Resolves when the VM has ended and its resources are released. */
  wait(): Promise<void> {
    return call(() => this.vm.wait());
  }

  /** null while the VM runs. */
  endReason(): KvmEndReason | null {
    return this.vm.endReason();
  }

  endDetails(): KvmEndDetails | null {
    return this.vm.endDetails();
  }

  /** The guest's serial output since the last call, whole lines per vCPU. */
  console(): string {
    return this.vm.console();
  }

  phase(): KvmPhase {
    return this.vm.phase();
  }

  counters(): KvmVcpuCounters[] {
    return this.vm.counters();
  }

  guestReport(): KvmGuestReport[] {
    return this.vm.guestReport();
  }

  statsDescriptors(): KvmStatDescriptors {
    return this.vm.statsDescriptors();
  }

  /** Reads every statistic now (after the end: the last values read before the fds closed). */
  stats(): KvmStats {
    return call(() => this.vm.stats());
  }

  /** Wall-clock ms of start(); null before. */
  get startedAtMs(): number | null {
    return this.vm.startedAtMs();
  }

  /** Wall-clock ms when the last vCPU ended; null while running. */
  get endedAtMs(): number | null {
    return this.vm.endedAtMs();
  }
}
