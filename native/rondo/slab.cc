// rondo slab: see slab.h.
//
// Portability. Built and tested on Linux (x64, g++ 12). The calls that differ elsewhere are
// behind #if, each with a POSIX fallback; on macOS (untested here) that means:
//  - posix_fallocate does not exist: blocks are reserved with fcntl(F_PREALLOCATE) instead
//    (Reserve below), and a filesystem that cannot reserve is not an error, as on Linux;
//  - fsync does not reach the disk platter: the header of a new slab is synced with
//    fcntl(F_FULLFSYNC), falling back to fsync (SyncFile below); Flush() is msync(MS_SYNC),
//    which on macOS writes the pages but does not flush the drive's cache;
//  - cpu_relax is `yield` on arm64 (Apple silicon), `pause` on x86;
//  - std::atomic_ref (slab.h) needs libc++ 19 or later (Xcode 16.3 or later); older ones stop
//    the build with a message saying so;
//  - binding.gyp's xcode_settings (exceptions on, C++20, macOS 11 or later) have not been tried,
//    and its asan variable sets Linux flags only.
// No other call here is Linux-only: open (O_CLOEXEC, O_NONBLOCK), fstat, ftruncate, pwrite,
// rename, unlink, mmap(MAP_SHARED), msync, munmap are POSIX; so are those of the dev addon
// (native/testing.cc, native/bench.cc: clock_gettime(CLOCK_REALTIME), O_EXCL, mmap) and of the
// lock (native/addon.cc: flock, or a POSIX fcntl lock where there is none).
#include "slab.h"
#include "sigbus.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace rondo {

namespace {

constexpr int kReaderRetries = 10000;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
// The largest cell: every aggregate, as float64 (count, padding, five values).
constexpr uint32_t kMaxCellBytes = 48;
constexpr uint32_t kMaxCellWords = kMaxCellBytes / 8;

// Format 1, for MigrateV1: a 4096-byte header whose bytes 0..123 are laid out as format 2's
// (cell_words at 20 instead of cell bytes), the crc32 of them at 124, the counters at 128..167;
// then rows of [stamp f64][seq u64][cells], a cell being one f64 (raw) or five (sum, count, min,
// max, last).
constexpr uint32_t kV1Version = 1;
constexpr uint32_t kV1HeaderBytes = 4096;
constexpr uint32_t kV1RawCellWords = 1;
constexpr uint32_t kV1ConsolidatedCellWords = 5;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The seqlock read of a raw row r, the one way every reader here reads a raw row: `read()` copies
// what it needs out of the row, and the copy holds if the row's sequence was even and did not
// move across it. SeqlockTry makes one try and does not branch on the row (a read that raced a
// writer is thrown away); SeqlockRead tries until the copy holds, waiting out a claim, and gives
// up (false) on a row that never settles (its writer died mid-claim).
template <typename Read>
inline bool SeqlockTry(const double* r, Read&& read) {
  const auto seq = Word(r + kRowSeqWord);
  const uint64_t s1 = seq.load(std::memory_order_acquire);
  read();
  std::atomic_thread_fence(std::memory_order_acquire);
  return ((s1 & 1) | (s1 ^ seq.load(std::memory_order_relaxed))) == 0;
}

template <typename Read>
inline bool SeqlockRead(const double* r, Read&& read) {
  for (int attempt = 0; attempt < kReaderRetries; attempt++) {
    if (SeqlockTry(r, read)) return true;
    cpu_relax();
  }
  return false;
}

// The same for a consolidated row, whose tag is its seqlock: `read(tag)` copies what it needs
// (knowing which bucket the row held when the read began), and the copy holds if the tag was not
// busy and did not change across it (a publication changes the tag's generation even when it
// writes the same bucket again).
template <typename Read>
inline bool TagTry(const uint8_t* r, Read&& read) {
  const auto tag = Word(r);
  const uint64_t t1 = tag.load(std::memory_order_acquire);
  read(t1);
  std::atomic_thread_fence(std::memory_order_acquire);
  return ((t1 & kTagBusy) | (t1 ^ tag.load(std::memory_order_relaxed))) == 0;
}

template <typename Read>
inline bool TagRead(const uint8_t* r, Read&& read) {
  for (int attempt = 0; attempt < kReaderRetries; attempt++) {
    if (TagTry(r, read)) return true;
    cpu_relax();
  }
  return false;
}

// Copies n 8-byte words out of (or into) mapped memory, each an atomic load (store).
inline void LoadWords(const uint8_t* from, uint64_t* to, size_t n) {
  for (size_t i = 0; i < n; i++) to[i] = Word(from + 8 * i).load(std::memory_order_relaxed);
}
inline void StoreWords(uint8_t* to, const uint8_t* from, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t w;
    std::memcpy(&w, from + 8 * i, 8);
    Word(to + 8 * i).store(w, std::memory_order_relaxed);
  }
}

// Reserves the blocks of a new file's first `bytes` bytes, so that a full disk is an error when
// the slab is made, not a SIGBUS on a later write through the mapping. 0, or an errno; a
// filesystem that cannot reserve ahead is not an error.
int Reserve(int fd, off_t bytes) {
#if defined(__APPLE__)
  fstore_t st = {};
  st.fst_flags = F_ALLOCATEALL;
  st.fst_posmode = F_PEOFPOSMODE;
  st.fst_offset = 0;
  st.fst_length = bytes;
  if (::fcntl(fd, F_PREALLOCATE, &st) == 0) return 0;
  return errno == ENOTSUP || errno == EINVAL ? 0 : errno;
#else
  const int e = ::posix_fallocate(fd, 0, bytes);
  return e == EOPNOTSUPP || e == EINVAL ? 0 : e;
#endif
}

// Makes what was written to fd durable: 0, or -1 with errno.
int SyncFile(int fd) {
#if defined(__APPLE__)
  if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
#endif
  return ::fsync(fd);
}

template <typename T>
T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);  // the header is little-endian; so are our targets
  return v;
}
template <typename T>
void put(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

inline uint64_t bits_of(double d) { return std::bit_cast<uint64_t>(d); }

std::string errno_text(const char* call, const std::string& path) {
  return std::string(call) + " " + path + ": " + std::strerror(errno);
}

bool plausible_stamp(double s, uint32_t slot, uint32_t slots) {
  if (s == 0) return true;
  if (!(s > 0) || s > 9007199254740992.0 || s != std::floor(s)) return false;
  return static_cast<uint64_t>(s) % slots == slot;
}

bool plausible_tag(uint64_t tag, uint32_t slot, uint32_t slots) {
  const uint64_t b = tag >> kTagBucketShift;
  return b == 0 || (b <= kMaxBucket && b % slots == slot);
}

// The layout of a raw tier's cells, as the header records it.
CellLayout RawLayout() {
  CellLayout l;
  l.value_bytes = 8;
  l.cell_bytes = kRawCellBytes;
  return l;
}

uint64_t row_bytes_for(TierKind kind, const CellLayout& l, uint32_t max_series) {
  if (kind == TierKind::kRaw) return 8ull * (kRowHeaderWords + static_cast<uint64_t>(max_series));
  return kConsolidatedRowHeaderBytes + static_cast<uint64_t>(l.cell_bytes) * max_series;
}

// ---- consolidated cells ----

// What a bucket of one column adds up to while it is consolidated.
struct Acc {
  double sum = 0, count = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double last = kNaN;
};

inline double LoadValue(const uint8_t* p, uint32_t value_bytes) {
  if (value_bytes == 4) return static_cast<double>(get<float>(p, 0));
  return get<double>(p, 0);
}
inline void PutValue(uint8_t* p, uint32_t value_bytes, double v) {
  if (value_bytes == 4)
    put<float>(p, 0, static_cast<float>(v));
  else
    put<double>(p, 0, v);
}

// A cell that holds no point, whatever its column's kind: every 4-byte part the empty float32
// (so every float32 and float64 in it is NaN, a counter's last included) and the count 0.
void EncodeEmpty(const CellLayout& l, uint8_t* cell) {
  for (uint32_t i = 0; i < l.cell_bytes; i += 4) put<uint32_t>(cell, i, kEmptyF32Bits);
  if (l.keeps(kCount)) put<uint32_t>(cell, l.offset[kCount], 0);
}

// A gauge's bucket: its aggregates, or an empty cell when it has no point (count 0).
void EncodeGauge(const CellLayout& l, uint8_t* cell, const Acc& a) {
  EncodeEmpty(l, cell);
  if (!(a.count > 0)) return;
  const uint32_t vb = l.value_bytes;
  if (l.keeps(kAvg)) PutValue(cell + l.offset[kAvg], vb, a.sum / a.count);
  if (l.keeps(kMin)) PutValue(cell + l.offset[kMin], vb, a.min);
  if (l.keeps(kMax)) PutValue(cell + l.offset[kMax], vb, a.max);
  if (l.keeps(kSum)) PutValue(cell + l.offset[kSum], vb, a.sum);
  if (l.keeps(kLast)) PutValue(cell + l.offset[kLast], vb, a.last);
  if (l.keeps(kCount))
    put<uint32_t>(cell, l.offset[kCount], a.count >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(a.count));
}

// A counter's bucket: its last value (the running total), a float64 at 0; NaN when missing.
void EncodeCounter(const CellLayout& l, uint8_t* cell, double last) {
  EncodeEmpty(l, cell);
  put<double>(cell, 0, last);
}

// The kept value field a gauge's cell is tested by when its tier keeps no count: present when
// it is not NaN (a bucket is written whole or as missing, and recorded values are never NaN).
uint32_t PresenceField(const CellLayout& l) {
  for (uint32_t a : {kAvg, kMin, kMax, kSum, kLast})
    if (l.keeps(a)) return a;
  return kCount;
}

}  // namespace

bool MakeCellLayout(uint32_t aggregates, uint32_t value_bytes, CellLayout* out) {
  if (aggregates == 0 || (aggregates & ~kAllAggregates) != 0 || (value_bytes != 4 && value_bytes != 8))
    return false;
  CellLayout l;
  l.aggregates = aggregates;
  l.value_bytes = value_bytes;
  uint32_t at = 0;
  if (l.keeps(kCount)) {
    l.offset[kCount] = 0;
    at = 4;
  }
  if (value_bytes == 8 && at % 8 != 0) at += 8 - at % 8;
  for (uint32_t a : {kAvg, kMin, kMax, kSum, kLast}) {
    if (!l.keeps(a)) continue;
    l.offset[a] = static_cast<uint8_t>(at);
    at += value_bytes;
  }
  // A counter's float64 needs 8 bytes; cells are whole 8-byte words.
  l.cell_bytes = std::max<uint32_t>(8, (at + 7) / 8 * 8);
  *out = l;
  return true;
}

namespace {

uint32_t Crc32Update(uint32_t c, const uint8_t* data, size_t n) {
  static uint32_t table[256];
  static bool ready = [] {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t v = i;
      for (int j = 0; j < 8; j++) v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
      table[i] = v;
    }
    return true;
  }();
  (void)ready;
  c ^= 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t n) { return Crc32Update(0, data, n); }

uint32_t HeaderCrc(const uint8_t* header) {
  return Crc32Update(Crc32(header, kOffCrc), header + kOffLayout, kLayoutEnd - kOffLayout);
}

namespace {

// The header of a new slab (counters zero).
void BuildHeader(uint8_t* header, const SlabParams& p, const CellLayout& l, uint64_t rb, uint64_t total) {
  std::memset(header, 0, kHeaderBytes);
  std::memcpy(header + kOffMagic, kMagic, 8);
  put<uint32_t>(header, kOffVersion, kFormatVersion);
  put<uint32_t>(header, kOffHeaderBytes, kHeaderBytes);
  put<uint32_t>(header, kOffKind, static_cast<uint32_t>(p.kind));
  put<uint32_t>(header, kOffCellBytes, l.cell_bytes);
  put<uint32_t>(header, kOffMaxSeries, p.max_series);
  put<uint32_t>(header, kOffSlots, p.slots);
  put<uint64_t>(header, kOffIntervalMs, p.interval_ms);
  put<uint64_t>(header, kOffRowBytes, rb);
  put<uint64_t>(header, kOffDataOffset, kHeaderBytes);
  put<uint64_t>(header, kOffFileBytes, total);
  put<uint64_t>(header, kOffCreatedMs, p.created_ms);
  put<uint32_t>(header, kOffTierIndex, p.tier_index);
  std::memcpy(header + kOffSchemaName, p.schema_name.data(), p.schema_name.size());
  put<uint32_t>(header, kOffRowHeaderBytes,
                p.kind == TierKind::kRaw ? static_cast<uint32_t>(8 * kRowHeaderWords)
                                         : static_cast<uint32_t>(kConsolidatedRowHeaderBytes));
  put<uint32_t>(header, kOffValueBytes, l.value_bytes);
  put<uint32_t>(header, kOffAggregates, l.aggregates);
  std::memcpy(header + kOffFieldOffsets, l.offset, kAggCount);
  put<uint32_t>(header, kOffCrc, HeaderCrc(header));
}

// Checks create parameters and makes their cell layout; std::invalid_argument if out of bounds.
CellLayout CheckParams(const SlabParams& p, const std::string& path) {
  CellLayout l = RawLayout();
  if (p.max_series == 0 || p.max_series > kMaxSeriesLimit || p.slots == 0 ||
      p.slots > kMaxSlotsLimit || p.interval_ms == 0 || p.interval_ms > kMaxIntervalMs ||
      p.schema_name.size() >= kSchemaNameBytes || p.file_mode > kMaxFileMode ||
      (p.kind != TierKind::kRaw && p.kind != TierKind::kConsolidated) ||
      (p.kind == TierKind::kConsolidated && !MakeCellLayout(p.aggregates, p.value_bytes, &l)))
    throw std::invalid_argument("slab parameters out of range for " + path);
  return l;
}

// A new slab file at `tmp` (created, truncated, its blocks reserved, sized, its header written),
// open for reading and writing. On failure the file is removed and SlabIoError thrown.
UniqueFd CreateFile(const std::string& tmp, const SlabParams& p, const CellLayout& l, uint64_t rb,
                    uint64_t total) {
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, p.file_mode));
  if (!fd) throw SlabIoError(errno_text("open", tmp));
  auto fail = [&](const char* call) {
    std::string e = errno_text(call, tmp);
    fd.reset();
    ::unlink(tmp.c_str());
    throw SlabIoError(e);
  };
  if (const int e = Reserve(fd.get(), static_cast<off_t>(total)); e != 0) {
    errno = e;
    fail("reserving blocks (posix_fallocate)");
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) fail("ftruncate");
  uint8_t header[kHeaderBytes];
  BuildHeader(header, p, l, rb, total);
  const ssize_t w = ::pwrite(fd.get(), header, kHeaderBytes, 0);
  if (w != static_cast<ssize_t>(kHeaderBytes)) {
    if (w >= 0) errno = EIO;  // a short write
    fail("write");
  }
  return fd;
}

// Syncs and closes a file made by CreateFile and renames it over `path`; removes it on failure.
void Commit(UniqueFd fd, const std::string& tmp, const std::string& path) {
  if (SyncFile(fd.get()) != 0) {
    std::string e = errno_text("fsync", tmp);
    fd.reset();
    ::unlink(tmp.c_str());
    throw SlabIoError(e);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = errno_text("rename", tmp);
    ::unlink(tmp.c_str());
    throw SlabIoError(e);
  }
}

}  // namespace

namespace detail {

UniqueFd OpenToMap(const std::string& path, bool ro, size_t min_bytes, const char* what, size_t* size) {
  // O_NONBLOCK: a FIFO planted at a slab's name must be refused, not waited on (it has no
  // effect on a regular file, and the descriptor is closed once the file is mapped).
  UniqueFd fd(::open(path.c_str(), (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == EISDIR) throw CorruptSlab(path + ": a directory, not " + what + " file");
    throw SlabIoError(errno_text("open", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw SlabIoError(errno_text("fstat", path));
  if (!S_ISREG(st.st_mode))
    throw CorruptSlab(path + ": not a regular file (a directory, FIFO, device or socket)");
  *size = static_cast<size_t>(st.st_size);
  if (*size < min_bytes)
    throw CorruptSlab(path + ": file is " + std::to_string(*size) +
                      " bytes, shorter than " + what + " header (" + std::to_string(min_bytes) + ")");
  return fd;
}

}  // namespace detail

std::shared_ptr<Slab> Slab::Open(const std::string& path, OpenMode mode,
                                 const SlabParams* create_params) {
  std::shared_ptr<Slab> s(new Slab());
  s->path_ = path;
  s->read_only_ = mode == OpenMode::kReadOnly;

  if (mode == OpenMode::kCreate) {
    const SlabParams& p = *create_params;
    const CellLayout l = CheckParams(p, path);
    const uint64_t rb = row_bytes_for(p.kind, l, p.max_series);
    const uint64_t total = kHeaderBytes + rb * p.slots;
    // Build the file under a temporary name and rename it into place, so a crash never leaves
    // a half-made slab under the real name.
    const std::string tmp = path + ".tmp";
    Commit(CreateFile(tmp, p, l, rb, total), tmp, path);
  }

  const bool ro = s->read_only_;
  size_t file_size = 0;
  UniqueFd fd = detail::OpenToMap(path, ro, kHeaderBytes, "a slab", &file_size);
  s->map_ = Mapping::Map(file_size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
  if (!s->map_) throw SlabIoError(errno_text("mmap", path));
  s->sigbus_.Cover(s->map_.get(), s->map_.size(), !ro);
  // The mapping outlives the descriptor; keeping no fd open means nothing to leak.
  fd.reset();
  s->Validate(file_size);
  if (mode == OpenMode::kReadWrite || mode == OpenMode::kCreate) s->Repair();
#if defined(__linux__)
  // Validate and Repair read every row, which mapped the whole file into this process (its RSS);
  // only the rows used from now on need to be. The pages stay in the page cache (MAP_SHARED).
  ::madvise(s->map_.get(), s->map_.size(), MADV_DONTNEED);
#endif
  return s;
}

Slab::~Slab() = default;

bool Slab::damaged() const { return sigbus_.damaged(); }

void Slab::ThrowIfDamaged() const {
  if (damaged())
    throw CorruptSlab(path_ + ": the file was cut short (truncated) while this process had it mapped; " +
                      "what was recorded in it is lost and this process no longer writes or reads it");
}

void Slab::CheckSize() const {
  struct stat st;
  if (!damaged() && ::stat(path_.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) < map_.size())
    sigbus_.Mark();
  ThrowIfDamaged();
}

std::atomic<uint32_t>* Slab::damage_flag() const { return sigbus_.flag(); }

void Slab::Validate(size_t file_size) {
  const uint8_t* h = base();
  auto bad = [&](const std::string& why) { throw CorruptSlab(path_ + ": " + why); };
  if (std::memcmp(h + kOffMagic, kMagic, 8) != 0) bad("not a rondo slab (bad magic)");
  const uint32_t version = get<uint32_t>(h, kOffVersion);
  if (version != kFormatVersion)
    bad("slab format version " + std::to_string(version) + ", this build reads version " +
        std::to_string(kFormatVersion));
  if (get<uint32_t>(h, kOffCrc) != HeaderCrc(h)) bad("header checksum mismatch");
  if (get<uint32_t>(h, kOffHeaderBytes) != kHeaderBytes ||
      get<uint64_t>(h, kOffDataOffset) != kHeaderBytes)
    bad("unexpected header size or data offset");
  const uint32_t kind = get<uint32_t>(h, kOffKind);
  if (kind != 0 && kind != 1) bad("unknown tier kind");
  params_.kind = static_cast<TierKind>(kind);
  params_.max_series = get<uint32_t>(h, kOffMaxSeries);
  params_.slots = get<uint32_t>(h, kOffSlots);
  params_.interval_ms = get<uint64_t>(h, kOffIntervalMs);
  params_.tier_index = get<uint32_t>(h, kOffTierIndex);
  params_.created_ms = get<uint64_t>(h, kOffCreatedMs);
  const char* name = reinterpret_cast<const char*>(h + kOffSchemaName);
  params_.schema_name.assign(name, strnlen(name, kSchemaNameBytes));
  if (params_.max_series == 0 || params_.max_series > kMaxSeriesLimit || params_.slots == 0 ||
      params_.slots > kMaxSlotsLimit || params_.interval_ms == 0)
    bad("header fields out of range");
  // The cell layout must be the one its aggregates and value size make.
  CellLayout l = RawLayout();
  const uint32_t aggs = get<uint32_t>(h, kOffAggregates);
  const uint32_t vb = get<uint32_t>(h, kOffValueBytes);
  const bool layout_ok =
      consolidated() ? MakeCellLayout(aggs, vb, &l) &&
                           get<uint32_t>(h, kOffRowHeaderBytes) == kConsolidatedRowHeaderBytes
                     : aggs == 0 && vb == 8 && get<uint32_t>(h, kOffRowHeaderBytes) == 8 * kRowHeaderWords;
  if (!layout_ok || get<uint32_t>(h, kOffCellBytes) != l.cell_bytes ||
      std::memcmp(h + kOffFieldOffsets, l.offset, kAggCount) != 0)
    bad("unknown cell layout");
  for (size_t i = kOffFieldOffsets + kAggCount; i < kLayoutEnd; i++)
    if (h[i] != 0) bad("unknown cell layout");
  layout_ = l;
  params_.aggregates = l.aggregates;
  params_.value_bytes = l.value_bytes;
  const uint64_t rb = row_bytes_for(params_.kind, l, params_.max_series);
  if (get<uint64_t>(h, kOffRowBytes) != rb) bad("row size does not match the series count");
  row_bytes_ = rb;
  const uint64_t expected = kHeaderBytes + rb * params_.slots;
  if (get<uint64_t>(h, kOffFileBytes) != expected || file_size != expected)
    bad("file is " + std::to_string(file_size) + " bytes, its header says " +
        std::to_string(expected) + " (truncated or extended)");
  for (uint32_t slot = 0; slot < params_.slots; slot++) {
    const bool ok = consolidated()
                        ? plausible_tag(Word(row_at(slot)).load(std::memory_order_acquire), slot, params_.slots)
                        : plausible_stamp(stamp_load(row(slot)), slot, params_.slots);
    if (!ok) bad("row " + std::to_string(slot) + " has an impossible interval stamp");
  }
}

// Only the writer (holding the store lock) runs this. A raw row whose seqlock is odd was being
// claimed when a writer died. If its stamp is 0 the row was cut off while being cleared: clear
// it. Otherwise its cells are whole (the old lap, or the new interval whose stamp is only
// published after the clear), so only the seqlock needs closing. A consolidated row whose tag is
// busy was cut off while a bucket was written into it: its cells are a mix of two buckets, so it
// is emptied (the next consolidate() fills the bucket again).
void Slab::Repair() {
  uint64_t newest = 0;
  if (consolidated()) {
    uint8_t empty[kMaxCellBytes];
    EncodeEmpty(layout_, empty);
    for (uint32_t slot = 0; slot < params_.slots; slot++) {
      uint8_t* r = row_at(slot);
      const auto tag = Word(r);
      const uint64_t t = tag.load(std::memory_order_acquire);
      if (t & kTagBusy) {
        for (uint32_t c = 0; c < params_.max_series; c++)
          StoreWords(r + kConsolidatedRowHeaderBytes + static_cast<size_t>(c) * layout_.cell_bytes, empty,
                     layout_.cell_bytes / 8);
        tag.store(0, std::memory_order_release);
        counter(kOffRepairs).fetch_add(1, std::memory_order_relaxed);
      }
      const uint64_t b = tag_bucket(tag.load(std::memory_order_acquire));
      if (b > newest) newest = b;
    }
  } else {
    for (uint32_t slot = 0; slot < params_.slots; slot++) {
      double* r = row(slot);
      const auto seq = Word(r + kRowSeqWord);
      const uint64_t q = seq.load(std::memory_order_acquire);
      if (q & 1) {
        if (stamp_load(r) == 0)
          for (size_t w = kRowHeaderWords; w < row_words(); w++) cell_store(r + w, kNaN);
        seq.store(q + 1, std::memory_order_release);
        counter(kOffRepairs).fetch_add(1, std::memory_order_relaxed);
      }
      const double s = stamp_load(r);
      if (s > 0 && static_cast<uint64_t>(s) > newest) newest = static_cast<uint64_t>(s);
    }
  }
  // The head is written after the stamp; a crash between the two leaves it behind.
  counter(kOffHead).store(newest, std::memory_order_release);
}

ClaimResult Slab::Claim(uint64_t k) {
  double* r = row(slot_of(k));
  const auto seq = Word(r + kRowSeqWord);
  const auto stamp = Word(r + kRowStampWord);
  const double kd = static_cast<double>(k);
  if (k == 0) {  // interval 0 would look like an empty row
    count_late();
    return ClaimResult::kLate;
  }
  for (;;) {
    double cur = stamp_load(r);
    if (cur == kd) return ClaimResult::kOk;
    // Older than the ring (its slot may hold an even older lap or nothing): a late write too.
    if (cur > kd || k + params_.slots <= head()) {
      count_late();
      return ClaimResult::kLate;
    }
    uint64_t e = seq.load(std::memory_order_acquire);
    if (e & 1) {
      cpu_relax();
      continue;
    }
    if (!seq.compare_exchange_weak(e, e + 1, std::memory_order_acq_rel)) continue;
    // We own the row. Another claimer may have finished between our stamp load and the CAS.
    cur = stamp_load(r);
    if (cur >= kd) {
      seq.store(e + 2, std::memory_order_release);
      if (cur == kd) return ClaimResult::kOk;
      count_late();
      return ClaimResult::kLate;
    }
    // Hide the old lap first, so fast-path writers of the old interval stop matching it (and
    // those that already stored see the change when they look again, and take it back),
    // then clear every cell, and only then publish the new interval.
    stamp.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (size_t w = kRowHeaderWords; w < row_words(); w++) cell_store(r + w, kNaN);
    stamp.store(bits_of(kd), std::memory_order_release);
    seq.store(e + 2, std::memory_order_release);
    auto head = counter(kOffHead);
    uint64_t h = head.load(std::memory_order_relaxed);
    while (k > h && !head.compare_exchange_weak(h, k, std::memory_order_acq_rel)) {
    }
    counter(kOffClaims).fetch_add(1, std::memory_order_relaxed);
    return ClaimResult::kOk;
  }
}

ClaimResult Slab::Retract(double* cell, double value) {
  uint64_t expected = bits_of(value);
  const uint64_t nan = bits_of(kNaN);
  Word(cell).compare_exchange_strong(expected, nan, std::memory_order_acq_rel);
  count_late();
  return ClaimResult::kLate;
}

double Slab::CellValue(const uint8_t* cell, uint32_t agg, bool counter) const {
  if (counter) return get<double>(cell, 0);
  const CellLayout& l = layout_;
  if (agg >= kAggCount) return kNaN;
  if (l.keeps(agg)) {
    if (agg == kCount) {
      const uint32_t c = get<uint32_t>(cell, l.offset[kCount]);
      return c == 0 ? kNaN : static_cast<double>(c);
    }
    return LoadValue(cell + l.offset[agg], l.value_bytes);
  }
  if (agg == kAvg && l.keeps(kSum) && l.keeps(kCount)) {
    const uint32_t c = get<uint32_t>(cell, l.offset[kCount]);
    return c == 0 ? kNaN : LoadValue(cell + l.offset[kSum], l.value_bytes) / c;
  }
  return kNaN;
}

void Slab::ReadColumn(uint32_t col, uint32_t agg, bool counter, uint64_t k0, uint32_t n,
                      double* out) const {
  // The ring's shape in locals (the atomics below would otherwise reload them every row), and
  // each row read in one try that does not branch on its data; a row caught mid-claim (odd or
  // moved sequence, busy or moved tag) is read again, waiting for it to settle.
  const uint32_t slots = params_.slots;
  uint32_t slot = slot_of(k0);
  if (!consolidated()) {
    const size_t rw = row_words();
    const double* const data = row(0);
    const size_t cell_off = kRowHeaderWords + col;
    double kd = static_cast<double>(k0);
    for (uint32_t i = 0; i < n; i++, kd += 1) {
      const double* r = data + static_cast<size_t>(slot) * rw;
      double stamp = 0, cell = kNaN;
      const auto read = [&] {
        stamp = stamp_load(r);
        cell = cell_load(r + cell_off);
      };
      double v = kNaN;
      if (__builtin_expect(SeqlockTry(r, read), 1) || SeqlockRead(r, read))
        v = stamp == kd ? cell : kNaN;
      out[i] = v;
      if (++slot == slots) slot = 0;
    }
    return;
  }
  const size_t cb = layout_.cell_bytes;
  const size_t words = cb / 8;
  const size_t cell_off = kConsolidatedRowHeaderBytes + static_cast<size_t>(col) * cb;
  uint64_t buf[kMaxCellWords];
  uint64_t k = k0;
  for (uint32_t i = 0; i < n; i++, k++) {
    const uint8_t* r = row_at(slot);
    uint64_t tag = 0;
    const auto read = [&](uint64_t t) {
      tag = t;
      LoadWords(r + cell_off, buf, words);
    };
    double v = kNaN;
    if ((__builtin_expect(TagTry(r, read), 1) || TagRead(r, read)) && tag_bucket(tag) == k)
      v = CellValue(reinterpret_cast<const uint8_t*>(buf), agg, counter);
    out[i] = v;
    if (++slot == slots) slot = 0;
  }
}

void Slab::ReadRawSpan(uint32_t col, uint64_t k0, uint32_t n, double* ts, double* values) const {
  // ReadColumn's loop, with the timestamps written as it goes and only the rows the ring can
  // hold read: [oldest, head] as of one load of the head.
  const uint32_t slots = params_.slots;
  const uint64_t last = head();  // 0, below first, when the ring is empty
  const uint64_t first = last >= slots ? last - slots + 1 : 1;
  const double step = static_cast<double>(params_.interval_ms);
  const size_t rw = row_words();
  const double* const data = row(0);
  const size_t cell_off = kRowHeaderWords + col;  // raw cells are one word
  uint32_t slot = slot_of(k0);
  double kd = static_cast<double>(k0);
  for (uint32_t i = 0; i < n; i++, kd += 1) {
    const uint64_t k = k0 + i;
    ts[i] = kd * step;  // integers below 2^53: exact
    double v = kNaN;
    if (k >= first && k <= last) {
      const double* r = data + static_cast<size_t>(slot) * rw;
      double stamp = 0, cell = kNaN;
      const auto read = [&] {
        stamp = stamp_load(r);
        cell = cell_load(r + cell_off);
      };
      if (__builtin_expect(SeqlockTry(r, read), 1) || SeqlockRead(r, read)) v = stamp == kd ? cell : kNaN;
    }
    values[i] = v;
    if (++slot == slots) slot = 0;
  }
}

uint32_t Slab::ReadRows(uint64_t k0, uint32_t n, uint32_t ncols, uint32_t agg, const uint8_t* kinds,
                        double* out) const {
  uint32_t present = 0;
  uint32_t slot = slot_of(k0);
  std::vector<uint64_t> buf(consolidated() ? static_cast<size_t>(ncols) * layout_.cell_bytes / 8 : 0);
  for (uint32_t i = 0; i < n; i++) {
    const uint64_t k = k0 + i;
    double* o = out + static_cast<size_t>(i) * ncols;
    bool match = false;
    bool settled;
    if (!consolidated()) {
      const double* r = row(slot);
      const double kd = static_cast<double>(k);
      settled = SeqlockRead(r, [&] {
        match = stamp_load(r) == kd;
        if (match)
          for (uint32_t c = 0; c < ncols; c++) o[c] = cell_load(r + kRowHeaderWords + c);
      });
    } else {
      const uint8_t* r = row_at(slot);
      settled = TagRead(r, [&](uint64_t t) {
        match = tag_bucket(t) == k;
        if (match) LoadWords(r + kConsolidatedRowHeaderBytes, buf.data(), buf.size());
      });
      if (settled && match) {
        const uint8_t* cells = reinterpret_cast<const uint8_t*>(buf.data());
        for (uint32_t c = 0; c < ncols; c++)
          o[c] = CellValue(cells + static_cast<size_t>(c) * layout_.cell_bytes, agg,
                           kinds != nullptr && kinds[c] != 0);
      }
    }
    if (settled && match) {
      present++;
    } else {
      for (uint32_t c = 0; c < ncols; c++) o[c] = kNaN;
    }
    if (++slot == params_.slots) slot = 0;
  }
  return present;
}

bool Slab::ReadCell(uint32_t col, uint64_t k, bool counter, double out[kAggCount]) const {
  for (uint32_t a = 0; a < kAggCount; a++) out[a] = kNaN;
  if (!consolidated()) {
    const double* r = row(slot_of(k));
    const double kd = static_cast<double>(k);
    bool match = false;
    double v = kNaN;
    const bool settled = SeqlockRead(r, [&] {
      match = stamp_load(r) == kd;
      v = cell_load(r + kRowHeaderWords + col);
    });
    if (!settled || !match) return false;
    out[0] = v;
    return true;
  }
  const uint8_t* r = row_at(slot_of(k));
  const size_t cb = layout_.cell_bytes;
  uint64_t buf[kMaxCellWords];
  uint64_t tag = 0;
  const bool settled = TagRead(r, [&](uint64_t t) {
    tag = t;
    LoadWords(r + kConsolidatedRowHeaderBytes + static_cast<size_t>(col) * cb, buf, cb / 8);
  });
  if (!settled || tag_bucket(tag) != k) return false;
  const uint8_t* cell = reinterpret_cast<const uint8_t*>(buf);
  if (counter) {
    out[kLast] = get<double>(cell, 0);
  } else {
    for (uint32_t a = 0; a < kAggCount; a++) out[a] = CellValue(cell, a, false);
  }
  return true;
}

bool Slab::Derives(const Slab& src) const {
  if (!src.consolidated()) return true;
  const CellLayout& d = layout_;
  const CellLayout& s = src.layout_;
  for (uint32_t a : {kMin, kMax, kLast})
    if (d.keeps(a) && !s.keeps(a)) return false;
  const bool value = s.keeps(kSum) || s.keeps(kAvg);
  if ((d.keeps(kSum) || d.keeps(kAvg)) && !value) return false;
  return true;
}

void Slab::ConsolidateBucket(const Slab& src, uint64_t b, uint32_t ncols, double xff,
                             double expected_points, const uint8_t* kinds) {
  const uint64_t ratio = params_.interval_ms / src.params_.interval_ms;
  const uint64_t k0 = b * ratio;
  const bool raw = !src.consolidated();
  const CellLayout& sl = src.layout_;
  const uint32_t scb = sl.cell_bytes;
  // Raw points in a full bucket of the source (1 for the raw tier).
  const double full = raw ? 1.0 : expected_points / static_cast<double>(ratio);
  const uint32_t presence = raw ? 0 : PresenceField(sl);
  std::vector<Acc> acc(ncols);
  std::vector<uint64_t> buf(raw ? ncols : static_cast<size_t>(ncols) * scb / 8);
  const uint8_t* cells = reinterpret_cast<const uint8_t*>(buf.data());
  for (uint64_t k = k0; k < k0 + ratio; k++) {
    // The whole row of interval k at once, consistently.
    bool match = false;
    bool settled;
    if (raw) {
      const double* r = src.row(src.slot_of(k));
      const double kd = static_cast<double>(k);
      settled = SeqlockRead(r, [&] {
        match = stamp_load(r) == kd;
        if (match) LoadWords(reinterpret_cast<const uint8_t*>(r + kRowHeaderWords), buf.data(), ncols);
      });
    } else {
      const uint8_t* r = src.row_at(src.slot_of(k));
      settled = TagRead(r, [&](uint64_t t) {
        match = tag_bucket(t) == k;
        if (match) LoadWords(r + kConsolidatedRowHeaderBytes, buf.data(), buf.size());
      });
    }
    if (!settled || !match) continue;
    for (uint32_t c = 0; c < ncols; c++) {
      Acc& a = acc[c];
      if (raw) {
        const double v = std::bit_cast<double>(buf[c]);
        if (std::isnan(v)) continue;
        a.sum += v;
        a.count += 1;
        if (v < a.min) a.min = v;
        if (v > a.max) a.max = v;
        a.last = v;
        continue;
      }
      const uint8_t* cell = cells + static_cast<size_t>(c) * scb;
      if (kinds[c] != 0) {
        const double v = get<double>(cell, 0);
        if (std::isnan(v)) continue;
        a.count += full;
        a.last = v;
        continue;
      }
      double n = full;
      if (sl.keeps(kCount)) {
        n = get<uint32_t>(cell, sl.offset[kCount]);
        if (!(n > 0)) continue;
      } else if (std::isnan(LoadValue(cell + sl.offset[presence], sl.value_bytes))) {
        continue;
      }
      a.count += n;
      if (sl.keeps(kSum))
        a.sum += LoadValue(cell + sl.offset[kSum], sl.value_bytes);
      else if (sl.keeps(kAvg))
        a.sum += LoadValue(cell + sl.offset[kAvg], sl.value_bytes) * n;
      if (sl.keeps(kMin)) a.min = std::min(a.min, LoadValue(cell + sl.offset[kMin], sl.value_bytes));
      if (sl.keeps(kMax)) a.max = std::max(a.max, LoadValue(cell + sl.offset[kMax], sl.value_bytes));
      if (sl.keeps(kLast)) a.last = LoadValue(cell + sl.offset[kLast], sl.value_bytes);
    }
  }
  std::vector<uint8_t> row(static_cast<size_t>(ncols) * layout_.cell_bytes);
  for (uint32_t c = 0; c < ncols; c++) {
    Acc& a = acc[c];
    const double missing = 1.0 - a.count / expected_points;
    if (!(a.count > 0 && missing <= xff + 1e-12)) a = Acc{};
    uint8_t* cell = row.data() + static_cast<size_t>(c) * layout_.cell_bytes;
    if (kinds[c] != 0)
      EncodeCounter(layout_, cell, a.count > 0 ? a.last : kNaN);
    else
      EncodeGauge(layout_, cell, a);
  }
  Publish(b, row.data(), ncols);
}

// Writes a whole consolidated row for bucket k inside the row's seqlock: readers see the bucket
// complete or not at all. Refused (counted) if the slot holds a newer bucket.
ClaimResult Slab::Publish(uint64_t k, const uint8_t* cells, uint32_t ncols) {
  uint8_t* r = row_at(slot_of(k));
  const auto tag = Word(r);
  uint64_t t;
  for (;;) {
    t = tag.load(std::memory_order_acquire);
    if (t & kTagBusy) {
      cpu_relax();
      continue;
    }
    if (tag.compare_exchange_weak(t, t | kTagBusy, std::memory_order_acq_rel)) break;
  }
  const uint64_t cur = tag_bucket(t);
  if (cur > k || k + params_.slots <= head()) {
    tag.store(t, std::memory_order_release);
    count_late();
    return ClaimResult::kLate;
  }
  std::atomic_thread_fence(std::memory_order_release);
  const size_t cb = layout_.cell_bytes;
  uint8_t* data = r + kConsolidatedRowHeaderBytes;
  StoreWords(data, cells, static_cast<size_t>(ncols) * cb / 8);
  uint8_t empty[kMaxCellBytes];
  EncodeEmpty(layout_, empty);
  for (uint32_t c = ncols; c < params_.max_series; c++) StoreWords(data + static_cast<size_t>(c) * cb, empty, cb / 8);
  const uint64_t gen = (((t >> kTagGenShift) & kTagGenMask) + 1) & kTagGenMask;
  tag.store((k << kTagBucketShift) | (gen << kTagGenShift), std::memory_order_release);
  if (cur != k) {
    auto head_ref = counter(kOffHead);
    uint64_t h = head_ref.load(std::memory_order_relaxed);
    while (k > h && !head_ref.compare_exchange_weak(h, k, std::memory_order_acq_rel)) {
    }
    counter(kOffClaims).fetch_add(1, std::memory_order_relaxed);
  }
  return ClaimResult::kOk;
}

void Slab::Flush() {
  if (!read_only_ && ::msync(map_.get(), map_.size(), MS_SYNC) != 0)
    throw SlabIoError(errno_text("msync", path_));
}

void Slab::MigrateV1(const std::string& path, const SlabParams& p, const uint8_t* kinds,
                     uint32_t nkinds, const std::string& dest) {
  const std::string& out = dest.empty() ? path : dest;
  const CellLayout l = CheckParams(p, path);
  size_t size = 0;
  UniqueFd in = detail::OpenToMap(path, true, kV1HeaderBytes, "a slab", &size);
  Mapping old = Mapping::Map(size, PROT_READ, MAP_SHARED, in.get());
  if (!old) throw SlabIoError(errno_text("mmap", path));
  in.reset();
  const uint8_t* h = old.bytes();
  auto bad = [&](const std::string& why) { throw CorruptSlab(path + ": " + why); };
  // The checks format 1 made on open.
  if (std::memcmp(h + kOffMagic, kMagic, 8) != 0) bad("not a rondo slab (bad magic)");
  if (get<uint32_t>(h, kOffVersion) != kV1Version)
    bad("slab format version " + std::to_string(get<uint32_t>(h, kOffVersion)) + ", not the version 1 being migrated");
  if (get<uint32_t>(h, kOffCrc) != Crc32(h, kOffCrc)) bad("header checksum mismatch");
  if (get<uint32_t>(h, kOffHeaderBytes) != kV1HeaderBytes || get<uint64_t>(h, kOffDataOffset) != kV1HeaderBytes)
    bad("unexpected header size or data offset");
  const uint32_t kind = get<uint32_t>(h, kOffKind);
  const uint32_t cw = get<uint32_t>(h, kOffCellBytes);  // cell words, in format 1
  if (!((kind == 0 && cw == kV1RawCellWords) || (kind == 1 && cw == kV1ConsolidatedCellWords)))
    bad("unknown tier kind or cell size");
  const uint32_t ms = get<uint32_t>(h, kOffMaxSeries);
  const uint32_t slots = get<uint32_t>(h, kOffSlots);
  const char* name = reinterpret_cast<const char*>(h + kOffSchemaName);
  if (kind != static_cast<uint32_t>(p.kind) || ms != p.max_series || slots != p.slots ||
      get<uint64_t>(h, kOffIntervalMs) != p.interval_ms || get<uint32_t>(h, kOffTierIndex) != p.tier_index ||
      std::string(name, strnlen(name, kSchemaNameBytes)) != p.schema_name)
    bad("does not match its schema and tier (a different or swapped slab)");
  const uint64_t rb1 = 8ull * (kRowHeaderWords + static_cast<uint64_t>(cw) * ms);
  const uint64_t expected = kV1HeaderBytes + rb1 * slots;
  if (get<uint64_t>(h, kOffRowBytes) != rb1 || get<uint64_t>(h, kOffFileBytes) != expected || size != expected)
    bad("file is " + std::to_string(size) + " bytes, its header says " + std::to_string(expected) +
        " (truncated or extended)");
  const uint8_t* rows1 = h + kV1HeaderBytes;
  for (uint32_t slot = 0; slot < slots; slot++)
    if (!plausible_stamp(get<double>(rows1, slot * rb1), slot, slots))
      bad("row " + std::to_string(slot) + " has an impossible interval stamp");

  const uint64_t rb2 = row_bytes_for(p.kind, l, p.max_series);
  const uint64_t total = kHeaderBytes + rb2 * slots;
  const std::string tmp = out + ".tmp";
  UniqueFd fd = CreateFile(tmp, p, l, rb2, total);
  {
    Mapping m = Mapping::Map(total, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
    if (!m) {
      std::string e = errno_text("mmap", tmp);
      fd.reset();
      ::unlink(tmp.c_str());
      throw SlabIoError(e);
    }
    uint8_t* n = m.bytes();
    for (size_t off : {kOffHead, kOffLateWrites, kOffClaims, kOffCursor, kOffRepairs})
      put<uint64_t>(n, off, get<uint64_t>(h, off));
    uint8_t* rows2 = n + kHeaderBytes;
    if (p.kind == TierKind::kRaw) {
      std::memcpy(rows2, rows1, rb1 * slots);  // the same rows, after a smaller header
    } else {
      for (uint32_t slot = 0; slot < slots; slot++) {
        const uint8_t* r1 = rows1 + slot * rb1;
        uint8_t* r2 = rows2 + slot * rb2;
        const double stamp = get<double>(r1, 0);
        if (stamp == 0) continue;  // empty: the tag 0 of a new file
        put<uint64_t>(r2, 0, static_cast<uint64_t>(stamp) << kTagBucketShift);
        for (uint32_t c = 0; c < ms; c++) {
          const uint8_t* c1 = r1 + 8 * (kRowHeaderWords + static_cast<size_t>(c) * cw);
          uint8_t* c2 = r2 + kConsolidatedRowHeaderBytes + static_cast<size_t>(c) * l.cell_bytes;
          Acc a;
          a.count = get<double>(c1, 8);
          if (!(a.count > 0)) a = Acc{};  // no point, or a column with no series yet
          else {
            a.sum = get<double>(c1, 0);
            a.min = get<double>(c1, 16);
            a.max = get<double>(c1, 24);
            a.last = get<double>(c1, 32);
          }
          if (c >= nkinds)
            EncodeEmpty(l, c2);
          else if (kinds[c] != 0)
            EncodeCounter(l, c2, a.count > 0 ? a.last : kNaN);
          else
            EncodeGauge(l, c2, a);
        }
      }
    }
    if (::msync(m.get(), m.size(), MS_SYNC) != 0) {
      std::string e = errno_text("msync", tmp);
      fd.reset();
      ::unlink(tmp.c_str());
      throw SlabIoError(e);
    }
  }
  Commit(std::move(fd), tmp, out);
}

ClaimResult Writer::RecordSlow(uint32_t col, uint64_t ts_ms, double value) {
  // A slab whose file was cut short holds no data: refuse (a vCPU thread must not throw).
  if (slab_->damaged()) return ClaimResult::kLate;
  if (col >= slab_->params().max_series) throw std::out_of_range("rondo::Writer: column out of range");
  const uint64_t iv = slab_->params().interval_ms;
  const uint64_t k = ts_ms / iv;
  ClaimResult c = slab_->Record(col, k, value);
  if (c == ClaimResult::kOk && static_cast<double>(k) >= kd_) {
    start_ = k * iv;
    end_ = start_ + iv;
    kd_ = static_cast<double>(k);
    row_ = slab_->row(slab_->slot_of(k));
  }
  return c;
}

}  // namespace rondo
