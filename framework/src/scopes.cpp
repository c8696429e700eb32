#include <fmt/format.h>

#include <boost/system/system_error.hpp>

#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/detail/format.hpp"
#include "faultscope/detail/scope_state.hpp"
#include "faultscope/exit_stack.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::detail {

std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& ex) {
    return ex.code() == boost::asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

void report(violation_kind kind, std::string message) {
  if (auto* t = current_tracker()) t->report(kind, std::move(message));
}

void scope_state_base::start_watchdog(const boost::asio::any_io_executor& ex,
                                      const std::shared_ptr<scope_state_base>& self) {
  auto* run = current_run();
  if (!run || !current_scheduler()) return;
  watchdog.emplace(ex, run->options().cleanup_deadline);
  auto deadline = run->options().cleanup_deadline;
  // The wait holds the state; stop_watchdog (when the manager ends) cancels it.
  watchdog->async_wait([self, deadline](boost::system::error_code ec) {
    if (ec || self->phase != scope_phase::cleanup) return;
    self->cleanup_timed_out = true;
    report(violation_kind::release_timeout,
           fmt::format("cleanup of the scope at {} in {} overran its {} deadline",
                       self->where.str(), self->where.function(), format_duration(deadline)));
    self->child_signal.emit(boost::asio::cancellation_type::terminal);
  });
}

}  // namespace faultscope::detail

namespace faultscope {

boost::asio::awaitable<void> async_exit_stack::close() {
  // Every release is attempted, even after a cancellation (the caller's, or the
  // cleanup deadline's) made one of them fail: the sticky cancelled flag must
  // not turn the rest into no-ops. A new cancellation still reaches the
  // release in progress.
  bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr first;
  while (!entries_.empty()) {
    entry e = std::move(entries_.back());
    entries_.pop_back();
    std::exception_ptr error;
    try {
      co_await e.release();
    } catch (...) {
      error = std::current_exception();
    }
    if (!error) continue;
    detail::report(violation_kind::release_failed,
                   fmt::format("exit-stack release registered at {} in {} threw: {}", e.where.str(),
                               e.where.function(), detail::describe_exception(error)));
    if (!first) first = error;
  }
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  if (first) std::rethrow_exception(first);
}

}  // namespace faultscope
