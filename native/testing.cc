// Test-only helpers (the dev addon, dev_addon.h): native writer threads that record through the
// C++ API (rondo::Writer) into a store's slab file, the way the VMM's vCPU threads do, and
// threads that only claim rows or bump a counter, so tests can race them against the JavaScript
// thread.
#include <napi.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/napi_util.h"
#include "dev_addon.h"

namespace rondo_addon {
namespace {

struct WriterResult {
  uint64_t ok = 0;
  uint64_t late = 0;
};

class WriterThreads : public Napi::ObjectWrap<WriterThreads> {
 public:
  explicit WriterThreads(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WriterThreads>(info) {}
  ~WriterThreads() override { JoinAll(); }

  // Thread t records column firstCol + t at ts = startMs + i * stepMs, value = k * 1000 + col
  // (k = ts / interval), for i in [0, points); all threads start together.
  void Start(std::shared_ptr<rondo::Slab> slab, uint32_t threads, uint32_t first_col,
             uint64_t start_ms, uint64_t step_ms, uint32_t points) {
    results_.resize(threads);
    for (uint32_t t = 0; t < threads; t++) {
      threads_.emplace_back([this, slab, t, first_col, start_ms, step_ms, points, threads] {
        rondo::Writer w(slab);
        const uint32_t col = first_col + t;
        ready_.fetch_add(1);
        while (ready_.load() < threads) {
        }
        WriterResult r;
        for (uint32_t i = 0; i < points; i++) {
          const uint64_t ts = start_ms + static_cast<uint64_t>(i) * step_ms;
          const double v = static_cast<double>(ts / slab->params().interval_ms) * 1000.0 + col;
          if (w.Record(col, ts, v) == rondo::ClaimResult::kOk)
            r.ok++;
          else
            r.late++;
        }
        results_[t] = r;
      });
    }
  }

  // Thread t records column firstCol + t at the wall clock (CLOCK_REALTIME, read every 64
  // writes), value = k * 1000 + col, as fast as it can for durationMs: what a vCPU thread does
  // when it counts every exit. All threads start together.
  void StartClock(std::shared_ptr<rondo::Slab> slab, uint32_t threads, uint32_t first_col,
                  uint64_t duration_ms) {
    results_.resize(threads);
    for (uint32_t t = 0; t < threads; t++) {
      threads_.emplace_back([this, slab, t, first_col, duration_ms, threads] {
        rondo::Writer w(slab);
        const uint32_t col = first_col + t;
        const uint64_t iv = slab->params().interval_ms;
        ready_.fetch_add(1);
        while (ready_.load() < threads) {
        }
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
        WriterResult r;
        for (;;) {
          struct timespec now;
          clock_gettime(CLOCK_REALTIME, &now);
          const uint64_t ts = static_cast<uint64_t>(now.tv_sec) * 1000 +
                              static_cast<uint64_t>(now.tv_nsec) / 1000000;
          const double v = static_cast<double>(ts / iv) * 1000.0 + col;
          for (int j = 0; j < 64; j++) {
            if (w.Record(col, ts, v) == rondo::ClaimResult::kOk)
              r.ok++;
            else
              r.late++;
          }
          if ((r.ok + r.late) % 4096 == 0 && std::chrono::steady_clock::now() >= deadline) break;
        }
        results_[t] = r;
      });
    }
  }

  // Thread t claims every interval of [k0, k0 + count) once (Slab::Claim, no value written), in
  // an order of its own: the i-th is k0 + (p * i + t) % count, p the t-th prime above 10^6 (so a
  // permutation). ok counts the claims that found or made the row, late the refusals. All threads
  // start together, and meet each other (and the JavaScript thread) all over the range.
  void StartClaimers(std::shared_ptr<rondo::Slab> slab, uint32_t threads, uint64_t k0,
                     uint32_t count) {
    results_.resize(threads);
    uint64_t p = 1000000;
    for (uint32_t t = 0; t < threads; t++) {
      p = NextPrime(p + 1);
      threads_.emplace_back([this, slab, t, k0, count, threads, p] {
        ready_.fetch_add(1);
        while (ready_.load() < threads) {
        }
        WriterResult r;
        for (uint64_t i = 0; i < count; i++) {
          if (slab->Claim(k0 + (p * i + t) % count) == rondo::ClaimResult::kOk)
            r.ok++;
          else
            r.late++;
        }
        results_[t] = r;
      });
    }
  }

  // Thread t adds 1 to the slab's lateWrites counter `times` times (an atomic fetch_add each):
  // for checking that the JavaScript thread's Atomics on the same word lose none of them.
  void StartLateCounters(std::shared_ptr<rondo::Slab> slab, uint32_t threads, uint32_t times) {
    results_.resize(threads);
    for (uint32_t t = 0; t < threads; t++) {
      threads_.emplace_back([this, slab, t, times, threads] {
        ready_.fetch_add(1);
        while (ready_.load() < threads) {
        }
        for (uint32_t i = 0; i < times; i++) slab->count_late();
        results_[t].ok = times;
      });
    }
  }

  Napi::Value Join(const Napi::CallbackInfo& info) {
    JoinAll();
    Napi::Array out = Napi::Array::New(info.Env(), results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("ok", static_cast<double>(results_[i].ok));
      o.Set("late", static_cast<double>(results_[i].late));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  static uint64_t NextPrime(uint64_t n) {
    for (;; n++) {
      bool prime = n > 1;
      for (uint64_t d = 2; prime && d * d <= n; d++) prime = n % d != 0;
      if (prime) return n;
    }
  }
  void JoinAll() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<std::thread> threads_;
  std::vector<WriterResult> results_;
  std::atomic<uint32_t> ready_{0};
};

WriterThreads* NewWriterThreads(Napi::Env env, Napi::Object* obj) {
  *obj = env.GetInstanceData<DevAddon>()->writer_threads.New({});
  return WriterThreads::Unwrap(*obj);
}

constexpr double kMaxWriterThreads = 64;

// threads and firstCol at info[1], info[2]: columns [firstCol, firstCol + threads) of the slab.
void ColumnsArgs(const Napi::CallbackInfo& info, const rondo::Slab& slab, uint32_t* threads, uint32_t* first_col) {
  Napi::Env env = info.Env();
  const double cols = slab.params().max_series;
  *threads = static_cast<uint32_t>(IntegerIn(env, info[1], "threads", 1, std::min(kMaxWriterThreads, cols)));
  *first_col = static_cast<uint32_t>(IntegerIn(env, info[2], "firstCol", 0, cols - *threads));
}

// startWriters(file, threads, firstCol, startMs, stepMs, points) -> { join(): [{ok, late}] }
// `file`: the slab file of a store open for writing in this process (Store.nativeTarget).
Napi::Value StartWriters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<rondo::Slab> slab = AttachSlab(env, info[0], "startWriters");
  uint32_t threads, first_col;
  ColumnsArgs(info, *slab, &threads, &first_col);
  const uint64_t start_ms = static_cast<uint64_t>(IntegerIn(env, info[3], "startMs", 1, 9007199254740991.0));
  const uint64_t step_ms = static_cast<uint64_t>(IntegerIn(env, info[4], "stepMs", 1, 1e12));
  const uint32_t points = static_cast<uint32_t>(IntegerIn(env, info[5], "points", 0, 4294967295.0));
  Napi::Object obj;
  NewWriterThreads(env, &obj)->Start(slab, threads, first_col, start_ms, step_ms, points);
  return obj;
}

// startClockWriters(file, threads, firstCol, durationMs) -> { join(): [{ok, late}] }
Napi::Value StartClockWriters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<rondo::Slab> slab = AttachSlab(env, info[0], "startClockWriters");
  uint32_t threads, first_col;
  ColumnsArgs(info, *slab, &threads, &first_col);
  const uint64_t duration_ms = static_cast<uint64_t>(IntegerIn(env, info[3], "durationMs", 0, 3600000));
  Napi::Object obj;
  NewWriterThreads(env, &obj)->StartClock(slab, threads, first_col, duration_ms);
  return obj;
}

// startClaimers(file, threads, k0, count) -> { join(): [{ok, late}] }
Napi::Value StartClaimers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<rondo::Slab> slab = AttachSlab(env, info[0], "startClaimers");
  const uint32_t threads = static_cast<uint32_t>(IntegerIn(env, info[1], "threads", 1, kMaxWriterThreads));
  const uint64_t k0 = static_cast<uint64_t>(IntegerIn(env, info[2], "k0", 1, 9007199254740991.0));
  const uint32_t count = static_cast<uint32_t>(IntegerIn(env, info[3], "count", 0, 4294967295.0));
  Napi::Object obj;
  NewWriterThreads(env, &obj)->StartClaimers(slab, threads, k0, count);
  return obj;
}

// startLateCounters(file, threads, times) -> { join(): [{ok: times, late: 0}] }
Napi::Value StartLateCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<rondo::Slab> slab = AttachSlab(env, info[0], "startLateCounters");
  const uint32_t threads = static_cast<uint32_t>(IntegerIn(env, info[1], "threads", 1, kMaxWriterThreads));
  const uint32_t times = static_cast<uint32_t>(IntegerIn(env, info[2], "times", 0, 4294967295.0));
  Napi::Object obj;
  NewWriterThreads(env, &obj)->StartLateCounters(slab, threads, times);
  return obj;
}

// faultOutsideSlab(file): maps `file` (made one page long), cuts it to nothing and reads the
// mapped page: a SIGBUS in no slab mapping, which must kill the process as it would without
// rondo's handler (rondo/sigbus.h). Returns only if it did not (the byte read).
Napi::Value FaultOutsideSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "faultOutsideSlab(file): file must be a string");
  const std::string path = info[0].As<Napi::String>();
  rondo::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd || ::ftruncate(fd.get(), 4096) != 0) throw CodedError(env, rondo::codes::kIo, "faultOutsideSlab: cannot make " + path);
  rondo::Mapping m = rondo::Mapping::Map(4096, PROT_READ, MAP_SHARED, fd.get());
  if (!m || ::ftruncate(fd.get(), 0) != 0) throw CodedError(env, rondo::codes::kIo, "faultOutsideSlab: cannot map " + path);
  const uint8_t b = *static_cast<volatile const uint8_t*>(m.bytes());
  return Napi::Number::New(env, b);
}

}  // namespace

Napi::Function InitTesting(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = WriterThreads::DefineClass(
      env, "WriterThreads", {WriterThreads::InstanceMethod("join", &WriterThreads::Join)});
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("startWriters", Napi::Function::New(env, StartWriters));
  testing.Set("startClockWriters", Napi::Function::New(env, StartClockWriters));
  testing.Set("startClaimers", Napi::Function::New(env, StartClaimers));
  testing.Set("startLateCounters", Napi::Function::New(env, StartLateCounters));
  testing.Set("faultOutsideSlab", Napi::Function::New(env, FaultOutsideSlab));
  exports.Set("testing", testing);
  return cls;
}

}  // namespace rondo_addon
