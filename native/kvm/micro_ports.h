// The micro-guest's own ports (guest_abi.h): the control port answers the current phase, the
// test port echoes the byte this vCPU last wrote to it.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "kvm/io_bus.h"

namespace rondo_kvm {

class MicroPorts final : public PortDevice {
 public:
  MicroPorts(uint32_t vcpus, std::function<uint8_t()> phase) : phase_(std::move(phase)), echo_(vcpus) {}
  const char* name() const override { return "micro-guest"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;

 private:
  std::function<uint8_t()> phase_;
  std::vector<uint8_t> echo_;  // per vCPU: only its own thread touches it
};

}  // namespace rondo_kvm
