// faultscope::detached: an exception that ends a spawned coroutine nobody
// awaits is reported in a run, where boost::asio::detached loses it.
#include "faultscope/detached.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/hold_clock.hpp"
#include "faultscope/run.hpp"
#include "faultscope/testing/gtest.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::violation_kind;
using faultscope::testing::HasViolation;
using ::testing::HasSubstr;

namespace {

awaitable<void> fails_later() {
  co_await ft::sleep_for(1s);
  throw std::runtime_error("background task failed");
}

TEST(Detached, CanaryAnExceptionEndingTheCoroutineIsReportedAtTheSpawnLine) {
  unsigned spawned_at = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    spawned_at = __LINE__ + 1;
    boost::asio::co_spawn(ctx.executor(), fails_later(), faultscope::detached());
    co_await ft::sleep_for(2s);
  });
  ASSERT_THAT(r, HasViolation(violation_kind::unhandled_exception));
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  const auto& v = r.violations[0];
  EXPECT_EQ(v.message,
            "unhandled exception: \"background task failed\" ended the coroutine spawned at "
            "tests/framework/detached_test.cpp:" +
                std::to_string(spawned_at) +
                " with faultscope::detached; nothing awaits it, so outside a run the exception "
                "is lost");
  EXPECT_EQ(v.file, "tests/framework/detached_test.cpp");
  EXPECT_EQ(v.line, spawned_at);
  EXPECT_EQ(r.end, faultscope::run_end::ok) << "the root itself ended well";
}

TEST(Detached, CanaryTheDropInFormReportsItAtNoLine) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    boost::asio::co_spawn(ctx.executor(), fails_later(), faultscope::detached);
    co_await ft::sleep_for(2s);
  });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].message,
            "unhandled exception: \"background task failed\" ended the coroutine with "
            "faultscope::detached; nothing awaits it, so outside a run the exception is lost");
  EXPECT_EQ(r.violations[0].file, "");
  EXPECT_EQ(r.violations[0].line, 0u);
}

TEST(Detached, AsiosOwnTokenLosesTheExceptionWhichIsWhyThisOneExists) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    boost::asio::co_spawn(ctx.executor(), fails_later(), boost::asio::detached);
    co_await ft::sleep_for(2s);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Detached, AnInjectedFaultThatEndsTheCoroutineIsReported) {
  faultscope::run_options options;
  options.plan = faultscope::fault_plan::parse("background.step=throw");
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto background = []() -> awaitable<void> {
          co_await faultscope::fault_point("background.step");
        };
        boost::asio::co_spawn(ctx.executor(), background(), faultscope::detached());
        co_await ft::sleep_for(1s);
      },
      options);
  ASSERT_THAT(r, HasViolation(violation_kind::unhandled_exception));
  EXPECT_THAT(r.violations[0].message, HasSubstr("injected fault at background.step#1"));
}

TEST(Detached, CoroutinesThatEndWellOrAreCancelledAreNotReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto value = []() -> awaitable<int> {
      co_await ft::sleep_for(1s);
      co_return 7;
    };
    auto nothing = []() -> awaitable<void> {
      co_await ft::sleep_for(1s);
    };
    // A cancelled coroutine nobody awaits has lost nothing: asyncio, too, keeps
    // quiet about a cancelled task whose result is never retrieved.
    auto cancelled = []() -> awaitable<void> {
      co_await ft::sleep_for(1s);
      throw boost::system::system_error(boost::asio::error::operation_aborted);
    };
    boost::asio::co_spawn(ctx.executor(), value(), faultscope::detached());
    boost::asio::co_spawn(ctx.executor(), nothing(), faultscope::detached);
    boost::asio::co_spawn(ctx.executor(), cancelled(), faultscope::detached());
    co_await ft::sleep_for(2s);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Detached, OnAPoolItIsReportedWhenThePoolHoldsTheClockAndDroppedWhenNot) {
  auto fails_at_once = []() -> awaitable<void> {
    throw std::runtime_error("pool work failed");
    co_return;
  };
  boost::asio::thread_pool pool(1);
  // Held: the work is part of the run, and its handler runs as part of it.
  auto held = faultscope::run([&](run_context&) -> awaitable<void> {
    boost::asio::co_spawn(faultscope::hold_clock(pool.get_executor()), fails_at_once(),
                          faultscope::detached());
    co_await ft::sleep_for(1s);
  });
  ASSERT_THAT(held, HasViolation(violation_kind::unhandled_exception));
  EXPECT_THAT(held.violations[0].message, HasSubstr("\"pool work failed\" ended the coroutine"));
  // Not held: the pool's thread belongs to no run, so there is none to tell.
  auto unheld = faultscope::run([&](run_context&) -> awaitable<void> {
    boost::asio::co_spawn(pool.get_executor(), fails_at_once(), faultscope::detached());
    co_await ft::sleep_for(1s);
  });
  pool.join();
  EXPECT_TRUE(unheld.passed()) << unheld.describe();
}

TEST(Detached, OutsideARunTheExceptionIsDroppedAsAsioDropsIt) {
  boost::asio::io_context io;
  auto fails = []() -> awaitable<void> {
    throw std::runtime_error("nobody is told");
    co_return;
  };
  boost::asio::co_spawn(io, fails(), faultscope::detached());
  EXPECT_NO_THROW(io.run());
  EXPECT_EQ(faultscope::current_run(), nullptr);
}

}  // namespace
