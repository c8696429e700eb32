// CO_ASSERT_*: each records GoogleTest's fatal failure with GoogleTest's
// message and ends its coroutine there — a canary per macro proves it stops —
// and holds silently when its condition holds. (CO_ASSERT_NO_FATAL_FAILURE
// reads the test's own result, which a failure intercepted here never reaches:
// canary_test proves it stops a caller.)
#include "faultscope/testing/co_assert.hpp"

#include <gtest/gtest-spi.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/with_resource.hpp"

using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::testing::HasNoViolations;

namespace {

// Set by a coroutine when it gets past its assertion.
bool reached = false;

// The failures `fn`'s run reported to GoogleTest, kept from the listeners (so
// they fail neither this test nor the run).
std::vector<::testing::TestPartResult> failures_of(const faultscope::scenario_fn& fn,
                                                   const faultscope::run_options& options = {}) {
  ::testing::TestPartResultArray failures;
  reached = false;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &failures);
    auto r = faultscope::run(fn, options);
    EXPECT_THAT(r, HasNoViolations());
  }
  std::vector<::testing::TestPartResult> out;
  for (int i = 0; i < failures.size(); ++i) out.push_back(failures.GetTestPartResult(i));
  return out;
}

awaitable<void> a_helper_that_holds() {
  CO_ASSERT_TRUE(true);
}

awaitable<void> every_assertion_holds(run_context&) {
  const int rows = 1;
  const std::string name = "ada";
  CO_ASSERT_TRUE(rows == 1);
  CO_ASSERT_FALSE(rows == 2);
  CO_ASSERT_EQ(rows, 1);
  CO_ASSERT_NE(rows, 2);
  CO_ASSERT_LE(rows, 1);
  CO_ASSERT_LT(rows, 2);
  CO_ASSERT_GE(rows, 1);
  CO_ASSERT_GT(rows, 0);
  CO_ASSERT_STREQ(name.c_str(), "ada");
  CO_ASSERT_STRNE(name.c_str(), "bob");
  CO_ASSERT_THAT(name, ::testing::StartsWith("a"));
  CO_ASSERT_THROW(throw std::runtime_error("x"), std::runtime_error);
  CO_ASSERT_NO_THROW((void)rows);
  CO_ASSERT_ANY_THROW(throw 1);
  faultscope::tracker balanced;
  CO_ASSERT_NO_LEAKS(balanced);
  CO_ASSERT_NO_FATAL_FAILURE(co_await a_helper_that_holds());
  reached = true;
}

TEST(CoAssert, EveryAssertionThatHoldsLetsTheCoroutineGoOn) {
  EXPECT_EQ(failures_of(every_assertion_holds).size(), 0u);
  EXPECT_TRUE(reached);
}

struct failing_case {
  const char* name;
  faultscope::scenario_fn fn;
  const char* message;  // part of GoogleTest's message for it
};

std::vector<failing_case> failing_cases() {
  static const int rows = 2;
  static const std::string name = "ada";
  // clang-format off
  return {
      {"True", [](run_context&) -> awaitable<void> { CO_ASSERT_TRUE(rows == 1) << "one row"; reached = true; },
       "Value of: rows == 1"},
      {"False", [](run_context&) -> awaitable<void> { CO_ASSERT_FALSE(rows == 2); reached = true; },
       "Value of: rows == 2"},
      {"Eq", [](run_context&) -> awaitable<void> { CO_ASSERT_EQ(rows, 1); reached = true; },
       "Expected equality of these values"},
      {"Ne", [](run_context&) -> awaitable<void> { CO_ASSERT_NE(rows, 2); reached = true; },
       "Expected: (rows) != (2)"},
      {"Le", [](run_context&) -> awaitable<void> { CO_ASSERT_LE(rows, 1); reached = true; },
       "Expected: (rows) <= (1)"},
      {"Lt", [](run_context&) -> awaitable<void> { CO_ASSERT_LT(rows, 2); reached = true; },
       "Expected: (rows) < (2)"},
      {"Ge", [](run_context&) -> awaitable<void> { CO_ASSERT_GE(rows, 3); reached = true; },
       "Expected: (rows) >= (3)"},
      {"Gt", [](run_context&) -> awaitable<void> { CO_ASSERT_GT(rows, 2); reached = true; },
       "Expected: (rows) > (2)"},
      {"Streq", [](run_context&) -> awaitable<void> { CO_ASSERT_STREQ(name.c_str(), "bob"); reached = true; },
       "Expected equality of these values"},
      {"Strne", [](run_context&) -> awaitable<void> { CO_ASSERT_STRNE(name.c_str(), "ada"); reached = true; },
       "Expected: (name.c_str()) != (\"ada\")"},
      {"That", [](run_context&) -> awaitable<void> { CO_ASSERT_THAT(name, ::testing::StartsWith("b")); reached = true; },
       "Value of: name"},
      {"Throw", [](run_context&) -> awaitable<void> { CO_ASSERT_THROW((void)rows, std::runtime_error); reached = true; },
       "Actual: it throws nothing"},
      {"NoThrow", [](run_context&) -> awaitable<void> { CO_ASSERT_NO_THROW(throw std::runtime_error("boom")); reached = true; },
       "Actual: it throws std::runtime_error with description \"boom\""},
      {"AnyThrow", [](run_context&) -> awaitable<void> { CO_ASSERT_ANY_THROW((void)rows); reached = true; },
       "Actual: it doesn't"},
      {"Fail", [](run_context&) -> awaitable<void> { CO_FAIL() << "gave up"; reached = true; },
       "gave up"},
      {"NoLeaks", [](run_context&) -> awaitable<void> {
         faultscope::tracker t;
         (void)t.acquire("socket", "planted");
         CO_ASSERT_NO_LEAKS(t);
         reached = true;
       },
       "leak: socket #1 \"planted\""},
  };
  // clang-format on
}

void PrintTo(const failing_case& c, std::ostream* os) {
  *os << "CO_ASSERT " << c.name;
}

class CoAssertFailing : public ::testing::TestWithParam<failing_case> {};

TEST_P(CoAssertFailing, CanaryRecordsAFatalFailureAndEndsTheCoroutine) {
  const auto failures = failures_of(GetParam().fn);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(failures[0].fatally_failed());
  EXPECT_THAT(failures[0].message(), ::testing::HasSubstr(GetParam().message));
  EXPECT_FALSE(reached) << "the coroutine went on past its failed assertion";
}

INSTANTIATE_TEST_SUITE_P(EveryMacro, CoAssertFailing, ::testing::ValuesIn(failing_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CoAssert, TheMessageStreamedAfterItIsPartOfTheFailure) {
  const auto failures = failures_of(failing_cases()[0].fn);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0].message(), ::testing::HasSubstr("one row"));
}

// Ends the body of a scope, not the code that awaits it — as ASSERT_* in a
// helper function ends the helper — and the scope's release still runs.
bool after_scope = false;
awaitable<void> fails_inside_a_scope(run_context& ctx) {
  after_scope = false;
  co_await faultscope::with_resource(
      [&ctx]() -> awaitable<faultscope::resource_id> { co_return ctx.tracker().acquire("conn"); },
      [](faultscope::resource_id&) -> awaitable<void> {
        CO_ASSERT_EQ(1, 2);
        reached = true;
      },
      [&ctx](faultscope::resource_id& id) -> awaitable<void> {
        ctx.tracker().release(id);
        co_return;
      });
  after_scope = true;
}

TEST(CoAssert, CanaryAFailureInAScopesBodyEndsTheBodyAndTheScopeStillReleases) {
  EXPECT_EQ(failures_of(fails_inside_a_scope).size(), 1u);  // and the run has no leak
  EXPECT_FALSE(reached);
  EXPECT_TRUE(after_scope);
}

awaitable<void> expects_a_fault(run_context&) {
  CO_ASSERT_THROW(co_await faultscope::fault_point("db.query"), faultscope::injected_fault);
  reached = true;
}

TEST(CoAssert, AThrowAssertionMayAwaitItsStatement) {
  faultscope::run_options faulted;
  faulted.plan = faultscope::fault_plan::parse("db.query#1=throw");
  EXPECT_EQ(failures_of(expects_a_fault, faulted).size(), 0u);
  EXPECT_TRUE(reached);
  const auto failures = failures_of(expects_a_fault);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0].message(),
              ::testing::HasSubstr("co_await faultscope::fault_point(\"db.query\")"));
  EXPECT_FALSE(reached);
}

}  // namespace
