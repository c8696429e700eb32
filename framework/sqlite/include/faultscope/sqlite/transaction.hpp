// Transactions and savepoints as async scopes: commit when the body ends well;
// roll back when it ends in an exception, a cancellation or a timeout. The
// rollback runs shielded from the cancellation that caused it. A commit that
// fails propagates its error; the transaction is rolled back if SQLite left it
// open, so it never outlives the scope.
//
//   co_await faultscope::async_with(faultscope::sqlite::begin(db, "IMMEDIATE"),
//       [&](faultscope::sqlite::transaction& tx) -> awaitable<void> {
//         co_await tx.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", 10, 1);
//         co_await tx.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", 10, 2);
//       });
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/value.hpp"

namespace faultscope::sqlite {

/// How a transaction ended. `unknown`: the commit failed, and SQLite may or may
/// not have made it durable — all of its rows or none, never some.
enum class outcome : std::uint8_t { open, committed, rolled_back, unknown };
[[nodiscard]] std::string_view to_string(outcome o) noexcept;

namespace detail {
struct transaction_state;
}

class transaction {
 public:
  transaction() = default;

  template <typename... Args>
  boost::asio::awaitable<std::int64_t> execute(std::string_view sql, Args&&... args) {
    return conn_.execute(sql, std::forward<Args>(args)...);
  }
  template <typename... Args>
  boost::asio::awaitable<std::vector<row>> query(std::string_view sql, Args&&... args) {
    return conn_.query(sql, std::forward<Args>(args)...);
  }

  /// COMMIT (RELEASE for a savepoint). On failure the transaction is rolled
  /// back if still open, its outcome is `unknown`, and the error propagates.
  boost::asio::awaitable<void> commit();
  /// ROLLBACK (ROLLBACK TO + RELEASE for a savepoint). Retries a transient
  /// failure, so that the transaction does not stay open.
  boost::asio::awaitable<void> rollback();
  /// A nested savepoint: prefer the `sqlite::savepoint` scope.
  boost::asio::awaitable<transaction> savepoint(
      std::source_location loc = std::source_location::current());

  [[nodiscard]] outcome state() const noexcept;
  [[nodiscard]] connection& db() noexcept { return conn_; }
  [[nodiscard]] std::shared_ptr<detail::transaction_state> shared_state() const noexcept {
    return state_;
  }

 private:
  friend class connection;
  transaction(connection c, std::shared_ptr<detail::transaction_state> s)
      : conn_(std::move(c)), state_(std::move(s)) {}
  boost::asio::awaitable<void> end(bool commit);
  connection conn_;
  std::shared_ptr<detail::transaction_state> state_;
};

/// A transaction scope: BEGIN `mode`, the body, then COMMIT — or ROLLBACK if
/// the body did not end well.
[[nodiscard]] context_manager<transaction> begin(
    connection& db, std::string_view mode,
    std::source_location loc = std::source_location::current());
[[nodiscard]] inline context_manager<transaction> begin(
    connection& db, std::source_location loc = std::source_location::current()) {
  return begin(db, "DEFERRED", loc);
}
/// A savepoint scope inside `tx`: released on success, rolled back to otherwise
/// (the outer transaction goes on).
[[nodiscard]] context_manager<transaction> savepoint(
    transaction& tx, std::source_location loc = std::source_location::current());

}  // namespace faultscope::sqlite
