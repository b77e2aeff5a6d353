// Gorilla in C++; see gorilla.h. Bits are written most significant first, through a 64-bit
// accumulator; the reader loads 8 bytes big-endian at a time where it can.
#include "codec/gorilla.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace rondo::codec {
namespace {

// The extra bits of a new window (5 for its leading zeros, 6 for its length).
constexpr int kWindowCost = 11;

inline bool Fits(int64_t dod, int n) {
  const int64_t half = int64_t{1} << (n - 1);
  return dod >= -(half - 1) && dod <= half;
}

class BitWriter {
 public:
  explicit BitWriter(uint8_t* out) : out_(out) {}
  // The low n bits of v (1 <= n <= 64; v has no bits above them).
  inline void Write(uint64_t v, int n) {
    const int free = 64 - nacc_;
    if (n < free) {
      acc_ = (acc_ << n) | v;
      nacc_ += n;
      return;
    }
    const int rest = n - free;
    const uint64_t word = (free == 64 ? 0 : acc_ << free) | (rest == 0 ? v : v >> rest);
    for (int i = 0; i < 8; i++) out_[at_ + i] = static_cast<uint8_t>(word >> (56 - 8 * i));
    at_ += 8;
    acc_ = rest == 0 ? 0 : v & ((uint64_t{1} << rest) - 1);
    nacc_ = rest;
  }
  size_t Finish() {
    int n = nacc_;
    while (n > 0) {
      if (n >= 8) {
        out_[at_++] = static_cast<uint8_t>(acc_ >> (n - 8));
        n -= 8;
      } else {
        out_[at_++] = static_cast<uint8_t>(acc_ << (8 - n));
        n = 0;
      }
    }
    return at_;
  }
  size_t at_ = 0;

 private:
  uint8_t* out_;
  uint64_t acc_ = 0;
  int nacc_ = 0;
};

class BitReader {
 public:
  BitReader(const uint8_t* p, size_t bytes) : p_(p), bytes_(bytes), bits_(bytes * 8) {}
  // The next 64 bits from pos_ (bits past the end read as 0); at least 57 of them are whole.
  inline uint64_t Window() const {
    const size_t i = pos_ >> 3;
    uint64_t w;
    if (i + 8 <= bytes_) {
      std::memcpy(&w, p_ + i, 8);
      if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
    } else {
      w = 0;
      for (size_t k = 0; k < 8; k++) w = (w << 8) | (i + k < bytes_ ? p_[i + k] : 0);
    }
    return w << (pos_ & 7);
  }
  // The next n bits (1 <= n <= 57) without taking them; past the end they read as 0.
  inline uint64_t Peek(int n) const { return Window() >> (64 - n); }
  // Takes n bits; throws if the stream has fewer.
  inline void Skip(int n) {
    if (pos_ + static_cast<uint64_t>(n) > bits_) Short(n);
    pos_ += n;
  }
  // n bits (1 <= n <= 57).
  inline uint64_t Read(int n) {
    if (pos_ + static_cast<uint64_t>(n) > bits_) Short(n);
    const uint64_t v = Window() >> (64 - n);
    pos_ += n;
    return v;
  }
  inline uint64_t Read64() {
    const uint64_t hi = Read(32);
    return (hi << 32) | Read(32);
  }
  inline uint64_t ReadWide(int n) { return n <= 57 ? Read(n) : ((Read(n - 32) << 32) | Read(32)); }
  uint64_t pos_ = 0;
  const uint8_t* p_;
  size_t bytes_;
  uint64_t bits_;

 private:
  [[noreturn]] void Short(int n) const {
    throw CorruptChunk("gorilla chunk: the bit stream ends early (needed " + std::to_string(n) + " bits at bit " +
                       std::to_string(pos_ - 8) + " of " + std::to_string(bits_ - 8) + ")");
  }
};

inline int64_t Signed(uint64_t v, int n) {
  const uint64_t half = uint64_t{1} << (n - 1);
  return v > half ? static_cast<int64_t>(v) - (int64_t{1} << n) : static_cast<int64_t>(v);
}

[[noreturn]] void Corrupt(const std::string& what) { throw CorruptChunk("gorilla chunk: " + what); }

}  // namespace

size_t GorillaMaxBytes(size_t n) { return 1 + 16 + (n == 0 ? 0 : (n - 1) * 19) + 8; }

size_t GorillaEncode(const double* timestamps, const double* values, size_t n, std::vector<uint8_t>* out) {
  bool wide = false;
  int64_t prev_t = 0, prev_d = 0;
  for (size_t i = 0; i < n; i++) {
    const double td = timestamps[i];
    if (!(td >= -static_cast<double>(kMaxTimestamp) && td <= static_cast<double>(kMaxTimestamp)) || td != std::floor(td)) {
      char shown[32];
      std::snprintf(shown, sizeof shown, "%.17g", td);
      throw std::invalid_argument(std::string("gorilla: timestamp ") + shown + " at index " + std::to_string(i) +
                                  " is not an integer of at most 2^51 ms in magnitude");
    }
    const int64_t t = static_cast<int64_t>(td);
    if (i > 0) {
      const int64_t d = t - prev_t;
      if (!Fits(d - prev_d, 32)) wide = true;
      prev_d = d;
    }
    prev_t = t;
  }
  // Grown only (a buffer kept between calls is not cleared again each time).
  if (out->size() < GorillaMaxBytes(n)) out->resize(GorillaMaxBytes(n));
  uint8_t* o = out->data();
  o[0] = wide ? kFlagWide : 0;
  BitWriter w(o + 1);
  if (n == 0) return 1;
  int64_t t = static_cast<int64_t>(timestamps[0]);
  w.Write(static_cast<uint64_t>(t), 64);
  prev_t = t;
  prev_d = 0;
  const int last = wide ? 64 : 32;
  for (size_t i = 1; i < n; i++) {
    t = static_cast<int64_t>(timestamps[i]);
    const int64_t d = t - prev_t;
    const int64_t dod = d - prev_d;
    prev_t = t;
    prev_d = d;
    const uint64_t u = static_cast<uint64_t>(dod);
    if (dod == 0) {
      w.Write(0, 1);
    } else if (Fits(dod, 7)) {
      w.Write((uint64_t{0b10} << 7) | (u & 0x7f), 9);
    } else if (Fits(dod, 9)) {
      w.Write((uint64_t{0b110} << 9) | (u & 0x1ff), 12);
    } else if (Fits(dod, 12)) {
      w.Write((uint64_t{0b1110} << 12) | (u & 0xfff), 16);
    } else {
      w.Write(0b1111, 4);
      w.Write(last == 64 ? u : (u & 0xffffffffu), last);
    }
  }
  uint64_t prev;
  std::memcpy(&prev, &values[0], 8);
  w.Write(prev, 64);
  int lead = -1, trail = 0;
  for (size_t i = 1; i < n; i++) {
    uint64_t v;
    std::memcpy(&v, &values[i], 8);
    const uint64_t x = v ^ prev;
    prev = v;
    if (x == 0) {
      w.Write(0, 1);
      continue;
    }
    int lz = std::countl_zero(x);
    if (lz > 31) lz = 31;
    const int tz = std::countr_zero(x);
    // Reuse a window that fits unless a new one is shorter even with its 11 bits of lead and
    // length (the paper reuses every window that fits); gorilla.ts decides the same way.
    if (lead >= 0 && lz >= lead && tz >= trail && 64 - lz - tz + kWindowCost >= 64 - lead - trail) {
      const int sig = 64 - lead - trail;
      w.Write(0b10, 2);
      w.Write(x >> trail, sig);
    } else {
      lead = lz;
      trail = tz;
      const int sig = 64 - lz - tz;
      w.Write((uint64_t{0b11} << 11) | (static_cast<uint64_t>(lz) << 6) | static_cast<uint64_t>(sig & 63), 13);
      w.Write(x >> tz, sig);
    }
  }
  return 1 + w.Finish();
}

void GorillaDecode(const uint8_t* payload, size_t bytes, size_t n, double* timestamps, double* values) {
  if (bytes < 1) Corrupt("the payload is empty (it has at least its flags byte)");
  const uint8_t flags = payload[0];
  if ((flags & ~kFlagWide) != 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%x", flags);
    Corrupt(std::string("unknown flags 0x") + hex + " in the first byte");
  }
  const uint64_t total = (bytes - 1) * uint64_t{8};
  if (n > 0 && total < 128 + (n - 1) * uint64_t{2})
    Corrupt(std::to_string(bytes) + " bytes cannot hold " + std::to_string(n) + " points");
  if (n == 0) {
    if (bytes != 1) Corrupt(std::to_string(bytes - 1) + " bytes after the flags of an empty chunk");
    return;
  }
  const int last = (flags & kFlagWide) ? 64 : 32;
  BitReader r(payload, bytes);
  r.pos_ = 8;
  auto in_range = [](int64_t t, size_t i) {
    if (t > kMaxTimestamp || t < -kMaxTimestamp)
      Corrupt("timestamp " + std::to_string(i) + " decodes to " + std::to_string(t) + ", beyond the 2^51 ms Gorilla encodes");
  };
  int64_t t = static_cast<int64_t>(r.Read64());
  in_range(t, 0);
  timestamps[0] = static_cast<double>(t);
  uint64_t d = 0;
  for (size_t i = 1; i < n; i++) {
    int64_t dod;
    // The control bits and the bucket's bits in one read: 0, 10+7, 110+9, 1110+12, 1111+32|64.
    const uint64_t c = r.Peek(4);
    if (c < 0b1000) {
      r.Skip(1);
      dod = 0;
    } else if (c < 0b1100) {
      dod = Signed(r.Read(9) & 0x7f, 7);
    } else if (c < 0b1110) {
      dod = Signed(r.Read(12) & 0x1ff, 9);
    } else if (c < 0b1111) {
      dod = Signed(r.Read(16) & 0xfff, 12);
    } else {
      r.Skip(4);
      dod = last == 32 ? Signed(r.Read(32), 32) : static_cast<int64_t>(r.Read64());
    }
    // Unsigned arithmetic: a hostile stream wraps instead of overflowing, and is refused below.
    d += static_cast<uint64_t>(dod);
    const uint64_t ut = static_cast<uint64_t>(t) + d;
    t = static_cast<int64_t>(ut);
    // A delta beyond 2^52 cannot be between two timestamps in range.
    const int64_t sd = static_cast<int64_t>(d);
    if (sd > (kMaxTimestamp << 1) || sd < -(kMaxTimestamp << 1))
      Corrupt("timestamp " + std::to_string(i) + " is more than 2^52 ms after the one before, beyond the 2^51 ms Gorilla encodes");
    in_range(t, i);
    timestamps[i] = static_cast<double>(t);
  }
  uint64_t prev = r.Read64();
  std::memcpy(&values[0], &prev, 8);
  int lead = -1, trail = 0;
  for (size_t i = 1; i < n; i++) {
    const uint64_t c = r.Peek(2);
    if (c >= 0b10) {
      int sig;
      if (c == 0b10) {
        r.Skip(2);
        if (lead < 0) Corrupt("value " + std::to_string(i) + " reuses a leading/trailing-zero window before one was set");
        sig = 64 - lead - trail;
      } else {
        const uint64_t hdr = r.Read(13) & 0x7ff;
        lead = static_cast<int>(hdr >> 6);
        sig = static_cast<int>(hdr & 63);
        if (sig == 0) sig = 64;
        trail = 64 - lead - sig;
        if (trail < 0)
          Corrupt("value " + std::to_string(i) + " has " + std::to_string(lead) + " leading zeros and " + std::to_string(sig) +
                  " meaningful bits, more than 64");
      }
      prev ^= r.ReadWide(sig) << trail;
    } else {
      r.Skip(1);
    }
    std::memcpy(&values[i], &prev, 8);
  }
  const uint64_t used = r.pos_ - 8;
  if ((used + 7) / 8 != bytes - 1)
    Corrupt(std::to_string(bytes - 1 - (used + 7) / 8) + " bytes after the last point's bits");
  if ((r.pos_ & 7) != 0 && (payload[bytes - 1] & ((1u << (8 - (r.pos_ & 7))) - 1)) != 0)
    Corrupt("the padding bits after the last point are not zero");
}

}  // namespace rondo::codec
