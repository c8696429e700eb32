// Machinery behind the adapter: the worker thread a connection owns, and the
// jobs posted to it that complete on the caller's executor. Not public API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/fault_session.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/tracker.hpp"

struct sqlite3;

namespace faultscope::sqlite::detail {

struct run_data;

/// What a job installs on the worker thread while it runs, so that the VFS
/// shim and the allocator hook know whose run they serve.
struct binding {
  faultscope::tracker* tracker = nullptr;
  faultscope::detail::fault_session* faults = nullptr;
  run_data* run = nullptr;
  bool vfs_faults = false;
  bool memory_faults = false;
  std::source_location opened_at{};  ///< where the connection was opened: names its files
  /// Where the caller closed the connection: where the files it closes are
  /// released. Unset (line 0) outside close().
  std::source_location closing_at{};
};

/// The binding of the job running on this thread (empty outside a job).
[[nodiscard]] const binding& current_binding() noexcept;

class binding_scope {
 public:
  explicit binding_scope(const binding& b) noexcept;
  ~binding_scope();
  binding_scope(const binding_scope&) = delete;
  binding_scope& operator=(const binding_scope&) = delete;

 private:
  binding previous_;
};

class job {
 public:
  virtual ~job() = default;
  /// On the worker thread: does the work, then posts the completion.
  virtual void execute(sqlite3* db) = 0;
  /// The job will never run (cancelled before it started, or the worker is
  /// gone): posts an operation_aborted completion.
  virtual void abort() = 0;
  /// On the worker thread, before execute or abort: waits for the run's turn
  /// (see virtual_scheduler), so that a run's calls on all its connections
  /// run one at a time, in the order they were made. No wait outside a run.
  /// False if the run ended first: the call must not run.
  [[nodiscard]] virtual bool take_turn() = 0;
  /// On the worker thread, holding the turn: the call waits for a lock that
  /// another connection of the run holds; lets the run's other calls go
  /// first. True if one of them finished meanwhile.
  virtual bool park_turn() = 0;
  /// Holding the turn, in a run: the run's virtual time.
  [[nodiscard]] virtual std::optional<faultscope::detail::vtime> run_time() const = 0;
  /// Holding the turn, when park_turn found no other call to go: the lock is
  /// held across a wait of the run's, which only the clock can end. Lets the
  /// run go on, its clock too, up to `until` at the latest, and holds the
  /// turn again once the clock moved, another call finished, or the call was
  /// cancelled. False at once when the run cannot wait for it (over, or its
  /// root ended): the call then waits in real time.
  virtual bool park_for_clock(faultscope::detail::vtime until) = 0;
  /// The call will never reach its worker: gives its place in line back.
  virtual void drop_turn() = 0;
  std::atomic<bool> cancel_requested{false};
  const run_data* run = nullptr;  ///< the run the job serves, if any
  /// The job itself while a list that holds plain pointers has it: the
  /// worker's inbox on the way there, the run's finished list on the way back
  /// (never both at once).
  std::shared_ptr<job> held;
};

/// One thread per connection while it is open, as aiosqlite has (borrowed from
/// a cache of idle threads): SQLite calls on a connection run there in order,
/// so the connection can be opened without SQLite's mutex.
class worker {
 public:
  worker();
  ~worker();  // waits for the thread to finish this connection's work
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void submit(std::shared_ptr<job> j);
  /// From the caller's thread: stops `j` — dropped if still queued, its
  /// statement interrupted if running.
  void cancel(job* j);
  /// The last job: after it the thread ends.
  void submit_last(std::shared_ptr<job> j);

  /// Set by the open and close jobs, under the lock `cancel` takes. Installs
  /// the progress handler that makes an interrupt certain to land.
  void set_db(sqlite3* d);
  /// On the worker thread, at open: how long a call waits for a lock another
  /// connection holds (sqlite3_busy_timeout's meaning) before SQLITE_BUSY.
  void set_busy_timeout(std::chrono::milliseconds limit);

  /// After run `r` ended (hung, or abandoned a call): interrupts every job of
  /// `r` still running on any worker and waits up to `limit` for them to stop,
  /// and aborts those still queued, so none outlives the run state it reads.
  /// False if one is still running.
  static bool interrupt_run(const run_data* r, std::chrono::milliseconds limit);
  /// Worker thread: whether the running job was asked to stop. A job of many
  /// statements checks it between them, where SQLite forgets an interrupt.
  [[nodiscard]] bool interrupted() const noexcept {
    return interrupt_.load(std::memory_order_relaxed);
  }
  /// Owned by the worker thread; read elsewhere only to call sqlite3_interrupt.
  sqlite3* db = nullptr;

 private:
  void loop();
  void enqueue(std::shared_ptr<job> j, bool last);
  /// Under mutex_: the next job, from the inbox before the queue.
  std::shared_ptr<job> take();
  [[nodiscard]] bool has_work() const noexcept {
    return inbox_.job.load(std::memory_order_seq_cst) > closed_inbox ||
           queued_.load(std::memory_order_acquire) != 0;
  }
  static int on_progress(void* self) noexcept;
  static int on_busy(void* self, int count) noexcept;
  void interrupt_running();  // under mutex_: stops the job now running
  /// Takes the jobs of `r` still queued, and interrupts the one running, if
  /// any (then true).
  bool stop_jobs_of(const run_data* r, std::vector<std::shared_ptr<job>>& queued);
  bool running_for(const run_data* r);
  [[nodiscard]] bool running_job_of(const run_data* r) const noexcept {  // under mutex_
    return running_ && running_->run == r;
  }
  /// True if `r`'s job still runs: the loop ends after it.
  bool orphan_if_running(const run_data* r);
  // A call handed to an idle worker goes through one cache line that the
  // caller writes and the worker reads. Through the lock and the queue it
  // moved four lines between the two cores, and back, per call: on a VM whose
  // two CPUs were 450 ns apart that was a large part of what a call cost.
  // The queue serves the rest (a call made while another waits, the last
  // one); once anything is queued, later calls queue behind it, in order.
  static constexpr std::uintptr_t closed_inbox = 1;  // the loop ended: queue, to be aborted
  struct alignas(64) inbox {
    std::atomic<std::uintptr_t> job{0};  // a job*, 0 or closed_inbox
    std::atomic<bool> sleeping{false};   // the worker waits on cv_: notify it
  } inbox_;
  std::atomic<int> queued_{0};  // queue_.size(), readable without the lock
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<job>> queue_;
  job* running_ = nullptr;  // taken off the queue: waiting for its turn, or executing
  bool executing_ = false;  // running_ is past its turn and executing
  bool orphaned_ = false;   // running_'s run ended without it: stop after it
  // sqlite3_interrupt alone can be lost: SQLite clears the flag when a
  // statement starts with none active. The progress handler reads this one.
  std::atomic<bool> interrupt_{false};
  std::chrono::milliseconds busy_timeout_{0};
  std::chrono::steady_clock::time_point busy_since_{};  // worker thread only
  faultscope::detail::vtime busy_since_virtual_{};      // likewise, in a run
  bool last_submitted_ = false;
  bool stopping_ = false;
  bool finished_ = false;  // the loop has ended; the thread went back to the cache
  std::condition_variable finished_cv_;
};

/// Signals the result of a job without a value.
struct none {};

template <typename R>
using signature_t = std::conditional_t<std::is_same_v<R, none>, void(std::exception_ptr),
                                       void(std::exception_ptr, R)>;

template <typename R, typename F, typename Handler>
class job_impl final : public job,
                       public faultscope::detail::finished_external,
                       public std::enable_shared_from_this<job_impl<R, F, Handler>> {
 public:
  job_impl(F fn, Handler h, binding b, worker* w)
      : fn_(std::move(fn)),
        handler_(std::move(h)),
        work_(boost::asio::get_associated_executor(handler_)),
        binding_(b),
        worker_(w),
        clock_(faultscope::detail::current_scheduler()) {
    run = b.run;
    // While the job is away the run's clock must not jump: a timeout may fire
    // only when the virtual time it waits for has truly passed.
    if (clock_) {
      clock_->begin_external();
      ticket_ = clock_->issue_turn(w);
      direct_ = resumes_in(clock_->context());
    }
  }

  bool take_turn() override {
    if (ticket_ == 0) return true;
    holds_turn_ = true;
    return clock_->await_turn(ticket_);
  }
  bool park_turn() override { return holds_turn_ && clock_->park_turn(ticket_); }
  std::optional<faultscope::detail::vtime> run_time() const override {
    if (!holds_turn_ || ticket_ == 0) return std::nullopt;
    return clock_->now();
  }
  bool park_for_clock(faultscope::detail::vtime until) override {
    return holds_turn_ && ticket_ != 0 && clock_->park_for_clock(ticket_, until, &cancel_requested);
  }
  void drop_turn() override {
    if (ticket_ != 0 && !holds_turn_) clock_->drop_turn(ticket_);
    ticket_ = 0;
  }

  void run_finished() override {
    auto self = std::move(held);
    deliver();
  }
  void discard_finished() override { held.reset(); }

  void start(bool last, bool cancellable) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (cancellable && slot.is_connected()) {
      // Weak: the slot may outlive the run (a hung run's signal), and the job
      // must not outlive the executor its work guard counts on.
      std::weak_ptr<job_impl> weak = this->shared_from_this();
      slot.assign([weak](boost::asio::cancellation_type type) {
        auto self = weak.lock();
        if (self &&
            (type &
             (boost::asio::cancellation_type::terminal | boost::asio::cancellation_type::partial |
              boost::asio::cancellation_type::total)) != boost::asio::cancellation_type::none) {
          self->worker_->cancel(self.get());
          // A call waiting for a lock until the clock moves ends now instead.
          if (self->ticket_ != 0) self->clock_->unpark_for_clock(self->ticket_);
        }
      });
    }
    if (last)
      worker_->submit_last(this->shared_from_this());
    else
      worker_->submit(this->shared_from_this());
  }

  void execute(sqlite3* db) override {
    {
      binding_scope scope(binding_);
      std::optional<faultscope::current_tracker_scope> tracker_scope;
      if (binding_.tracker) tracker_scope.emplace(*binding_.tracker);
      std::optional<faultscope::detail::current_fault_session_scope> faults_scope;
      if (binding_.faults) faults_scope.emplace(*binding_.faults);
      try {
        if constexpr (std::is_same_v<R, none>)
          fn_(db);
        else
          result_.emplace(fn_(db));
      } catch (...) {
        error_ = std::current_exception();
      }
    }
    complete();
  }

  void abort() override {
    error_ = std::make_exception_ptr(boost::system::system_error(
        boost::asio::error::operation_aborted, "sqlite call cancelled before it ran"));
    complete();
  }

 private:
  // Whether the caller resumes on the run's own context (not a strand, not
  // another context): then the run's thread may resume it directly.
  bool resumes_in(const void* context) const {
    if (!context) return false;
    auto ex = work_.get_executor();
    if (auto* e = ex.template target<boost::asio::io_context::executor_type>())
      return &e->context() == context;
    return false;
  }

  void deliver() {
    boost::asio::get_associated_cancellation_slot(handler_).clear();
    work_.reset();
    if constexpr (std::is_same_v<R, none>)
      std::move(handler_)(error_);
    else
      std::move(handler_)(error_, error_ ? R{} : std::move(*result_));
  }

  void complete() {
    if (direct_) {
      held = this->shared_from_this();
      clock_->finish_external(this, holds_turn_);
      return;
    }
    auto ex = work_.get_executor();
    auto self = this->shared_from_this();
    boost::asio::post(ex, [self] { self->deliver(); });
    // Only now, with the completion queued on the context, may the clock move
    // and the next call start.
    if (clock_) clock_->end_external(holds_turn_);
  }

  F fn_;
  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work_;
  binding binding_;
  worker* worker_;
  faultscope::detail::virtual_scheduler* clock_;
  std::optional<std::conditional_t<std::is_same_v<R, none>, char, R>> result_;
  std::exception_ptr error_;
  bool direct_ = false;  // finishes through the run's scheduler
  faultscope::detail::virtual_scheduler::ticket ticket_ = 0;  // 0: takes no turn
  bool holds_turn_ = false;
};

enum class call_kind {
  normal,   ///< cancellation interrupts it
  release,  ///< a cleanup: runs to the end whatever is cancelled
  last,     ///< a cleanup after which the worker thread ends
};

/// Runs `fn(sqlite3*)` on the worker and completes with its value (or its
/// exception) on the awaiting coroutine's executor.
template <typename R, typename F>
auto submit(worker& w, const binding& b, F fn, call_kind kind = call_kind::normal) {
  auto initiate = [&w, &b, kind](auto handler, F f) {
    using H = decltype(handler);
    auto j = std::make_shared<job_impl<R, F, H>>(std::move(f), std::move(handler), b, &w);
    j->start(kind == call_kind::last, kind == call_kind::normal);
  };
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, signature_t<R>>(
      initiate, boost::asio::use_awaitable, std::move(fn));
}

}  // namespace faultscope::sqlite::detail
