// Bench-only (the dev addon, native/dev_addon.h; Linux x64 builds): the native capture's cost on a
// vCPU's exit path (native/kvm/capture.h), measured on the capture's own code with a real store's
// slab file and synthetic counters, without KVM: what bench/capture.js reports. Exported as
// `captureBench.run({ file, columns, intervalMs, mode, iterations, vcpus?, offset? })` -> { ns, ops }.
// `offset`: boundary and sampler start that many intervals after the current one (a caller that
// runs them again and again moves it on, so that each call is an interval not recorded before).
//
// Modes (each runs `iterations` times on the calling thread and returns the elapsed ns):
//   clock     the exit path's own clock read (NowNs), nothing else: the baseline
//   check     the clock read and the capture's compare against the cached boundary, as vcpu.cc's
//             loop does it (a real boundary passes about once a second)
//   boundary  VcpuCapture::AtBoundary at a new interval each time: reads both clocks, claims the
//             interval, records the vCPU's series (a new row of the slab claimed as a rule)
//   taken     AtBoundary at an interval already recorded (by the sampler, say): both clocks read,
//             the claim lost
//   sampler   one sampler pass (Capture::Sample) over `vcpus` vCPUs that did not exit, per vCPU
#include <napi.h>

#include <time.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/error_codes.h"
#include "common/napi_util.h"
#include "common/slab_errors.h"
#include "dev_addon.h"
#include "kvm/capture.h"

namespace rondo_addon {
namespace {

namespace k = rondo_kvm;

uint64_t Mono() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Counters as a busy vCPU's look: every reason seen, so every series of the vCPU is recorded.
void Fill(k::ExitCounters& c) {
  for (size_t r = 0; r < k::kExitKinds; r++)
    for (int i = 0; i < 3; i++) c.Count(static_cast<k::ExitKind>(r), 1000 + 100 * r + i);
  k::Bump(c.run_ns, 123456789);
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw ArgTypeError(env, "captureBench.run(options): options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string mode = o.Get("mode").IsString() ? o.Get("mode").As<Napi::String>().Utf8Value() : "";
  const uint64_t n = static_cast<uint64_t>(IntegerIn(env, o.Get("iterations"), "iterations", 1, 1e10));
  const uint64_t interval_ms = static_cast<uint64_t>(IntegerIn(env, o.Get("intervalMs"), "intervalMs", 1, 86'400'000));
  const uint32_t vcpus = o.Get("vcpus").IsUndefined() ? 1 : static_cast<uint32_t>(IntegerIn(env, o.Get("vcpus"), "vcpus", 1, 64));
  const uint64_t offset = o.Get("offset").IsUndefined() ? 0 : static_cast<uint64_t>(IntegerIn(env, o.Get("offset"), "offset", 0, 1e12));
  if (!o.Get("columns").IsTypedArray() || o.Get("columns").As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw ArgTypeError(env, "columns must be an Int32Array");
  Napi::Int32Array cols = o.Get("columns").As<Napi::Int32Array>();
  if (cols.ElementLength() != k::kVcpuCaptureSeries * vcpus)
    throw ArgRangeError(env, "columns: one per series of each vCPU (" + std::to_string(k::kVcpuCaptureSeries) + " each)");

  volatile uint64_t sink = 0;
  if (mode == "clock") {
    const uint64_t t0 = Mono();
    for (uint64_t i = 0; i < n; i++) sink = sink + Mono();
    const uint64_t t1 = Mono();
    Napi::Object r = Napi::Object::New(env);
    r.Set("ns", static_cast<double>(t1 - t0));
    r.Set("ops", static_cast<double>(n));
    return r;
  }

  k::CapturePlan plan;
  if (!o.Get("file").IsString()) throw ArgTypeError(env, "file must be a slab file path (Store.nativeTarget(h).file)");
  plan.files.push_back(o.Get("file").As<Napi::String>().Utf8Value());
  plan.interval_ms = interval_ms;
  plan.vcpus.resize(vcpus);
  plan.vcpu_stats.resize(vcpus);
  for (uint32_t v = 0; v < vcpus; v++)
    for (size_t i = 0; i < k::kVcpuCaptureSeries; i++) {
      const int32_t c = cols[v * k::kVcpuCaptureSeries + i];
      if (c >= 0) plan.vcpus[v][i] = k::CaptureTarget{0, static_cast<uint32_t>(c)};
    }
  std::vector<std::unique_ptr<k::ExitCounters>> counters;
  std::vector<const k::ExitCounters*> ptrs;
  for (uint32_t v = 0; v < vcpus; v++) {
    counters.push_back(std::make_unique<k::ExitCounters>());
    Fill(*counters.back());
    ptrs.push_back(counters.back().get());
  }
  std::unique_ptr<k::Capture> cap;
  cap = WithSlabErrors(env, [&] { return std::make_unique<k::Capture>(plan, ptrs, 0, 0, nullptr); });
  const uint64_t iv_ns = interval_ms * 1'000'000;
  const k::Clocks start = k::ReadClocks();
  const uint64_t k0 = start.wall_ns / iv_ns;
  uint64_t next = cap->Begin(k0 * interval_ms);
  k::VcpuCapture& vc = cap->vcpu(0);

  uint64_t t0 = 0, t1 = 0;
  if (mode == "check") {
    t0 = Mono();
    for (uint64_t i = 0; i < n; i++) {
      const uint64_t now = Mono();
      if (now >= next) [[unlikely]] next = vc.AtBoundary(k::ReadClocks());
      sink = sink + now;
    }
    t1 = Mono();
  } else if (mode == "boundary") {
    t0 = Mono();
    for (uint64_t i = offset + 1; i <= offset + n; i++) {
      const k::Clocks real = k::ReadClocks();  // what the exit path reads; the wall time is moved on
      sink = sink + vc.AtBoundary(k::Clocks{real.mono_ns, (k0 + i) * iv_ns + 1});
    }
    t1 = Mono();
  } else if (mode == "taken") {
    t0 = Mono();
    for (uint64_t i = 0; i < n; i++) {
      const k::Clocks real = k::ReadClocks();
      sink = sink + vc.AtBoundary(k::Clocks{real.mono_ns, k0 * iv_ns + 1});  // the interval Begin() recorded
    }
    t1 = Mono();
  } else if (mode == "sampler") {
    t0 = Mono();
    for (uint64_t i = offset + 1; i <= offset + n; i++) cap->Sample(k::Clocks{start.mono_ns + i * iv_ns, (k0 + i) * iv_ns + 1});
    t1 = Mono();
  } else {
    throw ArgRangeError(env, "mode must be clock, check, boundary, taken or sampler");
  }
  cap->Close();
  Napi::Object r = Napi::Object::New(env);
  r.Set("ns", static_cast<double>(t1 - t0));
  r.Set("ops", static_cast<double>(mode == "sampler" ? n * vcpus : n));
  return r;
}

}  // namespace

// Called by the dev addon (dev_addon.cc).
void InitCaptureBench(Napi::Env env, Napi::Object exports) {
  Napi::Object b = Napi::Object::New(env);
  b.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("captureBench", b);
}

}  // namespace rondo_addon
