// N-API glue for the KVM layer, exported as `kvm`: argument checks and conversions only; the
// logic is in vm.cc, vcpu.cc and stats.cc.
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "addon.h"
#include "kvm/errors.h"
#include "kvm/vm.h"

namespace rondo_addon {
namespace {

namespace k = rondo_kvm;

// Runs f, turning the KVM layer's exceptions into coded JavaScript errors.
template <typename F>
auto Guard(Napi::Env env, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const k::KvmUnavailable& e) {
    throw CodedError(env, "RONDO_NO_KVM", e.what());
  } catch (const k::KvmError& e) {
    throw CodedError(env, "RONDO_KVM", e.what());
  } catch (const std::invalid_argument& e) {
    throw CodedError(env, "RONDO_ARG", e.what());
  } catch (const std::logic_error& e) {
    throw CodedError(env, "RONDO_STATE", e.what());
  }
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Napi::Value NumberOrNull(Napi::Env env, double v) {
  return v > 0 ? Napi::Number::New(env, v).As<Napi::Value>() : env.Null();
}

Napi::Value ReasonOrNull(Napi::Env env, k::EndReason r) {
  const char* name = k::EndReasonName(r);
  return name != nullptr ? Napi::String::New(env, name).As<Napi::Value>() : env.Null();
}

// An optional non-negative integer option; `fallback` when absent.
uint64_t IntegerOption(Napi::Object o, const char* key, bool required, uint64_t fallback) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (!required) return fallback;
    throw CodedError(env, "RONDO_ARG", std::string(key) + " is required");
  }
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw CodedError(env, "RONDO_ARG", std::string(key) + " must be a whole number, got " +
                                           v.ToString().Utf8Value());
  return static_cast<uint64_t>(d);
}

k::VmConfig ParseConfig(Napi::Env env, Napi::Value arg) {
  if (!arg.IsObject())
    throw CodedError(env, "RONDO_ARG", "new kvm.Vm(options): options must be an object");
  Napi::Object o = arg.As<Napi::Object>();
  k::VmConfig c;
  const uint64_t vcpus = IntegerOption(o, "vcpus", true, 0);
  c.vcpus = vcpus > k::kMaxVcpus ? k::kMaxVcpus + 1 : static_cast<uint32_t>(vcpus);
  c.memory_bytes = IntegerOption(o, "memoryBytes", false, k::kDefaultMemoryBytes);
  c.duration_ms = IntegerOption(o, "durationMs", true, 0);
  const Napi::Value guest = o.Get("guest");
  if (!guest.IsUndefined()) {
    const std::string g = guest.IsString() ? guest.As<Napi::String>().Utf8Value() : "";
    if (g == "micro") c.guest = k::GuestKind::kMicro;
    else if (g == "internal-error") c.guest = k::GuestKind::kInternalError;
    else if (g == "fail-entry") c.guest = k::GuestKind::kFailEntry;
    else throw CodedError(env, "RONDO_ARG", "guest must be 'micro', 'internal-error' or 'fail-entry'");
  }
  const Napi::Value path = o.Get("devicePath");
  if (!path.IsUndefined()) {
    if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty())
      throw CodedError(env, "RONDO_ARG", "devicePath must be a non-empty string");
    c.device_path = path.As<Napi::String>().Utf8Value();
  }
  return c;
}

Napi::Object Descriptor(Napi::Env env, const k::StatDescriptor& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", d.name);
  o.Set("type", d.type());
  o.Set("unit", d.unit());
  o.Set("base", d.base());
  o.Set("exponent", d.exponent);
  o.Set("size", d.size);
  o.Set("bucketSize", d.bucket_size);
  o.Set("offset", d.offset);
  return o;
}

Napi::Object NamedValues(Napi::Env env, const std::vector<k::StatDescriptor>& descs,
                         const std::vector<uint64_t>& values) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < descs.size() && i < values.size(); i++)
    o.Set(descs[i].name, static_cast<double>(values[i]));
  return o;
}

// What wait() keeps until the VM has ended: its promise, and the VM itself.
struct WaitContext {
  Napi::Promise::Deferred deferred;
  std::shared_ptr<k::Vm> vm;
};

void ResolveWait(Napi::Env env, Napi::Function, WaitContext* ctx, void*) {
  if (env == nullptr) return;  // the environment is going away
  ctx->vm->Release();
  ctx->deferred.Resolve(env.Undefined());
}

using WaitFunction = Napi::TypedThreadSafeFunction<WaitContext, void, ResolveWait>;

class VmWrap : public Napi::ObjectWrap<VmWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Vm",
                       {
                           InstanceMethod("start", &VmWrap::Start),
                           InstanceMethod("stop", &VmWrap::Stop),
                           InstanceMethod("done", &VmWrap::Done),
                           InstanceMethod("wait", &VmWrap::Wait),
                           InstanceMethod("endReason", &VmWrap::EndReason),
                           InstanceMethod("endDetails", &VmWrap::EndDetails),
                           InstanceMethod("console", &VmWrap::Console),
                           InstanceMethod("phase", &VmWrap::Phase),
                           InstanceMethod("counters", &VmWrap::Counters),
                           InstanceMethod("guestReport", &VmWrap::GuestReport),
                           InstanceMethod("statsDescriptors", &VmWrap::StatsDescriptors),
                           InstanceMethod("stats", &VmWrap::Stats),
                           InstanceMethod("startedAtMs", &VmWrap::StartedAtMs),
                           InstanceMethod("endedAtMs", &VmWrap::EndedAtMs),
                       });
  }

  explicit VmWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmWrap>(info) {
    const k::VmConfig config = ParseConfig(info.Env(), info[0]);
    vm_ = Guard(info.Env(), [&] { return std::make_shared<k::Vm>(config); });
  }

  // A VM that JavaScript dropped is stopped and its fds closed.
  ~VmWrap() override {
    if (vm_) vm_->Stop();
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Guard(info.Env(), [&] { vm_->Start(); });
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    vm_->Stop();
    return info.Env().Undefined();
  }

  // True once every vCPU has ended; the VM's threads and fds are released then.
  Napi::Value Done(const Napi::CallbackInfo& info) {
    const bool ended = vm_->Ended();
    if (ended) vm_->Release();
    return Napi::Boolean::New(info.Env(), ended);
  }

  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!vm_->started() && !vm_->Ended())
      throw CodedError(env, "RONDO_STATE", "wait() before start(): start the VM first");
    auto* ctx = new WaitContext{Napi::Promise::Deferred::New(env), vm_};
    Napi::Promise promise = ctx->deferred.Promise();
    WaitFunction fn = WaitFunction::New(env, "rondo.kvm.wait", 0, 1, ctx,
                                        [](Napi::Env, void*, WaitContext* c) { delete c; });
    vm_->OnEnded([fn]() mutable {
      fn.NonBlockingCall();
      fn.Release();
    });
    return promise;
  }

  Napi::Value EndReason(const Napi::CallbackInfo& info) {
    k::VcpuEnd details;
    int vcpu;
    return ReasonOrNull(info.Env(), vm_->end_reason(&details, &vcpu));
  }

  Napi::Value EndDetails(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    k::VcpuEnd d;
    int vcpu;
    const k::EndReason r = vm_->end_reason(&d, &vcpu);
    if (r == k::EndReason::kNone) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("reason", k::EndReasonName(r));
    o.Set("vcpu", vcpu >= 0 ? Napi::Number::New(env, vcpu).As<Napi::Value>() : env.Null());
    o.Set("message", k::DescribeEnd(d, vcpu));
    if (r == k::EndReason::kInternalError) {
      o.Set("suberror", d.suberror);
      Napi::Array data = Napi::Array::New(env, d.data.size());
      for (size_t i = 0; i < d.data.size(); i++) data.Set(static_cast<uint32_t>(i), Hex(d.data[i]));
      o.Set("data", data);
      const std::string bytes = k::FailedInstructionBytes(d);
      if (!bytes.empty()) o.Set("instructionBytes", bytes);
    } else if (r == k::EndReason::kFailEntry) {
      o.Set("hardwareEntryFailureReason", Hex(d.entry_failure_reason));
      o.Set("cpu", d.entry_failure_cpu);
    } else if (r == k::EndReason::kRunError) {
      o.Set("errno", d.run_errno);
    }
    return o;
  }

  Napi::Value Console(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), vm_->DrainConsole());
  }

  Napi::Value Phase(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), k::PhaseName(vm_->CurrentPhase()));
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, vm_->vcpu_count());
    for (uint32_t i = 0; i < vm_->vcpu_count(); i++) {
      const k::ExitCounters& c = vm_->counters(i);
      Napi::Object exits = Napi::Object::New(env);
      Napi::Object latency = Napi::Object::New(env);
      for (size_t r = 0; r < k::kExitKinds; r++) {
        exits.Set(k::kExitNames[r], static_cast<double>(c.exits[r].load(std::memory_order_relaxed)));
        const k::Latency& l = c.latency[r];
        const uint64_t count = l.count.load(std::memory_order_relaxed);
        Napi::Object lo = Napi::Object::New(env);
        lo.Set("min", count == 0 ? 0.0 : static_cast<double>(l.min.load(std::memory_order_relaxed)));
        lo.Set("max", static_cast<double>(l.max.load(std::memory_order_relaxed)));
        lo.Set("sum", static_cast<double>(l.sum.load(std::memory_order_relaxed)));
        lo.Set("count", static_cast<double>(count));
        latency.Set(k::kExitNames[r], lo);
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("vcpu", i);
      o.Set("exits", exits);
      o.Set("latencyNs", latency);
      o.Set("runNs", static_cast<double>(c.run_ns.load(std::memory_order_relaxed)));
      o.Set("runs", static_cast<double>(c.runs.load(std::memory_order_relaxed)));
      o.Set("interrupted", static_cast<double>(c.interrupted.load(std::memory_order_relaxed)));
      o.Set("unclaimedIo", static_cast<double>(c.unclaimed_io.load(std::memory_order_relaxed)));
      o.Set("unclaimedMmio", static_cast<double>(c.unclaimed_mmio.load(std::memory_order_relaxed)));
      o.Set("lastOtherReason", static_cast<double>(c.last_other_reason.load(std::memory_order_relaxed)));
      o.Set("end", ReasonOrNull(env, vm_->vcpu_end(i)));
      out.Set(i, o);
    }
    return out;
  }

  Napi::Value GuestReport(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<k::GuestReport> reports = vm_->GuestReports();
    Napi::Array out = Napi::Array::New(env, reports.size());
    for (size_t i = 0; i < reports.size(); i++) {
      const k::GuestReport& r = reports[i];
      auto n = [&](int offset) { return static_cast<double>(r.at(offset)); };
      Napi::Object o = Napi::Object::New(env);
      o.Set("vcpu", static_cast<double>(i));
      o.Set("started", r.at(REPORT_MAGIC) == REPORT_MAGIC_VALUE);
      o.Set("ioIn", n(REPORT_IO_IN));
      o.Set("ioOut", n(REPORT_IO_OUT));
      o.Set("mmioRead", n(REPORT_MMIO_READ));
      o.Set("mmioWrite", n(REPORT_MMIO_WRITE));
      o.Set("hlt", n(REPORT_HLT));
      o.Set("loops", n(REPORT_LOOPS));
      o.Set("cpuUnits", n(REPORT_CPU_UNITS));
      o.Set("pioUnits", n(REPORT_PIO_UNITS));
      o.Set("mmioUnits", n(REPORT_MMIO_UNITS));
      o.Set("phase", k::PhaseName(static_cast<uint8_t>(r.at(REPORT_PHASE))));
      o.Set("echoErrors", n(REPORT_ECHO_ERRORS));
      o.Set("mmioErrors", n(REPORT_MMIO_ERRORS));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value StatsDescriptors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("available", vm_->stats_available());
    if (!vm_->stats_available()) o.Set("reason", vm_->stats_unavailable_reason());
    for (int which = 0; which < 2; which++) {
      const auto& descs = which == 0 ? vm_->vm_stat_descriptors() : vm_->vcpu_stat_descriptors();
      Napi::Array a = Napi::Array::New(env, descs.size());
      for (size_t i = 0; i < descs.size(); i++) a.Set(static_cast<uint32_t>(i), Descriptor(env, descs[i]));
      o.Set(which == 0 ? "vm" : "vcpu", a);
    }
    return o;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      Napi::Object o = Napi::Object::New(env);
      o.Set("available", vm_->stats_available());
      o.Set("vm", NamedValues(env, vm_->vm_stat_descriptors(), vm_->VmStats()));
      Napi::Array vcpus = Napi::Array::New(env, vm_->vcpu_count());
      if (vm_->stats_available())
        for (uint32_t i = 0; i < vm_->vcpu_count(); i++)
          vcpus.Set(i, NamedValues(env, vm_->vcpu_stat_descriptors(), vm_->VcpuStats(i)));
      else
        vcpus = Napi::Array::New(env, 0);
      o.Set("vcpus", vcpus);
      return o;
    });
  }

  Napi::Value StartedAtMs(const Napi::CallbackInfo& info) {
    return NumberOrNull(info.Env(), vm_->started_at_ms());
  }

  Napi::Value EndedAtMs(const Napi::CallbackInfo& info) {
    return NumberOrNull(info.Env(), vm_->ended_at_ms());
  }

  std::shared_ptr<k::Vm> vm_;
};

// probe(devicePath?) -> { ok, apiVersion?, binaryStats?, reason? }
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = k::kDefaultDevice;
  if (!info[0].IsUndefined()) {
    if (!info[0].IsString()) throw CodedError(env, "RONDO_ARG", "devicePath must be a string");
    path = info[0].As<Napi::String>().Utf8Value();
  }
  const k::ProbeResult p = k::Probe(path);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", p.ok);
  if (p.ok) {
    o.Set("apiVersion", p.api_version);
    o.Set("binaryStats", p.binary_stats);
  } else {
    o.Set("reason", p.reason);
  }
  return o;
}

}  // namespace

void InitKvm(Napi::Env env, Napi::Object exports) {
  Napi::Object kvm = Napi::Object::New(env);
  kvm.Set("probe", Napi::Function::New(env, Probe));
  kvm.Set("Vm", VmWrap::Define(env));
  exports.Set("kvm", kvm);
}

}  // namespace rondo_addon
