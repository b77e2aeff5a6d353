// 16550A UART: see uart.h.
#include "kvm/uart.h"

namespace rondo_kvm {
namespace {

constexpr size_t kMaxLine = 512;  // a guest that never sends a newline still gets its output shown
// Register offsets from the base.
constexpr uint16_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kLcrDlab = 0x80, kMcrLoop = 0x10, kIerThri = 0x02, kFcrFifo = 0x01;
constexpr uint8_t kLsrThreTemt = 0x60;
constexpr uint8_t kIirNone = 0x01, kIirThri = 0x02, kIirFifos = 0xc0;

}  // namespace

Uart::Uart(uint32_t vcpus, LineSink sink, IrqLine irq) : sink_(std::move(sink)), irq_(std::move(irq)), lines_(vcpus) {}

void Uart::In(uint32_t vcpu, uint16_t port, uint8_t size, uint8_t* data) {
  uint8_t v = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    switch (port - kUartBase) {
      case kData: v = (lcr_ & kLcrDlab) ? dll_ : 0; break;  // nothing is ever received
      case kIer: v = (lcr_ & kLcrDlab) ? dlm_ : ier_; break;
      case kIir:
        v = ((fcr_ & kFcrFifo) ? kIirFifos : 0) | (thr_interrupt_ ? kIirThri : kIirNone);
        thr_interrupt_ = false;  // reading IIR with THRE as its source clears it
        UpdateIrq();
        break;
      case kLcr: v = lcr_; break;
      case kMcr: v = mcr_; break;
      case kLsr: v = kLsrThreTemt; break;
      case kMsr:
        // In loopback the modem inputs follow the outputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
        // MCR bits: DTR 0, RTS 1, OUT1 2, OUT2 3; MSR inputs: CTS 4, DSR 5, RI 6, DCD 7.
        v = (mcr_ & kMcrLoop) ? static_cast<uint8_t>(((mcr_ & 0x02) << 3) | ((mcr_ & 0x01) << 5) | ((mcr_ & 0x0c) << 4))
                              : 0xb0;  // else DCD, DSR, CTS
        break;
      case kScr: v = scr_; break;
    }
  }
  PutIn(data, size, v);
}

PortAction Uart::Out(uint32_t vcpu, uint16_t port, uint8_t size, const uint8_t* data) {
  const uint8_t v = data[0];
  const uint16_t reg = port - kUartBase;
  if (reg == kData) {
    bool send = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (lcr_ & kLcrDlab) {
        dll_ = v;
      } else {
        send = !(mcr_ & kMcrLoop);  // in loopback nothing leaves the chip
        // Sent at once: the holding register is empty again, which interrupts if enabled.
        thr_interrupt_ = (ier_ & kIerThri) != 0;
        UpdateIrq();
      }
    }
    if (send) Transmit(vcpu, v);
    return PortAction::kNone;
  }
  std::lock_guard<std::mutex> l(mu_);
  switch (reg) {
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
      } else {
        // Enabling the THRE interrupt while the transmitter is empty raises it at once.
        if ((v & kIerThri) && !(ier_ & kIerThri)) thr_interrupt_ = true;
        if (!(v & kIerThri)) thr_interrupt_ = false;
        ier_ = v & 0x0f;
        UpdateIrq();
      }
      break;
    case kIir: fcr_ = v; break;  // FCR on write
    case kLcr: lcr_ = v; break;
    case kMcr: mcr_ = v & 0x1f; break;
    case kScr: scr_ = v; break;
    default: break;  // LSR and MSR are read-only
  }
  return PortAction::kNone;
}

void Uart::UpdateIrq() {
  const bool level = thr_interrupt_ && (ier_ & kIerThri);
  if (level == irq_level_ || !irq_) return;
  irq_level_ = level;
  irq_(kUartIrq, level);
}

void Uart::Transmit(uint32_t vcpu, uint8_t byte) {
  std::string& line = lines_[vcpu];
  if (byte == '\n' || line.size() >= kMaxLine) {
    sink_(std::move(line));
    line.clear();
    if (byte == '\n') return;
  }
  if (byte != '\r') line.push_back(static_cast<char>(byte));
}

void Uart::Flush(uint32_t vcpu) {
  if (vcpu < lines_.size() && !lines_[vcpu].empty()) {
    sink_(std::move(lines_[vcpu]));
    lines_[vcpu].clear();
  }
}

}  // namespace rondo_kvm
