// The guest's memory map: see e820.h.
#include "kvm/e820.h"

#include "kvm/boot_layout.h"

namespace rondo_kvm {

std::vector<E820Entry> LinuxMemoryMap(uint64_t memory_bytes) {
  return {
      {0, kEbda, kE820Ram},
      {kEbda, kHighMemory - kEbda, kE820Reserved},
      {kHighMemory, memory_bytes - kHighMemory, kE820Ram},
  };
}

}  // namespace rondo_kvm
