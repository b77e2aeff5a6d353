// Shared declarations of the N-API glue (the slab wrapper, used by the other native modules).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "rondo/slab.h"

namespace rondo_addon {

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& msg);

class SlabWrap : public Napi::ObjectWrap<SlabWrap> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  explicit SlabWrap(const Napi::CallbackInfo& info);
  // The slab behind a JavaScript Slab object, for native code that records without JavaScript.
  static std::shared_ptr<rondo::Slab> FromValue(Napi::Value v);
  static Napi::FunctionReference* constructor;

 private:
  rondo::Slab& Live(Napi::Env env);
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Claim(const Napi::CallbackInfo& info);
  Napi::Value Record(const Napi::CallbackInfo& info);
  Napi::Value ReadColumn(const Napi::CallbackInfo& info);
  Napi::Value ReadCell(const Napi::CallbackInfo& info);
  Napi::Value ReadRows(const Napi::CallbackInfo& info);
  Napi::Value Consolidate(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value SetCursor(const Napi::CallbackInfo& info);
  Napi::Value CountLate(const Napi::CallbackInfo& info);
  Napi::Value Params(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<rondo::Slab> slab_;
};

// Test-only helpers (native writer threads), exported as `testing`.
void InitTesting(Napi::Env env, Napi::Object exports);
void InitBench(Napi::Env env, Napi::Object exports);  // rondo bench (native/bench.cc)
void InitKvm(Napi::Env env, Napi::Object exports);  // the demo VMM's KVM layer (native/kvm/)

}  // namespace rondo_addon
