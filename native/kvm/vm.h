// A VM of the demo VMM: /dev/kvm, the VM fd, guest memory with the built-in guest loaded, one
// vCPU thread each, the wall-clock phases, the console, KVM's binary statistics, and the end.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/raii.h"
#include "kvm/capture.h"
#include "kvm/cmos.h"
#include "kvm/cpuid.h"
#include "kvm/guest.h"
#include "kvm/i8042.h"
#include "kvm/io_bus.h"
#include "kvm/linux_boot.h"
#include "kvm/micro_ports.h"
#include "kvm/pci_stub.h"
#include "kvm/pit.h"
#include "kvm/stats.h"
#include "kvm/uart.h"
#include "kvm/vcpu.h"

namespace rondo_kvm {

constexpr const char* kDefaultDevice = "/dev/kvm";
constexpr uint32_t kMaxVcpus = GUEST_MAX_VCPUS;
constexpr uint64_t kMinMemoryBytes = 1 << 20;
constexpr uint64_t kMaxMemoryBytes = 1 << 30;  // stays below MMIO_TEST_ADDR
constexpr uint64_t kDefaultMemoryBytes = 2 << 20;
constexpr uint64_t kMinDurationMs = 200;
constexpr uint64_t kMaxDurationMs = 7ull * 24 * 3600 * 1000;

struct VmConfig {
  std::string device_path = kDefaultDevice;
  uint32_t vcpus = 1;
  uint64_t memory_bytes = kDefaultMemoryBytes;
  uint64_t duration_ms = 5000;  // the micro-guest's phases; a Linux guest runs until it ends
  GuestKind guest = GuestKind::kMicro;
  LinuxBootConfig linux_boot;  // GuestKind::kLinux
  std::vector<CpuidBit> cpuid_hide;  // features cleared from what KVM supports
};
constexpr uint64_t kDefaultLinuxMemoryBytes = 256ull << 20;

struct ProbeResult {
  bool ok = false;
  int api_version = 0;
  bool binary_stats = false;
  std::string reason;  // why not, when !ok
};
ProbeResult Probe(const std::string& device_path);

struct GuestReport {
  uint64_t words[REPORT_WORDS] = {};
  uint64_t at(int offset) const { return words[offset / 8]; }
};

// The phases of a VM of `duration_ns`, `elapsed_ns` after its start: cpu 20%, port I/O 20%,
// MMIO 20%, idle the rest, shutdown from the end on.
uint8_t PhaseAt(uint64_t elapsed_ns, uint64_t duration_ns);
const char* PhaseName(uint8_t phase);

class Vm final : public VcpuHost {
 public:
  // Opens the device, creates the VM, its memory (guest loaded) and its vCPUs; no thread runs
  // yet. Throws KvmUnavailable, KvmError, std::invalid_argument.
  explicit Vm(const VmConfig& config);
  ~Vm() override;
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  void Start();  // throws std::logic_error if started before or stopped
  // Ends the VM now (a no-op if it ended): every vCPU leaves KVM_RUN, then Release().
  void Stop();
  bool Ended() const;
  // Once ended: joins the threads, keeps the last statistics and guest report, closes every
  // fd and unmaps memory. Idempotent; a no-op while the VM runs.
  void Release();
  // Runs fn once when the VM has ended: at once (on this thread) if it has, else on the thread
  // of the last vCPU to end.
  void OnEnded(std::function<void()> fn);

  // Records this VM's exit counters and KVM statistics into the store's slab files from native
  // code, every interval (capture.h). Before Start() only, once. Throws std::logic_error (after
  // Start(), twice), std::invalid_argument (a plan that does not fit), rondo::CorruptSlab,
  // rondo::SlabIoError.
  void CaptureInto(const CapturePlan& plan);
  bool capturing() const { return capture_ != nullptr; }

  bool started() const { return started_; }
  uint32_t vcpu_count() const { return static_cast<uint32_t>(vcpus_.size()); }
  const ExitCounters& counters(uint32_t i) const { return vcpus_[i]->counters(); }
  // The VM's end: 'stopped' when stop() ended it, else the first vCPU's own end; the vCPU
  // it came from in *vcpu (-1 for stopped). kNone while running.
  EndReason end_reason(VcpuEnd* details, int* vcpu) const;
  EndReason vcpu_end(uint32_t i) const;
  double started_at_ms() const { return started_at_ms_; }
  double ended_at_ms() const;
  uint8_t CurrentPhase() const;
  std::string DrainConsole();
  std::vector<GuestReport> GuestReports() const;  // empty for a Linux guest
  // How Linux was loaded (nullptr for the built-in guests).
  const LinuxBoot* linux_boot() const { return linux_ ? &boot_ : nullptr; }

  bool stats_available() const { return vm_stats_ != nullptr || !final_vm_stats_.empty(); }
  const std::string& stats_unavailable_reason() const { return stats_reason_; }
  const std::vector<StatDescriptor>& vm_stat_descriptors() const { return vm_descs_; }
  const std::vector<StatDescriptor>& vcpu_stat_descriptors() const { return vcpu_descs_; }
  std::vector<uint64_t> VmStats() const;
  std::vector<uint64_t> VcpuStats(uint32_t i) const;
  // The statistics' words (StatsFile::ReadWords): after the end, the last ones read.
  std::vector<uint64_t> VmStatWords() const;
  std::vector<uint64_t> VcpuStatWords(uint32_t i) const;

  // The micro-guest's phase at now_ns.
  uint8_t Phase(uint64_t now_ns) const;
  void ConsoleLine(std::string line);

  // VcpuHost
  void Idle(uint64_t now_ns) override;
  const PortBus& Ports() const override { return bus_; }
  bool Stopping() const override { return stopping_.load(std::memory_order_acquire); }
  void VcpuEnded(uint32_t index, const VcpuEnd& end) override;

 private:
  void CreateMemory();
  void LoadGuest();
  void CreateInterruptControllers();  // Linux: in-kernel PIC, IOAPIC, LAPIC and PIT
  void CreateDevices();
  void LoadLinux();
  void SetUpCpuid();
  CpuidTable CpuidFor(uint32_t vcpu) const;
  void RaiseIrq(uint32_t irq, bool level);
  void OpenStats();
  void RequestStop();  // stopping_ = true; kick every vCPU; wake the idle ones
  void CloseAll();

  const VmConfig config_;
  rondo::UniqueFd kvm_fd_;
  rondo::UniqueFd vm_fd_;
  rondo::Mapping memory_;  // guest memory
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  CpuidTable cpuid_;  // empty when the kernel gives none
  const bool linux_;
  LinuxBoot boot_;

  // Port devices, on bus_ (every vCPU thread is joined before they go).
  PortBus bus_;
  std::unique_ptr<Uart> uart_;
  std::unique_ptr<MicroPorts> micro_ports_;
  std::unique_ptr<I8042> i8042_;
  std::unique_ptr<Cmos> cmos_;
  std::unique_ptr<PitStub> pit_stub_;
  std::unique_ptr<PciStub> pci_;

  std::unique_ptr<StatsFile> vm_stats_;
  std::vector<std::unique_ptr<StatsFile>> vcpu_stats_;
  std::vector<StatDescriptor> vm_descs_, vcpu_descs_;
  std::string stats_reason_;
  std::vector<uint64_t> final_vm_stats_;  // words (StatsFile::ReadWords), read at Release()
  std::vector<std::vector<uint64_t>> final_vcpu_stats_;
  std::vector<GuestReport> final_reports_;
  std::shared_ptr<Capture> capture_;  // set before Start(), closed by Release()

  bool started_ = false;
  bool released_ = false;
  uint64_t start_ns_ = 0;
  double started_at_ms_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;  // everything below
  uint32_t running_ = 0;
  bool ended_ = false;
  bool stopped_by_user_ = false;
  int first_end_ = -1;  // the vCPU that ended first by itself
  std::vector<VcpuEnd> ends_;
  double ended_at_ms_ = 0;
  std::string console_;
  std::vector<std::function<void()>> on_ended_;

  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
};

}  // namespace rondo_kvm
