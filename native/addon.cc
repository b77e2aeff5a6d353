// N-API glue for the slab: argument checks and conversions only; the logic is in rondo/slab.cc.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string>

#include "addon.h"
#include "rondo/slab.h"

namespace rondo_addon {

Napi::FunctionReference* SlabWrap::constructor = nullptr;

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

namespace {

uint32_t U32Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d))
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be an unsigned 32-bit integer");
  return static_cast<uint32_t>(d);
}

uint64_t U53Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

Napi::Float64Array F64Arg(const Napi::CallbackInfo& info, size_t i, size_t need, const char* what) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Float64Array");
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (a.ElementLength() < need)
    throw Napi::RangeError::New(info.Env(), std::string(what) + " is too short");
  return a;
}

}  // namespace

Napi::Object SlabWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(
      env, "Slab",
      {
          InstanceMethod("buffer", &SlabWrap::Buffer),
          InstanceMethod("claim", &SlabWrap::Claim),
          InstanceMethod("record", &SlabWrap::Record),
          InstanceMethod("readColumn", &SlabWrap::ReadColumn),
          InstanceMethod("readCell", &SlabWrap::ReadCell),
          InstanceMethod("readRows", &SlabWrap::ReadRows),
          InstanceMethod("consolidate", &SlabWrap::Consolidate),
          InstanceMethod("counters", &SlabWrap::Counters),
          InstanceMethod("setCursor", &SlabWrap::SetCursor),
          InstanceMethod("countLate", &SlabWrap::CountLate),
          InstanceMethod("params", &SlabWrap::Params),
          InstanceMethod("flush", &SlabWrap::Flush),
          InstanceMethod("close", &SlabWrap::Close),
      });
  constructor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("Slab", f);
  return exports;
}

// new Slab(path, mode: 'create' | 'rw' | 'ro', params?)
SlabWrap::SlabWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlabWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString())
    throw Napi::TypeError::New(env, "Slab(path, mode, params?)");
  const std::string path = info[0].As<Napi::String>();
  const std::string mode = info[1].As<Napi::String>();
  rondo::OpenMode m;
  rondo::SlabParams p;
  if (mode == "create") {
    m = rondo::OpenMode::kCreate;
    if (!info[2].IsObject()) throw Napi::TypeError::New(env, "create needs params");
    Napi::Object o = info[2].As<Napi::Object>();
    auto num = [&](const char* k) { return o.Get(k).ToNumber().DoubleValue(); };
    p.kind = num("consolidated") != 0 ? rondo::TierKind::kConsolidated : rondo::TierKind::kRaw;
    p.max_series = static_cast<uint32_t>(num("maxSeries"));
    p.slots = static_cast<uint32_t>(num("slots"));
    p.interval_ms = static_cast<uint64_t>(num("intervalMs"));
    p.tier_index = static_cast<uint32_t>(num("tierIndex"));
    p.created_ms = static_cast<uint64_t>(num("createdMs"));
    p.schema_name = o.Get("schemaName").ToString().Utf8Value();
    if (o.Has("fileMode")) p.file_mode = static_cast<uint32_t>(num("fileMode")) & 0777;
  } else if (mode == "rw") {
    m = rondo::OpenMode::kReadWrite;
  } else if (mode == "ro") {
    m = rondo::OpenMode::kReadOnly;
  } else {
    throw Napi::TypeError::New(env, "mode must be create, rw or ro");
  }
  try {
    slab_ = rondo::Slab::Open(path, m, m == rondo::OpenMode::kCreate ? &p : nullptr);
  } catch (const rondo::CorruptSlab& e) {
    throw CodedError(env, "RONDO_CORRUPT", e.what());
  } catch (const rondo::SlabIoError& e) {
    throw CodedError(env, "RONDO_IO", e.what());
  } catch (const std::invalid_argument& e) {
    throw CodedError(env, "RONDO_ARG", e.what());
  }
}

rondo::Slab& SlabWrap::Live(Napi::Env env) {
  if (!slab_) throw CodedError(env, "RONDO_CLOSED", "slab is closed");
  return *slab_;
}

std::shared_ptr<rondo::Slab> SlabWrap::FromValue(Napi::Value v) {
  if (!v.IsObject() || constructor == nullptr ||
      !v.As<Napi::Object>().InstanceOf(constructor->Value()))
    throw Napi::TypeError::New(v.Env(), "expected a Slab");
  SlabWrap* w = Napi::ObjectWrap<SlabWrap>::Unwrap(v.As<Napi::Object>());
  w->Live(v.Env());
  return w->slab_;
}

// The whole mapping as an external ArrayBuffer. The buffer holds its own reference to the slab,
// so the memory stays mapped for as long as JavaScript can reach it, even after close().
Napi::Value SlabWrap::Buffer(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  if (s.read_only()) throw CodedError(info.Env(), "RONDO_ARG", "a read-only slab has no writable buffer");
  auto* hold = new std::shared_ptr<rondo::Slab>(slab_);
  return Napi::ArrayBuffer::New(
      info.Env(), s.base(), s.size(),
      [](Napi::Env, void*, std::shared_ptr<rondo::Slab>* h) { delete h; }, hold);
}

Napi::Value SlabWrap::Claim(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint64_t k = U53Arg(info, 0, "interval number");
  if (s.read_only()) throw CodedError(info.Env(), "RONDO_ARG", "slab is read-only");
  if (k == 0) throw Napi::RangeError::New(info.Env(), "interval number must be > 0");
  return Napi::Number::New(info.Env(), static_cast<int>(s.Claim(k)));
}

// The plain N-API write path (what the JavaScript fast path avoids); kept for comparison.
Napi::Value SlabWrap::Record(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint32_t col = U32Arg(info, 0, "column");
  const uint64_t ts = U53Arg(info, 1, "timestamp");
  const double v = info[2].As<Napi::Number>().DoubleValue();
  if (s.read_only()) throw CodedError(info.Env(), "RONDO_ARG", "slab is read-only");
  if (col >= s.params().max_series) throw Napi::RangeError::New(info.Env(), "column out of range");
  const uint64_t k = ts / s.params().interval_ms;
  if (k == 0) throw Napi::RangeError::New(info.Env(), "timestamp too small");
  return Napi::Number::New(info.Env(), static_cast<int>(s.Record(col, k, v)));
}

// readColumn(col, field, k0, n, out)
Napi::Value SlabWrap::ReadColumn(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint32_t col = U32Arg(info, 0, "column");
  const uint32_t field = U32Arg(info, 1, "field");
  const uint64_t k0 = U53Arg(info, 2, "first interval");
  const uint32_t n = U32Arg(info, 3, "count");
  Napi::Float64Array out = F64Arg(info, 4, n, "out");
  if (col >= s.params().max_series || field >= s.cell_words())
    throw Napi::RangeError::New(info.Env(), "column or field out of range");
  s.ReadColumn(col, field, k0, n, out.Data());
  return info.Env().Undefined();
}

// readRows(k0, n, ncols, out) -> rows present; out holds n * ncols * cellWords values
Napi::Value SlabWrap::ReadRows(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint64_t k0 = U53Arg(info, 0, "first interval");
  const uint32_t n = U32Arg(info, 1, "count");
  const uint32_t ncols = U32Arg(info, 2, "ncols");
  if (ncols > s.params().max_series) throw Napi::RangeError::New(info.Env(), "ncols out of range");
  Napi::Float64Array out = F64Arg(info, 3, static_cast<size_t>(n) * ncols * s.cell_words(), "out");
  return Napi::Number::New(info.Env(), s.ReadRows(k0, n, ncols, out.Data()));
}

// readCell(col, k, out) -> boolean
Napi::Value SlabWrap::ReadCell(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint32_t col = U32Arg(info, 0, "column");
  const uint64_t k = U53Arg(info, 1, "interval number");
  Napi::Float64Array out = F64Arg(info, 2, s.cell_words(), "out");
  if (col >= s.params().max_series) throw Napi::RangeError::New(info.Env(), "column out of range");
  return Napi::Boolean::New(info.Env(), s.ReadCell(col, k, out.Data()));
}

// consolidate(src, fromBucket, toBucket, ncols, xff, expectedPoints): fills [from, to) and
// moves this tier's cursor past each bucket as it is done, so a crash resumes where it stopped.
Napi::Value SlabWrap::Consolidate(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  std::shared_ptr<rondo::Slab> src = FromValue(info[0]);
  const uint64_t from = U53Arg(info, 1, "from");
  const uint64_t to = U53Arg(info, 2, "to");
  const uint32_t ncols = U32Arg(info, 3, "ncols");
  const double xff = info[4].As<Napi::Number>().DoubleValue();
  const double expected = info[5].As<Napi::Number>().DoubleValue();
  if (s.read_only() || s.params().kind != rondo::TierKind::kConsolidated)
    throw CodedError(info.Env(), "RONDO_ARG", "consolidate needs a writable consolidated slab");
  if (ncols > s.params().max_series || ncols > src->params().max_series || from == 0 ||
      src->params().interval_ms == 0 || s.params().interval_ms % src->params().interval_ms != 0 ||
      !(expected > 0))
    throw Napi::RangeError::New(info.Env(), "consolidate arguments out of range");
  for (uint64_t b = from; b < to; b++) {
    s.ConsolidateBucket(*src, b, ncols, xff, expected);
    s.set_cursor(b + 1);
  }
  return info.Env().Undefined();
}

Napi::Value SlabWrap::Counters(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("head", static_cast<double>(s.head()));
  o.Set("lateWrites", static_cast<double>(s.late_writes()));
  o.Set("claims", static_cast<double>(s.claims()));
  o.Set("repairs", static_cast<double>(s.repairs()));
  o.Set("cursor", static_cast<double>(s.cursor()));
  return o;
}

Napi::Value SlabWrap::SetCursor(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint64_t v = U53Arg(info, 0, "cursor");
  if (s.read_only()) throw CodedError(info.Env(), "RONDO_ARG", "slab is read-only");
  s.set_cursor(v);
  return info.Env().Undefined();
}

Napi::Value SlabWrap::CountLate(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  if (!s.read_only()) s.count_late();
  return info.Env().Undefined();
}

Napi::Value SlabWrap::Params(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const rondo::SlabParams& p = s.params();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("consolidated", p.kind == rondo::TierKind::kConsolidated);
  o.Set("maxSeries", p.max_series);
  o.Set("slots", p.slots);
  o.Set("intervalMs", static_cast<double>(p.interval_ms));
  o.Set("tierIndex", p.tier_index);
  o.Set("createdMs", static_cast<double>(p.created_ms));
  o.Set("schemaName", p.schema_name);
  o.Set("cellWords", s.cell_words());
  o.Set("rowWords", static_cast<double>(s.row_words()));
  o.Set("headerBytes", rondo::kHeaderBytes);
  o.Set("fileBytes", static_cast<double>(s.size()));
  return o;
}

Napi::Value SlabWrap::Flush(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  try {
    s.Flush();
  } catch (const rondo::SlabIoError& e) {
    throw CodedError(info.Env(), "RONDO_IO", e.what());
  }
  return info.Env().Undefined();
}

// Flushes and drops this wrapper's reference; the mapping goes when nothing else holds it.
Napi::Value SlabWrap::Close(const Napi::CallbackInfo& info) {
  if (slab_) {
    try {
      slab_->Flush();
    } catch (const rondo::SlabIoError& e) {
      slab_.reset();
      throw CodedError(info.Env(), "RONDO_IO", e.what());
    }
    slab_.reset();
  }
  return info.Env().Undefined();
}

// lockStore(path, mode?) -> fd. An advisory, exclusive, non-blocking flock; the pid goes in the file.
Napi::Value LockStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>();
  const mode_t mode = info[1].IsNumber() ? static_cast<mode_t>(info[1].As<Napi::Number>().Uint32Value() & 0777) : 0600;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) throw CodedError(env, "RONDO_IO", "open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      Napi::Error e = CodedError(env, "RONDO_LOCKED", "locked by pid " + holder);
      e.Set("pid", Napi::String::New(env, holder));
      throw e;
    }
    throw CodedError(env, "RONDO_IO", "flock " + path + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is only a hint for the error message of a second writer; the lock holds anyway.
  }
  return Napi::Number::New(env, fd);
}

Napi::Value UnlockStore(const Napi::CallbackInfo& info) {
  const int fd = static_cast<int>(info[0].As<Napi::Number>().Int32Value());
  if (fd >= 0) ::close(fd);  // closing the descriptor releases the flock
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  SlabWrap::Init(env, exports);
  exports.Set("lockStore", Napi::Function::New(env, LockStore));
  exports.Set("unlockStore", Napi::Function::New(env, UnlockStore));
  exports.Set("headerBytes", Napi::Number::New(env, rondo::kHeaderBytes));
  exports.Set("formatVersion", Napi::Number::New(env, rondo::kFormatVersion));
  InitTesting(env, exports);
  InitBench(env, exports);
  InitKvm(env, exports);
  return exports;
}

}  // namespace rondo_addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return rondo_addon::Init(env, exports);
}

NODE_API_MODULE(rondo, InitModule)
