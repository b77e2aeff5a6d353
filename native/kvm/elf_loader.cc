// vmlinux (ELF) with a PVH entry: see elf_loader.h.
#include "kvm/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "kvm/errors.h"

namespace rondo_kvm {
namespace {

template <typename T>
T Read(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t Align4(uint64_t n) { return (n + 3) & ~uint64_t{3}; }

}  // namespace

std::optional<uint64_t> FindPvhEntry(const uint8_t* notes, size_t bytes, const std::string& name) {
  size_t at = 0;
  while (bytes - at >= 12) {
    const uint32_t namesz = Read<uint32_t>(notes + at);
    const uint32_t descsz = Read<uint32_t>(notes + at + 4);
    const uint32_t type = Read<uint32_t>(notes + at + 8);
    const uint64_t name_at = at + 12;
    const uint64_t desc_at = name_at + Align4(namesz);
    const uint64_t next = desc_at + Align4(descsz);
    if (next > bytes)
      throw BootError(name + ": an ELF note runs past the end of its segment: the file is damaged");
    const bool xen = namesz == 4 && std::memcmp(notes + name_at, "Xen", 4) == 0;
    if (xen && type == kXenElfNotePhys32Entry) {
      if (descsz == 4) return Read<uint32_t>(notes + desc_at);
      if (descsz == 8) return Read<uint64_t>(notes + desc_at);
      throw BootError(name + ": its PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) has " + std::to_string(descsz) +
                      " bytes, not 4 or 8: the file is damaged");
    }
    at = static_cast<size_t>(next);
  }
  return std::nullopt;
}

ElfKernel ParseElfKernel(const uint8_t* data, size_t size, const std::string& name) {
  if (size < SELFMAG || std::memcmp(data, ELFMAG, SELFMAG) != 0) throw BootError(name + " is not an ELF file");
  if (size < sizeof(Elf64_Ehdr))
    throw BootError(name + " is truncated: " + std::to_string(size) + " bytes, shorter than an ELF header");
  const auto eh = Read<Elf64_Ehdr>(data);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
    throw BootError(name + " is an ELF file but not a 64-bit x86 one: boot an x86-64 Linux kernel");
  if (eh.e_type != ET_EXEC)
    throw BootError(name + " is an ELF file but not an executable (a module or object file?): boot a vmlinux");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
    throw BootError(name + " has no program headers to load: boot a vmlinux");
  if (eh.e_phoff > size || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff)
    throw BootError(name + " is truncated: its program headers end past the end of the file");

  ElfKernel k;
  std::optional<uint64_t> entry;
  k.lowest = ~uint64_t{0};
  for (uint32_t i = 0; i < eh.e_phnum; i++) {
    const auto ph = Read<Elf64_Phdr>(data + eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
      throw BootError(name + " is truncated: segment " + std::to_string(i) + " ends at byte " +
                      std::to_string(ph.p_offset + ph.p_filesz) + " of a " + std::to_string(size) +
                      "-byte file");
    if (ph.p_type == PT_NOTE) {
      if (!entry) entry = FindPvhEntry(data + ph.p_offset, ph.p_filesz, name);
      continue;
    }
    if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
      throw BootError(name + ": segment " + std::to_string(i) + " is malformed (file size above memory size)");
    k.segments.push_back({ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
    k.lowest = std::min(k.lowest, ph.p_paddr);
    k.highest = std::max(k.highest, ph.p_paddr + ph.p_memsz);
  }
  if (k.segments.empty()) throw BootError(name + " has no loadable segment: boot a vmlinux");
  if (!entry)
    throw BootError(name + " has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): boot a kernel built with "
                           "CONFIG_PVH=y, or its bzImage");
  if (*entry < k.lowest || *entry >= k.highest || *entry >= (uint64_t{1} << 32))
    throw BootError(name + ": its PVH entry " + GuestMemory::Hex(*entry) +
                    " is outside its loaded segments: the file is damaged");
  k.pvh_entry = *entry;
  return k;
}

void LoadElfKernel(const ElfKernel& k, const uint8_t* data, const GuestMemory& memory) {
  for (const ElfSegment& s : k.segments) {
    memory.Check(s.paddr, s.memory_bytes, "the kernel");
    memory.Write(s.paddr, data + s.offset, s.file_bytes, "the kernel");
    memory.Zero(s.paddr + s.file_bytes, s.memory_bytes - s.file_bytes, "the kernel");
  }
}

}  // namespace rondo_kvm
