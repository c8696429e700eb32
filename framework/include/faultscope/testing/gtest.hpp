// GoogleTest integration: assertions on runs and explorations, a listener that
// fails any test that leaks, one that makes an assertion failing inside a run a
// violation of that run, and FAULTSCOPE_TEST, which explores a coroutine and
// registers every schedule as a test case of its own — so --gtest_filter, ctest
// and GTEST_TOTAL_SHARDS / GTEST_SHARD_INDEX split the fault space with no tool
// of ours.
//
//   FAULTSCOPE_TEST(Pool, ReturnsEveryLease) {
//     faultscope::fakes::pool p(ctx.tracker());
//     auto c = co_await p.acquire();
//     co_await p.release(c);
//     co_await p.close();
//   }
//   // Pool.ReturnsEveryLease/clean, Pool.ReturnsEveryLease/pool.acquire#1=throw, …
//
//   EXPECT_NO_LEAKS(faultscope::run(scenario));
//   CO_ASSERT_EQ(rows.size(), 1u);   // ASSERT_EQ for coroutines (co_assert.hpp)
//   EXPECT_THAT(result, faultscope::testing::HasViolation(faultscope::violation_kind::leak));
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

#include "faultscope/explore.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/run.hpp"
#include "faultscope/testing/co_assert.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::testing {

/// A tracker for tests that manage resources outside a run; `leak_listener`
/// checks it after every test.
faultscope::tracker& test_tracker();

/// Fails every test after which `test_tracker()` is not balanced (sample10's leak
/// checker, for faultscope resources). `faultscope::gtest_main` installs it.
class leak_listener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& info) override;
  void OnTestEnd(const ::testing::TestInfo& info) override;

 private:
  std::uint64_t violations_before_ = 0;
};

/// Makes a GoogleTest assertion that fails inside a run a violation of that
/// run too (`invariant`, with the assertion's place and message), so that an
/// exploration whose scenario says `EXPECT_EQ(...)` fails under the schedule
/// that broke it and prints that schedule's replay; after the failure it
/// prints the run it happened in. Installed, once, by every program that
/// includes this header: it acts only on failures inside a run, which are
/// failures anyway.
class assertion_listener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const ::testing::TestPartResult& result) override;
};

/// Appends an assertion_listener to GoogleTest's listeners, the first time only.
bool install_assertion_listener();
// An inline variable, not a static object in the library: a static library's
// object that nothing calls into is never linked, and its initialiser never runs.
inline const bool assertion_listener_installed = install_assertion_listener();

/// Every violation of a run, an exploration or a tracker, one per line; empty
/// when there is none.
std::string violations_text(const run_result& r);
std::string violations_text(const exploration& e);
std::string violations_text(const tracker& t);

/// What a FAULTSCOPE_TEST schedule does: runs it as an exploration would
/// (`run_schedule`) and adds a failure per violation, each with its replay
/// command; at depth 2, likewise for every schedule that adds a second fault.
void check_schedule(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                    const explore_options& options = {});
/// The same, with the trace of the clean run `plan` was derived from: a run
/// that leaves that path before its fault fires is `nondeterministic`.
void check_schedule(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                    const explore_options& options, const std::vector<point_hit>& derived_from);

/// `faultscope::gtest_main`'s `--faultscope_replay=TOKEN`: reruns one schedule
/// of a FAULTSCOPE_TEST in this binary (TOKEN as a failure prints it) and
/// prints its timeline and violations, as `faultscope replay` does for the
/// runner's scenarios. 0: no violation, 1: violations, 2: a bad token (one
/// line on `err`). A main of your own can call it, and `set_replay_program`
/// with its argv[0] so that failures print the command.
int replay_main(std::string_view token, std::ostream& out, std::ostream& err);
void set_replay_program(std::string program);

/// With `--gtest_output=xml[:PATH]` or `json[:PATH]`: should the watchdog end
/// this binary (a test blocked its thread), it first writes the report
/// GoogleTest would have written after the last test — the tests that ran, the blocked one
/// failed with the watchdog's line, the rest skipped. `faultscope::gtest_main`
/// calls it after `InitGoogleTest`; a main of your own can, with its argv[0].
void write_report_when_the_watchdog_ends(std::string program);

/// Registers `Suite.Name/clean` and one test per first-level schedule of `fn`
/// (a swarm's plans when `options.swarm` > 0); options that check_options
/// rejects, or a shard_count, register one failing `Suite.Name/options`. A
/// process whose GoogleTest filter leaves out all of these registers none and
/// skips the clean run; a clean run that blocks its thread registers a failing
/// `Suite.Name/clean` alone, and the binary goes on.
int register_exploration(const char* suite, const char* name, const char* file, int line,
                         scenario_fn fn, explore_options options);

MATCHER(HasNoViolations, "has no violation") {
  std::string text = violations_text(arg);
  if (!text.empty()) *result_listener << "violations:\n" << text;
  return text.empty();
}

MATCHER_P(HasViolation, kind, "has a violation of kind " + std::string(to_string(kind))) {
  for (const auto& v : arg.violations)
    if (v.kind == kind) return true;
  *result_listener << "violations:\n" << violations_text(arg);
  return false;
}

}  // namespace faultscope::testing

namespace faultscope {
// How GoogleTest shows a run or an exploration in a failed EXPECT_THAT: its
// outcome in a line (the matchers list the violations), not its bytes; and a
// scenario, as the parameter of a test over the registry, by its name; an
// outcome or a violation kind by its name.
void PrintTo(const run_result& r, std::ostream* os);
void PrintTo(const exploration& e, std::ostream* os);
void PrintTo(const scenario_info& s, std::ostream* os);
void PrintTo(run_end end, std::ostream* os);
void PrintTo(violation_kind kind, std::ostream* os);
}  // namespace faultscope

/// Fails (non-fatally) with every violation of a run_result, exploration or tracker.
#define EXPECT_NO_LEAKS(subject)                                                          \
  do {                                                                                    \
    std::string faultscope_violations_ = ::faultscope::testing::violations_text(subject); \
    EXPECT_TRUE(faultscope_violations_.empty()) << faultscope_violations_;                \
  } while (false)

/// The same, fatally.
#define ASSERT_NO_LEAKS(subject)                                                          \
  do {                                                                                    \
    std::string faultscope_violations_ = ::faultscope::testing::violations_text(subject); \
    ASSERT_TRUE(faultscope_violations_.empty()) << faultscope_violations_;                \
  } while (false)

/// The same, in a coroutine: ends it with `co_return` (see co_assert.hpp).
#define CO_ASSERT_NO_LEAKS(subject)                                                       \
  do {                                                                                    \
    std::string faultscope_violations_ = ::faultscope::testing::violations_text(subject); \
    CO_ASSERT_TRUE(faultscope_violations_.empty()) << faultscope_violations_;             \
  } while (false)

/// Explores the coroutine body (with `ctx`, a faultscope::run_context&, in scope)
/// and registers each schedule as a test: Suite.Name/clean, Suite.Name/<plan>.
#define FAULTSCOPE_TEST_WITH(suite, name, ...)                                                     \
  static ::boost::asio::awaitable<void> faultscope_test_##suite##_##name(                          \
      ::faultscope::run_context& ctx);                                                             \
  [[maybe_unused]] static const int faultscope_test_registered_##suite##_##name =                  \
      ::faultscope::testing::register_exploration(#suite, #name, __FILE__, __LINE__,               \
                                                  &faultscope_test_##suite##_##name, __VA_ARGS__); \
  static ::boost::asio::awaitable<void> faultscope_test_##suite##_##name(                          \
      [[maybe_unused]] ::faultscope::run_context& ctx)

#define FAULTSCOPE_TEST(suite, name) \
  FAULTSCOPE_TEST_WITH(suite, name, ::faultscope::explore_options{})
