// Statements: prepared ones, cursors that fetch one row, some or all, and
// execute_many, alone and under every fault.
#include "faultscope/sqlite/statement.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "faultscope/testing/co_assert.hpp"
#include "sqlite/support.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using faultscope::run_context;
using ::testing::HasSubstr;
using namespace faultscope_sqlite_test;

namespace {

TEST(SqliteStatement, CursorFetchesOneAtATimeThenAll) {
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
TEST(SqliteStatement, CursorsReuseTheirStatementFromTheStart) {
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

TEST(SqliteStatement, ACursorWhoseStepFailedLeavesAUsableStatement) {
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

TEST(SqliteStatement, PreparedStatementRunsManyTimes) {
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
TEST(SqliteStatement, ExecuteManyRunsTheStatementOncePerParameterSet) {
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
TEST(SqliteStatement, ExecuteManyStopsAtTheFirstFailureAndATransactionUndoesAll) {
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

TEST(SqliteStatement, FetchManyReturnsTheRowsInPieces) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.execute("INSERT INTO users(id, name) VALUES(3, 'c'), (4, 'd'), (5, 'e')");
    co_await faultscope::async_with(
        sq::cursor(conn, "SELECT id, name FROM users ORDER BY id"),
        [](sq::statement& cur) -> awaitable<void> {
          EXPECT_TRUE((co_await cur.fetch_many(0)).empty());
          auto first = co_await cur.fetch_many(2);
          CO_ASSERT_EQ(first.size(), 2u) << "fetch_many(0) took some?";
          EXPECT_EQ(first[0].get<int>(0), 1);
          EXPECT_EQ(first.columns()[1], "name");
          auto one = co_await cur.fetch_one();
          EXPECT_EQ(one->get<int>(0), 3);
          auto last = co_await cur.fetch_many(5);
          CO_ASSERT_EQ(last.size(), 2u) << "fewer than asked at the end";
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
TEST(SqliteStatement, OneStatementAtATimeExceptInExecute) {
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

// Out of memory while looking past the first statement is what it is, not a
// second statement: each allocation between the query and the line after it,
// failed in turn, ends the query with SQLITE_NOMEM.
TEST(SqliteStatement, OutOfMemoryLookingPastTheFirstStatementIsNoMemory) {
  int code = 0;
  auto scenario = [&code](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    sq::connection_options o;  // named: a braced temporary in co_await trips g++ 12
    o.memory_faults = true;
    auto conn = co_await sq::connection::open(db.path(), o);
    co_await conn.query("SELECT 1");  // the schema is read here, not below
    try {
      co_await conn.query("SELECT 1; SELECT 2");
    } catch (const sq::error& e) {
      code = e.code();
    }
    co_await faultscope::fault_point("test.after_query");
    co_await conn.close();
  };
  auto clean = faultscope::run(scenario);
  ASSERT_TRUE(clean.passed()) << messages(clean);
  ASSERT_EQ(code, SQLITE_MISUSE);
  std::vector<std::uint64_t> allocations;
  bool in_query = false;
  for (const auto& hit : clean.trace) {
    if (hit.point == "sqlite.query" && hit.hit == 2) in_query = true;
    if (hit.point == "test.after_query") break;
    if (in_query && hit.point == "sqlite.malloc") allocations.push_back(hit.hit);
  }
  ASSERT_FALSE(allocations.empty());
  for (auto n : allocations) {
    code = 0;
    auto plan = faultscope::fault_plan::parse(fmt::format("sqlite.malloc#{}=error(no_memory)", n));
    auto r = faultscope::replay(scenario, plan);
    EXPECT_TRUE(r.passed()) << messages(r);
    EXPECT_EQ(code & 0xff, SQLITE_NOMEM) << plan.to_string();
  }
}

// Every fault the adapter, the VFS and the allocator can raise, in turn, under
// a batch insert in a transaction and a read back in pieces: nothing leaks and
// nothing committed is lost.
TEST(SqliteStatement, ExecuteManyAndFetchManyUnderEveryFaultLoseNothing) {
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
TEST(SqliteStatement, FetchingAfterExecuteOrQueryFindsTheEndAndRunsNothingAgain) {
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

}  // namespace
