// A bzImage booted through the 64-bit boot protocol (Documentation/arch/x86/boot.rst): the
// setup header checked, the protected-mode kernel loaded at 1 MiB, a boot_params ("zero page")
// with the header, the e820 map, the command line and the initrd; the vCPU starts in long mode
// at the load address + 0x200 with %rsi pointing at boot_params.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kvm/e820.h"
#include "kvm/guest_memory.h"

namespace rondo_kvm {

// setup_header offsets, in the file and in boot_params alike.
namespace bzhdr {
constexpr size_t kSetupSects = 0x1f1, kSyssize = 0x1f4, kBootFlag = 0x1fe, kJump = 0x200, kMagic = 0x202,
                 kVersion = 0x206, kTypeOfLoader = 0x210, kLoadflags = 0x211, kCode32Start = 0x214,
                 kRamdiskImage = 0x218, kRamdiskSize = 0x21c, kCmdLinePtr = 0x228, kInitrdAddrMax = 0x22c,
                 kKernelAlignment = 0x230, kRelocatable = 0x234, kXloadflags = 0x236, kCmdlineSize = 0x238,
                 kPayloadOffset = 0x248, kPayloadLength = 0x24c, kPrefAddress = 0x258, kInitSize = 0x260;
}  // namespace bzhdr

// boot_params fields outside the setup header.
namespace zeropage {
constexpr size_t kExtRamdiskImage = 0x0c0, kExtRamdiskSize = 0x0c4, kExtCmdLinePtr = 0x0c8, kE820Entries = 0x1e8,
                 kE820Table = 0x2d0, kE820EntryBytes = 20, kE820Max = 128;
}  // namespace zeropage

constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint16_t kXlfKernel64 = 0x01;
constexpr uint16_t kMinBootProtocol = 0x020c;  // 2.12: xloadflags, the 64-bit entry

struct BzImage {
  uint16_t version = 0;
  size_t setup_bytes = 0;     // the real-mode part: (setup_sects + 1) * 512
  size_t kernel_bytes = 0;    // the protected-mode part after it: syssize * 16
  size_t header_end = 0;      // 0x202 + the byte at 0x201
  uint32_t cmdline_size = 0;  // the longest command line, without its NUL
  uint32_t initrd_addr_max = 0;
  uint64_t pref_address = 0;
  uint32_t init_size = 0;     // memory the kernel needs from where it decompresses to
  uint32_t payload_offset = 0, payload_length = 0;  // the compressed vmlinux, after setup_bytes
};

// Checks the setup header; throws BootError naming what is wrong with `name`.
BzImage ParseBzImage(const uint8_t* data, size_t size, const std::string& name);

// The first address past what the kernel uses while it decompresses and runs.
uint64_t BzImageEnd(const BzImage& k);

// Loads the protected-mode kernel at kBzImageLoad and writes boot_params at kBootInfo; returns
// the boot_params address (the value for %rsi).
uint64_t LoadBzImage(const BzImage& k, const uint8_t* data, const GuestMemory& memory,
                     const std::vector<E820Entry>& e820, uint64_t cmdline_gpa, uint64_t initrd_gpa,
                     uint64_t initrd_bytes);

}  // namespace rondo_kvm
