// Native per-interval capture: see capture.h.
#include "kvm/capture.h"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <stdexcept>
#include <thread>

namespace rondo_kvm {
namespace {

// The sampler wakes this long after a boundary (at most a quarter of the interval): a vCPU that
// exits within it records the interval itself, on its own thread.
constexpr uint64_t kSamplerGraceNs = 20'000'000;

uint64_t ClockNs(clockid_t id) {
  timespec ts;
  ::clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The process's sampler: one thread for every capture, which ends when there is none left and
// is started again by the next.
class Sampler {
 public:
  static Sampler& Get() {
    static Sampler* s = new Sampler();  // never destroyed: its thread may outlive static destructors
    return *s;
  }

  void Add(const std::shared_ptr<Capture>& c) {
    std::lock_guard<std::mutex> l(mu_);
    const Clocks now = ReadClocks();
    entries_.push_back({c, c.get(), Due(*c, now)});
    generation_++;
    if (!running_) {
      running_ = true;
      std::thread t([this] { Loop(); });
      ::pthread_setname_np(t.native_handle(), "rondo-sampler");
      t.detach();
    }
    cv_.notify_all();
  }

  void Remove(const Capture* c) {
    std::shared_ptr<Capture> last;  // released outside the lock
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->key != c) continue;
        last = std::move(it->capture);
        entries_.erase(it);
        generation_++;
        break;
      }
    }
    cv_.notify_all();
  }

  SamplerInfo Info() {
    std::lock_guard<std::mutex> l(mu_);
    return {running_, entries_.size(), passes_};
  }

 private:
  struct Entry {
    std::shared_ptr<Capture> capture;
    const Capture* key;
    uint64_t due_wall_ns;  // the next pass for it: a boundary plus the grace
  };

  static uint64_t Due(const Capture& c, const Clocks& now) {
    const uint64_t iv = c.interval_ms() * 1'000'000;
    return (now.wall_ns / iv + 1) * iv + std::min(kSamplerGraceNs, iv / 4);
  }

  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    std::vector<std::shared_ptr<Capture>> due;
    for (;;) {
      if (entries_.empty()) {
        running_ = false;  // Add() starts another thread; this one touches nothing more
        return;
      }
      uint64_t wake = ~uint64_t{0};
      for (const Entry& e : entries_) wake = std::min(wake, e.due_wall_ns);
      const uint64_t gen = generation_;
      const std::chrono::system_clock::time_point at{
          std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(wake))};
      cv_.wait_until(l, at, [&] { return generation_ != gen; });
      const Clocks now = ReadClocks();
      for (Entry& e : entries_) {
        if (e.due_wall_ns > now.wall_ns) continue;
        due.push_back(e.capture);
        e.due_wall_ns = Due(*e.capture, now);
      }
      if (due.empty()) continue;
      passes_++;
      l.unlock();
      for (auto& c : due) c->Sample(now);
      due.clear();  // may be the last reference to a capture: outside the lock
      l.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  uint64_t generation_ = 0;
  uint64_t passes_ = 0;
  bool running_ = false;
};

}  // namespace

Clocks ReadClocks() { return {ClockNs(CLOCK_MONOTONIC), ClockNs(CLOCK_REALTIME)}; }

SamplerInfo SamplerState() { return Sampler::Get().Info(); }

CounterSnapshot Snapshot(const ExitCounters& c) {
  CounterSnapshot s;
  for (size_t r = 0; r < kExitKinds; r++) {
    s.value[kCaptureExits + r] = static_cast<double>(c.exits[r].load(std::memory_order_relaxed));
    s.present[kCaptureExits + r] = true;
    const Latency& l = c.latency[r];
    const bool seen = l.count.load(std::memory_order_relaxed) > 0;
    s.value[kCaptureHandlingSum + r] = static_cast<double>(l.sum.load(std::memory_order_relaxed)) / 1e9;
    s.value[kCaptureHandlingMax + r] = static_cast<double>(l.max.load(std::memory_order_relaxed)) / 1e9;
    s.present[kCaptureHandlingSum + r] = s.present[kCaptureHandlingMax + r] = seen;
  }
  s.value[kCaptureRun] = static_cast<double>(c.run_ns.load(std::memory_order_relaxed)) / 1e9;
  s.present[kCaptureRun] = true;
  return s;
}

uint64_t VcpuCapture::AtBoundary(const Clocks& now) {
  Capture& o = *owner_;
  const uint64_t k = now.wall_ns / o.interval_ns_;
  uint64_t c = claimed_.load(std::memory_order_acquire);
  while (c < k) {
    // Acquire: if the sampler took an interval first, its reads of these counters happen before
    // the bumps this thread makes after this exit. Release: the other way round.
    if (claimed_.compare_exchange_weak(c, k, std::memory_order_acq_rel, std::memory_order_acquire)) {
      Record(writers_, Snapshot(*counters_), o.FillFrom(c + 1, k), k);
      break;
    }
  }
  return o.NextBoundary(now);
}

void VcpuCapture::Record(std::vector<rondo::Writer>& writers, const CounterSnapshot& s, uint64_t from, uint64_t to) {
  const uint64_t iv = owner_->interval_ms_;
  for (uint64_t k = from; k <= to; k++) {
    for (size_t i = 0; i < kVcpuCaptureSeries; i++) {
      const CaptureTarget& t = targets_[i];
      if (t.slab < 0 || !s.present[i]) continue;
      writers[static_cast<size_t>(t.slab)].Record(t.column, k * iv, s.value[i]);  // kLate: refused, counted by the slab
    }
  }
}

double StatSlotValue(const StatSlot& s, const std::vector<uint64_t>& words) {
  double v = 0;
  for (uint32_t i = s.lo; i < s.hi && i < words.size(); i++) v += static_cast<double>(words[i]);
  if (s.scale == 1) return v;
  return s.scale < 1 ? v / std::round(1 / s.scale) : v * s.scale;
}

Capture::Capture(const CapturePlan& plan, std::vector<const ExitCounters*> counters, size_t vm_words,
                 size_t vcpu_words, StatsReader stats)
    : interval_ms_(plan.interval_ms), interval_ns_(plan.interval_ms * 1'000'000), stats_(std::move(stats)) {
  if (plan.interval_ms == 0 || plan.interval_ms > 86'400'000)
    throw std::invalid_argument("capture: the interval must be from 1 ms to a day");
  if (plan.files.empty()) throw std::invalid_argument("capture: no slab file");
  if (plan.vcpus.size() != counters.size() || plan.vcpu_stats.size() != counters.size())
    throw std::invalid_argument("capture: the plan does not match this VM's vCPUs");
  auto check_slots = [](const std::vector<StatSlot>& slots, size_t words) {
    for (const StatSlot& s : slots)
      if (s.lo >= s.hi || s.hi > words || !(s.scale > 0) || !std::isfinite(s.scale))
        throw std::invalid_argument("capture: a statistics slot does not fit this VM's statistics (" + std::to_string(words) + " words)");
  };
  check_slots(plan.vm_stats, vm_words);
  for (const auto& v : plan.vcpu_stats) check_slots(v, vcpu_words);
  fill_limit_ = ~uint64_t{0};
  for (const std::string& f : plan.files) {
    std::shared_ptr<rondo::Slab> s = rondo::Slab::Open(f, rondo::OpenMode::kAttach, nullptr);
    if (s->params().kind != rondo::TierKind::kRaw)
      throw std::invalid_argument("capture: " + f + " is a consolidated tier; give the store's tier-0 files (Store.nativeTarget)");
    if (s->params().interval_ms != plan.interval_ms)
      throw std::invalid_argument("capture: " + f + " has an interval of " + std::to_string(s->params().interval_ms) +
                                  " ms, not " + std::to_string(plan.interval_ms) +
                                  " ms: every captured series must be in tier-0 slabs of one interval");
    fill_limit_ = std::min<uint64_t>(fill_limit_, s->slots());
    // Opening read every row's stamp, which mapped the whole file into this process; only the
    // rows written from now on need to be. The pages stay in the page cache (MAP_SHARED).
    ::madvise(s->base(), s->size(), MADV_DONTNEED);
    slabs_.push_back(std::move(s));
  }
  auto check = [&](const CaptureTarget& t) {
    if (t.slab < 0) return;
    if (static_cast<size_t>(t.slab) >= slabs_.size())
      throw std::invalid_argument("capture: a target names slab " + std::to_string(t.slab) + " of " +
                                  std::to_string(slabs_.size()));
    if (t.column >= slabs_[static_cast<size_t>(t.slab)]->params().max_series)
      throw std::invalid_argument("capture: column " + std::to_string(t.column) + " is past maxSeries of " +
                                  plan.files[static_cast<size_t>(t.slab)]);
  };
  for (const auto& v : plan.vcpus)
    for (const CaptureTarget& t : v) check(t);
  for (const StatSlot& s : plan.vm_stats) check(s.target);
  for (const auto& v : plan.vcpu_stats)
    for (const StatSlot& s : v) check(s.target);
  for (size_t i = 0; i < counters.size(); i++) {
    auto v = std::make_unique<VcpuCapture>();
    v->owner_ = this;
    v->counters_ = counters[i];
    v->targets_ = plan.vcpus[i];
    for (const auto& s : slabs_) v->writers_.emplace_back(s);
    vcpus_.push_back(std::move(v));
  }
  for (const auto& s : slabs_) writers_.emplace_back(s);
  vm_stat_targets_ = plan.vm_stats;
  vcpu_stat_targets_ = plan.vcpu_stats;
}

Capture::~Capture() = default;

uint64_t Capture::NextBoundary(const Clocks& now) const {
  const uint64_t next = (now.wall_ns / interval_ns_ + 1) * interval_ns_;
  return now.mono_ns + (next - now.wall_ns);
}

void Capture::RecordStats(uint64_t k) {
  if (!stats_ || (vm_stat_targets_.empty() && vcpu_stat_targets_.empty())) return;
  try {
    if (!stats_(&vm_values_, &vcpu_values_)) return;
  } catch (const std::exception&) {
    return;  // a failed read: this interval has no statistics (the next read may work)
  }
  const uint64_t ts = k * interval_ms_;
  auto put = [&](const StatSlot& s, const std::vector<uint64_t>& words) {
    if (s.target.slab >= 0 && s.hi <= words.size())
      writers_[static_cast<size_t>(s.target.slab)].Record(s.target.column, ts, StatSlotValue(s, words));
  };
  for (const StatSlot& s : vm_stat_targets_) put(s, vm_values_);
  for (size_t v = 0; v < vcpu_stat_targets_.size() && v < vcpu_values_.size(); v++)
    for (const StatSlot& s : vcpu_stat_targets_[v]) put(s, vcpu_values_[v]);
}

uint64_t Capture::Begin(uint64_t start_wall_ms) {
  std::lock_guard<std::mutex> l(mu_);
  const uint64_t k = start_wall_ms / interval_ms_;
  sampled_ = k;
  RecordStats(k);
  for (auto& v : vcpus_) {
    v->claimed_.store(k, std::memory_order_release);
    v->Record(writers_, Snapshot(*v->counters_), k, k);
  }
  return NextBoundary(ReadClocks());
}

void Capture::Sample(const Clocks& now) {
  std::lock_guard<std::mutex> l(mu_);
  if (ended_ || closed_) return;
  const uint64_t k = now.wall_ns / interval_ns_;
  if (k <= sampled_) return;
  sampled_ = k;
  RecordStats(k);
  for (auto& v : vcpus_) {
    uint64_t c = v->claimed_.load(std::memory_order_acquire);
    if (c >= k) continue;
    // Read first, claim second: if the claim holds, the vCPU has not passed its boundary check
    // since the boundary, so what was read is what its counters were at the boundary. (A vCPU
    // whose thread has ended keeps its final values, every interval until the VM ends.)
    const CounterSnapshot s = Snapshot(*v->counters_);
    if (!v->claimed_.compare_exchange_strong(c, k, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    v->Record(writers_, s, FillFrom(c + 1, k), k);
  }
}

void Capture::VcpuEnded(uint32_t i) {
  std::lock_guard<std::mutex> l(mu_);  // the sampler may be recording this vCPU's interval
  if (closed_) return;
  VcpuCapture& v = *vcpus_[i];
  const uint64_t k = ReadClocks().wall_ns / interval_ns_;
  const uint64_t c = v.claimed_.load(std::memory_order_acquire);  // only the sampler moves it now, under mu_
  v.Record(v.writers_, Snapshot(*v.counters_), c < k ? FillFrom(c + 1, k) : k, k);
  if (c < k) v.claimed_.store(k, std::memory_order_release);
}

void Capture::VmEnded(uint64_t end_wall_ms) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_ || ended_) return;
    const uint64_t k = end_wall_ms / interval_ms_;
    RecordStats(k);
    // Every vCPU's final values reach the interval the VM ended in (a vCPU may have ended
    // earlier, or in the interval before).
    for (auto& v : vcpus_) {
      const uint64_t c = v->claimed_.load(std::memory_order_acquire);
      if (c >= k) continue;
      v->Record(writers_, Snapshot(*v->counters_), FillFrom(c + 1, k), k);
      v->claimed_.store(k, std::memory_order_release);
    }
    ended_ = true;
  }
  Sampler::Get().Remove(this);
}

void Capture::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    closed_ = ended_ = true;
    writers_.clear();
    for (auto& v : vcpus_) v->writers_.clear();
    slabs_.clear();
  }
  Sampler::Get().Remove(this);
}

void StartSampling(const std::shared_ptr<Capture>& c) { Sampler::Get().Add(c); }

}  // namespace rondo_kvm
