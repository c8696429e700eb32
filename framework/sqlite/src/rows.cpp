#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "faultscope/sqlite/error.hpp"
#include "rows_builder.hpp"

namespace faultscope::sqlite {

namespace detail {

rows_builder::rows_builder(column_names& columns, std::size_t bytes_hint, std::size_t rows_hint)
    : columns_(columns), data_(std::make_shared<result_data>()) {
  // Capped: one huge result must not make every later one reserve as much.
  constexpr std::size_t cap = std::size_t{1} << 20;
  data_->starts.reserve(std::min(rows_hint, cap / sizeof(std::size_t)));
  grow(std::clamp<std::size_t>(bytes_hint, 256, cap));
}

char* rows_builder::grow(std::size_t n) {
  auto& d = *data_;
  const std::size_t want = std::max(d.used + n, d.capacity * 2);
  // realloc: a buffer at the top of the heap grows where it is.
  auto* grown = static_cast<char*>(std::realloc(d.bytes.get(), want));
  if (!grown) throw std::bad_alloc();
  static_cast<void>(d.bytes.release());
  d.bytes.reset(grown);
  d.capacity = want;
  return grown + d.used;
}

void rows_builder::take_columns(sqlite3_stmt* s) {
  const int n = sqlite3_column_count(s);
  bool same = columns_ && columns_->size() == static_cast<std::size_t>(n);
  for (int i = 0; same && i < n; ++i) {
    const char* name = sqlite3_column_name(s, i);
    same = (*columns_)[static_cast<std::size_t>(i)] == (name ? name : "");
  }
  if (!same) {
    auto names = std::make_shared<std::vector<std::string>>();
    names->reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const char* name = sqlite3_column_name(s, i);
      names->emplace_back(name ? name : "");
    }
    columns_ = std::move(names);
  }
  data_->columns = columns_;
  data_->width = static_cast<std::size_t>(n);
}

rows rows_builder::finish(sqlite3_stmt* s) && {
  if (!data_->columns) take_columns(s);  // no row came
  return rows(std::move(data_));
}

void rows_builder::add(sqlite3_stmt* s) {
  auto& d = *data_;
  if (!d.columns) take_columns(s);
  d.starts.push_back(d.used);
  // Room for the row's fixed-size part at once; text and blobs ask for more.
  constexpr std::size_t fixed = 1 + sizeof(std::int64_t);
  char* p = reserve(d.width * fixed);
  for (std::size_t i = 0; i < d.width; ++i) {
    // The column's value once, then the cheap sqlite3_value_* readers: each
    // sqlite3_column_* call repeats the statement's bookkeeping.
    sqlite3_value* v = sqlite3_column_value(s, static_cast<int>(i));
    const int type = sqlite3_value_type(v);
    if (type == SQLITE_INTEGER) {
      const std::int64_t n = sqlite3_value_int64(v);
      *p = static_cast<char>(cell::integer);
      std::memcpy(p + 1, &n, sizeof n);
      p += fixed;
    } else if (type == SQLITE_FLOAT) {
      const double x = sqlite3_value_double(v);
      *p = static_cast<char>(cell::real);
      std::memcpy(p + 1, &x, sizeof x);
      p += fixed;
    } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
      const bool text = type == SQLITE_TEXT;
      // Text first, then its length, as SQLite asks: the text conversion may
      // change the length.
      const void* src =
          text ? static_cast<const void*>(sqlite3_value_text(v)) : sqlite3_value_blob(v);
      const auto n = static_cast<std::uint32_t>(sqlite3_value_bytes(v));
      if (!src && (text || n > 0)) throw error(SQLITE_NOMEM, "out of memory reading a column");
      // What is left of the row's fixed-size part, plus these bytes.
      d.used = static_cast<std::size_t>(p - d.bytes.get());
      p = reserve(1 + sizeof n + n + (d.width - i - 1) * fixed);
      *p = static_cast<char>(text ? cell::text : cell::bytes);
      std::memcpy(p + 1, &n, sizeof n);
      if (n > 0) std::memcpy(p + 1 + sizeof n, src, n);
      p += 1 + sizeof n + n;
    } else {
      *p++ = static_cast<char>(cell::null);
    }
  }
  d.used = static_cast<std::size_t>(p - d.bytes.get());
}

}  // namespace detail

// ---- row ---------------------------------------------------------------------

std::size_t row::size() const noexcept {
  return data_ ? data_->width : 0;
}

const std::vector<std::string>& row::columns() const {
  static const std::vector<std::string> none;
  return data_ && data_->columns ? *data_->columns : none;
}

detail::cell row::cell(std::size_t i) const {
  if (i >= size())
    throw std::out_of_range(fmt::format("column {} of a row of {} columns", i, size()));
  const char* p = data_->bytes.get() + data_->starts.at(index_);
  detail::cell c;
  for (std::size_t k = 0;; ++k) {
    c.type = static_cast<detail::cell::kind>(*p++);
    std::uint32_t n = 0;
    switch (c.type) {
      case detail::cell::integer:
        if (k == i) std::memcpy(&c.i, p, sizeof c.i);
        p += sizeof c.i;
        break;
      case detail::cell::real:
        if (k == i) std::memcpy(&c.d, p, sizeof c.d);
        p += sizeof c.d;
        break;
      case detail::cell::text:
      case detail::cell::bytes:
        std::memcpy(&n, p, sizeof n);
        p += sizeof n;
        if (k == i) c.s = std::string_view(p, n);
        p += n;
        break;
      case detail::cell::null:
        break;
    }
    if (k == i) return c;
  }
}

value row::operator[](std::size_t i) const {
  const detail::cell c = cell(i);
  switch (c.type) {
    case detail::cell::integer:
      return c.i;
    case detail::cell::real:
      return c.d;
    case detail::cell::text:
      return std::string(c.s);
    case detail::cell::bytes:
      return get<blob>(i);
    case detail::cell::null:
      break;
  }
  return nullptr;
}

value row::operator[](std::string_view column) const {
  return (*this)[index(column)];
}

std::vector<value> row::values() const {
  std::vector<value> out;
  out.reserve(size());
  for (std::size_t i = 0; i < size(); ++i) out.push_back((*this)[i]);
  return out;
}

void row::throw_out_of_range(std::size_t column, std::int64_t v) const {
  const auto& cols = columns();
  throw std::out_of_range(
      fmt::format("column '{}' holds {}, out of the range of the integer type "
                  "it is read as",
                  column < cols.size() ? cols[column] : std::to_string(column), v));
}

std::size_t row::index(std::string_view column) const {
  const auto& cols = columns();
  auto it = std::find(cols.begin(), cols.end(), column);
  if (it == cols.end()) throw std::out_of_range(fmt::format("no column '{}' in the row", column));
  return static_cast<std::size_t>(it - cols.begin());
}

// ---- rows --------------------------------------------------------------------

std::size_t rows::size() const noexcept {
  return data_ ? data_->starts.size() : 0;
}

row rows::at(std::size_t i) const {
  if (i >= size()) throw std::out_of_range(fmt::format("row {} of {} rows", i, size()));
  return row(data_, i);
}

row rows::front() const {
  if (empty()) throw std::out_of_range("front() of an empty result");
  return row(data_, 0);
}

// Without its own check, back() of no rows would ask for row SIZE_MAX and say so.
row rows::back() const {
  if (empty()) throw std::out_of_range("back() of an empty result");
  return row(data_, size() - 1);
}

const std::vector<std::string>& rows::columns() const {
  static const std::vector<std::string> none;
  return data_ && data_->columns ? *data_->columns : none;
}

}  // namespace faultscope::sqlite
