// One vCPU: see vcpu.h.
#include "kvm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "kvm/errors.h"
#include "kvm/guest_abi.h"

namespace rondo_kvm {
namespace {

constexpr uint64_t kCr0Pe = 1u << 0, kCr0Mp = 1u << 1, kCr0Et = 1u << 4, kCr0Ne = 1u << 5,
                   kCr0Wp = 1u << 16, kCr0Pg = 1u << 31;
constexpr uint64_t kCr4Pae = 1u << 5;
constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;
constexpr uint32_t kApicLvt0 = 0x350, kApicLvt1 = 0x360;
constexpr uint32_t kApicDeliveryMask = 0x700, kApicExtInt = 0x700, kApicNmi = 0x400;

// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does nothing: the point is the
// EINTR, so it is installed without SA_RESTART.
int KickSignal() {
  static const int sig = SIGRTMIN + 4;
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(sig, &sa, nullptr);
  });
  return sig;
}

// vCPU threads take no signal but the kick: process signals belong to the JavaScript thread.
void MaskAllButKick() {
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, KickSignal());
  ::pthread_sigmask(SIG_SETMASK, &set, nullptr);
}

kvm_segment Segment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s;
  std::memset(&s, 0, sizeof s);
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

kvm_segment Segment32(uint16_t selector, uint8_t type) {
  kvm_segment s;
  std::memset(&s, 0, sizeof s);
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.db = 1;
  s.s = 1;
  s.g = 1;
  return s;
}

// The busy TSS at `tss_selector` (the same descriptor type in 32- and 64-bit mode), no LDT,
// the GDT at GUEST_GDT and no IDT: the system segments of both entry modes.
void SetSystemSegments(kvm_sregs& s, uint16_t tss_selector, uint16_t gdt_limit) {
  std::memset(&s.tr, 0, sizeof s.tr);
  s.tr.base = GUEST_TSS;
  s.tr.limit = 0x67;
  s.tr.selector = tss_selector;
  s.tr.type = 0xb;
  s.tr.present = 1;
  std::memset(&s.ldt, 0, sizeof s.ldt);
  s.ldt.type = 0x2;
  s.ldt.unusable = 1;
  s.gdt.base = GUEST_GDT;
  s.gdt.limit = gdt_limit;
  s.idt.base = 0;
  s.idt.limit = 0;  // no IDT: any exception ends in a triple fault
}

bool OnTestDevice(uint64_t gpa) { return gpa >= MMIO_TEST_ADDR && gpa < MMIO_TEST_ADDR + MMIO_TEST_BYTES; }

}  // namespace

const char* EndReasonName(EndReason r) {
  switch (r) {
    case EndReason::kShutdown: return "shutdown";
    case EndReason::kInternalError: return "internal_error";
    case EndReason::kFailEntry: return "fail_entry";
    case EndReason::kRunError: return "run_error";
    case EndReason::kStopped: return "stopped";
    case EndReason::kNone: break;
  }
  return nullptr;
}

std::string FailedInstructionBytes(const VcpuEnd& end) {
  // kvm_run.emulation_failure: data[0] = flags, then insn_size and insn_bytes[15] in data[1..2].
  if (end.reason != EndReason::kInternalError || end.suberror != KVM_INTERNAL_ERROR_EMULATION ||
      end.data.size() < 3 || (end.data[0] & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) == 0)
    return "";
  uint8_t raw[16];
  std::memcpy(raw, &end.data[1], 8);
  std::memcpy(raw + 8, &end.data[2], 8);
  const size_t n = raw[0] < 15 ? raw[0] : 15;
  std::string hex;
  char buf[4];
  for (size_t i = 0; i < n; i++) {
    std::snprintf(buf, sizeof buf, i == 0 ? "%02x" : " %02x", raw[1 + i]);
    hex += buf;
  }
  return hex;
}

std::string DescribeEnd(const VcpuEnd& end, int vcpu) {
  const std::string who = "vCPU " + std::to_string(vcpu);
  char hex[32];
  switch (end.reason) {
    case EndReason::kShutdown:
      return who + (end.cause.empty() ? " shut down (triple fault)" : " " + end.cause);
    case EndReason::kInternalError: {
      static const char* const kinds[] = {"", "emulation failure", "exception while delivering an exception",
                                          "event delivery failed", "unexpected exit reason"};
      std::string s = who + ": KVM internal error, suberror " + std::to_string(end.suberror);
      if (end.suberror >= 1 && end.suberror <= 4) s += std::string(" (") + kinds[end.suberror] + ")";
      const std::string bytes = FailedInstructionBytes(end);
      if (!bytes.empty()) s += ", instruction bytes " + bytes;
      return s;
    }
    case EndReason::kFailEntry:
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(end.entry_failure_reason));
      return who + ": KVM could not enter the guest, hardware entry failure reason " + hex +
             " on host CPU " + std::to_string(end.entry_failure_cpu);
    case EndReason::kRunError:
      return who + ": " + ErrnoMessage("KVM_RUN", end.run_errno);
    case EndReason::kStopped:
      return vcpu < 0 ? "stopped by stop()" : who + " stopped";
    case EndReason::kNone:
      break;
  }
  return "";
}

Vcpu::Vcpu(VcpuHost& host, int vm_fd, uint32_t index, size_t run_bytes)
    : host_(host), index_(index) {
  fd_.reset(::ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(index)));
  if (!fd_) throw KvmError(ErrnoMessage("KVM_CREATE_VCPU " + std::to_string(index), errno));
  run_map_ = rondo::Mapping::Map(run_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get());
  if (!run_map_) throw KvmError(ErrnoMessage("mapping kvm_run of vCPU " + std::to_string(index), errno));
  run_ = run_map_.as<kvm_run>();
}

Vcpu::~Vcpu() {
  Kick();
  Join();
  Close();
}

void Vcpu::SetCpuid(const CpuidTable& cpuid) {
  if (::ioctl(fd_.get(), kKvmSetCpuid2, cpuid.data()) < 0) throw KvmError(ErrnoMessage("KVM_SET_CPUID2", errno));
}

void Vcpu::EnterLongMode(const VcpuStart& start) {
  kvm_sregs s;
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) throw KvmError(ErrnoMessage("KVM_GET_SREGS", errno));
  s.cs = Segment(start.code_selector, 0xb, true);
  if (start.invalid_code_segment) s.cs.db = 1;  // L and D together: VMX and SVM refuse the entry
  s.ds = s.es = s.fs = s.gs = s.ss = Segment(start.data_selector, 0x3, false);
  SetSystemSegments(s, start.tss_selector, start.gdt_limit);
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  s.cr3 = GUEST_PML4;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) throw KvmError(ErrnoMessage("KVM_SET_SREGS (long mode)", errno));

  kvm_regs r;
  std::memset(&r, 0, sizeof r);
  r.rip = start.rip;
  r.rsp = start.rsp;
  r.rdi = start.rdi;
  r.rsi = start.rsi;
  r.rflags = 0x2;
  if (::ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) throw KvmError(ErrnoMessage("KVM_SET_REGS", errno));
}

void Vcpu::EnterProtectedMode(uint64_t rip, uint64_t rbx) {
  kvm_sregs s;
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) throw KvmError(ErrnoMessage("KVM_GET_SREGS", errno));
  s.cs = Segment32(0x08, 0xb);  // execute/read, accessed
  s.ds = s.es = s.fs = s.gs = s.ss = Segment32(0x18, 0x3);  // read/write, accessed
  SetSystemSegments(s, 0x20, 0x2f);
  s.cr0 = kCr0Pe | kCr0Et;  // protected mode, paging off
  s.cr3 = 0;
  s.cr4 = 0;
  s.efer = 0;
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) throw KvmError(ErrnoMessage("KVM_SET_SREGS (protected mode)", errno));

  kvm_regs r;
  std::memset(&r, 0, sizeof r);
  r.rip = rip;
  r.rbx = rbx;
  r.rflags = 0x2;  // IF clear
  if (::ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) throw KvmError(ErrnoMessage("KVM_SET_REGS", errno));
}

void Vcpu::SetLapicVirtualWire() {
  kvm_lapic_state lapic;
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &lapic) < 0) throw KvmError(ErrnoMessage("KVM_GET_LAPIC", errno));
  auto set_mode = [&](uint32_t reg, uint32_t mode) {
    uint32_t v;
    std::memcpy(&v, lapic.regs + reg, 4);
    v = (v & ~kApicDeliveryMask) | mode;
    std::memcpy(lapic.regs + reg, &v, 4);
  };
  set_mode(kApicLvt0, kApicExtInt);
  set_mode(kApicLvt1, kApicNmi);
  if (::ioctl(fd_.get(), KVM_SET_LAPIC, &lapic) < 0) throw KvmError(ErrnoMessage("KVM_SET_LAPIC", errno));
}

void Vcpu::Start() {
  KickSignal();  // installed before any thread can be kicked
  thread_ = std::thread([this] { Loop(); });
  const std::string name = "rondo-vcpu" + std::to_string(index_);  // in /proc/<pid>/task/*/comm
  ::pthread_setname_np(thread_.native_handle(), name.c_str());
}

void Vcpu::Kick() {
  if (run_ != nullptr) std::atomic_ref<uint8_t>(run_->immediate_exit).store(1, std::memory_order_seq_cst);
  if (thread_.joinable()) ::pthread_kill(thread_.native_handle(), KickSignal());
}

void Vcpu::Join() {
  if (thread_.joinable()) thread_.join();
}

void Vcpu::Close() {
  run_ = nullptr;
  run_map_.reset();
  fd_.reset();
}

void Vcpu::Loop() {
  MaskAllButKick();
  VcpuEnd end;
  while (end.reason == EndReason::kNone) {
    if (host_.Stopping()) {
      end.reason = EndReason::kStopped;
      break;
    }
    const uint64_t entered = NowNs();
    const int r = ::ioctl(fd_.get(), KVM_RUN, 0);
    const uint64_t exited = NowNs();
    // The capture's whole cost on an exit that no interval boundary preceded: this compare.
    if (exited >= next_boundary_ns_) [[unlikely]] next_boundary_ns_ = capture_->AtBoundary(ReadClocks());
    Bump(counters_.run_ns, exited - entered);
    Bump(counters_.runs);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        Bump(counters_.interrupted);
        continue;
      }
      end.reason = EndReason::kRunError;
      end.run_errno = errno;
      break;
    }
    const ExitKind kind = Dispatch(exited, &end);
    counters_.Count(kind, NowNs() - exited);
  }
  host_.VcpuEnded(index_, end);
}

// The one dispatch over exit reasons: each arm names its handler.
ExitKind Vcpu::Dispatch(uint64_t now_ns, VcpuEnd* end) {
  switch (run_->exit_reason) {
    case KVM_EXIT_IO:
      return run_->io.direction == KVM_EXIT_IO_OUT ? OnPortOut(end) : OnPortIn();
    case KVM_EXIT_MMIO:
      return run_->mmio.is_write ? OnMmioWrite() : OnMmioRead();
    case KVM_EXIT_HLT:
      return OnHalt(now_ns);
    case KVM_EXIT_SHUTDOWN:
      return OnShutdown(end);
    case KVM_EXIT_INTERNAL_ERROR:
      return OnInternalError(end);
    case KVM_EXIT_FAIL_ENTRY:
      return OnFailEntry(end);
    default:
      return OnOther();
  }
}

// Port I/O goes to the device that claims the port; a string instruction (count > 1) is one
// device access per element. Nothing there: reads float high, writes vanish, both are counted.
ExitKind Vcpu::OnPortOut(VcpuEnd* end) {
  const uint8_t* data = reinterpret_cast<const uint8_t*>(run_) + run_->io.data_offset;
  const uint16_t port = run_->io.port;
  PortDevice* device = host_.Ports().Find(port);
  if (device == nullptr) {
    Bump(counters_.unclaimed_io);
    return ExitKind::kIoOut;
  }
  for (uint32_t i = 0; i < run_->io.count; i++) {
    if (device->Out(index_, port, run_->io.size, data + i * run_->io.size) == PortAction::kReset) {
      end->reason = EndReason::kShutdown;
      end->cause = std::string("reset the machine through the ") + device->name() + " (a reboot; this VMM powers off)";
      end->machine_wide = true;
      break;
    }
  }
  return ExitKind::kIoOut;
}

ExitKind Vcpu::OnPortIn() {
  uint8_t* data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
  const uint16_t port = run_->io.port;
  PortDevice* device = host_.Ports().Find(port);
  if (device == nullptr) Bump(counters_.unclaimed_io);
  for (uint32_t i = 0; i < run_->io.count; i++) {
    uint8_t* element = data + i * run_->io.size;
    if (device != nullptr)
      device->In(index_, port, run_->io.size, element);
    else
      PutIn(element, run_->io.size, ~uint64_t{0});  // nothing there: the bus floats high
  }
  return ExitKind::kIoIn;
}

// MMIO: the micro-guest's test device, or nothing (writes vanish, reads are all ones).
ExitKind Vcpu::OnMmioWrite() {
  if (!(test_device_ && OnTestDevice(run_->mmio.phys_addr))) Bump(counters_.unclaimed_mmio);
  return ExitKind::kMmioWrite;
}

ExitKind Vcpu::OnMmioRead() {
  const bool test = test_device_ && OnTestDevice(run_->mmio.phys_addr);
  if (!test) Bump(counters_.unclaimed_mmio);
  const uint64_t pattern = test ? MMIO_READ_PATTERN : ~uint64_t{0};
  const size_t n = run_->mmio.len <= sizeof run_->mmio.data ? run_->mmio.len : sizeof run_->mmio.data;
  std::memcpy(run_->mmio.data, &pattern, n);
  return ExitKind::kMmioRead;
}

ExitKind Vcpu::OnHalt(uint64_t now_ns) {
  host_.Idle(now_ns);
  return ExitKind::kHlt;
}

ExitKind Vcpu::OnShutdown(VcpuEnd* end) {
  end->reason = EndReason::kShutdown;
  return ExitKind::kShutdown;
}

ExitKind Vcpu::OnInternalError(VcpuEnd* end) {
  end->reason = EndReason::kInternalError;
  end->suberror = run_->internal.suberror;
  const uint32_t n = run_->internal.ndata < 16 ? run_->internal.ndata : 16;
  end->data.assign(run_->internal.data, run_->internal.data + n);
  return ExitKind::kInternalError;
}

ExitKind Vcpu::OnFailEntry(VcpuEnd* end) {
  end->reason = EndReason::kFailEntry;
  end->entry_failure_reason = run_->fail_entry.hardware_entry_failure_reason;
  end->entry_failure_cpu = run_->fail_entry.cpu;
  return ExitKind::kFailEntry;
}

ExitKind Vcpu::OnOther() {
  counters_.last_other_reason.store(run_->exit_reason, std::memory_order_relaxed);
  return ExitKind::kOther;
}

}  // namespace rondo_kvm
