// Owned operating-system resources: a file descriptor (UniqueFd) and a memory mapping (Mapping),
// released when they go out of scope, movable and not copyable. Every fd and mmap of native/ is
// held by one of these, so an early return or a throw never leaks one and nothing closes twice.
#pragma once

#include <errno.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace rondo {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor held (errno is kept: callers report the error that brought them here).
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      const int saved = errno;
      ::close(fd_);
      errno = saved;
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

class Mapping {
 public:
  Mapping() = default;
  ~Mapping() { reset(); }
  Mapping(Mapping&& o) noexcept : addr_(o.addr_), size_(o.size_) {
    o.addr_ = nullptr;
    o.size_ = 0;
  }
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = o.addr_;
      size_ = o.size_;
      o.addr_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // mmap(nullptr, size, prot, flags, fd, offset); an empty Mapping, errno set, when it fails.
  static Mapping Map(size_t size, int prot, int flags, int fd, off_t offset = 0) {
    void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
    Mapping m;
    if (p != MAP_FAILED) {
      m.addr_ = p;
      m.size_ = size;
    }
    return m;
  }

  explicit operator bool() const { return addr_ != nullptr; }
  void* get() const { return addr_; }
  uint8_t* bytes() const { return static_cast<uint8_t*>(addr_); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(addr_);
  }
  size_t size() const { return size_; }
  // Unmaps (errno is kept, as for UniqueFd::reset).
  void reset() {
    if (addr_ != nullptr) {
      const int saved = errno;
      ::munmap(addr_, size_);
      errno = saved;
    }
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rondo
