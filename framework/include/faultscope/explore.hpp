// Exploration: SQLite's torture loop for async code. A clean run records every
// fault point the scenario passes; then one run per (hit, fault kind); at depth 2
// also a second fault at every point reached after the first — above all inside
// the first one's cleanup. Every failure carries a one-line replay token.
//
//   auto report = faultscope::explore("get_all_users", scenario, {.depth = 2, .jobs = 2});
//   if (!report.passed()) std::cout << report.summary();
//   // FAIL pool.acquire#3=cancel
//   //   leak: connection #1 "db" acquired at app/db.cpp:42 in get_all_users › get_connection, …
//   //   replay: faultscope replay 'get_all_users@pool.acquire#3=cancel'
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faultscope/fault_plan.hpp"
#include "faultscope/run.hpp"

namespace faultscope {

/// What a scenario accepts when a fault is injected at a point.
enum class expected_outcome : std::uint8_t {
  any,         ///< no declaration: only leaks, hangs and the like are violations
  propagates,  ///< the error must reach the root: a run that ends ok swallowed it
  absorbed,    ///< the scenario handles it: the run must end ok
  retried,     ///< the run must end ok, after passing the same point again
};
[[nodiscard]] std::string_view to_string(expected_outcome o) noexcept;

/// `pattern` ('*' wildcards) selects points; the first matching rule applies.
/// Declarations apply to throw, error and timeout faults; a cancellation is the
/// caller's decision, and a delay is not a failure.
struct outcome_rule {
  std::string pattern;
  expected_outcome outcome = expected_outcome::any;
};

struct explore_options {
  int depth = 1;  ///< 1: one fault per run; 2: a second after the first
  std::vector<fault> kinds = {fault::make_throw(), fault::make_cancel()};
  std::size_t swarm = 0;  ///< if > 0: this many seeded random plans instead of enumeration
  std::uint64_t seed = 1;
  unsigned jobs = 1;  ///< threads; the report is the same for any number (1 with run.check_fds)
  std::size_t shard_index = 0;
  std::size_t shard_count = 1;  ///< schedule i belongs to shard i % shard_count
  std::vector<outcome_rule> expect{};
  /// Points ('*' wildcards) never to fault — e.g. a release known never to fail,
  /// since a throwing release is always reported.
  std::vector<std::string> skip{};
  /// If not empty, only points matching one of these patterns are faulted
  /// (an out-of-memory sweep: {"sqlite.malloc"}).
  std::vector<std::string> only{};
  /// Narrows `only` further: if not empty, a point must also match one of
  /// these. The runner's `--only` sets it, so a command line can focus a
  /// scenario but never widen one that faults only some points (an
  /// out-of-memory sweep stays one).
  std::vector<std::string> focus{};
  /// Points ('*' wildcards) left out on top of `skip`; the runner's `--skip`
  /// sets it. Like `focus`, a narrowing from outside the scenario: what these
  /// two take away never makes the clean run `nothing_explored`.
  std::vector<std::string> focus_skip{};
  /// Each single fault fires at its hit and at every later one (`point#N+`):
  /// a persistent failure (a full disk) instead of a transient one.
  bool persistent = false;
  /// Violation kinds this scenario provokes on purpose and accepts — e.g.
  /// release_failed where releases are made to fail and only leaks matter.
  std::vector<violation_kind> accept{};
  std::size_t max_schedules = 100000;
  bool shrink = true;  ///< shrink failing multi-fault plans to a minimal one
  run_options run{};   ///< for every run; its plan is ignored
  /// Called after each schedule with the schedules run so far and the number
  /// known so far (a depth-2 space grows once level 1 is done). Calls never
  /// overlap, though with jobs > 1 they come from the exploring threads.
  std::function<void(std::size_t done, std::size_t known)> progress{};
};

struct schedule_result {
  std::size_t index = 0;  ///< position in the schedule space
  fault_plan plan;        ///< as run
  fault_plan minimal;     ///< shrunk (equal to `plan` when it has one rule)
  run_result run;         ///< its violations include outcome violations
};

struct exploration {
  std::string scenario;
  run_result clean;                       ///< the run without faults
  std::size_t points = 0;                 ///< distinct fault points in the clean run
  std::size_t hits = 0;                   ///< passes through them in the clean run
  std::size_t total_schedules = 0;        ///< in the whole space (all shards)
  std::size_t schedules_run = 0;          ///< by this shard, the clean run not counted
  bool truncated = false;                 ///< max_schedules cut the space
  std::vector<schedule_result> failures;  ///< in schedule order
  std::vector<std::string> ran;           ///< plan tokens this shard ran, in schedule order
  std::chrono::nanoseconds wall{};

  [[nodiscard]] bool passed() const noexcept { return clean.passed() && failures.empty(); }
  /// Per failure: the plan, every violation, the replay command; a later
  /// failure whose violations read the same gets one line with its plan
  /// (`failures` keeps each).
  [[nodiscard]] std::string summary() const;
};

/// Adds an outcome violation to `r` if the first throw, error or timeout fault
/// that fired there ended the run in a way `expect` does not accept.
void apply_outcome_rules(run_result& r, const std::vector<outcome_rule>& expect);

/// The depth-1 schedule space of a clean run: one single-fault plan per
/// (hit, kind), in trace order, minus skipped points. Exploration and
/// FAULTSCOPE_TEST both enumerate it here.
[[nodiscard]] std::vector<fault_plan> single_fault_plans(const run_result& clean,
                                                         const explore_options& options);

/// The first level of the schedule space: the swarm's seeded plans when
/// `options.swarm` > 0, else single_fault_plans.
[[nodiscard]] std::vector<fault_plan> first_level_plans(const run_result& clean,
                                                        const explore_options& options);

/// Depth 2 below one first-level plan: `first` plus a second fault at each hit
/// its run (`first_run`) reached after the first fault fired, in trace order.
[[nodiscard]] std::vector<fault_plan> second_fault_plans(const fault_plan& first,
                                                         const run_result& first_run,
                                                         const explore_options& options);

/// Throws std::invalid_argument, naming `scenario`, for options that would
/// explore something other than what they ask: a depth other than 1 or 2, no
/// fault kinds, a shard index not below the shard count.
void check_options(std::string_view scenario, const explore_options& options);

/// True if `options.skip`, `options.only`, `options.focus` or
/// `options.focus_skip` excludes `point` from the schedule space.
[[nodiscard]] bool skipped(const explore_options& options, std::string_view point);

/// A `nothing_explored` violation when the scenario's own options leave no
/// point of its run without faults (`clean`, which ended ok) to fault: no
/// schedule would inject anything, and a pass would prove nothing. Points
/// taken away by `focus` and `focus_skip` do not count against the scenario.
/// None when `options.accept` holds `nothing_explored`. explore() adds it to
/// its clean run, replay_schedule to a replay of that run, FAULTSCOPE_TEST to
/// its `clean` test.
[[nodiscard]] std::optional<violation> explored_nothing(const run_result& clean,
                                                        const explore_options& options);

/// "name@plan": what `faultscope replay` takes.
[[nodiscard]] std::string replay_token(std::string_view scenario, const fault_plan& plan);
/// Splits a replay token at its first '@'; throws `plan_error` if malformed.
[[nodiscard]] std::pair<std::string, fault_plan> parse_replay_token(std::string_view token);

/// Throws as check_options does; an exception from `options.progress` stops
/// the exploration (every thread) and reaches the caller.
[[nodiscard]] exploration explore(std::string_view name, const scenario_fn& scenario,
                                  const explore_options& options = {});

/// One schedule exactly as an exploration runs it: under `plan`, with the
/// options' run settings, outcome declarations and accepted violation kinds.
/// With no rule (the clean run), ending other than ok or hung is an outcome
/// violation. Deterministic: the same violations at the same virtual
/// timestamps every time.
[[nodiscard]] run_result run_schedule(const scenario_fn& scenario, const fault_plan& plan,
                                      const explore_options& options);
/// The same for a plan derived from another run (`derived_from`, its trace:
/// the clean run's for a first-level plan, the first fault's run for a second
/// fault): until the plan's new fault fires, the run must retrace that path hit
/// for hit, or it is a `nondeterministic` violation — something besides the
/// plan steers the scenario, so the schedule tested another path.
[[nodiscard]] run_result run_schedule(const scenario_fn& scenario, const fault_plan& plan,
                                      const explore_options& options,
                                      const std::vector<point_hit>& derived_from);

/// A schedule as `faultscope replay` replays it: first the run `plan` extends
/// (`plan` without its last rule; the clean run for one rule), then `plan`
/// against that run's path (run_schedule with `derived_from`). A scenario
/// that leaves the path, so replays something other than what failed, gets
/// a `nondeterministic` violation instead of a quiet pass. Two runs.
[[nodiscard]] run_result replay_schedule(const scenario_fn& scenario, const fault_plan& plan,
                                         const explore_options& options);

/// replay_schedule with no declarations: `options` for both runs.
[[nodiscard]] run_result replay(const scenario_fn& scenario, const fault_plan& plan,
                                const run_options& options = {});

/// What `faultscope replay` prints for one schedule's run: how it ended, its
/// timeline with virtual timestamps, its violations, and a note for each rule
/// of `plan` that fired nowhere (so replayed nothing).
[[nodiscard]] std::string replay_report(std::string_view scenario, const fault_plan& plan,
                                        const run_result& run);

/// Removes rules from a failing plan while it still fails the same way (the
/// same kinds of violation), until none can go.
[[nodiscard]] fault_plan shrink(const scenario_fn& scenario, const fault_plan& failing,
                                const explore_options& options = {});
/// The same, given the failing run already made, which it then need not repeat.
[[nodiscard]] fault_plan shrink(const scenario_fn& scenario, const fault_plan& failing,
                                const explore_options& options, const run_result& failed);

}  // namespace faultscope
