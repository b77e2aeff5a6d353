// PCI configuration mechanism #1 (0xcf8 address, 0xcfc..0xcff data) with nothing on the bus:
// the address register reads back what was written, every configuration read is all ones
// ("no device"), writes are dropped. A kernel's PCI probe finds an empty bus and moves on.
#pragma once
#include <cstdint>
#include <mutex>

#include "kvm/io_bus.h"

namespace rondo_kvm {

class PciStub final : public PortDevice {
 public:
  const char* name() const override { return "pci"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;

 private:
  std::mutex mu_;
  uint32_t address_ = 0;
};

}  // namespace rondo_kvm
