// Native halves of `rondo bench` (src/cli/bench.ts) and bench/write.js, exported as `bench` by the
// dev addon (dev_addon.h):
//  - startNative: C++ threads recording through rondo::Writer into a store's slab file, the way
//    the VMM's vCPU threads do;
//  - startCLoop: the physical limit, a raw loop storing doubles into an mmap'd file of the same
//    row shape (16-byte row header + 8 bytes per column) with the least work a write can do:
//    load the row stamp, compare, store the double (and the stamp, once per new row).
// Both run a warm-up lap first (page faults, caches), then the timed rounds, and time fixed-size
// chunks of ops with steady_clock: timing each op would cost more than the op.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/napi_util.h"
#include "common/raii.h"
#include "dev_addon.h"
#include "common/slab_errors.h"
#include "rondo/events.h"

#include <mutex>
#include "rondo/slab.h"

namespace rondo_addon {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMaxThreads = 64;

// One thread's share of a run.
struct ThreadOut {
  std::vector<double> chunk_ns;  // per-op ns of each timed chunk
  uint64_t ops = 0;              // timed ops
  uint64_t late = 0;             // writes refused (warm-up and timed)
  Clock::time_point start, end;  // of the timed part
  std::string error;
};

// Runs `rounds` rounds over cols[0, ncols): op j of a round stores into cols[j]; after the last
// column the sink moves to its next round. When `out` is given, records the per-op time of each
// chunk of `chunk` ops (a shorter last chunk only when there is no whole one).
template <typename Sink>
void Drive(Sink& sink, const uint32_t* cols, uint32_t ncols, uint64_t rounds, uint32_t chunk,
           std::vector<double>* out, std::atomic<uint64_t>* progress) {
  const uint64_t total = rounds * ncols;
  uint64_t done = 0;
  uint32_t j = 0;
  while (done < total) {
    const uint64_t n = std::min<uint64_t>(chunk, total - done);
    const Clock::time_point t0 = Clock::now();
    for (uint64_t i = 0; i < n; i++) {
      sink.Put(cols[j], static_cast<double>(done + i));
      if (++j == ncols) {
        j = 0;
        sink.NextRound();
      }
    }
    const Clock::time_point t1 = Clock::now();
    if (out != nullptr && (n == chunk || total < chunk))
      out->push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n));
    done += n;
    progress->fetch_add(n, std::memory_order_relaxed);
  }
}

// Records through rondo::Writer at ts, one interval further each round.
struct WriterSink {
  rondo::Writer w;
  uint64_t ts;
  uint64_t step;
  uint64_t late = 0;
  WriterSink(std::shared_ptr<rondo::Slab> slab, uint64_t ts0, uint64_t step_ms)
      : w(std::move(slab)), ts(ts0), step(step_ms) {}
  void Put(uint32_t col, double v) {
    if (w.Record(col, ts, v) != rondo::ClaimResult::kOk) late++;
  }
  void NextRound() { ts += step; }
};

// The raw loop: the row of the round is known; a write loads its stamp, compares, and stores the
// value (the stamp too, the first time a row is met in a lap). Same atomics as the slab's.
struct RawSink {
  double* data;
  size_t row_words;
  uint32_t slots;
  uint32_t slot;
  double kd;
  double* row;
  uint64_t late = 0;
  RawSink(double* d, size_t rw, uint32_t n) : data(d), row_words(rw), slots(n), slot(1 % n), kd(1) {
    row = data + static_cast<size_t>(slot) * row_words;
  }
  void Put(uint32_t col, double v) {
    if (rondo::Slab::stamp_load(row) != kd) rondo::Slab::cell_store(row + rondo::kRowStampWord, kd);
    rondo::Slab::cell_store(row + rondo::kRowHeaderWords + col, v);
  }
  void NextRound() {
    kd += 1;
    if (++slot == slots) slot = 0;
    row = data + static_cast<size_t>(slot) * row_words;
  }
};

class BenchRun : public Napi::ObjectWrap<BenchRun> {
 public:
  explicit BenchRun(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BenchRun>(info) {}
  ~BenchRun() override {
    JoinAll();
    Unmap();
  }

  // Starts `threads` threads; thread t takes a contiguous block of `cols` and a sink from
  // make(t). The warm-up runs in laps of at most `lap` rounds (the ring's slots) with all threads
  // meeting after each, so no thread gets a whole ring ahead of another (its writes would be
  // late); all threads start the timed rounds together.
  template <typename MakeSink>
  void Start(uint32_t threads, const std::vector<uint32_t>& cols, uint64_t warm_rounds, uint64_t lap,
             uint64_t rounds, uint32_t chunk, MakeSink make) {
    threads_n_ = threads;
    total_ = (warm_rounds + rounds) * cols.size();
    outs_.resize(threads);
    const size_t n = cols.size();
    for (uint32_t t = 0; t < threads; t++) {
      std::vector<uint32_t> block(cols.begin() + t * n / threads, cols.begin() + (t + 1) * n / threads);
      threads_.emplace_back([this, t, threads, block, warm_rounds, lap, rounds, chunk, make] {
        ThreadOut& o = outs_[t];
        try {
          auto sink = make(t);
          const uint32_t nc = static_cast<uint32_t>(block.size());
          o.chunk_ns.reserve(rounds * nc / chunk + 1);
          for (uint64_t r = 0; r < warm_rounds; r += lap) {
            Drive(sink, block.data(), nc, std::min(lap, warm_rounds - r), chunk, nullptr, &progress_);
            Barrier(threads);
          }
          Barrier(threads);
          o.start = Clock::now();
          Drive(sink, block.data(), nc, rounds, chunk, &o.chunk_ns, &progress_);
          o.end = Clock::now();
          o.ops = rounds * nc;
          o.late = sink.late;
        } catch (const std::exception& e) {
          o.error = e.what();
          o.start = o.end = Clock::now();
          failed_.store(true, std::memory_order_release);  // lets the others through the barriers
        }
        finished_.fetch_add(1, std::memory_order_release);
      });
    }
  }

  // The C loop's file, mapped: unmapped and removed when the run is joined (or collected).
  void Own(rondo::Mapping map, std::string path) {
    map_ = std::move(map);
    file_ = std::move(path);
  }

  Napi::Value Progress(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(progress_.load(std::memory_order_relaxed)));
  }

  Napi::Value Total(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(total_));
  }

  Napi::Value Done(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), finished_.load(std::memory_order_acquire) == threads_n_);
  }

  // Waits for the threads; { ops, lateWrites, elapsedNs, threads, chunkNs: Float64Array }.
  // elapsedNs runs from the first thread's start of the timed rounds to the last one's end.
  Napi::Value Join(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    JoinAll();
    Unmap();
    std::string err;
    uint64_t ops = 0, late = 0;
    size_t chunks = 0;
    Clock::time_point start = Clock::time_point::max(), end = Clock::time_point::min();
    for (const ThreadOut& o : outs_) {
      if (!o.error.empty() && err.empty()) err = o.error;
      ops += o.ops;
      late += o.late;
      chunks += o.chunk_ns.size();
      start = std::min(start, o.start);
      end = std::max(end, o.end);
    }
    if (!err.empty()) throw CodedError(env, rondo::codes::kIo, "bench thread failed: " + err);
    Napi::Float64Array all = Napi::Float64Array::New(env, chunks);
    size_t i = 0;
    for (const ThreadOut& o : outs_)
      for (double d : o.chunk_ns) all[i++] = d;
    Napi::Object r = Napi::Object::New(env);
    r.Set("ops", static_cast<double>(ops));
    r.Set("lateWrites", static_cast<double>(late));
    r.Set("elapsedNs", outs_.empty() ? 0.0 : std::chrono::duration<double, std::nano>(end - start).count());
    r.Set("threads", threads_n_);
    r.Set("chunkNs", all);
    return r;
  }

 private:
  // A reusable spin barrier (yielding: there may be more threads than cores).
  void Barrier(uint32_t threads) {
    const uint32_t gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == gen && !failed_.load(std::memory_order_acquire))
      std::this_thread::yield();
  }

  void JoinAll() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  void Unmap() {
    map_.reset();
    if (!file_.empty()) ::unlink(file_.c_str());
    file_.clear();
  }

  std::vector<std::thread> threads_;
  std::vector<ThreadOut> outs_;
  uint32_t threads_n_ = 0;
  uint64_t total_ = 0;
  alignas(64) std::atomic<uint64_t> progress_{0};
  alignas(64) std::atomic<uint32_t> arrived_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> finished_{0};
  std::atomic<bool> failed_{false};
  rondo::Mapping map_;
  std::string file_;
};

BenchRun* NewBenchRun(Napi::Env env, Napi::Object* obj) {
  *obj = env.GetInstanceData<DevAddon>()->bench_run.New({});
  return BenchRun::Unwrap(*obj);
}

double NumArg(const Napi::CallbackInfo& info, size_t i, const char* what, double lo, double hi) {
  return IntegerIn(info.Env(), info[i], what, lo, hi);
}

// Checks the common run shape (threads, rounds, chunk) at info[first..first+3].
void ShapeArgs(const Napi::CallbackInfo& info, size_t first, size_t ncols, uint32_t* threads,
               uint64_t* warm, uint64_t* rounds, uint32_t* chunk) {
  *threads = static_cast<uint32_t>(NumArg(info, first, "threads", 1, kMaxThreads));
  *warm = static_cast<uint64_t>(NumArg(info, first + 1, "warm-up rounds", 0, 1e12));
  *rounds = static_cast<uint64_t>(NumArg(info, first + 2, "rounds", 1, 1e12));
  *chunk = static_cast<uint32_t>(NumArg(info, first + 3, "chunk ops", 1, 1 << 24));
  if (*threads > ncols) throw ArgRangeError(info.Env(), "more threads than columns");
}

// startNative(file, columns: Uint32Array, ts0Ms, stepMs, threads, warmRounds, rounds, chunkOps)
// `file`: the slab file of a store open for writing in this process (Store.nativeTarget).
// Round r (warm-up rounds first) records at ts0Ms + r * stepMs.
Napi::Value StartNative(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<rondo::Slab> slab = AttachSlab(env, info[0], "startNative");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw ArgTypeError(env, "columns must be a Uint32Array");
  Napi::Uint32Array ca = info[1].As<Napi::Uint32Array>();
  std::vector<uint32_t> cols(ca.Data(), ca.Data() + ca.ElementLength());
  if (cols.empty()) throw ArgRangeError(env, "no columns");
  for (uint32_t c : cols)
    if (c >= slab->params().max_series) throw ArgRangeError(env, "column out of range");
  const uint64_t ts0 = static_cast<uint64_t>(NumArg(info, 2, "ts0Ms", 1, 9007199254740991.0));
  const uint64_t step = static_cast<uint64_t>(NumArg(info, 3, "stepMs", 1, 1e12));
  uint32_t threads, chunk;
  uint64_t warm, rounds;
  ShapeArgs(info, 4, cols.size(), &threads, &warm, &rounds, &chunk);
  Napi::Object obj;
  NewBenchRun(env, &obj)->Start(threads, cols, warm, slab->slots(), rounds, chunk,
                               [slab, ts0, step](uint32_t) { return WriterSink(slab, ts0, step); });
  return obj;
}

// startCLoop(file, rowWords, slots, ncols, threads, warmRounds, rounds, chunkOps)
// Creates `file` (4096-byte header, then slots rows of rowWords words), maps it and stores into
// columns [0, ncols); the file is unmapped and removed by join().
Napi::Value StartCLoop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "file must be a string");
  const std::string file = info[0].As<Napi::String>();
  const size_t row_words = static_cast<size_t>(NumArg(info, 1, "rowWords", 3, 1 << 21));
  const uint32_t slots = static_cast<uint32_t>(NumArg(info, 2, "slots", 1, 1u << 28));
  const uint32_t ncols = static_cast<uint32_t>(NumArg(info, 3, "ncols", 1, 1 << 20));
  if (rondo::kRowHeaderWords + ncols > row_words) throw ArgRangeError(env, "ncols does not fit the row");
  uint32_t threads, chunk;
  uint64_t warm, rounds;
  ShapeArgs(info, 4, ncols, &threads, &warm, &rounds, &chunk);
  const size_t size = rondo::kHeaderBytes + row_words * 8 * static_cast<size_t>(slots);
  rondo::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw CodedError(env, rondo::codes::kIo, "open " + file + ": " + std::strerror(errno));
  auto fail = [&](const char* call) {
    const std::string e = std::string(call) + " " + file + ": " + std::strerror(errno);
    fd.reset();
    ::unlink(file.c_str());
    throw CodedError(env, rondo::codes::kIo, e);
  };
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) fail("ftruncate");
  rondo::Mapping m = rondo::Mapping::Map(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
  if (!m) fail("mmap");
  fd.reset();  // the mapping keeps the file
  std::vector<uint32_t> cols(ncols);
  for (uint32_t c = 0; c < ncols; c++) cols[c] = c;
  double* data = reinterpret_cast<double*>(m.bytes() + rondo::kHeaderBytes);
  Napi::Object obj;
  BenchRun* run = NewBenchRun(env, &obj);
  run->Own(std::move(m), file);
  run->Start(threads, cols, warm, slots, rounds, chunk,
             [data, row_words, slots](uint32_t) { return RawSink(data, row_words, slots); });
  return obj;
}

// eventAppends(path, threads, perThread, payloadBytes) -> { ns, appends }: `threads` native
// threads each append `perThread` events of `payloadBytes` bytes (topic 1, type binary, the clock
// read per event) to the event ring at `path` (mapped again, kAttach: the store has it open for
// writing), all at once; ns is the wall time from their start to the last one's end. Blocks the
// calling thread until they are done.
Napi::Value EventAppends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "eventAppends(path, threads, perThread, payloadBytes): path must be a string");
  const std::string path = info[0].As<Napi::String>();
  const uint32_t threads = static_cast<uint32_t>(NumArg(info, 1, "threads", 1, 64));
  const uint64_t per = static_cast<uint64_t>(NumArg(info, 2, "perThread", 1, 1e9));
  const uint32_t bytes = static_cast<uint32_t>(NumArg(info, 3, "payloadBytes", 0, 65536));
  std::shared_ptr<rondo::EventRing> ring = WithSlabErrors(env, [&] { return rondo::EventRing::Open(path, rondo::OpenMode::kAttach); });
  std::vector<uint8_t> payload(bytes, 0x5A);
  std::vector<std::thread> ts;
  std::atomic<bool> go{false};
  std::atomic<bool> failed{false};
  for (uint32_t t = 0; t < threads; t++)
    ts.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) {
      }
      try {
        for (uint64_t i = 0; i < per; i++) {
          struct timespec now;
          ::clock_gettime(CLOCK_REALTIME, &now);
          ring->Append(static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec, 1 + t % 1, 0, 0, payload.data(), bytes);
        }
      } catch (...) {
        failed.store(true);
      }
    });
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : ts) th.join();
  const auto t1 = std::chrono::steady_clock::now();
  if (failed.load()) throw CodedError(env, rondo::codes::kIo, "an append of the event bench failed");
  Napi::Object o = Napi::Object::New(env);
  o.Set("ns", static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  o.Set("appends", static_cast<double>(per * threads));
  return o;
}

// eventAppendsStart(path, threads, perThread, topic) -> id: `threads` native threads begin
// appending, each `perThread` events to topic `topic` of the event ring at `path` (kAttach), and
// the call returns at once, so that JavaScript appends to the same ring meanwhile (the
// interoperation test). Event i of thread t: time i, type binary, 24 bytes: u32 t, u32 0xE7E7E7E7,
// u64 i, u64 ~i. eventAppendsJoin(id) waits for them -> { appends, failed }.
struct EventAppendJob {
  std::shared_ptr<rondo::EventRing> ring;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> appends{0};
  std::atomic<bool> failed{false};
};
std::mutex event_jobs_mu;
std::vector<std::unique_ptr<EventAppendJob>> event_jobs;

Napi::Value EventAppendsStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "eventAppendsStart(path, threads, perThread, topic): path must be a string");
  const std::string path = info[0].As<Napi::String>();
  const uint32_t threads = static_cast<uint32_t>(NumArg(info, 1, "threads", 1, 64));
  const uint64_t per = static_cast<uint64_t>(NumArg(info, 2, "perThread", 1, 1e9));
  const uint32_t topic = static_cast<uint32_t>(NumArg(info, 3, "topic", 1, 1e9));
  auto job = std::make_unique<EventAppendJob>();
  job->ring = WithSlabErrors(env, [&] { return rondo::EventRing::Open(path, rondo::OpenMode::kAttach); });
  EventAppendJob* j = job.get();
  for (uint32_t t = 0; t < threads; t++)
    j->threads.emplace_back([j, t, per, topic] {
      try {
        for (uint64_t i = 0; i < per; i++) {
          uint8_t p[24];
          const uint32_t mark = 0xE7E7E7E7u;
          const uint64_t inv = ~i;
          std::memcpy(p, &t, 4);
          std::memcpy(p + 4, &mark, 4);
          std::memcpy(p + 8, &i, 8);
          std::memcpy(p + 16, &inv, 8);
          j->ring->Append(static_cast<int64_t>(i), topic, 0, 0, p, sizeof p);
          j->appends.fetch_add(1, std::memory_order_relaxed);
        }
      } catch (...) {
        j->failed.store(true);
      }
    });
  std::lock_guard<std::mutex> g(event_jobs_mu);
  event_jobs.push_back(std::move(job));
  return Napi::Number::New(env, static_cast<double>(event_jobs.size() - 1));
}

Napi::Value EventAppendsJoin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t id = static_cast<size_t>(NumArg(info, 0, "id", 0, 1e9));
  std::unique_ptr<EventAppendJob> job;
  {
    std::lock_guard<std::mutex> g(event_jobs_mu);
    if (id >= event_jobs.size() || !event_jobs[id]) throw ArgTypeError(env, "eventAppendsJoin(id): no such job");
    job = std::move(event_jobs[id]);
  }
  for (auto& th : job->threads) th.join();
  Napi::Object o = Napi::Object::New(env);
  o.Set("appends", static_cast<double>(job->appends.load()));
  o.Set("failed", job->failed.load());
  return o;
}

}  // namespace

Napi::Function InitBench(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = BenchRun::DefineClass(env, "BenchRun",
                                             {
                                                 BenchRun::InstanceMethod("progress", &BenchRun::Progress),
                                                 BenchRun::InstanceMethod("total", &BenchRun::Total),
                                                 BenchRun::InstanceMethod("done", &BenchRun::Done),
                                                 BenchRun::InstanceMethod("join", &BenchRun::Join),
                                             });
  Napi::Object bench = Napi::Object::New(env);
  bench.Set("startNative", Napi::Function::New(env, StartNative));
  bench.Set("startCLoop", Napi::Function::New(env, StartCLoop));
  bench.Set("eventAppends", Napi::Function::New(env, EventAppends));
  bench.Set("eventAppendsStart", Napi::Function::New(env, EventAppendsStart));
  bench.Set("eventAppendsJoin", Napi::Function::New(env, EventAppendsJoin));
  exports.Set("bench", bench);
  return cls;
}

}  // namespace rondo_addon
