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
# ThreadSanitizer sleeps 1 s at every exit that leaves a thread alive, to catch
# races at exit. A test that runs a scenario leaves the run watchdog's thread
# (and any cached SQLite worker threads), so at 1 s, over 231 tests, that sleep
# was most of this stage's time; 100 ms still lets a racing thread run.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=100 ctest --preset tsan -j"$jobs"

echo "== libFuzzer: a short run of each target (tools/fuzz.sh SECONDS for a long one)"
tools/fuzz.sh "${FAULTSCOPE_FUZZ_SECONDS:-10}"
