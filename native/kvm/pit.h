// The i8254 PIT (0x40..0x43) and port 0x61 (speaker gate, OUT2). A Linux guest gets KVM's
// in-kernel PIT, which also drives IRQ 0; where the kernel offers none, PitStub answers the
// ports from the host's clock (counters count down at 1.193182 MHz, OUT2 rises when channel 2
// runs out) so that a calibration loop ends, but raises no interrupt.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

#include "kvm/io_bus.h"

namespace rondo_kvm {

// KVM_CREATE_PIT2 with the speaker port emulated in the kernel; false (and why) if refused.
bool CreateKernelPit(int vm_fd, std::string* why);

class PitStub final : public PortDevice {
 public:
  const char* name() const override { return "pit"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;

 private:
  struct Channel {
    uint32_t reload = 0x10000;
    uint8_t mode = 0;
    uint8_t access = 3;       // 1 LSB, 2 MSB, 3 LSB then MSB
    bool read_msb = false;    // the next read of an LSB/MSB pair is the MSB
    bool write_msb = false;
    uint8_t write_lsb = 0;
    uint64_t start_ns = 0;
    bool latched = false;     // a latch command froze `latch` until its bytes are read
    uint16_t latch = 0;
  };
  uint16_t Count(const Channel& c) const;  // the channel's counter now
  void Latch(Channel& c);
  uint64_t Elapsed(const Channel& c) const;  // ticks since the channel was loaded

  std::mutex mu_;
  Channel ch_[3];
  uint8_t port61_ = 0;
};

}  // namespace rondo_kvm
