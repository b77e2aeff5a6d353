// The codecs' functions on the store's addon's exports (codec_napi.cc).
#pragma once
#include <napi.h>

namespace rondo_addon {

void DefineCodecs(Napi::Env env, Napi::Object exports);

}  // namespace rondo_addon
