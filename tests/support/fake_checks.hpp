// Checks shared by the fakes' own tests.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace faultscope::test
