// What the scenario files share. Private to the scenario library.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "faultscope/scenarios/library.hpp"

namespace faultscope::scenarios::detail {

/// throw, cancel and timeout.
extern const std::vector<fault> all_kinds;
/// The fakes' closes release first and report an error after (close(2)'s
/// contract), and returning a lease cannot fail: faulting them would only
/// re-test that a throwing release is reported. failing_release_while_unwinding
/// faults them on purpose.
extern const std::vector<std::string> release_points;

// A timeout fault hangs its point until a deadline fires: scenarios explored
// with it run under one, or every timeout schedule would be a (correctly
// reported) hang.
subject_fn under_deadline(subject_fn subject, std::chrono::nanoseconds deadline);

scenario_info make(std::string name, std::vector<std::string> tags, std::string description,
                   subject_fn fn, explore_options options, site where = site::here());

}  // namespace faultscope::scenarios::detail
