// Checks shared by the fakes' own tests.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "faultscope/explore.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/with_timeout.hpp"

namespace faultscope::test {

/// The fake never leaks: across every schedule, the only violations allowed are
/// the ones the framework must report when a fault is injected into a release:
/// a close that reports an error after releasing, or one that hangs past the
/// cleanup deadline.
inline void expect_fake_never_leaks(const exploration& ex) {
  EXPECT_TRUE(ex.clean.passed()) << ex.clean.describe();
  for (const auto& f : ex.failures) {
    bool at_release = false;
    for (const auto& h : f.run.trace)
      if (!h.fired.empty() && (h.point.ends_with(".close") || h.point == "pool.release"))
        at_release = true;
    for (const auto& v : f.run.violations)
      EXPECT_TRUE(at_release && (v.kind == violation_kind::release_failed ||
                                 v.kind == violation_kind::release_timeout))
          << f.plan.to_string() << ": " << v.message;
  }
  EXPECT_GT(ex.schedules_run, 0u);
}

inline bool any_failure_has(const exploration& ex, violation_kind k) {
  for (const auto& f : ex.failures)
    if (::testing::Value(f.run, testing::HasViolation(k))) return true;
  return false;
}

/// Throw, cancel and timeout: timeout needs a deadline around the subject.
inline explore_options all_kinds() {
  return {.kinds = {fault::make_throw(), fault::make_cancel(), fault::make_timeout()}};
}

/// A subject that releases only when nothing fails must be reported under each
/// of throw, cancel and timeout (the last through a deadline around it).
inline void expect_misuse_caught_under_every_kind(const std::string& name, scenario_fn subject) {
  auto under_deadline = [subject](run_context& ctx) -> boost::asio::awaitable<void> {
    co_await with_timeout(std::chrono::seconds(10), subject(ctx));
  };
  auto ex = explore(name, under_deadline, all_kinds());
  for (std::string kind : {"=throw", "=cancel", "=timeout"}) {
    bool caught = false;
    for (const auto& f : ex.failures)
      if (f.plan.to_string().find(kind) != std::string::npos &&
          ::testing::Value(f.run, testing::HasViolation(violation_kind::leak)))
        caught = true;
    EXPECT_TRUE(caught) << name << ": no leak reported under a" << kind.substr(1) << " fault\n"
                        << ex.summary();
  }
}

/// A misuse is reported at the caller's lines, not the fake's: the only
/// violation of `r` is `name` (`file #1 "x"`) `verb` ("released again", "used")
/// at line `at` of `file` after its release at line `released`.
inline void expect_misuse_at(const run_result& r, violation_kind kind, std::string_view name,
                             std::string_view verb, std::string_view file, std::uint32_t at,
                             std::uint32_t released) {
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  const auto& v = r.violations[0];
  EXPECT_EQ(v.kind, kind) << v.message;
  EXPECT_EQ(v.file, file) << v.message;
  EXPECT_EQ(v.line, at) << v.message;
  EXPECT_THAT(v.message, ::testing::HasSubstr(
                             fmt::format("{} {} at {}:{} after its release (released at {}:{})",
                                         name, verb, file, at, file, released)));
}

}  // namespace faultscope::test
