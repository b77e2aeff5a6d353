// Where the Linux loaders put things in guest physical memory (see demo-vmm/README.md).
//
//   0x0000_1000  GDT (boot selectors 0x10 code, 0x18 data, 0x20 TSS)
//   0x0000_2000  page tables identity-mapping 4 GiB with 2 MiB pages (64-bit boot protocol only)
//   0x0000_8000  hvm_start_info (PVH) or boot_params, the "zero page" (bzImage): one 4 KiB page
//   0x0002_0000  kernel command line
//   0x0009_fc00  .. 0x0010_0000  reserved in the memory map (EBDA, VGA, BIOS: nothing there)
//   0x0010_0000  bzImage protected-mode kernel; a vmlinux goes where its program headers say
//   top of RAM   initrd, page-aligned, below the kernel's limit for it
#pragma once
#include <cstdint>

#include "kvm/guest_abi.h"

namespace rondo_kvm {

constexpr uint64_t kBootGdt = GUEST_GDT;
constexpr uint16_t kBootCodeSelector = 0x10;  // __BOOT_CS of the 64-bit boot protocol
constexpr uint16_t kBootDataSelector = 0x18;  // __BOOT_DS
constexpr uint16_t kBootTssSelector = 0x20;
constexpr uint64_t kBootPml4 = GUEST_PML4;  // and GUEST_PDPT, GUEST_PD: the micro-guest's map
constexpr uint64_t kBootInfo = 0x8000;      // hvm_start_info or boot_params
constexpr uint64_t kBootInfoBytes = 0x1000;
constexpr uint64_t kPvhModList = kBootInfo + 0x40;   // one hvm_modlist_entry: the initrd
constexpr uint64_t kPvhMemmap = kBootInfo + 0x100;   // hvm_memmap_table_entry[], 24 bytes each
constexpr uint64_t kCmdline = 0x20000;
constexpr uint64_t kCmdlineMax = 4096;  // bytes with the NUL; a bzImage may allow fewer
constexpr uint64_t kEbda = 0x9fc00;
constexpr uint64_t kHighMemory = 0x100000;
constexpr uint64_t kBzImageLoad = kHighMemory;  // code32_start; the 64-bit entry is at +0x200
constexpr uint64_t kPageBytes = 4096;

// Linux guests: at least this much RAM (the Debian kernel alone spans 74 MiB), and RAM stays
// below the 32-bit PCI hole at 3 GiB.
constexpr uint64_t kLinuxMinMemoryBytes = 64ull << 20;
constexpr uint64_t kLinuxMaxMemoryBytes = 3ull << 30;

}  // namespace rondo_kvm
