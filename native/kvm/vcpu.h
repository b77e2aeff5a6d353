// One vCPU: its fd, its kvm_run mapping, its thread running KVM_RUN, the dispatch over exit
// reasons and its exit counters.
#pragma once
#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/raii.h"
#include "kvm/capture.h"
#include "kvm/cpuid.h"
#include "kvm/exits.h"
#include "kvm/io_bus.h"

namespace rondo_kvm {

// Why a vCPU (and so a VM) stopped running.
enum class EndReason { kNone, kShutdown, kInternalError, kFailEntry, kRunError, kStopped };
const char* EndReasonName(EndReason r);

struct VcpuEnd {
  EndReason reason = EndReason::kNone;
  uint32_t suberror = 0;              // internal_error
  std::vector<uint64_t> data;         // internal_error: kvm_run.internal.data[0..ndata)
  uint64_t entry_failure_reason = 0;  // fail_entry: hardware_entry_failure_reason
  uint32_t entry_failure_cpu = 0;     // fail_entry: the host CPU
  int run_errno = 0;                  // run_error: errno of KVM_RUN
  std::string cause;                  // shutdown: how ("" is a triple fault)
  bool machine_wide = false;          // a reset of the whole machine (ends every vCPU)
};

// One line for people: what ended vCPU `vcpu` (-1: the whole VM, by stop()).
std::string DescribeEnd(const VcpuEnd& end, int vcpu);
// The instruction bytes KVM reports with an emulation failure, as hex ("" when it gave none).
std::string FailedInstructionBytes(const VcpuEnd& end);

// What a vCPU needs from its VM while it runs.
class VcpuHost {
 public:
  virtual ~VcpuHost() = default;
  // HLT: returns when about 10 ms passed, the phase changed or the VM is stopping.
  virtual void Idle(uint64_t now_ns) = 0;
  // The VM's port devices.
  virtual const PortBus& Ports() const = 0;
  virtual bool Stopping() const = 0;
  // Called once, on the vCPU's own thread, as its last act.
  virtual void VcpuEnded(uint32_t index, const VcpuEnd& end) = 0;
};

// Registers a vCPU starts with (long mode: the GDT and page tables are in guest memory).
struct VcpuStart {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rdi = 0;
  uint64_t rsi = 0;
  bool invalid_code_segment = false;  // CS.L = CS.D = 1: the fail-entry guest
  uint16_t code_selector = 0x08, data_selector = 0x10, tss_selector = 0x18;
  uint16_t gdt_limit = 0x27;
};

// CLOCK_MONOTONIC (std::chrono::steady_clock), in ns. Inline: the devices use it too, and the
// dev addon builds them without this file's vcpu.cc.
inline uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

class Vcpu {
 public:
  // Creates vCPU `index` on vm_fd and maps its kvm_run; throws KvmError.
  Vcpu(VcpuHost& host, int vm_fd, uint32_t index, size_t run_bytes);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  void SetCpuid(const CpuidTable& cpuid);
  void EnterLongMode(const VcpuStart& s);
  // The PVH start: 32-bit protected mode, paging off, flat segments, %ebx = start info.
  void EnterProtectedMode(uint64_t rip, uint64_t rbx);
  // LINT0 as ExtINT (the PIC's virtual wire) and LINT1 as NMI, as firmware leaves them.
  void SetLapicVirtualWire();
  // The micro-guest's MMIO test device answers at MMIO_TEST_ADDR (call before Start()).
  void EnableTestDevice() { test_device_ = true; }
  // Records this vCPU's counters through `capture` at each interval boundary (call before
  // Start()); `next_boundary_ns` is the first boundary, monotonic.
  void SetCapture(VcpuCapture* capture, uint64_t next_boundary_ns) {
    capture_ = capture;
    next_boundary_ns_ = next_boundary_ns;
  }
  void Start();
  // Makes the thread leave KVM_RUN (or not enter it again); the thread then ends.
  void Kick();
  void Join();
  // Unmaps kvm_run and closes the fd; only after Join().
  void Close();

  int fd() const { return fd_.get(); }
  uint32_t index() const { return index_; }
  const ExitCounters& counters() const { return counters_; }

 private:
  void Loop();
  ExitKind Dispatch(uint64_t now_ns, VcpuEnd* end);
  ExitKind OnPortOut(VcpuEnd* end);
  ExitKind OnPortIn();
  ExitKind OnMmioWrite();
  ExitKind OnMmioRead();
  ExitKind OnHalt(uint64_t now_ns);
  ExitKind OnShutdown(VcpuEnd* end);
  ExitKind OnInternalError(VcpuEnd* end);
  ExitKind OnFailEntry(VcpuEnd* end);
  ExitKind OnOther();

  VcpuHost& host_;
  uint32_t index_;
  rondo::UniqueFd fd_;
  rondo::Mapping run_map_;    // this vCPU's kvm_run, shared with KVM
  kvm_run* run_ = nullptr;    // run_map_, typed (nullptr once closed)
  std::thread thread_;
  ExitCounters counters_;
  bool test_device_ = false;
  VcpuCapture* capture_ = nullptr;
  uint64_t next_boundary_ns_ = ~uint64_t{0};  // never reached without a capture
};

}  // namespace rondo_kvm
