// rondo event ring: see events.h. What it shares with the slabs (slab.cc): the SIGBUS cover of
// its mapping (sigbus::Covered), the open modes and the error types (slab.h).
#include "events.h"
#include "sigbus.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace rondo {

namespace {

template <typename T>
T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
template <typename T>
void put(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

std::string errno_text(const char* call, const std::string& path) {
  return std::string(call) + " " + path + ": " + std::strerror(errno);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline uint64_t Mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xFF51AFD7ED558CCDull;
  return h ^ (h >> 29);
}

// The fields of a record's words 2 and 3.
inline uint64_t Word2(uint32_t topic, uint8_t type, uint8_t flags) {
  return static_cast<uint64_t>(topic) | static_cast<uint64_t>(type) << 32 | static_cast<uint64_t>(flags) << 40;
}

}  // namespace

uint32_t EventCheck(uint64_t w1, uint64_t w2, uint32_t len, const uint8_t* payload_words, size_t nwords) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  h = Mix(h, w1);
  h = Mix(h, w2);
  h = Mix(h, len);
  for (size_t i = 0; i < nwords; i++) {
    uint64_t w;
    std::memcpy(&w, payload_words + 8 * i, 8);
    h = Mix(h, w);
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

std::shared_ptr<EventRing> EventRing::Open(const std::string& path, OpenMode mode, uint64_t capacity,
                                           uint64_t created_ms, uint32_t file_mode) {
  std::shared_ptr<EventRing> r(new EventRing());
  r->path_ = path;
  r->read_only_ = mode == OpenMode::kReadOnly;
  if (mode == OpenMode::kCreate) {
    if (capacity < kEvMinCapacity || capacity > kEvMaxCapacity || capacity % 8 != 0 || file_mode > kMaxFileMode ||
        created_ms > kMaxCreatedMs)
      throw std::invalid_argument("event ring parameters out of range for " + path + " (size: a multiple of 8 from " +
                                  std::to_string(kEvMinCapacity) + " to " + std::to_string(kEvMaxCapacity) + " bytes)");
    const uint64_t total = kEventHeaderBytes + capacity;
    const std::string tmp = path + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, file_mode));
    if (!fd) throw SlabIoError(errno_text("open", tmp));
    auto fail = [&](const char* call) {
      std::string e = errno_text(call, tmp);
      fd.reset();
      ::unlink(tmp.c_str());
      throw SlabIoError(e);
    };
#if !defined(__APPLE__)
    if (const int e = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(total)); e != 0 && e != EOPNOTSUPP && e != EINVAL) {
      errno = e;
      fail("reserving blocks (posix_fallocate)");
    }
#endif
    if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) fail("ftruncate");
    uint8_t h[kEventHeaderBytes] = {};
    std::memcpy(h + kEvOffMagic, kEventMagic, 8);
    put<uint32_t>(h, kEvOffVersion, kEventFormatVersion);
    put<uint32_t>(h, kEvOffHeaderBytes, kEventHeaderBytes);
    put<uint64_t>(h, kEvOffCapacity, capacity);
    put<uint64_t>(h, kEvOffFileBytes, total);
    put<uint64_t>(h, kEvOffCreatedMs, created_ms);
    put<uint32_t>(h, kEvOffCrc, Crc32(h, kEvOffCrc));
    const ssize_t w = ::pwrite(fd.get(), h, kEventHeaderBytes, 0);
    if (w != static_cast<ssize_t>(kEventHeaderBytes)) {
      if (w >= 0) errno = EIO;
      fail("write");
    }
    if (::fsync(fd.get()) != 0) fail("fsync");
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      std::string e = errno_text("rename", tmp);
      ::unlink(tmp.c_str());
      throw SlabIoError(e);
    }
  }
  const bool ro = r->read_only_;
  size_t size = 0;
  UniqueFd fd = detail::OpenToMap(path, ro, kEventHeaderBytes, "an event ring", &size);
  r->map_ = Mapping::Map(size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
  if (!r->map_) throw SlabIoError(errno_text("mmap", path));
  r->sigbus_.Cover(r->map_.get(), r->map_.size(), !ro);
  fd.reset();
  r->Validate(size);
#if defined(MADV_POPULATE_WRITE)
  // A new ring's pages are made ready now, not by the first append to each (a fault per 4 KiB
  // page, a third of an append's time on the first lap). Up to 1 GiB; a kernel without it
  // (before Linux 5.14) says EINVAL, and the appends fault the pages in as before.
  if (mode == OpenMode::kCreate && size <= (1ull << 30)) (void)::madvise(r->map_.get(), size, MADV_POPULATE_WRITE);
#endif
  if (mode == OpenMode::kReadWrite && r->counter(kEvOffLock).load(std::memory_order_acquire) != 0) {
    // The writer that held it is gone (this process holds the store lock and opens the ring
    // before any thread of its own appends): what it was appending was never published.
    r->counter(kEvOffLock).store(0, std::memory_order_release);
    r->counter(kEvOffRepairs).fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

EventRing::~EventRing() = default;

std::atomic<uint32_t>* EventRing::damage_flag() const { return sigbus_.flag(); }

bool EventRing::damaged() const { return sigbus_.damaged(); }

void EventRing::ThrowIfDamaged() const {
  if (damaged())
    throw CorruptSlab(path_ + ": the file was cut short (truncated) while this process had it mapped; " +
                      "the events in it are lost and this process no longer writes or reads it");
}

uint64_t EventRing::created_ms() const { return get<uint64_t>(map_.bytes(), kEvOffCreatedMs); }

uint64_t EventRing::max_payload() const {
  return std::min<uint64_t>(kEvMaxPayload, capacity_ / 4);
}

void EventRing::Validate(size_t file_size) {
  const uint8_t* h = map_.bytes();
  auto bad = [&](const std::string& why) { throw CorruptSlab(path_ + ": " + why); };
  if (std::memcmp(h + kEvOffMagic, kEventMagic, 8) != 0) bad("not a rondo event ring (bad magic)");
  const uint32_t version = get<uint32_t>(h, kEvOffVersion);
  if (version != kEventFormatVersion)
    bad("event ring format version " + std::to_string(version) + ", this rondo reads version " +
        std::to_string(kEventFormatVersion));
  if (get<uint32_t>(h, kEvOffCrc) != Crc32(h, kEvOffCrc)) bad("header checksum mismatch");
  if (get<uint32_t>(h, kEvOffHeaderBytes) != kEventHeaderBytes) bad("header size is not " + std::to_string(kEventHeaderBytes));
  const uint64_t cap = get<uint64_t>(h, kEvOffCapacity);
  if (cap < kEvMinCapacity || cap > kEvMaxCapacity || cap % 8 != 0) bad("ring size " + std::to_string(cap) + " out of range");
  if (get<uint64_t>(h, kEvOffFileBytes) != kEventHeaderBytes + cap || file_size != kEventHeaderBytes + cap)
    bad("file is " + std::to_string(file_size) + " bytes, the header says " + std::to_string(kEventHeaderBytes + cap));
  capacity_ = cap;
  // The counters, and the records between tail and published, walked as a reader walks them (a
  // writer in another process may be appending meanwhile: Read copes).
  const uint64_t tail = counter(kEvOffTail).load(std::memory_order_acquire);
  const uint64_t pub = counter(kEvOffPublished).load(std::memory_order_acquire);
  const uint64_t last = counter(kEvOffLast).load(std::memory_order_acquire);
  if (pub > kEvMaxPosition || tail > pub || pub - tail > cap || tail % 8 != 0 || pub % 8 != 0 || last > pub)
    bad("its counters are inconsistent (tail " + std::to_string(tail) + ", published " + std::to_string(pub) + ")");
  EventFilter none;
  none.limit = 0;
  std::vector<EventRecord> ignored;
  Read(tail, none, &ignored);
}

void EventRing::Lock() {
  auto l = counter(kEvOffLock);
  for (uint32_t spins = 0;; spins++) {
    uint64_t expected = 0;
    if (l.load(std::memory_order_relaxed) == 0 &&
        l.compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
      return;
    if (spins < 64)
      cpu_relax();
    else
      ::sched_yield();
  }
}

void EventRing::Unlock() { counter(kEvOffLock).store(0, std::memory_order_release); }

// Moves the tail to the first record boundary at or after `limit` (never past published),
// counting the records it passes. Called with the lock held, before the bytes below `limit` + a
// lap are overwritten.
void EventRing::AdvanceTail(uint64_t limit) {
  const uint64_t pub = counter(kEvOffPublished).load(std::memory_order_relaxed);
  uint64_t t = counter(kEvOffTail).load(std::memory_order_relaxed);
  uint64_t dropped = 0;
  while (t < limit && t < pub) {
    const uint64_t off = t % capacity_;
    const uint64_t c = Word(at(t)).load(std::memory_order_relaxed);
    if (c == ((t + 1) | kEvPadBit)) {
      t += capacity_ - off;
      continue;
    }
    const uint32_t len = static_cast<uint32_t>(Word(at(t) + 24).load(std::memory_order_relaxed));
    if (c != t + 1 || len > max_payload() || off + EventRecordBytes(len) > capacity_) {
      // Not a record where one must be (the file was written over from outside): what is left
      // of the ring cannot be walked, so it is given up whole.
      t = pub;
      break;
    }
    t += EventRecordBytes(len);
    dropped++;
  }
  if (t > pub) t = pub;
  counter(kEvOffTail).store(t, std::memory_order_relaxed);
  if (dropped > 0) counter(kEvOffDropped).fetch_add(dropped, std::memory_order_relaxed);
}

uint64_t EventRing::Append(int64_t ts_ns, uint32_t topic, uint8_t type, uint8_t flags, const void* data, uint32_t len) {
  if (read_only_) throw std::invalid_argument(path_ + ": opened read-only");
  if (len > max_payload())
    throw std::invalid_argument("an event of " + std::to_string(len) + " bytes is larger than the ring " + path_ +
                                " takes (" + std::to_string(max_payload()) + " bytes: a quarter of its size, at most 16 MiB)");
  ThrowIfDamaged();
  const uint64_t need = EventRecordBytes(len);
  const uint8_t* src = static_cast<const uint8_t*>(data);
  const uint64_t w1 = static_cast<uint64_t>(ts_ns);
  const uint64_t w2 = Word2(topic, type, flags);
  // The check is computed before the lock (the payload is the caller's memory).
  uint64_t h = 0x9E3779B97F4A7C15ull;
  h = Mix(Mix(Mix(h, w1), w2), len);
  const size_t whole = len / 8;
  for (size_t i = 0; i < whole; i++) {
    uint64_t w;
    std::memcpy(&w, src + 8 * i, 8);
    h = Mix(h, w);
  }
  uint64_t tail_word = 0;
  if (len % 8 != 0) {
    std::memcpy(&tail_word, src + 8 * whole, len % 8);
    h = Mix(h, tail_word);
  }
  const uint32_t check = static_cast<uint32_t>(h ^ (h >> 32));
  const uint64_t w3 = static_cast<uint64_t>(len) | static_cast<uint64_t>(check) << 32;

  Lock();
  uint64_t p = counter(kEvOffPublished).load(std::memory_order_relaxed);
  if (p + need + capacity_ > kEvMaxPosition) {
    Unlock();
    throw CorruptSlab(path_ + ": the ring's position is at its limit (2^62 bytes appended)");
  }
  const uint64_t off = p % capacity_;
  const bool pad = off + need > capacity_;
  const uint64_t start = pad ? p + (capacity_ - off) : p;
  if (start + need > capacity_) AdvanceTail(start + need - capacity_);
  // The tail is moved before any byte below it is overwritten: a reader that sees one of the
  // bytes written below sees the tail that says so.
  std::atomic_thread_fence(std::memory_order_release);
  if (pad) Word(at(p)).store((p + 1) | kEvPadBit, std::memory_order_release);
  uint8_t* r = at(start);
  Word(r + 8).store(w1, std::memory_order_relaxed);
  Word(r + 16).store(w2, std::memory_order_relaxed);
  Word(r + 24).store(w3, std::memory_order_relaxed);
  uint8_t* payload = r + kEvRecordHeaderBytes;
  for (size_t i = 0; i < whole; i++) {
    uint64_t w;
    std::memcpy(&w, src + 8 * i, 8);
    Word(payload + 8 * i).store(w, std::memory_order_relaxed);
  }
  if (len % 8 != 0) Word(payload + 8 * whole).store(tail_word, std::memory_order_relaxed);
  Word(r).store(start + 1, std::memory_order_release);
  counter(kEvOffLast).store(start + 1, std::memory_order_relaxed);
  counter(kEvOffAppends).fetch_add(1, std::memory_order_relaxed);
  counter(kEvOffPublished).store(start + need, std::memory_order_release);
  Unlock();
  // A file cut short under the mapping while this wrote: the record went to zero pages, not the file.
  ThrowIfDamaged();
  return start;
}

template <typename Take, typename Drop, typename Keep>
uint64_t EventRing::Scan(uint64_t from, const EventFilter& f, Take take, Drop drop, Keep keep) const {
  ThrowIfDamaged();
  auto corrupt = [&](uint64_t pos, const std::string& why) {
    throw CorruptSlab(path_ + ": the record at position " + std::to_string(pos) + " is damaged (" + why + ")");
  };
  const auto tail = counter(kEvOffTail);
  uint64_t pos = std::max(from, tail.load(std::memory_order_acquire));
  const uint64_t pub = counter(kEvOffPublished).load(std::memory_order_acquire);
  if (pos > pub) return pub;  // a position from another ring, or from before a repair
  uint32_t n = 0;
  uint64_t bytes = 0;
  const uint64_t maxp = max_payload();
  // True (and pos moved to the tail) when the writer has passed pos since it was read.
  auto overtaken = [&]() {
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t t = tail.load(std::memory_order_relaxed);
    if (t > pos) {
      pos = t;
      return true;
    }
    return false;
  };
  while (pos < pub) {
    if (n >= f.limit || (n > 0 && bytes >= f.max_bytes)) break;
    const uint64_t off = pos % capacity_;
    const uint8_t* r = at(pos);
    const uint64_t c = Word(r).load(std::memory_order_acquire);
    if (c == ((pos + 1) | kEvPadBit)) {
      if (overtaken()) continue;
      pos += capacity_ - off;
      continue;
    }
    if (c != pos + 1) {
      if (overtaken()) continue;
      corrupt(pos, "its commit word does not name it");
    }
    const uint64_t w1 = Word(r + 8).load(std::memory_order_relaxed);
    const uint64_t w2 = Word(r + 16).load(std::memory_order_relaxed);
    const uint64_t w3 = Word(r + 24).load(std::memory_order_relaxed);
    const uint32_t len = static_cast<uint32_t>(w3);
    const uint64_t need = EventRecordBytes(len);
    if (len > maxp || off + need > capacity_ || pos + need > pub) {
      if (overtaken()) continue;
      corrupt(pos, "its length runs past the ring");
    }
    const int64_t ts = static_cast<int64_t>(w1);
    const uint32_t topic = static_cast<uint32_t>(w2);
    // Only the header is read for a record the filter leaves out: its payload is not touched.
    const bool wanted = f.limit > 0 && ts >= f.start_ns && ts < f.end_ns &&
                        (f.topics == nullptr || (topic < f.ntopics && f.topics[topic] != 0));
    if (!wanted) {
      if (overtaken()) continue;
      pos += need;
      continue;
    }
    const uint8_t* copy = take(pos, w1, w2, len, r + kEvRecordHeaderBytes);
    if (overtaken()) {  // the copy may be torn: thrown away
      drop();
      continue;
    }
    if (static_cast<uint32_t>(w3 >> 32) != EventCheck(w1, w2, len, copy, (len + 7) / 8)) corrupt(pos, "check mismatch");
    keep(len);
    n++;
    bytes += len;
    pos += need;
  }
  // A file cut short under the mapping while this read: what it read may be zero pages.
  ThrowIfDamaged();
  return pos;
}

namespace {
// Copies the padded payload words of a record (relaxed atomic loads: a writer may be storing them).
inline void CopyWords(uint8_t* dst, const uint8_t* src, size_t words) {
  for (size_t i = 0; i < words; i++) {
    const uint64_t w = Word(const_cast<uint8_t*>(src) + 8 * i).load(std::memory_order_relaxed);
    std::memcpy(dst + 8 * i, &w, 8);
  }
}
}  // namespace

uint64_t EventRing::Read(uint64_t from, const EventFilter& f, std::vector<EventRecord>* out) const {
  const size_t base = out->size();
  return Scan(
      from, f,
      [&](uint64_t pos, uint64_t w1, uint64_t w2, uint32_t len, const uint8_t* payload) -> const uint8_t* {
        EventRecord& rec = out->emplace_back();
        rec.position = pos;
        rec.ts_ns = static_cast<int64_t>(w1);
        rec.topic = static_cast<uint32_t>(w2);
        rec.type = static_cast<uint8_t>(w2 >> 32);
        rec.flags = static_cast<uint8_t>(w2 >> 40);
        const size_t words = (len + 7) / 8;
        rec.data.resize(words * 8);
        CopyWords(rec.data.data(), payload, words);
        return rec.data.data();
      },
      [&]() {
        if (out->size() > base) out->pop_back();
      },
      [&](uint32_t len) { out->back().data.resize(len); });
}

uint64_t EventRing::ReadPacked(uint64_t from, const EventFilter& f, PackedEvents* out) const {
  out->ts.clear();
  out->topic.clear();
  out->type_flags.clear();
  out->end.clear();
  out->data.clear();
  size_t mark = 0;
  return Scan(
      from, f,
      [&](uint64_t, uint64_t w1, uint64_t w2, uint32_t len, const uint8_t* payload) -> const uint8_t* {
        mark = out->end.empty() ? 0 : out->end.back();
        const size_t words = (len + 7) / 8;
        out->data.resize(mark + words * 8);
        CopyWords(out->data.data() + mark, payload, words);
        out->ts.push_back(static_cast<int64_t>(w1));
        out->topic.push_back(static_cast<uint32_t>(w2));
        out->type_flags.push_back(static_cast<uint16_t>(w2 >> 32));
        out->end.push_back(static_cast<uint32_t>(mark + len));
        return out->data.data() + mark;
      },
      [&]() {
        out->data.resize(mark);
        out->ts.pop_back();
        out->topic.pop_back();
        out->type_flags.pop_back();
        out->end.pop_back();
      },
      // The padding goes once the check has read it: the next record's copy starts at its end.
      [&](uint32_t len) { out->data.resize(mark + len); });
}

EventStats EventRing::Stats() const {
  ThrowIfDamaged();
  EventStats s;
  s.capacity = capacity_;
  s.tail = counter(kEvOffTail).load(std::memory_order_acquire);
  s.published = counter(kEvOffPublished).load(std::memory_order_acquire);
  s.appends = counter(kEvOffAppends).load(std::memory_order_relaxed);
  s.dropped = counter(kEvOffDropped).load(std::memory_order_relaxed);
  s.repairs = counter(kEvOffRepairs).load(std::memory_order_relaxed);
  EventFilter one;
  one.limit = 1;
  std::vector<EventRecord> v;
  Read(s.tail, one, &v);
  if (!v.empty()) {
    s.has_oldest = true;
    s.oldest_ns = v[0].ts_ns;
  }
  const uint64_t last = counter(kEvOffLast).load(std::memory_order_acquire);
  if (last > 0) {
    v.clear();
    Read(last - 1, one, &v);
    if (!v.empty()) {
      s.has_newest = true;
      s.newest_ns = v[0].ts_ns;
    }
  }
  return s;
}

void EventRing::Flush() {
  if (!read_only_ && ::msync(map_.get(), map_.size(), MS_SYNC) != 0) throw SlabIoError(errno_text("msync", path_));
}

}  // namespace rondo
