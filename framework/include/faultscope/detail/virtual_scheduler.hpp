// Machinery behind virtual time: the per-run queue of timed waits that the run's
// driver completes by jumping the clock. Not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

namespace faultscope::detail {

using vtime = std::chrono::nanoseconds;  // virtual time since the run started

/// A pending wait. The scheduler owns it until `complete` (which posts the
/// handler and deletes the wait) or `discard` (which deletes it without a call).
struct timed_wait {
  virtual ~timed_wait() = default;
  virtual void complete(boost::system::error_code ec) = 0;
  virtual void discard() = 0;

  vtime deadline{};
  std::uint64_t seq = 0;
  const void* owner = nullptr;
  std::string what;  ///< "timer wait at x.cpp:12", for hang and quiescence reports
};

/// A call that another thread finished for the run (the SQLite worker's),
/// handed back to the run's thread through the scheduler rather than posted
/// to the context: a post takes the context's lock and queue, cache lines
/// the run's thread holds, and brings them back. The scheduler holds it from
/// `finish_external` until the run's thread calls `run_finished` or
/// `discard_all`.
struct finished_external {
  virtual ~finished_external() = default;
  /// On the run's thread: completes the call (resumes its caller).
  virtual void run_finished() = 0;
  /// The run is over: drops the call without completing it.
  virtual void discard_finished() = 0;
  finished_external* next = nullptr;
};

class virtual_scheduler {
 public:
  virtual_scheduler() = default;
  ~virtual_scheduler();
  virtual_scheduler(const virtual_scheduler&) = delete;
  virtual_scheduler& operator=(const virtual_scheduler&) = delete;

  [[nodiscard]] vtime now() const noexcept { return now_; }

  /// Takes ownership; returns the key that `cancel` takes.
  std::uint64_t add(timed_wait* w);
  /// Completes the wait with `operation_aborted` if it is still pending.
  bool cancel(std::uint64_t key);
  /// Completes the wait with `ec` now, whatever its deadline, if still pending
  /// (a fake's waiter being granted what it waits for).
  bool finish(std::uint64_t key, boost::system::error_code ec);
  /// Cancels every pending wait of `owner`; returns how many.
  std::size_t cancel_owner(const void* owner);

  [[nodiscard]] bool has_pending() const noexcept { return !by_deadline_.empty(); }
  [[nodiscard]] vtime next_deadline() const noexcept;
  /// Jumps the clock to the earliest deadline and completes every wait due then,
  /// in the order they were started. Returns how many completed.
  std::size_t advance();
  [[nodiscard]] std::vector<std::string> pending() const;
  /// Deletes every pending wait without calling its handler (end of a run).
  void discard_all();

  /// Work running on another thread that will post back (the SQLite worker):
  /// while any is in flight, the clock must not jump.
  void begin_external() noexcept { external_.fetch_add(1, std::memory_order_seq_cst); }
  void end_external() noexcept { external_.fetch_sub(1, std::memory_order_seq_cst); }
  /// Another thread: ends work begun with begin_external by handing `f` to
  /// the run's thread, which runs it in run_finished().
  void finish_external(finished_external* f) noexcept;
  /// The run's thread: runs every finished external in the order they
  /// finished; returns how many.
  std::size_t run_finished();
  /// Set once, before any external work: the run's io_context, and how to
  /// wake the run's thread where it blocks in it (a post).
  void attach(const void* context, std::function<void()> wake) {
    context_ = context;
    wake_ = std::move(wake);
  }
  /// The run's io_context: a call whose caller resumes there may finish
  /// through finish_external.
  [[nodiscard]] const void* context() const noexcept { return context_; }
  /// The run's thread, about to block in the context: until sleep_done(),
  /// finish_external also calls the waker. False (do not block) if something
  /// finished meanwhile.
  [[nodiscard]] bool sleep_begin() noexcept;
  void sleep_done() noexcept { sleeping_.store(false, std::memory_order_seq_cst); }
  [[nodiscard]] bool external_in_flight() const noexcept {
    return external_.load(std::memory_order_acquire) > 0;
  }
  /// How many are in flight: only the run's thread adds to it, so while that
  /// thread waits, a change means a completion was posted.
  [[nodiscard]] int externals() const noexcept { return external_.load(std::memory_order_acquire); }

 private:
  vtime now_{};
  std::uint64_t next_seq_ = 1;
  std::map<std::pair<vtime, std::uint64_t>, timed_wait*> by_deadline_;
  std::unordered_map<std::uint64_t, timed_wait*> by_key_;
  // Written by the worker threads, read by the run's thread at every turn of
  // its wait: a line of their own, away from the maps the run's thread writes.
  alignas(64) std::atomic<int> external_{0};
  std::atomic<finished_external*> finished_{nullptr};
  std::atomic<bool> sleeping_{false};
  const void* context_ = nullptr;
  std::function<void()> wake_;
  finished_external* ready_ = nullptr;  // the run's thread's: taken, in order, not yet run
};

/// The scheduler of the run on this thread, or nullptr outside a run.
[[nodiscard]] virtual_scheduler* current_scheduler() noexcept;

class current_scheduler_scope {
 public:
  explicit current_scheduler_scope(virtual_scheduler& s) noexcept;
  ~current_scheduler_scope();
  current_scheduler_scope(const current_scheduler_scope&) = delete;
  current_scheduler_scope& operator=(const current_scheduler_scope&) = delete;

 private:
  virtual_scheduler* previous_;
};

}  // namespace faultscope::detail
