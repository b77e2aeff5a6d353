{
  "variables": {
    "asan%": "0"
  },
  "targets": [
    {
      "target_name": "rondo",
      "sources": [
        "native/rondo/slab.cc",
        "native/addon.cc",
        "native/testing.cc",
        "native/bench.cc",
        "native/kvm/vm.cc",
        "native/kvm/vcpu.cc",
        "native/kvm/stats.cc",
        "native/kvm/guest.S",
        "native/kvm/kvm_addon.cc",
        "native/kvm/devices_testing.cc",
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
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["asan==1", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
