// hold_clock: work queued on another thread holds the run's virtual clock, so
// a deadline does not fire while the work is away and slow work is no hang.
#include "faultscope/hold_clock.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/test_resource.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::awaitable;
using faultscope::run_context;
namespace ft = faultscope::test;

namespace {

bool ended_ok(const faultscope::run_result& r) {
  return r.passed() && r.end == faultscope::run_end::ok;
}

// Blocking work handed to `pool` the way aiosqlite hands a call to its
// thread: the handler goes along and is posted back to its own executor.
template <typename Executor>
awaitable<int> answer_on(Executor pool, std::chrono::milliseconds cost) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(int)>(
      [pool, cost](auto handler) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [cost, h = std::move(handler), work = std::move(work)]() mutable {
          std::this_thread::sleep_for(cost);
          auto ex = work.get_executor();
          asio::post(ex,
                     [h = std::move(h), work = std::move(work)]() mutable { std::move(h)(42); });
        });
      },
      asio::use_awaitable);
}

// The usual spelling in code under test: a coroutine co_spawned onto the pool.
template <typename Executor>
awaitable<int> spawned_answer_on(Executor pool, std::chrono::milliseconds cost) {
  co_return co_await asio::co_spawn(
      pool,
      [cost]() -> awaitable<int> {
        std::this_thread::sleep_for(cost);
        co_return 42;
      },
      asio::use_awaitable);
}

class HoldClock : public ::testing::Test {
 protected:
  asio::thread_pool pool_{2};
};

// Work nothing holds may still be inside its post to the run's context when
// the run, handed that post, ends: the canaries keep the context counting
// work, so that the run leaves it in memory (as for any foreign work) rather
// than free it under that thread.
using context_keeper = std::optional<asio::executor_work_guard<asio::any_io_executor>>;

TEST_F(HoldClock, ADeadlineWaitsForHeldWork) {
  context_keeper keep;
  auto scenario = [this, &keep](bool held) {
    return [this, held, &keep](run_context& ctx) -> awaitable<void> {
      if (!held) keep.emplace(ctx.executor());
      auto work = held ? answer_on(faultscope::hold_clock(pool_.get_executor()), 20ms)
                       : answer_on(pool_.get_executor(), 20ms);
      EXPECT_EQ(co_await faultscope::with_timeout(1s, std::move(work)), 42);
    };
  };
  auto held = faultscope::run(scenario(true));
  EXPECT_TRUE(ended_ok(held)) << held.describe();
  EXPECT_EQ(held.virtual_elapsed, 0ns) << "the deadline fired while the work was away";

  // The canary: the same work, not held. Nothing in the run is ready while it
  // is away, so the clock jumps to the deadline at once.
  auto loose = faultscope::run(scenario(false));
  EXPECT_EQ(loose.virtual_elapsed, 1s);
}

TEST_F(HoldClock, ACoroutineSpawnedOntoThePoolFinishesBeforeItsDeadline) {
  auto r = faultscope::run([this](run_context&) -> awaitable<void> {
    auto work = spawned_answer_on(faultscope::hold_clock(pool_.get_executor()), 5ms);
    EXPECT_EQ(co_await faultscope::with_timeout(1s, std::move(work)), 42);
  });
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 0ns);
}

TEST_F(HoldClock, HeldWorkLongerThanTheForeignGraceIsNoHang) {
  auto r = faultscope::run(
      [this](run_context&) -> awaitable<void> {
        EXPECT_EQ(co_await spawned_answer_on(faultscope::hold_clock(pool_.get_executor()), 100ms),
                  42);
      },
      {.foreign_grace = 20ms});
  EXPECT_TRUE(ended_ok(r)) << r.describe();
}

TEST_F(HoldClock, VirtualTimeRunsOnceTheWorkIsBack) {
  auto r = faultscope::run([this](run_context&) -> awaitable<void> {
    EXPECT_EQ(co_await answer_on(faultscope::hold_clock(pool_.get_executor()), 5ms), 42);
    co_await ft::sleep_for(3s);
  });
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 3s);
}

TEST_F(HoldClock, WorkDroppedUnrunReleasesTheClock) {
  auto r = faultscope::run(
      [](run_context&) -> awaitable<void> {
        {
          asio::io_context never_run;
          asio::post(faultscope::hold_clock(never_run.get_executor()), [] {});
        }  // destroyed with the work still queued: the hold must end
        co_await ft::sleep_for(1s);
      },
      {.wall_limit = 2s});
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 1s) << "the dropped work still held the clock";
}

TEST_F(HoldClock, WorkStillRunningAfterTheRunKeepsTheRunsStateAlive) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> finished{false};
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        co_await asio::co_spawn(
            faultscope::hold_clock(pool_.get_executor()),
            [&]() -> awaitable<void> {
              released.wait();
              finished = true;
              co_return;
            },
            asio::use_awaitable);
      },
      {.wall_limit = 50ms});
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  ASSERT_EQ(r.violations.size(), 2u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, faultscope::violation_kind::hang);
  EXPECT_NE(r.violations[0].message.find("work on another thread never completed"),
            std::string::npos)
      << r.violations[0].message;
  EXPECT_EQ(r.violations[1].kind, faultscope::violation_kind::not_quiescent);
  EXPECT_NE(r.violations[1].message.find("hold_clock executor was still running"),
            std::string::npos)
      << r.violations[1].message;
  // The work now completes into the run's context, left in memory for it.
  release.set_value();
  pool_.join();
  EXPECT_TRUE(finished);
}

TEST_F(HoldClock, AnExecutorKeptPastItsRunHoldsNothing) {
  std::optional<faultscope::clock_holding_executor<asio::thread_pool::executor_type>> kept;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    kept.emplace(faultscope::hold_clock(pool_.get_executor()));
    co_return;
  });
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  std::promise<int> done;
  asio::post(*kept, [&] { done.set_value(7); });
  EXPECT_EQ(done.get_future().get(), 7);
}

// Larger, any_io_executor would keep it in a shared block, whose count
// ThreadSanitizer reports as a race in every program that uses the wrapper.
static_assert(sizeof(faultscope::clock_holding_executor<asio::thread_pool::executor_type>) <=
              sizeof(asio::any_io_executor::object_type));

TEST_F(HoldClock, OutsideARunItForwardsAndIsAnAsioExecutor) {
  auto ex = faultscope::hold_clock(pool_.get_executor());
  asio::any_io_executor any = ex;
  EXPECT_EQ(&asio::query(ex, asio::execution::context), &pool_);
  EXPECT_TRUE(ex == faultscope::hold_clock(pool_.get_executor()));
  auto never = asio::require(ex, asio::execution::blocking.never);
  EXPECT_EQ(asio::query(never, asio::execution::blocking), asio::execution::blocking.never);
  auto f = asio::co_spawn(any, spawned_answer_on(ex, 1ms), asio::use_future);
  EXPECT_EQ(f.get(), 42);
}

// Blocking work on a std::thread of its own, which posts its answer back.
awaitable<int> answer_on_a_thread(faultscope::clock_hold_token hold) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(int)>(
      [](auto handler, faultscope::clock_hold_token hold) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        std::thread([h = std::move(handler), work = std::move(work),
                     hold = std::move(hold)]() mutable {
          std::this_thread::sleep_for(20ms);
          auto ex = work.get_executor();
          asio::post(ex,
                     [h = std::move(h), work = std::move(work)]() mutable { std::move(h)(42); });
          hold.release();  // after the answer is on its way, as the executor does
        }).detach();
      },
      asio::use_awaitable, std::move(hold));
}

TEST_F(HoldClock, ATokenHoldsTheClockForAThreadNoExecutorNames) {
  context_keeper keep;
  auto scenario = [&keep](bool held) {
    return [held, &keep](run_context& ctx) -> awaitable<void> {
      if (!held) keep.emplace(ctx.executor());
      auto work =
          answer_on_a_thread(held ? faultscope::hold_clock() : faultscope::clock_hold_token{});
      EXPECT_EQ(co_await faultscope::with_timeout(1s, std::move(work)), 42);
    };
  };
  auto held = faultscope::run(scenario(true));
  EXPECT_TRUE(ended_ok(held)) << held.describe();
  EXPECT_EQ(held.virtual_elapsed, 0ns);
  // The canary: no token, and the deadline fires while the thread works.
  auto loose = faultscope::run(scenario(false));
  EXPECT_EQ(loose.virtual_elapsed, 1s);
}

TEST_F(HoldClock, ATokenReleasedOrMovedHoldsNoMore) {
  auto r = faultscope::run(
      [](run_context&) -> awaitable<void> {
        auto first = faultscope::hold_clock();
        EXPECT_TRUE(first);
        auto second = std::move(first);
        EXPECT_FALSE(first);
        second = faultscope::hold_clock();  // ends the hold it had
        second.release();
        EXPECT_FALSE(second);
        co_await ft::sleep_for(1s);
      },
      {.wall_limit = 2s});
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 1s) << "a hold was never ended";
  EXPECT_FALSE(faultscope::hold_clock()) << "outside a run a token holds nothing";
}

TEST_F(HoldClock, TakesAContext) {
  auto r = faultscope::run([this](run_context&) -> awaitable<void> {
    EXPECT_EQ(co_await spawned_answer_on(faultscope::hold_clock(pool_), 5ms), 42);
  });
  EXPECT_TRUE(ended_ok(r)) << r.describe();
}

TEST_F(HoldClock, AStrandOverTheWrapperHoldsTheClockToo) {
#if defined(__SANITIZE_THREAD__)
  // A strand over the wrapper is too large for any_io_executor's buffer, so
  // Asio keeps it in a shared block whose count, released with a fence that
  // GCC's ThreadSanitizer does not model, it reports as a race.
  GTEST_SKIP() << "ThreadSanitizer misreports Asio's shared executor block";
#endif
  auto r = faultscope::run([this](run_context&) -> awaitable<void> {
    auto strand = asio::make_strand(faultscope::hold_clock(pool_));
    auto work = spawned_answer_on(strand, 5ms);
    EXPECT_EQ(co_await faultscope::with_timeout(1s, std::move(work)), 42);
  });
  EXPECT_TRUE(ended_ok(r)) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 0ns);
}

// Blocking work with a fault point and a tracked buffer, as code under test
// would hand to a pool. `careful`: released on every path; otherwise only
// when the point passes. `leak`: never released.
template <typename Executor>
awaitable<int> checked_answer_on(Executor pool, bool careful = true, bool leak = false) {
  co_return co_await asio::co_spawn(
      pool,
      [careful, leak]() -> awaitable<int> {
        auto* t = faultscope::current_tracker();
        if (t == nullptr) throw std::logic_error("no tracker on the pool's thread");
        struct guard {
          faultscope::tracker* t;
          faultscope::resource_id id;
          ~guard() {
            if (t != nullptr) t->release(id);
          }
        } buffer{careful ? t : nullptr, t->acquire("buffer", "hash")};
        faultscope::fault_check("hash.disk");
        if (leak) buffer.t = nullptr;
        if (!careful && !leak) t->release(buffer.id);
        co_return 42;
      },
      asio::use_awaitable);
}

TEST_F(HoldClock, AFaultPointInHeldWorkFires) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("hash.disk#1=throw");
  auto r = faultscope::run(
      [this](run_context&) -> awaitable<void> {
        co_await checked_answer_on(faultscope::hold_clock(pool_));
      },
      o);
  EXPECT_EQ(r.end, faultscope::run_end::exception) << r.describe();
  EXPECT_EQ(r.error_message.find("injected fault at hash.disk#1"), 0u) << r.error_message;
  ASSERT_EQ(r.injected.size(), 1u);
  EXPECT_EQ(r.injected[0], "hash.disk#1=throw");
}

TEST_F(HoldClock, ALeakInHeldWorkIsReported) {
  auto r = faultscope::run([this](run_context&) -> awaitable<void> {
    EXPECT_EQ(co_await checked_answer_on(faultscope::hold_clock(pool_), true, true), 42);
  });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, faultscope::violation_kind::leak);
  EXPECT_NE(r.violations[0].message.find("buffer"), std::string::npos) << r.describe();
  // And released, it balances.
  auto ok = faultscope::run([this](run_context&) -> awaitable<void> {
    EXPECT_EQ(co_await checked_answer_on(faultscope::hold_clock(pool_)), 42);
  });
  EXPECT_TRUE(ended_ok(ok)) << ok.describe();
}

TEST_F(HoldClock, AnExplorationFindsALeakOnTheErrorPathOfHeldWork) {
  auto scenario = [this](bool careful) {
    return [this, careful](run_context&) -> awaitable<void> {
      co_await faultscope::fault_point("hash.before");
      auto pool = faultscope::hold_clock(pool_);
      // Twice, so hit numbers on the pool's thread count on.
      EXPECT_EQ(co_await checked_answer_on(pool, careful), 42);
      EXPECT_EQ(co_await checked_answer_on(pool, careful), 42);
      co_await faultscope::fault_point("hash.after");
    };
  };
  // The canary: released only when the point passes, the buffer leaks when it throws.
  auto naive = faultscope::explore("hash", scenario(false));
  ASSERT_EQ(naive.failures.size(), 4u) << naive.summary();  // hash.disk#1 and #2, throw and cancel
  EXPECT_EQ(naive.failures[0].plan.to_string(), "hash.disk#1=throw");
  EXPECT_EQ(naive.failures[0].run.violations.at(0).kind, faultscope::violation_kind::leak);

  auto careful = faultscope::explore("hash", scenario(true));
  EXPECT_TRUE(careful.passed()) << careful.summary();  // a nondeterministic path would fail it
  EXPECT_EQ(careful.points, 3u);
  EXPECT_EQ(careful.hits, 4u);

  // The path is the same in every run: points on both threads, in order.
  auto traced = [&] {
    auto r = faultscope::run(scenario(true));
    EXPECT_TRUE(ended_ok(r)) << r.describe();
    std::string path;
    for (const auto& h : r.trace) path += fmt::format("{}#{} ", h.point, h.hit);
    return path;
  };
  const std::string first = traced();
  EXPECT_EQ(first, "hash.before#1 hash.disk#1 hash.disk#2 hash.after#1 ");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(traced(), first);
}

// Every kind at a coroutine point on the pool's thread: a cancel or timeout
// must reach the coroutine while it waits there, never while it runs.
TEST_F(HoldClock, EveryFaultKindAtAPointInACoroutineOnThePool) {
  faultscope::explore_options o;
  o.kinds = {faultscope::fault::make_throw(), faultscope::fault::make_cancel(),
             faultscope::fault::make_timeout(), faultscope::fault::make_delay(10ms),
             faultscope::fault::make_bad_alloc()};
  auto e = faultscope::explore(
      "wait",
      [this](run_context&) -> awaitable<void> {
        auto pool = faultscope::hold_clock(pool_);
        auto work = asio::co_spawn(
            pool,
            []() -> awaitable<int> {
              co_await faultscope::fault_point("hash.wait");
              co_return 42;
            },
            asio::use_awaitable);
        EXPECT_EQ(co_await faultscope::with_timeout(5s, std::move(work)), 42);
      },
      o);
  EXPECT_TRUE(e.passed()) << e.summary();
  std::set<std::string> ran(e.ran.begin(), e.ran.end());
  for (const char* plan : {"hash.wait#1=throw", "hash.wait#1=cancel", "hash.wait#1=timeout",
                           "hash.wait#1=delay(10ms)", "hash.wait#1=bad_alloc"})
    EXPECT_TRUE(ran.contains(plan)) << plan;
}

TEST_F(HoldClock, HeldWorkThatNeverReachesTheRunStillRunsInParallel) {
  using namespace asio::experimental::awaitable_operators;
  // Two jobs that wait for each other: had they to take turns, neither would finish.
  auto r = faultscope::run(
      [this](run_context&) -> awaitable<void> {
        auto pool = faultscope::hold_clock(pool_);
        std::atomic<int> arrived{0};
        auto meet = [&arrived]() -> awaitable<int> {
          arrived.fetch_add(1);
          while (arrived.load() < 2) std::this_thread::yield();
          co_return 1;
        };
        auto a = asio::co_spawn(pool, meet, asio::use_awaitable);
        auto b = asio::co_spawn(pool, meet, asio::use_awaitable);
        auto [x, y] = co_await (std::move(a) && std::move(b));
        EXPECT_EQ(x + y, 2);
      },
      {.wall_limit = 10s});
  EXPECT_TRUE(ended_ok(r)) << r.describe();
}

TEST_F(HoldClock, HeldWorkThatReachesTheRunAndNeverReturnsIsAHang) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        co_await asio::co_spawn(
            faultscope::hold_clock(pool_),
            [&]() -> awaitable<void> {
              faultscope::fault_check("job.start");  // the run now waits for this job
              released.wait();
              co_return;
            },
            asio::use_awaitable);
      },
      {.wall_limit = 100ms});
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  ASSERT_FALSE(r.violations.empty());
  EXPECT_NE(r.violations[0].message.find("reached a fault point or the tracker, which makes the "
                                         "run wait for it, and did not return"),
            std::string::npos)
      << r.describe();
  release.set_value();
  pool_.join();
}

TEST_F(HoldClock, TheRunsThreadBlockingOnHeldWorkThatReachesTheRunIsReported) {
  auto r = faultscope::run(
      [this](run_context&) -> awaitable<void> {
        // Blocks the run's thread: the job's claim can never be let in.
        auto answer = asio::co_spawn(
            faultscope::hold_clock(pool_),
            []() -> awaitable<int> {
              faultscope::fault_check("job.start");
              co_return 42;
            },
            asio::use_future);
        EXPECT_EQ(answer.get(), 42);
        co_return;
      },
      {.wall_limit = 100ms});
  bool named = false;
  for (const auto& v : r.violations)
    named = named || (v.kind == faultscope::violation_kind::hang &&
                      v.message.find("a future's get()") != std::string::npos);
  EXPECT_TRUE(named) << r.describe();
}

TEST_F(HoldClock, ExploresLikeAnyScenario) {
  auto e = faultscope::explore("hash", [this](run_context&) -> awaitable<void> {
    co_await faultscope::fault_point("hash.before");
    auto work = spawned_answer_on(faultscope::hold_clock(pool_.get_executor()), 1ms);
    EXPECT_EQ(co_await faultscope::with_timeout(1s, std::move(work)), 42);
    co_await faultscope::fault_point("hash.after");
  });
  EXPECT_TRUE(e.passed()) << e.summary();
  EXPECT_GE(e.schedules_run, 4u);
}

}  // namespace
