// Errors of the KVM layer. The glue turns them into coded JavaScript errors.
#pragma once
#include <cstring>
#include <stdexcept>
#include <string>

namespace rondo_kvm {

// No usable KVM: the device is missing, not accessible, or speaks another API (RONDO_NO_KVM).
class KvmUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A KVM call failed on a device that exists (RONDO_KVM).
class KvmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A kernel, initrd or command line the Linux loaders refuse: not a kernel, truncated, too big
// for guest memory (RONDO_BOOT). The message names the file and the way out.
class BootError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<what> failed: <strerror(errno)>", for KvmError messages.
inline std::string ErrnoMessage(const std::string& what, int err) {
  return what + " failed: " + std::strerror(err);
}

}  // namespace rondo_kvm
