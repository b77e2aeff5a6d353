// The Gorilla encoding (Pelkonen et al., VLDB 2015, section 4.1) in C++: delta-of-delta
// timestamps in the paper's buckets, XOR-encoded values with the leading/trailing-zero window.
// Plain C++ (no N-API): native/codec/codec_napi.cc binds it to the store's addon. The bytes are
// the same as src/codec/gorilla.ts writes (docs/codecs.md, "Gorilla bit layout").
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace rondo::codec {

// A payload that cannot be decoded: the message says what is wrong.
class CorruptChunk : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Timestamps Gorilla takes: integers (ms) of at most 2^51 in magnitude.
inline constexpr int64_t kMaxTimestamp = int64_t{1} << 51;
// Bit 0 of the payload's first byte: the last timestamp bucket is 64 bits instead of 32.
inline constexpr uint8_t kFlagWide = 1;

// The most bytes the payload of n points can take.
size_t GorillaMaxBytes(size_t n);

// Encodes n points into out (grown to GorillaMaxBytes(n) if smaller); returns the payload's
// length, out[0, length). Throws std::invalid_argument for a timestamp that is not an integer
// within kMaxTimestamp.
size_t GorillaEncode(const double* timestamps, const double* values, size_t n, std::vector<uint8_t>* out);

// Decodes n points of a payload into timestamps[n] and values[n]; throws CorruptChunk.
void GorillaDecode(const uint8_t* payload, size_t bytes, size_t n, double* timestamps, double* values);

}  // namespace rondo::codec
