// An asynchronous SQLite connection, aiosqlite's design for Asio coroutines: the
// connection owns a worker thread, every call runs there and completes on the
// caller's executor. Inside a faultscope run the connection, its statements,
// transactions and files are tracked, and every call is a fault point.
//
//   auto db = co_await faultscope::sqlite::connection::open("app.db");
//   co_await db.execute("INSERT INTO users(name) VALUES(?)", "ada");
//   auto rows = co_await db.query("SELECT id, name FROM users WHERE id > ?", 10);
//   co_await db.close();
//
// Or as a scope (Python's `async with aiosqlite.connect(path) as db`):
//
//   co_await faultscope::async_with(faultscope::sqlite::connect("app.db"),
//       [](faultscope::sqlite::connection& db) -> awaitable<void> { … });
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/sqlite/error.hpp"
#include "faultscope/sqlite/rows.hpp"

struct sqlite3;

namespace faultscope::sqlite {

class statement;
class transaction;

namespace detail {
struct connection_state;
}

/// Fault points of the adapter (each call is one before it goes to the worker):
///   sqlite.open  sqlite.prepare  sqlite.execute  sqlite.query  sqlite.fetch
///   sqlite.begin  sqlite.commit  sqlite.savepoint
/// Releases (close, finalize, rollback) have none: their real failures come
/// from the VFS and the allocator, which these options let a plan reach:
///   sqlite.vfs.open  sqlite.vfs.read  sqlite.vfs.write  sqlite.vfs.sync
///   sqlite.vfs.truncate  sqlite.vfs.lock  sqlite.malloc
struct connection_options {
  /// Shown in reports; the file name when empty.
  std::string label;
  /// Let plans fail this connection's file operations (sqlite.vfs.*).
  bool vfs_faults = false;
  /// Let plans fail this connection's allocations (sqlite.malloc).
  bool memory_faults = false;
  /// SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE when 0.
  int flags = 0;
  /// Milliseconds SQLite waits for a lock before SQLITE_BUSY (real time; the
  /// virtual clock holds still meanwhile). 5 s, Python's sqlite3 default that
  /// aiosqlite users get; 0 fails at once.
  int busy_timeout_ms = 5000;
};

class connection {
 public:
  connection() = default;

  /// Opens `path` through faultscope's VFS. `loc` is what a leak report names.
  [[nodiscard]] static boost::asio::awaitable<connection> open(
      std::string path, connection_options options,
      std::source_location loc = std::source_location::current());
  // Not a default argument: g++ 12 mis-copies class-type default arguments of
  // coroutines.
  [[nodiscard]] static boost::asio::awaitable<connection> open(
      std::string path, std::source_location loc = std::source_location::current()) {
    return open(std::move(path), connection_options{}, loc);
  }

  /// Finalizes what the caller forgot (reporting it), rolls back an open
  /// transaction (reporting it), closes the file, ends the worker thread.
  /// `loc`: the caller's line, where the run's timeline shows the release.
  boost::asio::awaitable<void> close(std::source_location loc = std::source_location::current());

  /// Runs one statement (or several, separated by ';', without parameters);
  /// returns the number of rows changed.
  template <typename... Args>
  boost::asio::awaitable<std::int64_t> execute(std::string_view sql, Args&&... args) {
    return execute_values(std::string(sql), {to_value(std::forward<Args>(args))...});
  }
  /// Runs one statement once for each set of parameters, all in one call to
  /// the worker (aiosqlite's `executemany`); returns the rows changed in all.
  /// Outside a transaction each run commits by itself, so a failure part-way
  /// keeps the runs before it: inside `with_transaction` it is all or none.
  ///   std::vector<std::vector<value>> users{{1, "ada"}, {2, "grace"}};
  ///   co_await db.execute_many("INSERT INTO users(id, name) VALUES(?, ?)", std::move(users));
  /// (A named vector: g++ 12 rejects one braced inside a co_await expression.)
  boost::asio::awaitable<std::int64_t> execute_many(std::string_view sql,
                                                    std::vector<std::vector<value>> param_sets) {
    return execute_many_values(std::string(sql), std::move(param_sets));
  }
  /// Runs one statement and returns every row.
  template <typename... Args>
  boost::asio::awaitable<rows> query(std::string_view sql, Args&&... args) {
    return query_values(std::string(sql), {to_value(std::forward<Args>(args))...});
  }
  /// A prepared statement: bind, run, fetch, many times; finalize when done.
  /// Prefer the `sqlite::prepared` scope.
  boost::asio::awaitable<statement> prepare(
      std::string_view sql, std::source_location loc = std::source_location::current());
  /// A statement with `params` bound, ready to fetch from: `db.cursor(sql, {5, "ada"})`.
  /// Prefer the `sqlite::cursor` scope.
  boost::asio::awaitable<statement> cursor(
      std::string_view sql, std::vector<value> params,
      std::source_location loc = std::source_location::current());
  // Overloads, not class-type default arguments: g++ 12 destroys those twice
  // when the call sits inside a co_await expression.
  boost::asio::awaitable<statement> cursor(
      std::string_view sql, std::source_location loc = std::source_location::current());

  /// BEGIN DEFERRED, IMMEDIATE or EXCLUSIVE: the transaction must end in
  /// commit() or rollback(). Prefer the `sqlite::with_transaction` scope.
  boost::asio::awaitable<transaction> begin(
      std::string_view mode = "DEFERRED",
      std::source_location loc = std::source_location::current());

  /// Runs `fn(sqlite3*)` on the worker thread: for what the adapter does not
  /// wrap. Statements it leaves unfinalized are reported at close. With g++
  /// 12, a lambda that captures a class-type object by value must be named
  /// before `co_await conn.call(std::move(fn))`: written inside the co_await
  /// expression it is destroyed twice (README, "Coroutine traps").
  template <typename F>
  auto call(F fn);

  /// The rowid SQLite gave the last row inserted on this connection, as it
  /// stood when the last `execute` or `execute_many` ended (aiosqlite's
  /// `cursor.lastrowid`); 0 before any. `INSERT … RETURNING` through `query`
  /// returns it with the row instead.
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] const std::string& path() const noexcept;
  [[nodiscard]] const std::string& label() const noexcept;
  [[nodiscard]] std::shared_ptr<detail::connection_state> state() const noexcept { return state_; }

 private:
  friend class statement;
  friend class transaction;
  explicit connection(std::shared_ptr<detail::connection_state> s) : state_(std::move(s)) {}
  boost::asio::awaitable<std::int64_t> execute_values(std::string sql, std::vector<value> params);
  boost::asio::awaitable<std::int64_t> execute_many_values(std::string sql,
                                                           std::vector<std::vector<value>> sets);
  boost::asio::awaitable<rows> query_values(std::string sql, std::vector<value> params);
  boost::asio::awaitable<transaction> begin_impl(std::string mode, std::source_location loc);
  boost::asio::awaitable<statement> cursor_values(std::string sql, std::vector<value> params,
                                                  std::source_location loc);
  std::shared_ptr<detail::connection_state> state_;
};

/// `async with aiosqlite.connect(path) as db`: opens, yields, closes — the close
/// awaited whatever ended the body.
[[nodiscard]] context_manager<connection> connect(
    std::string path, connection_options options,
    std::source_location loc = std::source_location::current());
[[nodiscard]] inline context_manager<connection> connect(
    std::string path, std::source_location loc = std::source_location::current()) {
  return connect(std::move(path), connection_options{}, loc);
}

}  // namespace faultscope::sqlite

#include "faultscope/sqlite/detail/connection_impl.hpp"
