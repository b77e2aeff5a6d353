// Native per-interval capture (docs/architecture.md, "Native capture"): a VM's exit counters and
// KVM binary statistics recorded into its store by native code, through rondo::Writer on the
// store's own tier-0 slab files, with the timestamp of the interval they belong to. Nothing here
// waits on JavaScript.
//
// Each series gets one point per interval (1 s for the demo VMM): the value as it stood at the
// boundary that opens the interval, timestamped with that boundary. Who records it:
//  - a vCPU's exit counters: the vCPU thread itself, at its first exit after the boundary, with
//    the counters as they stood then (before that exit is counted): on the exit path this costs
//    one compare of the exit's monotonic time against a cached boundary when no boundary passed;
//  - the same, for a vCPU that did not exit since the boundary: the process's sampler thread,
//    shortly after the boundary (a vCPU's counters only move when it exits, so they are the
//    boundary's values); a compare-and-swap on the vCPU's newest recorded interval decides who
//    records each interval, so it is recorded once, by one of them, with the boundary's values;
//  - the KVM statistics of the VM and of each vCPU: the sampler, once per interval;
//  - the start (the interval start() falls in) and the end (the interval the VM ends in, with
//    the final values, replacing that interval's boundary values) by start() and by the vCPU
//    threads as they end, before the VM counts as ended, so before wait() resolves.
// An interval a vCPU thread and the sampler both missed (the process starved for longer than an
// interval) is filled when either gets there, with the same values: a vCPU's counters did not
// move while it did not exit. The statistics of such an interval are not made up: it has none.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kvm/exits.h"
#include "rondo/slab.h"

namespace rondo_kvm {

// Where a series goes: slab `slab` of the capture (an index into CapturePlan::files) and its
// column there. slab < 0: the series is not recorded (the store refused it, say).
struct CaptureTarget {
  int32_t slab = -1;
  uint32_t column = 0;
};

// The series of one vCPU's exit counters, in this order: exits by reason, exit-handling time
// (sum, s) by reason, its max (s) by reason, time in KVM_RUN (s).
constexpr size_t kCaptureExits = 0;
constexpr size_t kCaptureHandlingSum = kExitKinds;
constexpr size_t kCaptureHandlingMax = 2 * kExitKinds;
constexpr size_t kCaptureRun = 3 * kExitKinds;
constexpr size_t kVcpuCaptureSeries = 3 * kExitKinds + 1;
using VcpuTargets = std::array<CaptureTarget, kVcpuCaptureSeries>;

// One series of the KVM statistics (src/kvm/stat-series.ts plans them): its value is
// scale × the sum of words [lo, hi) of its scope's words (StatsFile::ReadWords), a scale below 1
// applied as a division by its inverse, rounded (so 1e-9 divides by 1e9, as JavaScript does).
struct StatSlot {
  CaptureTarget target;
  uint32_t lo = 0;
  uint32_t hi = 0;
  double scale = 1;
};
double StatSlotValue(const StatSlot& s, const std::vector<uint64_t>& words);

struct CapturePlan {
  std::vector<std::string> files;  // tier-0 slab files of the store (Store.nativeTarget().file)
  uint64_t interval_ms = 0;        // their interval (all the same)
  std::vector<VcpuTargets> vcpus;
  std::vector<StatSlot> vm_stats;                // the series of the VM's statistics
  std::vector<std::vector<StatSlot>> vcpu_stats;  // per vCPU, the series of its statistics
};

// Reads the KVM statistics' words now into *vm and (*vcpus)[i]; false when there are none.
using StatsReader = std::function<bool(std::vector<uint64_t>* vm, std::vector<std::vector<uint64_t>>* vcpus)>;

// The monotonic clock (NowNs) and the wall clock (CLOCK_REALTIME), read one after the other.
struct Clocks {
  uint64_t mono_ns;
  uint64_t wall_ns;
};
Clocks ReadClocks();

// One vCPU's counters, as they stand, in kVcpuCaptureSeries order; a reason's exit-handling
// series are absent (present = false) until its first exit, as kvmCollector records them.
struct CounterSnapshot {
  double value[kVcpuCaptureSeries];
  bool present[kVcpuCaptureSeries];
};
CounterSnapshot Snapshot(const ExitCounters& c);

class Capture;

// One vCPU's part of a capture. AtBoundary runs on the vCPU's thread; the rest is the capture's.
class VcpuCapture {
 public:
  // At an exit whose monotonic time reached the cached boundary, before the exit is counted:
  // records the counters as they stand for each interval since the newest one recorded for this
  // vCPU (unless the sampler took them), and returns the next boundary, monotonic.
  uint64_t AtBoundary(const Clocks& now);

 private:
  friend class Capture;
  // Records `s` for intervals [from, to] through `writers`.
  void Record(std::vector<rondo::Writer>& writers, const CounterSnapshot& s, uint64_t from, uint64_t to);

  Capture* owner_ = nullptr;
  const ExitCounters* counters_ = nullptr;
  VcpuTargets targets_;
  std::vector<rondo::Writer> writers_;  // this vCPU thread's, one per slab
  // The newest interval recorded for this vCPU's counters: claimed with a compare-and-swap by
  // the vCPU thread or the sampler, whoever is first.
  std::atomic<uint64_t> claimed_{0};
};

class Capture {
 public:
  // Maps the plan's files (rondo::OpenMode::kAttach) and checks the plan against them
  // (vm_words, vcpu_words: how many words the VM's and a vCPU's statistics have). Throws
  // std::invalid_argument (a column past maxSeries, intervals that differ, a plan of the wrong
  // shape, a slot past the words), rondo::CorruptSlab, rondo::SlabIoError.
  Capture(const CapturePlan& plan, std::vector<const ExitCounters*> counters, size_t vm_words,
          size_t vcpu_words, StatsReader stats);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // At start(), before the vCPU threads run: every series' first point, in the interval of
  // start_wall_ms (the VM's start). Returns the next boundary, monotonic. Then StartSampling().
  uint64_t Begin(uint64_t start_wall_ms);
  VcpuCapture& vcpu(uint32_t i) { return *vcpus_[i]; }
  // On vCPU i's thread, as its last act: its counters' final values, for the interval it ends in
  // (and any interval since the newest one recorded). The sampler goes on recording them, each
  // interval, until the VM ends.
  void VcpuEnded(uint32_t i);
  // On the thread of the last vCPU to end, with the VM's end time: the statistics' final values
  // and every vCPU's, in the interval the VM ended in; the sampler lets go.
  void VmEnded(uint64_t end_wall_ms);
  // Nothing is recorded after this returns; the files are unmapped. Idempotent. Call it only
  // once no vCPU thread runs.
  void Close();
  // The sampler's pass at `now`: the statistics, and the counters of the vCPUs that have not
  // recorded the current interval themselves.
  void Sample(const Clocks& now);

  uint64_t interval_ms() const { return interval_ms_; }
  // The monotonic time of the first boundary after `now`.
  uint64_t NextBoundary(const Clocks& now) const;
  // The oldest interval a fill may reach back to from k (within every slab's ring).
  uint64_t FillFrom(uint64_t from, uint64_t k) const {
    return k >= fill_limit_ && from < k - fill_limit_ + 1 ? k - fill_limit_ + 1 : from;
  }

 private:
  friend class VcpuCapture;
  void RecordStats(uint64_t k);  // with mu_ held

  uint64_t interval_ms_;
  uint64_t interval_ns_;
  uint64_t fill_limit_;
  std::vector<std::shared_ptr<rondo::Slab>> slabs_;
  std::vector<std::unique_ptr<VcpuCapture>> vcpus_;
  std::vector<StatSlot> vm_stat_targets_;
  std::vector<std::vector<StatSlot>> vcpu_stat_targets_;
  StatsReader stats_;

  std::mutex mu_;  // everything below; the vCPU threads' boundary records never take it
  std::vector<rondo::Writer> writers_;  // the sampler's, start()'s and the end's, one per slab
  uint64_t sampled_ = 0;  // the newest interval the sampler has done
  bool ended_ = false;    // the VM ended: the sampler has nothing more to do
  bool closed_ = false;
  std::vector<uint64_t> vm_values_;
  std::vector<std::vector<uint64_t>> vcpu_values_;
};

// The process's sampler thread: one for every capture of the process, woken shortly after each
// interval boundary. Tests and the bench look at it.
struct SamplerInfo {
  bool running;      // its thread exists
  size_t captures;   // captures it serves now
  uint64_t passes;   // passes made since the process started
};
SamplerInfo SamplerState();

// Hands a capture to the sampler (after Begin()); VmEnded() and Close() take it back.
void StartSampling(const std::shared_ptr<Capture>& c);

}  // namespace rondo_kvm
