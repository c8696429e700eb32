// A completion token for `co_spawn` that works like `boost::asio::detached`,
// except that an exception ending the coroutine is not lost without a trace. In a
// run it is reported as an `unhandled exception` violation. Outside a run it is
// dropped, as Asio's token drops it, so the token can stay in production code.
//
//   co_spawn(ex, serve(std::move(socket)), faultscope::detached);    // drop-in
//   co_spawn(ex, serve(std::move(socket)), faultscope::detached());  // + the line
//
// The second form records the `co_spawn` line, and the violation points at it.
// A cancellation (`operation_aborted`) is not reported, because a cancelled
// coroutine that nobody awaits has lost nothing.
#pragma once

#include <exception>
#include <source_location>

#include "faultscope/site.hpp"

namespace faultscope {

namespace detail {
/// Reports `e` to the run on this thread, if any, unless it is a cancellation.
void report_detached_exception(const std::exception_ptr& e, const site& spawned_at) noexcept;
}  // namespace detail

/// The handler: `co_spawn` calls it with the coroutine's exception (or null)
/// and, for an `awaitable<T>`, its value, which is dropped.
class detached_handler {
 public:
  constexpr detached_handler() noexcept = default;
  constexpr explicit detached_handler(site spawned_at) noexcept : spawned_at_(spawned_at) {}

  template <typename... Value>
  void operator()(std::exception_ptr e, Value&&...) const noexcept {
    if (e) detail::report_detached_exception(e, spawned_at_);
  }

 private:
  site spawned_at_{};
};

/// The type of `faultscope::detached`: a handler itself (reporting no line),
/// and, when called with no arguments, a handler that records the caller's line.
struct detached_t : detached_handler {
  using detached_handler::operator();
  [[nodiscard]] detached_handler operator()(
      std::source_location where = std::source_location::current()) const noexcept {
    return detached_handler(site::from(where));
  }
};

inline constexpr detached_t detached{};

}  // namespace faultscope
