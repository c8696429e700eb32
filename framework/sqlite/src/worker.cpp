#include "faultscope/sqlite/detail/worker.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "faultscope/detail/spin_wait.hpp"

namespace faultscope::sqlite::detail {

namespace {

using faultscope::detail::spin_for;

// Every live worker, so that the end of a run can reach the calls it left
// running, whichever connection (possibly leaked) owns them.
std::mutex registry_mutex;
std::vector<worker*>& registry() {
  static std::vector<worker*> workers;
  return workers;
}

// Threads outlive the connections they serve: a connection borrows an idle
// thread (or starts one) and gives it back when it closes, so churning
// connections do not pay a thread start and join each (40-80 µs here). While
// a connection is open, the thread is its alone, as in aiosqlite.
class thread_cache {
 public:
  static thread_cache& instance() {
    static thread_cache cache;
    return cache;
  }

  void run(std::function<void()> task) {
    std::unique_lock lock(mutex_);
    if (!idle_.empty()) {
      slot* s = idle_.back();
      idle_.pop_back();
      s->task = std::move(task);
      s->given.store(true, std::memory_order_release);
      s->cv.notify_one();
      return;
    }
    lock.unlock();
    // Detached: at exit a thread may still serve a connection a program leaked.
    std::thread([this, t = std::move(task)]() mutable {
#if defined(__linux__)
      // Named for debuggers, top and perf: a program under test has threads of its own.
      pthread_setname_np(pthread_self(), "faultscope-sql");
#endif
      serve(std::move(t));
    }).detach();
  }

  ~thread_cache() {
    std::unique_lock lock(mutex_);
    quitting_ = true;
    for (slot* s : idle_) s->cv.notify_one();
    gone_.wait_for(lock, std::chrono::seconds(1), [this] { return idle_.empty(); });
  }

 private:
  static constexpr std::size_t max_idle = 8;
  struct slot {
    std::condition_variable cv;
    std::function<void()> task;
    std::atomic<bool> given{false};  // task set: ends the spin before the sleep
  };

  void serve(std::function<void()> task) {
    slot s;
    for (;;) {
      task();
      task = nullptr;
      std::unique_lock lock(mutex_);
      if (quitting_ || idle_.size() >= max_idle) return;
      idle_.push_back(&s);
      s.given.store(false, std::memory_order_relaxed);
      lock.unlock();
      // A connection closed is often followed by another opened at once (a
      // pool, or churn).
      spin_for(std::chrono::microseconds(100),
               [&s] { return s.given.load(std::memory_order_acquire); });
      lock.lock();
      s.cv.wait(lock, [&] { return s.task || quitting_; });
      if (!s.task) {  // the program is ending
        std::erase(idle_, &s);
        gone_.notify_all();
        return;
      }
      task = std::move(s.task);
      s.task = nullptr;
    }
  }

  std::mutex mutex_;
  std::condition_variable gone_;
  std::vector<slot*> idle_;
  bool quitting_ = false;
};

}  // namespace

worker::worker() {
  {
    std::lock_guard lock(registry_mutex);
    registry().push_back(this);
  }
  thread_cache::instance().run([this] {
    loop();
    // Under the lock: the destructor cannot return (and free this) before
    // the lock is released, and nothing here runs after that.
    std::lock_guard lock(mutex_);
    finished_ = true;
    finished_cv_.notify_all();
  });
}

worker::~worker() {
  {
    std::lock_guard lock(registry_mutex);
    std::erase(registry(), this);
  }
  std::unique_lock lock(mutex_);
  stopping_ = true;
  cv_.notify_one();
  finished_cv_.wait(lock, [this] { return finished_; });
}

void worker::submit(std::shared_ptr<job> j) {
  if (queued_.load(std::memory_order_acquire) == 0) {
    job* raw = j.get();
    raw->held = std::move(j);
    std::uintptr_t empty = 0;
    if (inbox_.job.compare_exchange_strong(empty, reinterpret_cast<std::uintptr_t>(raw),
                                           std::memory_order_seq_cst)) {
      // Seq_cst on both sides: either the worker's check before it sleeps
      // sees the job, or this sees it sleeping. The lock makes the notify
      // land once the worker waits.
      if (inbox_.sleeping.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(mutex_);
        cv_.notify_one();
      }
      return;
    }
    j = std::move(raw->held);
  }
  enqueue(std::move(j), false);
}

std::shared_ptr<job> worker::take() {
  if (const auto in = inbox_.job.load(std::memory_order_acquire); in > closed_inbox) {
    auto j = std::move(reinterpret_cast<job*>(in)->held);
    inbox_.job.store(0, std::memory_order_release);  // only this thread empties it
    return j;
  }
  if (queue_.empty()) return nullptr;
  auto j = std::move(queue_.front());
  queue_.pop_front();
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return j;
}

void worker::submit_last(std::shared_ptr<job> j) {
  enqueue(std::move(j), true);
}

void worker::enqueue(std::shared_ptr<job> j, bool last) {
  {
    std::lock_guard lock(mutex_);
    if (!last_submitted_ && !stopping_) {
      queue_.push_back(std::move(j));
      queued_.fetch_add(1, std::memory_order_release);
      j = nullptr;
      last_submitted_ = last;
    }
  }
  if (j) {
    j->drop_turn();
    j->abort();
    return;
  }
  cv_.notify_one();
}

void worker::set_db(sqlite3* d) {
  std::lock_guard lock(mutex_);
  db = d;
  if (d) sqlite3_progress_handler(d, 100, &worker::on_progress, this);
}

void worker::set_busy_timeout(std::chrono::milliseconds limit) {
  busy_timeout_ = limit;
  if (db && limit.count() > 0) sqlite3_busy_handler(db, &worker::on_busy, this);
}

// sqlite3_busy_timeout's waits, with two differences within a run. The lock
// is most likely held by another connection of the same run, whose next call
// cannot start while this one holds the run's turn: so the waiting call gives
// the turn back first. And the run's time is virtual: a lock held across a
// wait of the run's (a transaction open over a sleep) is let go only once the
// clock moves, which it cannot while a call holds it. So when no other call
// can go, the waiting call lets the clock move, up to the end of its busy
// timeout, counted in virtual time like every other wait of the run. Outside
// a run, or once it is over, it sleeps in real time.
int worker::on_busy(void* self, int count) noexcept {
  auto* w = static_cast<worker*>(self);
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  job* j = w->running_;
  const auto virtual_now = j ? j->run_time() : std::nullopt;
  if (count == 0) {
    w->busy_since_ = now;
    if (virtual_now) w->busy_since_virtual_ = *virtual_now;
  }
  if (w->interrupted()) return 0;
  if (virtual_now) {
    const auto until = w->busy_since_virtual_ + w->busy_timeout_;
    if (*virtual_now >= until) return 0;
    if (j->park_turn()) return 1;
    if (j->park_for_clock(until)) return 1;
    if (w->interrupted()) return 0;
  }
  const auto left = w->busy_timeout_ - (now - w->busy_since_);
  if (left <= clock::duration::zero()) return 0;
  if (j && j->park_turn()) return 1;
  static constexpr int backoff_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
  const auto pause = std::chrono::milliseconds(backoff_ms[std::min<std::size_t>(
      static_cast<std::size_t>(count), std::size(backoff_ms) - 1)]);
  std::this_thread::sleep_for(std::min<clock::duration>(pause, left));
  return 1;
}

int worker::on_progress(void* self) noexcept {
  return static_cast<worker*>(self)->interrupt_.load(std::memory_order_relaxed) ? 1 : 0;
}

void worker::cancel(job* j) {
  std::lock_guard lock(mutex_);
  j->cancel_requested.store(true, std::memory_order_relaxed);
  // Interrupt only the job that is running now, under the lock the worker takes
  // to start and end one: a stale interrupt must not hit the next statement.
  if (running_ == j) interrupt_running();
}

void worker::interrupt_running() {
  // A call still waiting for its turn is stopped by its cancel_requested: an
  // interrupt now would land on the connection's open cursors instead.
  if (!executing_) return;
  interrupt_.store(true, std::memory_order_relaxed);
  if (db) sqlite3_interrupt(db);
}

bool worker::stop_jobs_of(const run_data* r, std::vector<std::shared_ptr<job>>& queued) {
  std::lock_guard lock(mutex_);
  // Only this lock's holders empty the inbox, and a call fills only an empty
  // one: whatever is there stays until taken here.
  if (const auto in = inbox_.job.load(std::memory_order_acquire);
      in > closed_inbox && reinterpret_cast<job*>(in)->run == r) {
    queued.push_back(std::move(reinterpret_cast<job*>(in)->held));
    inbox_.job.store(0, std::memory_order_release);
  }
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->run != r) {
      ++it;
      continue;
    }
    queued.push_back(std::move(*it));
    it = queue_.erase(it);
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!running_job_of(r)) return false;
  running_->cancel_requested.store(true, std::memory_order_relaxed);
  interrupt_running();
  return true;
}

bool worker::running_for(const run_data* r) {
  std::lock_guard lock(mutex_);
  return running_job_of(r);
}

bool worker::orphan_if_running(const run_data* r) {
  std::lock_guard lock(mutex_);
  orphaned_ = running_job_of(r);
  return orphaned_;
}

bool worker::interrupt_run(const run_data* r, std::chrono::milliseconds limit) {
  // Calls queued behind a hung one on its connection: taken by the worker
  // later, they would complete into a scheduler and a context already gone.
  std::vector<std::shared_ptr<job>> queued;
  bool stopped = true;
  {
    std::lock_guard lock(registry_mutex);
    std::vector<worker*> busy;
    for (worker* w : registry())
      if (w->stop_jobs_of(r, queued)) busy.push_back(w);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (worker* w : busy)
      while (w->running_for(r) && std::chrono::steady_clock::now() <= deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (worker* w : busy)
      if (w->orphan_if_running(r)) stopped = false;
  }
  // Outside the registry's lock: a job's handler may own the frame that holds
  // a connection, and the connection's worker takes that lock as it goes.
  for (auto& j : queued) {
    j->drop_turn();
    j->abort();
  }
  return stopped;
}

void worker::loop() {
  for (;;) {
    std::shared_ptr<job> j;
    bool last = false;
    // The next call of a busy connection usually follows at once, and so does
    // the open of a connection that just borrowed this thread.
    spin_for(std::chrono::microseconds(50), [this] { return has_work(); });
    {
      std::unique_lock lock(mutex_);
      inbox_.sleeping.store(true, std::memory_order_seq_cst);
      cv_.wait(lock, [this] { return stopping_ || has_work(); });
      inbox_.sleeping.store(false, std::memory_order_relaxed);
      j = take();
      if (!j) break;  // stopping, nothing left
      last = last_submitted_ && queue_.empty();
      // Running from here, its turn included: the end of a hung run waits
      // for it, and a cancel reaches it.
      running_ = j.get();
    }
    // Outside the lock: the run's thread, which grants the turn, takes it to
    // cancel. A run that ended before the turn came aborts the call.
    bool run_it = j->take_turn();
    {
      // Whether it was cancelled is decided here, with the turn: the run's
      // thread had nothing left to run, so every cancel it makes is in.
      std::lock_guard lock(mutex_);
      run_it = run_it && !j->cancel_requested.load(std::memory_order_relaxed);
      if (run_it) interrupt_.store(false, std::memory_order_relaxed);
      executing_ = run_it;
    }
    if (run_it)
      j->execute(db);
    else
      j->abort();
    {
      std::lock_guard lock(mutex_);
      running_ = nullptr;
      executing_ = false;
      // Its run gave up waiting for that call and keeps its state for good:
      // no one will close this connection, so the thread does it and goes.
      last = last || orphaned_;
    }
    if (last) break;
  }
  // Whatever the caller did, the worker never leaves a connection open: a
  // connection abandoned without close() is closed here (and was reported as
  // a leak by the run).
  if (db) {
    while (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr)) sqlite3_finalize(s);
    sqlite3_close_v2(db);
    db = nullptr;
  }
  std::vector<std::shared_ptr<job>> left;
  {
    std::lock_guard lock(mutex_);
    // From here a call finds the inbox closed and queues, to be aborted (below,
    // or by enqueue once the last job was submitted).
    if (const auto in = inbox_.job.exchange(closed_inbox); in > closed_inbox)
      left.push_back(std::move(reinterpret_cast<job*>(in)->held));
    for (; !queue_.empty(); queue_.pop_front()) left.push_back(std::move(queue_.front()));
  }
  // In their turns, outside the lock, as the calls that ran.
  for (auto& j : left) {
    static_cast<void>(j->take_turn());
    j->abort();
  }
}

}  // namespace faultscope::sqlite::detail
