// The built-in guests (guest.S): one position-independent blob with three entry points.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kvm/guest_abi.h"

extern "C" {
extern const uint8_t rondo_guest_begin[];
extern const uint8_t rondo_guest_end[];
extern const uint8_t rondo_guest_micro[];
extern const uint8_t rondo_guest_internal_error[];
extern const uint8_t rondo_guest_fail_entry[];
}

namespace rondo_kvm {

// The built-in guests, and Linux (loaded by linux_boot.h instead).
enum class GuestKind { kMicro, kInternalError, kFailEntry, kLinux };

inline size_t GuestCodeBytes() { return static_cast<size_t>(rondo_guest_end - rondo_guest_begin); }

// Guest physical address where a vCPU of this guest starts.
inline uint64_t GuestEntry(GuestKind kind) {
  const uint8_t* entry = kind == GuestKind::kMicro           ? rondo_guest_micro
                         : kind == GuestKind::kInternalError ? rondo_guest_internal_error
                                                             : rondo_guest_fail_entry;
  return GUEST_CODE + static_cast<uint64_t>(entry - rondo_guest_begin);
}

}  // namespace rondo_kvm
