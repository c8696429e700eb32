// Fault points: the places where a plan can make code fail. Put one before every
// operation that can fail or suspend in real life — acquiring, querying, closing.
// Outside a faultscope run a point costs one relaxed atomic load and a branch
// (plus, for `co_await fault_point`, a coroutine call: use the macro on hot paths).
//
//   co_await faultscope::fault_point("pool.acquire");      // coroutine code
//   faultscope::fault_check("cache.lookup");               // plain code: throws
//   faultscope::fault_check("file.write", ec);             // plain code: sets ec
//   FAULTSCOPE_FAULT_POINT("socket.read");                  // one load when inactive
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "faultscope/detail/fault_session.hpp"

namespace faultscope {

/// What a `throw` fault throws (a `throw(code)` or `error(code)` fault throws
/// `boost::system::system_error` with that code instead, `bad_alloc` throws
/// `std::bad_alloc`).
class injected_fault : public std::runtime_error {
 public:
  explicit injected_fault(const std::string& where)
      : std::runtime_error("injected fault at " + where), where_(where) {}
  /// "pool.acquire#2"
  [[nodiscard]] const std::string& where() const noexcept { return where_; }

 private:
  std::string where_;
};

namespace detail {
/// Counts a pass through `name` in the run's session. Throws a `throw`, `error`
/// or `bad_alloc` fault here, so the pass costs no coroutine; returns a fault
/// the point must suspend for (`cancel`, `timeout`, `delay`), null for none.
std::unique_ptr<fault_session::decision> fault_point_enter(std::string_view name);
/// Suspends as `d` says. `d` is the caller's and outlives the wait.
boost::asio::awaitable<void> fault_point_suspend(const fault_session::decision& d);
void fault_check_slow(std::string_view name);
void fault_check_slow(std::string_view name, boost::system::error_code& ec);
}  // namespace detail

/// A fault point in coroutine code. Under a plan it may throw, cancel the run's
/// root while suspended here, hang until an enclosing deadline fires, or delay.
inline boost::asio::awaitable<void> fault_point(std::string_view name) {
  if (!detail::faults_armed()) co_return;
  if (auto wait = detail::fault_point_enter(name)) co_await detail::fault_point_suspend(*wait);
}

/// A fault point in plain code: `throw`, `error` and `bad_alloc` faults throw; `cancel` emits
/// the cancellation at the run's root and returns (in work on a pool's thread,
/// see hold_clock, it throws `operation_aborted` instead); `timeout` throws
/// `timed_out` (plain code cannot wait); `delay` is recorded and returns.
inline void fault_check(std::string_view name) {
  if (detail::faults_armed()) detail::fault_check_slow(name);
}

/// The same, reporting `throw(code)`, `error` and `timeout` faults through `ec`;
/// a plain `throw` and `bad_alloc` still throw, as an Asio `ec` overload does
/// when memory runs out.
inline void fault_check(std::string_view name, boost::system::error_code& ec) {
  ec.clear();
  if (detail::faults_armed()) detail::fault_check_slow(name, ec);
}

}  // namespace faultscope

/// A fault point whose inactive cost is one relaxed load and a branch, with no
/// coroutine call; in a run, a pass that injects nothing (or throws) calls no
/// coroutine either. Use inside a coroutine.
#define FAULTSCOPE_FAULT_POINT(name)                                             \
  do {                                                                           \
    if (::faultscope::detail::faults_armed())                                    \
      if (auto faultscope_wait_ = ::faultscope::detail::fault_point_enter(name)) \
        co_await ::faultscope::detail::fault_point_suspend(*faultscope_wait_);   \
  } while (false)
