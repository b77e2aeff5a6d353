/**
 * The demo VMM's KVM layer (native/kvm/), typed: a VM that runs the built-in micro-guest in long
 * mode or a Linux kernel (vmlinux through its PVH entry, or a bzImage through the 64-bit boot
 * protocol), the VMM's exit counters, the guest's own counts, and KVM's binary statistics.
 *
 * The wrapper is thin: every call goes to the addon; coded native errors become named errors.
 */
import { kvmStatSeries, type KvmStatSeries } from './stat-series';
import { ConfigError, CorruptFileError, nativeCode, RondoError, StorageError } from '../errors';
import { loadKvmAddon } from './native';

/** No usable KVM: the device is missing, not accessible, or not a KVM. The message says what to do. */
export class KvmUnavailableError extends RondoError {
  override name = 'KvmUnavailableError';
}

/** A KVM call failed on a device that exists, or the VM was used out of order (start() twice). */
export class KvmError extends RondoError {
  override name = 'KvmError';
}

/**
 * A kernel, initrd or command line the Linux loaders refuse: not a kernel, truncated, damaged,
 * or too big for the guest's memory. The message names the file and what to do.
 */
export class KernelImageError extends RondoError {
  override name = 'KernelImageError';
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
 * entered with CS.L = CS.D = 1, a state VMX and SVM refuse at VM entry. `linux`: the kernel
 * given by `kernel` (implied when `kernel` is set).
 */
export type KvmGuest = 'micro' | 'internal-error' | 'fail-entry' | 'linux';

/**
 * The command line a Linux guest gets unless told otherwise: the console on the UART (with the
 * early console, so the first lines show before the 8250 driver is up), reboot through the
 * i8042 (which this VMM treats as power-off), and no waiting on hardware this VMM lacks.
 */
export const LINUX_DEFAULT_CMDLINE =
  'console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 nokaslr acpi=off ' +
  'i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd rdinit=/init';


/** Why a VM (or one vCPU) ended. `run_error`: KVM_RUN itself failed (see `errno`). */
export type KvmEndReason = 'shutdown' | 'internal_error' | 'fail_entry' | 'run_error' | 'stopped';

/** The micro-guest's phases: `none` before start() and after the end. */
export type KvmPhase = 'none' | 'cpu' | 'pio' | 'mmio' | 'idle' | 'shutdown';

export interface KvmVmOptions {
  /** 1 to 64 (a Linux guest: 1, the default for it). */
  vcpus?: number;
  /**
   * How long the micro-guest runs, in ms (at least 200): cpu 20%, port I/O 20%, MMIO 20%, idle
   * the rest. Required for the built-in guests; a Linux guest runs until it ends or stop().
   */
  durationMs?: number;
  /**
   * Guest memory: built-in guests a multiple of 4096 from 1 MiB to 1 GiB (2 MiB by default);
   * Linux a multiple of 2 MiB from 64 MiB to 3 GiB (256 MiB by default).
   */
  memoryBytes?: number;
  guest?: KvmGuest;
  /** Linux: the kernel, an uncompressed vmlinux (ELF with a PVH entry note) or a bzImage. */
  kernel?: string;
  /** Linux: the initramfs (a cpio archive, compressed or not), handed over as the initrd. */
  initrd?: string;
  /** Linux: the kernel command line (nothing when absent: pass LINUX_DEFAULT_CMDLINE for the usual). */
  cmdline?: string;
  /**
   * CPUID features to clear from what KVM supports, by name (`cx16`, `x2apic`, ... see
   * CPUID_FEATURES) or as `leaf[.subleaf]:register:bit` (`0x1:ecx:13`). Some emulated KVMs
   * cannot run an instruction the guest would otherwise pick (this project's fails on
   * `cmpxchg16b`: hide `cx16` and Linux goes on without it).
   */
  hideCpuid?: string[];
  /** `/dev/kvm` by default. */
  devicePath?: string;
}

/** CPUID feature bits by the names Linux gives them in /proc/cpuinfo. */
export const CPUID_FEATURES: Readonly<Record<string, { leaf: number; register: 'eax' | 'ebx' | 'ecx' | 'edx'; bit: number; subleaf?: number }>> = {
  pcid: { leaf: 1, register: 'ecx', bit: 17 },
  cx16: { leaf: 1, register: 'ecx', bit: 13 },
  x2apic: { leaf: 1, register: 'ecx', bit: 21 },
  tsc_deadline_timer: { leaf: 1, register: 'ecx', bit: 24 },
  xsave: { leaf: 1, register: 'ecx', bit: 26 },
  avx: { leaf: 1, register: 'ecx', bit: 28 },
  rdrand: { leaf: 1, register: 'ecx', bit: 30 },
  avx2: { leaf: 7, subleaf: 0, register: 'ebx', bit: 5 },
  smep: { leaf: 7, subleaf: 0, register: 'ebx', bit: 7 },
  smap: { leaf: 7, subleaf: 0, register: 'ebx', bit: 20 },
  la57: { leaf: 7, subleaf: 0, register: 'ecx', bit: 16 },
  pdpe1gb: { leaf: 0x80000001, register: 'edx', bit: 26 },
};

const REGISTERS = ['eax', 'ebx', 'ecx', 'edx'] as const;

/** A CPUID feature name or `leaf[.subleaf]:register:bit` as the native layer takes it. */
export function parseCpuidBit(spec: string): { function: number; index: number; register: number; bit: number } {
  const named = CPUID_FEATURES[spec.toLowerCase()];
  if (named !== undefined) return { function: named.leaf, index: named.subleaf ?? 0, register: REGISTERS.indexOf(named.register), bit: named.bit };
  const m = /^(0x[0-9a-f]+|\d+)(?:\.(0x[0-9a-f]+|\d+))?:(eax|ebx|ecx|edx):(\d+)$/i.exec(spec.trim());
  if (m === null || Number(m[4]) > 31)
    throw new ConfigError(
      `"${spec}" is not a CPUID feature: give a name (${Object.keys(CPUID_FEATURES).join(', ')}) or leaf[.subleaf]:register:bit, e.g. 0x1:ecx:13`,
    );
  return { function: Number(m[1]), index: m[2] === undefined ? 0 : Number(m[2]), register: REGISTERS.indexOf(m[3]!.toLowerCase() as 'eax'), bit: Number(m[4]) };
}

/** One entry of the guest's memory map (e820 types: 1 RAM, 2 reserved). */
export interface KvmE820Entry {
  addr: number;
  size: number;
  type: number;
}

/** How a Linux kernel was loaded into guest memory, and how its vCPU starts. */
export interface KvmLinuxBoot {
  /** `vmlinux-pvh`: an ELF entered at its PVH entry; `bzimage`: the 64-bit boot protocol. */
  format: 'vmlinux-pvh' | 'bzimage';
  /** `protected32`: 32-bit, paging off (PVH); `long64`: long mode on an identity map. */
  entryMode: 'protected32' | 'long64';
  /** The guest physical address the vCPU starts at. */
  entry: number;
  /** hvm_start_info (in %ebx) or boot_params (in %rsi). */
  bootInfo: number;
  kernelStart: number;
  /** The end of what the kernel occupies (a bzImage: including the room it decompresses into). */
  kernelEnd: number;
  /** 0 and 0 without an initrd. */
  initrdAddr: number;
  initrdBytes: number;
  cmdlineAddr: number;
  /** bzImage: the boot protocol version of its setup header, e.g. "2.15". */
  bootProtocol?: string;
  e820: KvmE820Entry[];
}

/** What the loaders see in a kernel file (inspectKernel). */
export interface KernelInfo {
  format: 'vmlinux-pvh' | 'bzimage';
  bytes: number;
  /** vmlinux: the 32-bit PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) and the PT_LOAD segments. */
  pvhEntry?: number;
  loadStart?: number;
  loadEnd?: number;
  segments?: Array<{ paddr: number; fileBytes: number; memoryBytes: number }>;
  /** bzImage: the setup header. payloadOffset/payloadBytes: the compressed vmlinux in the file. */
  bootProtocol?: string;
  setupBytes?: number;
  kernelBytes?: number;
  prefAddress?: number;
  initSize?: number;
  cmdlineMax?: number;
  initrdAddrMax?: number;
  payloadOffset?: number;
  payloadBytes?: number;
}

/** prepareBoot's answer: the load, and the guest memory it wrote, to check without booting. */
export interface PreparedBoot extends KvmLinuxBoot {
  /** Guest physical [0, 1 MiB): GDT, page tables, hvm_start_info or boot_params, command line. */
  low: Buffer;
  /** The first 64 bytes at kernelStart, and at initrdAddr (absent without an initrd). */
  kernelHead: Buffer;
  initrdHead?: Buffer;
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

/**
 * Every word of the statistics' data (a histogram's buckets, a scalar's value), the descriptors'
 * words one after the other in descriptor order: what kvmStatSeries()'s `lo`/`hi` index.
 */
export interface KvmStatWords {
  vm: Float64Array;
  vcpus: Float64Array[];
}

/**
 * What captureInto() needs of a store; a `Store` (from `rondo`) is one. `register` may return
 * undefined for a series it refuses (the agent's way, see kvmCollector): that series is left out.
 */
export interface KvmCaptureStore<H> {
  register(name: string, labels: Record<string, string>, options: { kind: 'counter' | 'gauge' }): H | undefined;
  /** Used instead of register() when present: all the series at once (one write of the series index). An Error entry is thrown. */
  registerMany?(entries: Array<{ name: string; labels: Record<string, string>; kind: 'counter' | 'gauge' }>): Array<H | Error | undefined>;
  nativeTarget(handle: H): { file: string; column: number; intervalMs: number };
}

export interface KvmCaptureOptions {
  /** Added to every series (e.g. `{ vm: 'vm3' }` when several VMs share one store); they win over the VM's own. */
  labels?: Record<string, string>;
}

/** What captureInto() set up. */
export interface KvmCapture<H> {
  /** The series captured (those the store took), in registration order. */
  handles: H[];
  /** Their tier-0 interval: one point per interval, ms. */
  intervalMs: number;
}

/**
 * Every series a native capture records, in the order the addon's plan takes them (capture.h):
 * per vCPU its exits, exit-handling time and max by reason and its run time; then the VM's KVM
 * statistics; then each vCPU's.
 */
function captureSeries(vcpus: number, d: KvmStatDescriptors, vmStats: readonly KvmStatSeries[], vcpuStats: readonly KvmStatSeries[]): Array<{ name: string; labels: Record<string, string>; kind: 'counter' | 'gauge' }> {
  const out: Array<{ name: string; labels: Record<string, string>; kind: 'counter' | 'gauge' }> = [];
  for (let v = 0; v < vcpus; v++) {
    const vcpu = String(v);
    for (const reason of KVM_EXIT_REASONS) out.push({ name: 'vmm_vcpu_exits_total', labels: { vcpu, reason }, kind: 'counter' });
    for (const reason of KVM_EXIT_REASONS) out.push({ name: 'vmm_vcpu_exit_handling_seconds_total', labels: { vcpu, reason }, kind: 'counter' });
    for (const reason of KVM_EXIT_REASONS) out.push({ name: 'vmm_vcpu_exit_handling_max_seconds', labels: { vcpu, reason }, kind: 'gauge' });
    out.push({ name: 'vmm_vcpu_run_seconds_total', labels: { vcpu }, kind: 'counter' });
  }
  if (!d.available) return out;
  for (const s of vmStats) out.push({ name: s.name, labels: { ...s.labels }, kind: s.kind });
  for (let v = 0; v < vcpus; v++) for (const s of vcpuStats) out.push({ name: s.name, labels: { ...s.labels, vcpu: String(v) }, kind: s.kind });
  return out;
}

function slotsOf(series: readonly KvmStatSeries[]): Float64Array {
  const a = new Float64Array(series.length * 3);
  series.forEach((s, i) => {
    a[3 * i] = s.lo;
    a[3 * i + 1] = s.hi;
    a[3 * i + 2] = s.scale;
  });
  return a;
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
  statsWords(): KvmStatWords;
  startedAtMs(): number | null;
  endedAtMs(): number | null;
  boot(): KvmLinuxBoot | null;
  capture(plan: { files: string[]; intervalMs: number; targets: Int32Array; vmSlots: Float64Array; vcpuSlots: Float64Array }): void;
  capturing(): boolean;
}

interface NativeKvm {
  probe(devicePath?: string): KvmProbe;
  inspectKernel(path: string): KernelInfo;
  prepareBoot(options: { kernel: string; initrd?: string; cmdline?: string; memoryBytes?: number }): PreparedBoot;
  Vm: new (options: KvmVmOptions) => NativeKvmVm;
}

const native = (): NativeKvm => loadKvmAddon<NativeKvm>((message) => new KvmUnavailableError(message));

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
    case 'RONDO_BOOT':
      return new KernelImageError(message, { cause: e });
    case 'RONDO_CORRUPT':
      return new CorruptFileError(`${message}; the store's file is damaged: move the store aside and start a new one`, { cause: e });
    case 'RONDO_IO':
      return new StorageError(`${message} (check the store's directory and its permissions)`, { cause: e });
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
 * What the loaders make of a kernel file: a vmlinux's PVH entry and segments, or a bzImage's
 * setup header. @throws KernelImageError for a file that is not a kernel, or a damaged one.
 */
export function inspectKernel(path: string): KernelInfo {
  return call(() => native().inspectKernel(path));
}

/**
 * Loads a kernel (and initrd and command line) into scratch memory the way a VM would, without
 * KVM, and returns what was written: for tests, and to check a kernel before booting it.
 * @throws KernelImageError, ConfigError
 */
export function prepareBoot(options: { kernel: string; initrd?: string; cmdline?: string; memoryBytes?: number }): PreparedBoot {
  return call(() => native().prepareBoot(options));
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

  /** @throws KvmUnavailableError, KvmError, ConfigError, KernelImageError (a Linux guest's files) */
  constructor(readonly options: KvmVmOptions) {
    const { hideCpuid, ...rest } = options;
    const cpuidHide = hideCpuid?.map(parseCpuidBit);
    this.vm = call(() => new (native().Vm)({ ...rest, ...(cpuidHide === undefined ? {} : { cpuidHide }) } as KvmVmOptions));
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

  /** Every word of the statistics now (histograms' buckets too), as kvmStatSeries() indexes them; empty when there are none. */
  statsWords(): KvmStatWords {
    return call(() => this.vm.statsWords());
  }

  /**
   * Records this VM's figures into `store` from native code, every interval of the store's tier
   * 0 (1 s by default), without JavaScript: the series kvmCollector records (exits by vCPU and
   * reason, exit-handling time and its max per reason once seen, time in KVM_RUN, every KVM
   * statistic of the VM and of each vCPU), each registered here and written through
   * `store.nativeTarget()`'s slab files by the vCPU threads (at their first exit after each
   * boundary, their counters as they stood at it) and by the process's sampler thread (the vCPUs
   * that did not exit, and the statistics). Each interval's point is the value at the boundary
   * that opens it; the interval start() falls in gets the starting values, and the interval the
   * VM ends in its final values, recorded before wait() resolves. A busy or blocked event loop
   * loses nothing. Call it before start(), once; keep the store open until the VM has ended.
   * @throws KvmError (after start(), or twice), ConfigError (series in tier-0 slabs of different
   * intervals; none taken), the store's errors from register(), CorruptFileError and
   * StorageError for a slab file that cannot be mapped
   */
  captureInto<H>(store: KvmCaptureStore<H>, options: KvmCaptureOptions = {}): KvmCapture<H> {
    if (typeof store !== 'object' || store === null || typeof store.register !== 'function' || typeof store.nativeTarget !== 'function')
      throw new ConfigError('captureInto(store): store must be a Store open for writing (it needs register() and nativeTarget())');
    const extra = options.labels ?? {};
    if (typeof extra !== 'object' || extra === null) throw new ConfigError('captureInto: labels must be an object of label names to values');
    if (this.vm.capturing()) throw new KvmError('captureInto() was already called: a VM is captured into one store');
    if (this.vm.startedAtMs() !== null || this.vm.done())
      throw new KvmError('captureInto() after start() or stop(): capture a VM before it starts');
    const descriptors = this.vm.statsDescriptors();
    const vmStats = descriptors.available ? kvmStatSeries('vm', descriptors.vm) : [];
    const vcpuStats = descriptors.available ? kvmStatSeries('vcpu', descriptors.vcpu) : [];
    const series = captureSeries(this.vm.counters().length, descriptors, vmStats, vcpuStats);
    const targets = new Int32Array(series.length * 2).fill(-1);
    const files: string[] = [];
    const handles: H[] = [];
    let intervalMs: number | undefined;
    const entries = series.map((s) => ({ name: s.name, labels: { ...s.labels, ...extra }, kind: s.kind }));
    const got = typeof store.registerMany === 'function' ? store.registerMany(entries) : entries.map((e) => store.register(e.name, e.labels, { kind: e.kind }));
    series.forEach((s, i) => {
      const h = got[i];
      if (h instanceof Error) throw h;
      if (h === undefined) return;
      const t = store.nativeTarget(h);
      if (intervalMs === undefined) intervalMs = t.intervalMs;
      else if (t.intervalMs !== intervalMs)
        throw new ConfigError(
          `captureInto: ${s.name} is in a tier 0 of ${t.intervalMs} ms, other series of this VM in one of ${intervalMs} ms; ` +
            'a VM is captured at one interval: give its series schemas whose first tiers share it',
        );
      let f = files.indexOf(t.file);
      if (f < 0) f = files.push(t.file) - 1;
      targets[2 * i] = f;
      targets[2 * i + 1] = t.column;
      handles.push(h);
    });
    if (intervalMs === undefined) throw new ConfigError("captureInto: the store took none of this VM's series; nothing to capture");
    const plan = { files, intervalMs, targets, vmSlots: slotsOf(vmStats), vcpuSlots: slotsOf(vcpuStats) };
    call(() => this.vm.capture(plan));
    return { handles, intervalMs };
  }

  /** Whether captureInto() was called. */
  get capturing(): boolean {
    return this.vm.capturing();
  }

  /** How the Linux kernel was loaded; null for the built-in guests. */
  boot(): KvmLinuxBoot | null {
    return this.vm.boot();
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
