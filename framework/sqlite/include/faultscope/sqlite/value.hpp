// A SQLite value as a C++ value: what statements bind, and what a row's
// column reads as when taken whole (rows.hpp has the rows themselves).
//
//   std::vector<faultscope::sqlite::value> params{faultscope::sqlite::to_value(42), nullptr};
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace faultscope::sqlite {

using blob = std::vector<std::byte>;
/// NULL, INTEGER, REAL, TEXT or BLOB.
using value = std::variant<std::nullptr_t, std::int64_t, double, std::string, blob>;

/// Converts what a caller binds: integers, floating point, strings, blobs,
/// nullptr and std::optional of those. An unsigned integer above INT64_MAX is
/// std::out_of_range, not a negative number.
namespace detail {
template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <typename T>
value to_value(T&& v) {
  using U = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<U, value>) {
    return std::forward<T>(v);
  } else if constexpr (std::is_same_v<U, std::nullptr_t>) {
    return nullptr;
  } else if constexpr (std::is_same_v<U, bool>) {
    return std::int64_t{v ? 1 : 0};
  } else if constexpr (std::is_integral_v<U>) {
    // SQLite's integers are signed 64-bit: a larger unsigned one would come
    // back negative.
    if constexpr (std::is_unsigned_v<U> && sizeof(U) >= sizeof(std::int64_t))
      if (v > static_cast<U>(INT64_MAX))
        throw std::out_of_range("sqlite: an unsigned integer above INT64_MAX cannot be bound");
    return static_cast<std::int64_t>(v);
  } else if constexpr (std::is_floating_point_v<U>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_same_v<U, blob>) {
    return std::forward<T>(v);
  } else if constexpr (std::is_convertible_v<T, std::string_view>) {
    return std::string(std::string_view(v));
  } else {
    // std::optional<X>
    if (!v) return nullptr;
    return to_value(*std::forward<T>(v));
  }
}

}  // namespace faultscope::sqlite
