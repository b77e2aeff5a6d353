#!/usr/bin/env bash
# Builds the example WebAssembly hooks into examples/hooks/build/:
#   tenant.wasm  from tenant/assembly/index.ts (AssemblyScript: npm's assemblyscript, a dev
#                dependency of rondo)
#   p99.wasm     from p99/p99.c (C: Debian's clang and lld, `apt-get install clang lld`)
# Load one with `rondo serve --hook examples/hooks/build/tenant.wasm` or loadWasmHook().
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build"
mkdir -p "$out"
(cd "$here/tenant" && npx asc assembly/index.ts --config asconfig.json --target release -o "$out/tenant.wasm")
echo "built $out/tenant.wasm"
if command -v clang >/dev/null 2>&1 && command -v wasm-ld >/dev/null 2>&1; then
  clang --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export-dynamic -O2 -o "$out/p99.wasm" "$here/p99/p99.c"
  echo "built $out/p99.wasm"
else
  echo "skipped p99.wasm: clang and wasm-ld (Debian: clang lld) are not installed" >&2
fi
