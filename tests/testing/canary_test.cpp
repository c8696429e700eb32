// A binary that must fail: a FAULTSCOPE_TEST with a planted leak on the
// cancellation path, two whose expectation a fault breaks, one whose path a
// global steers, one whose options cannot be honoured, one that passes no
// fault point, and an exploration whose scenario's expectation a fault breaks.
// CTest checks that it exits non-zero and names the leak and its replay
// command, the schedule that left its path, the options' fault, the body that
// explores nothing, and the schedule that broke the expectation
// (tests/testing/expect_failure.cmake).
#include "faultscope/testing/gtest.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>

#include "faultscope/fakes/pool.hpp"
#include "faultscope/fault_point.hpp"

FAULTSCOPE_TEST(Canary, LeaksWhenCancelled) {
  faultscope::fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  std::exception_ptr error;
  try {
    co_await c.query("select 1");
  } catch (...) {
    error = std::current_exception();
  }
  co_await p.release(c);  // dead after a cancellation: the sticky flag throws first
  co_await p.close();
  if (error) std::rethrow_exception(error);
}

// Fills a cache on its first run only, as code with a global would: every
// schedule after the clean run takes another path than the one it was made for.
FAULTSCOPE_TEST(Canary, SteeredByAGlobal) {
  static bool filled = false;
  if (!filled) {
    filled = true;
    co_await faultscope::fault_point("cache.fill");
  }
  co_await faultscope::fault_point("db.query");
}

namespace {

// Whether the order survived: a thrown fault at order.save loses it.
boost::asio::awaitable<bool> save_order() {
  try {
    co_await faultscope::fault_point("order.save");
  } catch (const faultscope::injected_fault&) {
    co_return false;
  }
  co_return true;
}

}  // namespace

// An expectation only a fault breaks: its schedule fails once, with the
// command that replays it, not again as the run's violation.
FAULTSCOPE_TEST(Canary, LosesAnOrderItThrowsOn) {
  const bool saved = co_await save_order();
  EXPECT_TRUE(saved) << "the order was lost";
}

// The same with CO_ASSERT_TRUE: the body stops at the failed assertion.
FAULTSCOPE_TEST(Canary, StopsAtAnAssertionAFaultBreaks) {
  const bool saved = co_await save_order();
  CO_ASSERT_TRUE(saved) << "the order was lost before it was counted";
  if (!saved) std::cout << "went on past the failed assertion\n";
}

// A helper's CO_ASSERT ends the helper; CO_ASSERT_NO_FATAL_FAILURE ends its caller.
boost::asio::awaitable<void> check_saved(bool saved) {
  CO_ASSERT_TRUE(saved) << "the order was lost before the helper counted it";
}

FAULTSCOPE_TEST(Canary, StopsAfterAHelperThatFailed) {
  const bool saved = co_await save_order();
  CO_ASSERT_NO_FATAL_FAILURE(co_await check_saved(saved));
  if (!saved) std::cout << "went on past the helper's failed assertion\n";
}

// At depth 2 an expectation only two faults break: the shrinking that follows
// does not run the failing plan again, so the failure shows once.
FAULTSCOPE_TEST_WITH(Canary, LosesAnOrderWhenBothCopiesFail,
                     {.depth = 2, .kinds = {faultscope::fault::make_throw()}}) {
  int lost = 0;
  for (const char* copy : {"copy.primary", "copy.replica"}) {
    try {
      co_await faultscope::fault_point(copy);
    } catch (const faultscope::injected_fault&) {
      ++lost;
    }
  }
  EXPECT_LT(lost, 2) << "both copies of the order were lost";
}

// The older spelling, a parenthesized explore_options, still compiles.
FAULTSCOPE_TEST_WITH(Canary, AsksForDepthThree, (faultscope::explore_options{.depth = 3})) {
  co_return;
}

// Code whose calls are no fault points (Asio's own timers, a library that
// knows nothing of faultscope): exploring it injects nothing, so its clean
// test fails rather than pass having proved nothing.
FAULTSCOPE_TEST(Canary, PassesNoFaultPoint) {
  auto ex = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(ex, boost::asio::use_awaitable);
}

// An expectation inside an explored scenario that only a fault breaks: the
// failure names the schedule, and the exploration lists it with its replay.
TEST(Canary, AnExpectationInsideAnExploration) {
  auto e = faultscope::explore("orders.save",
                               [](faultscope::run_context&) -> boost::asio::awaitable<void> {
                                 const bool saved = co_await save_order();
                                 EXPECT_TRUE(saved) << "the order was lost";
                               });
  std::cout << e.summary();
}
