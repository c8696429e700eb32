// Machinery behind the one hang a run cannot report itself: a call inside the
// scenario that blocks the run's thread (std::future::get, a lock, a sleep), so
// the run never gets back to its event loop. A process-wide thread watches every
// run's deadline; past it, the process prints what blocked and exits, since a
// blocked thread cannot be interrupted. Not part of the public API.
//
//   detail::run_label_scope label("sqlite.transfer");   // names the runs below
//   detail::watched_run watch(describe, deadline);      // in run(): armed until destroyed
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultscope::detail {

/// What this thread's runs are called in a watchdog's message (a scenario's
/// name), while the scope lives.
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

/// A run under watch until destroyed. If it still exists at its deadline, the
/// process prints `what` and why on standard error and exits with status 1 —
/// unless a debugger is attached (a run stopped at a breakpoint is not stuck).
class watched_run {
 public:
  using clock = std::chrono::steady_clock;
  watched_run(std::string what, clock::time_point deadline);
  ~watched_run();
  watched_run(const watched_run&) = delete;
  watched_run& operator=(const watched_run&) = delete;
  /// A new deadline (the run left its loop and finishes).
  void extend(clock::time_point deadline);

 private:
  std::uint64_t id_;
};

}  // namespace faultscope::detail
