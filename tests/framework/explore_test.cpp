// Exploration: exact schedule counts, failures found where and only where they
// are, depth 2, swarm, shrinking, outcome declarations, threads and shards.
#include "faultscope/explore.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_resource.hpp"
#include "support/pipe_end.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::expected_outcome;
using faultscope::explore_options;
using faultscope::fault;
using faultscope::fault_plan;
using faultscope::run_context;
using faultscope::violation_kind;
using faultscope::testing::HasViolation;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

awaitable<void> step(const char* name) {
  co_await faultscope::fault_point(name);
  co_await ft::sleep_for(1ms);
}

// A correct subject: with_resource around a body with three suspensions, and an
// acquire with one. K = 4 fault-point hits.
awaitable<void> correct_subject(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await faultscope::with_resource(
      [&t]() -> awaitable<faultscope::resource_id> {
        co_await step("conn.open");
        co_return t.acquire("connection", "db");
      },
      [](faultscope::resource_id&) -> awaitable<void> {
        for (int i = 0; i < 3; ++i) co_await step("conn.query");
      },
      [&t](faultscope::resource_id& id) -> awaitable<void> {
        co_await ft::sleep_for(1ms);
        t.release(id);
      });
}

// A scenario the runner knows: its failures replay with `faultscope replay`.
FAULTSCOPE_SCENARIO(explore_test_registered) {
  (void)ctx.tracker().acquire("connection", "planted");
  co_await faultscope::fault_point("step");
}

TEST(Explore, AFailureReplaysWithTheRunnerOnlyInARunnerThatKnowsTheScenario) {
  auto& reg = faultscope::registry::instance();
  const auto* s = reg.find("explore_test_registered");
  ASSERT_NE(s, nullptr);
  const std::string in_code =
      "replay: faultscope::replay(scenario, faultscope::fault_plan::parse(\"none\"))";
  // This program is no runner: it cannot replay by name.
  EXPECT_THAT(faultscope::explore(s->name, s->fn).summary(), HasSubstr(in_code));

  reg.set_runner("build/orders_runner");  // as faultscope::main does with its argv[0]
  EXPECT_THAT(faultscope::explore(s->name, s->fn).summary(),
              HasSubstr("replay: build/orders_runner replay 'explore_test_registered@none'"));
  EXPECT_THAT(faultscope::explore("unregistered", s->fn).summary(), HasSubstr(in_code));
  reg.set_runner("");
}

TEST(Explore, DepthOneMakesExactlyKTimesKindsRunsAndACorrectSubjectPasses) {
  auto ex = faultscope::explore("correct", correct_subject);
  EXPECT_EQ(ex.hits, 4u);
  EXPECT_EQ(ex.points, 2u);
  EXPECT_EQ(ex.schedules_run, 4u * 2u);
  EXPECT_EQ(ex.total_schedules, 8u);
  EXPECT_TRUE(ex.passed()) << ex.summary();
  EXPECT_EQ(ex.ran.front(), "conn.open#1=throw");
  EXPECT_EQ(ex.ran.back(), "conn.query#3=cancel");
}

awaitable<void> async_release(faultscope::tracker& t, faultscope::resource_id id) {
  co_await ft::sleep_for(1ms);
  t.release(id);
}

// Correct at every suspension but the third, where it catches and then awaits
// the release: after a cancellation that await throws, and the connection leaks.
awaitable<void> leaks_when_cancelled_at_third(run_context& ctx) {
  auto& t = ctx.tracker();
  auto id = t.acquire("connection", "db");
  try {
    co_await step("s");
    co_await step("s");
  } catch (...) {
    t.release(id);
    throw;
  }
  std::exception_ptr error;
  try {
    co_await step("s");
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    co_await async_release(t, id);
    std::rethrow_exception(error);
  }
  try {
    co_await step("s");
  } catch (...) {
    t.release(id);
    throw;
  }
  co_await async_release(t, id);
}

TEST(Explore, CanaryLeakOnlyWhenCancelledAtTheThirdSuspensionFailsExactlyThatSchedule) {
  auto ex = faultscope::explore("third", leaks_when_cancelled_at_third);
  EXPECT_EQ(ex.schedules_run, 8u);
  ASSERT_EQ(ex.failures.size(), 1u) << ex.summary();
  auto& f = ex.failures[0];
  EXPECT_EQ(f.plan.to_string(), "s#3=cancel");
  ASSERT_EQ(f.run.violations.size(), 1u);
  EXPECT_EQ(f.run.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(ex.summary(), HasSubstr("replay: faultscope::replay(scenario, "
                                      "faultscope::fault_plan::parse(\"s#3=cancel\"))"));

  // The token replays it: the same violation at the same virtual timestamps.
  auto [name, plan] = faultscope::parse_replay_token("third@s#3=cancel");
  EXPECT_EQ(name, "third");
  auto again = faultscope::replay(leaks_when_cancelled_at_third, plan);
  ASSERT_EQ(again.violations.size(), 1u);
  EXPECT_EQ(again.violations[0].message, f.run.violations[0].message);
  ASSERT_EQ(again.timeline.size(), f.run.timeline.size());
  for (std::size_t i = 0; i < again.timeline.size(); ++i)
    EXPECT_EQ(again.timeline[i].at, f.run.timeline[i].at);
  EXPECT_EQ(again.virtual_elapsed, f.run.virtual_elapsed);
}

struct conn {
  faultscope::resource_id id;
};

// Releases correctly on every path but one: when the body was cancelled and the
// close then fails, it swallows the failure without releasing.
awaitable<void> leaks_when_release_fails_after_cancel(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await faultscope::async_with<conn>(
      [&t](faultscope::yield<conn> yield) -> awaitable<void> {
        conn c{t.acquire("connection", "db")};
        auto exit = co_await yield(c);
        if (exit.cancelled()) {
          try {
            co_await faultscope::fault_point("close");
            t.release(c.id);
          } catch (...) {
            // the bug: gives up without releasing
          }
          co_return;
        }
        for (;;) {
          try {
            co_await faultscope::fault_point("close");
            t.release(c.id);
            co_return;
          } catch (...) {
            // retried: a close that fails once is tried again
          }
        }
      },
      [](conn&) -> awaitable<void> { co_await step("query"); });
}

// Cleans up on every error a socket reports, but not when memory runs out: its
// handler catches system_error, which std::bad_alloc is not.
awaitable<void> leaks_when_memory_runs_out(run_context& ctx) {
  auto& t = ctx.tracker();
  auto id = t.acquire("buffer", "frame");
  try {
    co_await faultscope::fault_point("frame.grow");
  } catch (const boost::system::system_error&) {
    t.release(id);
    throw;
  }
  t.release(id);
}

TEST(Explore, CanaryBadAllocFindsACleanupThatAnErrorCodeOfNoMemoryMisses) {
  auto as_code = faultscope::explore("grow", leaks_when_memory_runs_out,
                                     {.kinds = {fault::make_throw(ENOMEM)}});
  EXPECT_TRUE(as_code.passed()) << as_code.summary();

  auto as_new_throws =
      faultscope::explore("grow", leaks_when_memory_runs_out, {.kinds = {fault::make_bad_alloc()}});
  ASSERT_EQ(as_new_throws.failures.size(), 1u) << as_new_throws.summary();
  EXPECT_EQ(as_new_throws.failures[0].plan.to_string(), "frame.grow#1=bad_alloc");
  EXPECT_EQ(as_new_throws.failures[0].run.violations[0].kind, violation_kind::leak);
  EXPECT_EQ(as_new_throws.failures[0].run.error_message, "std::bad_alloc");
}

TEST(Explore, CanaryDepthTwoFindsALeakInTheCleanupOfACancellationThatDepthOneMisses) {
  auto one = faultscope::explore("cleanup", leaks_when_release_fails_after_cancel);
  EXPECT_TRUE(one.passed()) << one.summary();

  auto two = faultscope::explore("cleanup", leaks_when_release_fails_after_cancel, {.depth = 2});
  ASSERT_EQ(two.failures.size(), 1u) << two.summary();
  EXPECT_EQ(two.failures[0].plan.to_string(), "query#1=cancel;close#1=throw");
  EXPECT_EQ(two.failures[0].run.violations[0].kind, violation_kind::leak);
  EXPECT_GT(two.schedules_run, one.schedules_run);
}

// Passes three points and carries on past a throw at any of them.
awaitable<void> absorbs_at_a_b_c(run_context&) {
  for (const char* p : {"a", "b", "c"}) {
    try {
      co_await faultscope::fault_point(p);
    } catch (const faultscope::injected_fault&) {
    }
  }
}

// At depth 2, a failing schedule of two faults where one would do is shown
// shrunk to that one.
TEST(Explore, DepthTwoShrinksAFailingScheduleToTheFaultThatMatters) {
  auto leaks_at_c = [](run_context& ctx) -> awaitable<void> {
    auto id = ctx.tracker().acquire("file", "log");
    for (const char* p : {"a", "b"}) {
      try {
        co_await faultscope::fault_point(p);
      } catch (const faultscope::injected_fault&) {
      }
    }
    co_await faultscope::fault_point("c");
    ctx.tracker().release(id);
  };
  auto ex =
      faultscope::explore("leaks at c", leaks_at_c, {.depth = 2, .kinds = {fault::make_throw()}});
  std::vector<std::pair<std::string, std::string>> failed;
  for (const auto& f : ex.failures) failed.emplace_back(f.plan.to_string(), f.minimal.to_string());
  using shrunk = std::pair<std::string, std::string>;
  EXPECT_THAT(failed, ::testing::ElementsAre(shrunk{"c#1=throw", "c#1=throw"},
                                             shrunk{"a#1=throw;c#1=throw", "c#1=throw"},
                                             shrunk{"b#1=throw;c#1=throw", "c#1=throw"}));
  // The summary shows the first of the three, which shrinks to nothing less.
  EXPECT_THAT(ex.summary(), Not(HasSubstr("shrunk to")));
  ex.failures.erase(ex.failures.begin());
  EXPECT_THAT(ex.summary(),
              HasSubstr("  FAIL a#1=throw;c#1=throw\n    leak: file #1 \"log\" acquired at "));
  EXPECT_THAT(ex.summary(),
              HasSubstr("    shrunk to: c#1=throw\n    replay: faultscope::replay(scenario, "
                        "faultscope::fault_plan::parse(\"c#1=throw\"))\n"));
}

TEST(Explore, SwarmIsSeeded) {
  explore_options a{.swarm = 20, .seed = 7};
  auto x = faultscope::explore("correct", correct_subject, a);
  auto y = faultscope::explore("correct", correct_subject, a);
  EXPECT_EQ(x.ran, y.ran);
  EXPECT_EQ(x.schedules_run, 20u);
  std::set<std::size_t> faults;  // per plan: one to three
  for (const auto& plan : x.ran) faults.insert(fault_plan::parse(plan).rules.size());
  EXPECT_EQ(faults, (std::set<std::size_t>{1, 2, 3}));
  EXPECT_EQ(faultscope::explore("correct", correct_subject, {.swarm = 1}).schedules_run, 1u);
  // A swarm's plans are the schedules: depth adds none to them.
  EXPECT_EQ(faultscope::explore("abc", absorbs_at_a_b_c,
                                {.depth = 2, .kinds = {fault::make_throw()}, .swarm = 5})
                .schedules_run,
            5u);
  auto z = faultscope::explore("correct", correct_subject, {.swarm = 20, .seed = 8});
  EXPECT_NE(x.ran, z.ran);
  EXPECT_TRUE(x.passed()) << x.summary();
}

// Leaks only when "c" throws; the other points are irrelevant.
awaitable<void> leaks_when_c_throws(run_context& ctx) {
  auto& t = ctx.tracker();
  auto id = t.acquire("file", "log");
  co_await step("a");
  co_await step("b");
  try {
    co_await step("c");
  } catch (const faultscope::injected_fault&) {
    throw;  // the bug: no release on this path
  } catch (...) {
    t.release(id);
    throw;
  }
  try {
    co_await step("d");
    co_await step("e");
  } catch (...) {
    t.release(id);
    throw;
  }
  t.release(id);
}

TEST(Explore, ShrinkingReducesAFiveFaultPlanToTheFaultThatMatters) {
  auto plan =
      fault_plan::parse("a#1=delay(5ms);b#1=delay(1s);c#1=throw;d#1=delay(2ms);e#1=delay(3ms)");
  ASSERT_FALSE(faultscope::replay(leaks_when_c_throws, plan).passed());
  EXPECT_EQ(faultscope::shrink(leaks_when_c_throws, plan).to_string(), "c#1=throw");
}

TEST(Explore, ShrinkingGivenTheFailingRunDoesNotRunItAgain) {
  static int runs = 0;
  auto counted = [](run_context& ctx) -> awaitable<void> {
    ++runs;
    co_await leaks_when_c_throws(ctx);
  };
  auto plan = fault_plan::parse("a#1=delay(5ms);c#1=throw");
  auto failed = faultscope::replay(counted, plan);
  ASSERT_FALSE(failed.passed());
  runs = 0;
  EXPECT_EQ(faultscope::shrink(counted, plan, {}, failed).to_string(), "c#1=throw");
  EXPECT_EQ(runs, 1) << "only the plan without a#1 is tried";
  runs = 0;
  EXPECT_EQ(faultscope::shrink(counted, plan).to_string(), "c#1=throw");
  EXPECT_EQ(runs, 2) << "the failing plan, then the plan without a#1";
}

// A seed only steers rules that fire by chance: with none of them, the
// shrunk plan drops it.
TEST(Explore, ShrinkingDropsASeedNoRuleNeeds) {
  auto plan = fault_plan::parse("seed=42;a#1=delay(5ms);c#1=throw");
  EXPECT_EQ(faultscope::shrink(leaks_when_c_throws, plan).to_string(), "c#1=throw");
}

TEST(Explore, ShrinkingKeepsBothFaultsWhenBothMatter) {
  auto plan = fault_plan::parse(
      "unused.point=throw;query#1=cancel;close#2=delay(1ms);close#1=throw;other.*=timeout");
  ASSERT_FALSE(faultscope::replay(leaks_when_release_fails_after_cancel, plan).passed());
  auto minimal = faultscope::shrink(leaks_when_release_fails_after_cancel, plan);
  EXPECT_EQ(minimal.to_string(), "query#1=cancel;close#1=throw");
}

// A schedule that left the path of the run it extends is compared by its
// other violations: the plans shrink tries extend nothing, so never leave one.
TEST(Explore, ShrinkingLooksPastLeavingThePath) {
  auto plan = fault_plan::parse("a#1=delay(5ms);c#1=throw");
  auto failed = faultscope::replay(leaks_when_c_throws, plan);
  ASSERT_FALSE(failed.passed());
  failed.violations.push_back({violation_kind::nondeterministic, "nondeterministic: as if"});
  EXPECT_EQ(faultscope::shrink(leaks_when_c_throws, plan, {}, failed).to_string(), "c#1=throw");
}

// max_schedules cuts the space where it says, at either depth, and the
// summary says it was cut.
TEST(Explore, MaxSchedulesCutsTheSpaceAndTheSummarySaysSo) {
  auto whole = faultscope::explore("correct", correct_subject, {.max_schedules = 8});
  EXPECT_FALSE(whole.truncated);
  EXPECT_EQ(whole.schedules_run, 8u);
  EXPECT_THAT(whole.summary(), Not(HasSubstr("cut at max_schedules")));
  auto cut = faultscope::explore("correct", correct_subject, {.max_schedules = 7});
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.schedules_run, 7u);
  EXPECT_EQ(cut.ran.back(), "conn.query#3=throw");
  EXPECT_THAT(cut.summary(), HasSubstr("(the schedule space was cut at max_schedules)"));

  // 3 plans, then 2 + 1 + 0 more.
  explore_options deeper{.depth = 2, .kinds = {fault::make_throw()}};
  ASSERT_EQ(faultscope::explore("abc", absorbs_at_a_b_c, deeper).total_schedules, 6u);
  deeper.max_schedules = 6;
  auto deep = faultscope::explore("abc", absorbs_at_a_b_c, deeper);
  EXPECT_FALSE(deep.truncated);
  EXPECT_EQ(deep.schedules_run, 6u);
  deeper.max_schedules = 5;
  deep = faultscope::explore("abc", absorbs_at_a_b_c, deeper);
  EXPECT_TRUE(deep.truncated);
  EXPECT_EQ(deep.schedules_run, 5u);
}

TEST(Explore, OneThreadAndTwoThreadsGiveIdenticalReports) {
  auto one = faultscope::explore("third", leaks_when_cancelled_at_third, {.depth = 2, .jobs = 1});
  auto two = faultscope::explore("third", leaks_when_cancelled_at_third, {.depth = 2, .jobs = 2});
  EXPECT_EQ(one.ran, two.ran);
  EXPECT_EQ(one.summary(), two.summary());
  EXPECT_FALSE(one.passed());
}

// Fails even without a fault: a broken scenario (found in sqlite.churn, whose
// clients raced for a lock) must not pass its exploration unnoticed.
awaitable<void> fails_without_faults(run_context&) {
  co_await faultscope::fault_point("step");
  throw std::runtime_error("database is locked");
}

TEST(Explore, CanaryACleanRunThatFailsIsAViolation) {
  auto report = faultscope::explore("broken", fails_without_faults);
  ASSERT_FALSE(report.passed());
  ASSERT_EQ(report.clean.violations.size(), 1u);
  EXPECT_EQ(report.clean.violations[0].kind, violation_kind::outcome);
  EXPECT_THAT(report.clean.violations[0].message,
              HasSubstr("the run without faults ended exception (database is locked)"));
}

TEST(Explore, CanaryReplayingAFailingCleanRunReportsWhatTheExplorationReported) {
  auto report = faultscope::explore("broken", fails_without_faults);
  auto replayed = faultscope::replay(fails_without_faults, fault_plan{});
  ASSERT_EQ(replayed.violations.size(), 1u);
  EXPECT_EQ(replayed.violations[0].message, report.clean.violations[0].message);
}

// Leaks whatever fault hits any of its seven points: one bug, fourteen
// failing schedules.
awaitable<void> leaks_on_every_fault(run_context& ctx) {
  auto id = ctx.tracker().acquire("connection", "db");
  for (int i = 0; i < 7; ++i) co_await faultscope::fault_point("conn.query");
  ctx.tracker().release(id);
}

TEST(Explore, ASummaryShowsOneBugOnceWithThePlansOfTheOtherSchedulesItFailed) {
  auto report = faultscope::explore("leaky", leaks_on_every_fault);
  ASSERT_EQ(report.failures.size(), 14u);
  const auto summary = report.summary();
  EXPECT_THAT(summary, HasSubstr(": 14 failed\n  FAIL conn.query#1=throw\n    leak: "));
  EXPECT_THAT(summary, HasSubstr("  FAIL conn.query#1=cancel, conn.query#2=throw, "
                                 "conn.query#2=cancel, conn.query#3=throw, conn.query#3=cancel "
                                 "and 8 more: the same violations\n"));
  std::size_t leaks = 0;
  for (auto at = summary.find("leak:"); at != std::string::npos; at = summary.find("leak:", at + 1))
    ++leaks;
  EXPECT_EQ(leaks, 1u) << summary;
  // Each schedule is still in the report itself.
  EXPECT_EQ(report.failures.back().plan.to_string(), "conn.query#7=cancel");
}

// Balanced, but through no fault point: as code that only uses Asio's own
// operations, or a library that knows nothing of faultscope.
awaitable<void> passes_no_point(run_context& ctx) {
  auto id = ctx.tracker().acquire("connection", "db");
  co_await ft::sleep_for(1ms);
  ctx.tracker().release(id);
}

TEST(Explore, CanaryAScenarioThatPassesNoFaultPointExploresNothingAndFails) {
  auto report = faultscope::explore("blind", passes_no_point);
  EXPECT_EQ(report.total_schedules, 0u);
  ASSERT_FALSE(report.passed());
  ASSERT_EQ(report.clean.violations.size(), 1u);
  EXPECT_EQ(report.clean.violations[0].kind, violation_kind::nothing_explored);
  EXPECT_THAT(report.clean.violations[0].message,
              HasSubstr("nothing explored: the run without faults passed no fault point, so no "
                        "schedule injects a fault"));
  EXPECT_THAT(report.summary(), HasSubstr("1 failed"));
  // Its replay fails as the exploration did.
  auto replayed = faultscope::replay(passes_no_point, fault_plan{});
  ASSERT_EQ(replayed.violations.size(), 1u);
  EXPECT_EQ(replayed.violations[0].message, report.clean.violations[0].message);
}

TEST(Explore, CanaryOptionsThatExcludeEveryPointNameThePointsTheRunPassed) {
  explore_options o;
  o.only = {"sqlite.malloc"};  // a sweep over connections opened without memory faults
  auto report = faultscope::explore("only", correct_subject, o);
  ASSERT_THAT(report.clean, HasViolation(violation_kind::nothing_explored));
  EXPECT_EQ(report.clean.violations[0].message,
            "nothing explored: the scenario's only 'sqlite.malloc' excludes every fault point "
            "its run without faults passed (conn.open, conn.query), so no schedule injects a "
            "fault");
  o.only = {};
  o.skip = {"conn.*"};
  EXPECT_THAT(faultscope::explore("skip", correct_subject, o).clean.violations.at(0).message,
              HasSubstr("the scenario's skip 'conn.*' excludes every fault point"));
  o.only = {"conn.open", "conn.query"};
  o.skip = {"conn.open", "conn.q*"};
  EXPECT_THAT(faultscope::explore("both", correct_subject, o).clean.violations.at(0).message,
              HasSubstr("the scenario's only 'conn.open,conn.query' and skip 'conn.open,conn.q*' "
                        "exclude every fault point"));
  o.skip = {"conn.open"};  // conn.query is left
  EXPECT_TRUE(faultscope::explore("left", correct_subject, o).passed());
}

TEST(Explore, NothingExploredNamesTheFirstEightPoints) {
  auto ten = [](run_context&) -> awaitable<void> {
    for (char c = 'a'; c < 'k'; ++c) {
      const std::string name{c};
      co_await faultscope::fault_point(name);
      co_await faultscope::fault_point(name);  // a second hit does not name it twice
    }
  };
  auto report = faultscope::explore("ten", ten, {.only = {"z"}});
  ASSERT_THAT(report.clean, HasViolation(violation_kind::nothing_explored));
  EXPECT_THAT(report.clean.violations[0].message, HasSubstr("passed (a, b, c, d, e, f, g, h, …)"));
}

TEST(Explore, ARunnersNarrowingNeverMakesAScenarioExploreNothing) {
  explore_options o;
  o.focus = {"nowhere"};  // the runner's --only
  auto focused = faultscope::explore("focused", correct_subject, o);
  EXPECT_EQ(focused.total_schedules, 0u);
  EXPECT_TRUE(focused.passed()) << focused.summary();
  o.focus = {};
  o.focus_skip = {"*"};  // the runner's --skip
  auto skipped = faultscope::explore("skipped", correct_subject, o);
  EXPECT_EQ(skipped.total_schedules, 0u);
  EXPECT_TRUE(skipped.passed()) << skipped.summary();
  EXPECT_TRUE(faultscope::skipped(o, "conn.open"));
}

TEST(Explore, NothingExploredCanBeAccepted) {
  auto report = faultscope::explore("checked", passes_no_point,
                                    {.accept = {violation_kind::nothing_explored}});
  EXPECT_TRUE(report.passed()) << report.summary();
}

TEST(Explore, ACleanRunThatFailsIsNotAlsoSaidToExploreNothing) {
  auto report = faultscope::explore("broken", [](run_context&) -> awaitable<void> {
    throw std::runtime_error("database is locked");
    co_return;
  });
  ASSERT_EQ(report.clean.violations.size(), 1u) << report.summary();
  EXPECT_EQ(report.clean.violations[0].kind, violation_kind::outcome);
}

// A scenario whose path something besides the plan decides (here a count of
// earlier runs, as a cache or a global would): schedules past the first few
// never reach the hit their fault was planned for, and test another path.
struct steered_by_earlier_runs {
  std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
  int honest_runs;     // runs that take the clean run's path
  char skipped = 'b';  // the point later runs skip
  awaitable<void> operator()(run_context&) const {
    bool skip = runs->fetch_add(1) >= honest_runs;
    for (const char* p : {"a", "b", "c"}) {
      if (skip && p[0] == skipped) continue;
      try {
        co_await faultscope::fault_point(p);
      } catch (const faultscope::injected_fault&) {
      }
    }
  }
};

std::vector<std::string> failing_plans(const faultscope::exploration& e) {
  std::vector<std::string> out;
  for (auto& f : e.failures) {
    EXPECT_EQ(f.run.violations.size(), 1u) << f.plan.to_string();
    EXPECT_EQ(f.run.violations.at(0).kind, violation_kind::nondeterministic);
    out.push_back(f.plan.to_string());
  }
  return out;
}

TEST(Explore, CanaryASchedulePushedOffTheCleanRunsPathBeforeItsFaultIsNondeterministic) {
  auto e = faultscope::explore("steered", steered_by_earlier_runs{.honest_runs = 1},
                               {.kinds = {fault::make_throw()}});
  EXPECT_EQ(failing_plans(e), (std::vector<std::string>{"b#1=throw", "c#1=throw"}));
  ASSERT_EQ(e.failures.size(), 2u);
  EXPECT_EQ(e.failures[0].run.violations[0].message,
            "nondeterministic: fault point 2 of this run was c#1, of the clean run it extends "
            "b#1, where the plan's fault was to fire; something besides the plan (a thread, "
            "the wall clock, a random number, state an earlier run left) steers the scenario, "
            "so this schedule tested another path and its replay may differ");
}

TEST(Explore, CanaryAReplayThatLeavesThePathOfTheRunItExtendsIsNondeterministic) {
  // The replay's first run (the clean run) takes the path; the replayed
  // schedule, skipping b, cannot fault it.
  auto r =
      faultscope::replay(steered_by_earlier_runs{.honest_runs = 1}, fault_plan::parse("b#1=throw"));
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::nondeterministic);
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("fault point 2 of this run was c#1, of the clean run it extends b#1"));

  // Two faults: measured against the run under the first, which takes the
  // path; the replayed schedule does not.
  auto left = faultscope::replay(steered_by_earlier_runs{.honest_runs = 1},
                                 fault_plan::parse("a#1=throw;c#1=throw"));
  ASSERT_EQ(left.violations.size(), 1u) << left.describe();
  EXPECT_THAT(left.violations[0].message,
              HasSubstr("of the run under a#1=throw it extends b#1, before the plan's fault at "
                        "c#1 fired"));
  // When both runs skip b, the replay's path is the one it extends.
  auto both = faultscope::replay(steered_by_earlier_runs{.honest_runs = 0},
                                 fault_plan::parse("a#1=throw;c#1=throw"));
  EXPECT_TRUE(both.passed()) << both.describe();

  // A scenario that keeps to its path replays without a word.
  EXPECT_TRUE(faultscope::replay(steered_by_earlier_runs{.honest_runs = 9},
                                 fault_plan::parse("a#1=throw;c#1=throw"))
                  .passed());
}

TEST(Explore, CanaryAtDepthTwoTheSecondFaultsRunIsMeasuredAgainstTheFirstFaultsRun) {
  // 1 clean run and 3 first-level runs take the path; every second-level run
  // leaves it at b.
  auto e = faultscope::explore("steered", steered_by_earlier_runs{.honest_runs = 4},
                               {.depth = 2, .kinds = {fault::make_throw()}});
  EXPECT_EQ(failing_plans(e),
            (std::vector<std::string>{"a#1=throw;b#1=throw", "a#1=throw;c#1=throw",
                                      "b#1=throw;c#1=throw"}));
  ASSERT_FALSE(e.failures.empty());
  EXPECT_THAT(e.failures[0].run.violations[0].message,
              HasSubstr("of the run under a#1=throw it extends b#1"));
}

TEST(Explore, ARunThatEndsBeforeItsFaultsHitIsNondeterministic) {
  // The clean run passes a, b, c; every later run only a and b.
  auto e = faultscope::explore("steered", steered_by_earlier_runs{.honest_runs = 1, .skipped = 'c'},
                               {.kinds = {fault::make_throw()}, .only = {"c"}});
  ASSERT_EQ(e.failures.size(), 1u);
  EXPECT_THAT(e.failures[0].run.violations.at(0).message,
              HasSubstr("nondeterministic: this run ended after 2 fault points; the clean run it "
                        "extends went on to c#1, where the plan's fault was to fire;"));
}

TEST(Explore, ANondeterministicScheduleCanBeAccepted) {
  auto e = faultscope::explore(
      "steered", steered_by_earlier_runs{.honest_runs = 1},
      {.kinds = {fault::make_throw()}, .accept = {violation_kind::nondeterministic}});
  EXPECT_TRUE(e.passed()) << e.summary();
}

// A replay whose rule fires nowhere (a typo, a token from an older build)
// reproduces nothing; its report says so instead of only "violations: none".
TEST(Explore, AReplayReportNamesEachRuleThatNeverFiredAndWhatTheRunPassed) {
  auto plan = fault_plan::parse("a#1=throw;b#9=throw;nosuch=cancel;*=delay(1ms)@p0.000001");
  steered_by_earlier_runs abc{.honest_runs = 1 << 30};
  auto report = faultscope::replay_report("abc", plan, faultscope::replay(abc, plan));
  EXPECT_THAT(report, Not(HasSubstr("note: a#1=throw")));
  EXPECT_THAT(report, HasSubstr("\nnote: b#9=throw never fired: the run passed 'b' 1 time\n"));
  EXPECT_THAT(report, HasSubstr("\nnote: nosuch=cancel never fired: the run passed no point "
                                "matching 'nosuch' (it passed a, b, c)\n"));
  EXPECT_THAT(report, HasSubstr("\nnote: *=delay(1ms)@p1e-06 never fired: the run passed points "
                                "matching '*' 3 times\n"));
}

TEST(Explore, OptionsItCannotHonourAreRefusedNamingTheScenario) {
  auto refused = [](const explore_options& o) -> std::string {
    try {
      (void)faultscope::explore("db.open", correct_subject, o);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "explored";
  };
  EXPECT_EQ(refused({.depth = 3}), "explore 'db.open': depth must be 1 or 2, got 3");
  EXPECT_EQ(refused({.depth = 0}), "explore 'db.open': depth must be 1 or 2, got 0");
  EXPECT_EQ(refused({.kinds = {}}), "explore 'db.open': no fault kinds to inject");
  EXPECT_EQ(refused({.shard_count = 0}), "explore 'db.open': shard_count must be at least 1");
  EXPECT_EQ(refused({.shard_index = 2, .shard_count = 2}),
            "explore 'db.open': shard_index 2 is not below shard_count 2");
  EXPECT_EQ(refused({.shard_index = 1, .shard_count = 2}), "explored");
}

TEST(Explore, AnExceptionFromTheProgressCallbackStopsEveryThreadAndReachesTheCaller) {
  for (unsigned jobs : {1u, 2u, 4u}) {
    std::atomic<std::size_t> calls{0};
    explore_options o;
    o.jobs = jobs;
    o.progress = [&](std::size_t done, std::size_t) {
      ++calls;
      if (done == 2) throw std::runtime_error("progress display closed");
    };
    EXPECT_THROW((void)faultscope::explore("subject", correct_subject, o), std::runtime_error)
        << "jobs " << jobs;
    // However late the thrower unwinds (preempted on a busy machine), no thread
    // calls the callback once it has thrown.
    EXPECT_EQ(calls.load(), 2u) << "jobs " << jobs;
  }
}

TEST(Explore, ProgressCountsEverySchedulePerDepthAndThreadsNeverOverlap) {
  for (unsigned jobs : {1u, 2u}) {
    explore_options o;
    o.depth = 2;
    o.jobs = jobs;
    std::vector<std::pair<std::size_t, std::size_t>> calls;
    std::atomic<int> inside{0};
    bool overlapped = false;
    o.progress = [&](std::size_t done, std::size_t known) {
      overlapped |= inside.fetch_add(1) != 0;
      calls.emplace_back(done, known);
      inside.fetch_sub(1);
    };
    auto report = faultscope::explore("cleanup", leaks_when_release_fails_after_cancel, o);
    ASSERT_EQ(calls.size(), report.schedules_run) << "jobs " << jobs;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].first, i + 1);
      EXPECT_LE(calls[i].first, calls[i].second);
    }
    EXPECT_EQ(calls.back().second, report.total_schedules);
    EXPECT_LT(calls.front().second, report.total_schedules) << "depth 2 grows the space";
    EXPECT_FALSE(overlapped);
  }
}

TEST(Explore, FocusNarrowsOnlyAndNeverWidensIt) {
  explore_options o;
  o.kinds = {fault::make_throw()};
  o.focus = {"conn.query"};
  auto ex = faultscope::explore("focused", correct_subject, o);
  EXPECT_EQ(ex.ran, (std::vector<std::string>{"conn.query#1=throw", "conn.query#2=throw",
                                              "conn.query#3=throw"}));
  // With the scenario's own `only`, a point must match both.
  o.only = {"conn.open"};
  EXPECT_EQ(faultscope::explore("disjoint", correct_subject, o).total_schedules, 0u);
  o.only = {"conn.*"};
  EXPECT_EQ(faultscope::explore("inside", correct_subject, o).ran.size(), 3u);
  EXPECT_TRUE(faultscope::skipped(o, "conn.open"));
  EXPECT_FALSE(faultscope::skipped(o, "conn.query"));
}

TEST(Explore, ThreeShardsCoverEveryScheduleExactlyOnce) {
  auto all = faultscope::explore("third", leaks_when_cancelled_at_third, {.depth = 2});
  std::multiset<std::string> covered;
  std::size_t failures = 0;
  for (std::size_t s = 0; s < 3; ++s) {
    auto part = faultscope::explore("third", leaks_when_cancelled_at_third,
                                    {.depth = 2, .shard_index = s, .shard_count = 3});
    EXPECT_EQ(part.total_schedules, all.total_schedules);
    covered.insert(part.ran.begin(), part.ran.end());
    failures += part.failures.size();
  }
  EXPECT_EQ(covered, std::multiset<std::string>(all.ran.begin(), all.ran.end()));
  EXPECT_EQ(covered.size(), all.schedules_run);
  EXPECT_EQ(failures, all.failures.size());
}

// Swallows any failure of the query and carries on.
awaitable<void> swallows(run_context&) {
  try {
    co_await faultscope::fault_point("db.query");
  } catch (...) {
  }
  co_return;
}

// Retries the query until it works.
awaitable<void> retries(run_context&) {
  for (;;) {
    try {
      co_await faultscope::fault_point("db.query");
      co_return;
    } catch (...) {
    }
  }
}

TEST(Explore, CanarySwallowedFaultViolatesAPropagatesDeclaration) {
  explore_options o{.kinds = {fault::make_throw()},
                    .expect = {{"db.*", expected_outcome::propagates}}};
  auto ex = faultscope::explore("swallows", swallows, o);
  ASSERT_EQ(ex.failures.size(), 1u) << ex.summary();
  EXPECT_EQ(ex.failures[0].run.violations[0].kind, violation_kind::outcome);
  EXPECT_THAT(ex.failures[0].run.violations[0].message, HasSubstr("was swallowed"));
  // Without the declaration, swallowing is nobody's business.
  EXPECT_TRUE(faultscope::explore("swallows", swallows, {.kinds = {fault::make_throw()}}).passed());
}

TEST(Explore, RetriedDeclarationAcceptsARetryAndRejectsASwallow) {
  explore_options o{.kinds = {fault::make_throw()},
                    .expect = {{"db.query", expected_outcome::retried}}};
  EXPECT_TRUE(faultscope::explore("retries", retries, o).passed());
  auto ex = faultscope::explore("swallows", swallows, o);
  ASSERT_EQ(ex.failures.size(), 1u);
  EXPECT_THAT(ex.failures[0].run.violations[0].message, HasSubstr("was not retried"));
}

TEST(Explore, ABadAllocSwallowedViolatesAPropagatesDeclaration) {
  explore_options o{.kinds = {fault::make_bad_alloc()},
                    .expect = {{"db.*", expected_outcome::propagates}}};
  auto ex = faultscope::explore("swallows", swallows, o);
  ASSERT_EQ(ex.failures.size(), 1u) << ex.summary();
  EXPECT_THAT(ex.failures[0].run.violations[0].message,
              HasSubstr("the fault db.query#1=bad_alloc was swallowed"));
}

TEST(Explore, APropagatesDeclarationSpeaksOfErrorsNotOfCancellationsOrDelays) {
  explore_options o{.kinds = {fault::make_error(EIO), fault::make_cancel(),
                              fault::make_delay(std::chrono::milliseconds(1))},
                    .expect = {{"db.*", expected_outcome::propagates}}};
  auto ex = faultscope::explore("swallows", swallows, o);
  std::vector<std::string> failing;
  for (const auto& f : ex.failures) failing.push_back(f.plan.to_string());
  // A swallowed cancellation, and a delay that only slows the query, are not
  // outcome violations; a swallowed error is.
  EXPECT_THAT(failing, ::testing::ElementsAre("db.query#1=error(io_error)")) << ex.summary();
}

awaitable<void> wait_forever(run_context& ctx) {
  faultscope::timer t(ctx.executor(), faultscope::timer::time_point::max());
  co_await t.async_wait(boost::asio::use_awaitable);
}

// Absorbs the failure of its query, then waits forever for an answer.
awaitable<void> hangs_after_a_fault(run_context& ctx) {
  bool failed = false;
  try {
    co_await faultscope::fault_point("db.query");
  } catch (const faultscope::injected_fault&) {
    failed = true;
  }
  if (failed) co_await wait_forever(ctx);
}

// A hang is a violation of its own: neither an outcome rule nor the check of
// the run without faults says more of it.
TEST(Explore, AHangIsReportedOnlyAsAHang) {
  explore_options o{.kinds = {fault::make_throw()},
                    .expect = {{"db.*", expected_outcome::absorbed}}};
  auto ex = faultscope::explore("hangs", hangs_after_a_fault, o);
  ASSERT_EQ(ex.failures.size(), 1u) << ex.summary();
  ASSERT_EQ(ex.failures[0].run.violations.size(), 1u) << ex.summary();
  EXPECT_EQ(ex.failures[0].run.violations[0].kind, violation_kind::hang);

  auto always = faultscope::explore("always hangs",
                                    [](run_context& ctx) -> awaitable<void> {
                                      co_await faultscope::fault_point("db.query");
                                      co_await wait_forever(ctx);
                                    },
                                    {.kinds = {fault::make_throw()}});
  ASSERT_EQ(always.clean.violations.size(), 1u) << always.summary();
  EXPECT_EQ(always.clean.violations[0].kind, violation_kind::hang);
}

TEST(Explore, AbsorbedDeclarationRejectsAPropagatingFault) {
  explore_options o{.kinds = {fault::make_throw()}, .expect = {{"*", expected_outcome::absorbed}}};
  auto ex = faultscope::explore("third", leaks_when_cancelled_at_third, o);
  ASSERT_FALSE(ex.failures.empty());
  EXPECT_THAT(ex.failures[0].run.violations[0].message, HasSubstr("must be absorbed"));
}

TEST(Explore, ReplayTokenErrorsAreClear) {
  EXPECT_THROW((void)faultscope::parse_replay_token("no-at-sign"), faultscope::plan_error);
  EXPECT_THROW((void)faultscope::parse_replay_token("@a=throw"), faultscope::plan_error);
  try {
    (void)faultscope::parse_replay_token("scn@a=thorw");
    FAIL();
  } catch (const faultscope::plan_error& e) {
    EXPECT_EQ(e.column(), 7u) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("unknown fault kind"));
  }
}

// Every run holds a pipe open for 2 ms of wall time and closes it, whatever
// happens; then it opens a second one, closed only if legacy.write passes. So
// a throw anywhere but there leaks nothing, and runs on several threads at once
// would each see another's first pipe.
struct pipe_holder {
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  };
  std::mutex mutex;
  std::vector<int> leaked;
  awaitable<void> operator()(run_context&) {
    {
      closer held{ft::pipe_write_end()};
      std::this_thread::sleep_for(2ms);
      for (const char* p : {"a", "b", "c", "d", "e", "f"}) faultscope::fault_check(p);
    }
    const int fd = ft::pipe_write_end();
    {
      std::lock_guard lock(mutex);
      leaked.push_back(fd);
    }
    co_await faultscope::fault_point("legacy.write");
    ::close(fd);
    std::lock_guard lock(mutex);
    std::erase(leaked, fd);
  }
};

TEST(Explore, CheckFdsExploresOnOneThreadSoRunsDoNotSeeEachOthersDescriptors) {
  pipe_holder scenario;
  // Throw only: a cancel at a plain point ends the run at legacy.write, leaking too.
  explore_options o{.kinds = {fault::make_throw()}, .jobs = 4};
  o.run.check_fds = true;
  // Shorter than a run holds its pipe: a run beside it would see that pipe.
  o.run.fd_grace = 1ms;
  auto report = faultscope::explore("pipe", std::ref(scenario), o);
  for (int fd : scenario.leaked) ::close(fd);
  EXPECT_EQ(scenario.leaked.size(), 1u) << report.summary();
  std::vector<std::string> failed;
  for (const auto& f : report.failures) {
    failed.push_back(f.plan.to_string());
    EXPECT_THAT(f.run, HasViolation(violation_kind::leak));
    EXPECT_THAT(f.run.describe(), HasSubstr("file descriptor"));
  }
  EXPECT_THAT(failed, ::testing::ElementsAre("legacy.write#1=throw")) << report.summary();
}

}  // namespace
