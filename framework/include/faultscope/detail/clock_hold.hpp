// Machinery behind hold_clock: the count of a run's work on another thread
// that holds its virtual clock. Not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

namespace faultscope::detail {

class virtual_scheduler;

/// Shared by a run and the executors made for it. An executor may outlive the
/// run (stored in an object the scenario leaked), so the run detaches at its
/// end rather than the executors holding a pointer into it.
class clock_hold {
 public:
  explicit clock_hold(virtual_scheduler& scheduler) noexcept : scheduler_(&scheduler) {}

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

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<long> refs_{1};
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  virtual_scheduler* scheduler_;
  int in_flight_ = 0;
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

}  // namespace faultscope::detail
