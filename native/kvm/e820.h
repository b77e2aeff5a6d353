// The guest's memory map, as both boot protocols hand it over (e820 types).
#pragma once
#include <cstdint>
#include <vector>

namespace rondo_kvm {

enum E820Type : uint32_t { kE820Ram = 1, kE820Reserved = 2 };

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = kE820Ram;
};

// RAM below the EBDA, the legacy hole [0x9fc00, 1 MiB) reserved, RAM from 1 MiB to the end.
std::vector<E820Entry> LinuxMemoryMap(uint64_t memory_bytes);

}  // namespace rondo_kvm
