// An uncompressed Linux kernel (vmlinux): a 64-bit x86 ELF executable whose PT_LOAD segments go
// to their physical addresses, entered through its PVH entry point, the 32-bit address in the
// Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvm/guest_memory.h"

namespace rondo_kvm {

constexpr uint32_t kXenElfNotePhys32Entry = 18;

struct ElfSegment {
  uint64_t paddr = 0;
  uint64_t offset = 0;
  uint64_t file_bytes = 0;
  uint64_t memory_bytes = 0;
};

struct ElfKernel {
  uint64_t pvh_entry = 0;
  std::vector<ElfSegment> segments;  // PT_LOAD, in file order
  uint64_t lowest = 0;               // lowest physical address of a segment
  uint64_t highest = 0;              // end of the highest one
};

// The PVH entry in a run of ELF notes (a PT_NOTE segment's bytes), if there is one; throws
// BootError for a note that runs past the end.
std::optional<uint64_t> FindPvhEntry(const uint8_t* notes, size_t bytes, const std::string& name);

// Checks the header and every program header against the file's size; throws BootError saying
// what is wrong with `name` (not an ELF, not x86-64, truncated, no PVH note).
ElfKernel ParseElfKernel(const uint8_t* data, size_t size, const std::string& name);

// Copies each segment to its physical address and zeroes the rest of its memory size.
void LoadElfKernel(const ElfKernel& k, const uint8_t* data, const GuestMemory& memory);

}  // namespace rondo_kvm
