// A binary that must fail: a FAULTSCOPE_TEST with a planted leak on the
// cancellation path, and one whose options cannot be honoured. CTest checks
// that it exits non-zero and names the leak and its replay command, and the
// options' fault (tests/testing/expect_failure.cmake).
#include "faultscope/testing/gtest.hpp"

#include "faultscope/fakes/pool.hpp"

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

FAULTSCOPE_TEST_WITH(Canary, AsksForDepthThree, (faultscope::explore_options{.depth = 3})) {
  co_return;
}
