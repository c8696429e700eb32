#include "faultscope/fakes/semaphore.hpp"

#include <fmt/format.h>

#include "faultscope/fault_point.hpp"

namespace faultscope::fakes {

semaphore::semaphore(tracker& t, std::size_t permits, std::string label)
    : semaphore(t, permits, std::move(label), "permit", "semaphore.acquire") {}

semaphore::semaphore(tracker& t, std::size_t permits, std::string label, std::string kind,
                     std::string point)
    : tracker_(t),
      permits_(permits),
      label_(std::move(label)),
      kind_(std::move(kind)),
      point_(std::move(point)) {}

boost::asio::awaitable<resource_id> semaphore::acquire(std::source_location loc) {
  co_await fault_point(point_);
  if (permits_ > 0) {
    --permits_;
  } else {
    // Granted permits pass straight from the releaser to this waiter.
    co_await waiters_.wait(fmt::format("{} \"{}\" waiting", point_, label_));
  }
  const resource_id permit = tracker_.acquire(kind_, label_, loc);
  held_.insert(permit);
  co_return permit;
}

void semaphore::release(resource_id permit, std::source_location loc) {
  tracker_.release(permit, loc);
  // Released twice (or never ours): a second permit given back would let two
  // holders into a mutex.
  if (held_.erase(permit) == 0) return;
  bool handed = true;
  if (!waiters_.grant(handed)) ++permits_;
}

}  // namespace faultscope::fakes
