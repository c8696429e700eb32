// Fault-point cost, next to libfiu's fiu_fail() in the same binary, and the
// speed and overhead of exploration on a 20-point scenario.
//   build/release/tools/bench/fault_bench --benchmark_format=json
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/with_resource.hpp"

#ifdef FAULTSCOPE_HAVE_LIBFIU
#define FIU_ENABLE 1
#include <fiu-control.h>
#include <fiu.h>
#endif

using boost::asio::awaitable;

namespace {

// Runs `body` as a coroutine on a plain io_context: no faultscope run, so no
// fault session is armed.
template <typename Body>
void in_plain_coroutine(Body body) {
  boost::asio::io_context io;
  boost::asio::co_spawn(io, body(), boost::asio::detached);
  io.run();
}

void fault_check_inactive(benchmark::State& state) {
  for (auto _ : state) faultscope::fault_check("pool.acquire");
}
BENCHMARK(fault_check_inactive);

void fault_point_inactive(benchmark::State& state) {
  in_plain_coroutine([&]() -> awaitable<void> {
    for (auto _ : state) co_await faultscope::fault_point("pool.acquire");
  });
}
BENCHMARK(fault_point_inactive);

void fault_point_macro_inactive(benchmark::State& state) {
  in_plain_coroutine([&]() -> awaitable<void> {
    for (auto _ : state) FAULTSCOPE_FAULT_POINT("pool.acquire");
  });
}
BENCHMARK(fault_point_macro_inactive);

// Inside a run with a plan that targets another point: every pass is counted,
// traced and matched, and none fires. One run keeps every pass in its trace, so
// the iteration count is that of a large run (2,000 passes), not millions:
// a million-pass run measures page faults of its growing trace instead.
faultscope::run_options other_point_plan() {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("other.point=throw");
  o.record_timeline = false;
  return o;
}

void fault_check_active_not_firing(benchmark::State& state) {
  auto r = faultscope::run(
      [&](faultscope::run_context&) -> awaitable<void> {
        for (auto _ : state) faultscope::fault_check("pool.acquire");
        co_return;
      },
      other_point_plan());
  if (!r.injected.empty()) state.SkipWithError("a fault fired");
}
BENCHMARK(fault_check_active_not_firing)->Iterations(2'000);

void fault_point_active_not_firing(benchmark::State& state) {
  auto r = faultscope::run(
      [&](faultscope::run_context&) -> awaitable<void> {
        for (auto _ : state) co_await faultscope::fault_point("pool.acquire");
      },
      other_point_plan());
  if (!r.injected.empty()) state.SkipWithError("a fault fired");
}
BENCHMARK(fault_point_active_not_firing)->Iterations(2'000);

void fault_point_macro_active_not_firing(benchmark::State& state) {
  auto r = faultscope::run(
      [&](faultscope::run_context&) -> awaitable<void> {
        for (auto _ : state) FAULTSCOPE_FAULT_POINT("pool.acquire");
      },
      other_point_plan());
  if (!r.injected.empty()) state.SkipWithError("a fault fired");
}
BENCHMARK(fault_point_macro_active_not_firing)->Iterations(2'000);

#ifdef FAULTSCOPE_HAVE_LIBFIU
void libfiu_fiu_fail_nothing_enabled(benchmark::State& state) {
  fiu_init(0);
  for (auto _ : state) benchmark::DoNotOptimize(fiu_fail("pool/acquire"));
}
BENCHMARK(libfiu_fiu_fail_nothing_enabled);

void libfiu_fiu_fail_other_enabled(benchmark::State& state) {
  fiu_init(0);
  fiu_enable("other/point", 1, nullptr, 0);
  for (auto _ : state) benchmark::DoNotOptimize(fiu_fail("pool/acquire"));
  fiu_disable("other/point");
}
BENCHMARK(libfiu_fiu_fail_other_enabled);
#endif

// Twenty fault-point hits: a scope whose acquire, body and release pass them.
awaitable<void> twenty_points(faultscope::run_context& ctx) {
  auto& t = ctx.tracker();
  co_await faultscope::with_resource(
      [&t]() -> awaitable<faultscope::resource_id> {
        for (int i = 0; i < 4; ++i) co_await faultscope::fault_point("conn.open");
        co_return t.acquire("connection");
      },
      [](faultscope::resource_id&) -> awaitable<void> {
        for (int i = 0; i < 16; ++i) co_await faultscope::fault_point("conn.query");
      },
      [&t](faultscope::resource_id& id) -> awaitable<void> {
        t.release(id);
        co_return;
      });
}

void exploration_20_points(benchmark::State& state) {
  faultscope::explore_options o;
  o.jobs = static_cast<unsigned>(state.range(0));
  std::size_t runs = 0;
  double explore_seconds = 0;
  for (auto _ : state) {
    auto ex = faultscope::explore("twenty", twenty_points, o);
    if (ex.hits != 20 || !ex.passed()) state.SkipWithError("unexpected exploration result");
    runs += ex.schedules_run + 1;
    explore_seconds += std::chrono::duration<double>(ex.wall).count();
  }
  // One clean run, timed alone, for the overhead ratio.
  auto start = std::chrono::steady_clock::now();
  constexpr int clean_runs = 200;
  for (int i = 0; i < clean_runs; ++i) benchmark::DoNotOptimize(faultscope::run(twenty_points));
  double clean =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / clean_runs;
  state.counters["runs_per_s"] = benchmark::Counter(static_cast<double>(runs) / explore_seconds);
  state.counters["schedules"] = static_cast<double>(runs) / static_cast<double>(state.iterations());
  state.counters["clean_run_us"] = clean * 1e6;
  // Exploration time / (runs × one clean run): what exploring adds per run.
  state.counters["overhead_ratio"] = explore_seconds / (static_cast<double>(runs) * clean);
}
BENCHMARK(exploration_20_points)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
