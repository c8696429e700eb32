// Machinery behind connection, statement and transaction: their shared states.
// Not public API.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "faultscope/site.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/detail/worker.hpp"
#include "faultscope/tracker.hpp"

struct sqlite3_stmt;

namespace faultscope::sqlite {
enum class outcome : std::uint8_t;
}

namespace faultscope::sqlite::detail {

/// Worker thread only: the statements of execute() and query(), kept prepared
/// for the next call with the same SQL — what Python's sqlite3 does for
/// aiosqlite. A statement is taken out while it runs, so it is never shared.
/// Finalized when the connection closes; it never outlives its handle.
class statement_cache {
 public:
  static constexpr std::size_t capacity = 32;
  struct entry {
    sqlite3_stmt* stmt = nullptr;
    /// The names of its result columns when it last ran (see rows_builder).
    std::shared_ptr<const std::vector<std::string>> columns;
  };
  /// The prepared statement for `sql`, taken out of the cache, or an empty entry.
  entry take(const std::string& sql);
  /// Resets `e.stmt` and keeps it, finalizing the least recently used beyond
  /// capacity.
  void give_back(const std::string& sql, entry e);
  /// Finalizes every statement kept.
  void clear();

 private:
  std::vector<std::pair<std::string, entry>> entries_;  // most recent last
};

/// Worker thread only: the size of the connection's last result set, which
/// the next one reserves, since queries tend to repeat.
struct result_hint {
  std::size_t bytes = 0;
  std::size_t rows = 0;
};

struct connection_state {
  connection_state(std::string p, connection_options o);
  ~connection_state();
  connection_state(const connection_state&) = delete;
  connection_state& operator=(const connection_state&) = delete;

  /// Throws SQLITE_MISUSE if the connection is closed.
  void require_open(const char* what) const;

  std::string path;
  connection_options options;
  binding bind;  // the run this connection serves (tracker, faults, accounting)
  resource_id id = 0;
  bool open = false;          // caller's thread
  int open_transactions = 0;  // adapter transactions not yet ended (caller's thread)
  std::uint64_t savepoints = 0;
  // Written on the worker after an execute, read on any thread: atomic so that
  // a read while another call is in flight is no data race.
  std::atomic<std::int64_t> last_rowid{0};
  // Worker thread only: statements the adapter prepared and has not finalized.
  std::unordered_set<sqlite3_stmt*> statements;
  statement_cache cache;  // worker thread only
  result_hint hint;       // worker thread only
  worker w;               // last: its thread goes first, before what it touches
};

struct statement_state {
  std::shared_ptr<connection_state> conn;
  sqlite3_stmt* stmt = nullptr;  // null once finalized
  std::string sql;
  resource_id id = 0;
  // Worker thread: the names of its result columns when it last ran.
  std::shared_ptr<const std::vector<std::string>> columns;
  // Worker thread: stepped to SQLITE_DONE since the last bind. SQLite would
  // restart the statement on the next step; a cursor stays at its end.
  bool done = false;
};

struct transaction_state {
  std::shared_ptr<connection_state> conn;
  std::shared_ptr<transaction_state> parent;  // the transaction a savepoint is in
  std::string savepoint;                      // empty for BEGIN … COMMIT
  resource_id id = 0;
  outcome state{};
  faultscope::site where;
  // Savepoints taken inside this one (caller's thread): SQLite ends those
  // still open when this ends, and so do their handles.
  std::vector<std::weak_ptr<transaction_state>> savepoints;
  /// committed only if this and every enclosing transaction committed.
  [[nodiscard]] outcome effective() const noexcept;
};

/// Throws `error` for a result code that is not OK/ROW/DONE; operation_aborted
/// for SQLITE_INTERRUPT (the call was cancelled).
void check(int rc, sqlite3* db, const std::string& sql);

}  // namespace faultscope::sqlite::detail

namespace faultscope::sqlite {

template <typename F>
auto connection::call(F fn) {
  using R = std::invoke_result_t<F&, sqlite3*>;
  if (!state_) throw std::logic_error("sqlite: call on an empty connection");
  state_->require_open("call");
  if constexpr (std::is_void_v<R>) {
    return detail::submit<detail::none>(state_->w, state_->bind, std::move(fn));
  } else {
    return detail::submit<R>(state_->w, state_->bind, std::move(fn));
  }
}

}  // namespace faultscope::sqlite
