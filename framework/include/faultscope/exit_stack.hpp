// Python's AsyncExitStack: any number of resources, entered one by one, released
// in reverse order. Every release is attempted even when an earlier one fails;
// each failure is reported, and the first is rethrown. `with_exit_stack` closes
// the stack whatever ends the body, shielded, like any faultscope scope. A
// context manager entered with `enter_context` cleans up at close and is shown
// how the stack's body ended, as under async_with.
//
//   co_await faultscope::with_exit_stack([&](faultscope::async_exit_stack& stack)
//                                            -> awaitable<void> {
//     connection& db = co_await stack.enter_context(get_connection(pool));
//     for (auto& name : files) {
//       file& f = co_await stack.enter([&] { return fs.open(name); },
//                                      [&](file& f) { return f.close(); });
//       auto data = co_await f.read();
//       co_await db.store(data);
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
#include "faultscope/detail/entered_context.hpp"
#include "faultscope/site.hpp"

namespace faultscope {

class async_exit_stack;

namespace detail {
boost::asio::awaitable<void> exit_stack_scope(yield<async_exit_stack> y);
}  // namespace detail

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

  /// Enters a context manager: runs its setup, returns what it yields, and runs
  /// its cleanup at close, when it sees how the stack's body ended and may
  /// suppress that exception (Python's `enter_async_context`). A cancellation
  /// during setup reaches the manager; one after it does not.
  template <typename Manager,
            typename T = typename detail::manager_arg<std::decay_t<Manager>>::type>
  auto enter_context(Manager manager, std::source_location loc = std::source_location::current())
      -> boost::asio::awaitable<std::reference_wrapper<T>> {
    co_return co_await enter_context_impl<T>(std::move(manager), site::from(loc));
  }

  /// The same, naming the resource type for a generic lambda manager.
  template <typename T, typename Manager>
  requires std::is_invocable_v<Manager&, yield<T>>
  auto enter_context(Manager manager, std::source_location loc = std::source_location::current())
      -> boost::asio::awaitable<std::reference_wrapper<T>> {
    co_return co_await enter_context_impl<T>(std::move(manager), site::from(loc));
  }

  /// Registers a cleanup callback (`awaitable<void>()`), run at close.
  template <typename Callback>
  void push(Callback callback, std::source_location loc = std::source_location::current()) {
    entries_.push_back(
        {std::function<boost::asio::awaitable<void>()>(std::move(callback)), {}, site::from(loc)});
  }

  /// Runs every callback, newest first, each exactly once. Failures are reported
  /// to the run's tracker; the first one is rethrown after all have run. Not
  /// shielded: a cancellation reaches the callback in progress, and in a
  /// coroutine already cancelled Asio throws at the `co_await` of close()
  /// itself, before any callback runs (with_exit_stack is shielded).
  boost::asio::awaitable<void> close();

  /// The same, showing entered context managers `error` as how their body ended.
  /// Returns whether one suppressed it; older managers then see a clean exit.
  boost::asio::awaitable<bool> close(std::exception_ptr error);

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  friend boost::asio::awaitable<void> detail::exit_stack_scope(yield<async_exit_stack> y);

  struct entry {
    std::function<boost::asio::awaitable<void>()> release;  ///< a callback, or
    detail::exit_handle context;                            ///< an entered manager
    site where;
  };

  template <typename T, typename Manager>
  boost::asio::awaitable<std::reference_wrapper<T>> enter_context_impl(Manager manager,
                                                                       site where) {
    using state = detail::entered_context<T>;
    auto st = std::make_shared<state>(where);
    T* resource =
        co_await state::enter(st, detail::run_manager<T>(std::move(manager), yield<T>(st)));
    entries_.push_back({{}, detail::exit_handle(std::move(st)), std::move(where)});
    co_return std::ref(*resource);
  }

  // Reference out-parameter: a suppression must survive a release failure
  // rethrown after it.
  boost::asio::awaitable<void> unwind(std::exception_ptr pending, bool& suppressed);

  std::vector<entry> entries_;
};

/// Runs `body` with a fresh exit stack and closes it afterwards, whatever ended
/// the body. Returns the body's value; rethrows its exception unless an entered
/// context manager suppressed it.
template <typename Body>
auto with_exit_stack(Body body, std::source_location loc = std::source_location::current()) {
  return detail::async_with_impl<async_exit_stack>(&detail::exit_stack_scope, std::move(body),
                                                   site::from(loc));
}

}  // namespace faultscope
