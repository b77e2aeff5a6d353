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
#include "rondo/sigbus.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the slab format is little-endian");
#if !defined(__cpp_lib_atomic_ref)
#error "rondo needs std::atomic_ref (C++20): g++ >= 10, or clang with libc++ >= 19 (Xcode 16.3 or later)"
#endif

namespace rondo {

constexpr char kMagic[8] = {'R', 'O', 'N', 'D', 'O', 'S', 'L', 'B'};
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kHeaderBytes = 512;

// Header field offsets (bytes). The fields before kOffCrc and the cell layout block
// [kOffLayout, kLayoutEnd) are immutable and covered by the crc32; the counters between them are
// not (they stay where format 1 had them).
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffHeaderBytes = 12;
constexpr size_t kOffKind = 16;
constexpr size_t kOffCellBytes = 20;
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
// The cell layout (immutable, covered by the crc with bytes 0..123).
constexpr size_t kOffLayout = 168;
constexpr size_t kOffRowHeaderBytes = 168;  // u32: 16 (raw) or 8 (consolidated)
constexpr size_t kOffValueBytes = 172;      // u32: bytes of a gauge's value: 8 (raw, float64) or 4 (float32)
constexpr size_t kOffAggregates = 176;      // u32: bit a set when aggregate a is kept (0 for raw)
constexpr size_t kOffFieldOffsets = 180;    // u8[6]: byte offset in a gauge's cell of aggregate a, 0xFF if not kept
constexpr size_t kLayoutEnd = 192;          // 180 + 6 offsets, then 6 zero bytes

// Raw (tier 0) rows, in 8-byte words: [stamp f64][seq u64][cells f64...].
constexpr size_t kRowStampWord = 0;
constexpr size_t kRowSeqWord = 1;
constexpr size_t kRowHeaderWords = 2;
// Consolidated rows: [tag u64][cells...], the tag being the row's seqlock and its bucket:
// bucket << kTagBucketShift | generation << kTagGenShift | busy.
constexpr size_t kConsolidatedRowHeaderBytes = 8;
constexpr uint64_t kTagBusy = 1;
constexpr unsigned kTagGenShift = 1;
constexpr uint64_t kTagGenMask = 0x7F;  // 7 bits: a publication of the same bucket changes the tag
constexpr unsigned kTagBucketShift = 8;
constexpr uint64_t kMaxBucket = (1ull << 53) - 1;  // exact in a double, and fits the tag

enum class TierKind : uint32_t { kRaw = 0, kConsolidated = 1 };
// The aggregates a consolidated tier may keep; bit (1 << a) of the aggregates mask.
enum Agg : uint32_t { kAvg = 0, kMin = 1, kMax = 2, kSum = 3, kCount = 4, kLast = 5 };
constexpr uint32_t kAggCount = 6;
constexpr uint32_t kAllAggregates = (1u << kAggCount) - 1;
constexpr uint8_t kNotKept = 0xFF;
constexpr uint32_t kRawCellBytes = 8;
// What a cell reads as when it holds no point: a float32 NaN whose bits, as the high half of a
// counter's float64, also make a NaN (so an empty cell is missing whatever the column's kind).
constexpr uint32_t kEmptyF32Bits = 0x7FF80000u;
constexpr uint64_t kEmptyF64Bits = 0x7FF8000000000000ull;

// The layout of a consolidated tier's cell. A gauge's cell holds the kept aggregates: count (u32)
// at 0 if kept, then avg, min, max, sum, last, each a float32 or a float64 (value_bytes), aligned
// to its size; a counter's cell holds its last value as a float64 at 0. cell_bytes is the larger
// of the two, rounded up to 8.
struct CellLayout {
  uint32_t aggregates = 0;
  uint32_t value_bytes = 0;
  uint32_t cell_bytes = 0;
  uint8_t offset[kAggCount] = {kNotKept, kNotKept, kNotKept, kNotKept, kNotKept, kNotKept};
  bool keeps(uint32_t a) const { return (aggregates >> a) & 1; }
};
// The layout for a set of aggregates (a non-empty subset of kAllAggregates) and value size (4 or
// 8); false if either is out of range.
bool MakeCellLayout(uint32_t aggregates, uint32_t value_bytes, CellLayout* out);

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
  // Consolidated tiers: the aggregates kept (mask of 1 << Agg) and the bytes of a gauge's value
  // (4: float32, 8: float64). Raw tiers: 0 and 8.
  uint32_t aggregates = 0;
  uint32_t value_bytes = 8;
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
  // Rewrites a format-1 slab file as a format-2 one of the given parameters (which must describe
  // the same ring: kind, series, slots, interval, tier and schema), built under dest + ".tmp" and
  // renamed to dest (path itself when dest is empty; the format-1 file is only read). Consolidated cells keep the aggregates of `p`, made from format 1's sum,
  // count, min, max and last; `kinds` says which columns are counters (kinds[c] != 0), which
  // keep their last value; columns from nkinds on hold no series. Raw rows are copied as they
  // are, and so are the header's counters. Throws CorruptSlab (not a valid format-1 slab, or
  // not the one described), SlabIoError, std::invalid_argument.
  static void MigrateV1(const std::string& path, const SlabParams& p, const uint8_t* kinds,
                        uint32_t nkinds, const std::string& dest = std::string());
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;
  ~Slab();

  // True once the file was found cut short under the mapping (a SIGBUS caught in it, see
  // sigbus.h, or CheckSize()): the mapping then holds zero pages, and what it holds is no data.
  bool damaged() const;
  // Throws CorruptSlab, naming the file, when damaged().
  void ThrowIfDamaged() const;
  // Compares the file's size with the mapping's (a stat: for the rare calls, flush and the like)
  // and marks the slab damaged when the file is shorter; then throws as ThrowIfDamaged.
  void CheckSize() const;
  // The damage flag (a u32, 0 or 1) for the JavaScript writer to read; null if not registered.
  std::atomic<uint32_t>* damage_flag() const;

  const SlabParams& params() const { return params_; }
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  uint8_t* base() const { return map_.bytes(); }
  size_t size() const { return map_.size(); }
  bool consolidated() const { return params_.kind == TierKind::kConsolidated; }
  const CellLayout& layout() const { return layout_; }
  uint32_t cell_bytes() const { return layout_.cell_bytes; }
  size_t row_bytes() const { return row_bytes_; }
  size_t row_words() const { return row_bytes_ / 8; }
  uint32_t slots() const { return params_.slots; }

  // The row of a slot of a raw tier, as words: [stamp][seq][cells].
  double* row(uint32_t slot) const {
    return reinterpret_cast<double*>(row_at(slot));
  }
  uint8_t* row_at(uint32_t slot) const {
    return base() + kHeaderBytes + static_cast<size_t>(slot) * row_bytes_;
  }
  uint32_t slot_of(uint64_t k) const { return static_cast<uint32_t>(k % params_.slots); }

  // Makes the row of interval number k (k > 0) hold k. Rows of an older lap are cleared (cells NaN)
  // before k becomes visible. kLate (and the late counter bumped) if the slot holds a newer one
  // or k is older than the ring (k + slots <= head). Raw tiers only.
  ClaimResult Claim(uint64_t k);

  // The steady-state write: a load, a compare and a store, then the stamp once more: if the row
  // was taken for a newer lap meanwhile (this thread was preempted, say), the value is taken
  // back and the write counts as late. Claims the row when needed. Raw tiers only.
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

  // Reads `n` consecutive intervals starting at k0 for column `col` into out[0..n): in a raw
  // tier the values (agg and counter ignored); in a consolidated one aggregate `agg` of a gauge
  // (avg made from sum and count when only those are kept; a count of 0 reads as NaN), or the
  // last value of a counter (`counter`; agg ignored). Rows that do not hold their interval, and
  // aggregates the tier cannot give, read as NaN. Each row is read consistently (seqlock); a row
  // that stays unstable reads as NaN.
  void ReadColumn(uint32_t col, uint32_t agg, bool counter, uint64_t k0, uint32_t n,
                  double* out) const;

  // Tier 0 (a raw slab) only: intervals [k0, k0 + n) of column `col`, in one pass: ts[i] the
  // start of interval k0 + i (ms), values[i] its value, NaN where the row does not hold it or the
  // interval lies outside the ring (before the oldest, after the head: those rows are not read).
  // Each row read is read consistently (seqlock), as ReadColumn reads it.
  void ReadRawSpan(uint32_t col, uint64_t k0, uint32_t n, double* ts, double* values) const;

  // Reads rows [k0, k0 + n), columns [0, ncols), one value per cell, into out[i * ncols + c]:
  // as ReadColumn, each column a counter when kinds[c] != 0 (kinds: ncols entries; may be null
  // for a raw tier). A row not holding its interval reads as NaN. Each row is read
  // consistently. Returns how many rows were present.
  uint32_t ReadRows(uint64_t k0, uint32_t n, uint32_t ncols, uint32_t agg, const uint8_t* kinds,
                    double* out) const;

  // Reads the cell of `col` for interval k: out[0] its value (raw tiers); in a consolidated
  // tier out[a] for each aggregate a (NaN where not kept, or for a counter every aggregate but
  // last). False if the row does not hold k.
  bool ReadCell(uint32_t col, uint64_t k, bool counter, double out[kAggCount]) const;

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

  // Fills bucket `b` of this consolidated slab from `src` (a finer tier of the same schema: the
  // raw tier, or a consolidated one whose aggregates make this one's, see Derives), for columns
  // [0, ncols), kinds[c] != 0 for a counter. `expected_points` is how many raw (tier 0) points a
  // full bucket has; a bucket whose missing fraction of them is above xff is stored as missing.
  // From a consolidated source that keeps no count, each of its buckets present counts as full.
  void ConsolidateBucket(const Slab& src, uint64_t b, uint32_t ncols, double xff,
                         double expected_points, const uint8_t* kinds);

  // True when every aggregate this consolidated tier keeps can be made from `src`'s: a raw tier
  // makes all; a consolidated one makes min, max, last from the same, sum and avg from either,
  // count from anything (the present buckets counted as full when it keeps none).
  bool Derives(const Slab& src) const;

  // Writes a whole row (ncols cells of cell_bytes, then empty ones) for bucket k inside the
  // row's seqlock (consolidated tiers). kLate if the slot holds a newer bucket.
  ClaimResult Publish(uint64_t k, const uint8_t* cells, uint32_t ncols);

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
  // The bucket a consolidated row's tag names (0: empty).
  static uint64_t tag_bucket(uint64_t tag) { return tag >> kTagBucketShift; }

 private:
  Slab() = default;
  std::atomic_ref<uint64_t> counter(size_t off) const { return Word(base() + off); }
  void Validate(size_t file_size);
  void Repair();
  // One consolidated cell's value: aggregate agg of a gauge, or a counter's last value.
  double CellValue(const uint8_t* cell, uint32_t agg, bool counter) const;

  std::string path_;
  SlabParams params_;
  bool read_only_ = false;
  Mapping map_;
  CellLayout layout_;
  size_t row_bytes_ = 0;
  sigbus::Covered sigbus_;  // this mapping's entry in the SIGBUS registry (after map_: it goes first)
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
// The crc32 of a format-2 slab header: bytes [0, kOffCrc) and [kOffLayout, kLayoutEnd).
uint32_t HeaderCrc(const uint8_t* header);

namespace detail {
// Opens a file to map (slab.cc; the event rings use it too): a regular file of at least
// `min_bytes`, its size in *size. A directory, FIFO, device or socket, or a shorter file, is
// CorruptSlab naming `what` ("a slab", "an event ring"); a failed open or fstat is SlabIoError.
// O_NONBLOCK: a FIFO planted at the file's name is refused, not waited on.
UniqueFd OpenToMap(const std::string& path, bool ro, size_t min_bytes, const char* what, size_t* size);
}  // namespace detail

}  // namespace rondo
