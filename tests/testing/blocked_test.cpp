// A test binary (faultscope::gtest_main) whose FAULTSCOPE_TEST, on its error
// path, waits on a future that only its own thread could fulfil: the watchdog
// ends the binary inside that test. Run with --gtest_output=xml:FILE, it must
// still leave the report: the test before it with its failure, the blocked
// schedule failed with the watchdog's line, the tests after it skipped.
#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/virtual_time.hpp"

namespace {

boost::asio::awaitable<void> flush_log() {
  faultscope::timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(5));
  co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace

TEST(Before, FailsWithCharactersXmlEscapes) {
  ADD_FAILURE() << "a <planted> \"failure\" & ]]> an end of CDATA";
}

FAULTSCOPE_TEST_WITH(Orders, BlockOnTheirErrorPath,
                     {.kinds = {faultscope::fault::make_throw()},
                      .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  try {
    co_await faultscope::fault_point("order.save");
  } catch (const faultscope::injected_fault&) {
    boost::asio::co_spawn(ctx.executor(), flush_log(), boost::asio::use_future).get();
  }
}

TEST(After, NeverRuns) {}
