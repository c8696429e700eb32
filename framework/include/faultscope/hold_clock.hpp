// Work on another thread — a thread pool the code under test hands blocking
// work to — holds the run's virtual clock while it is queued or running, so a
// deadline fires only if the work truly overruns, not while nothing in the run
// is ready because the work is away. Hand the code the wrapped executor:
//
//   boost::asio::thread_pool pool(2);
//   auto hasher = password_hasher(faultscope::hold_clock(pool.get_executor()));
//   co_await faultscope::with_timeout(1s, hasher.hash("secret"));  // co_spawns onto the pool
//
// Fault points and tracker calls in that work are part of the run: the first
// one a function reaches waits until the run's thread has nothing left to run,
// and the run then waits for that function to return, so hit numbers and
// resource ids are the same in every run of a plan. Work that reaches neither
// runs in parallel, as before. Outside a run the wrapper only forwards. For a
// thread no executor names, `auto hold = faultscope::hold_clock();` holds the
// clock until the token, moved to that thread, is released.
#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

#include "faultscope/detail/clock_hold.hpp"

namespace faultscope {

/// An executor that runs its work on `Inner`'s, counting each function from
/// the moment it is queued until it returns. A coroutine on it that waits
/// (a timer, a socket of the pool's) holds nothing while it waits.
template <typename Inner>
class clock_holding_executor {
 public:
  clock_holding_executor(Inner inner, detail::clock_hold_ref hold) noexcept
      : inner_(std::move(inner)), hold_(std::move(hold)) {}

  [[nodiscard]] const Inner& inner() const noexcept { return inner_; }

  template <typename F>
  void execute(F&& f) const {
    if (!hold_ || !hold_->begin()) {
      inner_.execute(std::forward<F>(f));
      return;
    }
    inner_.execute(held<std::decay_t<F>>{std::forward<F>(f), hold_});
  }

  template <typename Property>
  auto query(const Property& p) const
      noexcept(noexcept(boost::asio::query(std::declval<const Inner&>(), p)))
          -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(inner_, p);
  }

  template <typename Property>
  auto require(const Property& p) const -> clock_holding_executor<
      std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(inner_, p), hold_};
  }

  template <typename Property>
  auto prefer(const Property& p) const -> clock_holding_executor<
      std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(inner_, p), hold_};
  }

  friend bool operator==(const clock_holding_executor& a,
                         const clock_holding_executor& b) noexcept {
    return a.inner_ == b.inner_ && a.hold_ == b.hold_;
  }
  friend bool operator!=(const clock_holding_executor& a,
                         const clock_holding_executor& b) noexcept {
    return !(a == b);
  }

 private:
  // Ends the hold after the function returns — by then it has posted its
  // completion to the run — or when the pool drops it unrun.
  template <typename F>
  struct held {
    F f;
    detail::clock_hold_ref hold;

    held(F fn, detail::clock_hold_ref h) : f(std::move(fn)), hold(std::move(h)) {}
    held(held&&) noexcept = default;
    held& operator=(held&&) = delete;
    held(const held&) = delete;
    ~held() {
      if (hold) hold->end();
    }
    void operator()() {
      struct ender {
        detail::clock_hold_ref h;
        ~ender() { h->end(); }
      } end_after{std::move(hold)};
      // Its claim of the run, if it made one, ends first: once the hold
      // ends, the run may end too.
      detail::held_work_scope acts_for_run(end_after.h.get());
      std::move(f)();
    }
  };

  Inner inner_;
  detail::clock_hold_ref hold_;
};

/// Wraps `inner` for the run on this thread (outside a run: forwards only).
/// Make it inside the scenario: the wrapper belongs to the run it was made in.
template <typename Executor>
requires boost::asio::execution::is_executor<Executor>::value
    [[nodiscard]] clock_holding_executor<Executor>
    hold_clock(Executor inner) {
  return {std::move(inner), detail::current_clock_hold()};
}

/// The same for a context's executor: `hold_clock(pool)`.
template <typename ExecutionContext>
requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
[[nodiscard]] auto hold_clock(ExecutionContext& context) {
  return hold_clock(context.get_executor());
}

/// Holds the run's clock from `hold_clock()` until it is released or
/// destroyed, on whatever thread it was moved to: for work no executor
/// carries (a std::thread, a C library's callback thread). Release it after
/// the work has posted its completion to the run, as the executor does.
class clock_hold_token {
 public:
  clock_hold_token() noexcept = default;
  /// Begins holding `hold`'s clock; holds nothing once that run is over.
  explicit clock_hold_token(detail::clock_hold_ref hold) noexcept : hold_(std::move(hold)) {
    if (hold_ && !hold_->begin()) hold_ = {};
  }
  clock_hold_token(clock_hold_token&&) noexcept = default;
  clock_hold_token& operator=(clock_hold_token&& other) noexcept {
    if (this != &other) {
      release();
      hold_ = std::move(other.hold_);
    }
    return *this;
  }
  clock_hold_token(const clock_hold_token&) = delete;
  clock_hold_token& operator=(const clock_hold_token&) = delete;
  ~clock_hold_token() { release(); }

  /// Whether it still holds a run's clock.
  explicit operator bool() const noexcept { return static_cast<bool>(hold_); }
  void release() noexcept {
    if (!hold_) return;
    auto hold = std::move(hold_);
    hold->end();
  }

 private:
  detail::clock_hold_ref hold_;
};

/// A token holding the clock of the run on this thread (outside a run: none).
[[nodiscard]] inline clock_hold_token hold_clock() {
  return clock_hold_token(detail::current_clock_hold());
}

}  // namespace faultscope
