#!/usr/bin/env bash
# The main job: build faultscope and run it over the built-in scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
faultscope_install_deps
cmake --preset release >/dev/null
# Only the runner: the tests, examples and benchmarks are tools/test.sh's to
# build (in the same directory, so nothing is built twice).
cmake --build --preset release --target faultscope
./build/release/tools/faultscope/faultscope run
cat <<'NEXT'

Next: see what a caught leak looks like, and replay one schedule:
  ./build/release/tools/faultscope/faultscope run canary
  ./build/release/tools/faultscope/faultscope replay 'canary.naive_cleanup@conn.query#1=cancel'
NEXT
