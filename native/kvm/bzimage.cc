// bzImage, 64-bit boot protocol: see bzimage.h.
#include "kvm/bzimage.h"

#include <algorithm>
#include <cstring>

#include "kvm/boot_layout.h"

namespace rondo_kvm {
namespace {

template <typename T>
T Read(const uint8_t* data, size_t at) {
  T v;
  std::memcpy(&v, data + at, sizeof v);
  return v;
}

std::string Version(uint16_t v) { return std::to_string(v >> 8) + "." + std::to_string(v & 0xff); }

}  // namespace

BzImage ParseBzImage(const uint8_t* data, size_t size, const std::string& name) {
  using namespace bzhdr;
  if (size < kMagic + 4 || std::memcmp(data + kMagic, "HdrS", 4) != 0 || Read<uint16_t>(data, kBootFlag) != 0xaa55)
    throw BootError(name + " is neither a vmlinux (ELF) nor a bzImage (no \"HdrS\" setup header): "
                           "give --kernel a Linux kernel image");
  if (size < kInitSize + 4) throw BootError(name + " is truncated: it ends inside its setup header");
  BzImage k;
  k.version = Read<uint16_t>(data, kVersion);
  if (k.version < kMinBootProtocol)
    throw BootError(name + " speaks boot protocol " + Version(k.version) +
                    "; the 64-bit entry needs 2.12 or later (Linux 3.8+)");
  k.header_end = 0x202 + data[kJump + 1];
  if (size < std::max<size_t>(k.header_end, kInitSize + 4))
    throw BootError(name + " is truncated: it ends inside its setup header");
  const uint8_t setup_sects = data[kSetupSects];
  k.setup_bytes = (size_t{setup_sects == 0 ? uint8_t{4} : setup_sects} + 1) * 512;
  k.kernel_bytes = size_t{Read<uint32_t>(data, kSyssize)} * 16;
  if (k.setup_bytes > size || k.kernel_bytes > size - k.setup_bytes)
    throw BootError(name + " is truncated: its header says " + std::to_string(k.setup_bytes + k.kernel_bytes) +
                    " bytes, the file has " + std::to_string(size));
  if ((data[kLoadflags] & kLoadedHigh) == 0)
    throw BootError(name + " is a zImage that loads below 1 MiB; boot a bzImage");
  if ((Read<uint16_t>(data, kXloadflags) & kXlfKernel64) == 0)
    throw BootError(name + " has no 64-bit entry point (XLF_KERNEL_64): boot a 64-bit kernel");
  k.cmdline_size = Read<uint32_t>(data, kCmdlineSize);
  k.initrd_addr_max = Read<uint32_t>(data, kInitrdAddrMax);
  k.pref_address = Read<uint64_t>(data, kPrefAddress);
  k.init_size = Read<uint32_t>(data, kInitSize);
  k.payload_offset = Read<uint32_t>(data, kPayloadOffset);
  k.payload_length = Read<uint32_t>(data, kPayloadLength);
  return k;
}

uint64_t BzImageEnd(const BzImage& k) {
  // The kernel decompresses to its preferred address (or, loaded higher, where it was loaded)
  // and needs init_size bytes from there.
  const uint64_t run_at = std::max<uint64_t>(k.pref_address, kBzImageLoad);
  return std::max<uint64_t>(kBzImageLoad + k.kernel_bytes, run_at + k.init_size);
}

uint64_t LoadBzImage(const BzImage& k, const uint8_t* data, const GuestMemory& memory,
                     const std::vector<E820Entry>& e820, uint64_t cmdline_gpa, uint64_t initrd_gpa,
                     uint64_t initrd_bytes) {
  using namespace bzhdr;
  using namespace zeropage;
  memory.Check(kBzImageLoad, BzImageEnd(k) - kBzImageLoad, "the kernel and the room it decompresses into");
  memory.Write(kBzImageLoad, data + k.setup_bytes, k.kernel_bytes, "the kernel");
  if (e820.size() > kE820Max) throw BootError("the memory map has too many entries for boot_params");

  const uint64_t bp = kBootInfo;
  memory.Zero(bp, kBootInfoBytes, "boot_params");
  memory.Write(bp + kSetupSects, data + kSetupSects, k.header_end - kSetupSects, "the setup header");
  memory.Put<uint8_t>(bp + kTypeOfLoader, 0xff);  // a boot loader without an assigned id
  memory.Put<uint32_t>(bp + kCode32Start, static_cast<uint32_t>(kBzImageLoad));
  memory.Put<uint32_t>(bp + kCmdLinePtr, static_cast<uint32_t>(cmdline_gpa));
  memory.Put<uint32_t>(bp + kExtCmdLinePtr, static_cast<uint32_t>(cmdline_gpa >> 32));
  memory.Put<uint32_t>(bp + kRamdiskImage, static_cast<uint32_t>(initrd_gpa));
  memory.Put<uint32_t>(bp + kExtRamdiskImage, static_cast<uint32_t>(initrd_gpa >> 32));
  memory.Put<uint32_t>(bp + kRamdiskSize, static_cast<uint32_t>(initrd_bytes));
  memory.Put<uint32_t>(bp + kExtRamdiskSize, static_cast<uint32_t>(initrd_bytes >> 32));
  memory.Put<uint8_t>(bp + kE820Entries, static_cast<uint8_t>(e820.size()));
  for (size_t i = 0; i < e820.size(); i++) {
    const uint64_t e = bp + kE820Table + i * kE820EntryBytes;
    memory.Put<uint64_t>(e + 0, e820[i].addr);
    memory.Put<uint64_t>(e + 8, e820[i].size);
    memory.Put<uint32_t>(e + 16, e820[i].type);
  }
  return bp;
}

}  // namespace rondo_kvm
