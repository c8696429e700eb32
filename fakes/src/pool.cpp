#include "faultscope/fakes/pool.hpp"

#include <fmt/format.h>

#include "faultscope/fault_point.hpp"

namespace faultscope::fakes {

pool::pool(tracker& t, pool_options options) : tracker_(t), options_(std::move(options)) {}

connection pool::lend(connection c, const std::source_location& loc) {
  c.state_->lease = c.lease_ = tracker_.acquire("pool.lease", c.label(), loc);
  return c;
}

boost::asio::awaitable<connection> pool::acquire(std::source_location loc) {
  co_await fault_point("pool.acquire");
  if (!idle_.empty()) {
    connection c = std::move(idle_.front());
    idle_.pop_front();
    co_return lend(std::move(c), loc);
  }
  if (open_ < options_.max_size) {
    ++open_;  // reserve the slot before suspending, so two acquirers cannot overshoot
    connection c;
    try {
      c = co_await connection::open(tracker_, options_.connection, loc);
    } catch (...) {
      --open_;
      throw;
    }
    co_return lend(std::move(c), loc);
  }
  connection c = co_await waiters_.wait(
      fmt::format("pool.acquire waiting for one of {} connections", options_.max_size));
  co_return lend(std::move(c), loc);
}

boost::asio::awaitable<void> pool::release(connection& c, std::source_location loc) {
  if (!c.state_) throw std::logic_error("release of an empty fakes::connection");
  if (c.lease_ == 0) {
    // Opened by the caller, not lent: there is no lease to end, and taking it
    // would grow the pool past its size.
    tracker_.report(violation_kind::unknown_release,
                    fmt::format("connection #{} \"{}\" returned at {} to a pool that never lent it",
                                c.id(), c.label(), site{loc}.str()),
                    c.id(), site{loc});
    co_return;
  }
  connection back = c;
  // Returned twice, or through a copy kept after the return: the lease's double
  // release, at both of the caller's lines. The pool has the connection back
  // already (or lent it again) and must not take it a second time.
  tracker_.release(c.lease_, loc);
  if (c.lease_ != back.state_->lease) co_return;
  back.state_->lease = 0;
  if (back.broken() || !back.is_open()) {
    // A broken connection is discarded, never handed to the next acquirer.
    --open_;
    if (back.is_open()) co_await back.close(loc);
  } else if (!waiters_.grant(back)) {
    idle_.push_back(std::move(back));
  }
  co_await fault_point("pool.release");
}

boost::asio::awaitable<void> pool::close(std::source_location loc) {
  waiters_.fail_all(boost::asio::error::operation_aborted);
  while (!idle_.empty()) {
    connection c = std::move(idle_.front());
    idle_.pop_front();
    --open_;
    co_await c.close(loc);
  }
}

}  // namespace faultscope::fakes
