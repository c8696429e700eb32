// Machinery of async_exit_stack::enter_context: a context manager whose body is
// the rest of an exit stack's life. The manager runs in a thread of its own, as
// under async_with, and parks inside `yield` until the stack closes.
#pragma once

#include <exception>
#include <memory>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/detail/scope_state.hpp"

namespace faultscope::detail {

using wakeup = boost::asio::any_completion_handler<void()>;

/// Stores a coroutine's completion handler in `slot`, behind a plain callable:
/// these waits are not cancellable (the manager's cancellation goes through its
/// child_signal), and any_completion_handler would otherwise put a proxy in
/// the handler's cancellation slot. Not by assignment: Asio 1.26's
/// move-assignment of any_completion_handler wraps the source again, without
/// end (chriskohlhoff/asio issue 1180).
template <typename Handler>
void store(wakeup& slot, Handler handler) {
  wakeup stored([h = std::move(handler)]() mutable { std::move(h)(); });
  slot.swap(stored);
}

/// Resumes a stored waiter through `ex`, never inline: whoever wakes it is a
/// coroutine in the middle of a step.
void wake(wakeup& waiter, const boost::asio::any_io_executor& ex);

/// What closing an entered context manager came to.
struct exit_outcome {
  bool suppressed = false;   ///< it suppressed the exception it was shown
  std::exception_ptr error;  ///< its cleanup failed or overran (already reported)
};

/// What a stack holds of an entered manager, whatever type it yields.
class stack_exit {
 public:
  virtual ~stack_exit() = default;
  /// Resumes the manager with `pending` as how its body ended; waits for its cleanup.
  virtual boost::asio::awaitable<exit_outcome> exit(std::exception_ptr pending) = 0;
  /// The stack is gone unclosed: drop the parked manager so its frames are freed
  /// (they hold the state that holds them).
  virtual void abandon() noexcept = 0;
};

/// An entry's hold on an entered manager; abandons it unless it was closed.
class exit_handle {
 public:
  exit_handle() = default;
  explicit exit_handle(std::shared_ptr<stack_exit> e) noexcept : exit_(std::move(e)) {}
  exit_handle(exit_handle&&) noexcept = default;
  exit_handle& operator=(exit_handle&& other) noexcept {
    if (this != &other) {
      reset();
      exit_ = std::move(other.exit_);
    }
    return *this;
  }
  ~exit_handle() { reset(); }
  explicit operator bool() const noexcept { return exit_ != nullptr; }
  stack_exit* operator->() const noexcept { return exit_.get(); }

 private:
  void reset() noexcept {
    if (exit_) exit_->abandon();
    exit_.reset();
  }
  std::shared_ptr<stack_exit> exit_;
};

struct parking {
  boost::asio::any_io_executor ex;  ///< the caller's, where the manager runs too
  wakeup waiter;                    ///< enter_context, later exit: waiting for the manager
  wakeup parked;                    ///< the manager, waiting in its body for the stack to close
  std::exception_ptr manager_error;
  std::exception_ptr pending;  ///< how the stack's body ended, shown to the manager
};

/// The manager ended before its body: rethrows why (its own exception, a
/// cancellation that came before the body, or a logic_error for no yield).
[[noreturn]] void throw_unentered(const scope_state_base& st, const parking& p);

/// The manager ended after the stack resumed it: reports a failed cleanup.
exit_outcome finish_exit(const scope_state_base& st, const parking& p);

template <typename T>
class entered_context final : public body_runner<T>, public stack_exit {
 public:
  using body_runner<T>::body_runner;

  boost::asio::awaitable<void> run_body(T& resource) override {
    resource_ = &resource;
    wake(park_.waiter, park_.ex);
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this](auto handler) { store(park_.parked, std::move(handler)); },
        boost::asio::use_awaitable);
    if (park_.pending) std::rethrow_exception(park_.pending);
  }

  boost::asio::awaitable<exit_outcome> exit(std::exception_ptr pending) override {
    park_.pending = std::move(pending);
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this](auto handler) {
          store(park_.waiter, std::move(handler));
          wake(park_.parked, park_.ex);
        },
        boost::asio::use_awaitable);
    co_return finish_exit(*this, park_);
  }

  void abandon() noexcept override { wakeup dropped = std::move(park_.parked); }

  /// Starts `manager` and waits until it yields, or ends without a body. The
  /// caller's cancellation reaches it only during setup: after that its body is
  /// the stack's, which tells it on close how that ended.
  template <typename Manager>
  static boost::asio::awaitable<T*> enter(std::shared_ptr<entered_context> st, Manager manager) {
    auto ex = co_await boost::asio::this_coro::executor;
    st->park_.ex = ex;
    auto initiate = [ex, st, &manager](auto handler) mutable {
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.template emplace<cancel_forwarder>(st, scope_phase::setup);
      store(st->park_.waiter, std::move(handler));
      boost::asio::co_spawn(
          ex, std::move(manager),
          boost::asio::bind_cancellation_slot(st->child_signal.slot(), [st](std::exception_ptr e) {
            st->phase = scope_phase::done;
            st->stop_watchdog();
            st->park_.manager_error = e;
            wake(st->park_.waiter, st->park_.ex);
          }));
    };
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        initiate, boost::asio::use_awaitable);
    if (!st->resource_) throw_unentered(*st, st->park_);
    co_return st->resource_;
  }

 private:
  T* resource_ = nullptr;
  parking park_;
};

}  // namespace faultscope::detail
