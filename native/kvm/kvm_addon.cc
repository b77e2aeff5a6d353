// The KVM addon (build/<variant>/rondo_kvm.node, binding.gyp's target rondo_kvm, Linux x64 only):
// the N-API glue of the KVM layer, argument checks and conversions only; the logic is in vm.cc,
// vcpu.cc and stats.cc. Loaded on first use by src/kvm/native.ts; it shares nothing with the
// store's addon. Per-environment state is addon instance data (worker threads may load it).
#include <napi.h>

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/error_codes.h"
#include "common/napi_util.h"
#include "common/raii.h"
#include "common/slab_errors.h"
#include "kvm/boot_layout.h"
#include "kvm/bzimage.h"
#include "kvm/elf_loader.h"
#include "kvm/errors.h"
#include "kvm/linux_boot.h"
#include "kvm/vm.h"

namespace rondo_addon {
namespace {

namespace k = rondo_kvm;
namespace codes = rondo::codes;

// Runs f, turning the KVM layer's exceptions into coded JavaScript errors.
template <typename F>
auto Guard(Napi::Env env, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const k::BootError& e) {
    throw CodedError(env, codes::kBoot, e.what());
  } catch (const k::KvmUnavailable& e) {
    throw CodedError(env, codes::kNoKvm, e.what());
  } catch (const k::KvmError& e) {
    throw CodedError(env, codes::kKvm, e.what());
  } catch (const std::invalid_argument& e) {
    throw CodedError(env, codes::kArg, e.what());
  } catch (const std::logic_error& e) {
    throw CodedError(env, codes::kState, e.what());
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
    throw CodedError(env, codes::kArg, std::string(key) + " is required");
  }
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw CodedError(env, codes::kArg, std::string(key) + " must be a whole number, got " +
                                           v.ToString().Utf8Value());
  return static_cast<uint64_t>(d);
}

// An optional string option; "" when absent.
std::string StringOption(Napi::Object o, const char* key, bool non_empty) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return "";
  if (!v.IsString() || (non_empty && v.As<Napi::String>().Utf8Value().empty()))
    throw CodedError(o.Env(), codes::kArg, std::string(key) + " must be a " + (non_empty ? "non-empty " : "") + "string");
  return v.As<Napi::String>().Utf8Value();
}

// kernel, initrd and cmdline of a Linux guest.
k::LinuxBootConfig ParseLinux(Napi::Object o) {
  k::LinuxBootConfig c;
  c.kernel_path = StringOption(o, "kernel", true);
  c.initrd_path = StringOption(o, "initrd", true);
  c.cmdline = StringOption(o, "cmdline", false);
  if (c.kernel_path.empty()) throw CodedError(o.Env(), codes::kArg, "kernel (the path of a vmlinux or bzImage) is required");
  return c;
}

k::VmConfig ParseConfig(Napi::Env env, Napi::Value arg) {
  if (!arg.IsObject())
    throw CodedError(env, codes::kArg, "new kvm.Vm(options): options must be an object");
  Napi::Object o = arg.As<Napi::Object>();
  k::VmConfig c;
  const Napi::Value guest = o.Get("guest");
  if (!guest.IsUndefined()) {
    const std::string g = guest.IsString() ? guest.As<Napi::String>().Utf8Value() : "";
    if (g == "micro") c.guest = k::GuestKind::kMicro;
    else if (g == "internal-error") c.guest = k::GuestKind::kInternalError;
    else if (g == "fail-entry") c.guest = k::GuestKind::kFailEntry;
    else if (g == "linux") c.guest = k::GuestKind::kLinux;
    else throw CodedError(env, codes::kArg, "guest must be 'micro', 'internal-error', 'fail-entry' or 'linux'");
  } else if (!o.Get("kernel").IsUndefined()) {
    c.guest = k::GuestKind::kLinux;
  }
  const bool linux_guest = c.guest == k::GuestKind::kLinux;
  if (!linux_guest && !o.Get("kernel").IsUndefined())
    throw CodedError(env, codes::kArg, "kernel is for guest 'linux', not a built-in guest");
  const uint64_t vcpus = IntegerOption(o, "vcpus", !linux_guest, 1);
  c.vcpus = vcpus > k::kMaxVcpus ? k::kMaxVcpus + 1 : static_cast<uint32_t>(vcpus);
  c.memory_bytes = IntegerOption(o, "memoryBytes", false, linux_guest ? k::kDefaultLinuxMemoryBytes : k::kDefaultMemoryBytes);
  c.duration_ms = IntegerOption(o, "durationMs", !linux_guest, 0);
  if (linux_guest) c.linux_boot = ParseLinux(o);
  const Napi::Value hide = o.Get("cpuidHide");
  if (!hide.IsUndefined()) {
    if (!hide.IsArray()) throw CodedError(env, codes::kArg, "cpuidHide must be an array of {function, index, register, bit}");
    Napi::Array a = hide.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!a.Get(i).IsObject()) throw CodedError(env, codes::kArg, "cpuidHide entries must be objects");
      Napi::Object h = a.Get(i).As<Napi::Object>();
      const uint64_t function = IntegerOption(h, "function", true, 0), index = IntegerOption(h, "index", false, 0);
      const uint64_t reg = IntegerOption(h, "register", true, 0), bit = IntegerOption(h, "bit", true, 0);
      if (function > 0xffffffff || index > 0xffffffff || reg > 3 || bit > 31)
        throw CodedError(env, codes::kArg, "cpuidHide: function and index are 32-bit, register 0 (eax) to 3 (edx), bit 0 to 31");
      k::CpuidBit b;
      b.function = static_cast<uint32_t>(function);
      b.index = static_cast<uint32_t>(index);
      b.reg = static_cast<uint8_t>(reg);
      b.bit = static_cast<uint8_t>(bit);
      c.cpuid_hide.push_back(b);
    }
  }
  const Napi::Value path = o.Get("devicePath");
  if (!path.IsUndefined()) {
    if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty())
      throw CodedError(env, codes::kArg, "devicePath must be a non-empty string");
    c.device_path = path.As<Napi::String>().Utf8Value();
  }
  return c;
}

// How a Linux kernel was loaded, for JavaScript.
Napi::Object BootObject(Napi::Env env, const k::LinuxBoot& b) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", k::KernelFormatName(b.format));
  o.Set("entryMode", k::EntryModeName(b.mode));
  o.Set("entry", static_cast<double>(b.entry));
  o.Set("bootInfo", static_cast<double>(b.boot_info));
  o.Set("kernelStart", static_cast<double>(b.kernel_start));
  o.Set("kernelEnd", static_cast<double>(b.kernel_end));
  o.Set("initrdAddr", static_cast<double>(b.initrd_addr));
  o.Set("initrdBytes", static_cast<double>(b.initrd_bytes));
  o.Set("cmdlineAddr", static_cast<double>(b.cmdline_addr));
  if (b.boot_protocol != 0)
    o.Set("bootProtocol", std::to_string(b.boot_protocol >> 8) + "." + std::to_string(b.boot_protocol & 0xff));
  Napi::Array e820 = Napi::Array::New(env, b.e820.size());
  for (size_t i = 0; i < b.e820.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("addr", static_cast<double>(b.e820[i].addr));
    e.Set("size", static_cast<double>(b.e820[i].size));
    e.Set("type", b.e820[i].type);
    e820.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("e820", e820);
  return o;
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
                           InstanceMethod("statsWords", &VmWrap::StatsWords),
                           InstanceMethod("startedAtMs", &VmWrap::StartedAtMs),
                           InstanceMethod("endedAtMs", &VmWrap::EndedAtMs),
                           InstanceMethod("boot", &VmWrap::Boot),
                           InstanceMethod("capture", &VmWrap::Capture),
                           InstanceMethod("capturing", &VmWrap::Capturing),
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
      throw CodedError(env, codes::kState, "wait() before start(): start the VM first");
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

  // statsWords() -> { vm: Float64Array, vcpus: Float64Array[] }: every word of the statistics
  // (StatsFile::ReadWords), what the capture plan's slots and kvmStatSeries() index.
  Napi::Value StatsWords(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      auto array = [&](const std::vector<uint64_t>& w) {
        Napi::Float64Array a = Napi::Float64Array::New(env, w.size());
        for (size_t i = 0; i < w.size(); i++) a[i] = static_cast<double>(w[i]);
        return a;
      };
      Napi::Object o = Napi::Object::New(env);
      o.Set("vm", array(vm_->stats_available() ? vm_->VmStatWords() : std::vector<uint64_t>{}));
      const uint32_t n = vm_->stats_available() ? vm_->vcpu_count() : 0;
      Napi::Array vcpus = Napi::Array::New(env, n);
      for (uint32_t i = 0; i < n; i++) vcpus.Set(i, array(vm_->VcpuStatWords(i)));
      o.Set("vcpus", vcpus);
      return o;
    });
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

  Napi::Value Boot(const Napi::CallbackInfo& info) {
    const k::LinuxBoot* b = vm_->linux_boot();
    return b == nullptr ? info.Env().Null() : BootObject(info.Env(), *b).As<Napi::Value>();
  }

  // capture({ files: string[], intervalMs, targets: Int32Array, vmSlots: Float64Array,
  // vcpuSlots: Float64Array }): the slots are [lo, hi, scale] triples (capture.h, StatSlot), the
  // series of the VM's statistics and those of each vCPU's; targets holds [slab, column] pairs
  // (slab -1: not recorded) in the order of capture.h: per vCPU its kVcpuCaptureSeries, then one
  // per VM slot, then per vCPU one per vCPU slot.
  Napi::Value Capture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw CodedError(env, codes::kArg, "capture(plan): plan must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    k::CapturePlan plan;
    const Napi::Value files = o.Get("files");
    if (!files.IsArray()) throw CodedError(env, codes::kArg, "capture: files must be an array of slab file paths");
    Napi::Array fa = files.As<Napi::Array>();
    for (uint32_t i = 0; i < fa.Length(); i++) {
      if (!fa.Get(i).IsString()) throw CodedError(env, codes::kArg, "capture: files must be strings");
      plan.files.push_back(fa.Get(i).As<Napi::String>().Utf8Value());
    }
    plan.interval_ms = IntegerOption(o, "intervalMs", true, 0);
    const Napi::Value tv = o.Get("targets");
    if (!tv.IsTypedArray() || tv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw CodedError(env, codes::kArg, "capture: targets must be an Int32Array of [slab, column] pairs");
    Napi::Int32Array ta = tv.As<Napi::Int32Array>();
    const size_t n = vm_->vcpu_count();
    auto slots = [&](const char* key) {
      std::vector<k::StatSlot> out;
      const Napi::Value v = o.Get(key);
      if (v.IsUndefined()) return out;
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
          v.As<Napi::TypedArray>().ElementLength() % 3 != 0)
        throw CodedError(env, codes::kArg, std::string("capture: ") + key + " must be a Float64Array of [lo, hi, scale] triples");
      Napi::Float64Array a = v.As<Napi::Float64Array>();
      for (size_t i = 0; i + 2 < a.ElementLength(); i += 3) {
        const double lo = a[i], hi = a[i + 1];
        if (!(lo >= 0 && hi <= 4294967295.0 && lo == std::floor(lo) && hi == std::floor(hi)))
          throw CodedError(env, codes::kArg, std::string("capture: ") + key + " has a slot that is not a range of words");
        k::StatSlot s;
        s.lo = static_cast<uint32_t>(lo);
        s.hi = static_cast<uint32_t>(hi);
        s.scale = a[i + 2];
        out.push_back(s);
      }
      return out;
    };
    const std::vector<k::StatSlot> vm_slots = vm_->stats_available() ? slots("vmSlots") : std::vector<k::StatSlot>{};
    const std::vector<k::StatSlot> vcpu_slots = vm_->stats_available() ? slots("vcpuSlots") : std::vector<k::StatSlot>{};
    const size_t nvm = vm_slots.size();
    const size_t nvcpu = vcpu_slots.size();
    const size_t want = n * k::kVcpuCaptureSeries + nvm + n * nvcpu;
    if (ta.ElementLength() != 2 * want)
      throw CodedError(env, codes::kArg, "capture: targets has " + std::to_string(ta.ElementLength() / 2) +
                                             " pairs, this VM has " + std::to_string(want) + " series");
    size_t at = 0;
    auto next = [&]() {
      k::CaptureTarget t;
      const int32_t slab = ta[at], column = ta[at + 1];
      at += 2;
      if (slab >= 0 && column >= 0) {
        t.slab = slab;
        t.column = static_cast<uint32_t>(column);
      }
      return t;
    };
    plan.vcpus.resize(n);
    for (size_t v = 0; v < n; v++)
      for (size_t i = 0; i < k::kVcpuCaptureSeries; i++) plan.vcpus[v][i] = next();
    for (size_t i = 0; i < nvm; i++) {
      k::StatSlot s = vm_slots[i];
      s.target = next();
      plan.vm_stats.push_back(s);
    }
    plan.vcpu_stats.resize(n);
    for (size_t v = 0; v < n; v++)
      for (size_t i = 0; i < nvcpu; i++) {
        k::StatSlot s = vcpu_slots[i];
        s.target = next();
        plan.vcpu_stats[v].push_back(s);
      }
    WithSlabErrors(env, [&] { Guard(env, [&] { vm_->CaptureInto(plan); }); });
    return env.Undefined();
  }

  Napi::Value Capturing(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), vm_->capturing());
  }

  std::shared_ptr<k::Vm> vm_;
};

// samplerState() -> { running, captures, passes }: the process's capture sampler thread.
Napi::Value SamplerState(const Napi::CallbackInfo& info) {
  const k::SamplerInfo s = k::SamplerState();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("running", s.running);
  o.Set("captures", static_cast<double>(s.captures));
  o.Set("passes", static_cast<double>(s.passes));
  return o;
}

// probe(devicePath?) -> { ok, apiVersion?, binaryStats?, reason? }
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = k::kDefaultDevice;
  if (!info[0].IsUndefined()) {
    if (!info[0].IsString()) throw CodedError(env, codes::kArg, "devicePath must be a string");
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

// inspectKernel(path) -> what the loaders see in a kernel file, without a VM.
Napi::Value InspectKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw CodedError(env, codes::kArg, "inspectKernel(path): path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  return Guard(env, [&] {
    const std::vector<uint8_t> bytes = k::ReadBootFile(path, k::kMaxKernelFileBytes, "kernel");
    const std::string name = "kernel " + path;
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", static_cast<double>(bytes.size()));
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "\x7f" "ELF", 4) == 0) {
      const k::ElfKernel e = k::ParseElfKernel(bytes.data(), bytes.size(), name);
      o.Set("format", k::KernelFormatName(k::KernelFormat::kElfPvh));
      o.Set("pvhEntry", static_cast<double>(e.pvh_entry));
      o.Set("loadStart", static_cast<double>(e.lowest));
      o.Set("loadEnd", static_cast<double>(e.highest));
      Napi::Array segs = Napi::Array::New(env, e.segments.size());
      for (size_t i = 0; i < e.segments.size(); i++) {
        Napi::Object s = Napi::Object::New(env);
        s.Set("paddr", static_cast<double>(e.segments[i].paddr));
        s.Set("fileBytes", static_cast<double>(e.segments[i].file_bytes));
        s.Set("memoryBytes", static_cast<double>(e.segments[i].memory_bytes));
        segs.Set(static_cast<uint32_t>(i), s);
      }
      o.Set("segments", segs);
    } else {
      const k::BzImage b = k::ParseBzImage(bytes.data(), bytes.size(), name);
      o.Set("format", k::KernelFormatName(k::KernelFormat::kBzImage));
      o.Set("bootProtocol", std::to_string(b.version >> 8) + "." + std::to_string(b.version & 0xff));
      o.Set("setupBytes", static_cast<double>(b.setup_bytes));
      o.Set("kernelBytes", static_cast<double>(b.kernel_bytes));
      o.Set("prefAddress", static_cast<double>(b.pref_address));
      o.Set("initSize", static_cast<double>(b.init_size));
      o.Set("cmdlineMax", static_cast<double>(b.cmdline_size));
      o.Set("initrdAddrMax", static_cast<double>(b.initrd_addr_max));
      o.Set("payloadOffset", static_cast<double>(b.setup_bytes + b.payload_offset));
      o.Set("payloadBytes", static_cast<double>(b.payload_length));
    }
    return o;
  });
}

// prepareBoot({kernel, initrd?, cmdline?, memoryBytes}) -> LoadLinux into scratch memory, without
// KVM: how it was loaded, the low 1 MiB (boot structures) and the first bytes of the kernel and
// the initrd where they landed. For tests and for checking a kernel before booting it.
Napi::Value PrepareBoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw CodedError(env, codes::kArg, "prepareBoot(options): options must be an object");
  Napi::Object opts = info[0].As<Napi::Object>();
  const k::LinuxBootConfig config = ParseLinux(opts);
  const uint64_t bytes = IntegerOption(opts, "memoryBytes", false, k::kDefaultLinuxMemoryBytes);
  if (bytes < (1 << 20) || bytes > k::kLinuxMaxMemoryBytes || bytes % 4096 != 0)
    throw CodedError(env, codes::kArg, "memoryBytes must be a multiple of 4096 up to 3 GiB");
  const rondo::Mapping scratch =
      rondo::Mapping::Map(bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
  if (!scratch) throw CodedError(env, codes::kKvm, "mapping scratch memory failed");
  const k::GuestMemory memory{scratch.bytes(), bytes};
  return Guard(env, [&] {
    const k::LinuxBoot b = k::LoadLinux(memory, config);
    Napi::Object o = BootObject(env, b);
    o.Set("low", Napi::Buffer<uint8_t>::Copy(env, memory.base, 1 << 20));
    o.Set("kernelHead", Napi::Buffer<uint8_t>::Copy(env, memory.base + b.kernel_start, 64));
    if (b.initrd_bytes > 0)
      o.Set("initrdHead", Napi::Buffer<uint8_t>::Copy(env, memory.base + b.initrd_addr, std::min<uint64_t>(64, b.initrd_bytes)));
    return o;
  });
}

}  // namespace

class KvmAddon : public Napi::Addon<KvmAddon> {
 public:
  KvmAddon(Napi::Env env, Napi::Object exports) {
    Napi::Function vm = VmWrap::Define(env);
    vm_class = Napi::Persistent(vm);
    exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
    exports.Set("inspectKernel", Napi::Function::New(env, InspectKernel, "inspectKernel"));
    exports.Set("prepareBoot", Napi::Function::New(env, PrepareBoot, "prepareBoot"));
    exports.Set("samplerState", Napi::Function::New(env, SamplerState, "samplerState"));
    exports.Set("Vm", vm);
    Napi::Array errs = Napi::Array::New(env);
    uint32_t i = 0;
    for (const char* c : codes::kKvmLayer) errs.Set(i++, c);
    exports.Set("errorCodes", errs);
    DefineAddon(exports, {});
  }
  Napi::FunctionReference vm_class;
};

}  // namespace rondo_addon

using rondo_addon::KvmAddon;
NODE_API_ADDON(KvmAddon)
