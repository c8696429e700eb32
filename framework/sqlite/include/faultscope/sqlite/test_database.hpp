// A scratch database for one run, checked after it. The file lives in a fresh
// directory under $TMPDIR, else /dev/shm (memory), else /tmp, removed when the
// run ends. After the root coroutine ends, a fresh connection checks
// `PRAGMA integrity_check` and the ledger: every row a committed transaction
// wrote is there, every row a rolled-back one wrote is not, and a transaction
// whose commit failed has all of its rows or none. Nothing committed is lost,
// nothing rolled back survives.
//
//   namespace sq = faultscope::sqlite;
//   auto& db = sq::test_database::create(ctx, "CREATE TABLE log(id INTEGER PRIMARY KEY, v TEXT)");
//   co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
//     co_await tx.execute("INSERT INTO log(id, v) VALUES(?, ?)", 7, "x");
//     db.wrote(tx, "log", 7);
//   });
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "faultscope/run.hpp"
#include "faultscope/site.hpp"

namespace faultscope::sqlite {

class transaction;

namespace detail {
struct transaction_state;
}

class test_database {
 public:
  /// Makes the database in the run's scratch directory and runs `setup_sql` on
  /// it (no faults, not tracked). Throws std::logic_error outside a run and
  /// faultscope::sqlite::error if the setup fails.
  static test_database& create(run_context& ctx, std::string_view setup_sql = {},
                               std::string_view name = "test.db");

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// `tx` inserted the row `rowid` of `table`: after the run it must be present
  /// exactly when `tx` (and every transaction around it) committed.
  void wrote(const transaction& tx, std::string_view table, std::int64_t rowid,
             std::source_location loc = std::source_location::current());
  /// The caller believes the row `rowid` of `table` is durable (written outside
  /// any explicit transaction): after the run it must be present.
  void committed(std::string_view table, std::int64_t rowid,
                 std::source_location loc = std::source_location::current());
  /// After the run, `sql` (one integer) must equal `expected`: an invariant
  /// such as the sum of all balances.
  void expect(std::string_view sql, std::int64_t expected,
              std::source_location loc = std::source_location::current());

  /// Runs the checks, reporting to `t`. The run does this after the root ends.
  void verify(faultscope::tracker& t) const;

  explicit test_database(std::string path) : path_(std::move(path)) {}

 private:
  struct entry {
    std::string table;
    std::int64_t rowid;
    std::shared_ptr<detail::transaction_state> tx;  // null: claimed committed
    faultscope::site where;
  };
  struct invariant {
    std::string sql;
    std::int64_t expected;
    faultscope::site where;
  };
  std::string path_;
  std::vector<entry> entries_;
  std::vector<invariant> invariants_;
};

}  // namespace faultscope::sqlite
