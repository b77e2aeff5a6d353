// PIT: see pit.h.
#include "kvm/pit.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>

#include "kvm/errors.h"
#include "kvm/vcpu.h"

namespace rondo_kvm {

bool CreateKernelPit(int vm_fd, std::string* why) {
  kvm_pit_config config;
  std::memset(&config, 0, sizeof config);
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  if (::ioctl(vm_fd, KVM_CREATE_PIT2, &config) == 0) return true;
  *why = ErrnoMessage("KVM_CREATE_PIT2", errno);
  return false;
}

uint64_t PitStub::Elapsed(const Channel& c) const {
  // In whole seconds and the rest: ns * 1193182 alone would overflow 64 bits after 4.3 hours.
  const uint64_t ns = NowNs() - c.start_ns;
  return ns / 1000000000 * 1193182 + ns % 1000000000 * 1193182 / 1000000000;
}

void PitStub::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  if (port == 0x61) {
    const Channel& c = ch_[2];
    const bool out2 = (port61_ & 1) && Elapsed(c) >= c.reload;  // mode 0: high once it ran out
    PutIn(data, size, (port61_ & 0x0f) | (out2 ? 0x20 : 0));
    return;
  }
  if (port == 0x43) {
    PutIn(data, size, 0xff);  // the control word is write-only
    return;
  }
  Channel& c = ch_[port - 0x40];
  const uint16_t count = c.latched ? c.latch : Count(c);
  bool msb = c.access == 2;
  if (c.access == 3) {
    msb = c.read_msb;
    c.read_msb = !c.read_msb;
  }
  // A latched count holds until all its bytes are read (both, for LSB then MSB).
  if (c.latched && (c.access != 3 || msb)) c.latched = false;
  PutIn(data, size, msb ? count >> 8 : count & 0xff);
}

uint16_t PitStub::Count(const Channel& c) const {
  const uint64_t e = Elapsed(c);
  return c.mode == 0 ? static_cast<uint16_t>((c.reload - e) & 0xffff)
                     : static_cast<uint16_t>((c.reload - e % c.reload) & 0xffff);
}

void PitStub::Latch(Channel& c) {
  if (c.latched) return;  // a second latch before the first is read is ignored, as on the 8254
  c.latch = Count(c);
  c.latched = true;
  c.read_msb = false;
}

PortAction PitStub::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  const uint8_t v = data[0];
  if (port == 0x61) {
    if ((v & 1) && !(port61_ & 1)) ch_[2].start_ns = NowNs();  // the gate rises: channel 2 starts
    port61_ = v;
    return PortAction::kNone;
  }
  if (port == 0x43) {
    const uint8_t sel = v >> 6;
    if (sel == 3) {
      // Read-back: bit 5 clear latches the count of each counter selected by bits 1..3 (the
      // status latch, bit 4, is not kept: a status read gives the count).
      if (!(v & 0x20))
        for (int i = 0; i < 3; i++)
          if (v & (2 << i)) Latch(ch_[i]);
      return PortAction::kNone;
    }
    Channel& c = ch_[sel];
    if (((v >> 4) & 3) == 0) {  // counter latch command
      Latch(c);
      return PortAction::kNone;
    }
    c.access = (v >> 4) & 3;
    c.mode = (v >> 1) & 7;
    c.read_msb = c.write_msb = false;
    c.latched = false;
    return PortAction::kNone;
  }
  Channel& c = ch_[port - 0x40];
  uint32_t reload;
  if (c.access == 3 && !c.write_msb) {
    c.write_lsb = v;
    c.write_msb = true;
    return PortAction::kNone;
  }
  if (c.access == 3) reload = uint32_t{c.write_lsb} | uint32_t{v} << 8;
  else if (c.access == 2) reload = uint32_t{v} << 8;
  else reload = v;
  c.write_msb = false;
  c.reload = reload == 0 ? 0x10000 : reload;
  c.start_ns = NowNs();
  return PortAction::kNone;
}

}  // namespace rondo_kvm
