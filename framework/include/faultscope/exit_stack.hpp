// Python's AsyncExitStack: any number of resources, entered one by one, released
// in reverse order. Every release is attempted even when an earlier one fails;
// each failure is reported, and the first is rethrown. `with_exit_stack` closes
// the stack whatever ends the body, shielded, like any faultscope scope.
//
//   co_await faultscope::with_exit_stack([&](faultscope::async_exit_stack& stack)
//                                            -> awaitable<void> {
//     for (auto& name : files) {
//       file& f = co_await stack.enter([&] { return fs.open(name); },
//                                      [&](file& f) { return f.close(); });
//       co_await f.read();
//     }
//   });
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <source_location>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/site.hpp"

namespace faultscope {

class async_exit_stack {
 public:
  async_exit_stack() = default;
  async_exit_stack(const async_exit_stack&) = delete;
  async_exit_stack& operator=(const async_exit_stack&) = delete;
  async_exit_stack(async_exit_stack&&) = default;
  async_exit_stack& operator=(async_exit_stack&&) = default;

  /// Acquires with `acquire()` and registers `release(resource)` for close. The
  /// resource lives in the stack until then.
  template <typename Acquire, typename Release>
  auto enter(Acquire acquire, Release release,
             std::source_location loc = std::source_location::current())
      -> boost::asio::awaitable<
          std::reference_wrapper<detail::awaitable_value_t<std::invoke_result_t<Acquire&>>>> {
    using R = detail::awaitable_value_t<std::invoke_result_t<Acquire&>>;
    auto held = std::make_shared<R>(co_await acquire());
    R& ref = *held;
    push(
        [held = std::move(held), release = std::move(release)]() mutable { return release(*held); },
        loc);
    co_return std::ref(ref);
  }

  /// Registers a cleanup callback (`awaitable<void>()`), run at close.
  template <typename Callback>
  void push(Callback callback, std::source_location loc = std::source_location::current()) {
    entries_.push_back(
        {std::function<boost::asio::awaitable<void>()>(std::move(callback)), site::from(loc)});
  }

  /// Runs every callback, newest first, each exactly once. Failures are reported
  /// to the run's tracker; the first one is rethrown after all have run.
  boost::asio::awaitable<void> close();

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::function<boost::asio::awaitable<void>()> release;
    site where;
  };
  std::vector<entry> entries_;
};

/// Runs `body` with a fresh exit stack and closes it afterwards, whatever ended
/// the body. Returns the body's value; rethrows its exception.
template <typename Body>
auto with_exit_stack(Body body, std::source_location loc = std::source_location::current()) {
  auto manager = [](yield<async_exit_stack> y) -> boost::asio::awaitable<void> {
    async_exit_stack stack;
    co_await y(stack);
    y.cleanup_reported();  // close() reports each failure itself
    co_await stack.close();
  };
  return detail::async_with_impl<async_exit_stack>(std::move(manager), std::move(body),
                                                   site::from(loc));
}

}  // namespace faultscope
