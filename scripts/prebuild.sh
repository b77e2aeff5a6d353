#!/usr/bin/env bash
# Builds the prebuilt binaries the npm package ships (`npm run prebuild`; `npm pack` runs it as
# prepack): prebuilds/linux-x64/rondo.glibc.node (the store) and rondo_kvm.glibc.node (the KVM
# layer), with prebuildify (N-API: one binary serves every Node >= 20), loaded by
# src/package-root.ts through node-gyp-build's matching when no build/Release/ addon exists.
#
# They are linked to load on glibc 2.31 and later (Debian 11, Ubuntu 20.04) whatever glibc this
# machine has (binding.gyp's portable=1: static libstdc++, old symbol versions), and this script
# fails if one of them still needs a symbol version newer than GLIBC_2.31 (objdump -T), or needs
# the system's libstdc++ at all.
#
# The build runs in a temporary copy of binding.gyp and native/, so build/ (the dev addon a
# checkout's tests use) is left alone. It is skipped when the binaries are there and were built
# from the same sources, compiler and script (a stamp beside them; --force builds anyway).
#
# Only linux-x64 with glibc: this machine has no cross toolchain for arm64 (nor a way to run what
# it would build), no C++ library for musl, and no macOS or Windows SDK.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/prebuilds/linux-x64"
MAX_GLIBC=2.31
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ] || ! getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
  echo "prebuild: this script builds the linux-x64 glibc binaries only, on Linux x64 with glibc (this is $(uname -s) $(uname -m)); elsewhere \`npm install\` compiles the addon from source" >&2
  exit 1
fi
for tool in objdump g++ make python3 flock; do
  command -v "$tool" >/dev/null || { echo "prebuild: needs $tool (Debian: binutils g++ make python3)" >&2; exit 1; }
done

# The highest GLIBC_ version a file asks for, and the libraries it needs.
max_glibc() { objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1; }
check() {
  local f="$1" v
  v="$(max_glibc "$f")"
  if [ "$(printf '%s\n%s\n' "$v" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    echo "prebuild: $f needs GLIBC_$v, newer than GLIBC_$MAX_GLIBC:" >&2
    objdump -T "$f" | grep -F "GLIBC_$v" >&2
    return 1
  fi
  if objdump -p "$f" | grep -q 'NEEDED.*libstdc++'; then
    echo "prebuild: $f needs the system's libstdc++ (it should be linked in statically)" >&2
    return 1
  fi
  echo "prebuild: $(basename "$f"): $(stat -c %s "$f") bytes, needs glibc $v at most"
}

# One build at a time (two test files may ask at once): the second waits, then finds it current.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

STAMP="$OUT/.stamp"
stamp() {
  (cd "$ROOT" && find binding.gyp native scripts/prebuild.sh -type f | LC_ALL=C sort | xargs sha256sum
   g++ --version | head -n 1
   node -p "require('node-addon-api/package.json').version") | sha256sum | cut -d' ' -f1
}
WANT="$(stamp)"
if [ "$FORCE" = 0 ] && [ -f "$OUT/rondo.glibc.node" ] && [ -f "$OUT/rondo_kvm.glibc.node" ] &&
   [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  check "$OUT/rondo.glibc.node" && check "$OUT/rondo_kvm.glibc.node"
  echo "prebuild: up to date ($OUT)"
  exit 0
fi

TMP="$(mktemp -d)"
[ -n "${PREBUILD_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/src"
cp -r "$ROOT/binding.gyp" "$ROOT/native" "$ROOT/package.json" "$TMP/src/"
ln -s "$ROOT/node_modules" "$TMP/src/node_modules"

# Node's own headers where this Node has them (Debian's and nodejs.org's do): no download.
PREFIX="$(dirname "$(dirname "$(node -p process.execPath)")")"
if [ -f "$PREFIX/include/node/node_api.h" ]; then export npm_config_nodedir="$PREFIX"; fi
TARGET="node@$(node -p process.versions.node)"
PREBUILDIFY="$ROOT/node_modules/.bin/prebuildify"
export npm_config_portable=1
cd "$TMP/src"
# One addon a build: prebuildify takes one .node file from build/Release/ and names it.
npm_config_kvm=0 "$PREBUILDIFY" --napi --strip --tag-libc --name rondo -t "$TARGET" --out "$TMP/out" >"$TMP/store.log" 2>&1 ||
  { cat "$TMP/store.log" >&2; exit 1; }
npm_config_store_addon=0 "$PREBUILDIFY" --napi --strip --tag-libc --name rondo_kvm -t "$TARGET" --out "$TMP/out" >"$TMP/kvm.log" 2>&1 ||
  { cat "$TMP/kvm.log" >&2; exit 1; }

BUILT="$TMP/out/prebuilds/linux-x64"
check "$BUILT/rondo.glibc.node"
check "$BUILT/rondo_kvm.glibc.node"
rm -f "$OUT"/*.node "$STAMP"
cp "$BUILT/rondo.glibc.node" "$BUILT/rondo_kvm.glibc.node" "$OUT/"
echo "$WANT" >"$STAMP"
echo "prebuild: built $OUT"
