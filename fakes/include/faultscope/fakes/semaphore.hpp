// An async semaphore and mutex. Waiters are served in FIFO order; a cancelled
// waiter leaves the queue and never ends up holding a permit. Each permit held
// is tracked, so a lock that is never unlocked is a leak with its site.
//
//   faultscope::fakes::async_mutex m(tracker, "accounts");
//   auto held = co_await m.lock();
//   …
//   m.unlock(held);
#pragma once

#include <cstddef>
#include <source_location>
#include <string>
#include <unordered_set>

#include "faultscope/fakes/detail/wait_queue.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::fakes {

/// Fault point: <kind>.acquire (semaphore.acquire, mutex.lock).
class semaphore {
 public:
  semaphore(tracker& t, std::size_t permits, std::string label = "semaphore");
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Waits for a permit; returns its tracked id, which `release` takes.
  boost::asio::awaitable<resource_id> acquire(
      std::source_location loc = std::source_location::current());
  void release(resource_id permit, std::source_location loc = std::source_location::current());
  [[nodiscard]] std::size_t available() const noexcept { return permits_; }

 protected:
  semaphore(tracker& t, std::size_t permits, std::string label, std::string kind,
            std::string point);

 private:
  tracker& tracker_;
  std::size_t permits_;
  std::string label_;
  std::string kind_;
  std::string point_;
  detail::wait_queue<bool> waiters_;
  // Permits out now: one released twice is reported, and gives back nothing.
  std::unordered_set<resource_id> held_;
};

class async_mutex : public semaphore {
 public:
  explicit async_mutex(tracker& t, std::string label = "mutex")
      : semaphore(t, 1, std::move(label), "lock", "mutex.lock") {}
  boost::asio::awaitable<resource_id> lock(
      std::source_location loc = std::source_location::current()) {
    return acquire(loc);
  }
  void unlock(resource_id held, std::source_location loc = std::source_location::current()) {
    release(held, loc);
  }
};

}  // namespace faultscope::fakes
