// The slab's exceptions as coded JavaScript errors, for the addons that open slabs: a damaged
// file is kCorrupt, an OS failure kIo, create parameters out of bounds kArg.
#pragma once
#include <napi.h>

#include <stdexcept>
#include <utility>

#include "common/error_codes.h"
#include "common/napi_util.h"
#include "rondo/slab.h"

namespace rondo_addon {

// Runs f(), turning rondo::CorruptSlab, rondo::SlabIoError and std::invalid_argument into
// coded errors; returns what f returns.
template <typename F>
auto WithSlabErrors(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const rondo::CorruptSlab& e) {
    throw CodedError(env, rondo::codes::kCorrupt, e.what());
  } catch (const rondo::SlabIoError& e) {
    throw CodedError(env, rondo::codes::kIo, e.what());
  } catch (const std::invalid_argument& e) {
    throw CodedError(env, rondo::codes::kArg, e.what());
  }
}

}  // namespace rondo_addon
