// KVM binary statistics (KVM_GET_STATS_FD, Linux >= 5.14): the header and every descriptor are
// read once when the fd is opened; values are read on demand with one pread of the data block.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/raii.h"

namespace rondo_kvm {

struct StatDescriptor {
  std::string name;
  uint32_t flags = 0;
  int16_t exponent = 0;
  uint16_t size = 0;  // values: 1, or the number of buckets of a histogram
  uint32_t offset = 0;  // in bytes, from the start of the data block
  uint32_t bucket_size = 0;  // linear histograms only

  const char* type() const;  // cumulative, instant, peak, linear_hist, log_hist
  const char* unit() const;  // none, bytes, seconds, cycles, boolean
  int base() const;  // 10 or 2: the value is value * base^exponent in unit
  bool histogram() const;
};

class StatsFile {
 public:
  // KVM_GET_STATS_FD on a VM or vCPU fd; throws KvmError if the kernel refuses it.
  static std::unique_ptr<StatsFile> Open(int kvm_object_fd, const char* what);
  StatsFile(const StatsFile&) = delete;
  StatsFile& operator=(const StatsFile&) = delete;

  const std::string& id() const { return id_; }
  const std::vector<StatDescriptor>& descriptors() const { return descriptors_; }
  // One value per descriptor, in descriptor order; a histogram gives the sum of its buckets
  // (the number of samples it holds).
  std::vector<uint64_t> Read() const;
  // Every word of every descriptor, the descriptors one after the other in descriptor order
  // (Words(d) each: a histogram's buckets, a scalar's one value): what the capture plan's
  // slots (capture.h, StatSlot) index.
  std::vector<uint64_t> ReadWords() const;
  // Read() from ReadWords()'s result.
  static std::vector<uint64_t> SumPerDescriptor(const std::vector<StatDescriptor>& descs,
                                                const std::vector<uint64_t>& words);
  // The words a descriptor takes in ReadWords(): its size, at least 1.
  static uint32_t Words(const StatDescriptor& d) { return d.size == 0 ? 1 : d.size; }

 private:
  explicit StatsFile(rondo::UniqueFd fd) : fd_(std::move(fd)) {}
  rondo::UniqueFd fd_;
  std::string id_;
  std::vector<StatDescriptor> descriptors_;
  uint64_t data_offset_ = 0;
  size_t data_bytes_ = 0;
};

}  // namespace rondo_kvm
