// rondo slab: one fixed-size, memory-mapped ring of rows for one (schema, tier).
//
// This header is the C++ API that native code (the demo VMM's vCPU threads) uses to record
// without JavaScript. The byte layout is documented in docs/storage-format.md; the constants
// below are that layout, and the store addon exports them (format) for the TypeScript side.
//
// Mapped memory that other threads (or processes) use at the same time is only ever accessed
// through std::atomic_ref (C++20): g++ >= 10, or clang with libc++ >= 19 (Xcode 16.3 or later).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/raii.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the slab format is little-endian");
#if !defined(__cpp_lib_atomic_ref)
#error "rondo needs std::atomic_ref (C++20): g++ >= 10, or clang with libc++ >= 19 (Xcode 16.3 or later)"
#endif

namespace rondo {

constexpr char kMagic[8] = {'R', 'O', 'N', 'D', 'O', 'S', 'L', 'B'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kHeaderBytes = 4096;

// Header field offsets (bytes). Fields before kOffCrc are immutable and covered by the crc32.
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffHeaderBytes = 12;
constexpr size_t kOffKind = 16;
constexpr size_t kOffCellWords = 20;
constexpr size_t kOffMaxSeries = 24;
constexpr size_t kOffSlots = 28;
constexpr size_t kOffIntervalMs = 32;
constexpr size_t kOffRowBytes = 40;
constexpr size_t kOffDataOffset = 48;
constexpr size_t kOffFileBytes = 56;
constexpr size_t kOffCreatedMs = 64;
constexpr size_t kOffTierIndex = 72;
constexpr size_t kOffSchemaName = 80;  // 44 bytes, UTF-8, NUL-padded
constexpr size_t kSchemaNameBytes = 44;
constexpr size_t kOffCrc = 124;
// Mutable counters: 8-byte aligned, updated with atomics, not covered by the crc.
constexpr size_t kOffHead = 128;         // newest interval number claimed (u64)
constexpr size_t kOffLateWrites = 136;   // writes refused as older than their slot (u64)
constexpr size_t kOffClaims = 144;       // rows taken for a new interval (u64)
constexpr size_t kOffCursor = 152;       // consolidation: next bucket to fill (u64, 0 = none yet)
constexpr size_t kOffRepairs = 160;      // rows found mid-claim after a crash and cleared (u64)

// Row layout, in 8-byte words: [stamp f64][seq u64][cells...].
constexpr size_t kRowStampWord = 0;
constexpr size_t kRowSeqWord = 1;
constexpr size_t kRowHeaderWords = 2;

enum class TierKind : uint32_t { kRaw = 0, kConsolidated = 1 };
// Cell fields of a consolidated tier, in order.
enum Field : uint32_t { kSum = 0, kCount = 1, kMin = 2, kMax = 3, kLast = 4 };
constexpr uint32_t kRawCellWords = 1;
constexpr uint32_t kConsolidatedCellWords = 5;

// Bounds of the create parameters (SlabParams), checked by Open() and by the N-API glue.
constexpr uint32_t kMaxSeriesLimit = 1u << 20;
constexpr uint32_t kMaxSlotsLimit = 1u << 28;
constexpr uint64_t kMaxIntervalMs = (1ull << 53) - 1;  // exact in a double
constexpr uint64_t kMaxCreatedMs = (1ull << 53) - 1;
constexpr uint32_t kMaxFileMode = 0777;

// Lowest and highest interval number a timestamp may map to is the caller's business; the slab
// only needs stamps > 0 (0 marks an empty row).

struct SlabParams {
  TierKind kind = TierKind::kRaw;
  uint32_t max_series = 0;
  uint32_t slots = 0;
  uint64_t interval_ms = 0;
  uint32_t tier_index = 0;
  std::string schema_name;  // shorter than kSchemaNameBytes (the header keeps a NUL)
  uint64_t created_ms = 0;
  uint32_t file_mode = 0600;  // for kCreate
};

// kCreate: a new file. kReadWrite: the writer's open (it holds the store lock), which repairs
// rows left mid-claim by a crashed writer. kReadOnly: a reader's. kAttach: another read-write
// mapping of a slab that is already open read-write in this process (native writer threads of
// another addon, say), without the repair: writers may be at work in it. Mappings of one file in
// one process are coherent (MAP_SHARED), so what one writes the others see.
enum class OpenMode { kCreate, kReadWrite, kReadOnly, kAttach };

// Thrown for a file that is not a valid slab; `what()` names the file and the fault.
class CorruptSlab : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Thrown for an OS failure (open, mmap, ...); `what()` names the call, file and errno text.
class SlabIoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ClaimResult : int { kOk = 0, kLate = 1 };

// An 8-byte word of mapped memory, accessed atomically. `p` must be 8-byte aligned (every word
// of a slab is). Memory mapped read-only is only ever loaded from.
inline std::atomic_ref<uint64_t> Word(const void* p) {
  return std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(const_cast<void*>(p)));
}

class Slab {
 public:
  // Creates (kCreate: a new file, built under path + ".tmp" and renamed over path), or opens
  // and validates an existing slab file. Throws CorruptSlab, SlabIoError, or
  // std::invalid_argument for create parameters out of bounds.
  static std::shared_ptr<Slab> Open(const std::string& path, OpenMode mode,
                                    const SlabParams* create_params);
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  const SlabParams& params() const { return params_; }
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  uint8_t* base() const { return map_.bytes(); }
  size_t size() const { return map_.size(); }
  uint32_t cell_words() const { return cell_words_; }
  size_t row_words() const { return row_words_; }
  uint32_t slots() const { return params_.slots; }

  double* row(uint32_t slot) const {
    return reinterpret_cast<double*>(base() + kHeaderBytes) + static_cast<size_t>(slot) * row_words_;
  }
  uint32_t slot_of(uint64_t k) const { return static_cast<uint32_t>(k % params_.slots); }

  // Makes the row of interval number k (k > 0) hold k. Rows of an older lap are cleared (cells NaN)
  // before k becomes visible. kLate (and the late counter bumped) if the slot holds a newer one
  // or k is older than the ring (k + slots <= head).
  ClaimResult Claim(uint64_t k);

  // The steady-state write: a load, a compare and a store, then the stamp once more: if the row
  // was taken for a newer lap meanwhile (this thread was preempted, say), the value is taken
  // back and the write counts as late. Claims the row when needed.
  ClaimResult Record(uint32_t col, uint64_t k, double value) {
    double* r = row(slot_of(k));
    const double kd = static_cast<double>(k);
    if (stamp_load(r) != kd) {
      ClaimResult c = Claim(k);
      if (c != ClaimResult::kOk) return c;
    }
    double* cell = r + kRowHeaderWords + col;
    cell_store(cell, value);
    if (stamp_load(r) != kd) return Retract(cell, value);
    return ClaimResult::kOk;
  }

  // Takes back a value stored into a row that a newer lap took meanwhile (unless another writer
  // has stored over it since) and counts the write as late.
  ClaimResult Retract(double* cell, double value);

  // Reads `n` consecutive intervals starting at k0 for column `col`, field `field`
  // (0 for raw tiers), into out[0..n). Rows that do not hold their interval read as NaN.
  // Each row is read consistently (seqlock); a row that stays unstable reads as NaN.
  void ReadColumn(uint32_t col, uint32_t field, uint64_t k0, uint32_t n, double* out) const;

  // Tier 0 (a raw slab) only: intervals [k0, k0 + n) of column `col`, in one pass: ts[i] the
  // start of interval k0 + i (ms), values[i] its value, NaN where the row does not hold it or the
  // interval lies outside the ring (before the oldest, after the head: those rows are not read).
  // Each row read is read consistently (seqlock), as ReadColumn reads it.
  void ReadRawSpan(uint32_t col, uint64_t k0, uint32_t n, double* ts, double* values) const;

  // Reads rows [k0, k0 + n), columns [0, ncols), every cell word, into
  // out[(i * ncols + c) * cell_words + w]; a row not holding its interval reads as NaN.
  // Each row is read consistently. Returns how many rows were present.
  uint32_t ReadRows(uint64_t k0, uint32_t n, uint32_t ncols, double* out) const;

  // Reads the whole cell (cell_words values) of `col` for interval k; false if absent.
  bool ReadCell(uint32_t col, uint64_t k, double* out) const;

  // Newest interval number claimed (0 if none).
  uint64_t head() const { return counter(kOffHead).load(std::memory_order_acquire); }
  uint64_t late_writes() const { return counter(kOffLateWrites).load(std::memory_order_relaxed); }
  uint64_t claims() const { return counter(kOffClaims).load(std::memory_order_relaxed); }
  uint64_t repairs() const { return counter(kOffRepairs).load(std::memory_order_relaxed); }
  uint64_t cursor() const { return counter(kOffCursor).load(std::memory_order_acquire); }
  void set_cursor(uint64_t v) { counter(kOffCursor).store(v, std::memory_order_release); }
  void count_late() { counter(kOffLateWrites).fetch_add(1, std::memory_order_relaxed); }

  // Oldest interval number that can still be in the ring (0 when empty).
  uint64_t oldest() const {
    uint64_t h = head();
    return h == 0 ? 0 : (h >= params_.slots ? h - params_.slots + 1 : 1);
  }

  // Fills bucket `b` of this consolidated slab from `src` (a finer tier of the same schema),
  // for columns [0, ncols). `expected_points` is how many raw (tier 0) points a full bucket has;
  // a bucket whose missing fraction of them is above xff is stored as missing.
  void ConsolidateBucket(const Slab& src, uint64_t b, uint32_t ncols, double xff,
                         double expected_points);

  // Writes a whole row (ncols cells) for interval k inside the seqlock (consolidated tiers).
  ClaimResult Publish(uint64_t k, const double* cells, uint32_t ncols);

  void Flush();  // msync(MS_SYNC)

  static double stamp_load(const double* row) {
    return std::bit_cast<double>(Word(row + kRowStampWord).load(std::memory_order_acquire));
  }
  static void cell_store(double* cell, double v) {
    Word(cell).store(std::bit_cast<uint64_t>(v), std::memory_order_relaxed);
  }
  static double cell_load(const double* cell) {
    return std::bit_cast<double>(Word(cell).load(std::memory_order_relaxed));
  }

 private:
  Slab() = default;
  std::atomic_ref<uint64_t> counter(size_t off) const { return Word(base() + off); }
  void Validate(size_t file_size);
  void Repair();
  // Reads cell words [first_word, first_word + nwords) of `col` in the row of interval k,
  // consistently; false if the row does not hold k (or never settles).
  bool ReadCellsConsistent(uint64_t k, uint32_t col, uint32_t first_word, uint32_t nwords,
                           double* out) const;

  std::string path_;
  SlabParams params_;
  bool read_only_ = false;
  Mapping map_;
  uint32_t cell_words_ = 1;
  size_t row_words_ = 0;
};

// A per-thread writer for one slab: caches the current interval's row so that a record is a
// range check, a stamp compare and a store (no division). Not shared between threads.
class Writer {
 public:
  explicit Writer(std::shared_ptr<Slab> slab)
      : slab_(std::move(slab)), cols_(slab_->params().max_series) {}
  // Records value for column col at ts_ms (ms since the epoch). kLate if refused (too old, or
  // before the first interval); std::out_of_range for a column past max_series.
  ClaimResult Record(uint32_t col, uint64_t ts_ms, double value) {
    if (ts_ms >= start_ && ts_ms < end_ && col < cols_ && Slab::stamp_load(row_) == kd_) {
      double* cell = row_ + kRowHeaderWords + col;
      Slab::cell_store(cell, value);
      if (Slab::stamp_load(row_) == kd_) return ClaimResult::kOk;
      return slab_->Retract(cell, value);
    }
    return RecordSlow(col, ts_ms, value);
  }
  const std::shared_ptr<Slab>& slab() const { return slab_; }

 private:
  ClaimResult RecordSlow(uint32_t col, uint64_t ts_ms, double value);
  std::shared_ptr<Slab> slab_;
  uint32_t cols_;
  uint64_t start_ = 1, end_ = 0;
  double kd_ = -1;
  double* row_ = nullptr;
};

uint32_t Crc32(const uint8_t* data, size_t n);

}  // namespace rondo
