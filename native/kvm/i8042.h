// The i8042 keyboard controller on 0x60 (data) and 0x64 (status/command), enough for a kernel's
// probe to find a controller with a keyboard that answers and no mouse, and for its reboot
// (reboot=k): command 0xfe, or clearing the reset bit of the output port, resets the machine,
// which this VMM treats as the guest powering off.
#pragma once
#include <cstdint>
#include <deque>
#include <mutex>

#include "kvm/io_bus.h"

namespace rondo_kvm {

constexpr uint32_t kKeyboardIrq = 1;

class I8042 final : public PortDevice {
 public:
  explicit I8042(IrqLine irq) : irq_(std::move(irq)) {}
  const char* name() const override { return "i8042"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;

 private:
  PortAction Command(uint8_t cmd);
  PortAction Data(uint8_t byte);
  void Reply(uint8_t byte, bool keyboard);  // with mu_ held

  IrqLine irq_;
  std::mutex mu_;
  static constexpr size_t kMaxQueued = 16;
  std::deque<uint8_t> out_;  // bytes for the guest to read from 0x60, at most kMaxQueued
  uint8_t ctr_ = 0x61;       // command byte: keyboard interrupt, system flag, translation
  uint8_t pending_ = 0;      // the command whose data byte comes next on 0x60 (0: none)
  bool last_was_command_ = false;
};

}  // namespace rondo_kvm
