#!/usr/bin/env bash
# Builds the store's addon and the dev addon (the native writer threads the concurrency and crash
# suites start) once with AddressSanitizer, and runs the hostile-file fuzz suite and the core store
# tests against them (docs/reliability.md). The normal build in build/Release is left alone: the
# instrumented one is built in build-asan/ (binding.gyp's `asan` and `dev_addon` variables; `kvm`
# off, no suite here runs a VM) and both addons are copied to build/Asan/, which
# src/store/native.ts and src/store/dev-addon.ts load when RONDO_ADDON_BUILD=Asan.
#
# Node itself is not built with ASan, so the ASan runtime is preloaded (LD_PRELOAD) into every
# node process of the run (vitest, its workers, the fixtures they spawn). Leak checking is off:
# node does not free everything at exit, by design.
#
#   bash scripts/asan-test.sh              build, then run the suites below
#   bash scripts/asan-test.sh test/x.ts    build, then run the given test files instead
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=(
  test/fuzz-open.test.ts
  test/store.test.ts
  test/corrupt.test.ts
  test/consolidate.test.ts
  test/concurrency.test.ts
  test/exporter.test.ts
  test/errors.test.ts
  test/lock.test.ts
  test/reader-process.test.ts
  test/crash.test.ts
  test/migrate.test.ts
  test/codec.test.ts
)
[ $# -gt 0 ] && TESTS=("$@")

libasan="$(gcc -print-file-name=libasan.so)"
if [ ! -e "$libasan" ] || [ "$libasan" = "libasan.so" ]; then
  echo "asan-test: gcc has no libasan.so (Debian: apt-get install libasan8 or gcc); cannot run the ASan suites" >&2
  exit 1
fi

started=$(date +%s)
echo "asan-test: building the store and dev addons with -fsanitize=address into build-asan/" >&2
rm -rf build-asan
mkdir -p build-asan
cp binding.gyp build-asan/
ln -s ../native build-asan/native
npx node-gyp rebuild --asan=1 --dev-addon=1 --kvm=0 -j 2 -C build-asan >build-asan/build.log 2>&1 || {
  tail -40 build-asan/build.log >&2
  echo "asan-test: the ASan build failed (full log: build-asan/build.log)" >&2
  exit 1
}
mkdir -p build/Asan
for addon in rondo rondo_dev; do
  cp "build-asan/build/Release/$addon.node" "build/Asan/$addon.node"
  # The instrumented addon needs the ASan runtime: proof that this is the ASan build.
  # (grep reads all of ldd's output: with -q it could stop early, and pipefail would take
  # ldd's SIGPIPE for a failure.)
  if ! ldd "build/Asan/$addon.node" | grep libasan >/dev/null; then
    echo "asan-test: build/Asan/$addon.node is not linked with libasan; the asan variable of binding.gyp had no effect" >&2
    exit 1
  fi
done
npx tsc -p tsconfig.json
echo "asan-test: built in $(($(date +%s) - started)) s; running ${#TESTS[@]} test files under AddressSanitizer" >&2

export RONDO_ADDON_BUILD=Asan
export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_summary=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
npx vitest run "${TESTS[@]}"
echo "asan-test: done in $(($(date +%s) - started)) s" >&2
