// Fault points under a plan: each kind does what it says, in virtual time.
#include "faultscope/fault_point.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/system/system_error.hpp>

#include "faultscope/run.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::fault_plan;
using faultscope::run_context;
using faultscope::run_end;
using ::testing::HasSubstr;

namespace {

faultscope::run_result run_with(const char* plan, const faultscope::scenario_fn& fn) {
  faultscope::run_options o;
  o.plan = fault_plan::parse(plan);
  return faultscope::run(fn, o);
}

awaitable<void> three_points(run_context&) {
  co_await faultscope::fault_point("a");
  co_await ft::sleep_for(1s);
  co_await faultscope::fault_point("b");
  co_await faultscope::fault_point("a");
}

TEST(FaultPoint, InactiveOutsideARun) {
  EXPECT_FALSE(faultscope::detail::faults_armed());
  faultscope::fault_check("anything");  // no session: nothing happens
  boost::system::error_code ec = boost::asio::error::eof;
  faultscope::fault_check("anything", ec);
  EXPECT_FALSE(ec);
}

TEST(FaultPoint, CleanRunRecordsTheTrace) {
  auto r = faultscope::run(three_points);
  ASSERT_EQ(r.trace.size(), 3u);
  EXPECT_EQ(r.trace[0].point, "a");
  EXPECT_EQ(r.trace[0].hit, 1u);
  EXPECT_EQ(r.trace[1].point, "b");
  EXPECT_EQ(r.trace[1].at, 1s);
  EXPECT_EQ(r.trace[2].point, "a");
  EXPECT_EQ(r.trace[2].hit, 2u);
  EXPECT_TRUE(r.injected.empty());
}

TEST(FaultPoint, ThrowFiresAtTheNamedHitOnly) {
  auto r = run_with("a#2=throw", three_points);
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_EQ(r.error_message, "injected fault at a#2");
  EXPECT_EQ(r.injected, (std::vector<std::string>{"a#2=throw"}));
  EXPECT_EQ(r.trace.back().fired, "throw");
}

TEST(FaultPoint, ThrowWithCodeIsASystemError) {
  std::error_code seen;
  auto r = run_with("b=throw(no_space)", [&](run_context& ctx) -> awaitable<void> {
    try {
      co_await three_points(ctx);
    } catch (const boost::system::system_error& e) {
      seen = e.code();
    }
  });
  EXPECT_EQ(seen, std::errc::no_space_on_device);
}

TEST(FaultPoint, BadAllocThrowsWhatNewThrows) {
  int caught = 0;
  auto r = run_with("a#1=bad_alloc;c=bad_alloc;e=bad_alloc", [&](run_context&) -> awaitable<void> {
    try {
      co_await faultscope::fault_point("a");
    } catch (const std::bad_alloc&) {
      ++caught;
    }
    try {
      faultscope::fault_check("c");
    } catch (const std::bad_alloc&) {
      ++caught;
    }
    try {
      boost::system::error_code ec;
      faultscope::fault_check("e", ec);  // memory running out is never an error code
    } catch (const std::bad_alloc&) {
      ++caught;
    }
  });
  EXPECT_EQ(caught, 3);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.injected,
            (std::vector<std::string>{"a#1=bad_alloc", "c#1=bad_alloc", "e#1=bad_alloc"}));
}

TEST(FaultPoint, CancelCancelsTheRootWhileSuspendedHere) {
  auto r = run_with("b=cancel", three_points);
  EXPECT_EQ(r.end, run_end::cancelled);
  EXPECT_EQ(r.virtual_elapsed, 1s);
}

TEST(FaultPoint, PartialCancelIsIgnoredByTheDefaultFilter) {
  auto r = run_with("b=cancel(partial)", three_points);
  EXPECT_EQ(r.end, run_end::ok) << "a coroutine lets only terminal cancellation through";
  EXPECT_EQ(r.injected.size(), 1u);
}

TEST(FaultPoint, TimeoutHangsUntilTheEnclosingDeadline) {
  auto r = run_with("b=timeout", [](run_context& ctx) -> awaitable<void> {
    co_await faultscope::with_timeout(30s, three_points(ctx));
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("timed out"));
  EXPECT_EQ(r.virtual_elapsed, 30s);
}

TEST(FaultPoint, TimeoutWithoutADeadlineIsAHangNamingThePoint) {
  auto r = run_with("b=timeout", three_points);
  EXPECT_EQ(r.end, run_end::hung);
  ASSERT_FALSE(r.violations.empty());
  EXPECT_THAT(r.violations[0].message, HasSubstr("fault point b#1 (timeout"));
}

TEST(FaultPoint, DelayMovesVirtualTime) {
  auto r = run_with("a#1=delay(250ms)", three_points);
  EXPECT_EQ(r.end, run_end::ok);
  EXPECT_EQ(r.virtual_elapsed, 1250ms);
}

TEST(FaultPoint, CountLimitsFirings) {
  int failures = 0;
  auto r = run_with("p=throwx2", [&](run_context&) -> awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      try {
        co_await faultscope::fault_point("p");
      } catch (const faultscope::injected_fault&) {
        ++failures;
      }
    }
  });
  EXPECT_EQ(failures, 2);
}

TEST(FaultPoint, ProbabilityIsSeededAndRepeatable) {
  auto count = [](const char* plan) {
    int failures = 0;
    auto r = run_with(plan, [&](run_context&) -> awaitable<void> {
      for (int i = 0; i < 200; ++i) {
        try {
          faultscope::fault_check("p");
        } catch (const faultscope::injected_fault&) {
          ++failures;
        }
      }
      co_return;
    });
    return r.injected;
  };
  auto a = count("p=throw@p0.3;seed=5");
  EXPECT_EQ(a, count("p=throw@p0.3;seed=5"));
  EXPECT_NE(a, count("p=throw@p0.3;seed=6"));
  EXPECT_GT(a.size(), 30u);
  EXPECT_LT(a.size(), 90u);
}

TEST(FaultPoint, SyncCheckReportsThroughErrorCode) {
  boost::system::error_code ec;
  auto r = run_with("w#2=error(io_error)", [&](run_context&) -> awaitable<void> {
    faultscope::fault_check("w", ec);
    EXPECT_FALSE(ec);
    faultscope::fault_check("w", ec);
    co_return;
  });
  EXPECT_EQ(ec, boost::system::errc::io_error);
}

// A synchronous call cannot wait for a deadline: a timeout there is the error
// such a call's own timeout gives, and a delay passes at once.
TEST(FaultPoint, SyncCheckReportsATimeoutAsTimedOutAndPassesADelay) {
  boost::system::error_code timed_out, delayed;
  auto r = run_with("t=timeout;d=delay(5ms)", [&](run_context&) -> awaitable<void> {
    faultscope::fault_check("t", timed_out);
    faultscope::fault_check("d", delayed);
    co_return;
  });
  EXPECT_EQ(timed_out, boost::asio::error::timed_out);
  EXPECT_FALSE(delayed) << delayed.message();
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(FaultPoint, MacroFormFires) {
  auto r = run_with("m=throw", [](run_context&) -> awaitable<void> {
    FAULTSCOPE_FAULT_POINT("m");
    co_return;
  });
  EXPECT_EQ(r.error_message, "injected fault at m#1");
}

awaitable<void> three_macro_points(run_context&) {
  FAULTSCOPE_FAULT_POINT("a");
  co_await ft::sleep_for(1s);
  FAULTSCOPE_FAULT_POINT("b");
  FAULTSCOPE_FAULT_POINT("a");
}

// The macro decides without a coroutine and calls one only to suspend: every
// kind must still do what it does at `co_await fault_point`.
TEST(FaultPoint, MacroFormDoesWhatTheCoroutineFormDoes) {
  auto thrown = run_with("a#2=throw", three_macro_points);
  EXPECT_EQ(thrown.error_message, "injected fault at a#2");
  EXPECT_EQ(thrown.virtual_elapsed, 1s);

  auto cancelled = run_with("b=cancel", three_macro_points);
  EXPECT_EQ(cancelled.end, run_end::cancelled);
  EXPECT_EQ(cancelled.virtual_elapsed, 1s);

  auto delayed = run_with("a#1=delay(250ms)", three_macro_points);
  EXPECT_EQ(delayed.end, run_end::ok);
  EXPECT_EQ(delayed.virtual_elapsed, 1250ms);

  auto hung = run_with("b=timeout", three_macro_points);
  EXPECT_EQ(hung.end, run_end::hung);
  ASSERT_FALSE(hung.violations.empty());
  EXPECT_THAT(hung.violations[0].message, HasSubstr("fault point b#1 (timeout"));

  auto clean = faultscope::run(three_macro_points);
  EXPECT_EQ(clean.end, run_end::ok);
  EXPECT_EQ(clean.trace.size(), 3u);
}

TEST(FaultPoint, InjectedFaultIsOnTheTimeline) {
  auto r = run_with("b=throw", three_points);
  bool seen = false;
  for (auto& e : r.timeline)
    if (e.type == faultscope::event_type::fault && e.detail == "injected b#1=throw") seen = true;
  EXPECT_TRUE(seen);
}

}  // namespace
