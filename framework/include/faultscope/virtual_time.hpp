// Virtual time: a clock and a timer whose waits complete as soon as nothing else
// can run, by jumping the clock to the next deadline (Trio's autojump clock). A
// scenario with a 30 s timeout runs in microseconds, and always the same way.
//
//   faultscope::timer t{co_await boost::asio::this_coro::executor, 30s};
//   co_await t.async_wait(boost::asio::use_awaitable);   // instant; virtual_clock::now() is +30 s
//
// A timer works inside a faultscope run (see run.hpp). Code meant to be tested
// takes its timer type as a parameter, so production code uses steady_timer.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/detail/clock_hold.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/site.hpp"

namespace faultscope {

/// The run's clock. `now()` is the virtual time of the run on this thread (zero
/// outside a run); it moves only when the run jumps it.
struct virtual_clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<virtual_clock, duration>;
  static constexpr bool is_steady = true;

  [[nodiscard]] static time_point now() noexcept {
    auto* s = detail::current_scheduler();
    return time_point{s ? s->now() : duration{}};
  }
};

/// Thrown when a virtual timer is made where no run supplies a clock.
class no_virtual_clock : public std::logic_error {
 public:
  no_virtual_clock()
      : std::logic_error(
            "faultscope::timer needs a virtual clock: create it inside faultscope::run()") {}
};

namespace detail {

template <typename Handler, typename Executor>
class timer_wait final : public timed_wait {
 public:
  timer_wait(Handler&& h, const Executor& io_ex)
      : handler_(std::move(h)),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, io_ex),
                                  boost::asio::execution::outstanding_work.tracked)) {}

  void complete(boost::system::error_code ec) override {
    auto work = std::move(work_);
    boost::asio::post(work, [h = std::move(handler_), ec]() mutable { std::move(h)(ec); });
    delete this;
  }
  void discard() override { delete this; }

 private:
  Handler handler_;
  boost::asio::any_io_executor work_;
};

// Installed in a handler's cancellation slot. It holds a key, not a pointer, so a
// signal emitted after the wait completed finds nothing and does nothing.
struct timer_canceller {
  // A constructor, not an aggregate: the slot emplaces with parentheses.
  timer_canceller(virtual_scheduler* s, std::uint64_t k) noexcept : scheduler(s), key(k) {}
  virtual_scheduler* scheduler;
  std::uint64_t key;
  void operator()(boost::asio::cancellation_type type) const {
    using boost::asio::cancellation_type;
    if ((type & (cancellation_type::terminal | cancellation_type::partial |
                 cancellation_type::total)) != cancellation_type::none) {
      claim_held_run();  // a wait of a coroutine on a pool's thread (hold_clock)
      scheduler->cancel(key);
    }
  }
};

}  // namespace detail

/// A waitable timer on the virtual clock, with the interface of Asio's
/// `basic_waitable_timer`: expiry, cancel, and `async_wait` with any completion
/// token. A wait is cancellable through its cancellation slot (terminal, partial
/// and total), so it works under `parallel_group` and `with_timeout`.
template <typename Executor = boost::asio::any_io_executor>
class basic_timer {
 public:
  using executor_type = Executor;
  using clock_type = virtual_clock;
  using duration = virtual_clock::duration;
  using time_point = virtual_clock::time_point;

  explicit basic_timer(const executor_type& ex) : ex_(ex), scheduler_(detail::current_scheduler()) {
    if (!scheduler_) throw no_virtual_clock();
  }
  basic_timer(const executor_type& ex, duration d) : basic_timer(ex) { expires_after(d); }
  basic_timer(const executor_type& ex, time_point at) : basic_timer(ex) { expires_at(at); }
  template <typename ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
  explicit basic_timer(ExecutionContext& ctx) : basic_timer(executor_type(ctx.get_executor())) {}

  /// Like Asio's timers: destroying a timer cancels its pending waits.
  ~basic_timer() { cancel(); }
  basic_timer(const basic_timer&) = delete;
  basic_timer& operator=(const basic_timer&) = delete;

  [[nodiscard]] executor_type get_executor() const noexcept { return ex_; }
  [[nodiscard]] time_point expiry() const noexcept { return expiry_; }

  std::size_t expires_at(time_point at) {
    std::size_t n = cancel();
    expiry_ = at;
    return n;
  }
  std::size_t expires_after(duration d) {
    auto now = virtual_clock::now();
    // Saturate: "wait forever" is time_point::max(), not an overflow.
    auto at = d >= time_point::max() - now ? time_point::max() : now + d;
    return expires_at(at);
  }
  /// Completes every pending wait with `operation_aborted`.
  std::size_t cancel() {
    detail::claim_held_run();  // on a pool's thread, the run's turn first (hold_clock)
    return scheduler_->cancel_owner(this);
  }

  /// Names this timer's waits in hang reports, instead of their call site.
  void set_label(std::string label) { label_ = std::move(label); }

  template <typename Token = boost::asio::default_completion_token_t<executor_type>>
  auto async_wait(Token&& token = Token(),
                  std::source_location loc = std::source_location::current()) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        initiate_wait{this, loc}, token);
  }

 private:
  struct initiate_wait {
    basic_timer* self;
    std::source_location loc;
    template <typename Handler>
    void operator()(Handler&& handler) const {
      self->start(std::forward<Handler>(handler), loc);
    }
  };

  template <typename Handler>
  void start(Handler&& handler, const std::source_location& loc) {
    using op_t = detail::timer_wait<std::decay_t<Handler>, executor_type>;
    detail::claim_held_run();
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto* op = new op_t(std::move(handler), ex_);
    op->deadline = expiry_.time_since_epoch();
    op->owner = this;
    op->what = label_.empty() ? fmt::format("timer wait at {}", site{loc}.str()) : label_;
    // A deadline already passed completes at the current instant, after what
    // is ready now, like a real timer.
    std::uint64_t key = scheduler_->add(op);
    if (slot.is_connected()) slot.template emplace<detail::timer_canceller>(scheduler_, key);
  }

  executor_type ex_;
  detail::virtual_scheduler* scheduler_;
  time_point expiry_{};
  std::string label_;
};

using timer = basic_timer<>;

/// Waits `d` on the virtual clock: `co_await faultscope::sleep_for(5ms);`
inline boost::asio::awaitable<void> sleep_for(virtual_clock::duration d) {
  timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace faultscope
