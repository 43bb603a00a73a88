#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer + UndefinedBehaviorSanitizer into its own build
# directory (native/build-asan; the normal build is untouched) and runs the native and core test
# suites against it: MEDIT_NATIVE_PATH points the loader at the instrumented addon, and libasan
# is preloaded into node (an ASan library must be the first one loaded). Any report of ASan or
# UBSan aborts the test process, so a clean exit means no report.
#
#   scripts/sanitize.sh                 # build + native/test + packages/core/test
#   scripts/sanitize.sh path/to/x.test.ts ...   # build + only these tests
#
# Leak detection is off: node and V8 keep allocations alive until exit by design; the suites'
# own memory() assertions check medit's buffers instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=native/build-asan
mkdir -p "$BUILD"

# MEDIT_SANITIZE is a target option of native/CMakeLists.txt (cmake-js overwrites CMAKE_CXX_FLAGS).
# RelWithDebInfo without -DNDEBUG: line numbers in reports, and asserts stay on.
# configure every time (build alone skips it when a cache exists, keeping stale options), then build.
CMAKE_JS=(--directory native --out "$BUILD" --config RelWithDebInfo)
{ npx cmake-js configure "${CMAKE_JS[@]}" --CDMEDIT_SANITIZE=address,undefined --CDCMAKE_CXX_FLAGS_RELWITHDEBINFO="-g" &&
  npx cmake-js build "${CMAKE_JS[@]}"; } >"$BUILD/sanitize-build.log" 2>&1 || {
  tail -30 "$BUILD/sanitize-build.log"
  exit 1
}
ADDON=$(find "$ROOT/$BUILD" -name medit_native.node -print -quit)
[ -n "$ADDON" ] || { echo "sanitize: no medit_native.node under $BUILD" >&2; exit 1; }
LIBASAN=$(gcc -print-file-name=libasan.so)
[ -f "$LIBASAN" ] || { echo "sanitize: libasan.so not found (install the gcc sanitizer runtimes)" >&2; exit 1; }
# An uninstrumented addon would pass silently: require the ASan runtime in the binary, and load it
# once here (the loader falls back to native/build/Release when MEDIT_NATIVE_PATH fails to load).
SYMBOLS=$(nm -D "$ADDON") # (not piped into grep -q: with pipefail, nm's SIGPIPE fails the check)
grep -q __asan_init <<<"$SYMBOLS" || { echo "sanitize: $ADDON is not instrumented" >&2; exit 1; }
grep -q __ubsan_handle <<<"$SYMBOLS" || { echo "sanitize: $ADDON has no UBSan checks" >&2; exit 1; }
LD_PRELOAD="$LIBASAN" ASAN_OPTIONS=detect_leaks=0 node -e 'require(process.argv[1])' "$ADDON" || {
  echo "sanitize: $ADDON does not load under node with $LIBASAN preloaded" >&2
  exit 1
}
echo "sanitize: addon $ADDON, preloading $LIBASAN"

TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(native/test packages/core/test)
export MEDIT_NATIVE_PATH="$ADDON"
export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# One process: every test file loads the same instrumented addon; reports go to stderr.
npx jest --runInBand "${TESTS[@]}"
