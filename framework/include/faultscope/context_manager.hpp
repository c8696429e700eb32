// Python's @asynccontextmanager for Asio coroutines. A context manager is a
// coroutine that acquires, hands the resource to the body with `co_await
// yield(resource)`, and cleans up after it. `yield` returns how the body ended
// instead of throwing, so the code after it is the cleanup, and it always runs:
// shielded from the cancellation that ended the body, under its own deadline.
//
//   faultscope::context_manager<connection> get_connection(database& db) {
//     return [&db](faultscope::yield<connection> yield) -> awaitable<void> {
//       connection conn = co_await db.connect();
//       auto exit = co_await yield(conn);          // the body runs here
//       if (!exit.ok()) co_await conn.rollback();
//       co_await conn.close();
//     };
//   }
//   auto users = co_await faultscope::async_with(get_connection(db),
//       [](connection& c) -> awaitable<std::vector<user>> { co_return co_await c.query(…); });
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/detail/scope_state.hpp"
#include "faultscope/scope.hpp"
#include "faultscope/site.hpp"

namespace faultscope {

/// How a scope's body ended.
enum class exit_kind { ok, exception, cancelled };

/// What `co_await yield(resource)` returns to the manager.
class exit_status {
 public:
  explicit exit_status(std::shared_ptr<detail::scope_state_base> st) : st_(std::move(st)) {}

  [[nodiscard]] exit_kind kind() const noexcept {
    if (!st_->body_error) return exit_kind::ok;
    return detail::is_cancellation(st_->body_error) ? exit_kind::cancelled : exit_kind::exception;
  }
  [[nodiscard]] bool ok() const noexcept { return !st_->body_error; }
  [[nodiscard]] bool cancelled() const noexcept { return kind() == exit_kind::cancelled; }
  /// The body's exception (a cancellation is Asio's operation_aborted), or null.
  [[nodiscard]] std::exception_ptr error() const noexcept { return st_->body_error; }
  /// The scope will not rethrow the body's exception (Python's `return True`
  /// from __aexit__). The body's value, if it had one, is lost: only scopes whose
  /// body returns void can suppress.
  void suppress() const noexcept { st_->suppressed = true; }

 private:
  std::shared_ptr<detail::scope_state_base> st_;
};

namespace detail {

template <typename T>
struct body_runner : scope_state_base {
  using scope_state_base::scope_state_base;
  virtual boost::asio::awaitable<void> run_body(T& resource) = 0;
};

}  // namespace detail

/// The callable a context manager receives. Call it exactly once.
template <typename T>
class yield {
 public:
  explicit yield(std::shared_ptr<detail::body_runner<T>> st) : st_(std::move(st)) {}

  /// Runs the body with `resource`; returns how it ended, never throws for it.
  boost::asio::awaitable<exit_status> operator()(T& resource) const {
    auto st = st_;
    if (st->yielded)
      throw std::logic_error(
          fmt::format("the context manager used at {} yielded twice", st->where.str()));
    st->yielded = true;
    st->phase = detail::scope_phase::body;
    std::exception_ptr error;
    auto cs = co_await boost::asio::this_coro::cancellation_state;
    if (cs.cancelled() != boost::asio::cancellation_type::none) {
      // Cancelled while setup finished anyway (an operation that cannot be
      // interrupted): the body never starts, the cleanup still runs.
      error = std::make_exception_ptr(boost::system::system_error(
          boost::asio::error::operation_aborted, "scope cancelled before its body started"));
    } else {
      co_await boost::asio::this_coro::throw_if_cancelled(true);
      try {
        co_await st->run_body(resource);
      } catch (...) {
        error = std::current_exception();
      }
      co_await boost::asio::this_coro::throw_if_cancelled(false);
    }
    st->body_error = error;
    st->phase = detail::scope_phase::cleanup;
    // This thread belongs to the scope: clearing its sticky cancelled flag lets
    // the cleanup await; the caller's own flag is untouched and still set.
    co_await boost::asio::this_coro::reset_cancellation_state();
    st->start_watchdog(co_await boost::asio::this_coro::executor, st);
    co_return exit_status(st);
  }

  /// For managers that report their own cleanup failures (the exit stack).
  void cleanup_reported() const noexcept { st_->cleanup_reported = true; }
  /// For managers that bound each part of their cleanup by the deadline
  /// themselves (the exit stack), so an overrun is reported once, under the
  /// part's site. Call it before yielding.
  void delegate_deadline() const noexcept { st_->deadline_delegated = true; }

 private:
  std::shared_ptr<detail::body_runner<T>> st_;
};

/// A context manager yielding a T.
template <typename T>
using context_manager = std::function<boost::asio::awaitable<void>(yield<T>)>;

namespace detail {

template <typename T, typename Body>
using body_value_t = awaitable_value_t<std::invoke_result_t<Body&, T&>>;

template <typename T, typename Body, typename U>
struct scope_state final : body_runner<T> {
  scope_state(Body b, faultscope::site s) : body_runner<T>(std::move(s)), body(std::move(b)) {}
  boost::asio::awaitable<void> run_body(T& resource) override {
    if constexpr (std::is_void_v<U>) {
      co_await body(resource);
    } else {
      result.emplace(co_await body(resource));
    }
  }
  Body body;
  std::optional<std::conditional_t<std::is_void_v<U>, char, U>> result;
};

template <typename T, typename Manager>
boost::asio::awaitable<void> run_manager(Manager manager, yield<T> y) {
  // Let through whatever cancellation the caller's own filter let through.
  co_await boost::asio::this_coro::reset_cancellation_state(
      boost::asio::enable_total_cancellation());
  // The manager's own awaits do not throw for a cancellation (the operation it
  // interrupts does): otherwise one that lands just as setup completes anyway
  // would throw at `co_await yield(resource)`, and what setup acquired is lost.
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  co_await manager(y);
}

template <typename T, typename Manager, typename Body>
auto async_with_impl(Manager manager, Body body, faultscope::site where)
    -> boost::asio::awaitable<body_value_t<T, Body>> {
  using U = body_value_t<T, Body>;
  auto st = std::make_shared<scope_state<T, Body, U>>(std::move(body), std::move(where));
  faultscope::scope named(std::string(st->where.function()));
  std::exception_ptr manager_error =
      co_await launch_manager(st, run_manager<T>(std::move(manager), yield<T>(st)));

  check_manager_end(*st, manager_error);
  if (st->body_error && !st->suppressed) std::rethrow_exception(st->body_error);
  if (st->cleanup_timed_out) std::rethrow_exception(cleanup_overran());
  if (manager_error) std::rethrow_exception(manager_error);
  if constexpr (!std::is_void_v<U>) {
    if (!st->result)
      throw std::logic_error(
          fmt::format("the scope at {} suppressed its body's exception but must return a value",
                      st->where.str()));
    co_return std::move(*st->result);
  }
}

template <typename F>
struct manager_arg;
template <typename R, typename T>
struct manager_arg<R (*)(yield<T>)> {
  using type = T;
};
template <typename C, typename R, typename T>
struct manager_arg<R (C::*)(yield<T>) const> {
  using type = T;
};
template <typename C, typename R, typename T>
struct manager_arg<R (C::*)(yield<T>)> {
  using type = T;
};
template <typename F>
requires requires {
  &F::operator();
}
struct manager_arg<F> : manager_arg<decltype(&F::operator())> {};
template <typename T>
struct manager_arg<std::function<boost::asio::awaitable<void>(yield<T>)>> {
  using type = T;
};

}  // namespace detail

/// Enters `manager`, runs `body` with what it yields, runs the manager's cleanup,
/// then rethrows the body's exception unless the manager suppressed it. A cleanup
/// that throws or overruns is reported to the run's tracker; the body's exception,
/// if any, still propagates unchanged.
template <typename Manager, typename Body,
          typename T = typename detail::manager_arg<std::decay_t<Manager>>::type>
auto async_with(Manager manager, Body body,
                std::source_location loc = std::source_location::current()) {
  return detail::async_with_impl<T>(std::move(manager), std::move(body), site::from(loc));
}

/// The same, naming the resource type for a manager it cannot be deduced from
/// (a generic lambda): `async_with<connection>(…)`.
template <typename T, typename Manager, typename Body>
requires std::is_invocable_v<Manager&, yield<T>>
auto async_with(Manager manager, Body body,
                std::source_location loc = std::source_location::current()) {
  return detail::async_with_impl<T>(std::move(manager), std::move(body), site::from(loc));
}

}  // namespace faultscope
