// A test binary (faultscope::gtest_main) whose FAULTSCOPE_TEST blocks its
// thread under one fault: the watchdog ends the binary inside that test. Run
// with --gtest_output=xml:FILE or json:FILE, it must still leave the report:
// the test before it with its failure, the blocked schedule failed with the
// watchdog's line, the test after it skipped. Filtered to BlocksInSetUp, it blocks
// outside any test, in a suite's set-up: the line gets a test case of its own.
#include <gtest/gtest.h>

#include <chrono>

#include "faultscope/run.hpp"
#include "faultscope/testing/gtest.hpp"
#include "support/blocks_its_thread.hpp"

TEST(Before, FailsWithCharactersXmlEscapes) {
  ADD_FAILURE() << "a <planted> \"failure\" & ]]> an end of CDATA";
}

FAULTSCOPE_TEST_WITH(Orders, BlockOnTheirErrorPath,
                     {.kinds = {faultscope::fault::make_throw()},
                      .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  co_await faultscope::test::save_blocking_on_error(ctx);
}

TEST(After, NeverRuns) {}

class BlocksInSetUp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    faultscope::run_options options;
    options.plan = faultscope::fault_plan::parse("order.save#1=throw");
    options.wall_limit = std::chrono::milliseconds(100);
    (void)faultscope::run(faultscope::test::save_blocking_on_error, options);
  }
};

TEST_F(BlocksInSetUp, NeverRuns) {}
