// N-API helpers shared by the three addons (each compiles its own copy): coded errors and
// argument checks whose messages name the argument and its bounds.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>

#include "common/error_codes.h"

namespace rondo_addon {

// An Error with `code` set (one of common/error_codes.h).
inline Napi::Error CodedError(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

// A TypeError (wrong type) or RangeError (out of bounds) with code RONDO_ARG.
inline Napi::Error ArgTypeError(Napi::Env env, const std::string& msg) {
  Napi::Error e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, rondo::codes::kArg));
  return e;
}
inline Napi::Error ArgRangeError(Napi::Env env, const std::string& msg) {
  Napi::Error e = Napi::RangeError::New(env, msg);
  e.Set("code", Napi::String::New(env, rondo::codes::kArg));
  return e;
}

// A whole number in [lo, hi] (hi at most 2^53 - 1); `what` names it in the error.
inline double IntegerIn(Napi::Env env, Napi::Value v, const char* what, double lo, double hi) {
  if (!v.IsNumber()) throw ArgTypeError(env, std::string(what) + " must be a number, got " + v.ToString().Utf8Value());
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != std::floor(d))
    throw ArgRangeError(env, std::string(what) + " must be an integer from " + std::to_string(static_cast<uint64_t>(lo)) +
                                 " to " + std::to_string(static_cast<uint64_t>(hi)) + ", got " + v.ToString().Utf8Value());
  return d;
}

}  // namespace rondo_addon
