// CMOS RTC: see cmos.h.
#include "kvm/cmos.h"

#include <ctime>

namespace rondo_kvm {
namespace {

uint8_t Bcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }

}  // namespace

void Cmos::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  if (port == 0x70) {
    PutIn(data, size, index_);
    return;
  }
  const std::time_t now = std::time(nullptr);
  std::tm t;
  gmtime_r(&now, &t);
  uint8_t v;
  switch (index_) {
    case 0x00: v = Bcd(t.tm_sec); break;
    case 0x02: v = Bcd(t.tm_min); break;
    case 0x04: v = Bcd(t.tm_hour); break;
    case 0x06: v = Bcd(t.tm_wday + 1); break;
    case 0x07: v = Bcd(t.tm_mday); break;
    case 0x08: v = Bcd(t.tm_mon + 1); break;
    case 0x09: v = Bcd(t.tm_year % 100); break;
    case 0x32: v = Bcd(19 + t.tm_year / 100); break;  // century
    case 0x0a: v = 0x26; break;                       // 32.768 kHz, 1024 Hz; no update in progress
    case 0x0b: v = 0x02; break;                       // 24-hour, BCD, no interrupts
    case 0x0c: v = 0x00; break;                       // no interrupt flags
    case 0x0d: v = 0x80; break;                       // the battery is good
    default: v = ram_[index_]; break;
  }
  PutIn(data, size, v);
}

PortAction Cmos::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  if (port == 0x70)
    index_ = data[0] & 0x7f;  // bit 7 masks NMIs: nothing to mask here
  else if (index_ > 0x0d)
    ram_[index_] = data[0];  // the clock itself is the host's: writes to it are dropped
  return PortAction::kNone;
}

}  // namespace rondo_kvm
