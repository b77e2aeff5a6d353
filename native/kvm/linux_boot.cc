// Loading Linux: see linux_boot.h.
#include "kvm/linux_boot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/raii.h"
#include "kvm/boot_layout.h"
#include "kvm/bzimage.h"
#include "kvm/elf_loader.h"
#include "kvm/errors.h"
#include "kvm/pvh.h"

namespace rondo_kvm {
namespace {

constexpr uint64_t kPageRw = 0x3, kPageHuge = 0x80, kTwoMiB = 2ull << 20;

// The initrd's address: page-aligned at the top of RAM (and below `limit`), above the kernel.
uint64_t PlaceInitrd(const GuestMemory& memory, uint64_t kernel_end, uint64_t limit, uint64_t bytes) {
  const uint64_t top = std::min(memory.size, limit);
  const uint64_t need = kernel_end + bytes + kPageBytes;
  if (bytes > top || (top - bytes) / kPageBytes * kPageBytes < kernel_end)
    throw BootError("the kernel (up to " + GuestMemory::Hex(kernel_end) + ") and the initrd (" +
                    std::to_string(bytes >> 20) + " MiB) do not fit in " + std::to_string(memory.size >> 20) +
                    " MiB of guest memory: give the VM at least " + std::to_string((need >> 20) + 16) + " MiB");
  return (top - bytes) / kPageBytes * kPageBytes;
}

}  // namespace

const char* KernelFormatName(KernelFormat f) { return f == KernelFormat::kElfPvh ? "vmlinux-pvh" : "bzimage"; }
const char* EntryModeName(EntryMode m) { return m == EntryMode::kProtected32 ? "protected32" : "long64"; }

std::vector<uint8_t> ReadBootFile(const std::string& path, uint64_t max_bytes, const char* what) {
  const std::string name = std::string(what) + " " + path;
  const rondo::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) throw BootError(name + " does not exist: build the guest with demo-vmm/guest/build.sh");
    throw BootError(name + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) throw BootError(name + " is not a regular file");
  if (st.st_size == 0) throw BootError(name + " is empty");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw BootError(name + " has " + std::to_string(st.st_size) + " bytes, more than the " +
                    std::to_string(max_bytes >> 20) + " MiB a " + what + " may have");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : EIO;
      throw BootError(name + ": read failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(r);
  }
  return bytes;
}

LinuxBoot LoadLinux(const GuestMemory& memory, const LinuxBootConfig& config) {
  const std::string kname = "kernel " + config.kernel_path;
  const std::vector<uint8_t> kernel = ReadBootFile(config.kernel_path, kMaxKernelFileBytes, "kernel");
  std::vector<uint8_t> initrd;
  if (!config.initrd_path.empty()) initrd = ReadBootFile(config.initrd_path, kMaxInitrdFileBytes, "initrd");
  if (config.cmdline.find('\0') != std::string::npos) throw BootError("the kernel command line contains a NUL byte");
  if (memory.size < kLinuxMinMemoryBytes)
    throw BootError("a Linux guest needs at least " + std::to_string(kLinuxMinMemoryBytes >> 20) + " MiB of memory");

  LinuxBoot b;
  b.e820 = LinuxMemoryMap(memory.size);
  b.cmdline_addr = kCmdline;
  b.initrd_bytes = initrd.size();
  const bool elf = kernel.size() >= 4 && std::memcmp(kernel.data(), "\x7f" "ELF", 4) == 0;
  uint64_t cmdline_max = kCmdlineMax;
  // Parsed once: the checks below use it, and so does the load after them.
  std::optional<ElfKernel> elf_kernel;
  std::optional<BzImage> bz_kernel;
  if (elf) {
    const ElfKernel& k = elf_kernel.emplace(ParseElfKernel(kernel.data(), kernel.size(), kname));
    b.format = KernelFormat::kElfPvh;
    b.mode = EntryMode::kProtected32;
    b.entry = k.pvh_entry;
    b.kernel_start = k.lowest;
    b.kernel_end = k.highest;
    if (k.lowest < kHighMemory)
      throw BootError(kname + " loads below 1 MiB (at " + GuestMemory::Hex(k.lowest) +
                      "), over the boot structures: boot a Linux vmlinux");
    memory.Check(k.lowest, k.highest - k.lowest, "the kernel");
    if (!initrd.empty()) b.initrd_addr = PlaceInitrd(memory, k.highest, ~uint64_t{0}, initrd.size());
  } else {
    const BzImage& k = bz_kernel.emplace(ParseBzImage(kernel.data(), kernel.size(), kname));
    b.format = KernelFormat::kBzImage;
    b.mode = EntryMode::kLong64;
    b.entry = kBzImageLoad + 0x200;
    b.kernel_start = kBzImageLoad;
    b.kernel_end = BzImageEnd(k);
    b.boot_protocol = k.version;
    cmdline_max = std::min<uint64_t>(cmdline_max, uint64_t{k.cmdline_size} + 1);
    memory.Check(b.kernel_start, b.kernel_end - b.kernel_start, "the kernel and the room it decompresses into");
    if (!initrd.empty()) b.initrd_addr = PlaceInitrd(memory, b.kernel_end, uint64_t{k.initrd_addr_max} + 1, initrd.size());
  }
  if (config.cmdline.size() + 1 > cmdline_max)
    throw BootError("the kernel command line has " + std::to_string(config.cmdline.size()) + " bytes; this kernel takes at most " +
                    std::to_string(cmdline_max - 1));

  memory.Zero(kCmdline, cmdline_max, "the command line");
  memory.Write(kCmdline, config.cmdline.c_str(), config.cmdline.size() + 1, "the command line");
  if (!initrd.empty()) memory.Write(b.initrd_addr, initrd.data(), initrd.size(), "the initrd");
  WriteBootGdt(memory);
  if (elf) {
    LoadElfKernel(*elf_kernel, kernel.data(), memory);
    b.boot_info = WritePvhStartInfo(memory, b.e820, kCmdline, b.initrd_addr, b.initrd_bytes);
  } else {
    b.boot_info = LoadBzImage(*bz_kernel, kernel.data(), memory, b.e820, kCmdline, b.initrd_addr, b.initrd_bytes);
    WriteIdentityMap(memory);
  }
  return b;
}

void WriteBootGdt(const GuestMemory& memory) {
  const uint64_t tss = GUEST_TSS;
  const uint64_t gdt[6] = {
      0,
      0x00cf9b000000ffff,  // 0x08: 32-bit code, flat (PVH)
      0x00af9b000000ffff,  // 0x10: 64-bit code (__BOOT_CS)
      0x00cf93000000ffff,  // 0x18: data, flat (__BOOT_DS)
      0x67 | ((tss & 0xffffff) << 16) | (uint64_t{0x8b} << 40) | (((tss >> 24) & 0xff) << 56),  // 0x20: busy TSS
      tss >> 32,
  };
  memory.Write(kBootGdt, gdt, sizeof gdt, "the GDT");
}

void WriteIdentityMap(const GuestMemory& memory) {
  memory.Zero(GUEST_PML4, 0x6000, "the page tables");
  memory.Put<uint64_t>(GUEST_PML4, GUEST_PDPT | kPageRw);
  for (uint64_t g = 0; g < 4; g++) {
    const uint64_t pd = GUEST_PD + g * 0x1000;
    memory.Put<uint64_t>(GUEST_PDPT + g * 8, pd | kPageRw);
    for (uint64_t e = 0; e < 512; e++) memory.Put<uint64_t>(pd + e * 8, ((g * 512 + e) * kTwoMiB) | kPageRw | kPageHuge);
  }
}

}  // namespace rondo_kvm
