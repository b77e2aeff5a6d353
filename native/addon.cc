// The store's addon (build/<variant>/rondo.node): the N-API glue of the slab (argument checks and
// conversions only; the logic is in rondo/slab.cc), the store's writer lock, and the slab format's
// constants (format) for the TypeScript side. Per-environment state (the Slab class) is addon
// instance data, so the addon loads in any number of worker threads at once.
//
// Portability: the writer lock is flock(2) (Linux, macOS, the BSDs). Where there is no flock
// (or with -DRONDO_LOCK_WITH_FCNTL) it is a POSIX fcntl(F_SETLK) lock instead, with a set of the
// files this process holds, since fcntl locks do not exclude a second open in the same process.
// Untested on macOS (its flock is the BSD one the Linux semantics come from); the fcntl variant
// was tried on Linux only (CPPFLAGS=-DRONDO_LOCK_WITH_FCNTL: test/lock.test.ts passes). See
// native/rondo/slab.cc for the rest of what is untested on macOS.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "codec/codec_napi.h"
#include "common/error_codes.h"
#include "common/napi_util.h"
#include "common/raii.h"
#include "common/slab_errors.h"
#include "rondo/events.h"
#include "rondo/slab.h"

#if !defined(LOCK_EX) || defined(RONDO_LOCK_WITH_FCNTL)
#define RONDO_FCNTL_LOCK 1
#include <mutex>
#include <set>
#include <utility>
#endif

namespace rondo_addon {
namespace {

namespace codes = rondo::codes;

uint32_t U32Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw ArgTypeError(info.Env(), std::string(what) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d))
    throw ArgRangeError(info.Env(), std::string(what) + " must be an unsigned 32-bit integer");
  return static_cast<uint32_t>(d);
}

uint64_t U53Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw ArgTypeError(info.Env(), std::string(what) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw ArgRangeError(info.Env(), std::string(what) + " must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

Napi::Float64Array F64Arg(const Napi::CallbackInfo& info, size_t i, size_t need, const char* what) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw ArgTypeError(info.Env(), std::string(what) + " must be a Float64Array");
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (a.ElementLength() < need)
    throw ArgRangeError(info.Env(), std::string(what) + " is too short");
  return a;
}

// kinds: a Uint8Array of at least `need` entries (non-zero: the column is a counter).
const uint8_t* KindsArg(const Napi::CallbackInfo& info, size_t i, size_t need) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw ArgTypeError(info.Env(), "kinds must be a Uint8Array");
  Napi::Uint8Array a = info[i].As<Napi::Uint8Array>();
  if (a.ElementLength() < need) throw ArgRangeError(info.Env(), "kinds is too short");
  return a.Data();
}

// The create parameters of a slab, each checked against its bounds (rondo/slab.h).
rondo::SlabParams CreateParams(Napi::Env env, Napi::Value arg) {
  if (!arg.IsObject())
    throw ArgTypeError(env, "new Slab(path, 'create', params): params must be an object");
  Napi::Object o = arg.As<Napi::Object>();
  rondo::SlabParams p;
  const Napi::Value consolidated = o.Get("consolidated");
  if (!consolidated.IsBoolean()) throw ArgTypeError(env, "consolidated must be a boolean");
  p.kind = consolidated.As<Napi::Boolean>().Value() ? rondo::TierKind::kConsolidated : rondo::TierKind::kRaw;
  p.max_series = static_cast<uint32_t>(IntegerIn(env, o.Get("maxSeries"), "maxSeries", 1, rondo::kMaxSeriesLimit));
  p.slots = static_cast<uint32_t>(IntegerIn(env, o.Get("slots"), "slots", 1, rondo::kMaxSlotsLimit));
  p.interval_ms = static_cast<uint64_t>(IntegerIn(env, o.Get("intervalMs"), "intervalMs", 1, static_cast<double>(rondo::kMaxIntervalMs)));
  p.tier_index = static_cast<uint32_t>(IntegerIn(env, o.Get("tierIndex"), "tierIndex", 0, 4294967295.0));
  p.created_ms = static_cast<uint64_t>(IntegerIn(env, o.Get("createdMs"), "createdMs", 0, static_cast<double>(rondo::kMaxCreatedMs)));
  const Napi::Value name = o.Get("schemaName");
  if (!name.IsString()) throw ArgTypeError(env, "schemaName must be a string");
  p.schema_name = name.As<Napi::String>().Utf8Value();
  if (p.schema_name.size() >= rondo::kSchemaNameBytes || p.schema_name.find('\0') != std::string::npos)
    throw ArgRangeError(env, "schemaName must be at most " + std::to_string(rondo::kSchemaNameBytes - 1) +
                                 " bytes of UTF-8 without NUL, got " + std::to_string(p.schema_name.size()) + " bytes");
  const Napi::Value mode = o.Get("fileMode");
  if (!mode.IsUndefined()) p.file_mode = static_cast<uint32_t>(IntegerIn(env, mode, "fileMode", 0, rondo::kMaxFileMode));
  if (p.kind == rondo::TierKind::kConsolidated) {
    p.aggregates = static_cast<uint32_t>(IntegerIn(env, o.Get("aggregates"), "aggregates", 1, rondo::kAllAggregates));
    p.value_bytes = static_cast<uint32_t>(IntegerIn(env, o.Get("valueBytes"), "valueBytes", 4, 8));
    rondo::CellLayout l;
    if (!rondo::MakeCellLayout(p.aggregates, p.value_bytes, &l))
      throw ArgRangeError(env, "valueBytes must be 4 or 8");
  }
  return p;
}

}  // namespace

class SlabWrap : public Napi::ObjectWrap<SlabWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SlabWrap(const Napi::CallbackInfo& info);
  // The slab behind a JavaScript Slab object of this addon (and this environment).
  static std::shared_ptr<rondo::Slab> FromValue(Napi::Value v);

 private:
  rondo::Slab& Live(Napi::Env env);
  static void Intact(Napi::Env env, const rondo::Slab& s);
  Napi::Value DamageFlag(const Napi::CallbackInfo& info);
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Claim(const Napi::CallbackInfo& info);
  Napi::Value Record(const Napi::CallbackInfo& info);
  Napi::Value ReadColumn(const Napi::CallbackInfo& info);
  Napi::Value ReadRawSpan(const Napi::CallbackInfo& info);
  Napi::Value ReadRows(const Napi::CallbackInfo& info);
  Napi::Value Consolidate(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value CountLate(const Napi::CallbackInfo& info);
  Napi::Value Params(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void ReleaseBuffers();
  Napi::ArrayBuffer HandOut(Napi::Env env, void* data, size_t bytes);

  // What a buffer handed to JavaScript holds of the slab: emptied by close(), after which the
  // buffer is detached, so the mapping goes with the slab, not with the buffer's finalizer.
  struct BufferHold {
    std::shared_ptr<rondo::Slab> slab;
  };

  std::shared_ptr<rondo::Slab> slab_;
  std::vector<std::pair<Napi::Reference<Napi::ArrayBuffer>, std::shared_ptr<BufferHold>>> buffers_;
};

// The addon's per-environment data: one per main thread or worker that loads it.
class StoreAddon : public Napi::Addon<StoreAddon> {
 public:
  StoreAddon(Napi::Env env, Napi::Object exports);
  Napi::FunctionReference slab_class;
  Napi::FunctionReference event_ring_class;
};

Napi::Function SlabWrap::Define(Napi::Env env) {
  return DefineClass(env, "Slab",
                     {
                         InstanceMethod("buffer", &SlabWrap::Buffer),
                         InstanceMethod("claim", &SlabWrap::Claim),
                         InstanceMethod("record", &SlabWrap::Record),
                         InstanceMethod("readColumn", &SlabWrap::ReadColumn),
                         InstanceMethod("readRawSpan", &SlabWrap::ReadRawSpan),
                         InstanceMethod("readRows", &SlabWrap::ReadRows),
                         InstanceMethod("consolidate", &SlabWrap::Consolidate),
                         InstanceMethod("counters", &SlabWrap::Counters),
                         InstanceMethod("countLate", &SlabWrap::CountLate),
                         InstanceMethod("params", &SlabWrap::Params),
                         InstanceMethod("flush", &SlabWrap::Flush),
                         InstanceMethod("close", &SlabWrap::Close),
                         InstanceMethod("damageFlag", &SlabWrap::DamageFlag),
                     });
}

// new Slab(path, mode: 'create' | 'rw' | 'ro' | 'attach', params?)
SlabWrap::SlabWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlabWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "new Slab(path, mode, params?): path must be a string");
  if (!info[1].IsString()) throw ArgTypeError(env, "new Slab(path, mode, params?): mode must be a string");
  const std::string path = info[0].As<Napi::String>();
  const std::string mode = info[1].As<Napi::String>();
  rondo::OpenMode m;
  rondo::SlabParams p;
  if (mode == "create") {
    m = rondo::OpenMode::kCreate;
    p = CreateParams(env, info[2]);
  } else if (mode == "rw") {
    m = rondo::OpenMode::kReadWrite;
  } else if (mode == "ro") {
    m = rondo::OpenMode::kReadOnly;
  } else if (mode == "attach") {
    m = rondo::OpenMode::kAttach;
  } else {
    throw ArgTypeError(env, "mode must be create, rw, ro or attach");
  }
  slab_ = WithSlabErrors(env, [&] { return rondo::Slab::Open(path, m, m == rondo::OpenMode::kCreate ? &p : nullptr); });
}

rondo::Slab& SlabWrap::Live(Napi::Env env) {
  if (!slab_) throw CodedError(env, codes::kClosed, "slab is closed");
  Intact(env, *slab_);
  return *slab_;
}

// Throws kCorrupt for a slab whose file was cut short under its mapping (rondo/sigbus.h): checked
// before each call (Live) and after the calls that read or write rows, which may be the first
// to touch a lost page.
void SlabWrap::Intact(Napi::Env env, const rondo::Slab& s) {
  WithSlabErrors(env, [&] { s.ThrowIfDamaged(); });
}

std::shared_ptr<rondo::Slab> SlabWrap::FromValue(Napi::Value v) {
  Napi::Env env = v.Env();
  StoreAddon* addon = env.GetInstanceData<StoreAddon>();
  if (!v.IsObject() || addon == nullptr || !v.As<Napi::Object>().InstanceOf(addon->slab_class.Value()))
    throw ArgTypeError(env, "expected a Slab");
  SlabWrap* w = Napi::ObjectWrap<SlabWrap>::Unwrap(v.As<Napi::Object>());
  w->Live(env);
  return w->slab_;
}

// The whole mapping as an external ArrayBuffer. The buffer holds its own reference to the slab,
// so the memory stays mapped for as long as JavaScript can reach it, until close(): close()
// detaches every buffer still alive (the store drops its views before it closes a slab) and lets
// go of their references, so the mapping is unmapped then. Node runs an external buffer's
// finalizer only on a later turn of the event loop: a process that opens and closes stores in
// one synchronous loop would otherwise keep every mapping until it ran out of them
// (vm.max_map_count) and failed its next allocation.
Napi::Value SlabWrap::Buffer(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  if (s.read_only()) throw CodedError(info.Env(), codes::kArg, "a read-only slab has no writable buffer");
  return HandOut(info.Env(), s.base(), s.size());
}

// An external ArrayBuffer over `data` that holds the slab until close() detaches it (or it is
// collected first), so the mapping goes with close(), not with the buffer's finalizer.
Napi::ArrayBuffer SlabWrap::HandOut(Napi::Env env, void* data, size_t bytes) {
  auto hold = std::make_shared<BufferHold>(BufferHold{slab_});
  auto* finalized = new std::shared_ptr<BufferHold>(hold);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, data, bytes, [](Napi::Env, void*, std::shared_ptr<BufferHold>* h) { delete h; }, finalized);
  // Buffers already collected need no detaching: drop their entries as new ones come.
  std::erase_if(buffers_, [](const auto& b) { return b.first.Value().IsEmpty(); });
  buffers_.emplace_back(Napi::Weak(ab), std::move(hold));
  return ab;
}

void SlabWrap::ReleaseBuffers() {
  for (auto& [ref, hold] : buffers_) {
    Napi::ArrayBuffer ab = ref.Value();
    if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    hold->slab.reset();
  }
  buffers_.clear();
}

Napi::Value SlabWrap::Claim(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint64_t k = U53Arg(info, 0, "interval number");
  if (s.read_only()) throw CodedError(info.Env(), codes::kArg, "slab is read-only");
  if (k == 0) throw ArgRangeError(info.Env(), "interval number must be > 0");
  const int r = static_cast<int>(s.Claim(k));
  Intact(info.Env(), s);
  return Napi::Number::New(info.Env(), r);
}

// The plain N-API write path (what the JavaScript fast path avoids); kept for comparison.
Napi::Value SlabWrap::Record(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint32_t col = U32Arg(info, 0, "column");
  const uint64_t ts = U53Arg(info, 1, "timestamp");
  const double v = info[2].As<Napi::Number>().DoubleValue();
  if (s.read_only()) throw CodedError(info.Env(), codes::kArg, "slab is read-only");
  if (col >= s.params().max_series) throw ArgRangeError(info.Env(), "column out of range");
  const uint64_t k = ts / s.params().interval_ms;
  if (k == 0) throw ArgRangeError(info.Env(), "timestamp too small");
  return Napi::Number::New(info.Env(), static_cast<int>(s.Record(col, k, v)));
}

// readColumn(col, agg, counter, k0, n, out)
Napi::Value SlabWrap::ReadColumn(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint32_t col = U32Arg(info, 0, "column");
  const uint32_t agg = U32Arg(info, 1, "aggregate");
  if (!info[2].IsBoolean()) throw ArgTypeError(info.Env(), "counter must be a boolean");
  const bool counter = info[2].As<Napi::Boolean>().Value();
  const uint64_t k0 = U53Arg(info, 3, "first interval");
  const uint32_t n = U32Arg(info, 4, "count");
  Napi::Float64Array out = F64Arg(info, 5, n, "out");
  if (col >= s.params().max_series || agg >= rondo::kAggCount)
    throw ArgRangeError(info.Env(), "column or aggregate out of range");
  s.ReadColumn(col, agg, counter, k0, n, out.Data());
  Intact(info.Env(), s);
  return info.Env().Undefined();
}

// readRawSpan(col, k0, out): tier 0 only; out holds 2n values: n timestamps, then n values.
// The tier-0 query's one call (rondo/slab.h, Slab::ReadRawSpan); its typed array is looked at once.
Napi::Value SlabWrap::ReadRawSpan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rondo::Slab& s = Live(env);
  const uint32_t col = U32Arg(info, 0, "column");
  const uint64_t k0 = U53Arg(info, 1, "first interval");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (!info[2].IsTypedArray() ||
      napi_get_typedarray_info(env, info[2], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array)
    throw ArgTypeError(env, "out must be a Float64Array");
  if (s.params().kind != rondo::TierKind::kRaw || col >= s.params().max_series || length % 2 != 0 ||
      length / 2 > 4294967295.0)
    throw ArgRangeError(env, "readRawSpan: a raw slab, a column in range and an even-length out");
  const uint32_t n = static_cast<uint32_t>(length / 2);
  double* out = static_cast<double*>(data);
  s.ReadRawSpan(col, k0, n, out, out + n);
  Intact(env, s);
  return env.Undefined();
}

// readRows(k0, n, ncols, agg, kinds, out) -> rows present; out holds n * ncols values
Napi::Value SlabWrap::ReadRows(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  const uint64_t k0 = U53Arg(info, 0, "first interval");
  const uint32_t n = U32Arg(info, 1, "count");
  const uint32_t ncols = U32Arg(info, 2, "ncols");
  const uint32_t agg = U32Arg(info, 3, "aggregate");
  if (ncols > s.params().max_series || agg >= rondo::kAggCount)
    throw ArgRangeError(info.Env(), "ncols or aggregate out of range");
  const uint8_t* kinds = KindsArg(info, 4, ncols);
  Napi::Float64Array out = F64Arg(info, 5, static_cast<size_t>(n) * ncols, "out");
  const uint32_t present = s.ReadRows(k0, n, ncols, agg, kinds, out.Data());
  Intact(info.Env(), s);
  return Napi::Number::New(info.Env(), present);
}

// consolidate(src, fromBucket, toBucket, ncols, xff, expectedPoints, kinds): fills [from, to)
// and moves this tier's cursor past each bucket as it is done, so a crash resumes where it stopped.
Napi::Value SlabWrap::Consolidate(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  std::shared_ptr<rondo::Slab> src = FromValue(info[0]);
  const uint64_t from = U53Arg(info, 1, "from");
  const uint64_t to = U53Arg(info, 2, "to");
  const uint32_t ncols = U32Arg(info, 3, "ncols");
  if (!info[4].IsNumber() || !info[5].IsNumber()) throw ArgTypeError(info.Env(), "xff and expectedPoints must be numbers");
  const double xff = info[4].As<Napi::Number>().DoubleValue();
  const double expected = info[5].As<Napi::Number>().DoubleValue();
  if (s.read_only() || !s.consolidated())
    throw CodedError(info.Env(), codes::kArg, "consolidate needs a writable consolidated slab");
  if (ncols > s.params().max_series || ncols > src->params().max_series || from == 0 || to > rondo::kMaxBucket ||
      src->params().interval_ms == 0 || s.params().interval_ms % src->params().interval_ms != 0 ||
      s.params().interval_ms == src->params().interval_ms || !(expected > 0))
    throw ArgRangeError(info.Env(), "consolidate arguments out of range");
  if (!s.Derives(*src))
    throw ArgRangeError(info.Env(), "consolidate: the source tier does not keep the aggregates this tier is made from");
  const uint8_t* kinds = KindsArg(info, 6, ncols);
  Intact(info.Env(), *src);
  for (uint64_t b = from; b < to; b++) {
    s.ConsolidateBucket(*src, b, ncols, xff, expected, kinds);
    // A bucket made from a cut-short source is not published further (nor the cursor moved).
    Intact(info.Env(), *src);
    Intact(info.Env(), s);
    s.set_cursor(b + 1);
  }
#if defined(__linux__)
  // A catch-up (a new store's first pass reads its whole source ring, empty rows included) maps
  // megabytes into the process that the next ticks do not use: let go of them (they stay in the
  // page cache, MAP_SHARED; the rows in use come back as they are touched).
  const uint64_t ratio = s.params().interval_ms / src->params().interval_ms;
  if ((to - from) * ratio * src->row_words() * 8 >= (1u << 20)) {
    ::madvise(src->base(), src->size(), MADV_DONTNEED);
    ::madvise(s.base(), s.size(), MADV_DONTNEED);
  }
#endif
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
  Intact(info.Env(), s);
  return o;
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
  o.Set("cellBytes", s.cell_bytes());
  o.Set("rowBytes", static_cast<double>(s.row_bytes()));
  o.Set("rowWords", static_cast<double>(s.row_words()));
  o.Set("aggregates", p.aggregates);
  o.Set("valueBytes", p.value_bytes);
  o.Set("fileBytes", static_cast<double>(s.size()));
  return o;
}

Napi::Value SlabWrap::Flush(const Napi::CallbackInfo& info) {
  rondo::Slab& s = Live(info.Env());
  WithSlabErrors(info.Env(), [&] { s.CheckSize(); });
  try {
    s.Flush();
  } catch (const rondo::SlabIoError& e) {
    throw CodedError(info.Env(), codes::kIo, e.what());
  }
  return info.Env().Undefined();
}

// damageFlag() -> an ArrayBuffer of 4 bytes over the slab's damage flag (a u32: 1 once its file
// was found cut short), for the JavaScript writer to look at when it takes a row; it holds the
// slab (and so the flag) as buffer() does. Undefined when the slab is not covered.
Napi::Value SlabWrap::DamageFlag(const Napi::CallbackInfo& info) {
  if (!slab_) throw CodedError(info.Env(), codes::kClosed, "slab is closed");
  rondo::Slab& s = *slab_;
  std::atomic<uint32_t>* f = s.damage_flag();
  if (f == nullptr) return info.Env().Undefined();
  return HandOut(info.Env(), static_cast<void*>(f), sizeof(uint32_t));
}

// Flushes and drops this wrapper's reference; the mapping goes when nothing else holds it.
Napi::Value SlabWrap::Close(const Napi::CallbackInfo& info) {
  ReleaseBuffers();
  if (slab_) {
    try {
      slab_->Flush();
    } catch (const rondo::SlabIoError& e) {
      slab_.reset();
      throw CodedError(info.Env(), codes::kIo, e.what());
    }
    slab_.reset();
  }
  return info.Env().Undefined();
}

// An event ring (rondo/events.h) for src/store/events.ts.
class EventRingWrap : public Napi::ObjectWrap<EventRingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EventRing",
                       {
                           InstanceMethod("append", &EventRingWrap::Append),
                           InstanceMethod("read", &EventRingWrap::Read),
                           InstanceMethod("readPacked", &EventRingWrap::ReadPacked),
                           InstanceMethod("buffer", &EventRingWrap::Buffer),
                           InstanceMethod("damageFlag", &EventRingWrap::DamageFlag),
                           InstanceMethod("stats", &EventRingWrap::Stats),
                           InstanceMethod("params", &EventRingWrap::Params),
                           InstanceMethod("flush", &EventRingWrap::Flush),
                           InstanceMethod("close", &EventRingWrap::Close),
                       });
  }
  // new EventRing(path, mode: 'create' | 'rw' | 'ro' | 'attach', params?: { size, createdMs, fileMode? })
  explicit EventRingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventRingWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw ArgTypeError(env, "new EventRing(path, mode, params?): path must be a string");
    if (!info[1].IsString()) throw ArgTypeError(env, "new EventRing(path, mode, params?): mode must be a string");
    const std::string path = info[0].As<Napi::String>();
    const std::string mode = info[1].As<Napi::String>();
    rondo::OpenMode m;
    uint64_t size = 0, created = 0;
    uint32_t file_mode = 0600;
    if (mode == "create") {
      m = rondo::OpenMode::kCreate;
      if (!info[2].IsObject()) throw ArgTypeError(env, "new EventRing(path, 'create', params): params must be an object");
      Napi::Object o = info[2].As<Napi::Object>();
      size = static_cast<uint64_t>(IntegerIn(env, o.Get("size"), "size", static_cast<double>(rondo::kEvMinCapacity),
                                             static_cast<double>(rondo::kEvMaxCapacity)));
      created = static_cast<uint64_t>(IntegerIn(env, o.Get("createdMs"), "createdMs", 0, static_cast<double>(rondo::kMaxCreatedMs)));
      if (!o.Get("fileMode").IsUndefined())
        file_mode = static_cast<uint32_t>(IntegerIn(env, o.Get("fileMode"), "fileMode", 0, rondo::kMaxFileMode));
    } else if (mode == "rw") {
      m = rondo::OpenMode::kReadWrite;
    } else if (mode == "ro") {
      m = rondo::OpenMode::kReadOnly;
    } else if (mode == "attach") {
      m = rondo::OpenMode::kAttach;
    } else {
      throw ArgTypeError(env, "mode must be create, rw, ro or attach");
    }
    ring_ = WithSlabErrors(env, [&] { return rondo::EventRing::Open(path, m, size, created, file_mode); });
  }

 private:
  rondo::EventRing& Live(Napi::Env env) {
    if (!ring_) throw CodedError(env, codes::kClosed, "event ring is closed");
    return *ring_;
  }

  // append(topic, typeAndFlags, data: Uint8Array | string, tsNs?: bigint) -> position. The hot
  // path of JavaScript appends: raw N-API calls, as few as the checks need.
  Napi::Value Append(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventRing& r = Live(env);
    uint32_t topic, tf;
    if (napi_get_value_uint32(env, info[0], &topic) != napi_ok || napi_get_value_uint32(env, info[1], &tf) != napi_ok)
      throw ArgTypeError(env, "append(topic, type, data, tsNs?): topic and type must be numbers");
    int64_t ts;
    napi_valuetype tt;
    napi_typeof(env, info[3], &tt);
    if (tt == napi_bigint) {
      bool lossless = false;
      napi_get_value_bigint_int64(env, info[3], &ts, &lossless);
      if (!lossless) throw ArgRangeError(env, "tsNs must fit a signed 64-bit integer");
    } else if (tt == napi_undefined) {
      struct timespec now;
      ::clock_gettime(CLOCK_REALTIME, &now);
      ts = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    } else {
      throw ArgTypeError(env, "tsNs must be a bigint (ns since the epoch)");
    }
    const void* data = nullptr;
    size_t len = 0;
    napi_typedarray_type at;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, info[2], &at, &len, const_cast<void**>(&data), &ab, &offset) == napi_ok) {
      if (at != napi_uint8_array && at != napi_uint8_clamped_array && at != napi_int8_array)
        throw ArgTypeError(env, "data must be a Uint8Array (a Buffer) or a string");
    } else if (napi_get_value_string_utf8(env, info[2], nullptr, 0, &len) == napi_ok) {
      // The UTF-8 of a string, into a buffer of this thread's kept from call to call.
      thread_local std::vector<char> utf8;
      if (utf8.size() < len + 1) utf8.resize(len + 1);
      napi_get_value_string_utf8(env, info[2], utf8.data(), len + 1, &len);
      data = utf8.data();
    } else {
      throw ArgTypeError(env, "data must be a Uint8Array (a Buffer) or a string");
    }
    if (len > 0xFFFFFFFFu) throw ArgRangeError(env, "an event's data must be under 4 GiB");
    const uint64_t pos = WithSlabErrors(env, [&] {
      return r.Append(ts, topic, static_cast<uint8_t>(tf), static_cast<uint8_t>(tf >> 8), data, static_cast<uint32_t>(len));
    });
    napi_value out;
    napi_create_double(env, static_cast<double>(pos), &out);
    return Napi::Value(env, out);
  }

  // The filter arguments read() and readPacked() share: (from, startNs: bigint | null,
  // endNs: bigint | null, topics: Uint8Array | null, limit, maxBytes?). The topics mask points
  // into the caller's array, alive for the call.
  static rondo::EventFilter FilterArgs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventFilter f;
    bool lossless = false;
    if (info[1].IsBigInt()) f.start_ns = info[1].As<Napi::BigInt>().Int64Value(&lossless);
    else if (!info[1].IsNull() && !info[1].IsUndefined()) throw ArgTypeError(env, "startNs must be a bigint or null");
    if (info[2].IsBigInt()) f.end_ns = info[2].As<Napi::BigInt>().Int64Value(&lossless);
    else if (!info[2].IsNull() && !info[2].IsUndefined()) throw ArgTypeError(env, "endNs must be a bigint or null");
    Napi::Uint8Array topics;
    if (info[3].IsTypedArray() && info[3].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      topics = info[3].As<Napi::Uint8Array>();
      f.topics = topics.Data();
      f.ntopics = static_cast<uint32_t>(std::min<size_t>(topics.ElementLength(), 0xFFFFFFFFu));
    } else if (!info[3].IsNull() && !info[3].IsUndefined()) {
      throw ArgTypeError(env, "topics must be a Uint8Array or null");
    }
    f.limit = U32Arg(info, 4, "limit");
    if (!info[5].IsUndefined()) f.max_bytes = U53Arg(info, 5, "maxBytes");
    return f;
  }

  // read(from, startNs: bigint | null, endNs: bigint | null, topics: Uint8Array | null, limit, maxBytes)
  //   -> { next, records: [{ pos, ts, topic, type, flags, data }] }
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventRing& r = Live(env);
    const uint64_t from = U53Arg(info, 0, "from");
    rondo::EventFilter f = FilterArgs(info);
    std::vector<rondo::EventRecord> recs;
    const uint64_t next = WithSlabErrors(env, [&] { return r.Read(from, f, &recs); });
    Napi::Array arr = Napi::Array::New(env, recs.size());
    for (size_t i = 0; i < recs.size(); i++) {
      const rondo::EventRecord& e = recs[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("pos", static_cast<double>(e.position));
      o.Set("ts", Napi::BigInt::New(env, e.ts_ns));
      o.Set("topic", e.topic);
      o.Set("type", static_cast<uint32_t>(e.type));
      o.Set("flags", static_cast<uint32_t>(e.flags));
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, e.data.data(), e.data.size()));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("next", static_cast<double>(next));
    out.Set("records", arr);
    return out;
  }

  // readPacked(from, startNs, endNs, topics, limit, maxBytes?) -> { next, count, ts: BigInt64Array,
  //   topic: Uint32Array, typeFlags: Uint16Array, end: Uint32Array, data: Buffer }: the records
  // read() would answer, as columns (record i's payload is data[end[i-1] .. end[i])), made with
  // a handful of allocations whatever their number: what a query over a million records reads.
  Napi::Value ReadPacked(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventRing& r = Live(env);
    const uint64_t from = U53Arg(info, 0, "from");
    rondo::EventFilter f = FilterArgs(info);
    if (f.max_bytes > 0xFFFFFFFFull) f.max_bytes = 0xFFFFFFFFull;  // ends are u32
    rondo::PackedEvents p;
    const uint64_t next = WithSlabErrors(env, [&] { return r.ReadPacked(from, f, &p); });
    const size_t n = p.ts.size();
    Napi::BigInt64Array ts = Napi::BigInt64Array::New(env, n);
    Napi::Uint32Array topic = Napi::Uint32Array::New(env, n);
    Napi::Uint16Array tf = Napi::Uint16Array::New(env, n);
    Napi::Uint32Array end = Napi::Uint32Array::New(env, n);
    if (n > 0) {
      std::memcpy(ts.Data(), p.ts.data(), n * sizeof(int64_t));
      std::memcpy(topic.Data(), p.topic.data(), n * sizeof(uint32_t));
      std::memcpy(tf.Data(), p.type_flags.data(), n * sizeof(uint16_t));
      std::memcpy(end.Data(), p.end.data(), n * sizeof(uint32_t));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("next", static_cast<double>(next));
    out.Set("count", static_cast<double>(n));
    out.Set("ts", ts);
    out.Set("topic", topic);
    out.Set("typeFlags", tf);
    out.Set("end", end);
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, p.data.data(), p.data.size()));
    return out;
  }

  // buffer() -> the whole writable mapping (header and records) as an external ArrayBuffer, for
  // src/store/events-js.ts's appends; detached by close(), as a slab's buffer() is.
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    rondo::EventRing& r = Live(info.Env());
    if (r.read_only()) throw CodedError(info.Env(), codes::kArg, "a read-only event ring has no writable buffer");
    return HandOut(info.Env(), r.base(), r.size());
  }

  // damageFlag() -> an ArrayBuffer of 4 bytes over the ring's damage flag (rondo/sigbus.h), or
  // undefined when the mapping is not covered.
  Napi::Value DamageFlag(const Napi::CallbackInfo& info) {
    rondo::EventRing& r = Live(info.Env());
    std::atomic<uint32_t>* f = r.damage_flag();
    if (f == nullptr) return info.Env().Undefined();
    return HandOut(info.Env(), static_cast<void*>(f), sizeof(uint32_t));
  }

  Napi::ArrayBuffer HandOut(Napi::Env env, void* data, size_t bytes) {
    auto hold = std::make_shared<std::shared_ptr<rondo::EventRing>>(ring_);
    auto* finalized = new std::shared_ptr<std::shared_ptr<rondo::EventRing>>(hold);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, data, bytes, [](Napi::Env, void*, std::shared_ptr<std::shared_ptr<rondo::EventRing>>* h) { delete h; }, finalized);
    std::erase_if(buffers_, [](const auto& b) { return b.first.Value().IsEmpty(); });
    buffers_.emplace_back(Napi::Weak(ab), std::move(hold));
    return ab;
  }

  void ReleaseBuffers() {
    for (auto& [ref, hold] : buffers_) {
      Napi::ArrayBuffer ab = ref.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
      hold->reset();
    }
    buffers_.clear();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventRing& r = Live(env);
    const rondo::EventStats s = WithSlabErrors(env, [&] { return r.Stats(); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("capacity", static_cast<double>(s.capacity));
    o.Set("tail", static_cast<double>(s.tail));
    o.Set("published", static_cast<double>(s.published));
    o.Set("appends", static_cast<double>(s.appends));
    o.Set("dropped", static_cast<double>(s.dropped));
    o.Set("repairs", static_cast<double>(s.repairs));
    o.Set("oldestNs", s.has_oldest ? Napi::Value(Napi::BigInt::New(env, s.oldest_ns)) : env.Null());
    o.Set("newestNs", s.has_newest ? Napi::Value(Napi::BigInt::New(env, s.newest_ns)) : env.Null());
    return o;
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rondo::EventRing& r = Live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("size", static_cast<double>(r.capacity()));
    o.Set("createdMs", static_cast<double>(r.created_ms()));
    o.Set("fileBytes", static_cast<double>(r.size()));
    o.Set("maxPayload", static_cast<double>(r.max_payload()));
    return o;
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    rondo::EventRing& r = Live(info.Env());
    WithSlabErrors(info.Env(), [&] { r.Flush(); });
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    ReleaseBuffers();
    if (ring_) {
      std::shared_ptr<rondo::EventRing> r = std::move(ring_);
      ring_.reset();
      WithSlabErrors(info.Env(), [&] { r->Flush(); });
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<rondo::EventRing> ring_;
  std::vector<std::pair<Napi::Reference<Napi::ArrayBuffer>, std::shared_ptr<std::shared_ptr<rondo::EventRing>>>> buffers_;
};

namespace {

// The event ring's layout (rondo/events.h), for the JavaScript writer (src/store/events-js.ts).
Napi::Object EventFormat(Napi::Env env) {
  Napi::Object f = Napi::Object::New(env);
  f.Set("formatVersion", rondo::kEventFormatVersion);
  f.Set("headerBytes", rondo::kEventHeaderBytes);
  f.Set("recordHeaderBytes", rondo::kEvRecordHeaderBytes);
  f.Set("maxPayload", rondo::kEvMaxPayload);
  Napi::Object off = Napi::Object::New(env);
  off.Set("tail", static_cast<double>(rondo::kEvOffTail));
  off.Set("published", static_cast<double>(rondo::kEvOffPublished));
  off.Set("lock", static_cast<double>(rondo::kEvOffLock));
  off.Set("appends", static_cast<double>(rondo::kEvOffAppends));
  off.Set("dropped", static_cast<double>(rondo::kEvOffDropped));
  off.Set("last", static_cast<double>(rondo::kEvOffLast));
  f.Set("offsets", off);
  return f;
}

// The slab format (rondo/slab.h), for src/store/native.ts: the one source of these numbers.
Napi::Object Format(Napi::Env env) {
  Napi::Object f = Napi::Object::New(env);
  f.Set("magic", std::string(rondo::kMagic, sizeof rondo::kMagic));
  f.Set("formatVersion", rondo::kFormatVersion);
  f.Set("headerBytes", rondo::kHeaderBytes);
  Napi::Object off = Napi::Object::New(env);
  const std::pair<const char*, size_t> offsets[] = {
      {"magic", rondo::kOffMagic},         {"version", rondo::kOffVersion},
      {"headerBytes", rondo::kOffHeaderBytes}, {"kind", rondo::kOffKind},
      {"cellBytes", rondo::kOffCellBytes}, {"maxSeries", rondo::kOffMaxSeries},
      {"slots", rondo::kOffSlots},         {"intervalMs", rondo::kOffIntervalMs},
      {"rowBytes", rondo::kOffRowBytes},   {"dataOffset", rondo::kOffDataOffset},
      {"fileBytes", rondo::kOffFileBytes}, {"createdMs", rondo::kOffCreatedMs},
      {"tierIndex", rondo::kOffTierIndex}, {"schemaName", rondo::kOffSchemaName},
      {"crc", rondo::kOffCrc},             {"head", rondo::kOffHead},
      {"lateWrites", rondo::kOffLateWrites}, {"claims", rondo::kOffClaims},
      {"cursor", rondo::kOffCursor},       {"repairs", rondo::kOffRepairs},
      {"layout", rondo::kOffLayout},       {"rowHeaderBytes", rondo::kOffRowHeaderBytes},
      {"valueBytes", rondo::kOffValueBytes}, {"aggregates", rondo::kOffAggregates},
      {"fieldOffsets", rondo::kOffFieldOffsets}, {"layoutEnd", rondo::kLayoutEnd},
  };
  for (const auto& [name, at] : offsets) off.Set(name, static_cast<double>(at));
  f.Set("offsets", off);
  f.Set("rowStampWord", static_cast<double>(rondo::kRowStampWord));
  f.Set("rowSeqWord", static_cast<double>(rondo::kRowSeqWord));
  f.Set("rowHeaderWords", static_cast<double>(rondo::kRowHeaderWords));
  f.Set("rawCellWords", 1);
  f.Set("consolidatedRowHeaderBytes", static_cast<double>(rondo::kConsolidatedRowHeaderBytes));
  Napi::Object tag = Napi::Object::New(env);
  tag.Set("busy", static_cast<double>(rondo::kTagBusy));
  tag.Set("genShift", rondo::kTagGenShift);
  tag.Set("genMask", static_cast<double>(rondo::kTagGenMask));
  tag.Set("bucketShift", rondo::kTagBucketShift);
  f.Set("tag", tag);
  Napi::Object aggs = Napi::Object::New(env);
  aggs.Set("avg", static_cast<uint32_t>(rondo::kAvg));
  aggs.Set("min", static_cast<uint32_t>(rondo::kMin));
  aggs.Set("max", static_cast<uint32_t>(rondo::kMax));
  aggs.Set("sum", static_cast<uint32_t>(rondo::kSum));
  aggs.Set("count", static_cast<uint32_t>(rondo::kCount));
  aggs.Set("last", static_cast<uint32_t>(rondo::kLast));
  f.Set("aggregates", aggs);
  f.Set("schemaNameBytes", static_cast<double>(rondo::kSchemaNameBytes));
  Napi::Object claim = Napi::Object::New(env);
  claim.Set("ok", static_cast<int>(rondo::ClaimResult::kOk));
  claim.Set("late", static_cast<int>(rondo::ClaimResult::kLate));
  f.Set("claimResults", claim);
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxSeries", rondo::kMaxSeriesLimit);
  limits.Set("slots", rondo::kMaxSlotsLimit);
  limits.Set("intervalMs", static_cast<double>(rondo::kMaxIntervalMs));
  limits.Set("createdMs", static_cast<double>(rondo::kMaxCreatedMs));
  limits.Set("fileMode", rondo::kMaxFileMode);
  f.Set("limits", limits);
  Napi::Array errs = Napi::Array::New(env);
  uint32_t i = 0;
  for (const char* c : codes::kStore) errs.Set(i++, c);
  f.Set("errorCodes", errs);
  return f;
}

// cellLayout(aggregates, valueBytes) -> { cellBytes, offsets: [per aggregate, -1 if not kept] }:
// the layout of a consolidated tier's cells (rondo::MakeCellLayout), for sizes computed in
// TypeScript before a slab exists.
Napi::Value CellLayoutOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t aggs = static_cast<uint32_t>(IntegerIn(env, info[0], "aggregates", 1, rondo::kAllAggregates));
  const uint32_t vb = static_cast<uint32_t>(IntegerIn(env, info[1], "valueBytes", 4, 8));
  rondo::CellLayout l;
  if (!rondo::MakeCellLayout(aggs, vb, &l)) throw ArgRangeError(env, "valueBytes must be 4 or 8");
  Napi::Object o = Napi::Object::New(env);
  o.Set("cellBytes", l.cell_bytes);
  Napi::Array offs = Napi::Array::New(env, rondo::kAggCount);
  for (uint32_t a = 0; a < rondo::kAggCount; a++)
    offs.Set(a, l.keeps(a) ? static_cast<double>(l.offset[a]) : -1.0);
  o.Set("offsets", offs);
  return o;
}

// migrateV1Slab(path, params, kinds[, dest]): rewrites a format-1 slab as format 2
// (rondo::Slab::MigrateV1), at dest when given (the format-1 file is then only read), else over
// path; params as for new Slab(path, 'create', params); kinds[c] != 0 for a counter column.
Napi::Value MigrateV1Slab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "migrateV1Slab(path, params, kinds): path must be a string");
  const std::string path = info[0].As<Napi::String>();
  const rondo::SlabParams p = CreateParams(env, info[1]);
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw ArgTypeError(env, "kinds must be a Uint8Array");
  Napi::Uint8Array kinds = info[2].As<Napi::Uint8Array>();
  const uint32_t nkinds = static_cast<uint32_t>(std::min<size_t>(kinds.ElementLength(), p.max_series));
  std::string dest;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsString()) throw ArgTypeError(env, "migrateV1Slab(path, params, kinds, dest): dest must be a string");
    dest = info[3].As<Napi::String>();
  }
  WithSlabErrors(env, [&] { rondo::Slab::MigrateV1(path, p, kinds.Data(), nkinds, dest); });
  return env.Undefined();
}

#if RONDO_FCNTL_LOCK
// The lock files this process holds, by device and inode: fcntl locks belong to the process, so
// a second lock of the same file from here would succeed without this.
std::mutex held_mu;
std::set<std::pair<dev_t, ino_t>> held;
#endif

// lockStore(path, mode?) -> fd. An advisory, exclusive, non-blocking lock; the pid goes in the file.
Napi::Value LockStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw ArgTypeError(env, "lockStore(path, mode?): path must be a string");
  const std::string path = info[0].As<Napi::String>();
  const mode_t mode = info[1].IsUndefined() ? 0600 : static_cast<mode_t>(IntegerIn(env, info[1], "mode", 0, rondo::kMaxFileMode));
  auto locked_by = [&](const std::string& holder) {
    Napi::Error e = CodedError(env, codes::kLocked, "locked by pid " + holder);
    e.Set("pid", Napi::String::New(env, holder));
    return e;
  };
#if RONDO_FCNTL_LOCK
  std::lock_guard<std::mutex> g(held_mu);
  struct stat before;
  if (::stat(path.c_str(), &before) == 0 && held.count({before.st_dev, before.st_ino}) > 0)
    throw locked_by(std::to_string(::getpid()));  // checked before opening: closing would unlock
#endif
  rondo::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode));
  if (!fd) throw CodedError(env, codes::kIo, "open " + path + ": " + std::strerror(errno));
#if RONDO_FCNTL_LOCK
  struct flock l = {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLK, &l) != 0) {
    const int err = errno;
    if (err == EACCES || err == EAGAIN) {
      struct flock q = {};
      q.l_type = F_WRLCK;
      q.l_whence = SEEK_SET;
      const bool known = ::fcntl(fd.get(), F_GETLK, &q) == 0 && q.l_type != F_UNLCK;
      throw locked_by(known ? std::to_string(q.l_pid) : std::string("?"));
    }
    throw CodedError(env, codes::kIo, "fcntl(F_SETLK) " + path + ": " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) == 0) held.insert({st.st_dev, st.st_ino});
#else
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      throw locked_by(holder);
    }
    throw CodedError(env, codes::kIo, "flock " + path + ": " + std::strerror(err));
  }
#endif
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    // The pid is only a hint for the error message of a second writer; the lock holds anyway.
  }
  // JavaScript holds the descriptor from here on, and gives it back to unlockStore().
  return Napi::Number::New(env, fd.release());
}

Napi::Value UnlockStore(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw ArgTypeError(info.Env(), "unlockStore(fd): fd must be a number");
  rondo::UniqueFd fd(info[0].As<Napi::Number>().Int32Value());  // closing it releases the lock
#if RONDO_FCNTL_LOCK
  std::lock_guard<std::mutex> g(held_mu);
  struct stat st;
  if (fd && ::fstat(fd.get(), &st) == 0) held.erase({st.st_dev, st.st_ino});
  fd.reset();
#endif
  return info.Env().Undefined();
}

}  // namespace

StoreAddon::StoreAddon(Napi::Env env, Napi::Object exports) {
  Napi::Function slab = SlabWrap::Define(env);
  slab_class = Napi::Persistent(slab);
  exports.Set("Slab", slab);
  Napi::Function ring = EventRingWrap::Define(env);
  event_ring_class = Napi::Persistent(ring);
  exports.Set("EventRing", ring);
  exports.Set("lockStore", Napi::Function::New(env, LockStore, "lockStore"));
  exports.Set("unlockStore", Napi::Function::New(env, UnlockStore, "unlockStore"));
  exports.Set("cellLayout", Napi::Function::New(env, CellLayoutOf, "cellLayout"));
  exports.Set("migrateV1Slab", Napi::Function::New(env, MigrateV1Slab, "migrateV1Slab"));
  exports.Set("format", Format(env));
  exports.Set("eventFormat", EventFormat(env));
  DefineCodecs(env, exports);
  DefineAddon(exports, {});
}

}  // namespace rondo_addon

using rondo_addon::StoreAddon;
NODE_API_ADDON(StoreAddon)
