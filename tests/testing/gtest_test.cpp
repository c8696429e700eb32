// The GoogleTest integration: assertions, matchers, the leak listener and
// FAULTSCOPE_TEST — each detector with a canary proving it reports.
#include "faultscope/testing/gtest.hpp"

#include <gtest/gtest-spi.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/exit_stack.hpp"
#include "faultscope/fakes/pool.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/hold_clock.hpp"
#include "faultscope/with_resource.hpp"

using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::violation_kind;
using faultscope::testing::HasNoViolations;
using faultscope::testing::HasViolation;
using ::testing::Not;

namespace {

awaitable<void> leaky(run_context& ctx) {
  (void)ctx.tracker().acquire("connection", "planted");
  co_return;
}

awaitable<void> balanced(run_context& ctx) {
  ctx.tracker().release(ctx.tracker().acquire("connection"));
  co_return;
}

TEST(Assertions, CanaryExpectNoLeaksReportsAPlantedLeak) {
  auto r = faultscope::run(leaky);
  EXPECT_NONFATAL_FAILURE(EXPECT_NO_LEAKS(r), "leak: connection #1 \"planted\"");
  EXPECT_NO_LEAKS(faultscope::run(balanced));
}

TEST(Assertions, CanaryExpectNoLeaksOnAnExploration) {
  auto ex = faultscope::explore("leaky", leaky);
  EXPECT_NONFATAL_FAILURE(
      EXPECT_NO_LEAKS(ex),
      "replay: faultscope::replay(scenario, faultscope::fault_plan::parse(\"none\"))");
}

TEST(Assertions, Matchers) {
  EXPECT_THAT(faultscope::run(balanced), HasNoViolations());
  EXPECT_THAT(faultscope::run(leaky), Not(HasNoViolations()));
  EXPECT_THAT(faultscope::run(leaky), HasViolation(violation_kind::leak));
  EXPECT_THAT(faultscope::run(leaky), Not(HasViolation(violation_kind::hang)));
}

// A failed matcher shows its subject: in a line, then the violations.
TEST(Assertions, AFailedMatcherNamesTheRunNotItsBytes) {
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(faultscope::run(leaky), HasNoViolations()),
                          "Actual: a run with 1 violation(s)");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(faultscope::explore("leaky", leaky), HasNoViolations()),
                          "Actual: an exploration of the clean run and 0 schedule(s), 1 failing");
}

// A test parameterized over the registry names each scenario, not its bytes.
TEST(Assertions, AScenarioPrintsAsItsName) {
  faultscope::scenario_info s;
  s.name = "pool.exhaustion";
  EXPECT_EQ(::testing::PrintToString(s), "pool.exhaustion");
}

TEST(Assertions, AnOutcomeAndAViolationKindPrintAsTheirNames) {
  EXPECT_EQ(::testing::PrintToString(faultscope::run_end::cancelled), "cancelled");
  EXPECT_EQ(::testing::PrintToString(violation_kind::unhandled_exception), "unhandled exception");
  EXPECT_NONFATAL_FAILURE(EXPECT_EQ(faultscope::run(leaky).end, faultscope::run_end::cancelled),
                          "Which is: ok");
}

TEST(Listener, CanaryFailsATestThatLeavesTheTestTrackerUnbalanced) {
  const auto& info = *::testing::UnitTest::GetInstance()->current_test_info();
  faultscope::resource_id planted = 0;
  EXPECT_NONFATAL_FAILURE(
      {
        faultscope::testing::leak_listener listener;
        listener.OnTestStart(info);
        planted = faultscope::testing::test_tracker().acquire("socket", "planted");
        listener.OnTestEnd(info);
      },
      "socket #");
  faultscope::testing::test_tracker().release(planted);
}

TEST(Listener, PassesABalancedTest) {
  const auto& info = *::testing::UnitTest::GetInstance()->current_test_info();
  faultscope::testing::leak_listener listener;
  listener.OnTestStart(info);
  auto id = faultscope::testing::test_tracker().acquire("socket");
  faultscope::testing::test_tracker().release(id);
  listener.OnTestEnd(info);  // no failure expected
}

// The line its leak is acquired at.
int planted_line = 0;
awaitable<void> leaky_here(run_context& ctx) {
  planted_line = __LINE__ + 1;
  (void)ctx.tracker().acquire("connection", "here");
  co_return;
}

TEST(FaultscopeTest, AScheduleFailsAtTheLineItsViolationPointsAt) {
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter capture(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    faultscope::testing::check_schedule("Demo.LeakyHere", leaky_here, faultscope::fault_plan{});
  }
  ASSERT_EQ(failures.size(), 1);
  // Where an IDE or a CI log links: the user's line, not faultscope's.
  EXPECT_STREQ(failures.GetTestPartResult(0).file_name(), "tests/testing/gtest_test.cpp");
  EXPECT_EQ(failures.GetTestPartResult(0).line_number(), planted_line);
  EXPECT_THAT(failures.GetTestPartResult(0).message(), ::testing::HasSubstr("leak: connection"));
}

TEST(FaultscopeTest, CanaryAScheduleWithAViolationFailsWithItsReplayCommand) {
  EXPECT_NONFATAL_FAILURE(
      faultscope::testing::check_schedule("Demo.Leaky", leaky, faultscope::fault_plan{}),
      "replay token: 'Demo.Leaky@none'");
}

// A FAULTSCOPE_TEST of a gtest_main binary names the command that replays it.
TEST(FaultscopeTest, CanaryAFailureOfARegisteredTestPrintsTheCommandThatReplaysIt) {
  EXPECT_NONFATAL_FAILURE(faultscope::testing::check_schedule("PoolLease.ReturnsEveryLease", leaky,
                                                              faultscope::fault_plan{}),
                          "gtest_test --faultscope_replay='PoolLease.ReturnsEveryLease@none'");
}

TEST(FaultscopeTest, ReplayMainRerunsOneScheduleOfThisBinary) {
  std::ostringstream out, err;
  EXPECT_EQ(faultscope::testing::replay_main("PoolLease.ReturnsEveryLease@pool.acquire#1=throw",
                                             out, err),
            0);
  EXPECT_THAT(out.str(), ::testing::HasSubstr("injected pool.acquire#1=throw"));
  EXPECT_THAT(out.str(), ::testing::HasSubstr("violations: none"));
  EXPECT_EQ(err.str(), "");
  std::ostringstream out2, err2;
  EXPECT_EQ(faultscope::testing::replay_main("Demo.Leaky@none", out2, err2), 2);
  EXPECT_EQ(err2.str(), "faultscope: no FAULTSCOPE_TEST named 'Demo.Leaky' in this binary\n");
  std::ostringstream out3, err3;
  EXPECT_EQ(faultscope::testing::replay_main("no-at-sign", out3, err3), 2);
  EXPECT_THAT(err3.str(), ::testing::HasSubstr("SCENARIO@PLAN"));
}

TEST(FaultscopeTest, AcceptedViolationKindsAreNotFailures) {
  // No failure expected: FAULTSCOPE_TEST_WITH honours the scenario's `accept`.
  faultscope::testing::check_schedule("Demo.Leaky", leaky, faultscope::fault_plan{},
                                      {.accept = {violation_kind::leak}});
}

// Its clean test passes: the body checks only what its run leaves behind, and
// says so (the canary binary's Canary.PassesNoFaultPoint is the one that fails).
FAULTSCOPE_TEST_WITH(Checked, PassesNoFaultPointOnPurpose,
                     {.accept = {violation_kind::nothing_explored}}) {
  auto id = ctx.tracker().acquire("connection", "db");
  ctx.tracker().release(id);
  co_return;
}

// Leaks only when a second fault hits its cleanup after a first one.
awaitable<void> leaks_under_two_faults(run_context& ctx) {
  auto id = ctx.tracker().acquire("connection", "db");
  try {
    co_await faultscope::fault_point("conn.query");
  } catch (...) {
    faultscope::fault_check("conn.rollback");
    ctx.tracker().release(id);
    throw;
  }
  ctx.tracker().release(id);
}

TEST(FaultscopeTest, CanaryAtDepthTwoAScheduleAlsoRunsEverySecondFaultAfterItsOwn) {
  const auto first = faultscope::fault_plan::parse("conn.query#1=throw");
  // Depth 1: the schedule alone passes.
  faultscope::testing::check_schedule("Demo.TwoFaults", leaks_under_two_faults, first);
  EXPECT_NONFATAL_FAILURE(
      faultscope::testing::check_schedule("Demo.TwoFaults", leaks_under_two_faults, first,
                                          {.depth = 2}),
      "replay token: 'Demo.TwoFaults@conn.query#1=throw;conn.rollback#1=throw'");
}

// Fills a cache on its first run only, as code with a global would.
std::atomic<int> steered_runs{0};
awaitable<void> steered(run_context&) {
  if (steered_runs++ == 0) co_await faultscope::fault_point("cache.fill");
  co_await faultscope::fault_point("db.query");
}

TEST(FaultscopeTest, CanaryAScheduleThatLeavesTheCleanRunsPathFailsItsTest) {
  auto clean = faultscope::run(steered);  // cache.fill, db.query
  EXPECT_NONFATAL_FAILURE(
      faultscope::testing::check_schedule("Demo.Steered", steered,
                                          faultscope::fault_plan::parse("db.query#1=throw"), {},
                                          clean.trace),
      "nondeterministic: fault point 1 of this run was db.query#1, of the clean run it extends "
      "cache.fill#1, before the plan's fault at db.query#1 fired");
}

awaitable<void> never_works(run_context&) {
  co_await faultscope::fault_point("db.open");
  throw std::runtime_error("database is locked");
}

TEST(FaultscopeTest, CanaryACleanRunThatFailsFailsItsTest) {
  EXPECT_NONFATAL_FAILURE(
      faultscope::testing::check_schedule("Demo.NeverWorks", never_works, faultscope::fault_plan{}),
      "outcome: the run without faults ended exception (database is locked)");
}

awaitable<void> returns_every_lease(run_context& ctx) {
  faultscope::fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  co_await p.release(c);
  co_await p.close();
}

// A swarm registers its seeded plans, one test each.
[[maybe_unused]] const int swarm_registered = faultscope::testing::register_exploration(
    "PoolSwarm", "ReturnsEveryLease", __FILE__, __LINE__, returns_every_lease,
    {.swarm = 5, .seed = 7, .skip = {"pool.release", "conn.close"}});

// The tests this binary lists under `filter`, "Suite.Name". A process started
// for other tests (CTest starts one per test) registers no schedule of a body
// it will not run, so the listing comes from a process of its own.
std::vector<std::string> listed(const std::string& filter) {
  // Under popen's shell /proc/self/exe is the shell: name this binary.
  std::string command = std::filesystem::read_symlink("/proc/self/exe").string() +
                        " --gtest_list_tests '--gtest_filter=" + filter + "'";
  std::vector<std::string> names;
  FILE* listing = ::popen(command.c_str(), "r");
  if (listing == nullptr) return names;
  std::string suite;
  char line[512];
  while (std::fgets(line, sizeof line, listing) != nullptr) {
    std::string text(line);
    text = text.substr(0, text.find_first_of(" \n", 2));
    if (line[0] != ' ')
      suite = text;  // "PoolLease."
    else
      names.push_back(suite + text.substr(2));
  }
  ::pclose(listing);
  return names;
}

TEST(FaultscopeTest, RegistersOneTestPerSchedule) {
  auto names = listed("PoolLease.*");
  EXPECT_THAT(names, ::testing::Contains("PoolLease.ReturnsEveryLease/clean"));
  EXPECT_THAT(names, ::testing::Contains("PoolLease.ReturnsEveryLease/pool.acquire#1=throw"));
  EXPECT_THAT(names, ::testing::Contains("PoolLease.ReturnsEveryLease/conn.query#1=cancel"));
  // clean, then pool.acquire, conn.open, conn.query × throw, cancel
  EXPECT_EQ(names.size(), 7u);
}

// What GoogleTest hands its listeners for `EXPECT_EQ(a, 2)` failing at 12.
::testing::TestPartResult failed_expectation() {
  return {::testing::TestPartResult::kNonFatalFailure, "app/orders.cpp", 12,
          "Expected equality of these values:\n  a\n    Which is: 1\n  2"};
}

TEST(AssertionListener, CanaryAFailureInsideARunIsAViolationOfThatRun) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    faultscope::testing::assertion_listener{}.OnTestPartResult(failed_expectation());
    co_return;
  });
  ASSERT_THAT(r, HasViolation(violation_kind::invariant));
  EXPECT_EQ(r.violations[0].message,
            "invariant: GoogleTest assertion failed at app/orders.cpp:12: Expected equality of "
            "these values: a Which is: 1 2");
  // The assertion's line, for the JSON report and the GitHub annotations.
  EXPECT_EQ(r.violations[0].file, "app/orders.cpp");
  EXPECT_EQ(r.violations[0].line, 12u);
}

TEST(AssertionListener, AFailureWithoutAFilePointsAtNoLine) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    // GoogleTest's FAIL() in a function without a file, as ADD_FAILURE_AT(nullptr, -1) gives.
    faultscope::testing::assertion_listener{}.OnTestPartResult(
        {::testing::TestPartResult::kNonFatalFailure, nullptr, -1, "went wrong"});
    co_return;
  });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].message,
            "invariant: GoogleTest assertion failed at an unknown place: went wrong");
  EXPECT_EQ(r.violations[0].file, "");
  EXPECT_EQ(r.violations[0].line, 0u);
}

TEST(AssertionListener, AnExplorationFailsUnderTheScheduleThatBrokeTheAssertion) {
  auto e = faultscope::explore("orders.save", [](run_context&) -> awaitable<void> {
    try {
      co_await faultscope::fault_point("order.save");
    } catch (const faultscope::injected_fault&) {
      faultscope::testing::assertion_listener{}.OnTestPartResult(failed_expectation());
    }
  });
  ASSERT_EQ(e.failures.size(), 1u) << e.summary();
  EXPECT_EQ(e.failures[0].plan.to_string(), "order.save#1=throw");
}

TEST(AssertionListener, AFailureInWorkOnAHeldPoolIsAViolationOfTheRun) {
  boost::asio::thread_pool pool(1);
  auto r = faultscope::run([&pool](run_context&) -> awaitable<void> {
    co_await boost::asio::co_spawn(
        faultscope::hold_clock(pool),
        []() -> awaitable<void> {
          faultscope::testing::assertion_listener{}.OnTestPartResult(failed_expectation());
          co_return;
        },
        boost::asio::use_awaitable);
  });
  ASSERT_THAT(r, HasViolation(violation_kind::invariant));
  EXPECT_EQ(r.violations.size(), 1u) << r.describe();
}

// GoogleTest has counted a failure the listener saw: its schedule adds one
// failure for the leak, and none again for that assertion.
awaitable<void> fails_an_expectation_and_leaks(run_context& ctx) {
  faultscope::testing::assertion_listener{}.OnTestPartResult(failed_expectation());
  (void)ctx.tracker().acquire("connection", "db");  // planted: never released
  co_return;
}

TEST(AssertionListener, CanaryAScheduleFailsOnceForEachViolationButTheAssertion) {
  EXPECT_NONFATAL_FAILURE(
      faultscope::testing::check_schedule("Demo.Expects", fails_an_expectation_and_leaks,
                                          faultscope::fault_plan{}),
      "leak: connection #1 \"db\"");
}

TEST(AssertionListener, IgnoresSuccessesAndFailuresOutsideARun) {
  faultscope::testing::assertion_listener{}.OnTestPartResult(failed_expectation());  // no run
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    faultscope::testing::assertion_listener{}.OnTestPartResult(
        {::testing::TestPartResult::kSuccess, "app/orders.cpp", 12, ""});
    // A failure GoogleTest was told to expect never reaches the listeners.
    EXPECT_NONFATAL_FAILURE(ADD_FAILURE() << "planted", "planted");
    co_return;
  });
  EXPECT_THAT(r, HasNoViolations());
}

TEST(FaultscopeTest, ASwarmRegistersEachOfItsPlans) {
  EXPECT_EQ(listed("PoolSwarm.*").size(), 6u) << "clean and the 5 plans";
}

}  // namespace

// A correct subject: every schedule below is a test that must pass. Returning a
// lease cannot fail in real pools, so pool.release is not faulted; conn.close
// (inside pool.close) is, and the exit stack reports nothing but what it must.
FAULTSCOPE_TEST_WITH(PoolLease, ReturnsEveryLease, {.skip = {"pool.release", "conn.close"}}) {
  faultscope::fakes::pool p(ctx.tracker(), {.max_size = 1});
  co_await faultscope::with_exit_stack([&p](
                                           faultscope::async_exit_stack& stack) -> awaitable<void> {
    stack.push([&p] { return p.close(); });
    co_await faultscope::with_resource(
        [&p] { return p.acquire(); },
        [](faultscope::fakes::connection& c) -> awaitable<void> { co_await c.query("select 1"); },
        [&p](faultscope::fakes::connection& c) { return p.release(c); });
  });
}
