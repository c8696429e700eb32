// Machinery behind hold_clock: the count of a run's work on another thread
// that holds its virtual clock. Not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace faultscope::detail {

class virtual_scheduler;
struct run_locals;

/// Shared by a run and the executors made for it. An executor may outlive the
/// run (stored in an object the scenario leaked), so the run detaches at its
/// end rather than the executors holding a pointer into it.
class clock_hold {
 public:
  /// For the run on this thread.
  clock_hold();
  ~clock_hold();
  clock_hold(const clock_hold&) = delete;
  clock_hold& operator=(const clock_hold&) = delete;

  /// Any thread: work is about to be queued. False once the run is over: the
  /// work then holds nothing, and must not call end().
  bool begin() noexcept;
  /// Any thread, after work that begin() counted has run (or was dropped),
  /// and after it posted whatever completes on the run's context.
  void end() noexcept;
  /// The run's end: waits until `deadline` for the work in flight, then
  /// detaches. True if none was left.
  bool detach(std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] int in_flight() const;
  /// Work this hold counts, on another thread: waits for the run's turn and
  /// gives the run's thread-locals (see claim_held_run). False if the run is
  /// over, or never let it in before its wall limit (then reported).
  bool claim(run_locals& out);
  /// The run's end: a claim that waited in vain, to report. Empty if none.
  [[nodiscard]] std::string missed_claim() const;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<long> refs_{1};
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  virtual_scheduler* scheduler_;        // null once detached
  std::unique_ptr<run_locals> locals_;  // the run's, for claims
  std::chrono::steady_clock::time_point wall_deadline_;
  int in_flight_ = 0;
  std::string missed_;
};

/// A counted reference to a clock_hold. One pointer, not a shared_ptr's two,
/// so that an executor holding it next to a thread pool's still fits in
/// any_io_executor's small buffer: a larger one is kept in a shared block
/// whose count ThreadSanitizer (without fence support) reports as a race.
class clock_hold_ref {
 public:
  clock_hold_ref() noexcept = default;
  /// Adopts the reference `h` was made with.
  explicit clock_hold_ref(clock_hold* h) noexcept : h_(h) {}
  clock_hold_ref(const clock_hold_ref& other) noexcept : h_(other.h_) {
    if (h_ != nullptr) h_->add_ref();
  }
  clock_hold_ref(clock_hold_ref&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  clock_hold_ref& operator=(clock_hold_ref other) noexcept {
    std::swap(h_, other.h_);
    return *this;
  }
  ~clock_hold_ref() {
    if (h_ != nullptr) h_->release();
  }

  [[nodiscard]] clock_hold* get() const noexcept { return h_; }
  clock_hold* operator->() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  friend bool operator==(const clock_hold_ref& a, const clock_hold_ref& b) noexcept {
    return a.h_ == b.h_;
  }

 private:
  clock_hold* h_ = nullptr;
};

/// The run on this thread's hold, made on first use; empty outside a run.
[[nodiscard]] clock_hold_ref current_clock_hold();

/// Around a function queued through hold_clock, where it runs: until it
/// returns, the thread may claim `hold`'s run (claim_held_run). Inert on a
/// thread that already acts for a run, and when nested.
class held_work_scope {
 public:
  explicit held_work_scope(clock_hold* hold) noexcept;
  ~held_work_scope();
  held_work_scope(const held_work_scope&) = delete;
  held_work_scope& operator=(const held_work_scope&) = delete;

 private:
  bool active_ = false;
};

/// Called where a thread needs its run and has none (a fault point, the
/// tracker): inside a held_work_scope, waits for that run's turn and installs
/// the run's thread-locals until the scope ends. Off such a scope, returns
/// false at once (one thread-local read).
bool claim_held_run() noexcept;

/// Whether this thread acts for a run through a claim (not the run's own).
[[nodiscard]] bool acting_through_claim() noexcept;

}  // namespace faultscope::detail
