// Acquire, use, release — with the release guaranteed and awaited whatever ends
// the body: a return, an exception, a cancellation or a timeout. The release runs
// shielded from the cancellation that ended the body, under the run's cleanup
// deadline; if it throws or overruns, that is reported, and the body's own
// exception still propagates unchanged.
//
//   auto rows = co_await faultscope::with_resource(
//       [&] { return pool.acquire(); },                                   // awaitable<connection>
//       [&](connection& c) { return c.query("select * from users"); },    // awaitable<rows>
//       [&](connection& c) { return pool.release(c); });                  // awaitable<void>
#pragma once

#include <source_location>
#include <type_traits>
#include <utility>

#include "faultscope/context_manager.hpp"
#include "faultscope/detail/awaitable_traits.hpp"

namespace faultscope {

template <typename Acquire, typename Body, typename Release>
auto with_resource(Acquire acquire, Body body, Release release,
                   std::source_location loc = std::source_location::current()) {
  using R = detail::awaitable_value_t<std::invoke_result_t<Acquire&>>;
  static_assert(!std::is_void_v<R>, "acquire must return awaitable<Resource>");
  auto manager = [acquire = std::move(acquire), release = std::move(release)](
                     yield<R> y) mutable -> boost::asio::awaitable<void> {
    R resource = co_await acquire();
    co_await y(resource);
    co_await release(resource);
  };
  return detail::async_with_impl<R>(std::move(manager), std::move(body), site::from(loc));
}

}  // namespace faultscope
