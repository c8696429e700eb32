// Machinery behind fault points: the per-run session that counts hits, matches
// them against the plan and records the trace exploration enumerates.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "faultscope/fault_plan.hpp"
#include "faultscope/timeline.hpp"

namespace faultscope {
class tracker;
namespace detail {

class virtual_scheduler;

/// Sessions alive in the process. Zero means no point can fire: the whole cost
/// of an inactive fault point is this one relaxed load.
extern std::atomic<int> armed_sessions;
[[nodiscard]] inline bool faults_armed() noexcept {
  return armed_sessions.load(std::memory_order_relaxed) != 0;
}

class fault_session {
 public:
  fault_session(fault_plan plan, faultscope::tracker* tracker, virtual_scheduler* clock);
  ~fault_session();
  fault_session(const fault_session&) = delete;
  fault_session& operator=(const fault_session&) = delete;

  struct decision {
    faultscope::fault fault;
    std::string label;  ///< "pool.acquire#2"
  };
  /// Counts a pass through `point`; returns the fault to inject, if a rule fires.
  /// Thread-safe: adapter worker threads hit points too.
  std::optional<decision> on_hit(std::string_view point);

  /// Moves the trace and the injected faults out, at the end of a run.
  [[nodiscard]] std::vector<point_hit> take_trace();
  [[nodiscard]] std::vector<std::string> take_injected();

 private:
  fault_plan plan_;
  faultscope::tracker* tracker_;
  virtual_scheduler* clock_;
  mutable std::mutex mutex_;
  // The trace is kept compact (a point index, not its name) and expanded only
  // when the run ends: a pass through a point stays cheap in long runs.
  struct raw_hit {
    std::uint32_t point;
    std::uint32_t rule;  ///< the rule that fired + 1; 0 when none
    std::uint64_t hit;
    std::chrono::nanoseconds at;
  };
  struct point_state {
    std::uint32_t index;
    std::uint64_t hits;
  };
  // Looked up by the point's string_view: a pass allocates nothing.
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, point_state, name_hash, std::equal_to<>> points_;
  std::vector<std::string> names_;
  std::vector<std::uint64_t> fired_per_rule_;
  std::vector<raw_hit> trace_;
  std::vector<std::string> injected_;
};

/// The session of the run on this thread, or nullptr.
[[nodiscard]] fault_session* current_fault_session() noexcept;

class current_fault_session_scope {
 public:
  explicit current_fault_session_scope(fault_session& s) noexcept;
  ~current_fault_session_scope();
  current_fault_session_scope(const current_fault_session_scope&) = delete;
  current_fault_session_scope& operator=(const current_fault_session_scope&) = delete;

 private:
  fault_session* previous_;
};

}  // namespace detail
}  // namespace faultscope
