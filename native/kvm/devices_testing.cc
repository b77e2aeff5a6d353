// Test-only (the dev addon, native/dev_addon.h; Linux x64 builds): the Linux guest's port devices on a PortBus, wired as Vm::CreateDevices wires them
// (with the PIT stub, as on a KVM without an in-kernel PIT), driven from JavaScript one access
// at a time as a vCPU's port exits would drive them, without /dev/kvm. Exported as
// `kvmTesting.portBus()` -> { in(port, size), out(port, size, value), lines(), irqs() }.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/napi_util.h"
#include "dev_addon.h"
#include "kvm/cmos.h"
#include "kvm/i8042.h"
#include "kvm/io_bus.h"
#include "kvm/pci_stub.h"
#include "kvm/pit.h"
#include "kvm/uart.h"

namespace rondo_addon {
namespace {

namespace k = rondo_kvm;

// One of each device on a bus, as vm.cc builds them for a Linux guest with one vCPU.
struct Devices {
  Devices()
      : uart(1, [this](std::string line) { lines.push_back(std::move(line)); }, Irq()),
        i8042(Irq()) {
    bus.Add(k::kUartBase, k::kUartBase + 7, &uart);
    bus.Add(0x60, 0x60, &i8042);
    bus.Add(0x64, 0x64, &i8042);
    bus.Add(0x70, 0x71, &cmos);
    bus.Add(0xcf8, 0xcff, &pci);
    bus.Add(0x40, 0x43, &pit);
    bus.Add(0x61, 0x61, &pit);
  }
  k::IrqLine Irq() {
    return [this](uint32_t irq, bool level) { irqs.emplace_back(irq, level); };
  }

  std::vector<std::string> lines;                   // console lines, in order
  std::vector<std::pair<uint32_t, bool>> irqs;      // (irq, level), in order
  k::Uart uart;
  k::I8042 i8042;
  k::Cmos cmos;
  k::PciStub pci;
  k::PitStub pit;
  k::PortBus bus;
};

uint32_t Arg(const Napi::CallbackInfo& info, size_t i, const char* what, double max) {
  const double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= max) || d != std::floor(d))
    throw CodedError(info.Env(), rondo::codes::kArg, std::string(what) + " must be a whole number in [0, " +
                                                  std::to_string(static_cast<uint64_t>(max)) + "]");
  return static_cast<uint32_t>(d);
}

uint8_t Size(const Napi::CallbackInfo& info) {
  const uint32_t size = Arg(info, 1, "size", 4);
  if (size != 1 && size != 2 && size != 4) throw CodedError(info.Env(), rondo::codes::kArg, "size must be 1, 2 or 4");
  return static_cast<uint8_t>(size);
}

// portBus() -> the devices, fresh; their state lives as long as any of the functions does.
Napi::Value PortBus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = std::make_shared<Devices>();
  Napi::Object o = Napi::Object::New(env);
  // in(port, size) -> the value read, as vcpu.cc's OnPortIn gets it (unclaimed: all ones).
  o.Set("in", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
          const uint16_t port = static_cast<uint16_t>(Arg(info, 0, "port", 0xffff));
          const uint8_t size = Size(info);
          uint8_t data[4] = {0, 0, 0, 0};
          if (k::PortDevice* dev = d->bus.Find(port))
            dev->In(0, port, size, data);
          else
            k::PutIn(data, size, ~uint64_t{0});
          uint32_t v = 0;
          for (uint8_t b = 0; b < size; b++) v |= uint32_t{data[b]} << (8 * b);
          return Napi::Number::New(info.Env(), v);
        }, "in"));
  // out(port, size, value) -> 'none' | 'reset' (unclaimed: 'none').
  o.Set("out", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
          const uint16_t port = static_cast<uint16_t>(Arg(info, 0, "port", 0xffff));
          const uint8_t size = Size(info);
          const uint32_t value = Arg(info, 2, "value", size == 4 ? 4294967295.0 : (1u << (8 * size)) - 1);
          uint8_t data[4];
          k::PutIn(data, size, value);
          k::PortAction a = k::PortAction::kNone;
          if (k::PortDevice* dev = d->bus.Find(port)) a = dev->Out(0, port, size, data);
          return Napi::String::New(info.Env(), a == k::PortAction::kReset ? "reset" : "none");
        }, "out"));
  // lines() -> every console line since the bus was built, the unfinished one flushed.
  o.Set("lines", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
          d->uart.Flush(0);
          Napi::Array a = Napi::Array::New(info.Env(), d->lines.size());
          for (size_t i = 0; i < d->lines.size(); i++) a.Set(static_cast<uint32_t>(i), d->lines[i]);
          return a;
        }, "lines"));
  // irqs() -> every (irq, level) the devices signalled since the bus was built.
  o.Set("irqs", Napi::Function::New(env, [d](const Napi::CallbackInfo& info) -> Napi::Value {
          Napi::Env env = info.Env();
          Napi::Array a = Napi::Array::New(env, d->irqs.size());
          for (size_t i = 0; i < d->irqs.size(); i++) {
            Napi::Array e = Napi::Array::New(env, 2);
            e.Set(uint32_t{0}, Napi::Number::New(env, d->irqs[i].first));
            e.Set(uint32_t{1}, Napi::Boolean::New(env, d->irqs[i].second));
            a.Set(static_cast<uint32_t>(i), e);
          }
          return a;
        }, "irqs"));
  return o;
}

}  // namespace

// Called by the dev addon (dev_addon.cc).
void InitKvmTesting(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("portBus", Napi::Function::New(env, PortBus, "portBus"));
  exports.Set("kvmTesting", t);
}

}  // namespace rondo_addon
