// GoogleTest's fatal assertions for coroutines. `ASSERT_*` ends the function
// with a `return`, which a coroutine cannot contain; `CO_ASSERT_*` records the
// same fatal failure with the same message and ends the coroutine with
// `co_return`, so its scopes and guards clean up as on any other exit.
//
//   FAULTSCOPE_TEST(Orders, Save) {
//     const bool saved = co_await save(order);
//     CO_ASSERT_TRUE(saved) << "the order was lost";  // a failure ends the body here
//     const int count = co_await count_orders();
//     CO_ASSERT_EQ(count, 1);
//   }
//
// Like ASSERT_* in a helper function, a CO_ASSERT_* in a coroutine that another
// awaits ends only that coroutine; `CO_ASSERT_NO_FATAL_FAILURE(co_await
// helper())` ends the caller too, as ASSERT_NO_FATAL_FAILURE does. They work in
// coroutines returning `awaitable<void>`. Built on GoogleTest 1.12's own
// assertion machinery (its GTEST_*_ macros), so the messages are GoogleTest's.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace faultscope::detail {
/// The fatal failures the running test has recorded (0 outside a test). Counted
/// in its result, not by a reporter installed for the statement as
/// ASSERT_NO_FATAL_FAILURE does: that one is per thread and would have to stay
/// installed across the statement's suspensions, while other coroutines run.
inline int fatal_failures() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const ::testing::TestResult* result = info != nullptr ? info->result() : nullptr;
  int n = 0;
  for (int i = 0; result != nullptr && i < result->total_part_count(); ++i)
    n += result->GetTestPartResult(i).fatally_failed() ? 1 : 0;
  return n;
}
}  // namespace faultscope::detail

/// GoogleTest's GTEST_FATAL_FAILURE_, with `co_return` for its `return`.
#define FAULTSCOPE_CO_FATAL_FAILURE_(message) \
  co_return GTEST_MESSAGE_(message, ::testing::TestPartResult::kFatalFailure)

#define CO_FAIL() FAULTSCOPE_CO_FATAL_FAILURE_("Failed")

#define CO_ASSERT_TRUE(condition) \
  GTEST_TEST_BOOLEAN_(condition, #condition, false, true, FAULTSCOPE_CO_FATAL_FAILURE_)
#define CO_ASSERT_FALSE(condition) \
  GTEST_TEST_BOOLEAN_(!(condition), #condition, true, false, FAULTSCOPE_CO_FATAL_FAILURE_)

#define FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(pred_format, v1, v2) \
  GTEST_PRED_FORMAT2_(pred_format, v1, v2, FAULTSCOPE_CO_FATAL_FAILURE_)
#define CO_ASSERT_EQ(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::EqHelper::Compare, val1, val2)
#define CO_ASSERT_NE(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperNE, val1, val2)
#define CO_ASSERT_LE(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperLE, val1, val2)
#define CO_ASSERT_LT(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperLT, val1, val2)
#define CO_ASSERT_GE(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperGE, val1, val2)
#define CO_ASSERT_GT(val1, val2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperGT, val1, val2)
#define CO_ASSERT_STREQ(s1, s2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperSTREQ, s1, s2)
#define CO_ASSERT_STRNE(s1, s2) \
  FAULTSCOPE_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperSTRNE, s1, s2)

#define CO_ASSERT_THAT(value, matcher)                                                        \
  GTEST_PRED_FORMAT1_(::testing::internal::MakePredicateFormatterFromMatcher(matcher), value, \
                      FAULTSCOPE_CO_FATAL_FAILURE_)

/// `statement` may `co_await`: CO_ASSERT_THROW(co_await pool.acquire(),
/// faultscope::injected_fault).
#define CO_ASSERT_THROW(statement, expected_exception) \
  GTEST_TEST_THROW_(statement, expected_exception, FAULTSCOPE_CO_FATAL_FAILURE_)
#define CO_ASSERT_NO_THROW(statement) GTEST_TEST_NO_THROW_(statement, FAULTSCOPE_CO_FATAL_FAILURE_)
#define CO_ASSERT_ANY_THROW(statement) \
  GTEST_TEST_ANY_THROW_(statement, FAULTSCOPE_CO_FATAL_FAILURE_)

/// Ends the coroutine if `expression` (usually `co_await helper()`) added a
/// fatal failure to the running test: a CO_ASSERT_* that ended the helper.
#define CO_ASSERT_NO_FATAL_FAILURE(expression)                                                  \
  GTEST_AMBIGUOUS_ELSE_BLOCKER_                                                                 \
  if (const int faultscope_fatal_before_ = ::faultscope::detail::fatal_failures();              \
      ((void)(expression), ::faultscope::detail::fatal_failures() == faultscope_fatal_before_)) \
    ;                                                                                           \
  else                                                                                          \
    FAULTSCOPE_CO_FATAL_FAILURE_("Expected: " #expression                                       \
                                 " doesn't generate new fatal failures.\n  Actual: it does.")
