// Transactions and savepoints as scopes: commit on success, rollback on an
// exception, a body that ends its own transaction, the mode.
#include "faultscope/sqlite/transaction.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/testing/co_assert.hpp"
#include "sqlite/support.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using faultscope::run_context;
using ::testing::HasSubstr;
using namespace faultscope_sqlite_test;

namespace {

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

// The run's timeline shows where each transaction ended in the caller's code:
// a scope's at the line that opened it (whether it committed or rolled back),
// an explicit commit or rollback at its own line, and a savepoint left open at
// the line that ended the transaction around it.
TEST(SqliteTransaction, TheTimelineShowsEachEndAtTheCallersLine) {
  std::uint32_t committed = 0, rolled_back = 0, explicit_commit = 0, explicit_rollback = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    committed = __LINE__ + 1;
    co_await sq::with_transaction(conn, [](sq::transaction&) -> awaitable<void> { co_return; });
    try {
      rolled_back = __LINE__ + 1;
      co_await sq::with_transaction(conn, [](sq::transaction&) -> awaitable<void> {
        throw std::runtime_error("body failed");
        co_return;
      });
    } catch (const std::runtime_error&) {
    }
    auto tx = co_await conn.begin();
    auto sp = co_await tx.savepoint();
    explicit_commit = __LINE__ + 1;
    co_await tx.commit();  // ends the savepoint too
    auto tx2 = co_await conn.begin();
    explicit_rollback = __LINE__ + 1;
    co_await tx2.rollback();
    co_await conn.close();
  });
  ASSERT_TRUE(r.passed()) << r.describe();
  std::vector<std::pair<std::string, std::uint32_t>> ends;
  for (const auto& e : r.timeline)
    if (e.type == faultscope::event_type::release && e.kind == "sqlite.transaction") {
      EXPECT_EQ(e.where.file(), "tests/sqlite/transaction_test.cpp") << e.label;
      ends.emplace_back(e.label.substr(0, e.label.find(' ')), e.where.line());
    }
  EXPECT_THAT(ends,
              ::testing::ElementsAre(std::pair{"BEGIN", committed}, std::pair{"BEGIN", rolled_back},
                                     std::pair{"BEGIN", explicit_commit},
                                     std::pair{"SAVEPOINT", explicit_commit},
                                     std::pair{"BEGIN", explicit_rollback}));
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

// A savepoint the body's own SQL already ended: the scope's rollback finds it
// gone, which is no second error, and its outcome is unknown, as a RELEASE
// keeps its rows and a ROLLBACK TO one further out undoes them.
TEST(SqliteTransaction, ASavepointTheBodyEndedIsRolledBackWithoutASecondError) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    sq::transaction released, undone;
    co_await sq::with_transaction(conn, [&](sq::transaction& tx) -> awaitable<void> {
      try {
        co_await sq::with_savepoint(tx, [&](sq::transaction& sp) -> awaitable<void> {
          released = sp;
          co_await sp.execute("INSERT INTO users(id, name) VALUES(40, 'released')");
          db.wrote(sp, "users", 40);
          const std::string release = "RELEASE " + sp.shared_state()->savepoint;
          co_await sp.execute(release);
          throw std::runtime_error("body failed");
        });
        ADD_FAILURE() << "no exception";
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "body failed");
      }
      co_await sq::with_savepoint(tx, [&](sq::transaction& outer) -> awaitable<void> {
        try {
          co_await sq::with_savepoint(outer, [&](sq::transaction& sp) -> awaitable<void> {
            undone = sp;
            co_await sp.execute("INSERT INTO users(id, name) VALUES(41, 'undone')");
            db.wrote(sp, "users", 41);
            const std::string rollback = "ROLLBACK TO " + outer.shared_state()->savepoint;
            co_await sp.execute(rollback);
            throw std::runtime_error("body failed");
          });
          ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "body failed");
        }
      });
    });
    EXPECT_EQ(released.state(), sq::outcome::unknown);
    EXPECT_EQ(undone.state(), sq::outcome::unknown);
    auto ids = co_await conn.query("SELECT id FROM users WHERE id IN (40, 41)");
    CO_ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0].get<int>(0), 40);
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
    for (const char* mode : {"deferred", "Immediate", "EXCLUSIVE"}) {  // SQL is case-blind
      auto tx = co_await conn.begin(mode);
      co_await tx.rollback();
    }
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

}  // namespace
