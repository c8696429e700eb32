// An exploration's failures as a report shows them: one bug reached from many
// schedules (a leak on the error path every fault takes) is printed once,
// with the plans of the other schedules that failed the same way.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "faultscope/explore.hpp"

namespace faultscope::detail {

/// One failing run of an exploration.
struct failure_ref {
  const fault_plan* plan;     ///< as run; empty for the clean run
  const fault_plan* minimal;  ///< what its replay command uses
  const run_result* run;
};

/// The first failure with these violations, and the later ones whose
/// violations read the same, message for message.
struct failure_group : failure_ref {
  std::vector<failure_ref> same{};  ///< in schedule order
};

/// The clean run (if it failed) and every failing schedule, grouped, in the
/// order of each group's first failure. Pointers into `e`.
[[nodiscard]] std::vector<failure_group> group_failures(const exploration& e);

/// The plans of `same` for one line: the first `shown`, then "and N more".
[[nodiscard]] std::string plan_list(const std::vector<failure_ref>& same, std::size_t shown = 5);

}  // namespace faultscope::detail
