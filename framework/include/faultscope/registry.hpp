// The scenario registry: named, tagged scenarios that the runner and the test
// integration find by name. `FAULTSCOPE_SCENARIO` registers one in a few lines,
// `FAULTSCOPE_SCENARIO_WITH` with its exploration options.
//
//   FAULTSCOPE_SCENARIO(nightly_report, "db,slow") {
//     faultscope::fakes::pool pool(ctx.tracker());
//     …
//     co_return;
//   }
//   FAULTSCOPE_SCENARIO_WITH(checkout, "orders", {.kinds = {faultscope::fault::make_throw()}}) {…}
//   FAULTSCOPE_SCENARIO(closes_twice, "canary, double_release") {…}  // must be caught doing that
//   for (auto* s : faultscope::registry::instance().match("db")) …
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faultscope/explore.hpp"
#include "faultscope/run.hpp"
#include "faultscope/site.hpp"
#include "faultscope/violation.hpp"

namespace faultscope {

struct scenario_info {
  std::string name{};  ///< unique; [A-Za-z0-9_.-], no '@'
  /// "canary" marks a scenario that must fail; a canary's tags may name the
  /// violation kinds it plants (see `planted`).
  std::vector<std::string> tags{};
  std::string description{};
  scenario_fn fn{};
  explore_options options{};  ///< depth, kinds, outcome declarations
  faultscope::site where{};

  [[nodiscard]] bool has_tag(std::string_view tag) const;
  /// What a canary plants on purpose: the violation kinds its tags name, as
  /// the JSON report spells them ("double_release", "not_quiescent"); a leak
  /// when they name none. A canary is caught only by a violation of one of
  /// these kinds: one that only hangs or throws has caught nothing.
  [[nodiscard]] std::vector<violation_kind> planted() const;
};

namespace detail {
/// Adds to the registry; what `add` would throw goes to `errors()`.
int register_scenario(const char* name, const char* tags, scenario_fn fn, site where,
                      explore_options options);
}  // namespace detail

class registry {
 public:
  /// The process-wide registry that FAULTSCOPE_SCENARIO adds to.
  static registry& instance();

  /// Adds a scenario; throws std::invalid_argument for an empty, malformed or
  /// duplicate name.
  void add(scenario_info s);
  /// Scenarios whose name matches `filter` ('*' wildcards) or that carry it as
  /// a tag; all of them for an empty filter. In registration order.
  [[nodiscard]] std::vector<const scenario_info*> match(std::string_view filter) const;
  [[nodiscard]] const scenario_info* find(std::string_view name) const;
  [[nodiscard]] const std::vector<scenario_info>& all() const noexcept { return scenarios_; }

  /// Why a FAULTSCOPE_SCENARIO could not be added (a name registered twice),
  /// one line each. Registration runs before main, where a throw would abort
  /// the program; the runner prints these and exits 2 instead.
  [[nodiscard]] const std::vector<std::string>& errors() const noexcept { return errors_; }

  /// The runner this program is, as it was invoked (`faultscope::main` sets
  /// its argv[0]); empty in any other program. Only a runner can replay a
  /// registered scenario by name: `RUNNER replay 'name@plan'`.
  void set_runner(std::string program) { runner_ = std::move(program); }
  [[nodiscard]] const std::string& runner() const noexcept { return runner_; }
  /// That command for one schedule: `RUNNER replay 'name@plan'` (`faultscope`
  /// when no runner is set).
  [[nodiscard]] std::string replay_command(std::string_view scenario, const fault_plan& plan) const;

 private:
  friend int detail::register_scenario(const char*, const char*, scenario_fn, site,
                                       explore_options);
  std::vector<scenario_info> scenarios_;
  std::vector<std::string> errors_;
  std::string runner_;
};

namespace detail {
/// "a,b , c" → {"a", "b", "c"}
[[nodiscard]] std::vector<std::string> split_tags(std::string_view tags);
int register_scenario(const char* name, const char* tags, scenario_fn fn, site where);
}  // namespace detail

}  // namespace faultscope

/// Registers a scenario: a coroutine body with `ctx` (a faultscope::run_context&)
/// in scope. An optional second argument lists tags: "db,slow".
#define FAULTSCOPE_SCENARIO(name, ...)                                                            \
  static ::boost::asio::awaitable<void> faultscope_scenario_##name(                               \
      ::faultscope::run_context& ctx);                                                            \
  [[maybe_unused]] static const int faultscope_scenario_registered_##name =                       \
      ::faultscope::detail::register_scenario(#name, "" __VA_ARGS__, &faultscope_scenario_##name, \
                                              ::faultscope::site::here());                        \
  static ::boost::asio::awaitable<void> faultscope_scenario_##name(                               \
      [[maybe_unused]] ::faultscope::run_context& ctx)

/// The same with exploration options (an `explore_options`, braces allowed):
/// FAULTSCOPE_SCENARIO_WITH(checkout, "orders", {.depth = 2}) { … }
#define FAULTSCOPE_SCENARIO_WITH(name, tags, ...)                                       \
  static ::boost::asio::awaitable<void> faultscope_scenario_##name(                     \
      ::faultscope::run_context& ctx);                                                  \
  [[maybe_unused]] static const int faultscope_scenario_registered_##name =             \
      ::faultscope::detail::register_scenario(#name, tags, &faultscope_scenario_##name, \
                                              ::faultscope::site::here(), __VA_ARGS__); \
  static ::boost::asio::awaitable<void> faultscope_scenario_##name(                     \
      [[maybe_unused]] ::faultscope::run_context& ctx)
