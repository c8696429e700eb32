#!/usr/bin/env bash
# The main job: build faultscope and run it over the built-in scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
faultscope_install_deps
cmake --preset release >/dev/null
cmake --build --preset release
./build/release/examples/seed
