// The CMOS RTC on 0x70 (index, bit 7 masks NMIs) and 0x71 (data): the host's UTC time in BCD,
// 24-hour mode, never mid-update, battery good; the other bytes of its RAM read back.
#pragma once
#include <cstdint>
#include <mutex>

#include "kvm/io_bus.h"

namespace rondo_kvm {

class Cmos final : public PortDevice {
 public:
  const char* name() const override { return "cmos"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;

 private:
  std::mutex mu_;
  uint8_t index_ = 0;
  uint8_t ram_[128] = {};
};

}  // namespace rondo_kvm
