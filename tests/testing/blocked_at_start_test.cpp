// A test binary (faultscope::gtest_main) one of whose FAULTSCOPE_TESTs blocks
// its thread in its clean run, which runs when the binary starts. The binary
// must still list and run its other tests; that body's one test, /clean,
// fails with the watchdog's line. A process filtered to other tests, or
// started to replay a schedule, does not run that body at start-up at all.
#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/testing/gtest.hpp"
#include "support/blocks_its_thread.hpp"

FAULTSCOPE_TEST(Orders, Save) {
  co_await faultscope::fault_point("order.save");
}

// Flushes its log "synchronously" on every path: the clean run blocks too.
FAULTSCOPE_TEST_WITH(Orders, FlushAlways, {.run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  boost::asio::co_spawn(ctx.executor(), faultscope::test::flush_log(), boost::asio::use_future)
      .get();
  co_return;
}

TEST(Planted, Fails) {
  ADD_FAILURE() << "planted, so that a run of the tests around it fails";
}
