#include <functional>
#include <stdexcept>

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/detail/format.hpp"
#include "faultscope/detail/scope_state.hpp"
#include "faultscope/exit_stack.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"
#include "faultscope/virtual_time.hpp"

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

void report(violation_kind kind, std::string message, const site& where) {
  if (auto* t = current_tracker()) t->report(kind, std::move(message), 0, where);
}

std::exception_ptr cleanup_overran() {
  return std::make_exception_ptr(
      boost::system::system_error(boost::asio::error::timed_out, "cleanup overran its deadline"));
}

void check_manager_end(const scope_state_base& st, const std::exception_ptr& manager_error) {
  if (!st.yielded) {
    if (manager_error) std::rethrow_exception(manager_error);
    throw std::logic_error(
        fmt::format("the context manager used at {} finished without yielding", st.where.str()));
  }
  if (manager_error && !st.cleanup_timed_out && !st.cleanup_reported)
    report(violation_kind::release_failed,
           fmt::format("cleanup of the scope at {} in {} threw: {}", st.where.str(),
                       st.where.function(), describe_exception(manager_error)),
           st.where);
}

void scope_state_base::start_watchdog(const boost::asio::any_io_executor& ex,
                                      const std::shared_ptr<scope_state_base>& self) {
  auto* run = current_run();
  if (!run || !current_scheduler() || deadline_delegated) return;
  watchdog.emplace(ex, run->options().cleanup_deadline);
  auto deadline = run->options().cleanup_deadline;
  // The wait holds the state; stop_watchdog (when the manager ends) cancels it.
  watchdog->async_wait([self, deadline](boost::system::error_code ec) {
    if (ec || self->phase != scope_phase::cleanup) return;
    self->cleanup_timed_out = true;
    report(violation_kind::release_timeout,
           fmt::format("cleanup of the scope at {} in {} overran its {} deadline",
                       self->where.str(), self->where.function(), format_duration(deadline)),
           self->where);
    self->child_signal.emit(boost::asio::cancellation_type::terminal);
  });
}

void wake(wakeup& waiter, const boost::asio::any_io_executor& ex) {
  if (!waiter) return;
  // Moving out leaves `waiter` empty.
  boost::asio::post(ex, [h = std::move(waiter)]() mutable { std::move(h)(); });
}

void throw_unentered(const scope_state_base& st, const parking& p) {
  check_manager_end(st, p.manager_error);
  // It yielded, yet its body never ran: cancelled in setup, it has cleaned up.
  if (st.body_error) std::rethrow_exception(st.body_error);
  if (p.manager_error) std::rethrow_exception(p.manager_error);
  throw std::logic_error(
      fmt::format("the context manager entered at {} ended before its body", st.where.str()));
}

exit_outcome finish_exit(const scope_state_base& st, const parking& p) {
  check_manager_end(st, p.manager_error);
  exit_outcome out;
  out.suppressed = st.suppressed && p.pending;
  out.error = st.cleanup_timed_out ? cleanup_overran() : p.manager_error;
  return out;
}

boost::asio::awaitable<void> exit_stack_scope(yield<async_exit_stack> y) {
  async_exit_stack stack;
  // unwind reports each failure itself, and bounds each entry by the deadline
  // (an entered manager has a deadline of its own).
  y.cleanup_reported();
  y.delegate_deadline();
  auto exit = co_await y(stack);
  bool suppressed = false;
  std::exception_ptr failed;
  try {
    co_await stack.unwind(exit.error(), suppressed);
  } catch (...) {
    failed = std::current_exception();
  }
  if (suppressed) exit.suppress();
  if (failed) std::rethrow_exception(failed);
}

}  // namespace faultscope::detail

namespace faultscope {

namespace {

// Runs one registered release, inside a run under the run's cleanup deadline,
// and reports its failure. Returns its exception (timed_out for an overrun).
boost::asio::awaitable<std::exception_ptr> release_within_deadline(
    const std::function<boost::asio::awaitable<void>()>& release, const site& where) {
  std::exception_ptr error;
  auto* run = current_run();
  if (!run || !detail::current_scheduler()) {
    try {
      co_await release();
    } catch (...) {
      error = std::current_exception();
    }
  } else {
    auto ex = co_await boost::asio::this_coro::executor;
    const auto limit = run->options().cleanup_deadline;
    timer deadline(ex, limit);
    auto [order, release_error, timer_error] =
        co_await boost::asio::experimental::make_parallel_group(
            boost::asio::co_spawn(ex, release(), boost::asio::deferred),
            deadline.async_wait(boost::asio::deferred))
            .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::use_awaitable);
    // The deadline came first and was not itself cancelled: the release was
    // interrupted at it, whatever it threw then.
    if (order[0] == 1 && !timer_error) {
      detail::report(
          violation_kind::release_timeout,
          fmt::format("exit-stack release registered at {} in {} overran its {} deadline",
                      where.str(), where.function(), detail::format_duration(limit)),
          where);
      co_return detail::cleanup_overran();
    }
    error = release_error;
  }
  if (error)
    detail::report(violation_kind::release_failed,
                   fmt::format("exit-stack release registered at {} in {} threw: {}", where.str(),
                               where.function(), detail::describe_exception(error)),
                   where);
  co_return error;
}

}  // namespace

boost::asio::awaitable<void> async_exit_stack::close() {
  bool suppressed = false;
  co_await unwind(nullptr, suppressed);
}

boost::asio::awaitable<bool> async_exit_stack::close(std::exception_ptr error) {
  bool suppressed = false;
  co_await unwind(std::move(error), suppressed);
  co_return suppressed;
}

boost::asio::awaitable<void> async_exit_stack::unwind(std::exception_ptr pending,
                                                      bool& suppressed) {
  // Every release is attempted, even after a cancellation (the caller's, or a
  // deadline's) made one of them fail: the sticky cancelled flag must not turn
  // the rest into no-ops. A new cancellation of a stack closed by hand still
  // reaches the callback in progress; an entered manager's cleanup is
  // shielded, under its own deadline.
  bool throw_if_cancelled = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr first;
  while (!entries_.empty()) {
    entry e = std::move(entries_.back());
    entries_.pop_back();
    std::exception_ptr error;
    if (e.context) {
      // Reported by the exit itself, which knows the manager.
      detail::exit_outcome out = co_await e.context->exit(pending);
      if (out.suppressed) {
        pending = nullptr;
        suppressed = true;
      }
      error = out.error;
    } else {
      error = co_await release_within_deadline(e.release, e.where);
    }
    if (error && !first) first = error;
  }
  co_await boost::asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  if (first) std::rethrow_exception(first);
}

}  // namespace faultscope
