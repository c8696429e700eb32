// The adapter itself: calls on the worker thread, rows, statements, cursors,
// transactions and savepoints as scopes, cancellation, virtual time, and what
// a run reports when a caller forgets to clean up.
#include "faultscope/sqlite/connection.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/detail/connection_impl.hpp"
#include "faultscope/sqlite/hooks.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "faultscope/with_timeout.hpp"

namespace sq = faultscope::sqlite;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::violation_kind;
using ::testing::HasSubstr;

namespace {

constexpr const char* schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT);"
    "INSERT INTO users VALUES(1, 'ada', 'ada@example.com'), (2, 'grace', NULL);";

std::string messages(const faultscope::run_result& r) {
  return r.describe();
}

bool has_kind(const faultscope::run_result& r, violation_kind k) {
  for (const auto& v : r.violations)
    if (v.kind == k) return true;
  return false;
}

TEST(SqliteConnection, QueryReturnsTypedRowsOnTheCallersThread) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    const auto caller = std::this_thread::get_id();
    auto rows =
        co_await conn.query("SELECT id, name, email FROM users WHERE id >= ? ORDER BY id", 1);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].get<std::int64_t>(0), 1);
    EXPECT_EQ(rows[0].get<std::string>("name"), "ada");
    EXPECT_EQ(rows[1].get<std::optional<std::string>>("email"), std::nullopt);
    EXPECT_TRUE(rows[1].is_null(2));
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_GE(r.acquired, 2u);  // the connection and its file at least
}

// A call's caller resumes on its own executor. On the run's context the run's
// thread resumes it straight from the worker's hand-back; on a strand of that
// context the completion goes through the strand, which must be running it.
TEST(SqliteConnection, ACallerOnAStrandResumesOnTheStrand) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto strand = boost::asio::make_strand(ctx.executor());
    auto on_strand = [&db, strand]() -> awaitable<void> {
      auto conn = co_await sq::connection::open(db.path());
      for (int i = 0; i < 20; ++i) {
        auto rows = co_await conn.query("SELECT count(*) FROM users");
        EXPECT_TRUE(strand.running_in_this_thread()) << "call " << i;
        EXPECT_EQ(rows[0].get<int>(0), 2);
      }
      co_await conn.close();
      EXPECT_TRUE(strand.running_in_this_thread());
    };
    co_await boost::asio::co_spawn(strand, on_strand(), boost::asio::use_awaitable);
    auto conn = co_await sq::connection::open(db.path());
    EXPECT_EQ((co_await conn.query("SELECT 1")).size(), 1u);
    EXPECT_FALSE(strand.running_in_this_thread());
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// Statements the connection holds prepared right now (its cache, here).
int prepared_count(sqlite3* h) {
  int n = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(h, nullptr); s; s = sqlite3_next_stmt(h, s)) ++n;
  return n;
}

TEST(SqliteConnection, RepeatedStatementsAreKeptPreparedBoundedAndFinalizedAtClose) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto count = [](sqlite3* h) {
      return prepared_count(h);
    };
    for (int i = 0; i < 3; ++i)
      co_await conn.execute("INSERT INTO users(name) VALUES(?)", "u" + std::to_string(i));
    EXPECT_EQ(co_await conn.call(count), 1) << "one statement, reused";
    // A failing call does not leave a broken statement behind for the next.
    EXPECT_THROW(co_await conn.execute("INSERT INTO users(id, name) VALUES(?, ?)", 1, "dup"),
                 sq::error);
    EXPECT_EQ(co_await conn.execute("INSERT INTO users(id, name) VALUES(?, ?)", 99, "ok"), 1);
    for (int i = 0; i < 50; ++i)
      co_await conn.query("SELECT " + std::to_string(i) + " FROM users WHERE id = ?", 1);
    EXPECT_EQ(co_await conn.call(count), 32) << "the cache is bounded";
    co_await conn.close();  // finalizes them: nothing reported as never finalized
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, CallsRunOnANamedWorkerThread) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto thread_name = [](sqlite3*) {
      std::array<char, 16> name{};  // Linux's limit, with the NUL
      pthread_getname_np(pthread_self(), name.data(), name.size());
      return name;
    };
    const auto name = co_await conn.call(thread_name);
    EXPECT_STREQ(name.data(), "faultscope-sql");
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, ExecuteRunsSeveralStatementsAndCountsChanges) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto n = co_await conn.execute("UPDATE users SET email = ? WHERE id = ?", "g@example.com", 2);
    EXPECT_EQ(n, 1);
    co_await conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES(1); INSERT INTO t VALUES(2);");
    auto rows = co_await conn.query("SELECT count(*) FROM t");
    EXPECT_EQ(rows.at(0).get<std::int64_t>(0), 2);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, ErrorsCarrySqliteCodesAndTheStatement) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    try {
      co_await conn.execute("INSERT INTO users(id, name) VALUES(?, ?)", 1, "dup");
      ADD_FAILURE() << "no error";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_CONSTRAINT);
      EXPECT_EQ(e.extended_code(), SQLITE_CONSTRAINT_PRIMARYKEY);
      EXPECT_THAT(e.what(), HasSubstr("INSERT INTO users"));
    }
    try {
      co_await conn.query("SELECT * FROM nowhere");
      ADD_FAILURE() << "no error";
    } catch (const sq::error& e) {
      EXPECT_THAT(e.what(), HasSubstr("no such table: nowhere"));
    }
    try {
      co_await conn.query("SELECT * FROM users WHERE id = ?");  // parameter missing
      ADD_FAILURE() << "no error";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_RANGE);
    }
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// aiosqlite users open ":memory:", "" (a private temporary file) and URIs
// often: all go through faultscope's VFS, are tracked like any other file, and
// lose nothing under its faults.
TEST(SqliteConnection, InMemoryAndTemporaryDatabasesWork) {
  for (const char* path : {":memory:", "", "file::memory:?cache=shared"}) {
    auto r = faultscope::run([path](run_context&) -> awaitable<void> {
      sq::connection_options o;
      o.flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
      o.vfs_faults = o.memory_faults = true;  // the shim's fault paths, with nothing planned
      co_await faultscope::async_with(
          sq::connect(path, o), [](sq::connection& db) -> awaitable<void> {
            co_await db.execute("CREATE TABLE t(x); INSERT INTO t VALUES(1), (2)");
            auto rows = co_await db.query("SELECT sum(x) FROM t");
            EXPECT_EQ(rows[0].get<int>(0), 3);
          });
    });
    EXPECT_TRUE(r.passed()) << "'" << path << "': " << messages(r);
    // And under every fault of the VFS and the allocator: nothing leaks.
    auto scenario = [path](run_context&) -> awaitable<void> {
      sq::connection_options o;
      o.flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
      o.vfs_faults = o.memory_faults = true;
      o.busy_timeout_ms = 0;
      co_await faultscope::async_with(
          sq::connect(path, o), [](sq::connection& db) -> awaitable<void> {
            co_await sq::with_transaction(db, [](sq::transaction& tx) -> awaitable<void> {
              co_await tx.execute("CREATE TABLE t(x)");
              co_await tx.execute("INSERT INTO t VALUES(1)");
            });
          });
    };
    faultscope::explore_options x;
    x.only = {"sqlite.vfs.*", "sqlite.malloc"};
    x.kinds = {faultscope::fault::make_error(EIO), faultscope::fault::make_error(ENOMEM)};
    auto e = faultscope::explore("temporary", scenario, x);
    EXPECT_TRUE(e.passed()) << "'" << path << "': " << e.summary();
    EXPECT_GT(e.schedules_run, 20u) << path;
  }
}

TEST(SqliteConnection, OpenFailureThrowsAndLeavesNothing) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    try {
      co_await sq::connection::open("/nonexistent-dir/x.db");
      ADD_FAILURE() << "opened";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_CANTOPEN);
    }
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, CursorFetchesOneAtATimeThenAll) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    co_await faultscope::async_with(
        sq::connect(db.path()), [](sq::connection& c) -> awaitable<void> {
          co_await faultscope::async_with(sq::cursor(c, "SELECT name FROM users ORDER BY id"),
                                          [](sq::statement& cur) -> awaitable<void> {
                                            auto first = co_await cur.fetch_one();
                                            EXPECT_EQ(first->get<std::string>(0), "ada");
                                            auto rest = co_await cur.fetch_all();
                                            EXPECT_EQ(rest.size(), 1u);
                                            EXPECT_FALSE(co_await cur.fetch_one());
                                          });
        });
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A cursor takes its statement from the connection's cache and gives it back
// when finalized: the next cursor over the same SQL starts from the first row
// with nothing bound, and two open at once never share one.
TEST(SqliteConnection, CursorsReuseTheirStatementFromTheStart) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto count = [](sqlite3* h) {
      return prepared_count(h);
    };
    const std::string sql = "SELECT name, ? FROM users ORDER BY id";
    std::vector<sq::value> five{sq::to_value(5)};
    auto first = co_await conn.cursor(sql, five);
    auto second = co_await conn.cursor(sql);  // the first still holds its statement
    EXPECT_EQ(co_await conn.call(count), 2);
    auto one = co_await first.fetch_one();
    EXPECT_EQ(one->get<std::string>(0), "ada");
    EXPECT_EQ(one->get<int>(1), 5);
    EXPECT_EQ((co_await second.fetch_all()).size(), 2u);
    co_await second.finalize();
    co_await first.finalize();  // mid-way through its rows: the next one gets it
    EXPECT_EQ(co_await conn.call(count), 2) << "both kept";
    auto again = co_await conn.cursor(sql);
    EXPECT_EQ(co_await conn.call(count), 2) << "one taken from the cache, none prepared";
    auto rows = co_await again.fetch_all();
    EXPECT_EQ(rows.size(), 2u) << "from the first row, not where the last cursor stopped";
    EXPECT_EQ(rows[0].get<std::string>(0), "ada");
    EXPECT_TRUE(rows[0].is_null(1)) << "nothing bound from the last use";
    co_await again.finalize();
    co_await conn.close();  // finalizes the kept ones: nothing reported
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, ACursorWhoseStepFailedLeavesAUsableStatement) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    const std::string insert = "INSERT INTO users(id, name) VALUES(?, 'x')";
    std::vector<sq::value> dup{sq::to_value(1)}, fresh{sq::to_value(7)};
    auto failing = co_await conn.cursor(insert, dup);
    EXPECT_THROW(co_await failing.fetch_all(), sq::error);
    co_await failing.finalize();
    auto ok = co_await conn.cursor(insert, fresh);
    co_await ok.fetch_all();
    co_await ok.finalize();
    auto found = co_await conn.query("SELECT id FROM users WHERE id = 7");
    EXPECT_EQ(found.size(), 1u);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, PreparedStatementRunsManyTimes) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await faultscope::async_with(sq::prepared(conn, "INSERT INTO users(name) VALUES(?)"),
                                    [](sq::statement& st) -> awaitable<void> {
                                      for (int i = 0; i < 10; ++i)
                                        co_await st.execute(fmt::format("user{}", i));
                                    });
    auto rows = co_await conn.query("SELECT count(*) FROM users");
    EXPECT_EQ(rows[0].get<int>(0), 12);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// One call to the worker for all the rows, one cached statement, and the rowid
// of the last insert where the caller reads it.
TEST(SqliteConnection, ExecuteManyRunsTheStatementOncePerParameterSet) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    EXPECT_EQ(conn.last_insert_rowid(), 0);
    // Named, not braced inside the co_await: g++ 12 rejects those.
    std::vector<std::vector<sq::value>> people{
        {10, "edsger", nullptr}, {11, "tony", "tony@example.com"}, {12, "niklaus", nullptr}};
    const auto changed =
        co_await conn.execute_many("INSERT INTO users(id, name, email) VALUES(?, ?, ?)", people);
    EXPECT_EQ(changed, 3);
    EXPECT_EQ(conn.last_insert_rowid(), 12);
    EXPECT_EQ(co_await conn.call(prepared_count), 1) << "one statement for all three";
    auto rows = co_await conn.query("SELECT id, name FROM users WHERE id >= 10 ORDER BY id");
    EXPECT_EQ(rows.size(), 3u);
    if (rows.size() == 3) {
      EXPECT_EQ(rows[1].get<std::string>(1), "tony");
    }
    std::vector<std::vector<sq::value>> ids{{1}, {2}, {99}};
    EXPECT_EQ(co_await conn.execute_many("UPDATE users SET name = upper(name) WHERE id = ?", ids),
              2)
        << "changes summed over the runs; a run that matched nothing adds none";
    std::vector<std::vector<sq::value>> none;
    EXPECT_EQ(co_await conn.execute_many("DELETE FROM users WHERE id = ?", none), 0);
    co_await conn.execute("INSERT INTO users(name) VALUES(?)", "barbara");
    EXPECT_EQ(conn.last_insert_rowid(), 13) << "execute keeps it too";
    co_await faultscope::async_with(
        sq::prepared(conn, "INSERT INTO users(id) VALUES(?)"),
        [](sq::statement& st) -> awaitable<void> { co_await st.execute(40); });
    EXPECT_EQ(conn.last_insert_rowid(), 40) << "and a prepared statement's execute";
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// Outside a transaction each run commits by itself; inside one, a failing run
// takes the earlier ones with it.
TEST(SqliteConnection, ExecuteManyStopsAtTheFirstFailureAndATransactionUndoesAll) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    const std::string insert = "INSERT INTO users(id, name) VALUES(?, ?)";
    std::vector<std::vector<sq::value>> second_fails{{20, "a"}, {1, "duplicate"}, {21, "b"}};
    try {
      co_await conn.execute_many(insert, second_fails);
      ADD_FAILURE() << "a duplicate key inserted";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.extended_code(), SQLITE_CONSTRAINT_PRIMARYKEY);
    }
    EXPECT_EQ(conn.last_insert_rowid(), 20) << "the run before the failure inserted";
    auto kept = co_await conn.query("SELECT id FROM users WHERE id >= 20");
    EXPECT_EQ(kept.size(), 1u) << "the first run kept, none after the failure";
    std::vector<std::vector<sq::value>> short_set{{30, "a"}, {31}};
    EXPECT_THROW(co_await conn.execute_many(insert, short_set), sq::error)
        << "a set of the wrong size";
    try {
      co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
        std::vector<std::vector<sq::value>> last_fails{{22, "a"}, {23, "b"}, {2, "duplicate"}};
        co_await tx.execute_many(insert, last_fails);
      });
      ADD_FAILURE() << "committed";
    } catch (const sq::error&) {
    }
    auto undone = co_await conn.query("SELECT id FROM users WHERE id BETWEEN 22 AND 23");
    EXPECT_TRUE(undone.empty()) << "rolled back with the transaction";
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, FetchManyReturnsTheRowsInPieces) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.execute("INSERT INTO users(id, name) VALUES(3, 'c'), (4, 'd'), (5, 'e')");
    co_await faultscope::async_with(
        sq::cursor(conn, "SELECT id, name FROM users ORDER BY id"),
        [](sq::statement& cur) -> awaitable<void> {
          EXPECT_TRUE((co_await cur.fetch_many(0)).empty());
          auto first = co_await cur.fetch_many(2);
          if (first.size() != 2) {
            ADD_FAILURE() << first.size() << " rows; fetch_many(0) took some?";
            co_return;
          }
          EXPECT_EQ(first[0].get<int>(0), 1);
          EXPECT_EQ(first.columns()[1], "name");
          auto one = co_await cur.fetch_one();
          EXPECT_EQ(one->get<int>(0), 3);
          auto last = co_await cur.fetch_many(5);
          if (last.size() != 2) {
            ADD_FAILURE() << last.size() << " rows; 2 expected, fewer than asked at the end";
            co_return;
          }
          EXPECT_EQ(last[1].get<std::string>(1), "e");
          EXPECT_TRUE((co_await cur.fetch_many(5)).empty()) << "the end, not a restart";
          EXPECT_TRUE((co_await cur.fetch_all()).empty());
          co_await cur.bind();
          EXPECT_EQ((co_await cur.fetch_many(SIZE_MAX)).size(), 5u) << "a bind starts again";
        });
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// Python's sqlite3 refuses SQL with a second statement where it runs one; so
// does the adapter, rather than run the first and drop the rest unseen.
TEST(SqliteConnection, OneStatementAtATimeExceptInExecute) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    try {
      co_await conn.query("SELECT 1; DELETE FROM users");
      ADD_FAILURE() << "ran";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_MISUSE);
      EXPECT_THAT(e.what(), HasSubstr("one statement at a time"));
    }
    EXPECT_THROW(co_await conn.execute("DELETE FROM users WHERE id = ?; SELECT 1", 1), sq::error);
    EXPECT_THROW(co_await conn.cursor("SELECT 1; SELECT 2"), sq::error);
    try {
      co_await conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES(?)", 1);
      ADD_FAILURE() << "ran";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_MISUSE) << "not 'no such table: t' from the second statement";
    }
    auto users = co_await conn.query("SELECT count(*) FROM users; -- a comment  ");
    EXPECT_EQ(users[0].get<int>(0), 2) << "nothing deleted; a trailing comment is no statement";
    EXPECT_EQ(co_await conn.execute("UPDATE users SET name = 'x' WHERE id = 1; "
                                    "UPDATE users SET name = 'y' WHERE id = 2"),
              2)
        << "execute without parameters runs several";
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// Every fault the adapter, the VFS and the allocator can raise, in turn, under
// a batch insert in a transaction and a read back in pieces: nothing leaks and
// nothing committed is lost.
TEST(SqliteConnection, ExecuteManyAndFetchManyUnderEveryFaultLoseNothing) {
  auto scenario = [](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(
        ctx, "PRAGMA journal_mode=WAL; CREATE TABLE log(id INTEGER PRIMARY KEY, v TEXT);");
    sq::connection_options o;
    o.vfs_faults = true;
    o.memory_faults = true;
    o.busy_timeout_ms = 0;
    co_await faultscope::async_with(
        sq::connect(db.path(), o), [&db](sq::connection& c) -> awaitable<void> {
          co_await sq::with_transaction(c, [&db](sq::transaction& tx) -> awaitable<void> {
            std::vector<std::vector<sq::value>> rows{{1, "a"}, {2, "b"}, {3, "c"}};
            co_await tx.execute_many("INSERT INTO log(id, v) VALUES(?, ?)", rows);
            for (int id = 1; id <= 3; ++id) db.wrote(tx, "log", id);
          });
          co_await faultscope::async_with(sq::cursor(c, "SELECT id FROM log ORDER BY id"),
                                          [](sq::statement& cur) -> awaitable<void> {
                                            std::size_t got = 0;
                                            for (;;) {
                                              auto some = co_await cur.fetch_many(2);
                                              if (some.empty()) break;
                                              got += some.size();
                                            }
                                            if (got != 3) throw std::logic_error("rows missing");
                                          });
        });
  };
  faultscope::explore_options calls;
  calls.only = {"sqlite.execute", "sqlite.fetch", "sqlite.commit", "sqlite.prepare"};
  calls.kinds = {faultscope::fault::make_throw(), faultscope::fault::make_cancel()};
  faultscope::explore_options memory;
  memory.only = {"sqlite.malloc"};
  memory.kinds = {faultscope::fault::make_error(ENOMEM)};
  faultscope::explore_options files;
  files.only = {"sqlite.vfs.*"};
  files.kinds = {faultscope::fault::make_error(EIO), faultscope::fault::make_error(ENOSPC)};
  // At least the schedules a sweep must have to reach past the batch insert.
  const std::pair<faultscope::explore_options*, std::size_t> sweeps[] = {
      {&calls, 8}, {&memory, 100}, {&files, 20}};
  for (auto [o, least] : sweeps) {
    o->jobs = 2;
    auto e = faultscope::explore("batch", scenario, *o);
    EXPECT_TRUE(e.passed()) << e.summary();
    EXPECT_GT(e.schedules_run, least) << o->only[0];
  }
}

// After `execute` or `query` ran a statement to its end, fetching finds the
// end: SQLite would run a stepped-out statement again, and an INSERT twice.
TEST(SqliteConnection, FetchingAfterExecuteOrQueryFindsTheEndAndRunsNothingAgain) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await faultscope::async_with(sq::prepared(conn, "INSERT INTO users(name) VALUES(?)"),
                                    [](sq::statement& st) -> awaitable<void> {
                                      co_await st.execute("edsger");
                                      EXPECT_FALSE(co_await st.fetch_one());
                                      EXPECT_TRUE((co_await st.fetch_all()).empty());
                                      EXPECT_TRUE((co_await st.fetch_many(3)).empty());
                                    });
    co_await faultscope::async_with(sq::prepared(conn, "SELECT name FROM users ORDER BY id"),
                                    [](sq::statement& st) -> awaitable<void> {
                                      EXPECT_EQ((co_await st.query()).size(), 3u);
                                      EXPECT_FALSE(co_await st.fetch_one());
                                      co_await st.bind();
                                      EXPECT_EQ((co_await st.fetch_all()).size(), 3u)
                                          << "a bind starts it again";
                                    });
    auto users = co_await conn.query("SELECT count(*) FROM users");
    EXPECT_EQ(users[0].get<int>(0), 3) << "the INSERT ran once";
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteTransaction, CommitsOnSuccessRollsBackOnException) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      co_await tx.execute("INSERT INTO users(id, name) VALUES(10, 'kept')");
      db.wrote(tx, "users", 10);
    });
    try {
      co_await sq::with_transaction(conn, "IMMEDIATE", [&](sq::transaction& tx) -> awaitable<void> {
        co_await tx.execute("INSERT INTO users(id, name) VALUES(11, 'gone')");
        db.wrote(tx, "users", 11);
        throw std::runtime_error("body failed");
      });
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "body failed");
    }
    auto rows = co_await conn.query("SELECT count(*) FROM users WHERE id IN (10, 11)");
    EXPECT_EQ(rows[0].get<int>(0), 1);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteTransaction, SavepointRollsBackAloneAndTheOuterCommits) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      co_await tx.execute("INSERT INTO users(id, name) VALUES(20, 'outer')");
      db.wrote(tx, "users", 20);
      try {
        co_await sq::with_savepoint(tx, [&](sq::transaction& sp) -> awaitable<void> {
          co_await sp.execute("INSERT INTO users(id, name) VALUES(21, 'inner')");
          db.wrote(sp, "users", 21);
          throw std::runtime_error("inner failed");
        });
      } catch (const std::runtime_error&) {
      }
      co_await sq::with_savepoint(tx, [&](sq::transaction& sp) -> awaitable<void> {
        co_await sp.execute("INSERT INTO users(id, name) VALUES(22, 'inner ok')");
        db.wrote(sp, "users", 22);
      });
    });
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// As in Python's `with conn:`, a body may end the transaction itself; the
// scope then has nothing to commit. What it runs after that is refused, not
// run outside the transaction; savepoints inside end with it.
TEST(SqliteTransaction, ABodyMayEndItItselfAndNothingRunsInItAfter) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    sq::transaction kept;
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      co_await tx.execute("INSERT INTO users(id, name) VALUES(30, 'committed early')");
      db.wrote(tx, "users", 30);
      co_await tx.commit();
      kept = tx;
    });
    EXPECT_EQ(kept.state(), sq::outcome::committed);
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      co_await tx.execute("INSERT INTO users(id, name) VALUES(31, 'rolled back')");
      db.wrote(tx, "users", 31);
      co_await tx.rollback();
      try {
        co_await tx.execute("INSERT INTO users(id, name) VALUES(32, 'after the end')");
        ADD_FAILURE() << "ran outside the transaction";
      } catch (const sq::error& e) {
        EXPECT_EQ(e.code(), SQLITE_MISUSE);
        EXPECT_THAT(e.what(), HasSubstr("execute in an ended transaction"));
      }
      std::vector<std::vector<sq::value>> sets{{33}};
      EXPECT_THROW(co_await tx.execute_many("INSERT INTO users(id) VALUES(?)", sets), sq::error);
      EXPECT_THROW(co_await tx.query("SELECT 1"), sq::error);
    });
    // A savepoint handle kept past its transaction ends with it, as SQLite
    // ends the savepoint: rolled back with a ROLLBACK, kept by a COMMIT.
    sq::transaction undone, kept_sp;
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      undone = co_await tx.savepoint();
      co_await undone.execute("INSERT INTO users(id) VALUES(34)");
      db.wrote(undone, "users", 34);
      co_await tx.rollback();
    });
    EXPECT_EQ(undone.state(), sq::outcome::rolled_back);
    EXPECT_THROW(co_await undone.execute("INSERT INTO users(id) VALUES(34)"), sq::error);
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      kept_sp = co_await tx.savepoint();
      co_await kept_sp.execute("INSERT INTO users(id) VALUES(35)");
      db.wrote(kept_sp, "users", 35);
    });
    EXPECT_EQ(kept_sp.state(), sq::outcome::committed);
    EXPECT_THROW(co_await sq::transaction().query("SELECT 1"), sq::error);
    auto ids = co_await conn.query("SELECT id FROM users WHERE id >= 30 ORDER BY id");
    EXPECT_EQ(ids.size(), 2u) << "30 and 35";
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A transaction remembers its open savepoints, to end them with it; a loop
// of savepoints must not pile up the ones it ended.
TEST(SqliteTransaction, ALongTransactionKeepsNoEndedSavepoints) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await sq::with_transaction(conn, [](sq::transaction& tx) -> awaitable<void> {
      for (int i = 0; i < 200; ++i)
        co_await sq::with_savepoint(tx, [i](sq::transaction& sp) -> awaitable<void> {
          co_await sp.execute("INSERT INTO users(name) VALUES(?)", i);
        });
      EXPECT_LE(tx.shared_state()->savepoints.size(), 1u);
    });
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteTransaction, ModeIsOneOfThreeInAnyCase) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    EXPECT_THROW(co_await conn.begin("SOMETIMES"), std::invalid_argument);
    EXPECT_THROW(co_await conn.begin("IMMEDIATE; DROP TABLE users"), std::invalid_argument);
    auto tx = co_await conn.begin("immediate");  // SQL's keywords are case-blind
    co_await tx.rollback();
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A statement that runs long in real time: a recursive CTE.
constexpr const char* slow_sql =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
    "SELECT count(*) FROM c";

TEST(SqliteConnection, CancellationInterruptsTheRunningStatement) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    co_await faultscope::async_with(
        sq::connect(db.path()), [&](sq::connection& c) -> awaitable<void> {
          // The clock cannot jump while the query runs on the worker, so the
          // cancellation comes from the fault machinery's root signal instead.
          auto start = std::chrono::steady_clock::now();
          boost::asio::post(co_await boost::asio::this_coro::executor, [&ctx] { ctx.cancel(); });
          try {
            co_await c.query(slow_sql);
            ADD_FAILURE() << "the query ran to the end";
          } catch (const boost::system::system_error& e) {
            EXPECT_EQ(e.code(), boost::asio::error::operation_aborted);
          }
          EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
          // The connection still works afterwards (cleanup runs shielded).
        });
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A batch is many short statements: an interrupt that lands between two of
// them is cleared by SQLite when the next starts, and each is too short for
// the progress handler. The batch itself must stop, whether it is one
// statement run for many parameter sets or a script of many statements. Here a
// statement is a call to a counting function: most of the time is between them.
class SqliteCancelledBatch : public ::testing::TestWithParam<bool> {};

TEST_P(SqliteCancelledBatch, StopsBetweenItsStatements) {
  const bool script = GetParam();
  constexpr int statements = 100'000;
  static std::atomic<int> runs;
  runs = 0;
  auto r = faultscope::run([script](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    co_await faultscope::async_with(
        sq::connect(db.path()), [&](sq::connection& c) -> awaitable<void> {
          std::vector<std::vector<sq::value>> sets;
          std::string sql;
          if (script) {
            for (int i = 0; i < statements; ++i) sql += "SELECT count_run(NULL);";
          } else {
            sets.assign(statements, std::vector<sq::value>{nullptr});
          }
          co_await c.call([](sqlite3* h) {
            auto count = [](sqlite3_context* f, int, sqlite3_value**) {
              runs.fetch_add(1, std::memory_order_relaxed);
              sqlite3_result_null(f);
            };
            return sqlite3_create_function(h, "count_run", 1, SQLITE_UTF8, nullptr, count, nullptr,
                                           nullptr);
          });
          auto ex = co_await boost::asio::this_coro::executor;
          boost::asio::post(ex, [&ctx] {
            // Once the batch is under way.
            while (runs.load(std::memory_order_relaxed) < 100) std::this_thread::yield();
            ctx.cancel();
          });
          try {
            if (script)
              co_await c.execute(sql);
            else
              co_await c.execute_many("SELECT count_run(?)", sets);
            ADD_FAILURE() << "not cancelled";
          } catch (const boost::system::system_error& e) {
            EXPECT_EQ(e.code(), boost::asio::error::operation_aborted);
          }
        });
  });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_LT(runs.load(), statements) << "the batch ran on after the cancellation";
}

INSTANTIATE_TEST_SUITE_P(Cancelled, SqliteCancelledBatch, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? std::string("Script") : std::string("ExecuteMany");
                         });

TEST(SqliteConnection, CancellationBeforeTheStatementStartsStillLands) {
  // The cancellation arrives while the call runs but before its statement
  // does: sqlite3_interrupt alone would be forgotten when the statement starts.
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    std::atomic<bool> started{false};
    // Cancel once the call is on the worker (a queued call is simply dropped).
    std::function<void()> cancel_when_started = [&] {
      if (started.load())
        ctx.cancel();
      else
        boost::asio::post(ctx.executor(), cancel_when_started);
    };
    boost::asio::post(ctx.executor(), cancel_when_started);
    auto start = std::chrono::steady_clock::now();
    int rc = -1;
    auto slow = [&rc, &started](sqlite3* h) {
      started.store(true);
      std::this_thread::sleep_for(100ms);
      rc = sqlite3_exec(h, slow_sql, nullptr, nullptr, nullptr);
    };
    try {
      co_await conn.call(slow);
    } catch (const boost::system::system_error&) {
    }
    EXPECT_EQ(rc, SQLITE_INTERRUPT);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    co_await conn.close();
  });
  EXPECT_EQ(r.end, faultscope::run_end::cancelled) << messages(r);
}

// Coroutines that share a connection queue their calls on its one worker, as
// aiosqlite's tasks do: every call runs, whole, in the order it was made.
TEST(SqliteConnection, CoroutinesSharingAConnectionTakeTurns) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, "CREATE TABLE log(writer INTEGER, n INTEGER);");
    auto conn = co_await sq::connection::open(db.path());
    auto writer = [&conn](int w) -> awaitable<void> {
      for (int n = 0; n < 25; ++n) co_await conn.execute("INSERT INTO log VALUES(?, ?)", w, n);
      auto mine = co_await conn.query("SELECT n FROM log WHERE writer = ? ORDER BY rowid", w);
      EXPECT_EQ(mine.size(), 25u);
      for (std::size_t n = 0; n < mine.size(); ++n) EXPECT_EQ(mine[n].get<int>(0), int(n));
    };
    auto ex = co_await boost::asio::this_coro::executor;
    using op = decltype(boost::asio::co_spawn(ex, writer(0), boost::asio::deferred));
    std::vector<op> ops;
    for (int w = 0; w < 4; ++w)
      ops.push_back(boost::asio::co_spawn(ex, writer(w), boost::asio::deferred));
    auto [order, errors] =
        co_await boost::asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    static_cast<void>(order);
    for (const auto& e : errors) EXPECT_FALSE(e);
    auto total = co_await conn.query("SELECT count(*), count(DISTINCT writer) FROM log");
    EXPECT_EQ(total[0].get<int>(0), 100);
    EXPECT_EQ(total[0].get<int>(1), 4);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A race on one connection: the quick call wins and the group cancels the slow
// one, queued behind it or already running on the worker (then interrupted);
// either way it ends at once and the connection serves the next call.
TEST(SqliteConnection, ARaceLoserIsCancelledAndTheConnectionGoesOn) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto start = std::chrono::steady_clock::now();
    auto quick = [&conn]() -> awaitable<void> {
      co_await conn.query("SELECT 1");
    };
    auto slow = [&conn]() -> awaitable<void> {
      co_await conn.query(slow_sql);
    };
    auto ex = co_await boost::asio::this_coro::executor;
    auto [order, quick_error, slow_error] =
        co_await boost::asio::experimental::make_parallel_group(
            boost::asio::co_spawn(ex, quick(), boost::asio::deferred),
            boost::asio::co_spawn(ex, slow(), boost::asio::deferred))
            .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::use_awaitable);
    EXPECT_EQ(order[0], 0u) << "the quick call finished first";
    EXPECT_FALSE(quick_error);
    EXPECT_TRUE(slow_error) << "the slow query ran to its end";
    try {
      if (slow_error) std::rethrow_exception(slow_error);
    } catch (const boost::system::system_error& e) {
      EXPECT_EQ(e.code(), boost::asio::error::operation_aborted) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    auto users = co_await conn.query("SELECT count(*) FROM users");
    EXPECT_EQ(users[0].get<int>(0), 2);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, ARunThatHangsStopsItsCallsBeforeItEnds) {
  // The wall limit ends the run while a query runs on the worker: the run
  // must interrupt it, not leave it reading the run's state after the end.
  faultscope::run_options options;
  options.wall_limit = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto& db = sq::test_database::create(ctx, schema);
        auto conn = co_await sq::connection::open(db.path());
        co_await conn.query(slow_sql);
        co_await conn.close();
      },
      options);
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  EXPECT_TRUE(has_kind(r, violation_kind::hang)) << messages(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(SqliteConnection, VirtualClockWaitsForTheWorker) {
  // A 1 ms virtual timeout around a real-time query: the clock may not jump to
  // the deadline while the query is on the worker, so the query wins.
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto query = conn.query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
        "SELECT count(*) FROM c");
    auto rows = co_await faultscope::with_timeout(1ms, std::move(query));
    EXPECT_EQ(rows[0].get<std::int64_t>(0), 200000);
    EXPECT_EQ(ctx.now(), 0ns);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

TEST(SqliteConnection, TheClockNeverJumpsPastACallThatJustCompleted) {
  // Thousands of short calls under a deadline that nothing should reach: the
  // driver once read "no call in flight" after polling, so a completion posted
  // in between let the clock jump to the deadline (seen under load in CI).
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto many = [&conn]() -> awaitable<void> {
      for (int i = 0; i < 3000; ++i) co_await conn.query("SELECT 1");
    };
    co_await faultscope::with_timeout(1s, many());
    EXPECT_EQ(ctx.now(), 0ns);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_EQ(r.end, faultscope::run_end::ok) << r.error_message;
}

TEST(SqliteConnection, WorksOutsideAnyRun) {
  char dir[] = "/tmp/fs-sqlite-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/plain.db";
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(
      io,
      [&]() -> awaitable<std::int64_t> {
        auto conn = co_await sq::connection::open(path);
        co_await conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES(42)");
        auto rows = co_await conn.query("SELECT x FROM t");
        co_await conn.close();
        co_return rows.at(0).get<std::int64_t>(0);
      },
      boost::asio::use_future);
  io.run();
  EXPECT_EQ(fut.get(), 42);
  std::filesystem::remove_all(dir);
}

// ---- what a run reports ------------------------------------------------------

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

namespace {
// A cancellation that lands while open() is queued or running on the worker
// (whichever the real thread timing gives) never leaks the connection.
TEST(SqliteConnection, CancelledWhileOpeningNeverLeaks) {
  for (int i = 0; i < 40; ++i) {
    auto r = faultscope::run([i](run_context& ctx) -> awaitable<void> {
      auto& db = sq::test_database::create(ctx, schema);
      auto ex = co_await boost::asio::this_coro::executor;
      // Let the open job start (or not) before the cancellation.
      boost::asio::post(ex, [&ctx, i] {
        if (i % 2) std::this_thread::sleep_for(std::chrono::microseconds(50 * (i % 7)));
        ctx.cancel();
      });
      co_await faultscope::async_with(
          sq::connect(db.path()),
          [](sq::connection& c) -> awaitable<void> { co_await c.query("SELECT 1"); });
    });
    ASSERT_TRUE(r.passed()) << "iteration " << i << ":\n" << r.describe();
  }
}
}  // namespace
