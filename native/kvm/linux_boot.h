// Loading Linux into a VM's memory: reads the kernel and initrd, tells a vmlinux (ELF, PVH entry)
// from a bzImage (64-bit boot protocol), writes the kernel, initrd, command line, memory map and
// the protocol's boot structure, and says how the boot vCPU starts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvm/e820.h"
#include "kvm/guest_memory.h"

namespace rondo_kvm {

constexpr uint64_t kMaxKernelFileBytes = 512ull << 20;
constexpr uint64_t kMaxInitrdFileBytes = 2ull << 30;

struct LinuxBootConfig {
  std::string kernel_path;
  std::string initrd_path;  // empty: none
  std::string cmdline;
};

enum class KernelFormat { kElfPvh, kBzImage };
enum class EntryMode {
  kProtected32,  // PVH: 32-bit protected mode, paging off, %ebx = hvm_start_info
  kLong64,       // 64-bit boot protocol: long mode, identity map, %rsi = boot_params
};

struct LinuxBoot {
  KernelFormat format = KernelFormat::kElfPvh;
  EntryMode mode = EntryMode::kProtected32;
  uint64_t entry = 0;      // %rip
  uint64_t boot_info = 0;  // %ebx (PVH) or %rsi (bzImage)
  uint64_t kernel_start = 0, kernel_end = 0;
  uint64_t initrd_addr = 0, initrd_bytes = 0;
  uint64_t cmdline_addr = 0;
  uint16_t boot_protocol = 0;  // bzImage only
  std::vector<E820Entry> e820;
};

const char* KernelFormatName(KernelFormat f);  // "vmlinux-pvh", "bzimage"
const char* EntryModeName(EntryMode m);        // "protected32", "long64"

// The whole file, or a BootError saying why not (missing, unreadable, a directory, empty, larger
// than max_bytes). `what` names it in messages ("kernel", "initrd").
std::vector<uint8_t> ReadBootFile(const std::string& path, uint64_t max_bytes, const char* what);

// Loads everything into `memory` (zeroed, at least kLinuxMinMemoryBytes); throws BootError.
LinuxBoot LoadLinux(const GuestMemory& memory, const LinuxBootConfig& config);

// The GDT of both entries (0x08 32-bit code, 0x10 64-bit code, 0x18 data, 0x20 TSS) and, for
// the 64-bit protocol, page tables identity-mapping the low 4 GiB.
void WriteBootGdt(const GuestMemory& memory);
void WriteIdentityMap(const GuestMemory& memory);

}  // namespace rondo_kvm
