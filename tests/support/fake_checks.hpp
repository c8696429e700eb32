// Checks shared by the fakes' own tests.
#pragma once

#include <gtest/gtest.h>

#include "faultscope/explore.hpp"

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

inline bool has(const run_result& r, violation_kind k) {
  for (const auto& v : r.violations)
    if (v.kind == k) return true;
  return false;
}

inline bool any_failure_has(const exploration& ex, violation_kind k) {
  for (const auto& f : ex.failures)
    if (has(f.run, k)) return true;
  return false;
}

/// Throw, cancel and timeout: timeout needs a deadline around the subject.
inline explore_options all_kinds() {
  return {.kinds = {fault::make_throw(), fault::make_cancel(), fault::make_timeout()}};
}

}  // namespace faultscope::test
