// A prepared statement, which is also aiosqlite's cursor: bind parameters, run
// it, fetch its rows one at a time or all at once. It is tracked from prepare
// to finalize; a statement never finalized is a leak naming its SQL.
//
//   co_await faultscope::async_with(faultscope::sqlite::cursor(db, "SELECT * FROM users"),
//       [&](faultscope::sqlite::statement& cur) -> awaitable<void> {
//         while (auto r = co_await cur.fetch_one()) use(*r);
//       });
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/sqlite/rows.hpp"

namespace faultscope::sqlite {

class connection;

namespace detail {
struct statement_state;
}

class statement {
 public:
  statement() = default;

  /// Resets, binds `params`, runs to the end; returns the rows changed. A
  /// fetch after it (or after `query`) finds the end until the next `bind`.
  template <typename... Args>
  boost::asio::awaitable<std::int64_t> execute(Args&&... args) {
    return execute_values({to_value(std::forward<Args>(args))...});
  }
  /// Resets, binds `params`, returns every row.
  template <typename... Args>
  boost::asio::awaitable<rows> query(Args&&... args) {
    return query_values({to_value(std::forward<Args>(args))...});
  }
  /// Resets and binds, for fetching.
  template <typename... Args>
  boost::asio::awaitable<void> bind(Args&&... args) {
    return bind_values({to_value(std::forward<Args>(args))...});
  }
  // The fetches' `loc`: the caller's line, where the run's timeline shows the
  // use. (The calls above take a parameter pack, which no default can
  // follow: their uses show a line in the adapter.)

  /// The next row, or nullopt at the end.
  boost::asio::awaitable<std::optional<row>> fetch_one(
      std::source_location loc = std::source_location::current());
  /// The next `n` rows, fewer only at the end, none after it (aiosqlite's
  /// `fetchmany`): a large result in pieces, one call to the worker each.
  boost::asio::awaitable<rows> fetch_many(
      std::size_t n, std::source_location loc = std::source_location::current());
  /// Every remaining row.
  boost::asio::awaitable<rows> fetch_all(
      std::source_location loc = std::source_location::current());
  /// Ends the statement: its handle goes back to the connection's cache of
  /// prepared statements (reset, nothing bound). Never fails; a second call
  /// does nothing. `loc`: the caller's line, where the run's timeline shows
  /// the release.
  boost::asio::awaitable<void> finalize(std::source_location loc = std::source_location::current());

  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] const std::string& sql() const noexcept;

 private:
  friend class connection;
  explicit statement(std::shared_ptr<detail::statement_state> s) : state_(std::move(s)) {}
  boost::asio::awaitable<std::int64_t> execute_values(std::vector<value> params);
  boost::asio::awaitable<rows> query_values(std::vector<value> params);
  boost::asio::awaitable<void> bind_values(std::vector<value> params);
  std::shared_ptr<detail::statement_state> state_;
};

/// `async with db.execute(sql, params) as cursor`: the statement is finalized
/// whatever ends the body.
[[nodiscard]] context_manager<statement> cursor(
    connection& db, std::string sql, std::vector<value> params,
    std::source_location loc = std::source_location::current());
// Overloads, not class-type default arguments: see connection::cursor.
[[nodiscard]] inline context_manager<statement> cursor(
    connection& db, std::string sql, std::source_location loc = std::source_location::current()) {
  return cursor(db, std::move(sql), std::vector<value>{}, loc);
}
/// A prepared statement for the body to run many times; finalized after it.
[[nodiscard]] context_manager<statement> prepared(
    connection& db, std::string sql, std::source_location loc = std::source_location::current());

}  // namespace faultscope::sqlite
