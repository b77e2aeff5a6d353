// PCI stub: see pci_stub.h.
#include "kvm/pci_stub.h"

namespace rondo_kvm {

void PciStub::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  if (port >= 0xcf8 && port <= 0xcfb)
    PutIn(data, size, address_ >> (8 * (port - 0xcf8)));
  else
    PutIn(data, size, ~uint64_t{0});
}

PortAction PciStub::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  std::lock_guard<std::mutex> l(mu_);
  if (port >= 0xcf8 && port <= 0xcfb) {
    for (uint8_t b = 0; b < size && port - 0xcf8 + b < 4; b++) {
      const unsigned shift = 8 * (port - 0xcf8 + b);
      address_ = (address_ & ~(0xffu << shift)) | (uint32_t{data[b]} << shift);
    }
  }
  return PortAction::kNone;
}

}  // namespace rondo_kvm
