// What a runner whose schedule blocked its thread hands on to the process it
// starts in its place (the same program, with `--continue-from FILE`): the
// scenarios it finished, with what their reports need, and every schedule that
// blocked, which the new process reports without running. Internal to the runner.
//
//   std::string text = cli::to_text({results, blocked});
//   cli::continuation c = cli::from_text(text);   // in the new process
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "faultscope/detail/watchdog.hpp"
#include "report.hpp"

namespace faultscope::cli {

struct continuation {
  std::vector<result> finished;  ///< in the order explored
  std::vector<detail::blocked_schedule> blocked;
  /// Wall time earlier processes spent on the first scenario not finished (the
  /// one that blocked): its report counts it.
  std::chrono::nanoseconds spent{};
};

/// Thrown by `from_text`: one line saying where the text stops making sense.
class continuation_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Every field the reports read (a run's timeline, trace and violations; its
/// exception object and the sites of its events are left out).
[[nodiscard]] std::string to_text(const continuation& c);
/// The reverse; a finished scenario is looked up by name in the registry.
[[nodiscard]] continuation from_text(std::string_view text);

}  // namespace faultscope::cli
