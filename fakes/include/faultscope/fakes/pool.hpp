// A bounded connection pool with the semantics of a real one: idle connections
// are reused; when all are lent out, acquirers wait in FIFO order; a cancelled
// waiter leaves the queue and never receives a connection; a broken connection
// is discarded on return, not reused. Every lease is tracked ("pool.lease"), and
// so is every physical connection the pool opens — close the pool at the end.
//
//   faultscope::fakes::pool p(tracker, {.max_size = 2});
//   auto c = co_await p.acquire();
//   co_await c.query("select 1");
//   co_await p.release(c);
//   co_await p.close();
#pragma once

#include <cstddef>
#include <deque>
#include <source_location>

#include "faultscope/fakes/connection.hpp"
#include "faultscope/fakes/detail/wait_queue.hpp"

namespace faultscope::fakes {

struct pool_options {
  std::size_t max_size = 2;
  connection_options connection{};
};

/// Fault points: pool.acquire, pool.release (after the lease is returned), and
/// the connection's own.
class pool {
 public:
  pool(tracker& t, pool_options options = {});
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// `loc` is where the caller acquired: what a leak report names.
  boost::asio::awaitable<connection> acquire(
      std::source_location loc = std::source_location::current());
  /// `loc`: the caller's line, which returning a lease twice names. The lease
  /// is the one `c` was lent with: returning a stale copy never ends the lease
  /// of whoever holds the connection now.
  boost::asio::awaitable<void> release(connection& c,
                                       std::source_location loc = std::source_location::current());
  /// Closes the idle connections (their releases at `loc`); fails every waiter.
  boost::asio::awaitable<void> close(std::source_location loc = std::source_location::current());

  [[nodiscard]] std::size_t idle() const noexcept { return idle_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return open_; }

 private:
  connection lend(connection c, const std::source_location& loc);
  tracker& tracker_;
  pool_options options_;
  std::deque<connection> idle_;
  std::size_t open_ = 0;
  detail::wait_queue<connection> waiters_;
};

}  // namespace faultscope::fakes
