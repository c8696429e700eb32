#!/usr/bin/env bash
# Runs every benchmark in one go and writes BENCHMARKS.md at the top of the
# repository: the tracker, scopes, fault points against libfiu, exploration,
# virtual time against Trio, the SQLite adapter against raw SQLite and
# aiosqlite (../shared/bench, or FAULTSCOPE_PEERS=DIR) and against raw SQLite
# on a worker thread (raw_sqlite_worker.c), and the load tests.
#
#   tools/bench/run.sh [N]     N: the SQLite workloads' size (default 200, as the peers)
#
# Installs the peers' Debian packages (python3-aiosqlite, python3-trio) when
# missing. Run it on an idle machine: every figure comes from this one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: N must be a whole number above 0, got '$n'" >&2; exit 2; }
peers=${FAULTSCOPE_PEERS:-../shared/bench}
[[ -f $peers/raw_sqlite.c ]] || { echo "run.sh: no peer programs in '$peers' (set FAULTSCOPE_PEERS)" >&2; exit 2; }

source tools/deps.sh
FAULTSCOPE_PACKAGES+=(python3-aiosqlite python3-trio)
faultscope_install_deps
cmake --preset release >/dev/null
cmake --build --preset release

out=build/bench
mkdir -p "$out"
echo "== framework_bench"
build/release/tools/bench/framework_bench --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$out/framework.json"
echo "== fault_bench"
build/release/tools/bench/fault_bench --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$out/fault.json"
# Interleaved rounds, one JSON line each per program: on a noisy machine one
# program's run can land in a slow spell, and a ratio is only fair between
# programs that ran side by side.
rounds=${FAULTSCOPE_SQLITE_ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: FAULTSCOPE_SQLITE_ROUNDS must be a whole number above 0" >&2; exit 2; }
echo "== SQLite: raw C API, adapter, aiosqlite (N=$n, $rounds interleaved rounds)"
gcc -O2 -o "$out/raw_sqlite" "$peers/raw_sqlite.c" -lsqlite3
gcc -O2 -Wall -Wextra -o "$out/raw_sqlite_worker" tools/bench/raw_sqlite_worker.c -lsqlite3 -lpthread
: >"$out/raw_sqlite.json"; : >"$out/adapter.json"; : >"$out/aiosqlite.json"
: >"$out/raw_worker.json"
for ((r = 1; r <= rounds; r++)); do
  (cd "$out" && ./raw_sqlite "$n") >>"$out/raw_sqlite.json"
  "$out/raw_sqlite_worker" "$n" spin >>"$out/raw_worker.json"
  build/release/tools/bench/sqlite_bench "$n" >>"$out/adapter.json"
  /usr/bin/python3 "$peers/seed_aiosqlite.py" "$n" >>"$out/aiosqlite.json"
done
# One CPU: a container limited to one, or a busy machine, puts the caller and
# the worker on one core, where a hand-off cannot overlap the two threads.
one_cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
echo "== SQLite on one CPU (taskset -c $one_cpu, $rounds interleaved rounds)"
: >"$out/raw_sqlite_1cpu.json"; : >"$out/adapter_1cpu.json"; : >"$out/aiosqlite_1cpu.json"
: >"$out/raw_worker_1cpu.json"
for ((r = 1; r <= rounds; r++)); do
  (cd "$out" && taskset -c "$one_cpu" ./raw_sqlite "$n") >>"$out/raw_sqlite_1cpu.json"
  taskset -c "$one_cpu" "$out/raw_sqlite_worker" "$n" sleep >>"$out/raw_worker_1cpu.json"
  taskset -c "$one_cpu" build/release/tools/bench/sqlite_bench "$n" >>"$out/adapter_1cpu.json"
  taskset -c "$one_cpu" /usr/bin/python3 "$peers/seed_aiosqlite.py" "$n" >>"$out/aiosqlite_1cpu.json"
done
echo "== Trio MockClock"
/usr/bin/python3 "$peers/trio_virtual_time.py" >"$out/trio.txt"
echo "== load tests"
build/release/tests/load_test | grep '^load:' >"$out/load.txt"

python3 tools/bench/report.py "$out" "$n" >BENCHMARKS.md
echo "wrote BENCHMARKS.md"
