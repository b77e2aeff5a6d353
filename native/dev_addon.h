// The bench/test helpers' addon (build/<variant>/rondo_dev.node, binding.gyp's target rondo_dev;
// built only with `node-gyp rebuild --dev=1`, never by `npm install`). Its per-environment data
// holds the classes its functions return, so it loads in worker threads too.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "rondo/slab.h"

namespace rondo_addon {

class DevAddon : public Napi::Addon<DevAddon> {
 public:
  DevAddon(Napi::Env env, Napi::Object exports);
  Napi::FunctionReference writer_threads;  // native/testing.cc
  Napi::FunctionReference bench_run;       // native/bench.cc
};

// Maps the slab file `v` (a path) read-write next to the store's own mapping of it
// (rondo::OpenMode::kAttach: no repair, writers may be at work), for native writer threads.
// The store must have the file open for writing: this addon cannot take the store's Slab object
// (an ObjectWrap of another addon), so it maps the same file again; MAP_SHARED mappings of one
// file are coherent. Coded errors (RONDO_ARG, RONDO_CORRUPT, RONDO_IO) for a bad path or file.
std::shared_ptr<rondo::Slab> AttachSlab(Napi::Env env, Napi::Value v, const char* what);

// Each returns the class it defines and sets its functions on `exports`.
Napi::Function InitTesting(Napi::Env env, Napi::Object exports);  // `testing`, native/testing.cc
Napi::Function InitBench(Napi::Env env, Napi::Object exports);    // `bench`, native/bench.cc
#ifdef RONDO_DEV_KVM
void InitKvmTesting(Napi::Env env, Napi::Object exports);  // `kvmTesting`, native/kvm/devices_testing.cc
void InitCaptureBench(Napi::Env env, Napi::Object exports);  // `captureBench`, native/kvm/capture_bench.cc
#endif

}  // namespace rondo_addon
