// The `code` of every error the addons throw on purpose, defined once. The store addon exports
// its list (format.errorCodes) and the KVM addon its own (errorCodes); src/errors.ts maps the
// store's codes to named errors, src/kvm/vm.ts the KVM layer's, and src/store/native.ts checks
// at load that the addon and the TypeScript side know the same store codes.
#pragma once

namespace rondo::codes {

// The store (native/addon.cc, native/rondo/) and the bench/test helpers (native/testing.cc,
// native/bench.cc).
inline constexpr char kCorrupt[] = "RONDO_CORRUPT";  // a file that is not a valid slab
inline constexpr char kIo[] = "RONDO_IO";            // the OS refused a file operation
inline constexpr char kLocked[] = "RONDO_LOCKED";    // another process holds the store's lock
inline constexpr char kArg[] = "RONDO_ARG";          // an argument out of range or of the wrong type
inline constexpr char kClosed[] = "RONDO_CLOSED";    // a slab used after close()
inline constexpr const char* kStore[] = {kCorrupt, kIo, kLocked, kArg, kClosed};

// The KVM layer (native/kvm/), besides kArg.
inline constexpr char kNoKvm[] = "RONDO_NO_KVM";  // no usable /dev/kvm
inline constexpr char kKvm[] = "RONDO_KVM";       // a KVM call failed
inline constexpr char kState[] = "RONDO_STATE";   // the VM used out of order
inline constexpr char kBoot[] = "RONDO_BOOT";     // a kernel or initrd the loaders refuse
// kCorrupt and kIo: a store's slab file the native capture (native/kvm/capture.h) cannot map.
inline constexpr const char* kKvmLayer[] = {kNoKvm, kKvm, kState, kBoot, kArg, kCorrupt, kIo};

}  // namespace rondo::codes
