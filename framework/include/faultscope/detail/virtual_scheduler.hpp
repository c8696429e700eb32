// Machinery behind virtual time: the per-run queue of timed waits that the run's
// driver completes by jumping the clock. Not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  /// Jumps the clock to next_jump() and completes every wait due then, in the
  /// order they were started; every call in park_for_clock then waits for its
  /// turn again. Returns how many waits completed.
  std::size_t advance();
  [[nodiscard]] std::vector<std::string> pending() const;
  /// Deletes every pending wait without calling its handler (end of a run).
  void discard_all();

  /// Work running on another thread that will post back (the SQLite worker):
  /// while any is in flight, the clock must not jump.
  void begin_external() noexcept { external_.fetch_add(1, std::memory_order_seq_cst); }
  /// Ends it without a hand-back (the work posted its completion itself);
  /// `holds_turn` as for finish_external.
  void end_external(bool holds_turn = false) noexcept {
    if (holds_turn) release_turn();
    external_.fetch_sub(1, std::memory_order_seq_cst);
  }
  /// Another thread: ends work begun with begin_external by handing `f` to
  /// the run's thread, which runs it in run_finished(). `holds_turn`: the work
  /// took a turn (below), which this gives back once `f` is handed over.
  void finish_external(finished_external* f, bool holds_turn = false) noexcept;

  // Turns. External work that hits fault points or touches the tracker (the
  // SQLite worker's calls) takes turns: one call at a time, in the order the
  // run's thread started them, each only once the run's thread has nothing
  // left to run. Then hit numbers, resource ids, and where each completion
  // lands among the run's own handlers are the same in every run of a plan,
  // however the threads are scheduled: a replay replays.
  using ticket = std::uint64_t;
  /// The run's thread (as are drop_turn, grant_turn and open_turns): a call
  /// about to be handed to `lane`, the thread that runs its calls in order (a
  /// call waits behind the earlier calls of its lane). 0 once the run is
  /// over: the call then runs without a turn.
  ticket issue_turn(const void* lane);
  /// A call that got a ticket will never run.
  void drop_turn(ticket t);
  /// The run's thread, with nothing else to run: gives the turn to the next
  /// call if no call holds it. False if none was given.
  bool grant_turn();
  /// Whether no call holds the turn. The run's thread reads it before it
  /// polls: a call gives the turn back only after handing back its completion.
  [[nodiscard]] bool turn_free() const noexcept {
    return granted_.load(std::memory_order_seq_cst) == no_ticket;
  }
  /// The run's thread: whether grant_turn would give a turn now.
  [[nodiscard]] bool may_grant() const noexcept;
  /// Another thread: blocks until `t` holds the turn (true), or the run is
  /// over before it did (false).
  bool await_turn(ticket t);
  /// Another thread, holding the turn: its call waits for something another
  /// call of the run may do (a lock). Gives the turn back, and blocks until
  /// it is given again: after every call that can run has run, or at once if
  /// none can. True if some other call finished meanwhile.
  bool park_turn(ticket t);
  /// Another thread, holding the turn, after park_turn found no other call
  /// to go: its call waits for what only the clock can bring (a lock held
  /// across a wait of the run's, a timer's). Gives the turn back and stops
  /// holding the clock, which the run's thread may then jump, to `until` at
  /// the latest. Blocks until the turn is given again, after the clock moved,
  /// another call finished, or unpark_for_clock. False at once if the run is
  /// over, the root has ended (stop_clock_parking), or `*cancelled` is set.
  bool park_for_clock(ticket t, vtime until, const std::atomic<bool>* cancelled);
  /// Any thread: the call `t`, if it waits in park_for_clock, waits for its
  /// turn only (it was cancelled, and its wait ends in an error).
  void unpark_for_clock(ticket t);
  /// The run's thread: whether a call waits in park_for_clock.
  [[nodiscard]] bool clock_parked() const noexcept {
    return clock_parked_count_.load(std::memory_order_seq_cst) > 0;
  }
  /// The run's thread: where advance() would jump the clock, the earliest of
  /// next_deadline() and the `until` of each call in park_for_clock.
  [[nodiscard]] vtime next_jump();
  /// The run's thread, once the root has ended: a wait for the clock would
  /// keep the run going past it, so calls in park_for_clock go on and later
  /// ones wait in real time. True if one was waiting.
  bool stop_clock_parking();
  /// The run is over: every call still waiting for its turn stops waiting
  /// (await_turn returns false), and later tickets are 0.
  void open_turns();

  // Claims. Work queued through hold_clock runs on a pool's thread and has no
  // ticket: the run's thread may not be the one that queued it. It claims the
  // turn when it first reaches a fault point or the tracker, and holds it
  // until it returns. While a claim holds the turn, the run's thread runs
  // nothing at all: the work's completion, posted before it returns, must
  // not resume its caller while the work's tail still acts for the run.
  enum class claim_result { granted, run_over, timed_out };
  /// Another thread: waits until the run's thread, with nothing left to run,
  /// gives this claim the turn, or until `deadline` or the run's end.
  claim_result claim(std::chrono::steady_clock::time_point deadline);
  /// The holder of a claim: gives the turn back.
  void release_claim() noexcept;
  /// The run's thread: whether a claim holds the turn.
  [[nodiscard]] bool claimed() const noexcept { return claimed_.load(std::memory_order_seq_cst); }
  /// The run's thread: waits until no claim holds the turn (true), or
  /// `deadline` (false).
  bool wait_unclaimed(std::chrono::steady_clock::time_point deadline);
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
  static constexpr ticket no_ticket = 0;
  static constexpr ticket all_tickets = ~ticket{0};       // open_turns: everyone
  static constexpr ticket first_claim = ticket{1} << 62;  // claims' tickets, above the calls'
  void release_turn() noexcept;
  /// Blocks until `t`, or every ticket, holds the turn (returns the grant),
  /// or until `deadline` (returns no_ticket).
  ticket wait_for_grant(ticket t, std::optional<std::chrono::steady_clock::time_point> deadline);
  /// Until `ready` (true), or `deadline` (false): spins for `spin`, then
  /// sleeps on turn_cv_, counted in turn_sleepers_.
  template <typename Ready>
  bool wait_turn(Ready ready, std::chrono::microseconds spin,
                 std::optional<std::chrono::steady_clock::time_point> deadline);
  /// After a change a turn sleeper waits for: wakes them, if any sleep.
  void wake_turn_sleepers() noexcept;
  void wake_run() noexcept;
  struct waiting_call {
    ticket t;
    const void* lane;
  };
  struct clock_waiting_call {
    waiting_call call;
    vtime until;
    std::uint64_t turns_done;  // turns_done_ when it parked
  };
  /// Under turn_mutex_: back to waiting for the turn (and counting as in
  /// flight) go those calls in park_for_clock that `pred` picks.
  template <typename Pred>
  bool release_clock_parked(Pred pred);

  vtime now_{};
  std::uint64_t next_seq_ = 1;
  std::map<std::pair<vtime, std::uint64_t>, timed_wait*> by_deadline_;
  std::unordered_map<std::uint64_t, timed_wait*> by_key_;
  // Written by the worker threads, read by the run's thread at every turn of
  // its wait: a line of their own, away from the maps the run's thread writes.
  alignas(64) std::atomic<int> external_{0};
  std::atomic<finished_external*> finished_{nullptr};
  std::atomic<bool> sleeping_{false};
  // The turn, on the same line: a call's end writes all three at once.
  std::atomic<ticket> granted_{no_ticket};
  std::atomic<bool> claimed_{false};  // granted_ is a claim's
  const void* context_ = nullptr;
  std::function<void()> wake_;
  finished_external* ready_ = nullptr;  // the run's thread's: taken, in order, not yet run

  // Turns (with `granted_` above, the turn's holder). The run's thread
  // alone issues, grants and drops, so `fresh_` needs no lock; `parked_` is
  // what a holder adds to, under `turn_mutex_`, and grant_turn locks only
  // when it is not empty.
  std::atomic<int> parked_count_{0};
  std::atomic<int> turn_sleepers_{0};
  std::atomic<std::uint64_t> turns_done_{0};  // calls that finished holding the turn
  std::deque<waiting_call> fresh_;            // issued, never granted, in order
  const void* granted_lane_ = nullptr;        // the lane of the call holding the turn
  ticket next_ticket_ = 1;
  std::atomic<ticket> next_claim_{first_claim};
  bool turns_open_ = false;  // the run's thread's copy: no more tickets
  std::mutex turn_mutex_;
  std::condition_variable turn_cv_;
  std::deque<waiting_call> parked_;  // gave the turn back to wait, oldest first
  bool parking_closed_ = false;      // under turn_mutex_: the run is over
  // Calls in park_for_clock, under turn_mutex_. They do not count in
  // external_, so the run's thread may jump the clock.
  std::deque<clock_waiting_call> clock_parked_;
  std::atomic<int> clock_parked_count_{0};
  bool clock_parking_closed_ = false;  // under turn_mutex_: the root has ended
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
