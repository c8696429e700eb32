// What a run reports when a caller forgets to clean up: one canary per check,
// each a planted bug the run must name (leaked statement, open transaction,
// unclosed connection or file, lost or surviving rows, a corrupt file).
#include "faultscope/sqlite/test_database.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/hooks.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "sqlite/support.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using faultscope::run_context;
using ::testing::HasSubstr;
using namespace faultscope_sqlite_test;

namespace {

TEST(SqliteChecks, CanaryLeakedStatementIsReportedWithItsSql) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto st = co_await conn.prepare("SELECT name FROM users");  // never finalized
    co_await st.fetch_one();
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("leak: sqlite.statement"));
  EXPECT_THAT(r.describe(), HasSubstr("SELECT name FROM users"));
}

TEST(SqliteChecks, CanaryRawStatementNeverFinalizedIsReportedAtClose) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.call([](sqlite3* raw) {
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(raw, "SELECT email FROM users", -1, &s, nullptr);  // forgotten
    });
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("statement never finalized"));
  EXPECT_THAT(r.describe(), HasSubstr("SELECT email FROM users"));
}

TEST(SqliteChecks, CanaryHelperLeavingATransactionOpenIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    // A buggy helper: BEGIN, work, and a return path that forgets COMMIT.
    co_await conn.execute("BEGIN");
    co_await conn.execute("INSERT INTO users(name) VALUES('x')");
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("transaction still open"));
}

TEST(SqliteChecks, CanaryTransactionHandleNeverEndedIsALeak) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto tx = co_await conn.begin();
    co_await tx.execute("INSERT INTO users(name) VALUES('x')");
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("leak: sqlite.transaction"));
}

// The handle's destructor closes the real connection (and its file) so nothing
// stays open for real; the missing close() is still the leak.
TEST(SqliteChecks, CanaryConnectionNeverClosedIsALeak) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.query("SELECT 1");
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("leak: sqlite.connection"));
  EXPECT_THAT(r.describe(), HasSubstr("\"test.db\""));
}

TEST(SqliteChecks, CanaryRawConnectionLeftOpenLeaksItsFile) {
  sqlite3* leaked = nullptr;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    // Third-party code opening through faultscope's VFS and forgetting to close.
    sqlite3_open_v2(db.path().c_str(), &leaked, SQLITE_OPEN_READWRITE, sq::vfs_name);
    co_return;
  });
  sqlite3_close(leaked);  // the test's own cleanup, after the run's check
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("leak: sqlite.file"));
}

// SQLite opened with its own VFS, past faultscope's shim: only the process's
// descriptor table still shows the file.
TEST(SqliteChecks, CanaryAFileOpenedPastTheShimIsCaughtOnlyByCheckFds) {
  sqlite3* leaked = nullptr;
  auto scenario = [&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    sqlite3_open_v2(db.path().c_str(), &leaked, SQLITE_OPEN_READWRITE, "unix");
    co_return;
  };
  auto unchecked = faultscope::run(scenario);
  sqlite3_close(leaked);
  EXPECT_TRUE(unchecked.passed()) << unchecked.describe();
  auto checked = faultscope::run(scenario, {.check_fds = true});
  sqlite3_close(leaked);
  ASSERT_FALSE(checked.passed());
  EXPECT_THAT(checked.describe(), HasSubstr("leak: file descriptor"));
  EXPECT_THAT(checked.describe(), HasSubstr("test.db"));
}

TEST(SqliteChecks, CanaryCommittedDataLostIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    // A helper that never commits, yet tells its caller the row is saved.
    co_await conn.execute("BEGIN");
    co_await conn.execute("INSERT INTO users(id, name) VALUES(77, 'lost')");
    db.committed("users", 77);
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("lost: row 77 of users"));
}

TEST(SqliteChecks, CanaryRolledBackRowThatSurvivesIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto tx = co_await conn.begin();
    db.wrote(tx, "users", 1);  // row 1 exists from the setup: claims it as this transaction's
    co_await tx.rollback();
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("survived: row 1 of users"));
}

TEST(SqliteChecks, CanaryBrokenInvariantIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    db.expect("SELECT count(*) FROM users", 3);
    co_return;
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("SELECT count(*) FROM users = 2"));
}

TEST(SqliteChecks, CanaryCorruptDatabaseFailsIntegrityCheck) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    // Scribble over the second page (the table's b-tree).
    FILE* f = std::fopen(db.path().c_str(), "r+b");
    std::fseek(f, 4096 + 0, SEEK_SET);
    const char junk[64] = "this is not a b-tree page at all, not at all, not at all......";
    std::fwrite(junk, 1, sizeof junk, f);
    std::fclose(f);
    co_return;
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("test.db"));
}

}  // namespace
