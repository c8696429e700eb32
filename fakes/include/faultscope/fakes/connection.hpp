// A fake database connection with the shape of a real one: open, query, execute,
// close, each a fault point with a latency on the virtual clock, and the
// connection's life tracked. A query that fails with an I/O-style error leaves
// the connection broken, as a real driver's would.
//
//   auto c = co_await faultscope::fakes::connection::open(tracker, {.label = "db"});
//   auto rows = co_await c.query("select * from users");
//   co_await c.close();
#pragma once

#include <chrono>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "faultscope/tracker.hpp"

namespace faultscope::fakes {

using namespace std::chrono_literals;

struct connection_options {
  std::string label = "db";
  std::chrono::nanoseconds open_latency = 5ms;
  std::chrono::nanoseconds query_latency = 2ms;
  std::chrono::nanoseconds close_latency = 1ms;
  std::size_t rows = 3;  ///< rows a query returns
};

/// Fault points: conn.open, conn.query, conn.execute, conn.close. A close
/// releases the connection first and may report an error afterwards, like
/// close(2): the handle is gone either way.
class connection {
 public:
  connection() = default;

  /// `loc` is where the caller opened it: what a leak report names.
  [[nodiscard]] static boost::asio::awaitable<connection> open(
      tracker& t, connection_options options,
      std::source_location loc = std::source_location::current());
  // Not a default argument: g++ 12 mis-copies class-type default arguments of
  // coroutines.
  [[nodiscard]] static boost::asio::awaitable<connection> open(
      tracker& t, std::source_location loc = std::source_location::current()) {
    return open(t, connection_options{}, loc);
  }

  // `loc`: the caller's line, which a use after close or a second close names.
  boost::asio::awaitable<std::vector<std::string>> query(
      std::string_view sql, std::source_location loc = std::source_location::current());
  boost::asio::awaitable<std::size_t> execute(
      std::string_view sql, std::source_location loc = std::source_location::current());
  boost::asio::awaitable<void> close(std::source_location loc = std::source_location::current());

  [[nodiscard]] bool is_open() const noexcept { return state_ && state_->open; }
  [[nodiscard]] bool broken() const noexcept { return state_ && state_->broken; }
  [[nodiscard]] resource_id id() const noexcept { return state_ ? state_->id : 0; }
  [[nodiscard]] const std::string& label() const noexcept;

 private:
  friend class pool;
  struct state {
    faultscope::tracker* owner = nullptr;
    resource_id id = 0;
    connection_options options;
    bool open = false;
    bool broken = false;
    resource_id lease = 0;  ///< its lease while out of its pool; 0 in it
  };
  explicit connection(std::shared_ptr<state> s) : state_(std::move(s)) {}
  boost::asio::awaitable<void> use(std::string_view point, std::chrono::nanoseconds latency,
                                   std::source_location loc);
  std::shared_ptr<state> state_;
  // The lease this handle came with, if it came from a pool. It travels with
  // the handle, not the shared state: a copy kept after the connection was
  // returned, and lent again, must not stand for the new holder's lease.
  resource_id lease_ = 0;
};

}  // namespace faultscope::fakes
