// Guest physical memory as the loaders see it: one flat range from guest physical 0, every
// write bounds-checked (a kernel that does not fit is a BootError, never a stray write).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "kvm/errors.h"

namespace rondo_kvm {

struct GuestMemory {
  uint8_t* base = nullptr;
  uint64_t size = 0;

  bool Fits(uint64_t gpa, uint64_t bytes) const { return gpa <= size && bytes <= size - gpa; }

  void Check(uint64_t gpa, uint64_t bytes, const std::string& what) const {
    if (!Fits(gpa, bytes))
      throw BootError(what + " does not fit in guest memory (it needs up to " + Hex(gpa + bytes) +
                      ", the guest has " + std::to_string(size >> 20) + " MiB): give the VM more memory");
  }
  void Write(uint64_t gpa, const void* src, uint64_t bytes, const std::string& what) const {
    Check(gpa, bytes, what);
    if (bytes > 0) std::memcpy(base + gpa, src, bytes);
  }
  void Zero(uint64_t gpa, uint64_t bytes, const std::string& what) const {
    Check(gpa, bytes, what);
    if (bytes > 0) std::memset(base + gpa, 0, bytes);
  }
  // Little-endian store of an integer (the host is x86 too).
  template <typename T>
  void Put(uint64_t gpa, T value) const {
    Write(gpa, &value, sizeof value, "a boot structure");
  }

  static std::string Hex(uint64_t v) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    do {
      s.insert(s.begin(), digits[v & 15]);
      v >>= 4;
    } while (v != 0);
    return "0x" + s;
  }
};

}  // namespace rondo_kvm
