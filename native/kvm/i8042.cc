// i8042: see i8042.h.
#include "kvm/i8042.h"

namespace rondo_kvm {
namespace {

constexpr uint16_t kDataPort = 0x60;
constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08;
constexpr uint8_t kCtrKeyboardInterrupt = 0x01;

}  // namespace

void I8042::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  uint8_t v;
  if (port == kDataPort) {
    v = out_.empty() ? 0 : out_.front();
    if (!out_.empty()) out_.pop_front();
  } else {
    v = kStatusSystem | (out_.empty() ? 0 : kStatusOutputFull) | (last_was_command_ ? kStatusCommand : 0);
  }
  PutIn(data, size, v);
}

PortAction I8042::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  last_was_command_ = port != kDataPort;
  return port == kDataPort ? Data(data[0]) : Command(data[0]);
}

PortAction I8042::Command(uint8_t cmd) {
  switch (cmd) {
    case 0x20: Reply(ctr_, false); break;  // read the command byte
    case 0x60:                             // write the command byte (next data byte)
    case 0xd1:                             // write the output port (next data byte)
    case 0xd2:                             // write as if from the keyboard
    case 0xd4:                             // write to the mouse
      pending_ = cmd;
      break;
    case 0xa9: Reply(0xff, false); break;  // mouse interface test: no mouse
    case 0xaa: Reply(0x55, false); break;  // self-test passed
    case 0xab: Reply(0x00, false); break;  // keyboard interface test passed
    case 0xd0: Reply(0x03, false); break;  // read the output port: A20 on, not in reset
    case 0xfe: return PortAction::kReset;  // pulse the reset line
    default: break;                        // enable/disable keyboard or mouse, and the rest
  }
  return PortAction::kNone;
}

PortAction I8042::Data(uint8_t byte) {
  const uint8_t cmd = pending_;
  pending_ = 0;
  switch (cmd) {
    case 0x60: ctr_ = byte; return PortAction::kNone;
    case 0xd1: return (byte & 0x01) == 0 ? PortAction::kReset : PortAction::kNone;  // bit 0: not reset
    case 0xd2: Reply(byte, true); return PortAction::kNone;
    case 0xd4: return PortAction::kNone;  // no mouse: nothing answers
    default: break;
  }
  // A keyboard command: acknowledged; a reset also passes its self-test.
  Reply(0xfa, true);
  if (byte == 0xff) Reply(0xaa, true);
  return PortAction::kNone;
}

void I8042::Reply(uint8_t byte, bool keyboard) {
  // The chip holds one byte; a few are queued here, and a guest that never reads loses the rest
  // rather than growing the host's memory.
  if (out_.size() >= kMaxQueued) return;
  out_.push_back(byte);
  if (keyboard && (ctr_ & kCtrKeyboardInterrupt) && irq_) {
    irq_(kKeyboardIrq, true);  // an edge on IRQ 1
    irq_(kKeyboardIrq, false);
  }
}

}  // namespace rondo_kvm
