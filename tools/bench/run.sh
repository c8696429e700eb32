#!/usr/bin/env bash
# Runs every benchmark in one go and writes BENCHMARKS.md at the top of the
# repository: the tracker, scopes, fault points against libfiu, exploration,
# virtual time against Trio, the SQLite adapter against raw SQLite and
# aiosqlite (../shared/bench, or FAULTSCOPE_PEERS=DIR) and against raw SQLite
# on a worker thread (raw_sqlite_worker.c) -- on all CPUs, on one CPU and on
# a machine busy with other programs -- and the load tests.
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
gcc -O2 -o "$out/raw_sqlite" "$peers/raw_sqlite.c" -lsqlite3
gcc -O2 -Wall -Wextra -o "$out/raw_sqlite_worker" tools/bench/raw_sqlite_worker.c -lsqlite3 -lpthread
gcc -O2 -Wall -Wextra -o "$out/machine_probe" tools/bench/machine_probe.c -lpthread
# What a hand-off costs here, measured before every round: the adapter's
# figures against raw SQLite follow it from one machine to the next, and on a
# VM from one minute to the next, as the host moves its virtual CPUs.
: >"$out/machine.json"

# sqlite_rounds TAG WAIT PROBE [COMMAND PREFIX...]: the four programs, in turn,
# for $rounds rounds, each run through the prefix; lines go to
# $out/<program>TAG.json. WAIT is how raw_sqlite_worker's caller waits (spin or
# sleep); PROBE (yes or no) whether machine_probe runs before each round.
sqlite_rounds() {
  local tag=$1 wait=$2 probe=$3
  shift 3
  local f
  for f in raw_sqlite raw_worker adapter aiosqlite; do : >"$out/$f$tag.json"; done
  for ((r = 1; r <= rounds; r++)); do
    [[ $probe == no ]] || "$out/machine_probe" >>"$out/machine.json"
    (cd "$out" && "$@" ./raw_sqlite "$n") >>"$out/raw_sqlite$tag.json"
    "$@" "$out/raw_sqlite_worker" "$n" "$wait" >>"$out/raw_worker$tag.json"
    "$@" build/release/tools/bench/sqlite_bench "$n" >>"$out/adapter$tag.json"
    "$@" /usr/bin/python3 "$peers/seed_aiosqlite.py" "$n" >>"$out/aiosqlite$tag.json"
  done
}

echo "== SQLite: raw C API, adapter, aiosqlite (N=$n, $rounds interleaved rounds)"
sqlite_rounds "" spin yes
# One CPU: a container limited to one, or a busy machine, puts the caller and
# the worker on one core, where a hand-off cannot overlap the two threads.
one_cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
echo "== SQLite on one CPU (taskset -c $one_cpu, $rounds interleaved rounds)"
sqlite_rounds _1cpu sleep yes taskset -c "$one_cpu"
# A busy machine: one never-sleeping process per CPU competes with every
# thread. A waiter that yields hands its core to them for a whole time slice:
# a wait that yielded at every turn once made txn run at 7-9 ops/s here.
hogs=()
stop_hogs() {
  ((${#hogs[@]})) || return 0
  kill "${hogs[@]}" 2>/dev/null || true
  wait "${hogs[@]}" 2>/dev/null || true
  hogs=()
}
trap stop_hogs EXIT
cpus=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')
echo "== SQLite on a busy machine ($cpus CPU-bound processes beside it, $rounds interleaved rounds)"
for ((i = 0; i < cpus; i++)); do
  yes >/dev/null &
  hogs+=($!)
done
sqlite_rounds _busy sleep no # pinned spinners beside the hogs would measure time slices
stop_hogs
echo "== Trio MockClock"
/usr/bin/python3 "$peers/trio_virtual_time.py" >"$out/trio.txt"
echo "== load tests"
build/release/tests/load_test | grep '^load:' >"$out/load.txt"

python3 tools/bench/report.py "$out" "$n" >BENCHMARKS.md
echo "wrote BENCHMARKS.md"
