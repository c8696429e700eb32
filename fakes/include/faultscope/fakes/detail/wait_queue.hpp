// A FIFO of coroutines waiting to be handed something (a connection, a permit,
// bytes). Waits live in the run's virtual scheduler with no deadline, so a
// waiter nobody will ever serve is a hang that names it, and a cancelled waiter
// leaves the queue at once and is never handed anything.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::fakes::detail {

template <typename T>
class wait_queue {
  struct slot_value {
    std::optional<T> value;
  };

 public:
  wait_queue() = default;
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;

  /// Suspends until `grant` hands this waiter a value; throws operation_aborted
  /// if cancelled first.
  boost::asio::awaitable<T> wait(std::string what) {
    auto* sched = faultscope::detail::current_scheduler();
    if (!sched) throw no_virtual_clock();
    auto cell = std::make_shared<slot_value>();
    auto ex = co_await boost::asio::this_coro::executor;
    auto initiate = [this, sched, cell, ex, what = std::move(what)](auto handler) mutable {
      using op_t = faultscope::detail::timer_wait<std::decay_t<decltype(handler)>,
                                                  boost::asio::any_io_executor>;
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      auto* w = new op_t(std::move(handler), ex);
      w->deadline = faultscope::detail::vtime::max();
      w->what = std::move(what);
      std::uint64_t key = sched->add(w);
      waiters_.push_back({key, cell});
      if (slot.is_connected())
        slot.template emplace<faultscope::detail::timer_canceller>(sched, key);
    };
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                         void(boost::system::error_code)>(
        initiate, boost::asio::use_awaitable);
    co_return std::move(*cell->value);
  }

  /// Hands `value` to the oldest waiter still waiting. Returns false (and keeps
  /// nothing) when no one waits.
  bool grant(T& value) {
    auto* sched = faultscope::detail::current_scheduler();
    while (!waiters_.empty()) {
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w.cell->value.emplace(std::move(value));
      if (sched && sched->finish(w.key, {})) return true;
      value = std::move(*w.cell->value);  // that waiter was cancelled meanwhile
      w.cell->value.reset();
    }
    return false;
  }

  /// Drops entries of waiters that were cancelled (they are gone from the scheduler).
  [[nodiscard]] bool empty() const noexcept { return waiters_.empty(); }

  /// Completes every waiter with `ec`.
  void fail_all(boost::system::error_code ec) {
    auto* sched = faultscope::detail::current_scheduler();
    auto waiters = std::move(waiters_);
    waiters_.clear();
    if (sched)
      for (auto& w : waiters) sched->finish(w.key, ec);
  }

 private:
  struct entry {
    std::uint64_t key;
    std::shared_ptr<slot_value> cell;
  };
  std::deque<entry> waiters_;
};

}  // namespace faultscope::fakes::detail
