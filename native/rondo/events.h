// rondo event ring: one fixed-size, memory-mapped ring of variable-length records (a store's
// events.slab), the oldest overwritten first. The byte layout is documented in
// docs/storage-format.md ("The event ring"); the constants below are that layout.
//
// Writers: one process (the store's writer, which holds the store lock), any number of threads
// and mappings in it (the JavaScript store, the demo VMM's native threads): an append takes a
// spinlock word in the mapped header, so appends are serialized across all of them. A writer
// killed mid-append leaves the lock taken and a record not yet published: the next read-write
// open clears the lock, and the unpublished bytes are never read (they lie past `published`).
//
// Readers (any process, read-only mapping) never return a torn or half-overwritten record: a
// record is read from `tail` (the oldest whole record) up to `published`; its commit word names
// its position; after copying it, the reader checks that `tail` has not passed it, since the
// writer moves `tail` past every byte it is about to overwrite before it writes them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/raii.h"
#include "rondo/sigbus.h"
#include "rondo/slab.h"

namespace rondo {

constexpr char kEventMagic[8] = {'R', 'O', 'N', 'D', 'O', 'E', 'V', 'T'};
constexpr uint32_t kEventFormatVersion = 1;
constexpr uint32_t kEventHeaderBytes = 512;

// Header (immutable fields covered by the crc32 at kEvOffCrc).
constexpr size_t kEvOffMagic = 0;
constexpr size_t kEvOffVersion = 8;
constexpr size_t kEvOffHeaderBytes = 12;
constexpr size_t kEvOffCapacity = 16;   // u64: bytes of the record area
constexpr size_t kEvOffFileBytes = 24;  // u64
constexpr size_t kEvOffCreatedMs = 32;  // u64
constexpr size_t kEvOffCrc = 60;        // u32: crc32 of bytes [0, 60)
// Mutable counters (u64, atomics), not covered by the crc.
constexpr size_t kEvOffTail = 64;       // position of the oldest whole record
constexpr size_t kEvOffPublished = 72;  // position just past the newest published record
constexpr size_t kEvOffLock = 80;       // 0 free, else the appender holds it
constexpr size_t kEvOffAppends = 88;    // records ever appended
constexpr size_t kEvOffDropped = 96;    // records ever overwritten (tail moved past them)
constexpr size_t kEvOffLast = 104;      // position of the newest record + 1 (0: none)
constexpr size_t kEvOffRepairs = 112;   // opens that found the lock held by a dead writer

// A record: [commit u64][ts i64][topic u32, type u8, flags u8, 0 u16][len u32, check u32]
// [payload, zero-padded to 8]. commit = position + 1 (a padding marker: | kEvPadBit, which
// sends the reader to the start of the next lap).
constexpr uint32_t kEvRecordHeaderBytes = 32;
constexpr uint64_t kEvPadBit = 1ull << 63;
constexpr uint64_t kEvMaxPosition = 1ull << 62;
constexpr uint64_t kEvMinCapacity = 4096;
constexpr uint64_t kEvMaxCapacity = 1ull << 40;
// The largest payload: 16 MiB, and at most a quarter of the ring.
constexpr uint32_t kEvMaxPayload = 16u << 20;
constexpr uint8_t kEvFlagNonconformant = 1;

inline uint64_t EventRecordBytes(uint32_t len) {
  return kEvRecordHeaderBytes + ((static_cast<uint64_t>(len) + 7) & ~7ull);
}
// The check word of a record: a multiply-xor fold of its words 1 and 2, its length and its
// padded payload words (docs/storage-format.md).
uint32_t EventCheck(uint64_t w1, uint64_t w2, uint32_t len, const uint8_t* payload_words, size_t nwords);

struct EventRecord {
  uint64_t position = 0;
  int64_t ts_ns = 0;
  uint32_t topic = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  std::vector<uint8_t> data;
};

struct EventFilter {
  int64_t start_ns = INT64_MIN;  // ts >= start_ns
  int64_t end_ns = INT64_MAX;    // ts < end_ns
  const uint8_t* topics = nullptr;  // topics[id] != 0: wanted (ids >= ntopics are not); null: all
  uint32_t ntopics = 0;
  uint32_t limit = UINT32_MAX;
  uint64_t max_bytes = 64ull << 20;  // stop after this many payload bytes (at least one record)
};

// Records as columns (EventRing::ReadPacked): record i has ts[i], topic[i], type | flags << 8
// in type_flags[i], and its payload in data[end[i-1] .. end[i]) (end[-1] = 0).
struct PackedEvents {
  std::vector<int64_t> ts;
  std::vector<uint32_t> topic;
  std::vector<uint16_t> type_flags;
  std::vector<uint32_t> end;
  std::vector<uint8_t> data;
};

struct EventStats {
  uint64_t capacity = 0, tail = 0, published = 0, appends = 0, dropped = 0, repairs = 0;
  bool has_oldest = false, has_newest = false;
  int64_t oldest_ns = 0, newest_ns = 0;
};

class EventRing {
 public:
  // kCreate: a new ring of `capacity` bytes (a multiple of 8 in [kEvMinCapacity,
  // kEvMaxCapacity]) built under path + ".tmp" and renamed over path; kReadWrite: the writer's
  // open (clears a lock left by a dead writer); kReadOnly: a reader's; kAttach: another
  // read-write mapping in the writer's process (no repair). Throws CorruptSlab, SlabIoError,
  // std::invalid_argument.
  static std::shared_ptr<EventRing> Open(const std::string& path, OpenMode mode, uint64_t capacity = 0,
                                         uint64_t created_ms = 0, uint32_t file_mode = 0600);
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;
  ~EventRing();

  // Appends one record (thread-safe; see above); returns its position. std::invalid_argument for
  // a payload over the limit; CorruptSlab if the file was cut short under the mapping.
  uint64_t Append(int64_t ts_ns, uint32_t topic, uint8_t type, uint8_t flags, const void* data, uint32_t len);

  // Reads the records from position `from` (clamped up to the tail) that pass `f`, appending them
  // to *out; returns the position to read from next time. Never returns a torn record; records
  // overwritten while it reads are skipped. Throws CorruptSlab for a record that fails its check.
  uint64_t Read(uint64_t from, const EventFilter& f, std::vector<EventRecord>* out) const;

  // Read, into columns: what a query over many records takes (no object per record).
  // f.max_bytes must be below 4 GiB (the ends are u32).
  uint64_t ReadPacked(uint64_t from, const EventFilter& f, PackedEvents* out) const;

  EventStats Stats() const;
  // The mapping (header and records), for the JavaScript writer (src/store/events-js.ts), and
  // the damage flag it looks at (nullptr when the mapping is not covered: rondo/sigbus.h).
  uint8_t* base() const { return map_.bytes(); }
  std::atomic<uint32_t>* damage_flag() const;
  uint64_t capacity() const { return capacity_; }
  uint64_t created_ms() const;
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  size_t size() const { return map_.size(); }
  uint64_t max_payload() const;
  bool damaged() const;
  void ThrowIfDamaged() const;
  void Flush();

 private:
  EventRing() = default;
  std::atomic_ref<uint64_t> counter(size_t off) const { return Word(map_.bytes() + off); }
  uint8_t* at(uint64_t pos) const { return map_.bytes() + kEventHeaderBytes + (pos % capacity_); }
  void Validate(size_t file_size);
  void AdvanceTail(uint64_t limit);
  // The walk of Read and ReadPacked: calls take(pos, w1, w2, w3, record) for each record that
  // passes f, which copies it and returns true when the copy was kept; a copy the writer may
  // have torn (it overtook the record meanwhile) is taken back with drop(); keep(len) once its
  // check has passed.
  template <typename Take, typename Drop, typename Keep>
  uint64_t Scan(uint64_t from, const EventFilter& f, Take take, Drop drop, Keep keep) const;
  void Lock();
  void Unlock();

  std::string path_;
  bool read_only_ = false;
  Mapping map_;
  uint64_t capacity_ = 0;
  sigbus::Covered sigbus_;  // after map_: it goes first
};

}  // namespace rondo
