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

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace rondo {

namespace {

constexpr int kReaderRetries = 10000;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The seqlock read of row r, the one way every reader here reads a row: `read()` copies what it
// needs out of the row, and the copy holds if the row's sequence was even and did not move
// across it. SeqlockTry makes one try and does not branch on the row (a read that raced a writer
// is thrown away); SeqlockRead tries until the copy holds, waiting out a claim, and gives up
// (false) on a row that never settles (its writer died mid-claim).
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

uint64_t row_bytes_for(uint32_t cell_words, uint32_t max_series) {
  return 8ull * (kRowHeaderWords + static_cast<uint64_t>(cell_words) * max_series);
}

bool plausible_stamp(double s, uint32_t slot, uint32_t slots) {
  if (s == 0) return true;
  if (!(s > 0) || s > 9007199254740992.0 || s != std::floor(s)) return false;
  return static_cast<uint64_t>(s) % slots == slot;
}

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t n) {
  static uint32_t table[256];
  static bool ready = [] {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int j = 0; j < 8; j++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)ready;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::shared_ptr<Slab> Slab::Open(const std::string& path, OpenMode mode,
                                 const SlabParams* create_params) {
  std::shared_ptr<Slab> s(new Slab());
  s->path_ = path;
  s->read_only_ = mode == OpenMode::kReadOnly;

  if (mode == OpenMode::kCreate) {
    const SlabParams& p = *create_params;
    if (p.max_series == 0 || p.max_series > kMaxSeriesLimit || p.slots == 0 ||
        p.slots > kMaxSlotsLimit || p.interval_ms == 0 || p.interval_ms > kMaxIntervalMs ||
        p.schema_name.size() >= kSchemaNameBytes || p.file_mode > kMaxFileMode)
      throw std::invalid_argument("slab parameters out of range for " + path);
    const uint32_t cw = p.kind == TierKind::kRaw ? kRawCellWords : kConsolidatedCellWords;
    const uint64_t rb = row_bytes_for(cw, p.max_series);
    const uint64_t total = kHeaderBytes + rb * p.slots;
    // Build the file under a temporary name and rename it into place, so a crash never leaves
    // a half-made slab under the real name.
    const std::string tmp = path + ".tmp";
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
    uint8_t header[kHeaderBytes] = {};
    std::memcpy(header + kOffMagic, kMagic, 8);
    put<uint32_t>(header, kOffVersion, kFormatVersion);
    put<uint32_t>(header, kOffHeaderBytes, kHeaderBytes);
    put<uint32_t>(header, kOffKind, static_cast<uint32_t>(p.kind));
    put<uint32_t>(header, kOffCellWords, cw);
    put<uint32_t>(header, kOffMaxSeries, p.max_series);
    put<uint32_t>(header, kOffSlots, p.slots);
    put<uint64_t>(header, kOffIntervalMs, p.interval_ms);
    put<uint64_t>(header, kOffRowBytes, rb);
    put<uint64_t>(header, kOffDataOffset, kHeaderBytes);
    put<uint64_t>(header, kOffFileBytes, total);
    put<uint64_t>(header, kOffCreatedMs, p.created_ms);
    put<uint32_t>(header, kOffTierIndex, p.tier_index);
    std::memcpy(header + kOffSchemaName, p.schema_name.data(), p.schema_name.size());
    put<uint32_t>(header, kOffCrc, Crc32(header, kOffCrc));
    const ssize_t w = ::pwrite(fd.get(), header, kHeaderBytes, 0);
    if (w != static_cast<ssize_t>(kHeaderBytes)) {
      if (w >= 0) errno = EIO;  // a short write
      fail("write");
    }
    if (SyncFile(fd.get()) != 0) fail("fsync");
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      std::string e = errno_text("rename", tmp);
      ::unlink(tmp.c_str());
      throw SlabIoError(e);
    }
  }

  const bool ro = s->read_only_;
  // O_NONBLOCK: a FIFO planted at a slab's name must be refused, not waited on (it has no
  // effect on a regular file, and the descriptor is closed once the file is mapped).
  UniqueFd fd(::open(path.c_str(), (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == EISDIR) throw CorruptSlab(path + ": a directory, not a slab file");
    throw SlabIoError(errno_text("open", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw SlabIoError(errno_text("fstat", path));
  if (!S_ISREG(st.st_mode))
    throw CorruptSlab(path + ": not a regular file (a directory, FIFO, device or socket)");
  const size_t file_size = static_cast<size_t>(st.st_size);
  if (file_size < kHeaderBytes)
    throw CorruptSlab(path + ": file is " + std::to_string(file_size) +
                      " bytes, shorter than a slab header (" + std::to_string(kHeaderBytes) + ")");
  s->map_ = Mapping::Map(file_size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
  if (!s->map_) throw SlabIoError(errno_text("mmap", path));
  // The mapping outlives the descriptor; keeping no fd open means nothing to leak.
  fd.reset();
  s->Validate(file_size);
  if (mode == OpenMode::kReadWrite || mode == OpenMode::kCreate) s->Repair();
  return s;
}

void Slab::Validate(size_t file_size) {
  const uint8_t* h = base();
  auto bad = [&](const std::string& why) { throw CorruptSlab(path_ + ": " + why); };
  if (std::memcmp(h + kOffMagic, kMagic, 8) != 0) bad("not a rondo slab (bad magic)");
  const uint32_t version = get<uint32_t>(h, kOffVersion);
  if (version != kFormatVersion)
    bad("slab format version " + std::to_string(version) + ", this build reads version " +
        std::to_string(kFormatVersion));
  if (get<uint32_t>(h, kOffCrc) != Crc32(h, kOffCrc)) bad("header checksum mismatch");
  if (get<uint32_t>(h, kOffHeaderBytes) != kHeaderBytes ||
      get<uint64_t>(h, kOffDataOffset) != kHeaderBytes)
    bad("unexpected header size or data offset");
  const uint32_t kind = get<uint32_t>(h, kOffKind);
  const uint32_t cw = get<uint32_t>(h, kOffCellWords);
  if (!((kind == 0 && cw == kRawCellWords) || (kind == 1 && cw == kConsolidatedCellWords)))
    bad("unknown tier kind or cell size");
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
  cell_words_ = cw;
  const uint64_t rb = row_bytes_for(cw, params_.max_series);
  if (get<uint64_t>(h, kOffRowBytes) != rb) bad("row size does not match the series count");
  row_words_ = rb / 8;
  const uint64_t expected = kHeaderBytes + rb * params_.slots;
  if (get<uint64_t>(h, kOffFileBytes) != expected || file_size != expected)
    bad("file is " + std::to_string(file_size) + " bytes, its header says " +
        std::to_string(expected) + " (truncated or extended)");
  for (uint32_t slot = 0; slot < params_.slots; slot++) {
    const double s = stamp_load(row(slot));
    if (!plausible_stamp(s, slot, params_.slots))
      bad("row " + std::to_string(slot) + " has an impossible interval stamp");
  }
}

// Only the writer (holding the store lock) runs this. A row whose seqlock is odd was being
// claimed or filled when a writer died. If its stamp is 0 the row was cut off while being
// cleared or filled: clear it. Otherwise its cells are whole (the old lap, or the new interval
// whose stamp is only published after the clear), so only the seqlock needs closing.
void Slab::Repair() {
  uint64_t newest = 0;
  for (uint32_t slot = 0; slot < params_.slots; slot++) {
    double* r = row(slot);
    const auto seq = Word(r + kRowSeqWord);
    const uint64_t q = seq.load(std::memory_order_acquire);
    if (q & 1) {
      if (stamp_load(r) == 0)
        for (size_t w = kRowHeaderWords; w < row_words_; w++) cell_store(r + w, kNaN);
      seq.store(q + 1, std::memory_order_release);
      counter(kOffRepairs).fetch_add(1, std::memory_order_relaxed);
    }
    const double s = stamp_load(r);
    if (s > 0 && static_cast<uint64_t>(s) > newest) newest = static_cast<uint64_t>(s);
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
    for (size_t w = kRowHeaderWords; w < row_words_; w++) cell_store(r + w, kNaN);
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

bool Slab::ReadCellsConsistent(uint64_t k, uint32_t col, uint32_t first_word, uint32_t nwords,
                               double* out) const {
  const double* r = row(slot_of(k));
  const double kd = static_cast<double>(k);
  const double* cell = r + kRowHeaderWords + static_cast<size_t>(col) * cell_words_ + first_word;
  bool match = false;
  const bool settled = SeqlockRead(r, [&] {
    match = stamp_load(r) == kd;
    if (match)
      for (uint32_t i = 0; i < nwords; i++) out[i] = cell_load(cell + i);
  });
  return settled && match;  // a row that never settles (its writer died mid-claim) reads as missing
}

void Slab::ReadColumn(uint32_t col, uint32_t field, uint64_t k0, uint32_t n, double* out) const {
  // The ring's shape in locals (the atomics below would otherwise reload them every row), and
  // each row read in one try that does not branch on its data; a row caught mid-claim (odd or
  // moved sequence) is read again, waiting for it to settle.
  const uint32_t slots = params_.slots;
  const size_t rw = row_words_;
  const double* const data = row(0);
  const size_t cell_off = kRowHeaderWords + static_cast<size_t>(col) * cell_words_ + field;
  uint32_t slot = slot_of(k0);
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
}

void Slab::ReadRawSpan(uint32_t col, uint64_t k0, uint32_t n, double* ts, double* values) const {
  // ReadColumn's loop, with the timestamps written as it goes and only the rows the ring can
  // hold read: [oldest, head] as of one load of the head.
  const uint32_t slots = params_.slots;
  const uint64_t last = head();  // 0, below first, when the ring is empty
  const uint64_t first = last >= slots ? last - slots + 1 : 1;
  const double step = static_cast<double>(params_.interval_ms);
  const size_t rw = row_words_;
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

uint32_t Slab::ReadRows(uint64_t k0, uint32_t n, uint32_t ncols, double* out) const {
  const size_t words = static_cast<size_t>(ncols) * cell_words_;
  uint32_t present = 0;
  uint32_t slot = slot_of(k0);
  for (uint32_t i = 0; i < n; i++) {
    const double* r = row(slot);
    const double kd = static_cast<double>(k0 + i);
    double* o = out + i * words;
    bool match = false;
    const bool settled = SeqlockRead(r, [&] {
      match = stamp_load(r) == kd;
      if (match)
        for (size_t w = 0; w < words; w++) o[w] = cell_load(r + kRowHeaderWords + w);
    });
    if (settled && match) {
      present++;
    } else {
      for (size_t w = 0; w < words; w++) o[w] = kNaN;
    }
    if (++slot == params_.slots) slot = 0;
  }
  return present;
}

bool Slab::ReadCell(uint32_t col, uint64_t k, double* out) const {
  return ReadCellsConsistent(k, col, 0, cell_words_, out);
}

void Slab::ConsolidateBucket(const Slab& src, uint64_t b, uint32_t ncols, double xff,
                             double expected_points) {
  const uint64_t ratio = params_.interval_ms / src.params_.interval_ms;
  const uint64_t k0 = b * ratio;
  const bool raw = src.params_.kind == TierKind::kRaw;
  const uint32_t scw = src.cell_words_;
  std::vector<double> acc(static_cast<size_t>(ncols) * kConsolidatedCellWords);
  for (uint32_t c = 0; c < ncols; c++) {
    double* a = &acc[c * kConsolidatedCellWords];
    a[kSum] = 0;
    a[kCount] = 0;
    a[kMin] = std::numeric_limits<double>::infinity();
    a[kMax] = -std::numeric_limits<double>::infinity();
    a[kLast] = kNaN;
  }
  std::vector<double> cell(scw);
  for (uint64_t k = k0; k < k0 + ratio; k++) {
    for (uint32_t c = 0; c < ncols; c++) {
      if (!src.ReadCellsConsistent(k, c, 0, scw, cell.data())) continue;
      double* a = &acc[c * kConsolidatedCellWords];
      if (raw) {
        const double v = cell[0];
        if (std::isnan(v)) continue;
        a[kSum] += v;
        a[kCount] += 1;
        if (v < a[kMin]) a[kMin] = v;
        if (v > a[kMax]) a[kMax] = v;
        a[kLast] = v;
      } else {
        if (!(cell[kCount] > 0)) continue;
        a[kSum] += cell[kSum];
        a[kCount] += cell[kCount];
        if (cell[kMin] < a[kMin]) a[kMin] = cell[kMin];
        if (cell[kMax] > a[kMax]) a[kMax] = cell[kMax];
        a[kLast] = cell[kLast];
      }
    }
  }
  for (uint32_t c = 0; c < ncols; c++) {
    double* a = &acc[c * kConsolidatedCellWords];
    const double missing = 1.0 - a[kCount] / expected_points;
    if (!(a[kCount] > 0 && missing <= xff + 1e-12)) {
      a[kSum] = a[kMin] = a[kMax] = a[kLast] = kNaN;
      a[kCount] = 0;
    }
  }
  Publish(b, acc.data(), ncols);
}

// Writes a whole consolidated row for interval k inside the seqlock: readers see the bucket
// complete or not at all. Refused (counted) if the slot holds a newer interval.
ClaimResult Slab::Publish(uint64_t k, const double* cells, uint32_t ncols) {
  double* r = row(slot_of(k));
  const auto seq = Word(r + kRowSeqWord);
  const auto stamp = Word(r + kRowStampWord);
  const double kd = static_cast<double>(k);
  uint64_t e;
  for (;;) {
    e = seq.load(std::memory_order_acquire);
    if (e & 1) {
      cpu_relax();
      continue;
    }
    if (seq.compare_exchange_weak(e, e + 1, std::memory_order_acq_rel)) break;
  }
  const double cur = stamp_load(r);
  if (cur > kd || k + params_.slots <= head()) {
    seq.store(e + 2, std::memory_order_release);
    count_late();
    return ClaimResult::kLate;
  }
  stamp.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  const size_t words = static_cast<size_t>(ncols) * cell_words_;
  for (size_t w = 0; w < words; w++) cell_store(r + kRowHeaderWords + w, cells[w]);
  for (size_t w = kRowHeaderWords + words; w < row_words_; w++) cell_store(r + w, kNaN);
  stamp.store(bits_of(kd), std::memory_order_release);
  seq.store(e + 2, std::memory_order_release);
  if (cur != kd) {
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

ClaimResult Writer::RecordSlow(uint32_t col, uint64_t ts_ms, double value) {
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
