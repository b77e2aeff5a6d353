// One vCPU: its fd, its kvm_run mapping, its thread running KVM_RUN, the dispatch over exit
// reasons and its exit counters.
#pragma once
#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "kvm/exits.h"

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
};

// One line for people: what ended vCPU `vcpu` (-1: the whole VM, by stop()).
std::string DescribeEnd(const VcpuEnd& end, int vcpu);
// The instruction bytes KVM reports with an emulation failure, as hex ("" when it gave none).
std::string FailedInstructionBytes(const VcpuEnd& end);

// What a vCPU needs from its VM while it runs.
class VcpuHost {
 public:
  virtual ~VcpuHost() = default;
  virtual uint8_t Phase(uint64_t now_ns) const = 0;
  // HLT: returns when about 10 ms passed, the phase changed or the VM is stopping.
  virtual void Idle(uint64_t now_ns) = 0;
  virtual void ConsoleLine(std::string line) = 0;
  virtual bool Stopping() const = 0;
  // Called once, on the vCPU's own thread, as its last act.
  virtual void VcpuEnded(uint32_t index, const VcpuEnd& end) = 0;
};

// Registers a vCPU starts with (long mode, see Vm::LoadGuest for the memory they point into).
struct VcpuStart {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rdi = 0;
  uint64_t rsi = 0;
  bool invalid_code_segment = false;  // CS.L = CS.D = 1: the fail-entry guest
};

uint64_t NowNs();  // CLOCK_MONOTONIC (std::chrono::steady_clock)

class Vcpu {
 public:
  // Creates vCPU `index` on vm_fd and maps its kvm_run; throws KvmError.
  Vcpu(VcpuHost& host, int vm_fd, uint32_t index, size_t run_bytes);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  void SetCpuid(const kvm_cpuid2* cpuid);
  void EnterLongMode(const VcpuStart& s);
  void Start();
  // Makes the thread leave KVM_RUN (or not enter it again); the thread then ends.
  void Kick();
  void Join();
  // Unmaps kvm_run and closes the fd; only after Join().
  void Close();

  int fd() const { return fd_; }
  uint32_t index() const { return index_; }
  const ExitCounters& counters() const { return counters_; }

 private:
  void Loop();
  ExitKind Dispatch(uint64_t now_ns, VcpuEnd* end);
  ExitKind OnPortOut();
  ExitKind OnPortIn(uint64_t now_ns);
  ExitKind OnMmioWrite();
  ExitKind OnMmioRead();
  ExitKind OnHalt(uint64_t now_ns);
  ExitKind OnShutdown(VcpuEnd* end);
  ExitKind OnInternalError(VcpuEnd* end);
  ExitKind OnFailEntry(VcpuEnd* end);
  ExitKind OnOther();
  void SerialWrite(const uint8_t* p, size_t n);

  VcpuHost& host_;
  uint32_t index_;
  int fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_bytes_ = 0;
  std::thread thread_;
  ExitCounters counters_;
  uint8_t echo_ = 0;   // the test port's latch
  std::string line_;   // serial output of this vCPU up to its next newline
};

}  // namespace rondo_kvm
