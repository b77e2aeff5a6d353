// The micro-guest's ports: see micro_ports.h.
#include "kvm/micro_ports.h"

#include "kvm/guest_abi.h"

namespace rondo_kvm {

void MicroPorts::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  PutIn(data, size, port == PORT_CONTROL ? phase_() : echo_[vcpu]);
}

PortAction MicroPorts::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  if (port == PORT_TEST) echo_[vcpu] = data[size - 1];
  return PortAction::kNone;  // control-port writes: accepted, nothing to do
}

}  // namespace rondo_kvm
