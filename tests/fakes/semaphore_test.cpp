// The fake async mutex and semaphore.
#include "faultscope/fakes/semaphore.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/fake_checks.hpp"

namespace fakes = faultscope::fakes;
namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::violation_kind;
using faultscope::testing::HasViolation;

namespace {

awaitable<void> locked_increment(fakes::async_mutex& m, int& counter) {
  co_await faultscope::with_resource([&m] { return m.lock(); },
                                     [&counter](faultscope::resource_id&) -> awaitable<void> {
                                       int v = counter;
                                       co_await faultscope::fault_point("work");
                                       co_await faultscope::sleep_for(1ms);
                                       counter = v + 1;
                                     },
                                     [&m](faultscope::resource_id& held) -> awaitable<void> {
                                       m.unlock(held);
                                       co_return;
                                     });
}

awaitable<void> correct_use(run_context& ctx) {
  fakes::async_mutex m(ctx.tracker(), "counter");
  int counter = 0;
  co_await faultscope::with_timeout(1s, locked_increment(m, counter));
}

TEST(Mutex, CorrectUseNeverLeaksUnderAnyDepthOneFault) {
  ft::expect_fake_never_leaks(faultscope::explore("mutex.correct", correct_use, ft::all_kinds()));
}

TEST(Mutex, ExcludesConcurrentHolders) {
  int counter = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::async_mutex m(ctx.tracker());
    for (int i = 0; i < 5; ++i)
      boost::asio::co_spawn(ctx.executor(), locked_increment(m, counter), boost::asio::detached);
    co_await faultscope::sleep_for(100ms);
  });
  EXPECT_EQ(counter, 5) << "without exclusion the read-sleep-write would lose updates";
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Mutex, CancelledWaiterNeverEndsUpHoldingTheLock) {
  bool cancelled_got_lock = false;
  bool next_got_lock = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::async_mutex m(ctx.tracker());
    auto held = co_await m.lock();
    boost::asio::cancellation_signal sig;
    // Named, so the closures outlive the coroutines that use their captures.
    auto locker = [&m](bool& got) -> awaitable<void> {
      auto h = co_await m.lock();
      got = true;
      m.unlock(h);
    };
    boost::asio::co_spawn(ctx.executor(), locker(cancelled_got_lock),
                          boost::asio::bind_cancellation_slot(sig.slot(), boost::asio::detached));
    boost::asio::co_spawn(ctx.executor(), locker(next_got_lock), boost::asio::detached);
    co_await faultscope::sleep_for(1ms);
    sig.emit(boost::asio::cancellation_type::terminal);
    co_await faultscope::sleep_for(1ms);
    m.unlock(held);
    co_await faultscope::sleep_for(1ms);
    EXPECT_EQ(m.available(), 1u);
  });
  EXPECT_FALSE(cancelled_got_lock);
  EXPECT_TRUE(next_got_lock);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Semaphore, CountsPermits) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    fakes::semaphore s(ctx.tracker(), 2, "slots");
    auto a = co_await s.acquire();
    auto b = co_await s.acquire();
    EXPECT_EQ(s.available(), 0u);
    s.release(a);
    s.release(b);
    EXPECT_EQ(s.available(), 2u);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
}

// Unlocks only on success: a lock held forever after a throw or a cancellation.
awaitable<void> leaks_lock(run_context& ctx) {
  fakes::async_mutex m(ctx.tracker(), "accounts");
  auto held = co_await m.lock();
  co_await faultscope::fault_point("work");
  co_await faultscope::sleep_for(1ms);
  m.unlock(held);
}

TEST(Mutex, CanaryLockNotReleasedOnThrowOrCancelIsReported) {
  auto ex = faultscope::explore("leaks_lock", leaks_lock);
  ASSERT_EQ(ex.failures.size(), 2u) << ex.summary();  // work#1=throw and work#1=cancel
  EXPECT_THAT(ex.failures[0].run.violations[0].message,
              ::testing::HasSubstr("lock #1 \"accounts\""));
  std::uint32_t first = 0, second = 0;
  auto twice = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::async_mutex m(ctx.tracker());
    auto h = co_await m.lock();
    first = __LINE__ + 1;
    m.unlock(h);
    second = __LINE__ + 1;
    m.unlock(h);
    EXPECT_EQ(m.available(), 1u) << "the second unlock gave back a permit it did not hold";
  });
  ft::expect_misuse_at(twice, violation_kind::double_release, "lock #1 \"mutex\"", "released again",
                       "tests/fakes/semaphore_test.cpp", second, first);
}

TEST(Mutex, CanaryUnlockOnlyOnSuccessIsCaughtUnderThrowCancelAndTimeout) {
  ft::expect_misuse_caught_under_every_kind("mutex", leaks_lock);
}

}  // namespace
