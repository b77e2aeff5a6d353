// Port I/O devices and the bus that routes a port to its device. Devices are called on the
// thread of the vCPU that made the access; one that several vCPUs can reach guards its state.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace rondo_kvm {

// What the guest asked of the machine through a port write.
enum class PortAction { kNone, kReset };

class PortDevice {
 public:
  virtual ~PortDevice() = default;
  virtual const char* name() const = 0;
  // One access of `size` bytes (1, 2 or 4) at `port`: fill `data` / act on it.
  virtual void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) = 0;
  virtual PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) = 0;
};

// Raises (level true) or lowers an interrupt line of the VM's in-kernel interrupt controller.
using IrqLine = std::function<void(uint32_t irq, bool level)>;

class PortBus {
 public:
  void Add(uint16_t first, uint16_t last, PortDevice* device) { ranges_.push_back({first, last, device}); }
  PortDevice* Find(uint16_t port) const {
    for (const Range& r : ranges_)
      if (port >= r.first && port <= r.last) return r.device;
    return nullptr;
  }

 private:
  struct Range {
    uint16_t first, last;
    PortDevice* device;
  };
  std::vector<Range> ranges_;
};

// Little-endian `value` into `size` bytes of an IN's answer.
inline void PutIn(uint8_t* data, uint8_t size, uint64_t value) {
  for (uint8_t b = 0; b < size; b++) data[b] = static_cast<uint8_t>(value >> (8 * b));
}

}  // namespace rondo_kvm
