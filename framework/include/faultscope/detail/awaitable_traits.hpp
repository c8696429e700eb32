// Type helpers shared by the scope templates.
#pragma once

#include <exception>
#include <string>
#include <type_traits>

#include <boost/asio/awaitable.hpp>

namespace faultscope::detail {

template <typename A>
struct awaitable_value;
template <typename T, typename E>
struct awaitable_value<boost::asio::awaitable<T, E>> {
  using type = T;
};
/// `awaitable<T>` → T.
template <typename A>
using awaitable_value_t = typename awaitable_value<std::remove_cvref_t<A>>::type;

/// A one-line description of an exception for a violation message.
[[nodiscard]] std::string describe_exception(const std::exception_ptr& e);
/// True for Asio's operation_aborted, which is how a cancellation surfaces.
[[nodiscard]] bool is_cancellation(const std::exception_ptr& e) noexcept;

}  // namespace faultscope::detail
