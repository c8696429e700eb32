#!/usr/bin/env bash
# The whole test suite: a release build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer in a build directory of its own,
# the threaded parts under ThreadSanitizer, and a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
faultscope_install_deps
jobs=$(nproc)

echo "== release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release -j"$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake --preset asan >/dev/null
cmake --build --preset asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j"$jobs"

echo "== ThreadSanitizer build and tests of the threaded parts (tracker, parallel exploration, SQLite adapter, load)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --preset tsan -j"$jobs"

echo "== libFuzzer: a short run of each target (tools/fuzz.sh SECONDS for a long one)"
tools/fuzz.sh "${FAULTSCOPE_FUZZ_SECONDS:-10}"
