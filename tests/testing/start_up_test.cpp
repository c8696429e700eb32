// What a FAULTSCOPE_TEST does when its binary starts: which processes need the
// body's clean run (a GoogleTest filter that leaves out all its tests does
// not), and a clean run that blocks its thread, which must not end the binary.
#include "start_up.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "faultscope/fault_point.hpp"

namespace start_up = faultscope::testing::start_up;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

TEST(StartUp, AFilterNamingAnotherBodyLeavesThisOneOut) {
  EXPECT_FALSE(start_up::filter_could_match("Orders.Load/clean", "Orders.Save/"));
  EXPECT_FALSE(start_up::filter_could_match("Pool.*", "Orders.Save/"));
  EXPECT_FALSE(start_up::filter_could_match("Orders.Save", "Orders.Save/"));  // a plain TEST
  EXPECT_FALSE(start_up::filter_could_match("Orders.Sav", "Orders.Save/"));
  EXPECT_FALSE(start_up::filter_could_match("Orders.Load/*:Pool.*-Orders.Save/*", "Orders.Save/"));
}

TEST(StartUp, AFilterThatMaySelectOneOfItsTestsKeepsIt) {
  EXPECT_TRUE(start_up::filter_could_match("Orders.Save/db.commit#1=throw", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("Orders.Save/clean", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("Orders.*", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("*", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("*Save/db*", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("Orders.Sav?/*", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("Pool.*:Orders.Save/*", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("*Ends", "Orders.Save/"));  // Orders.Save/…Ends
}

TEST(StartUp, WhatGoogleTestReadsAsEveryTestKeepsIt) {
  EXPECT_TRUE(start_up::filter_could_match("", "Orders.Save/"));
  EXPECT_TRUE(start_up::filter_could_match("-Pool.*", "Orders.Save/"));
  // Negative patterns are not weighed: keeping a body costs time, leaving one
  // out that a test needs would lose the test.
  EXPECT_TRUE(start_up::filter_could_match("*-Orders.Save/*", "Orders.Save/"));
}

awaitable<void> passes(run_context& ctx) {
  co_await faultscope::fault_point("order.save");
  (void)ctx;
}

TEST(StartUp, ACleanRunThatEndsGivesItsResult) {
  ::testing::internal::CaptureStderr();
  // Far more time than the run needs, however loaded the machine: no notice.
  auto first = start_up::run_clean("Orders.Save", passes, {}, 30s);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_FALSE(first.blocked);
  EXPECT_EQ(first.result.end, faultscope::run_end::ok);
  ASSERT_EQ(first.result.trace.size(), 1u);
  EXPECT_EQ(first.result.trace[0].point, "order.save");
}

// A clean run that waits for what only its own thread could do; the test lets
// it go afterwards, so that the thread left behind ends before the test does.
TEST(StartUp, CanaryACleanRunThatBlocksItsThreadIsReportedAndTheCallerGoesOn) {
  auto let_go = std::make_shared<std::promise<void>>();
  faultscope::scenario_fn blocks = [let_go](run_context&) -> awaitable<void> {
    let_go->get_future().wait();
    co_return;
  };
  ::testing::internal::CaptureStderr();
  auto first = start_up::run_clean("Orders.AtStart", blocks, {.wall_limit = 100ms}, 10ms);
  auto notice = ::testing::internal::GetCapturedStderr();
  // 100 ms of wall limit, 200 ms for foreign operations, and the 1 s margin.
  EXPECT_THAT(notice, StartsWith("faultscope: Orders.AtStart has not ended its clean run after "
                                 "0.01 s"));
  EXPECT_THAT(notice, HasSubstr("it is given up on 1.3 s after it started\n"));
  ASSERT_TRUE(first.blocked);
  EXPECT_THAT(*first.blocked, StartsWith("'Orders.AtStart@none' has held its thread for "));
  EXPECT_THAT(*first.blocked, HasSubstr("without getting back to its event loop"));
  let_go->set_value();
  std::this_thread::sleep_for(200ms);  // the thread finishes its run and goes
}

// Blocked or slow, it cannot tell yet; what it says is for a listing that
// ends before the watchdog could, as CMake's test discovery does after 5 s.
TEST(StartUp, ASlowCleanRunSaysWhenABlockedOneWouldBeGivenUpOn) {
  auto let_go = std::make_shared<std::promise<void>>();
  faultscope::scenario_fn slow = [let_go](run_context&) -> awaitable<void> {
    let_go->get_future().wait();
    co_return;
  };
  std::thread later([let_go] {
    std::this_thread::sleep_for(300ms);
    let_go->set_value();
  });
  ::testing::internal::CaptureStderr();
  auto first = start_up::run_clean("Orders.Slow", slow, {}, 10ms);
  auto notice = ::testing::internal::GetCapturedStderr();
  later.join();
  EXPECT_FALSE(first.blocked);
  EXPECT_EQ(first.result.end, faultscope::run_end::ok);
  // The defaults: 60 s of wall limit, 200 ms for foreign operations, 10 s of margin.
  EXPECT_THAT(notice, HasSubstr("it is given up on 70.2 s after it started, after CMake's "
                                "gtest_discover_tests has given up on the listing (5 s unless "
                                "DISCOVERY_TIMEOUT says otherwise): give the body a shorter "
                                ".run.wall_limit\n"));
  EXPECT_EQ(std::count(notice.begin(), notice.end(), '\n'), 1);
}

}  // namespace
