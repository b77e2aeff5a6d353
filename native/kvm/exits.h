// Per-vCPU exit accounting: one struct of cumulative counters, never reset on read. The vCPU
// thread is the only writer and uses plain relaxed loads and stores (no locked instructions,
// never a lock); readers on other threads load.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace rondo_kvm {

// What one return from KVM_RUN was, as counted. Port I/O and MMIO are split by direction.
enum class ExitKind : uint8_t {
  kIoIn,
  kIoOut,
  kMmioRead,
  kMmioWrite,
  kHlt,
  kShutdown,
  kInternalError,
  kFailEntry,
  kOther,
};
constexpr size_t kExitKinds = 9;
constexpr const char* kExitNames[kExitKinds] = {"io_in",    "io_out",         "mmio_read",
                                                "mmio_write", "hlt",          "shutdown",
                                                "internal_error", "fail_entry", "other"};

inline void Bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// Exit-handling time of one reason, in ns: from KVM_RUN's return to the end of its handling.
struct Latency {
  std::atomic<uint64_t> min{std::numeric_limits<uint64_t>::max()};
  std::atomic<uint64_t> max{0};
  std::atomic<uint64_t> sum{0};
  std::atomic<uint64_t> count{0};

  void Add(uint64_t ns) {
    if (ns < min.load(std::memory_order_relaxed)) min.store(ns, std::memory_order_relaxed);
    if (ns > max.load(std::memory_order_relaxed)) max.store(ns, std::memory_order_relaxed);
    Bump(sum, ns);
    Bump(count);
  }
};

struct ExitCounters {
  std::atomic<uint64_t> exits[kExitKinds] = {};
  Latency latency[kExitKinds];
  std::atomic<uint64_t> run_ns{0};           // time spent inside KVM_RUN
  std::atomic<uint64_t> runs{0};             // KVM_RUN calls
  std::atomic<uint64_t> interrupted{0};      // KVM_RUN calls that returned EINTR (a kick, a signal)
  std::atomic<uint64_t> unclaimed_io{0};     // port accesses no device claims (counted in io_in/out too)
  std::atomic<uint64_t> unclaimed_mmio{0};   // MMIO outside the test device (counted in mmio_* too)
  std::atomic<uint64_t> last_other_reason{0};  // raw exit_reason of the last "other" exit

  void Count(ExitKind k, uint64_t handling_ns) {
    const size_t i = static_cast<size_t>(k);
    Bump(exits[i]);
    latency[i].Add(handling_ns);
  }
};

}  // namespace rondo_kvm
