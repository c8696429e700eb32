// Machinery shared by async_with, with_resource and the exit stack: the state a
// scope shares with its manager coroutine, and the launch of that coroutine in a
// thread of its own so its cleanup is shielded from the caller's cancellation.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/site.hpp"
#include "faultscope/violation.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::detail {

enum class scope_phase { setup, body, cleanup, done };

struct scope_state_base {
  explicit scope_state_base(faultscope::site s) : where(std::move(s)) {}
  virtual ~scope_state_base() = default;

  faultscope::site where;  ///< the async_with / with_resource call
  scope_phase phase = scope_phase::setup;
  bool yielded = false;
  bool suppressed = false;
  bool cleanup_timed_out = false;
  bool cleanup_reported = false;    ///< the manager already reported its own cleanup failure
  bool deadline_delegated = false;  ///< the manager bounds each part of its cleanup itself
  std::exception_ptr body_error;
  // Carries the caller's cancellation into setup and body, never into cleanup.
  boost::asio::cancellation_signal child_signal;
  std::optional<faultscope::timer> watchdog;

  /// Starts the cleanup deadline (only inside a run: outside, there is no clock).
  void start_watchdog(const boost::asio::any_io_executor& ex,
                      const std::shared_ptr<scope_state_base>& self);
  void stop_watchdog() {
    if (watchdog) watchdog->cancel();
  }
};

/// Reports to the current tracker, if there is one, pointing at `where`.
void report(violation_kind kind, std::string message, const site& where);

/// Forwards the caller's cancellation to the manager while the scope is at most
/// in phase `last`; after that, a cancellation is not the manager's business.
struct cancel_forwarder {
  // A constructor, not an aggregate: the slot emplaces with parentheses.
  cancel_forwarder(std::shared_ptr<scope_state_base> s, scope_phase l) noexcept
      : st(std::move(s)), last(l) {}
  std::shared_ptr<scope_state_base> st;
  scope_phase last;
  void operator()(boost::asio::cancellation_type type) const {
    if (st->phase <= last) st->child_signal.emit(type);
  }
};

/// The error a cleanup that overran the run's cleanup deadline ends with:
/// `timed_out`, after the overrun was reported.
[[nodiscard]] std::exception_ptr cleanup_overran();

/// After a manager ended: one that never yielded is the caller's error (its
/// own exception, or a logic_error); a cleanup that threw is reported, unless
/// the deadline's report already covers it or the manager reported it itself.
void check_manager_end(const scope_state_base& st, const std::exception_ptr& manager_error);

/// Runs `manager` in a thread of its own and waits for it. The caller's
/// cancellation is forwarded while the scope is in setup or body; in cleanup it
/// is not, so a release is never interrupted by the cancellation that caused it.
/// Completes with the manager's exception, if any, without throwing.
template <typename Manager>
boost::asio::awaitable<std::exception_ptr> launch_manager(std::shared_ptr<scope_state_base> st,
                                                          Manager manager) {
  auto ex = co_await boost::asio::this_coro::executor;
  auto initiate = [ex, st, &manager](auto handler) mutable {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.template emplace<cancel_forwarder>(st, scope_phase::body);
    boost::asio::co_spawn(
        ex, std::move(manager),
        boost::asio::bind_cancellation_slot(
            st->child_signal.slot(), [st, h = std::move(handler)](std::exception_ptr e) mutable {
              st->phase = scope_phase::done;
              st->stop_watchdog();
              std::move(h)(e);
            }));
  };
  auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
  auto [error] = co_await boost::asio::async_initiate<decltype(token), void(std::exception_ptr)>(
      initiate, token);
  co_return error;
}

}  // namespace faultscope::detail
