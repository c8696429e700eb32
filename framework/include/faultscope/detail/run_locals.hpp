// Machinery: the thread-locals that make a thread act for a run — its tracker,
// fault session, virtual clock and context — as one, so that work holding the
// run's turn on another thread can take them and give them back. Not part of
// the public API.
#pragma once

#include "faultscope/detail/fault_session.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::detail {

struct run_locals {
  faultscope::tracker* tr = nullptr;
  fault_session* faults = nullptr;
  virtual_scheduler* scheduler = nullptr;
  run_context* run = nullptr;
};

/// This thread's; all null off a run's thread.
[[nodiscard]] run_locals current_run_locals() noexcept;

class current_run_scope {
 public:
  explicit current_run_scope(run_context* run) noexcept;
  ~current_run_scope();
  current_run_scope(const current_run_scope&) = delete;
  current_run_scope& operator=(const current_run_scope&) = delete;

 private:
  run_context* previous_;
};

/// Installs every one of `l` (none null) on this thread.
class run_locals_scope {
 public:
  explicit run_locals_scope(const run_locals& l) noexcept
      : tracker_(*l.tr), faults_(*l.faults), scheduler_(*l.scheduler), run_(l.run) {}

 private:
  current_tracker_scope tracker_;
  current_fault_session_scope faults_;
  current_scheduler_scope scheduler_;
  current_run_scope run_;
};

}  // namespace faultscope::detail
