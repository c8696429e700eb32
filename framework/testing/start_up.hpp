// What a FAULTSCOPE_TEST does when the test binary starts: one clean run of its
// body, whose schedules become the body's tests. Machinery of gtest.cpp, in a
// header of its own so that its tests can reach it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "faultscope/run.hpp"

namespace faultscope::testing::start_up {

/// Could GoogleTest's filter (`--gtest_filter`'s syntax: `POSITIVE[-NEGATIVE]`,
/// `:`-separated patterns with `*` and `?`) select some test whose full name
/// starts with `prefix`? Negative patterns are not weighed: a yes may be wrong,
/// a no never is.
[[nodiscard]] bool filter_could_match(std::string_view filter, std::string_view prefix);

/// Does this process need the start-up run of the FAULTSCOPE_TEST `suite.name`?
/// Not when the filter it was started with (`--gtest_filter=`, else
/// `GTEST_FILTER`) leaves out every test of that body, as CTest's one-test
/// processes do, nor when it was started to replay a schedule
/// (`--faultscope_replay`).
[[nodiscard]] bool run_needed(std::string_view suite, std::string_view name);

/// A clean run on a thread of its own. `blocked` holds the watchdog's line
/// when that run blocked its thread, which is then left behind, instead of
/// the run ending the process; `result` is the run's otherwise.
///
/// A run still going after `notice_after` gets a line on standard error
/// saying when it will be given up on if it is blocked, so that a listing cut
/// off before then (CMake's test discovery gives it 5 s) shows why.
struct outcome {
  run_result result;
  std::optional<std::string> blocked;
};
[[nodiscard]] outcome run_clean(const std::string& label, const scenario_fn& fn,
                                const run_options& options,
                                std::chrono::nanoseconds notice_after = std::chrono::seconds(2));

}  // namespace faultscope::testing::start_up
