// Transactions and savepoints as async scopes: the body's work ends in COMMIT;
// whatever ends it otherwise — an exception, a cancellation, a timeout, or the
// COMMIT itself failing — the transaction is rolled back, shielded from the
// cancellation that caused it, so it never outlives the scope.
//
//   co_await faultscope::sqlite::with_transaction(db, "IMMEDIATE",
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
#include <type_traits>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/rows.hpp"

namespace faultscope::sqlite {

/// How a transaction ended. `unknown`: the commit failed, and SQLite may or may
/// not have made it durable — all of its rows or none, never some; or, for a
/// savepoint, the caller's own SQL ended it before its rollback.
enum class outcome : std::uint8_t { open, committed, rolled_back, unknown };
[[nodiscard]] std::string_view to_string(outcome o) noexcept;

namespace detail {
struct transaction_state;
}

class transaction {
 public:
  transaction() = default;

  /// The connection's calls, refused (SQLITE_MISUSE) once the transaction has
  /// ended: they would run outside it, each committing by itself.
  template <typename... Args>
  boost::asio::awaitable<std::int64_t> execute(std::string_view sql, Args&&... args) {
    require_open("execute");
    return conn_.execute(sql, std::forward<Args>(args)...);
  }
  boost::asio::awaitable<std::int64_t> execute_many(std::string_view sql,
                                                    std::vector<std::vector<value>> param_sets) {
    require_open("execute_many");
    return conn_.execute_many(sql, std::move(param_sets));
  }
  template <typename... Args>
  boost::asio::awaitable<rows> query(std::string_view sql, Args&&... args) {
    require_open("query");
    return conn_.query(sql, std::forward<Args>(args)...);
  }

  /// COMMIT (RELEASE for a savepoint). If it fails and SQLite ended the
  /// transaction anyway, the outcome is `unknown` (all of its rows or none
  /// are durable); if the transaction is still open, roll it back. `loc`,
  /// here and in `rollback`: the caller's line, where the run's timeline shows
  /// the release.
  boost::asio::awaitable<void> commit(std::source_location loc = std::source_location::current());
  /// ROLLBACK (ROLLBACK TO + RELEASE for a savepoint). Retries a transient
  /// failure, so that the transaction does not stay open.
  boost::asio::awaitable<void> rollback(std::source_location loc = std::source_location::current());
  /// A nested savepoint: prefer the `with_savepoint` scope.
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
  boost::asio::awaitable<void> end(bool commit, std::source_location loc);
  void require_open(const char* what) const;
  connection conn_;
  std::shared_ptr<detail::transaction_state> state_;
};

namespace detail {
// The scope's manager: BEGIN, the body (which ends in COMMIT), then ROLLBACK
// if the transaction is still open — the only release a transaction has.
context_manager<transaction> transaction_manager(connection& db, std::string mode,
                                                 std::source_location loc);
context_manager<transaction> savepoint_manager(transaction& outer, std::source_location loc);

template <typename Body>
auto committing(Body body, std::source_location loc) {
  using R = faultscope::detail::awaitable_value_t<std::invoke_result_t<Body&, transaction&>>;
  return [body = std::move(body), loc](transaction& tx) mutable -> boost::asio::awaitable<R> {
    // The commit is part of the body: cancellable, and bounded by the caller's
    // deadline like the rest of the work. Only the rollback is cleanup. A body
    // that ended the transaction itself (commit or rollback) leaves none to do.
    if constexpr (std::is_void_v<R>) {
      co_await body(tx);
      if (tx.state() == outcome::open) co_await tx.commit(loc);
    } else {
      R result = co_await body(tx);
      if (tx.state() == outcome::open) co_await tx.commit(loc);
      co_return result;
    }
  };
}
}  // namespace detail

/// BEGIN `mode` (DEFERRED, IMMEDIATE or EXCLUSIVE), `body(tx)`, COMMIT; on any
/// failure, ROLLBACK. Returns what the body returns. The body may also end the
/// transaction itself, with `tx.commit()` or `tx.rollback()`.
template <typename Body>
auto with_transaction(connection& db, std::string_view mode, Body body,
                      std::source_location loc = std::source_location::current()) {
  return faultscope::detail::async_with_impl<transaction>(
      detail::transaction_manager(db, std::string(mode), loc),
      detail::committing(std::move(body), loc), site::from(loc));
}
/// The same, BEGIN DEFERRED.
template <typename Body>
auto with_transaction(connection& db, Body body,
                      std::source_location loc = std::source_location::current()) {
  return with_transaction(db, "DEFERRED", std::move(body), loc);
}
/// A savepoint inside `tx`: released when the body ends well, rolled back to
/// otherwise (the outer transaction goes on).
template <typename Body>
auto with_savepoint(transaction& tx, Body body,
                    std::source_location loc = std::source_location::current()) {
  return faultscope::detail::async_with_impl<transaction>(detail::savepoint_manager(tx, loc),
                                                          detail::committing(std::move(body), loc),
                                                          site::from(loc));
}

}  // namespace faultscope::sqlite
