// Costs of the framework's core: a tracker acquire+release pair, a
// with_resource scope against the hand-written cleanup doing the same work, a
// virtual timeout, and work on a thread pool with and without hold_clock.
//   build/release/tools/bench/framework_bench --benchmark_format=json
#include <benchmark/benchmark.h>

#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/detail/asio_ops.hpp"
#include "faultscope/exit_stack.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/hold_clock.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"

using boost::asio::awaitable;

namespace {

// With the timeline on, a tracker lives as long as one run: a fresh one every
// 1024 pairs, so the figure is a run's cost, not that of an ever-growing log.
void tracker_pair(benchmark::State& state) {
  const faultscope::tracker::options opts{.record_timeline = state.range(0) != 0};
  auto t = std::make_unique<faultscope::tracker>(opts);
  std::size_t n = 0;
  for (auto _ : state) {
    auto id = t->acquire("connection", "db");
    t->release(id);
    if (++n % 1024 == 0) t = std::make_unique<faultscope::tracker>(opts);
  }
  state.SetLabel(state.range(0) ? "timeline on" : "timeline off");
}
BENCHMARK(tracker_pair)->Arg(0)->Arg(1);

awaitable<faultscope::resource_id> acquire(faultscope::tracker& t) {
  co_return t.acquire("connection", "db");
}
awaitable<int> body(faultscope::tracker& t, faultscope::resource_id id) {
  t.touch(id);
  co_return 1;
}
awaitable<void> release(faultscope::tracker& t, faultscope::resource_id id) {
  t.release(id);
  co_return;
}

// The same acquire/body/release, cleaned up by hand: correct only without
// cancellation, which is what with_resource adds.
awaitable<int> hand_written(faultscope::tracker& t) {
  auto id = co_await acquire(t);
  std::exception_ptr error;
  int v = 0;
  try {
    v = co_await body(t, id);
  } catch (...) {
    error = std::current_exception();
  }
  co_await release(t, id);
  if (error) std::rethrow_exception(error);
  co_return v;
}

awaitable<int> scoped(faultscope::tracker& t) {
  co_return co_await faultscope::with_resource(
      [&t] { return acquire(t); }, [&t](faultscope::resource_id& id) { return body(t, id); },
      [&t](faultscope::resource_id& id) { return release(t, id); });
}

// The same resource held by an exit stack: by an acquire/release pair, and by
// a context manager entered into it (its own thread, parked until close).
awaitable<int> stacked(faultscope::tracker& t) {
  co_return co_await faultscope::with_exit_stack(
      [&t](faultscope::async_exit_stack& stack) -> awaitable<int> {
        faultscope::resource_id& id =
            co_await stack.enter([&t] { return acquire(t); },
                                 [&t](faultscope::resource_id& r) { return release(t, r); });
        co_return co_await body(t, id);
      });
}

awaitable<int> stacked_context(faultscope::tracker& t) {
  co_return co_await faultscope::with_exit_stack(
      [&t](faultscope::async_exit_stack& stack) -> awaitable<int> {
        faultscope::resource_id& id = co_await stack.enter_context<faultscope::resource_id>(
            [&t](faultscope::yield<faultscope::resource_id> y) -> awaitable<void> {
              auto r = co_await acquire(t);
              co_await y(r);
              co_await release(t, r);
            });
        co_return co_await body(t, id);
      });
}

template <awaitable<int> (*Scope)(faultscope::tracker&)>
void scope_cost(benchmark::State& state) {
  auto result = faultscope::run(
      [&](faultscope::run_context& ctx) -> awaitable<void> {
        for (auto _ : state) benchmark::DoNotOptimize(co_await Scope(ctx.tracker()));
      },
      {.record_timeline = false});
  if (!result.passed()) state.SkipWithError(result.describe().c_str());
}
BENCHMARK(scope_cost<hand_written>)->Name("hand_written_cleanup");
BENCHMARK(scope_cost<scoped>)->Name("with_resource");
BENCHMARK(scope_cost<stacked>)->Name("exit_stack_enter");
BENCHMARK(scope_cost<stacked_context>)->Name("exit_stack_enter_context");

// A whole run whose 30 s timeout fires: the peer is Trio's autojump MockClock
// (../shared/bench/trio_virtual_time.py), about 38 us per scenario here.
void virtual_timeout_30s(benchmark::State& state) {
  for (auto _ : state) {
    auto r = faultscope::run(
        [](faultscope::run_context&) -> awaitable<void> {
          try {
            co_await faultscope::with_timeout(std::chrono::seconds(30),
                                              faultscope::sleep_for(std::chrono::hours(1)));
          } catch (const boost::system::system_error&) {
          }
        },
        {.record_timeline = false});
    if (r.virtual_elapsed != std::chrono::seconds(30)) state.SkipWithError("not 30 s virtual");
  }
  state.counters["virtual_s_per_wall_s"] = benchmark::Counter(
      30.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(virtual_timeout_30s)->Unit(benchmark::kMicrosecond);

// A run with nothing in it, without (0) and with (1) run_options::check_fds:
// what listing the process's descriptors before and after a run adds.
void empty_run(benchmark::State& state) {
  const bool check = state.range(0) != 0;
  for (auto _ : state) {
    auto r = faultscope::run([](faultscope::run_context&) -> awaitable<void> { co_return; },
                             {.record_timeline = false, .check_fds = check});
    if (!r.passed()) state.SkipWithError("the empty run failed");
  }
}
BENCHMARK(empty_run)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// What hold_clock adds to work handed to a thread pool: a run of 100
// co_spawn round trips onto a one-thread pool, through the pool's own
// executor (0), through the wrapper (1: a lock and a count per function, and
// the run's wait for other-thread work instead of a foreign one), and through
// the wrapper with a fault point and a tracked buffer in the work (2: each
// function claims the run's turn).
void pool_round_trips_100(benchmark::State& state) {
  boost::asio::thread_pool pool(1);
  const auto variant = state.range(0);
  for (auto _ : state) {
    auto r = faultscope::run(
        [&](faultscope::run_context&) -> awaitable<void> {
          for (int i = 0; i < 100; ++i) {
            auto step = []() -> awaitable<int> {
              co_return 1;
            };
            auto checked_step = []() -> awaitable<int> {
              auto* t = faultscope::current_tracker();
              const auto buffer = t->acquire("buffer");
              faultscope::fault_check("pool.step");
              t->release(buffer);
              co_return 1;
            };
            if (variant == 0)
              co_await boost::asio::co_spawn(pool, step, boost::asio::use_awaitable);
            else if (variant == 1)
              co_await boost::asio::co_spawn(faultscope::hold_clock(pool), step,
                                             boost::asio::use_awaitable);
            else
              co_await boost::asio::co_spawn(faultscope::hold_clock(pool), checked_step,
                                             boost::asio::use_awaitable);
          }
        },
        {.record_timeline = false});
    if (!r.passed()) state.SkipWithError(r.describe().c_str());
  }
  state.SetLabel(variant == 0   ? "pool"
                 : variant == 1 ? "hold_clock(pool)"
                                : "hold_clock(pool), point and tracker in the work");
}
BENCHMARK(pool_round_trips_100)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// A run of 1,000 Asio posts that it awaits: in a build with
// FAULTSCOPE_ASIO_TRACKING, what recording each operation until it completes
// costs (a lock and a map entry), against the same benchmark in a build without.
void asio_posts_1000(benchmark::State& state) {
  for (auto _ : state) {
    auto r = faultscope::run(
        [](faultscope::run_context& ctx) -> awaitable<void> {
          for (int i = 0; i < 1000; ++i)
            co_await boost::asio::post(ctx.executor(), boost::asio::use_awaitable);
        },
        {.record_timeline = false});
    if (!r.passed()) state.SkipWithError(r.describe().c_str());
  }
  state.SetLabel(faultscope::detail::asio_op_watch::enabled ? "asio tracking" : "no tracking");
}
BENCHMARK(asio_posts_1000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
