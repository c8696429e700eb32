// SQLite values and rows as C++ values: what statements bind and what queries
// return. A row keeps its column names, so a column can be read by name.
//
//   for (const faultscope::sqlite::row& r : rows)
//     fmt::print("{} {}\n", r.get<std::int64_t>(0), r.get<std::string>("name"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
/// nullptr and std::optional of those.
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
  } else if constexpr (std::is_same_v<U, bool> || std::is_integral_v<U>) {
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

class row {
 public:
  row() = default;
  row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<value> values)
      : columns_(std::move(columns)), values_(std::move(values)) {}

  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  [[nodiscard]] const value& operator[](std::size_t i) const { return values_.at(i); }
  [[nodiscard]] const value& operator[](std::string_view column) const {
    return values_.at(index(column));
  }
  [[nodiscard]] bool is_null(std::size_t i) const {
    return std::holds_alternative<std::nullptr_t>(values_.at(i));
  }
  [[nodiscard]] const std::vector<value>& values() const noexcept { return values_; }
  [[nodiscard]] const std::vector<std::string>& columns() const;

  /// The column as T (std::int64_t, double, std::string, blob, or std::optional
  /// of those for a nullable column); throws std::bad_variant_access on a
  /// mismatch, except that integers read as double.
  template <typename T>
  [[nodiscard]] T get(std::size_t i) const {
    const value& v = values_.at(i);
    if constexpr (detail::is_optional<T>::value) {
      if (std::holds_alternative<std::nullptr_t>(v)) return std::nullopt;
      return get<typename T::value_type>(i);
    } else if constexpr (std::is_same_v<T, double>) {
      if (auto* n = std::get_if<std::int64_t>(&v)) return static_cast<double>(*n);
      return std::get<double>(v);
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(std::get<std::int64_t>(v));
    } else {
      return std::get<T>(v);
    }
  }
  template <typename T>
  [[nodiscard]] T get(std::string_view column) const {
    return get<T>(index(column));
  }

 private:
  [[nodiscard]] std::size_t index(std::string_view column) const;
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<value> values_;
};

}  // namespace faultscope::sqlite
