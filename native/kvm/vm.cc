// A VM of the demo VMM: see vm.h.
#include "kvm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "kvm/boot_layout.h"
#include "kvm/errors.h"

namespace rondo_kvm {
namespace {

constexpr int kKvmApiVersion = 12;
constexpr uint64_t kIdleSliceNs = 10'000'000;  // a halted vCPU sleeps at most this long
constexpr uint64_t kPageRw = 0x3, kPageHuge = 0x80;
constexpr uint64_t kTwoMiB = 2ull << 20;

double WallMs() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

// Opens the KVM device and checks its API version; throws KvmUnavailable saying what to do.
rondo::UniqueFd OpenDevice(const std::string& path, int* api_version) {
  rondo::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT)
      throw KvmUnavailable(path + " does not exist: this machine has no KVM; run on a host with "
                                  "virtualization enabled (kvm_intel/kvm_amd loaded)");
    if (err == EACCES || err == EPERM)
      throw KvmUnavailable(path + ": permission denied: run as root or add the user to the kvm group");
    if (err == ENXIO || err == ENODEV)
      throw KvmUnavailable(path + ": no KVM driver behind the device: load kvm_intel or kvm_amd and "
                                  "enable virtualization in the firmware");
    throw KvmUnavailable(path + ": cannot open: " + std::strerror(err));
  }
  const int v = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (v != kKvmApiVersion) {
    const int err = errno;
    if (v < 0)
      throw KvmUnavailable(path + " is not a KVM device (KVM_GET_API_VERSION: " + std::strerror(err) +
                           "): point devicePath at /dev/kvm");
    throw KvmUnavailable(path + ": KVM API version " + std::to_string(v) + ", rondo needs " +
                         std::to_string(kKvmApiVersion) + ": run on a Linux host whose KVM speaks it");
  }
  *api_version = v;
  return fd;
}

// Phase boundaries as offsets from the start: cpu | pio | mmio | idle | shutdown.
void Boundaries(uint64_t duration_ns, uint64_t b[4]) {
  b[0] = duration_ns / 5;
  b[1] = duration_ns * 2 / 5;
  b[2] = duration_ns * 3 / 5;
  b[3] = duration_ns;
}

bool Fatal(EndReason r) {
  return r == EndReason::kInternalError || r == EndReason::kFailEntry || r == EndReason::kRunError;
}

}  // namespace

ProbeResult Probe(const std::string& device_path) {
  ProbeResult p;
  try {
    const rondo::UniqueFd fd = OpenDevice(device_path, &p.api_version);
    p.binary_stats = ::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
    p.ok = true;
  } catch (const KvmUnavailable& e) {
    p.reason = e.what();
  }
  return p;
}

uint8_t PhaseAt(uint64_t elapsed_ns, uint64_t duration_ns) {
  uint64_t b[4];
  Boundaries(duration_ns, b);
  if (elapsed_ns < b[0]) return PHASE_CPU;
  if (elapsed_ns < b[1]) return PHASE_PIO;
  if (elapsed_ns < b[2]) return PHASE_MMIO;
  if (elapsed_ns < b[3]) return PHASE_IDLE;
  return PHASE_SHUTDOWN;
}

const char* PhaseName(uint8_t phase) {
  switch (phase) {
    case PHASE_CPU: return "cpu";
    case PHASE_PIO: return "pio";
    case PHASE_MMIO: return "mmio";
    case PHASE_IDLE: return "idle";
    case PHASE_SHUTDOWN: return "shutdown";
    default: return "none";
  }
}

Vm::Vm(const VmConfig& config) : config_(config), linux_(config.guest == GuestKind::kLinux) {
  if (config.vcpus < 1 || config.vcpus > kMaxVcpus)
    throw std::invalid_argument("vcpus must be an integer from 1 to " + std::to_string(kMaxVcpus));
  if (linux_) {
    if (config.vcpus != 1)
      throw std::invalid_argument("a Linux guest runs with 1 vCPU (this VMM gives it no ACPI or MP table to find "
                                  "more): set vcpus to 1");
    if (config.memory_bytes < kLinuxMinMemoryBytes || config.memory_bytes > kLinuxMaxMemoryBytes ||
        config.memory_bytes % (2 << 20) != 0)
      throw std::invalid_argument("memoryBytes of a Linux guest must be a multiple of 2 MiB from " +
                                  std::to_string(kLinuxMinMemoryBytes >> 20) + " MiB to " +
                                  std::to_string(kLinuxMaxMemoryBytes >> 20) + " MiB");
    if (config.linux_boot.kernel_path.empty()) throw std::invalid_argument("a Linux guest needs a kernel");
  } else {
    if (config.memory_bytes < kMinMemoryBytes || config.memory_bytes > kMaxMemoryBytes ||
        config.memory_bytes % 4096 != 0)
      throw std::invalid_argument("memoryBytes must be a multiple of 4096 from 1 MiB to 1 GiB");
    if (config.duration_ms < kMinDurationMs || config.duration_ms > kMaxDurationMs)
      throw std::invalid_argument("durationMs must be from " + std::to_string(kMinDurationMs) +
                                  " (the guest's phases need that long) to 7 days");
    if (GUEST_CODE + GuestCodeBytes() > config.memory_bytes - uint64_t{config.vcpus} * GUEST_STACK_BYTES)
      throw std::invalid_argument("memoryBytes is too small for the guest and its stacks");
  }

  int api = 0;
  kvm_fd_ = OpenDevice(config.device_path, &api);
  try {
    // A signal (a profiler's SIGPROF, say) can interrupt the VM's creation: try again.
    int fd;
    do fd = ::ioctl(kvm_fd_.get(), KVM_CREATE_VM, 0);
    while (fd < 0 && errno == EINTR);
    vm_fd_.reset(fd);
    if (!vm_fd_) throw KvmError(ErrnoMessage("KVM_CREATE_VM", errno));
    if (linux_) CreateInterruptControllers();
    CreateMemory();
    if (linux_)
      LoadLinux();
    else
      LoadGuest();
    CreateDevices();
    SetUpCpuid();
    const int run_bytes = ::ioctl(kvm_fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_bytes <= 0) throw KvmError(ErrnoMessage("KVM_GET_VCPU_MMAP_SIZE", errno));
    ends_.resize(config.vcpus);
    for (uint32_t i = 0; i < config.vcpus; i++) {
      vcpus_.push_back(std::make_unique<Vcpu>(*this, vm_fd_.get(), i, static_cast<size_t>(run_bytes)));
      Vcpu& v = *vcpus_.back();
      if (!cpuid_.empty()) v.SetCpuid(CpuidFor(i));
      if (linux_) {
        v.SetLapicVirtualWire();
        if (boot_.mode == EntryMode::kProtected32) {
          v.EnterProtectedMode(boot_.entry, boot_.boot_info);
        } else {
          VcpuStart s;
          s.rip = boot_.entry;
          s.rsi = boot_.boot_info;
          s.code_selector = kBootCodeSelector;
          s.data_selector = kBootDataSelector;
          s.tss_selector = kBootTssSelector;
          s.gdt_limit = 0x2f;
          v.EnterLongMode(s);
        }
        continue;
      }
      v.EnableTestDevice();
      VcpuStart s;
      s.rip = GuestEntry(config.guest);
      s.rsp = config.memory_bytes - uint64_t{i} * GUEST_STACK_BYTES;
      s.rdi = i;
      s.rsi = GUEST_REPORTS + uint64_t{i} * GUEST_REPORT_STRIDE;
      s.invalid_code_segment = config.guest == GuestKind::kFailEntry;
      v.EnterLongMode(s);
    }
    OpenStats();
  } catch (...) {
    CloseAll();
    throw;
  }
}

// The interrupt controllers a PC has, in the kernel: PIC, IOAPIC and each vCPU's LAPIC, and the
// PIT that drives IRQ 0 (before any vCPU exists). A KVM without a PIT gets the port stub.
void Vm::CreateInterruptControllers() {
  if (::ioctl(vm_fd_.get(), KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) throw KvmError(ErrnoMessage("KVM_SET_TSS_ADDR", errno));
  if (::ioctl(vm_fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0)
    throw KvmError(ErrnoMessage("KVM_CREATE_IRQCHIP (a Linux guest needs the in-kernel interrupt controllers)", errno));
  std::string why;  // a KVM without an in-kernel PIT: PitStub answers its ports instead
  if (!CreateKernelPit(vm_fd_.get(), &why)) pit_stub_ = std::make_unique<PitStub>();
}

void Vm::LoadLinux() {
  GuestMemory memory{memory_.bytes(), config_.memory_bytes};
  boot_ = rondo_kvm::LoadLinux(memory, config_.linux_boot);
}

// Every guest gets the UART. The micro-guest gets its control and test ports; Linux the legacy
// devices a kernel probes at boot: i8042, CMOS RTC, PCI configuration (and the PIT stub, if
// the kernel has no PIT).
void Vm::CreateDevices() {
  IrqLine irq;
  if (linux_) irq = [this](uint32_t line, bool level) { RaiseIrq(line, level); };
  uart_ = std::make_unique<Uart>(config_.vcpus, [this](std::string line) { ConsoleLine(std::move(line)); }, irq);
  bus_.Add(kUartBase, kUartBase + 7, uart_.get());
  if (!linux_) {
    micro_ports_ = std::make_unique<MicroPorts>(config_.vcpus, [this] { return Phase(NowNs()); });
    bus_.Add(PORT_CONTROL, PORT_TEST, micro_ports_.get());
    return;
  }
  i8042_ = std::make_unique<I8042>(irq);
  bus_.Add(0x60, 0x60, i8042_.get());
  bus_.Add(0x64, 0x64, i8042_.get());
  cmos_ = std::make_unique<Cmos>();
  bus_.Add(0x70, 0x71, cmos_.get());
  pci_ = std::make_unique<PciStub>();
  bus_.Add(0xcf8, 0xcff, pci_.get());
  if (pit_stub_) {
    bus_.Add(0x40, 0x43, pit_stub_.get());
    bus_.Add(0x61, 0x61, pit_stub_.get());
  }
}

void Vm::RaiseIrq(uint32_t irq, bool level) {
  kvm_irq_level l;
  std::memset(&l, 0, sizeof l);
  l.irq = irq;
  l.level = level ? 1 : 0;
  ::ioctl(vm_fd_.get(), KVM_IRQ_LINE, &l);  // fails only on a bad line number: there is none
}

Vm::~Vm() { Stop(); }

void Vm::CreateMemory() {
  memory_ = rondo::Mapping::Map(config_.memory_bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
  if (!memory_) throw KvmError(ErrnoMessage("mapping guest memory", errno));
  kvm_userspace_memory_region region;
  std::memset(&region, 0, sizeof region);
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = config_.memory_bytes;
  region.userspace_addr = reinterpret_cast<uint64_t>(memory_.get());
  if (::ioctl(vm_fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
    throw KvmError(ErrnoMessage("KVM_SET_USER_MEMORY_REGION", errno));
}

// Page tables identity-mapping the low 4 GiB (RAM and the MMIO hole alike) with 2 MiB pages,
// a GDT with a 64-bit code segment, a data segment and a TSS, and the guest's code.
void Vm::LoadGuest() {
  auto* pml4 = reinterpret_cast<uint64_t*>(memory_.bytes() + GUEST_PML4);
  auto* pdpt = reinterpret_cast<uint64_t*>(memory_.bytes() + GUEST_PDPT);
  pml4[0] = GUEST_PDPT | kPageRw;
  for (uint64_t g = 0; g < 4; g++) {
    const uint64_t pd_addr = GUEST_PD + g * 0x1000;
    pdpt[g] = pd_addr | kPageRw;
    auto* pd = reinterpret_cast<uint64_t*>(memory_.bytes() + pd_addr);
    for (uint64_t e = 0; e < 512; e++) pd[e] = ((g * 512 + e) * kTwoMiB) | kPageRw | kPageHuge;
  }

  auto* gdt = reinterpret_cast<uint64_t*>(memory_.bytes() + GUEST_GDT);
  gdt[0] = 0;
  gdt[GUEST_SEL_CODE / 8] = 0x00af9a000000ffff;  // present, ring 0, execute/read, L=1, G=1
  gdt[GUEST_SEL_DATA / 8] = 0x00cf92000000ffff;  // present, ring 0, read/write, D=1, G=1
  const uint64_t tss = GUEST_TSS, tss_limit = 0x67;
  gdt[GUEST_SEL_TSS / 8] = (tss_limit & 0xffff) | ((tss & 0xffffff) << 16) | (uint64_t{0x8b} << 40) |
                           (((tss >> 24) & 0xff) << 56);  // present, busy 64-bit TSS
  gdt[GUEST_SEL_TSS / 8 + 1] = tss >> 32;

  std::memcpy(memory_.bytes() + GUEST_CODE, rondo_guest_begin, GuestCodeBytes());
}

// The CPUID the kernel supports, passed to every vCPU with its own APIC ID. A KVM that refuses
// KVM_GET_SUPPORTED_CPUID leaves the vCPUs with KVM's default (the micro-guest needs nothing from
// CPUID; a Linux guest does).
void Vm::SetUpCpuid() {
  for (uint32_t n = 128; n <= 4096; n *= 2) {
    CpuidTable table(n);
    if (::ioctl(kvm_fd_.get(), kKvmGetSupportedCpuid, table.data()) == 0) {
      cpuid_ = std::move(table);
      break;
    }
    if (errno != E2BIG) break;
  }
  if (linux_ && cpuid_.empty())
    throw KvmError(ErrnoMessage("KVM_GET_SUPPORTED_CPUID (a Linux guest needs the CPUID KVM supports)", errno));
}

CpuidTable Vm::CpuidFor(uint32_t vcpu) const {
  CpuidTable t = cpuid_;
  for (uint32_t i = 0; i < t.count(); i++) {
    kvm_cpuid_entry2& e = *t.entry(i);
    if (e.function == 1) e.ebx = (e.ebx & 0x00ffffff) | (vcpu << 24);  // initial APIC ID
    if (e.function == 0xb || e.function == 0x1f) e.edx = vcpu;          // x2APIC ID
    for (const CpuidBit& h : config_.cpuid_hide) {
      if (h.function != e.function || (h.index != e.index && (e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))) continue;
      uint32_t* regs[4] = {&e.eax, &e.ebx, &e.ecx, &e.edx};
      *regs[h.reg & 3] &= ~(uint32_t{1} << (h.bit & 31));
    }
  }
  return t;
}

void Vm::OpenStats() {
  if (::ioctl(kvm_fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) <= 0) {
    stats_reason_ = "this kernel has no KVM binary statistics (KVM_CAP_BINARY_STATS_FD, Linux 5.14+)";
    return;
  }
  try {
    vm_stats_ = StatsFile::Open(vm_fd_.get(), "VM");
    for (auto& v : vcpus_) vcpu_stats_.push_back(StatsFile::Open(v->fd(), "vCPU"));
    vm_descs_ = vm_stats_->descriptors();
    vcpu_descs_ = vcpu_stats_.front()->descriptors();
  } catch (const KvmError& e) {
    // The VM runs without them; statsDescriptors() says why.
    vm_stats_.reset();
    vcpu_stats_.clear();
    stats_reason_ = e.what();
  }
}

void Vm::CaptureInto(const CapturePlan& plan) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (started_ || ended_) throw std::logic_error("captureInto() after start() or stop(): capture a VM before it starts");
  }
  if (capture_) throw std::logic_error("captureInto() was already called: a VM is captured into one store");
  std::vector<const ExitCounters*> counters;
  for (auto& v : vcpus_) counters.push_back(&v->counters());
  // The statistics fds stay open until Release(), which closes the capture first.
  StatsReader read = [this](std::vector<uint64_t>* vm, std::vector<std::vector<uint64_t>>* vcpus) {
    if (!vm_stats_) return false;
    *vm = vm_stats_->ReadWords();
    vcpus->resize(vcpu_stats_.size());
    for (size_t i = 0; i < vcpu_stats_.size(); i++) (*vcpus)[i] = vcpu_stats_[i]->ReadWords();
    return true;
  };
  auto words = [](const std::vector<StatDescriptor>& descs) {
    size_t n = 0;
    for (const StatDescriptor& d : descs) n += StatsFile::Words(d);
    return n;
  };
  capture_ = std::make_shared<Capture>(plan, std::move(counters), vm_stats_ ? words(vm_descs_) : 0,
                                       vm_stats_ ? words(vcpu_descs_) : 0, std::move(read));
}

void Vm::Start() {
  std::lock_guard<std::mutex> l(mu_);  // a vCPU that ends at once waits until all threads exist
  if (started_) throw std::logic_error("start() was already called: a VM runs once; create a new one");
  if (ended_) throw std::logic_error("this VM was stopped before it started; create a new one");
  start_ns_ = NowNs();
  started_at_ms_ = WallMs();
  started_ = true;
  if (capture_) {
    const uint64_t next = capture_->Begin(static_cast<uint64_t>(started_at_ms_));
    for (uint32_t i = 0; i < vcpus_.size(); i++) vcpus_[i]->SetCapture(&capture_->vcpu(i), next);
    StartSampling(capture_);
  }
  for (auto& v : vcpus_) {
    try {
      v->Start();
    } catch (const std::system_error& e) {
      // Threads that could not start end now, as stopped; those that did are stopped.
      stopping_.store(true, std::memory_order_release);
      for (auto& w : vcpus_) w->Kick();
      stopped_by_user_ = true;
      if (running_ == 0) {
        ended_ = true;
        ended_at_ms_ = WallMs();
      }
      throw KvmError(std::string("starting a vCPU thread failed: ") + e.what());
    }
    running_++;
  }
}

void Vm::RequestStop() {
  stopping_.store(true, std::memory_order_release);
  for (auto& v : vcpus_) v->Kick();
  { std::lock_guard<std::mutex> l(idle_mu_); }
  idle_cv_.notify_all();
}

void Vm::Stop() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!ended_) {
      stopped_by_user_ = true;
      if (running_ == 0) {  // never started
        ended_ = true;
        ended_at_ms_ = WallMs();
        callbacks.swap(on_ended_);
      }
    }
  }
  RequestStop();
  for (auto& v : vcpus_) v->Join();
  for (auto& f : callbacks) f();
  Release();
}

bool Vm::Ended() const {
  std::lock_guard<std::mutex> l(mu_);
  return ended_;
}

void Vm::Release() {
  if (released_ || !Ended()) return;
  for (auto& v : vcpus_) v->Join();
  final_reports_ = GuestReports();
  if (capture_) capture_->Close();  // before the statistics fds close
  try {
    if (vm_stats_) final_vm_stats_ = vm_stats_->ReadWords();
    for (auto& s : vcpu_stats_) final_vcpu_stats_.push_back(s->ReadWords());
  } catch (const KvmError&) {
    // The last reading is lost; the counters of this VMM are not.
  }
  CloseAll();
  released_ = true;
}

void Vm::CloseAll() {
  vcpu_stats_.clear();
  vm_stats_.reset();
  for (auto& v : vcpus_) v->Close();
  vm_fd_.reset();
  memory_.reset();
  kvm_fd_.reset();
}

void Vm::OnEnded(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!ended_) {
      on_ended_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

EndReason Vm::end_reason(VcpuEnd* details, int* vcpu) const {
  std::lock_guard<std::mutex> l(mu_);
  *vcpu = -1;
  if (!ended_) return EndReason::kNone;
  if (first_end_ >= 0 && (Fatal(ends_[first_end_].reason) || !stopped_by_user_)) {
    *vcpu = first_end_;
    *details = ends_[first_end_];
    return ends_[first_end_].reason;
  }
  details->reason = EndReason::kStopped;
  return EndReason::kStopped;
}

EndReason Vm::vcpu_end(uint32_t i) const {
  std::lock_guard<std::mutex> l(mu_);
  return ends_[i].reason;
}

double Vm::ended_at_ms() const {
  std::lock_guard<std::mutex> l(mu_);
  return ended_ ? ended_at_ms_ : 0;
}

uint8_t Vm::CurrentPhase() const {
  if (linux_ || !started_ || Ended()) return 0;
  return Phase(NowNs());
}

std::string Vm::DrainConsole() {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  out.swap(console_);
  return out;
}

std::vector<GuestReport> Vm::GuestReports() const {
  if (linux_) return {};
  if (released_) return final_reports_;
  std::vector<GuestReport> out(vcpus_.size());
  for (size_t i = 0; i < vcpus_.size(); i++) {
    // The guest's vCPUs write these words while this thread reads them.
    auto* w = reinterpret_cast<uint64_t*>(memory_.bytes() + GUEST_REPORTS + i * GUEST_REPORT_STRIDE);
    for (int k = 0; k < REPORT_WORDS; k++)
      out[i].words[k] = std::atomic_ref<uint64_t>(w[k]).load(std::memory_order_relaxed);
  }
  return out;
}

std::vector<uint64_t> Vm::VmStats() const { return StatsFile::SumPerDescriptor(vm_descs_, VmStatWords()); }

std::vector<uint64_t> Vm::VcpuStats(uint32_t i) const { return StatsFile::SumPerDescriptor(vcpu_descs_, VcpuStatWords(i)); }

std::vector<uint64_t> Vm::VmStatWords() const { return vm_stats_ ? vm_stats_->ReadWords() : final_vm_stats_; }

std::vector<uint64_t> Vm::VcpuStatWords(uint32_t i) const {
  if (i < vcpu_stats_.size()) return vcpu_stats_[i]->ReadWords();
  if (i < final_vcpu_stats_.size()) return final_vcpu_stats_[i];
  return {};
}

uint8_t Vm::Phase(uint64_t now_ns) const {
  return PhaseAt(now_ns - start_ns_, config_.duration_ms * 1'000'000);
}

void Vm::Idle(uint64_t now_ns) {
  uint64_t b[4];
  Boundaries(config_.duration_ms * 1'000'000, b);
  const uint64_t elapsed = now_ns - start_ns_;
  uint64_t until = now_ns + kIdleSliceNs;
  for (uint64_t boundary : b) {
    if (boundary > elapsed) {
      until = std::min(until, start_ns_ + boundary);
      break;
    }
  }
  const std::chrono::steady_clock::time_point deadline{std::chrono::nanoseconds(until)};
  std::unique_lock<std::mutex> l(idle_mu_);
  idle_cv_.wait_until(l, deadline, [this] { return Stopping(); });
}

void Vm::ConsoleLine(std::string line) {
  std::lock_guard<std::mutex> l(mu_);
  console_ += line;
  console_ += '\n';
}

void Vm::VcpuEnded(uint32_t index, const VcpuEnd& end) {
  uart_->Flush(index);  // what this vCPU wrote after its last newline
  if (capture_) capture_->VcpuEnded(index);  // its final values, before the VM counts as ended
  std::vector<std::function<void()>> callbacks;
  bool last = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    ends_[index] = end;
    if (end.reason != EndReason::kStopped && first_end_ < 0) first_end_ = static_cast<int>(index);
    // An emulation failure or a refused entry ends the whole VM, as on a real machine. The
    // kicks happen under mu_, so no vCPU thread is joined (Release) while being kicked.
    if (Fatal(end.reason) || end.machine_wide) RequestStop();
    if (--running_ == 0) {
      last = true;
      ended_ = true;
      ended_at_ms_ = WallMs();
      callbacks.swap(on_ended_);
    }
  }
  // The statistics' final values, before wait() can resolve; Release() joins this thread before
  // it closes their fds.
  if (last && capture_) capture_->VmEnded(static_cast<uint64_t>(ended_at_ms()));
  for (auto& f : callbacks) f();
}

}  // namespace rondo_kvm
