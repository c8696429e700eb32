#include "faultscope/detail/watchdog.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "faultscope/explore.hpp"

namespace faultscope::detail {

namespace {

thread_local std::string_view label;
thread_local const std::function<void(const std::string&)>* on_block = nullptr;

// A debugger stopped at a breakpoint holds every thread, the run's too, while
// the clock goes on: that is not a blocked run.
bool debugger_attached() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("TracerPid:")) return line.find_first_not_of(" \t0", 10) != line.npos;
  return false;
}

}  // namespace

class watchdog {
 public:
  using clock = watched_run::clock;

  static watchdog& instance() {
    // Never destroyed: its thread may still wait when static destructors run.
    static auto* w = new watchdog;
    return *w;
  }

  void add(watched_run& r) {
    std::lock_guard lock(mutex_);
    if (!started_) {
      std::thread([this] { watch(); }).detach();
      started_ = true;
    }
    r.next_ = runs_;
    if (runs_) runs_->prev_ = &r;
    runs_ = &r;
    wake_if_sooner(r.deadline_);
  }

  void extend(watched_run& r, clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    r.deadline_ = deadline;
    wake_if_sooner(deadline);
  }

  void set_last_words(last_words f) {
    std::lock_guard lock(mutex_);
    last_words_ = std::move(f);
  }

  void add_exit_cleanup(void (*f)() noexcept) {
    std::lock_guard lock(mutex_);
    cleanups_.push_back(f);
  }

  void remove(watched_run& r) {
    std::lock_guard lock(mutex_);
    if (!r.forgotten_) forget(r);  // else its thread came back after all
  }

 private:
  // A wake-up is a system call and a context switch, as costly as a whole
  // short run: only a deadline before the one the thread sleeps until needs
  // one. A run that ends leaves the thread to wake at its deadline and look.
  void wake_if_sooner(clock::time_point deadline) {
    if (deadline < sleeping_until_) cv_.notify_one();
  }

  // Sleeps until the next deadline (a copy: wait_until reads it again after
  // each wake-up, when that run may be gone), then looks again.
  void sleep_until(std::unique_lock<std::mutex>& lock, clock::time_point until) {
    sleeping_until_ = until;
    cv_.wait_until(lock, until);
  }

  [[noreturn]] void watch() {
    std::unique_lock lock(mutex_);
    for (;;) {
      watched_run* first = runs_;
      for (auto* r = runs_; r; r = r->next_)
        if (r->deadline_ < first->deadline_) first = r;
      if (!first) {
        sleeping_until_ = clock::time_point::max();
        cv_.wait(lock);
        continue;
      }
      auto now = clock::now();
      if (now < first->deadline_) {
        sleep_until(lock, first->deadline_);
        continue;
      }
      if (debugger_attached()) {
        sleep_until(lock, now + std::chrono::minutes(1));  // stopped at a breakpoint?
        continue;
      }
      // The run is still registered, so still inside run(): its label and
      // plan are alive, and nothing writes them.
      std::string what = first->label_.empty()
                             ? fmt::format("a run under plan '{}'", first->plan_->to_string())
                             : fmt::format("'{}'", replay_token(first->label_, *first->plan_));
      auto held = std::chrono::duration_cast<std::chrono::seconds>(now - first->started_);
      std::string line = fmt::format(
          "{} has held its thread for {} s without getting back to its event loop: a call in "
          "it blocks the thread (a std::future::get, a lock, a sleep, a synchronous socket?), "
          "which no run can interrupt",
          what, held.count());
      if (first->on_block_) {
        // The run's thread stays blocked, and its on_block_scope with it: the
        // function is alive until the run is off the list, so copy it first.
        auto f = *first->on_block_;
        forget(*first);
        lock.unlock();
        try {
          f(line);
        } catch (...) {  // the thread is given up on either way
        }
        lock.lock();
        continue;
      }
      // What the program wrote so far (a report's first lines) goes out first;
      // the line goes out before the last words, which might block too.
      std::fflush(nullptr);
      // On a terminal the line may hold a progress bar (the runner's): clear it
      // rather than append to it. Last words may yet go on in a new process
      // (the runner's), so the line says it exits only once that is so.
      std::fputs(fmt::format("{}faultscope: {}{}\n", isatty(STDERR_FILENO) ? "\r\x1b[K" : "", line,
                             last_words_ ? "" : "; exiting")
                     .c_str(),
                 stderr);
      std::fflush(stderr);
      // Before last words, which may start the program again in its place.
      for (auto* cleanup : cleanups_) cleanup();
      if (last_words_) {
        try {
          last_words_(first->label_, *first->plan_, line);
        } catch (...) {  // the process ends either way; the line is out
        }
        std::fflush(nullptr);
        std::fputs("faultscope: exiting\n", stderr);
      }
      std::_Exit(1);
    }
  }

  void forget(watched_run& r) {
    (r.prev_ ? r.prev_->next_ : runs_) = r.next_;
    if (r.next_) r.next_->prev_ = r.prev_;
    r.forgotten_ = true;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  watched_run* runs_ = nullptr;
  bool started_ = false;
  last_words last_words_;
  std::vector<void (*)() noexcept> cleanups_;
  // Until when the thread sleeps (it looks at the runs before it first does).
  clock::time_point sleeping_until_ = clock::time_point::max();
};

void set_last_words(last_words f) {
  watchdog::instance().set_last_words(std::move(f));
}

void at_watchdog_exit(void (*cleanup)() noexcept) {
  watchdog::instance().add_exit_cleanup(cleanup);
}

namespace {
std::vector<blocked_schedule>& blocked_schedules() {
  static std::vector<blocked_schedule> blocked;
  return blocked;
}
}  // namespace

std::chrono::nanoseconds block_margin(const run_options& options) {
  return std::clamp<std::chrono::nanoseconds>(options.wall_limit, std::chrono::seconds(1),
                                              std::chrono::seconds(10));
}

std::chrono::nanoseconds block_limit(const run_options& options) {
  return options.wall_limit +
         std::max<std::chrono::nanoseconds>(options.foreign_grace, options.jump_threshold) +
         block_margin(options);
}

run_result blocked_run(std::string_view line) {
  run_result r;
  r.end = run_end::hung;
  r.violations.push_back({violation_kind::hang, fmt::format("hang: {}", line)});
  return r;
}

void set_blocked_schedules(std::vector<blocked_schedule> blocked) {
  blocked_schedules() = std::move(blocked);
}

const std::string* blocked_before(const fault_plan& plan) {
  const auto& blocked = blocked_schedules();
  if (blocked.empty()) return nullptr;
  const std::string token = plan.to_string();
  for (const auto& b : blocked)
    if (b.label == label && b.plan == token) return &b.line;
  return nullptr;
}

run_label_scope::run_label_scope(std::string_view l) noexcept : previous_(label) {
  label = l;
}
run_label_scope::~run_label_scope() {
  label = previous_;
}
std::string_view current_run_label() noexcept {
  return label;
}

on_block_scope::on_block_scope(std::function<void(const std::string& line)> f)
    : f_(std::move(f)), previous_(on_block) {
  on_block = &f_;
}
on_block_scope::~on_block_scope() {
  on_block = previous_;
}

watched_run::watched_run(const fault_plan& plan, clock::time_point started,
                         clock::time_point deadline)
    : label_(label), plan_(&plan), on_block_(on_block), started_(started), deadline_(deadline) {
  watchdog::instance().add(*this);
}
watched_run::~watched_run() {
  watchdog::instance().remove(*this);
}
void watched_run::extend(clock::time_point deadline) {
  watchdog::instance().extend(*this, deadline);
}

}  // namespace faultscope::detail
