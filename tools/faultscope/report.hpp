// The runner's reports of an exploration: text (for a terminal or a log), JSON,
// JUnit XML (for CI) and a self-contained HTML page. Internal to the runner.
//
//   std::vector<cli::result> results{{&scenario, explore(name, fn, options)}};
//   std::cout << cli::text_report(results, /*colour=*/false);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "faultscope/explore.hpp"
#include "faultscope/registry.hpp"

namespace faultscope::cli {

inline constexpr std::string_view version = "0.1.0";

/// One scenario explored.
struct result {
  const scenario_info* scenario;
  exploration report;
  /// What a replay needs beyond the token, as the run was asked for it (" --check-fds").
  std::string replay_flags{};
  [[nodiscard]] bool canary() const { return scenario->has_tag("canary"); }
  /// Some schedule reported a violation of a kind the scenario plants.
  [[nodiscard]] bool caught() const;
  /// A canary passes when it is caught.
  [[nodiscard]] bool ok() const { return canary() ? caught() : report.passed(); }
};

/// The kinds a canary plants, for people, in the order of `violation_kind`:
/// "leak", "leak or double release".
[[nodiscard]] std::string planted_text(const scenario_info& s);

/// `text` in the colour of an SGR `code` (as "31;1"), or plain.
[[nodiscard]] std::string paint(std::string_view text, std::string_view code, bool colour);

/// Scenarios chosen but never explored: the runner ended first, at a schedule
/// that blocked its thread. Every report names them, so none passes unseen.
using not_run_list = std::vector<const scenario_info*>;

/// A line per scenario, then each failing schedule: its plan, violations and
/// the replay command; a summary line.
[[nodiscard]] std::string text_report(const std::vector<result>& results, bool colour,
                                      const not_run_list& not_run = {});
/// The keys the README lists as stable.
[[nodiscard]] std::string json_report(const std::vector<result>& results,
                                      const not_run_list& not_run = {});
/// A testsuite per scenario, a testcase per schedule; a skipped one per scenario not run.
[[nodiscard]] std::string junit_report(const std::vector<result>& results,
                                       const not_run_list& not_run = {});
/// Per failing run: violations, replay command and an SVG timeline of resources.
[[nodiscard]] std::string html_report(const std::vector<result>& results,
                                      const not_run_list& not_run = {});
/// GitHub Actions workflow commands: an `::error` per distinct violation,
/// listing every schedule that reported it, on the line it points at, which
/// GitHub shows as an annotation there; past the ten GitHub shows, a warning
/// counts the rest. A file under `workspace` ($GITHUB_WORKSPACE) is named
/// relative to it, as GitHub wants.
[[nodiscard]] std::string github_annotations(const std::vector<result>& results,
                                             const not_run_list& not_run = {},
                                             std::string_view workspace = {});

}  // namespace faultscope::cli
