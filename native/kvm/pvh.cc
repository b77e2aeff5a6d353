// PVH start info: see pvh.h. Field offsets are those of xen/include/public/arch-x86/hvm/start_info.h.
#include "kvm/pvh.h"

#include "kvm/boot_layout.h"

namespace rondo_kvm {

uint64_t WritePvhStartInfo(const GuestMemory& memory, const std::vector<E820Entry>& e820, uint64_t cmdline_gpa,
                           uint64_t initrd_gpa, uint64_t initrd_bytes) {
  if (kPvhMemmap + e820.size() * kHvmMemmapEntryBytes > kBootInfo + kBootInfoBytes)
    throw BootError("the memory map has too many entries for the PVH start info page");
  memory.Zero(kBootInfo, kBootInfoBytes, "the PVH start info");
  const uint64_t si = kBootInfo;
  memory.Put<uint32_t>(si + 0, kHvmStartMagic);
  memory.Put<uint32_t>(si + 4, 1);  // version 1: has the memory map
  memory.Put<uint32_t>(si + 8, 0);  // flags
  memory.Put<uint32_t>(si + 12, initrd_bytes > 0 ? 1 : 0);  // nr_modules
  memory.Put<uint64_t>(si + 16, initrd_bytes > 0 ? kPvhModList : 0);  // modlist_paddr
  memory.Put<uint64_t>(si + 24, cmdline_gpa);
  memory.Put<uint64_t>(si + 32, 0);  // rsdp_paddr: no ACPI
  memory.Put<uint64_t>(si + 40, kPvhMemmap);
  memory.Put<uint32_t>(si + 48, static_cast<uint32_t>(e820.size()));
  if (initrd_bytes > 0) {
    memory.Put<uint64_t>(kPvhModList + 0, initrd_gpa);
    memory.Put<uint64_t>(kPvhModList + 8, initrd_bytes);
    memory.Put<uint64_t>(kPvhModList + 16, 0);  // no module command line
  }
  for (size_t i = 0; i < e820.size(); i++) {
    const uint64_t e = kPvhMemmap + i * kHvmMemmapEntryBytes;
    memory.Put<uint64_t>(e + 0, e820[i].addr);
    memory.Put<uint64_t>(e + 8, e820[i].size);
    memory.Put<uint32_t>(e + 16, e820[i].type);  // XEN_HVM_MEMMAP_TYPE_*: the e820 numbers
  }
  return si;
}

}  // namespace rondo_kvm
