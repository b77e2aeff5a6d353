// KVM binary statistics: see stats.h.
#include "kvm/stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kvm/errors.h"

namespace rondo_kvm {
namespace {

// Reads exactly n bytes at off, or throws.
void ReadAt(int fd, void* buf, size_t n, uint64_t off, const char* what) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw KvmError(ErrnoMessage(std::string("reading KVM stats ") + what, errno));
    if (r == 0) throw KvmError(std::string("KVM stats ") + what + ": short read");
    done += static_cast<size_t>(r);
  }
}

// The fixed part of a kvm_stats_desc. Not sizeof(kvm_stats_desc): in C++ the uapi's flexible
// `name` member is wrapped in a struct that has size 1, which would misplace every name.
struct RawDesc {
  uint32_t flags;
  int16_t exponent;
  uint16_t size;
  uint32_t offset;
  uint32_t bucket_size;
};
static_assert(sizeof(RawDesc) == 16 && offsetof(kvm_stats_desc, bucket_size) == 12,
              "kvm_stats_desc: 16 bytes before the name");

}  // namespace

const char* StatDescriptor::type() const {
  switch (flags & KVM_STATS_TYPE_MASK) {
    case KVM_STATS_TYPE_CUMULATIVE: return "cumulative";
    case KVM_STATS_TYPE_INSTANT: return "instant";
    case KVM_STATS_TYPE_PEAK: return "peak";
    case KVM_STATS_TYPE_LINEAR_HIST: return "linear_hist";
    case KVM_STATS_TYPE_LOG_HIST: return "log_hist";
    default: return "unknown";
  }
}

const char* StatDescriptor::unit() const {
  switch (flags & KVM_STATS_UNIT_MASK) {
    case KVM_STATS_UNIT_NONE: return "none";
    case KVM_STATS_UNIT_BYTES: return "bytes";
    case KVM_STATS_UNIT_SECONDS: return "seconds";
    case KVM_STATS_UNIT_CYCLES: return "cycles";
    case KVM_STATS_UNIT_BOOLEAN: return "boolean";
    default: return "unknown";
  }
}

int StatDescriptor::base() const { return (flags & KVM_STATS_BASE_MASK) == KVM_STATS_BASE_POW2 ? 2 : 10; }

bool StatDescriptor::histogram() const {
  const uint32_t t = flags & KVM_STATS_TYPE_MASK;
  return t == KVM_STATS_TYPE_LINEAR_HIST || t == KVM_STATS_TYPE_LOG_HIST;
}

std::unique_ptr<StatsFile> StatsFile::Open(int kvm_object_fd, const char* what) {
  rondo::UniqueFd owned(::ioctl(kvm_object_fd, KVM_GET_STATS_FD, nullptr));
  if (!owned) throw KvmError(ErrnoMessage(std::string("KVM_GET_STATS_FD on the ") + what, errno));
  const int fd = owned.get();
  std::unique_ptr<StatsFile> f(new StatsFile(std::move(owned)));

  kvm_stats_header h;
  ReadAt(fd, &h, sizeof h, 0, "header");
  // Bounds that no kernel comes near; a bigger header is not one we understand.
  if (h.name_size == 0 || h.name_size > 4096 || h.num_desc > 65536)
    throw KvmError(std::string("KVM stats header of the ") + what + " is not one this VMM understands");

  std::string id(h.name_size, '\0');
  ReadAt(fd, id.data(), id.size(), h.id_offset, "id");
  f->id_ = id.c_str();

  const size_t desc_bytes = sizeof(RawDesc) + h.name_size;
  std::vector<char> raw(desc_bytes * h.num_desc);
  if (!raw.empty()) ReadAt(fd, raw.data(), raw.size(), h.desc_offset, "descriptors");
  f->descriptors_.reserve(h.num_desc);
  uint64_t end = 0;
  for (uint32_t i = 0; i < h.num_desc; i++) {
    RawDesc d;
    std::memcpy(&d, raw.data() + i * desc_bytes, sizeof d);
    const char* name = raw.data() + i * desc_bytes + sizeof(RawDesc);
    StatDescriptor s;
    s.name.assign(name, strnlen(name, h.name_size));
    s.flags = d.flags;
    s.exponent = d.exponent;
    s.size = d.size;
    s.offset = d.offset;
    s.bucket_size = d.bucket_size;
    end = std::max<uint64_t>(end, static_cast<uint64_t>(d.offset) + uint64_t{d.size} * sizeof(uint64_t));
    f->descriptors_.push_back(std::move(s));
  }
  f->data_offset_ = h.data_offset;
  f->data_bytes_ = static_cast<size_t>(end);
  return f;
}

std::vector<uint64_t> StatsFile::Read() const { return SumPerDescriptor(descriptors_, ReadWords()); }

std::vector<uint64_t> StatsFile::ReadWords() const {
  std::vector<uint64_t> data((data_bytes_ + 7) / 8);
  if (data_bytes_ > 0) ReadAt(fd_.get(), data.data(), data_bytes_, data_offset_, "values");
  std::vector<uint64_t> words;
  for (const StatDescriptor& d : descriptors_) {
    for (uint32_t b = 0; b < Words(d); b++) {
      const size_t at = d.offset / 8 + b;
      words.push_back(b < d.size && at < data.size() ? data[at] : 0);
    }
  }
  return words;
}

std::vector<uint64_t> StatsFile::SumPerDescriptor(const std::vector<StatDescriptor>& descs,
                                                  const std::vector<uint64_t>& words) {
  std::vector<uint64_t> values;
  values.reserve(descs.size());
  size_t at = 0;
  for (const StatDescriptor& d : descs) {
    uint64_t v = 0;
    for (uint32_t b = 0; b < Words(d) && at < words.size(); b++) v += words[at++];
    values.push_back(v);
  }
  return values;
}

}  // namespace rondo_kvm
