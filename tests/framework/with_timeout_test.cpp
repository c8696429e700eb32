// with_timeout: the deadline cancels and awaits; an exception is never lost.
#include "faultscope/with_timeout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "faultscope/run.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using ::testing::HasSubstr;

namespace {

TEST(WithTimeout, ValueBeforeTheDeadline) {
  int v = 0;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    v = co_await faultscope::with_timeout(1s, []() -> awaitable<int> {
      co_await ft::sleep_for(100ms);
      co_return 5;
    }());
  });
  EXPECT_EQ(v, 5);
  EXPECT_EQ(r.virtual_elapsed, 100ms) << "the deadline timer was cancelled, not waited out";
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(WithTimeout, ExceptionBeforeTheDeadlineIsNotLost) {
  int tag = 0;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    try {
      co_await faultscope::with_timeout(30s, []() -> awaitable<void> {
        co_await ft::sleep_for(1ms);
        throw ft::planted_error("failed fast", 9);
      }());
    } catch (const ft::planted_error& e) {
      tag = e.tag;
    }
  });
  EXPECT_EQ(tag, 9);
  EXPECT_EQ(r.virtual_elapsed, 1ms) << "awaitable_operators' || would wait 30 s here";
}

TEST(WithTimeout, DeadlineCancelsAndAwaitsTheOperationsCleanup) {
  bool cleaned = false;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    co_await faultscope::with_timeout(1s, [&]() -> awaitable<void> {
      try {
        co_await ft::sleep_for(1h);
      } catch (...) {
      }
      co_await boost::asio::this_coro::reset_cancellation_state();
      co_await ft::sleep_for(200ms);  // slow cleanup, awaited before the timeout throws
      cleaned = true;
    }());
  });
  EXPECT_TRUE(cleaned);
  EXPECT_EQ(r.end, faultscope::run_end::ok) << "the operation finished, so nothing timed out";
  EXPECT_EQ(r.virtual_elapsed, 1200ms);
}

TEST(WithTimeout, ValueProducedDespiteTheDeadlineIsReturnedNotDropped) {
  int v = 0;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    v = co_await faultscope::with_timeout(1s, []() -> awaitable<int> {
      try {
        co_await ft::sleep_for(1h);
      } catch (...) {
      }
      co_return 11;  // e.g. a connection that was acquired anyway
    }());
  });
  EXPECT_EQ(v, 11);
}

TEST(WithTimeout, WorksOutsideARunOnTheSteadyClock) {
  boost::asio::io_context io;
  std::string error;
  boost::asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        boost::asio::steady_timer t(io, std::chrono::hours(1));
        co_await faultscope::with_timeout(10ms, t.async_wait(boost::asio::use_awaitable));
      },
      [&](std::exception_ptr e) {
        try {
          if (e) std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          error = ex.what();
        }
      });
  io.run();
  EXPECT_THAT(error, HasSubstr("timed out"));
}

}  // namespace
