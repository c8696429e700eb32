#include "faultscope/detail/watchdog.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace faultscope::detail {

namespace {

thread_local std::string_view label;

// A debugger stopped at a breakpoint holds every thread, the run's too, while
// the clock goes on: that is not a blocked run.
bool debugger_attached() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("TracerPid:")) return line.find_first_not_of(" \t0", 10) != line.npos;
  return false;
}

class watchdog {
 public:
  static watchdog& instance() {
    // Never destroyed: its thread may still wait when static destructors run.
    static auto* w = new watchdog;
    return *w;
  }

  std::uint64_t add(std::string what, watched_run::clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    if (!started_) {
      std::thread([this] { watch(); }).detach();
      started_ = true;
    }
    auto id = next_++;
    runs_.emplace(id, entry{std::move(what), watched_run::clock::now(), deadline});
    wake_if_sooner(deadline);
    return id;
  }

  void extend(std::uint64_t id, watched_run::clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    if (auto it = runs_.find(id); it != runs_.end()) it->second.deadline = deadline;
    wake_if_sooner(deadline);
  }

  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    runs_.erase(id);
  }

 private:
  struct entry {
    std::string what;
    watched_run::clock::time_point started;
    watched_run::clock::time_point deadline;
  };

  // A wake-up is a system call and a context switch, as costly as a whole
  // short run: only a deadline before the one the thread sleeps until needs
  // one. A run that ends leaves the thread to wake at its deadline and look.
  void wake_if_sooner(watched_run::clock::time_point deadline) {
    if (deadline < sleeping_until_) cv_.notify_one();
  }

  [[noreturn]] void watch() {
    std::unique_lock lock(mutex_);
    for (;;) {
      const entry* first = nullptr;
      for (auto& [id, e] : runs_)
        if (!first || e.deadline < first->deadline) first = &e;
      if (!first) {
        sleeping_until_ = watched_run::clock::time_point::max();
        cv_.wait(lock);
        continue;
      }
      auto now = watched_run::clock::now();
      // wait_until reads its deadline again after each wake-up, when the
      // run's entry may be gone: a copy, never a reference into the map.
      if (now < first->deadline) {
        const auto until = first->deadline;
        sleeping_until_ = until;
        cv_.wait_until(lock, until);
        continue;
      }
      if (debugger_attached()) {
        // Look again in a minute: the run may be stopped at a breakpoint.
        const auto until = now + std::chrono::minutes(1);
        sleeping_until_ = until;
        cv_.wait_until(lock, until);
        continue;
      }
      auto held = std::chrono::duration_cast<std::chrono::seconds>(now - first->started);
      // What the program wrote so far (a report's first lines) goes out first.
      std::fflush(nullptr);
      std::fputs(fmt::format("faultscope: {} has held its thread for {} s without getting back "
                             "to its event loop: a call in it blocks the thread (a "
                             "std::future::get, a lock, a sleep, a synchronous socket?), which "
                             "no run can interrupt; exiting\n",
                             first->what, held.count())
                     .c_str(),
                 stderr);
      std::fflush(stderr);
      std::_Exit(1);
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::uint64_t, entry> runs_;
  std::uint64_t next_ = 1;
  bool started_ = false;
  // Until when the thread sleeps (it looks at the runs before it first does).
  watched_run::clock::time_point sleeping_until_ = watched_run::clock::time_point::max();
};

}  // namespace

run_label_scope::run_label_scope(std::string_view l) noexcept : previous_(label) {
  label = l;
}
run_label_scope::~run_label_scope() {
  label = previous_;
}
std::string_view current_run_label() noexcept {
  return label;
}

watched_run::watched_run(std::string what, clock::time_point deadline)
    : id_(watchdog::instance().add(std::move(what), deadline)) {}
watched_run::~watched_run() {
  watchdog::instance().remove(id_);
}
void watched_run::extend(clock::time_point deadline) {
  watchdog::instance().extend(id_, deadline);
}

}  // namespace faultscope::detail
