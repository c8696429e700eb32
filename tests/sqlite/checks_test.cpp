// What a run reports when a caller forgets to clean up: one canary per check,
// each a planted bug the run must name (leaked statement, open transaction,
// unclosed connection or file, lost, surviving or torn rows, a corrupt, deleted
// or unreadable database), and where the scratch database lives.
#include "faultscope/sqlite/test_database.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "faultscope/detail/descriptors.hpp"
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

// The run's violation that says `what` points at `line` of this file, where a
// CI annotation or an IDE takes the reader.
void expect_points_at(const faultscope::run_result& r, std::string_view what, std::uint32_t line) {
  auto v = std::ranges::find_if(r.violations, [&](const faultscope::violation& x) {
    return x.message.find(what) != std::string::npos;
  });
  ASSERT_NE(v, r.violations.end()) << r.describe();
  EXPECT_EQ(v->file, "tests/sqlite/checks_test.cpp");
  EXPECT_EQ(v->line, line) << v->message;
}

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
  std::uint32_t opened = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    opened = __LINE__ + 1;
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
  expect_points_at(r, "statement never finalized", opened);  // its connection
}

TEST(SqliteChecks, CanaryHelperLeavingATransactionOpenIsReported) {
  std::uint32_t opened = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    opened = __LINE__ + 1;
    auto conn = co_await sq::connection::open(db.path());
    // A buggy helper: BEGIN, work, and a return path that forgets COMMIT.
    co_await conn.execute("BEGIN");
    co_await conn.execute("INSERT INTO users(name) VALUES('x')");
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("transaction still open"));
  expect_points_at(r, "transaction still open", opened);
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

// So with a statement of its own still open: the worker finalizes it first,
// or SQLite would keep the connection, and its file, open for good.
TEST(SqliteChecks, CanaryConnectionNeverClosedWithAStatementOpenLeavesNoFileOpen) {
  std::string path;
  auto r = faultscope::run([&path](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    path = db.path();
    auto conn = co_await sq::connection::open(db.path());
    auto st = co_await conn.prepare("SELECT name FROM users");
    co_await st.fetch_one();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("leak: sqlite.connection"));
  auto still_open = [&path] {
    const auto fds = faultscope::detail::open_descriptors();
    return fds && std::ranges::any_of(*fds, [&path](const auto& fd) {
             return faultscope::detail::descriptor_target(fd.first).starts_with(path);
           });
  };
  // Closed on the worker's thread once the run let go of the handle.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (still_open() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(still_open()) << path;
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
  std::uint32_t claimed = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    // A helper that never commits, yet tells its caller the row is saved.
    co_await conn.execute("BEGIN");
    co_await conn.execute("INSERT INTO users(id, name) VALUES(77, 'lost')");
    claimed = __LINE__ + 1;
    db.committed("users", 77);
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("lost: row 77 of users"));
  expect_points_at(r, "lost: row 77", claimed);
}

TEST(SqliteChecks, CanaryRolledBackRowThatSurvivesIsReported) {
  std::uint32_t claimed = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto tx = co_await conn.begin();
    claimed = __LINE__ + 1;
    db.wrote(tx, "users", 1);  // row 1 exists from the setup: claims it as this transaction's
    co_await tx.rollback();
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("survived: row 1 of users"));
  expect_points_at(r, "survived: row 1", claimed);
}

// A helper that commits behind its transaction's back: the transaction never
// ended, yet its rows are in the database.
TEST(SqliteChecks, CanaryRowOfATransactionNeverEndedThatIsPresentIsReported) {
  std::uint32_t claimed = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto tx = co_await conn.begin();
    co_await tx.execute("INSERT INTO users(id, name) VALUES(42, 'early')");
    claimed = __LINE__ + 1;
    db.wrote(tx, "users", 42);
    co_await conn.execute("COMMIT");
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("survived: row 42 of users"));
  EXPECT_THAT(r.describe(), HasSubstr("(open) is present after the run"));
  expect_points_at(r, "survived: row 42", claimed);
}

// All or nothing even when a commit failed and the outcome is unknown. The
// planted bug: a helper rolls back behind the handle's back (so its COMMIT
// fails with nothing open), and the ledger holds one row that is gone and one
// that is there.
TEST(SqliteChecks, CanaryTransactionLeavingHalfItsRowsAfterAFailedCommitIsReported) {
  std::uint32_t begun = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    begun = __LINE__ + 1;
    auto tx = co_await conn.begin();
    co_await tx.execute("INSERT INTO users(id, name) VALUES(50, 'x')");
    db.wrote(tx, "users", 50);
    db.wrote(tx, "users", 1);  // row 1 exists from the setup: claims it as this transaction's
    co_await conn.call(
        [](sqlite3* raw) { sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr); });
    try {
      co_await tx.commit();
    } catch (const sq::error&) {
    }
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("torn: transaction #"));
  EXPECT_THAT(r.describe(), HasSubstr("left 1 of its 2 rows"));
  expect_points_at(r, "torn:", begun);
}

TEST(SqliteChecks, CanaryBrokenInvariantIsReported) {
  std::uint32_t declared = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    declared = __LINE__ + 1;
    db.expect("SELECT count(*) FROM users", 3);
    co_return;
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("SELECT count(*) FROM users = 2"));
  expect_points_at(r, "SELECT count(*) FROM users = 2", declared);
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

// A database the run deleted: the check after the run cannot even open it, so
// it cannot vouch for any row, and says so instead of passing.
TEST(SqliteChecks, CanaryDatabaseDeletedDuringTheRunIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    std::filesystem::remove(db.path());
    co_return;
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("test.db cannot be opened after the run"));
  EXPECT_THAT(r.describe(), HasSubstr("No such file or directory"));
}

// A row recorded in a table the run dropped is lost as surely as a missing
// row, and is reported with SQLite's reason and the line that recorded it.
TEST(SqliteChecks, CanaryRowOfATableDroppedDuringTheRunIsReported) {
  std::uint32_t claimed = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    claimed = __LINE__ + 1;
    db.committed("users", 1);
    co_await conn.execute("DROP TABLE users");
    co_await conn.close();
  });
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("lost: table users of test.db (row 1 written at"));
  EXPECT_THAT(r.describe(), HasSubstr("cannot be read after the run: no such table: users"));
  expect_points_at(r, "lost: table users", claimed);
}

// The scratch database goes where the user's $TMPDIR says, else to memory, and
// its directory is gone once the run ends.
class SqliteScratch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tmp = std::getenv("TMPDIR")) saved_ = tmp;
  }
  void TearDown() override {
    if (saved_)
      setenv("TMPDIR", saved_->c_str(), 1);
    else
      unsetenv("TMPDIR");
  }
  // The path of a run's test_database; the run must pass.
  static std::string path_of_a_run() {
    std::string path;
    auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      path = sq::test_database::create(ctx, schema).path();
      co_return;
    });
    EXPECT_TRUE(r.passed()) << r.describe();
    return path;
  }

 private:
  std::optional<std::string> saved_;
};

TEST_F(SqliteScratch, LivesUnderTmpdirWhenSetAndIsRemovedAfterTheRun) {
  std::string chosen = std::filesystem::temp_directory_path() / "faultscope-scratch-XXXXXX";
  ASSERT_NE(mkdtemp(chosen.data()), nullptr);
  setenv("TMPDIR", chosen.c_str(), 1);
  const std::string path = path_of_a_run();
  EXPECT_THAT(path, ::testing::StartsWith(chosen + "/faultscope-"));
  EXPECT_THAT(path, ::testing::EndsWith("/test.db"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
  std::filesystem::remove(chosen);
}

// A process the watchdog ends runs no destructor; its runs' directories go
// anyway, in /dev/shm memory until the machine restarts. The death test's
// child runs this body again: it finds the directory in the environment.
TEST_F(SqliteScratch, IsRemovedWhenTheWatchdogEndsTheProcess) {
  std::string chosen;
  if (const char* given = std::getenv("FAULTSCOPE_TEST_SCRATCH")) {
    chosen = given;
  } else {
    chosen = std::filesystem::temp_directory_path() / "faultscope-scratch-XXXXXX";
    ASSERT_NE(mkdtemp(chosen.data()), nullptr);
    setenv("FAULTSCOPE_TEST_SCRATCH", chosen.c_str(), 1);
  }
  setenv("TMPDIR", chosen.c_str(), 1);
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts its own watchdog
  EXPECT_EXIT(
      {
        faultscope::run_options o;
        o.wall_limit = std::chrono::milliseconds(50);
        static_cast<void>(faultscope::run(
            [](run_context& ctx) -> awaitable<void> {
              sq::test_database::create(ctx, schema);
              std::this_thread::sleep_for(std::chrono::seconds(30));  // blocks the run's thread
              co_return;
            },
            o));
      },
      ::testing::ExitedWithCode(1), "has held its thread");
  unsetenv("FAULTSCOPE_TEST_SCRATCH");
  EXPECT_TRUE(std::filesystem::is_empty(chosen)) << "left in " << chosen;
  std::filesystem::remove_all(chosen);
}

TEST_F(SqliteScratch, LivesInDevShmWithoutTmpdir) {
  unsetenv("TMPDIR");
  const bool shm = access("/dev/shm", W_OK | X_OK) == 0;
  EXPECT_THAT(path_of_a_run(),
              ::testing::StartsWith(shm ? "/dev/shm/faultscope-" : "/tmp/faultscope-"));
}

TEST_F(SqliteScratch, ATmpdirItCannotUseIsAnErrorNamingIt) {
  setenv("TMPDIR", "/nonexistent/faultscope", 1);
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    sq::test_database::create(ctx, schema);
    co_return;
  });
  ASSERT_EQ(r.end, faultscope::run_end::exception);
  EXPECT_EQ(
      r.error_message,
      "cannot make a scratch directory in /nonexistent/faultscope: No such file or directory");
}

}  // namespace
