// What a query returns: `rows`, a result set copied out of SQLite into one
// buffer, and `row`, one of its rows. A row keeps the result set alive and
// knows its column names, so a column can be read by position or by name.
//
//   sqlite::rows users = co_await db.query("SELECT id, name FROM users");
//   for (const sqlite::row& r : users)
//     fmt::print("{} {}\n", r.get<std::int64_t>(0), r.get<std::string>("name"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "faultscope/sqlite/value.hpp"

namespace faultscope::sqlite {

namespace detail {
struct result_data;
class rows_builder;

/// One column of one row, borrowed from the result set's buffer.
struct cell {
  enum kind : std::uint8_t { null, integer, real, text, bytes } type = null;
  std::int64_t i = 0;
  double d = 0;
  std::string_view s;  // text, or a blob's bytes
};
}  // namespace detail

class row {
 public:
  row() = default;

  [[nodiscard]] std::size_t size() const noexcept;
  /// The column as a value (a copy); throws std::out_of_range past the end.
  [[nodiscard]] value operator[](std::size_t i) const;
  [[nodiscard]] value operator[](std::string_view column) const;
  [[nodiscard]] bool is_null(std::size_t i) const { return cell(i).type == detail::cell::null; }
  /// Every column, copied.
  [[nodiscard]] std::vector<value> values() const;
  [[nodiscard]] const std::vector<std::string>& columns() const;

  /// The column as T: std::int64_t or another integer type, double,
  /// std::string, blob, std::string_view (text or a blob's bytes, valid while
  /// the result set lives), or std::optional of those for a nullable column.
  /// Throws std::bad_variant_access on a mismatch, except that integers read
  /// as double; std::out_of_range for an integer that does not fit in T (a
  /// 64-bit id read as int), rather than a silently truncated one.
  template <typename T>
  [[nodiscard]] T get(std::size_t i) const {
    const detail::cell c = cell(i);
    if constexpr (detail::is_optional<T>::value) {
      if (c.type == detail::cell::null) return std::nullopt;
      return get<typename T::value_type>(i);
    } else if constexpr (std::is_same_v<T, double>) {
      if (c.type == detail::cell::integer) return static_cast<double>(c.i);
      if (c.type == detail::cell::real) return c.d;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (c.type == detail::cell::integer) return c.i != 0;
    } else if constexpr (std::is_integral_v<T>) {
      if (c.type == detail::cell::integer) {
        // By hand, not std::in_range: that refuses char and wchar_t.
        using limits = std::numeric_limits<T>;
        const bool fits = std::is_signed_v<T>
                              ? c.i >= static_cast<std::int64_t>(limits::min()) &&
                                    c.i <= static_cast<std::int64_t>(limits::max())
                              : c.i >= 0 && static_cast<std::uint64_t>(c.i) <=
                                                static_cast<std::uint64_t>(limits::max());
        if (!fits) throw_out_of_range(i, c.i);
        return static_cast<T>(c.i);
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (c.type == detail::cell::text) return std::string(c.s);
    } else if constexpr (std::is_same_v<T, std::string_view>) {
      if (c.type == detail::cell::text || c.type == detail::cell::bytes) return c.s;
    } else if constexpr (std::is_same_v<T, blob>) {
      if (c.type == detail::cell::bytes) {
        const auto* p = reinterpret_cast<const std::byte*>(c.s.data());
        return blob(p, p + c.s.size());
      }
    } else if constexpr (std::is_same_v<T, value>) {
      return (*this)[i];
    } else {
      static_assert(std::is_same_v<T, void>, "row::get: not a type a column converts to");
    }
    throw std::bad_variant_access();
  }
  template <typename T>
  [[nodiscard]] T get(std::string_view column) const {
    return get<T>(index(column));
  }

 private:
  friend class rows;
  row(std::shared_ptr<const detail::result_data> data, std::size_t index)
      : data_(std::move(data)), index_(index) {}
  [[nodiscard]] detail::cell cell(std::size_t i) const;
  [[noreturn]] void throw_out_of_range(std::size_t column, std::int64_t v) const;
  [[nodiscard]] std::size_t index(std::string_view column) const;
  std::shared_ptr<const detail::result_data> data_;
  std::size_t index_ = 0;
};

/// The rows of one query, in order. Copying it shares the rows.
class rows {
 public:
  class iterator {
   public:
    using iterator_concept = std::random_access_iterator_tag;
    // The rows are made on demand, so to the pre-C++20 library this is an
    // input iterator.
    using iterator_category = std::input_iterator_tag;
    using value_type = row;
    using difference_type = std::ptrdiff_t;
    using reference = row;

    iterator() = default;
    row operator*() const { return (*set_)[i_]; }
    row operator[](difference_type n) const { return (*set_)[i_ + static_cast<std::size_t>(n)]; }
    iterator& operator++() { return ++i_, *this; }
    iterator operator++(int) { return {set_, i_++}; }
    iterator& operator--() { return --i_, *this; }
    iterator operator--(int) { return {set_, i_--}; }
    iterator& operator+=(difference_type n) { return i_ += static_cast<std::size_t>(n), *this; }
    iterator& operator-=(difference_type n) { return i_ -= static_cast<std::size_t>(n), *this; }
    friend iterator operator+(iterator it, difference_type n) { return it += n; }
    friend iterator operator+(difference_type n, iterator it) { return it += n; }
    friend iterator operator-(iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const iterator& a, const iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.i_ == b.i_; }
    friend auto operator<=>(const iterator& a, const iterator& b) { return a.i_ <=> b.i_; }

   private:
    friend class rows;
    iterator(const rows* set, std::size_t i) : set_(set), i_(i) {}
    const rows* set_ = nullptr;
    std::size_t i_ = 0;
  };

  rows() = default;

  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Unchecked, like std::vector's.
  [[nodiscard]] row operator[](std::size_t i) const { return row(data_, i); }
  /// Throws std::out_of_range past the end.
  [[nodiscard]] row at(std::size_t i) const;
  /// Throw std::out_of_range when there are no rows.
  [[nodiscard]] row front() const;
  [[nodiscard]] row back() const;
  [[nodiscard]] iterator begin() const { return {this, 0}; }
  [[nodiscard]] iterator end() const { return {this, size()}; }
  [[nodiscard]] const std::vector<std::string>& columns() const;

 private:
  friend class detail::rows_builder;
  explicit rows(std::shared_ptr<const detail::result_data> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::result_data> data_;
};

}  // namespace faultscope::sqlite
