#!/usr/bin/env bash
# Runs each libFuzzer target for a given time over its seed corpus:
#
#   tools/fuzz.sh [SECONDS] [TARGET...]     default: 60 s each of plan, cli, continuation, sqlite_open
#
# Builds the `fuzz` preset (clang 15, ASan + UBSan) first. Inputs libFuzzer finds
# go to build/fuzz/corpus/TARGET; the seed corpus in tests/fuzz/corpus stays as
# committed. A crash leaves its input in build/fuzz/artifacts/TARGET and fails the
# script: copy it into tests/fuzz/corpus/TARGET, and the replay test keeps it
# as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
  echo "fuzz.sh: SECONDS must be a whole number above 0, got '$seconds'" >&2
  exit 2
}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(plan cli continuation sqlite_open)
for t in "${targets[@]}"; do
  [[ -d tests/fuzz/corpus/$t ]] || {
    echo "fuzz.sh: no target '$t' (plan, cli, continuation, sqlite_open)" >&2
    exit 2
  }
done

source tools/deps.sh
faultscope_install_deps
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

status=0
for t in "${targets[@]}"; do
  work=build/fuzz/corpus/$t
  artifacts=build/fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  log=build/fuzz/$t.log
  echo "== fuzz $t for ${seconds}s"
  if ASAN_OPTIONS=detect_leaks=1 build/fuzz/tests/fuzz/${t}_fuzzer -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "tests/fuzz/corpus/$t" \
      >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "   $t: ${execs:-?} executions, no crash (corpus $(ls "$work" | wc -l) inputs)"
  else
    status=1
    echo "   $t: CRASH — input in $artifacts; the end of $log:" >&2
    tail -n 30 "$log" >&2
  fi
done
exit $status
