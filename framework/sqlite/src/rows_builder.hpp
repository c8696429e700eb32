// Machinery behind sqlite::rows: the buffer a result set is copied into on the
// worker thread. Not public API.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "faultscope/sqlite/rows.hpp"

struct sqlite3_stmt;

namespace faultscope::sqlite::detail {

/// A result set: every cell of every row, one after another in one buffer,
/// so a 1,000-row query costs two allocations instead of two per row. A cell is
/// its kind (one byte), then 8 bytes for an integer or a real, or a 4-byte
/// length and the bytes for text or a blob, or nothing for NULL.
struct result_data {
  struct release {
    void operator()(char* p) const noexcept { std::free(p); }
  };
  std::shared_ptr<const std::vector<std::string>> columns;
  std::size_t width = 0;  // cells in a row
  std::unique_ptr<char, release> bytes;
  std::size_t used = 0;
  std::size_t capacity = 0;
  std::vector<std::size_t> starts;  // where each row's first cell is
};

using column_names = std::shared_ptr<const std::vector<std::string>>;

/// Worker thread: copies rows out of a statement as it steps.
class rows_builder {
 public:
  /// `columns`: the names this statement gave last time (null at first),
  /// kept where the statement is kept; the builder reuses them while they
  /// still match and replaces them when not. `bytes_hint`, `rows_hint`: the
  /// size of the last result on the connection, which the next one usually
  /// repeats.
  rows_builder(column_names& columns, std::size_t bytes_hint, std::size_t rows_hint);
  /// Copies the row `s` is on. Throws error(SQLITE_NOMEM) if SQLite cannot
  /// give a text value (it may allocate to convert one).
  void add(sqlite3_stmt* s);
  [[nodiscard]] std::size_t bytes() const noexcept { return data_->used; }
  [[nodiscard]] std::size_t size() const noexcept { return data_->starts.size(); }
  /// After the last step of `s`.
  [[nodiscard]] rows finish(sqlite3_stmt* s) &&;

 private:
  // The columns of `s` as it runs now: a statement SQLite re-prepared after a
  // schema change (ALTER TABLE under `SELECT *`) may return other ones than
  // when it was prepared, so they are read after a step, not before.
  void take_columns(sqlite3_stmt* s);
  char* reserve(std::size_t n) {
    auto& d = *data_;
    return d.capacity - d.used >= n ? d.bytes.get() + d.used : grow(n);
  }
  char* grow(std::size_t n);
  column_names& columns_;
  std::shared_ptr<result_data> data_;
};

}  // namespace faultscope::sqlite::detail
