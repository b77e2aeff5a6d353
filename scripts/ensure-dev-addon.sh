#!/usr/bin/env bash
# Makes sure the addons the tests load are built and current: build/Release/rondo_dev.node (the
# native bench/test helpers, which `npm install` does not build: binding.gyp's dev_addon
# variable) and the store's (and on Linux x64 the KVM) addon beside it. Does nothing when each is
# newer than binding.gyp and everything under native/; otherwise configures with the dev addon on
# and builds, which recompiles only what changed. Run by `npm test` (pretest); the same as
# `npm run build:native`, without the full rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/Release
want=("$out/rondo.node" "$out/rondo_dev.node")
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && want+=("$out/rondo_kvm.node")
for f in "${want[@]}"; do
  if [ ! -e "$f" ] || [ -n "$(find native binding.gyp -newer "$f" -print -quit)" ]; then
    echo "ensure-dev-addon: building the addons with the native bench/test helpers (node-gyp --dev-addon=1)" >&2
    npx node-gyp configure --dev-addon=1 --loglevel=warn >&2
    npx node-gyp build --loglevel=warn -j "$(nproc 2>/dev/null || echo 2)" >&2
    # make relinks only what changed; what it left alone is current too.
    touch "${want[@]}"
    exit 0
  fi
done
