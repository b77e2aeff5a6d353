// A 16550A UART on 0x3f8..0x3ff (COM1, IRQ 4): what the guest transmits becomes console lines,
// one line buffer per vCPU so that vCPUs writing at once never interleave inside a line.
// Nothing is ever received. The line status always says "transmitter empty"; the modem
// registers loop back as the 8250 driver's probe expects; with an interrupt line, the
// transmitter-empty interrupt works as on the chip (the kernel's tty layer waits on it).
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "kvm/io_bus.h"

namespace rondo_kvm {

constexpr uint16_t kUartBase = 0x3f8;
constexpr uint32_t kUartIrq = 4;

class Uart final : public PortDevice {
 public:
  using LineSink = std::function<void(std::string line)>;
  // irq may be empty (no interrupt controller): the guest then has to poll.
  Uart(uint32_t vcpus, LineSink sink, IrqLine irq);
  const char* name() const override { return "uart"; }
  void In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) override;
  PortAction Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) override;
  // Hands on what vCPU `vcpu` wrote since its last newline (at its end).
  void Flush(uint32_t vcpu);

 private:
  void Transmit(uint32_t vcpu, uint8_t byte);
  void UpdateIrq();  // with mu_ held

  LineSink sink_;
  IrqLine irq_;
  std::vector<std::string> lines_;  // per vCPU; only that vCPU's thread touches its own
  mutable std::mutex mu_;           // the registers below
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0, dll_ = 0x0c, dlm_ = 0;
  bool thr_interrupt_ = false;  // a transmitter-empty interrupt is pending
  bool irq_level_ = false;
};

}  // namespace rondo_kvm
