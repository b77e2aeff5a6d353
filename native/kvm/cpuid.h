// KVM's CPUID table (struct kvm_cpuid2) in its C layout. <linux/kvm.h> ends kvm_cpuid2 with a
// flexible array that g++ places 4 bytes later (and sizes the struct 4 bytes bigger), which both
// moves the entries and changes the ioctl numbers built from the struct's size: KVM refuses
// those with EINVAL. These are KVM's numbers and layout.
#pragma once
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace rondo_kvm {

struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8, "kvm_cpuid2's fixed part is 8 bytes");

constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

// One CPUID feature bit: leaf (function), subleaf (index), register (0 eax .. 3 edx), bit.
struct CpuidBit {
  uint32_t function = 0;
  uint32_t index = 0;
  uint8_t reg = 0;
  uint8_t bit = 0;
};

// A kvm_cpuid2 with room for `capacity` entries, in one buffer as the ioctls take it.
class CpuidTable {
 public:
  explicit CpuidTable(uint32_t capacity = 0)
      : bytes_(sizeof(CpuidHeader) + size_t{capacity} * sizeof(kvm_cpuid_entry2)) {
    const CpuidHeader h{capacity, 0};
    std::memcpy(bytes_.data(), &h, sizeof h);
  }
  bool empty() const { return count() == 0; }
  uint32_t count() const {
    CpuidHeader h;
    std::memcpy(&h, bytes_.data(), sizeof h);
    return h.nent;
  }
  kvm_cpuid_entry2* entry(uint32_t i) {
    return reinterpret_cast<kvm_cpuid_entry2*>(bytes_.data() + sizeof(CpuidHeader) + i * sizeof(kvm_cpuid_entry2));
  }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace rondo_kvm
