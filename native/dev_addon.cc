// The bench/test helpers' addon: see dev_addon.h.
#include "dev_addon.h"

#include "common/error_codes.h"
#include "common/napi_util.h"

namespace rondo_addon {

std::shared_ptr<rondo::Slab> AttachSlab(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty())
    throw ArgTypeError(env, std::string(what) + ": the slab file must be a non-empty string (Store.nativeTarget(h).file)");
  const std::string path = v.As<Napi::String>().Utf8Value();
  try {
    return rondo::Slab::Open(path, rondo::OpenMode::kAttach, nullptr);
  } catch (const rondo::CorruptSlab& e) {
    throw CodedError(env, rondo::codes::kCorrupt, e.what());
  } catch (const rondo::SlabIoError& e) {
    throw CodedError(env, rondo::codes::kIo, e.what());
  }
}

DevAddon::DevAddon(Napi::Env env, Napi::Object exports) {
  writer_threads = Napi::Persistent(InitTesting(env, exports));
  bench_run = Napi::Persistent(InitBench(env, exports));
#ifdef RONDO_DEV_KVM
  InitKvmTesting(env, exports);
  InitCaptureBench(env, exports);
#endif
  DefineAddon(exports, {});
}

}  // namespace rondo_addon

using rondo_addon::DevAddon;
NODE_API_ADDON(DevAddon)
