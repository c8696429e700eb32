// Bounds an operation by a deadline without ever losing its exception. When the
// deadline passes, the operation is cancelled (cancellation_type::all) and awaited,
// so its cleanup finishes before `with_timeout` throws `timed_out`. If the
// operation finished anyway — it produced a value after all — the value is
// returned: dropping it could leak what it acquired.
//
//   auto conn = co_await faultscope::with_timeout(2s, pool.acquire());
//
// Inside a run the deadline is on the virtual clock; outside, on steady_clock.
// (Asio's `a || b` operator is not used: it waits for the first *success*, so a
// failing operation would wait out the timer and lose its exception.)
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/format.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope {

namespace detail {

template <typename T>
boost::asio::awaitable<std::optional<T>> as_optional(boost::asio::awaitable<T> inner) {
  co_return std::optional<T>(co_await std::move(inner));
}

inline boost::asio::awaitable<std::optional<std::monostate>> as_optional(
    boost::asio::awaitable<void> inner) {
  co_await std::move(inner);
  co_return std::monostate{};
}

// The value travels as an optional, so T need not be default-constructible and
// void needs no second copy of this function.
template <typename Timer, typename T>
boost::asio::awaitable<T> with_timeout_on(std::chrono::nanoseconds limit,
                                          boost::asio::awaitable<T> op) {
  auto ex = co_await boost::asio::this_coro::executor;
  Timer deadline(ex);
  deadline.expires_after(std::chrono::duration_cast<typename Timer::duration>(limit));
  auto [order, op_error, value, timer_error] =
      co_await boost::asio::experimental::make_parallel_group(
          boost::asio::co_spawn(ex, as_optional(std::move(op)), boost::asio::deferred),
          deadline.async_wait(boost::asio::deferred))
          .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::use_awaitable);
  (void)timer_error;
  if (!op_error) {
    if constexpr (std::is_void_v<T>)
      co_return;
    else
      co_return std::move(*value);
  }
  if (order[0] == 0) std::rethrow_exception(op_error);
  throw boost::system::system_error(boost::asio::error::timed_out,
                                    "operation timed out after " + format_duration(limit));
}

}  // namespace detail

template <typename T, typename Rep, typename Period>
boost::asio::awaitable<T> with_timeout(std::chrono::duration<Rep, Period> limit,
                                       boost::asio::awaitable<T> op) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(limit);
  if (detail::current_scheduler())
    co_return co_await detail::with_timeout_on<timer>(ns, std::move(op));
  co_return co_await detail::with_timeout_on<boost::asio::steady_timer>(ns, std::move(op));
}

}  // namespace faultscope
