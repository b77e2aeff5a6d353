// The codecs' N-API glue in the store's addon (argument checks and conversions only; the
// encoding is in gorilla.cc): gorillaEncode(timestamps, values) -> Uint8Array and
// gorillaDecode(payload, count, timestamps, values), for src/codec/native.ts. A payload that
// cannot be decoded throws an error with code RONDO_CORRUPT (as a damaged slab does), a bad
// argument RONDO_ARG; src/codec/ maps them to CorruptFileError and the argument errors.
#include "codec/codec_napi.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "codec/gorilla.h"
#include "common/error_codes.h"
#include "common/napi_util.h"

namespace rondo_addon {
namespace {

// Runs f(), turning the codec's exceptions into coded errors (WithSlabErrors' counterpart).
template <typename F>
auto WithCodecErrors(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const rondo::codec::CorruptChunk& e) {
    throw CodedError(env, rondo::codes::kCorrupt, e.what());
  } catch (const std::invalid_argument& e) {
    throw ArgRangeError(env, e.what());
  }
}

Napi::Float64Array F64(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw ArgTypeError(info.Env(), std::string(what) + " must be a Float64Array");
  return info[i].As<Napi::Float64Array>();
}

Napi::Uint8Array U8(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw ArgTypeError(info.Env(), std::string(what) + " must be a Uint8Array");
  return info[i].As<Napi::Uint8Array>();
}

// gorillaEncode(timestamps: Float64Array, values: Float64Array) -> Uint8Array (the payload)
Napi::Value GorillaEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float64Array ts = F64(info, 0, "timestamps");
  Napi::Float64Array vs = F64(info, 1, "values");
  if (ts.ElementLength() != vs.ElementLength())
    throw ArgRangeError(env, "gorillaEncode: " + std::to_string(ts.ElementLength()) + " timestamps but " +
                                 std::to_string(vs.ElementLength()) + " values");
  thread_local std::vector<uint8_t> buf;
  const size_t len = WithCodecErrors(env, [&] { return rondo::codec::GorillaEncode(ts.Data(), vs.Data(), ts.ElementLength(), &buf); });
  Napi::Uint8Array out = Napi::Uint8Array::New(env, len);
  std::memcpy(out.Data(), buf.data(), len);
  return out;
}

// gorillaDecode(payload: Uint8Array, count, timestamps: Float64Array, values: Float64Array):
// fills timestamps[0, count) and values[0, count).
Napi::Value GorillaDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array payload = U8(info, 0, "payload");
  const size_t n = static_cast<size_t>(IntegerIn(env, info[1], "count", 0, 4294967295.0));
  Napi::Float64Array ts = F64(info, 2, "timestamps");
  Napi::Float64Array vs = F64(info, 3, "values");
  if (ts.ElementLength() < n || vs.ElementLength() < n) throw ArgRangeError(env, "gorillaDecode: the output arrays are shorter than count");
  WithCodecErrors(env, [&] { rondo::codec::GorillaDecode(payload.Data(), payload.ElementLength(), n, ts.Data(), vs.Data()); });
  return env.Undefined();
}

}  // namespace

void DefineCodecs(Napi::Env env, Napi::Object exports) {
  exports.Set("gorillaEncode", Napi::Function::New(env, GorillaEncode, "gorillaEncode"));
  exports.Set("gorillaDecode", Napi::Function::New(env, GorillaDecode, "gorillaDecode"));
}

}  // namespace rondo_addon
