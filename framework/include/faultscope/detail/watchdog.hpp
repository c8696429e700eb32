// Machinery behind the one hang a run cannot report itself: a call inside the
// scenario that blocks the run's thread (std::future::get, a lock, a sleep), so
// the run never gets back to its event loop. A process-wide thread watches every
// run's deadline; past it, the process prints what blocked and exits, since a
// blocked thread cannot be interrupted. Not part of the public API.
//
//   detail::run_label_scope label("sqlite.transfer");         // names the runs below
//   detail::watched_run watch(plan, started, deadline);       // in run(): until destroyed
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "faultscope/fault_plan.hpp"
#include "faultscope/run.hpp"

namespace faultscope::detail {

/// What this thread's runs are called in a watchdog's message (a scenario's
/// name), while the scope lives; the name must outlive it.
class run_label_scope {
 public:
  explicit run_label_scope(std::string_view label) noexcept;
  ~run_label_scope();
  run_label_scope(const run_label_scope&) = delete;
  run_label_scope& operator=(const run_label_scope&) = delete;

 private:
  std::string_view previous_;
};
[[nodiscard]] std::string_view current_run_label() noexcept;

/// Called on the watchdog's thread after it printed its line and before it
/// ends the process, with the blocked run's label and plan and that line: a
/// runner writes the report of what it finished, so CI keeps it. An empty
/// function removes it.
using last_words =
    std::function<void(std::string_view label, const fault_plan& plan, const std::string& line)>;
void set_last_words(last_words f);

/// Registers `cleanup` to run on the watchdog's thread when it ends the
/// process, before last words: to remove what would outlive the process, such
/// as a run's scratch files, since no destructor runs. It must not wait for
/// the blocked thread.
void at_watchdog_exit(void (*cleanup)() noexcept);

/// While it lives, a run on this thread that blocks does not end the process:
/// the watchdog calls `f` with its line instead (on the watchdog's thread) and
/// forgets the run, whose thread stays blocked. FAULTSCOPE_TEST runs each
/// body's clean run under one as a test binary starts, where ending the
/// process would take every other test of the binary with it.
class on_block_scope {
 public:
  explicit on_block_scope(std::function<void(const std::string& line)> f);
  ~on_block_scope();
  on_block_scope(const on_block_scope&) = delete;
  on_block_scope& operator=(const on_block_scope&) = delete;

 private:
  std::function<void(const std::string&)> f_;
  const std::function<void(const std::string&)>* previous_;
};

/// How far past its wall limit and its wait for foreign operations a run may
/// hold its thread before the watchdog gives up on it: the wall limit itself,
/// between 1 and 10 s, since a busy run ends only at its next look at the clock.
[[nodiscard]] std::chrono::nanoseconds block_margin(const run_options& options);
/// How long after it started a run that holds its thread is given up on.
[[nodiscard]] std::chrono::nanoseconds block_limit(const run_options& options);

/// How a run that blocked its thread is reported, with the watchdog's `line`.
[[nodiscard]] run_result blocked_run(std::string_view line);

/// A schedule that blocked its thread in an earlier process of this program:
/// the runner goes on past one by starting itself again, and that process must
/// not run the schedule a second time.
struct blocked_schedule {
  std::string label;  ///< the scenario
  std::string plan;   ///< `fault_plan::to_string()`
  std::string line;   ///< what the watchdog said of it
};
/// Set before exploring, read by every schedule explored after (never while one runs).
void set_blocked_schedules(std::vector<blocked_schedule> blocked);
/// The watchdog's line for `plan` under this thread's run label, if that
/// schedule blocked in an earlier process; then it is reported, not run.
[[nodiscard]] const std::string* blocked_before(const fault_plan& plan);

/// A run under watch until destroyed. If it still exists at its deadline, the
/// process prints which run (this thread's label and `plan`, which must outlive
/// it) on standard error and exits with status 1 — unless an on_block_scope
/// takes the line instead, or a debugger is
/// attached (a run stopped at a breakpoint is not stuck). Registering costs a
/// lock and no allocation: a run may take only microseconds.
class watched_run {
 public:
  using clock = std::chrono::steady_clock;
  watched_run(const fault_plan& plan, clock::time_point started, clock::time_point deadline);
  ~watched_run();
  watched_run(const watched_run&) = delete;
  watched_run& operator=(const watched_run&) = delete;
  /// A new deadline (the run left its loop and finishes).
  void extend(clock::time_point deadline);

 private:
  friend class watchdog;
  std::string_view label_;
  const fault_plan* plan_;
  const std::function<void(const std::string&)>* on_block_;  // this thread's on_block_scope
  bool forgotten_ = false;  // off the watchdog's list: blocked under an on_block_scope
  clock::time_point started_;
  clock::time_point deadline_;
  watched_run* prev_ = nullptr;  // the watchdog's list, under its lock
  watched_run* next_ = nullptr;
};

}  // namespace faultscope::detail
