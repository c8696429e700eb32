// The ledger: every acquire must be matched by exactly one release. The tracker
// records where each resource was acquired and in which scope, and turns every
// mismatch into a violation. Thread-safe; one tracker per run.
//
//   faultscope::tracker t;
//   auto id = t.acquire("connection", "db");   // the call site is recorded
//   t.touch(id);                               // a use; after release it is a violation
//   t.release(id);
//   assert(t.check().empty());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "faultscope/site.hpp"
#include "faultscope/timeline.hpp"
#include "faultscope/violation.hpp"

namespace faultscope {

/// Handed out by `tracker::acquire`; never 0.
using resource_id = std::uint64_t;

/// A resource that is live (acquired, not yet released).
struct resource_info {
  resource_id id = 0;
  std::string kind;
  std::string label;
  faultscope::site site;   ///< where it was acquired
  std::string scope_path;  ///< "outer › inner" at acquisition
  std::chrono::nanoseconds acquired_at{};
};

class tracker {
 public:
  struct options {
    /// Keep every event for reports. Off for load tests: memory then stays bounded
    /// by the number of live resources.
    bool record_timeline = true;
    /// At most this many violations are stored; the rest are only counted.
    std::size_t max_violations = 1000;
  };

  tracker();
  explicit tracker(options opts);
  ~tracker();
  tracker(const tracker&) = delete;
  tracker& operator=(const tracker&) = delete;

  /// Records a new live resource. `kind` groups resources ("connection", "file");
  /// `label` tells instances apart in a report ("db", "users.csv").
  [[nodiscard]] resource_id acquire(std::string_view kind, std::string_view label = {},
                                    std::source_location loc = std::source_location::current());

  /// Ends a resource's life. A second release, or one of an id this tracker never
  /// handed out, is a violation (and otherwise harmless).
  void release(resource_id id, std::source_location loc = std::source_location::current());

  /// Marks a use. Touching a released resource is a use-after-release violation.
  void touch(resource_id id, std::source_location loc = std::source_location::current());

  /// Records a violation found by someone else (a scope whose release threw, a
  /// run that hung). `resource` is 0 when none is involved; `where` is the line
  /// it points at (`violation::file`, `violation::line`); the default, `site{}`,
  /// points at none.
  void report(violation_kind kind, std::string message, resource_id resource = 0,
              const site& where = {});
  /// As above, for a line known only as text: a GoogleTest failure's file and
  /// line, or one read from another tool's output.
  void report(violation_kind kind, std::string message, std::string file, std::uint32_t line);

  /// Adds a non-resource event (an injected fault, a note) to the timeline.
  void record(event_type type, std::string detail);

  /// Resources live now are ignored by leak checks from here on (goleak's
  /// IgnoreCurrent); releasing them later is still fine.
  void set_baseline();

  /// Where virtual timestamps come from; the run sets this. Without it, every
  /// timestamp is zero.
  void set_clock(std::function<std::chrono::nanoseconds()> now);

  /// Violations reported so far, plus one leak per live resource not in the baseline.
  [[nodiscard]] std::vector<violation> check() const;
  /// Violations reported so far, without the leak check.
  [[nodiscard]] std::vector<violation> violations() const;
  /// No live resource outside the baseline and no violation reported.
  [[nodiscard]] bool balanced() const;

  [[nodiscard]] std::vector<resource_info> live_resources() const;
  [[nodiscard]] std::size_t live_count() const;
  [[nodiscard]] std::uint64_t acquired_count() const;
  [[nodiscard]] std::uint64_t released_count() const;
  /// Violations reported, including any beyond `max_violations`.
  [[nodiscard]] std::uint64_t violation_count() const;
  [[nodiscard]] std::vector<event> timeline() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The tracker of the run on this thread, or nullptr. A convenience for code that
/// cannot be handed one; fakes and adapters take theirs explicitly.
[[nodiscard]] tracker* current_tracker() noexcept;

/// RAII: makes `t` this thread's current tracker, restoring the previous one.
class current_tracker_scope {
 public:
  explicit current_tracker_scope(tracker& t) noexcept;
  ~current_tracker_scope();
  current_tracker_scope(const current_tracker_scope&) = delete;
  current_tracker_scope& operator=(const current_tracker_scope&) = delete;

 private:
  tracker* previous_;
};

}  // namespace faultscope
