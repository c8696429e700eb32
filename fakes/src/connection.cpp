#include "faultscope/fakes/connection.hpp"

#include <fmt/format.h>

#include <boost/system/system_error.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::fakes {

boost::asio::awaitable<connection> connection::open(tracker& t, connection_options options,
                                                    std::source_location loc) {
  co_await fault_point("conn.open");
  co_await sleep_for(options.open_latency);
  auto s = std::make_shared<state>();
  s->owner = &t;
  s->options = std::move(options);
  s->id = t.acquire("connection", s->options.label, loc);
  s->open = true;
  co_return connection(std::move(s));
}

const std::string& connection::label() const noexcept {
  static const std::string none;
  return state_ ? state_->options.label : none;
}

boost::asio::awaitable<void> connection::use(std::string_view point,
                                             std::chrono::nanoseconds latency,
                                             std::source_location loc) {
  if (!state_) throw std::logic_error("use of an empty fakes::connection");
  auto s = state_;
  s->owner->touch(s->id, loc);  // a use after close is reported here
  // A use after the handle went back to its pool is a use of a returned lease,
  // though the connection itself is open (and maybe someone else's by now).
  if (lease_ != 0) s->owner->touch(lease_, loc);
  if (s->broken)
    throw boost::system::system_error(boost::asio::error::broken_pipe,
                                      fmt::format("connection \"{}\" is broken", s->options.label));
  try {
    co_await fault_point(point);
  } catch (const boost::system::system_error& e) {
    // An I/O error leaves the connection unusable; a cancellation does not.
    if (e.code() != boost::asio::error::operation_aborted) s->broken = true;
    throw;
  } catch (...) {
    s->broken = true;
    throw;
  }
  co_await sleep_for(latency);
}

boost::asio::awaitable<std::vector<std::string>> connection::query(std::string_view sql,
                                                                   std::source_location loc) {
  co_await use("conn.query", state_ ? state_->options.query_latency : 0ns, loc);
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < state_->options.rows; ++i)
    rows.push_back(fmt::format("{} row {}", sql, i + 1));
  co_return rows;
}

boost::asio::awaitable<std::size_t> connection::execute(std::string_view sql,
                                                        std::source_location loc) {
  co_await use("conn.execute", state_ ? state_->options.query_latency : 0ns, loc);
  co_return sql.size() % 7 + 1;
}

boost::asio::awaitable<void> connection::close(std::source_location loc) {
  if (!state_) throw std::logic_error("close of an empty fakes::connection");
  auto s = state_;
  s->open = false;
  s->owner->release(s->id, loc);  // a second close is reported as a double release
  co_await sleep_for(s->options.close_latency);
  co_await fault_point("conn.close");
}

}  // namespace faultscope::fakes
