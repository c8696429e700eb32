// The retry helper: backoff on the virtual clock, cancellation never retried.
#include "faultscope/fakes/retry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faultscope/fakes/connection.hpp"
#include "faultscope/run.hpp"
#include "faultscope/with_resource.hpp"
#include "support/fake_checks.hpp"

namespace fakes = faultscope::fakes;
namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;

namespace {

TEST(Retry, BacksOffExponentiallyInVirtualTime) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("op#1-2=throw");
  int value = 0;
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        value = co_await fakes::retry(
            []() -> awaitable<int> {
              co_await faultscope::fault_point("op");
              co_return 7;
            },
            {.attempts = 3, .backoff = 10ms});
      },
      o);
  EXPECT_EQ(value, 7);
  EXPECT_EQ(r.virtual_elapsed, 30ms) << "10 ms, then 20 ms";
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Retry, GivesUpAfterTheLastAttempt) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("op=throw");
  auto r = faultscope::run(
      [](run_context&) -> awaitable<void> {
        co_await fakes::retry([]() -> awaitable<void> { co_await faultscope::fault_point("op"); },
                              {.attempts = 4, .backoff = 1ms});
      },
      o);
  EXPECT_EQ(r.end, faultscope::run_end::exception);
  EXPECT_EQ(r.trace.size(), 7u) << "4 attempts and 3 backoffs";
}

TEST(Retry, CancellationIsNotRetried) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("op#1=cancel");
  auto r = faultscope::run(
      [](run_context&) -> awaitable<void> {
        co_await fakes::retry([]() -> awaitable<void> { co_await faultscope::fault_point("op"); });
      },
      o);
  EXPECT_EQ(r.end, faultscope::run_end::cancelled);
  EXPECT_EQ(r.trace.size(), 1u);
}

awaitable<void> retried_query(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await faultscope::with_resource([&t] { return fakes::connection::open(t); },
                                     [](fakes::connection& c) -> awaitable<void> {
                                       co_await fakes::retry([&c] { return c.query("select 1"); },
                                                             {.attempts = 2});
                                     },
                                     [](fakes::connection& c) { return c.close(); });
}

TEST(Retry, CorrectUseNeverLeaksUnderAnyDepthOneFault) {
  ft::expect_fake_never_leaks(faultscope::explore("retry", retried_query));
}

}  // namespace
