// The PVH boot protocol's start of day: an hvm_start_info (version 1) with the command line, the
// initrd as the one module and the memory map; the vCPU starts in 32-bit protected mode, paging
// off, at the kernel's PVH entry with %ebx pointing at the structure.
#pragma once
#include <cstdint>
#include <vector>

#include "kvm/e820.h"
#include "kvm/guest_memory.h"

namespace rondo_kvm {

constexpr uint32_t kHvmStartMagic = 0x336ec578;
constexpr uint32_t kHvmStartInfoBytes = 56;
constexpr uint32_t kHvmModlistEntryBytes = 32;
constexpr uint32_t kHvmMemmapEntryBytes = 24;

// Writes the start info at kBootInfo, its module list and memory map after it; returns its
// address (the value for %ebx). initrd_bytes == 0: no module.
uint64_t WritePvhStartInfo(const GuestMemory& memory, const std::vector<E820Entry>& e820, uint64_t cmdline_gpa,
                           uint64_t initrd_gpa, uint64_t initrd_bytes);

}  // namespace rondo_kvm
