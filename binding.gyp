{
  # Three addons, each its own .node file in build/<variant>/:
  #   rondo      the store (slab, writer API, lock): everywhere; what `npm install` builds
  #              (with rondo_kvm) when no prebuilt binary fits (prebuilds/, scripts/prebuild.sh)
  #   rondo_kvm  the demo VMM's KVM layer (native/kvm/, and native/rondo/slab.cc for its native
  #              capture into a store): Linux x64 only, and only with kvm=1
  #   rondo_dev  the bench and test helpers (native/testing.cc, native/bench.cc, and on Linux x64
  #              the device test bus and the capture bench): only with dev_addon=1, i.e. `node-gyp rebuild
  #              --dev-addon=1` (`npm run build:native`); never built by `npm install`
  # The prebuilt binaries (scripts/prebuild.sh, prebuildify) are built one addon at a time
  # (--kvm=0, then --store-addon=0, which leaves out the store's), with --portable=1, which links
  # them to load on an older glibc than this machine's (native/portable/glibc_compat.cc; Linux
  # x64 only).
  # node-gyp passes an option it does not know, `--some-name=value`, to gyp as the variable
  # some_name: --dev-addon=1, --kvm=0, --asan=1. (Not `--dev=1`: node-gyp takes that for an
  # abbreviation of its own --devdir.)
  "variables": {
    "asan%": "0",
    "dev_addon%": "0",
    "portable%": "0",
    "store_addon%": "1",
    # 0 builds the store without the KVM layer, as on another OS or architecture.
    "kvm%": "1"
  },
  "target_defaults": {
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "native"
    ],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    # macOS (untested here): gyp's make generator takes C++ flags from xcode_settings there.
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
      "CLANG_CXX_LIBRARY": "libc++",
      "MACOSX_DEPLOYMENT_TARGET": "11.0",
      "OTHER_CPLUSPLUSFLAGS": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    "conditions": [
      ["OS!='win'", {"libraries": ["-lpthread"]}],
      ["asan==1", {
        "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
        "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
        "ldflags": ["-fsanitize=address"]
      }],
      # Nothing from this machine's libstdc++ (Debian 11 and Ubuntu 20.04 have GCC 10's, older
      # than what g++ 12 asks for), nothing of it exported, and each glibc symbol newer than 2.31
      # sent to its old version (glibc_compat.cc says which and why). libgcc stays the system's
      # libgcc_s: g++ 12's static unwinder would ask for glibc 2.35's _dl_find_object.
      ["portable==1 and OS=='linux' and target_arch=='x64'", {
        "sources": ["native/portable/glibc_compat.cc"],
        "ldflags": [
          "-static-libstdc++", "-Wl,--exclude-libs,ALL", "-Wl,--wrap=arc4random",
          "-Wl,--wrap=__pthread_key_create", "-Wl,--wrap=pthread_key_create",
          "-Wl,--wrap=pthread_key_delete", "-Wl,--wrap=pthread_getspecific",
          "-Wl,--wrap=pthread_setspecific", "-Wl,--wrap=pthread_create", "-Wl,--wrap=pthread_join",
          "-Wl,--wrap=pthread_detach",
          "-Wl,--wrap=pthread_once", "-Wl,--wrap=pthread_kill", "-Wl,--wrap=pthread_sigmask",
          "-Wl,--wrap=pthread_setname_np", "-Wl,--wrap=pthread_cond_clockwait",
          "-Wl,--wrap=stat", "-Wl,--wrap=stat64", "-Wl,--wrap=fstat", "-Wl,--wrap=fstat64",
          "-Wl,--wrap=lstat", "-Wl,--wrap=lstat64"
        ]
      }]
    ]
  },
  "conditions": [
    ["store_addon==1", {
      "targets": [
        {
          "target_name": "rondo",
          "sources": [
            "native/rondo/slab.cc",
            "native/rondo/events.cc",
            "native/rondo/sigbus.cc",
            "native/codec/gorilla.cc",
            "native/codec/codec_napi.cc",
            "native/addon.cc"
          ]
        }
      ]
    }],
    ["OS=='linux' and target_arch=='x64' and kvm==1", {
      "targets": [
        {
          "target_name": "rondo_kvm",
          "sources": [
            "native/kvm/kvm_addon.cc",
            "native/kvm/vm.cc",
            "native/kvm/vcpu.cc",
            "native/kvm/stats.cc",
            "native/kvm/capture.cc",
            "native/rondo/slab.cc",
            "native/rondo/events.cc",
            "native/rondo/sigbus.cc",
            "native/kvm/guest.S",
            "native/kvm/e820.cc",
            "native/kvm/elf_loader.cc",
            "native/kvm/pvh.cc",
            "native/kvm/bzimage.cc",
            "native/kvm/linux_boot.cc",
            "native/kvm/uart.cc",
            "native/kvm/i8042.cc",
            "native/kvm/cmos.cc",
            "native/kvm/pit.cc",
            "native/kvm/pci_stub.cc",
            "native/kvm/micro_ports.cc"
          ]
        }
      ]
    }],
    ["dev_addon==1", {
      "targets": [
        {
          "target_name": "rondo_dev",
          "sources": [
            "native/rondo/slab.cc",
            "native/rondo/events.cc",
            "native/rondo/sigbus.cc",
            "native/dev_addon.cc",
            "native/testing.cc",
            "native/bench.cc"
          ],
          "conditions": [
            ["OS=='linux' and target_arch=='x64' and kvm==1", {
              "defines": ["RONDO_DEV_KVM"],
              "sources": [
                "native/kvm/devices_testing.cc",
                "native/kvm/capture_bench.cc",
                "native/kvm/capture.cc",
                "native/kvm/uart.cc",
                "native/kvm/i8042.cc",
                "native/kvm/cmos.cc",
                "native/kvm/pit.cc",
                "native/kvm/pci_stub.cc"
              ]
            }]
          ]
        }
      ]
    }]
  ]
}
