// The VFS shim and the allocator hook: files tracked, faults mapped to SQLite's
// codes (transient and persistent), memory accounted per run, and the fine
// grained points reached only by connections that opt in.
#include "faultscope/sqlite/hooks.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/sqlite/transaction.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using faultscope::fault_plan;
using faultscope::run_context;
using ::testing::HasSubstr;

namespace {

constexpr const char* schema =
    "PRAGMA journal_mode=WAL; CREATE TABLE log(id INTEGER PRIMARY KEY, v TEXT);";

// One write transaction through a connection with both fault sources on; the
// error code of the first failure, or SQLITE_OK.
struct workload {
  bool vfs = true;
  bool memory = true;
  const char* then = nullptr;  // a statement after the transaction, if any
  std::atomic<int> code{-1};   // explorations run this on several threads

  faultscope::scenario_fn fn() {
    return [this](run_context& ctx) -> awaitable<void> {
      auto& db = sq::test_database::create(ctx, schema);
      sq::connection_options o;
      o.vfs_faults = vfs;
      o.memory_faults = memory;
      o.busy_timeout_ms = 0;  // an injected BUSY surfaces at once, not after retries
      code = SQLITE_OK;
      try {
        co_await faultscope::async_with(
            sq::connect(db.path(), o), [&db, this](sq::connection& c) -> awaitable<void> {
              co_await sq::with_transaction(c, [&db](sq::transaction& tx) -> awaitable<void> {
                co_await tx.execute("INSERT INTO log(id, v) VALUES(1, 'x')");
                db.wrote(tx, "log", 1);
              });
              if (then) co_await c.execute(then);
            });
      } catch (const sq::error& e) {
        code = e.extended_code();
        throw;
      }
    };
  }
};

bool hit(const faultscope::run_result& r, std::string_view point) {
  return std::any_of(r.trace.begin(), r.trace.end(),
                     [&](const faultscope::point_hit& h) { return h.point == point; });
}

TEST(SqliteHooks, AllocatorHookIsInstalledBeforeSqliteInitialises) {
  EXPECT_TRUE(sq::install());
  EXPECT_TRUE(sq::memory_hook_installed());
}

TEST(SqliteHooks, FineGrainedPointsOnlyForConnectionsThatOptIn) {
  workload off;
  off.vfs = off.memory = false;
  auto r = faultscope::run(off.fn());
  ASSERT_TRUE(r.passed()) << r.describe();
  EXPECT_FALSE(hit(r, "sqlite.malloc"));
  EXPECT_FALSE(hit(r, "sqlite.vfs.write"));
  EXPECT_TRUE(hit(r, "sqlite.execute"));

  workload on;
  r = faultscope::run(on.fn());
  ASSERT_TRUE(r.passed()) << r.describe();
  EXPECT_TRUE(hit(r, "sqlite.malloc"));
  EXPECT_TRUE(hit(r, "sqlite.vfs.open"));
  EXPECT_TRUE(hit(r, "sqlite.vfs.read"));
  EXPECT_TRUE(hit(r, "sqlite.vfs.write"));
  EXPECT_TRUE(hit(r, "sqlite.vfs.sync"));
  EXPECT_TRUE(hit(r, "sqlite.vfs.lock"));
}

TEST(SqliteHooks, FailedAllocationIsSqliteNomem) {
  workload w;
  // Far enough in to be past the open, in the INSERT or the COMMIT.
  auto r = faultscope::replay(w.fn(), fault_plan::parse("sqlite.malloc#120=error(no_memory)"));
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(w.code & 0xff, SQLITE_NOMEM) << sqlite3_errstr(w.code.load());
}

// A delay is not a failure, and a VFS or allocator call cannot wait on the
// run's clock: it goes on at once.
TEST(SqliteHooks, ADelayAtAFileOrAllocatorPointFailsNothing) {
  for (const char* plan : {"sqlite.vfs.write#1=delay(5ms)", "sqlite.malloc#120=delay(5ms)"}) {
    workload w;
    auto r = faultscope::replay(w.fn(), fault_plan::parse(plan));
    EXPECT_TRUE(r.passed()) << plan << ": " << r.describe();
    EXPECT_EQ(w.code, SQLITE_OK) << plan << ": " << sqlite3_errstr(w.code.load());
  }
}

struct vfs_case {
  const char* plan;
  int expected;  // the extended code: which operation failed, as SQLite reports it
  const char* then = nullptr;
};

class SqliteVfsFault : public ::testing::TestWithParam<vfs_case> {};

TEST_P(SqliteVfsFault, MapsToSqliteCodeAndLosesNothing) {
  workload w;
  w.memory = false;
  w.then = GetParam().then;
  auto r = faultscope::replay(w.fn(), fault_plan::parse(GetParam().plan));
  EXPECT_TRUE(r.passed()) << r.describe();  // the ledger found nothing lost or torn
  EXPECT_EQ(w.code, GetParam().expected) << sqlite3_errstr(w.code.load());
}

INSTANTIATE_TEST_SUITE_P(
    Codes, SqliteVfsFault,
    ::testing::Values(vfs_case{"sqlite.vfs.open#1=error(io_error)", SQLITE_CANTOPEN},
                      vfs_case{"sqlite.vfs.write#1=error(io_error)", SQLITE_IOERR_WRITE},
                      vfs_case{"sqlite.vfs.write#1=error(no_space)", SQLITE_FULL},
                      vfs_case{"sqlite.vfs.sync#1=error(io_error)", SQLITE_IOERR_FSYNC},
                      vfs_case{"sqlite.vfs.sync#1=error(no_space)", SQLITE_FULL},
                      // The first read is the open's: a failed open's code too.
                      vfs_case{"sqlite.vfs.read#1=error(io_error)", SQLITE_IOERR_READ},
                      vfs_case{"sqlite.vfs.lock#1=error(io_error)", SQLITE_IOERR_LOCK},
                      vfs_case{"sqlite.vfs.lock#1=error(busy)", SQLITE_BUSY},
                      vfs_case{"sqlite.vfs.write#1+=error(io_error)", SQLITE_IOERR_WRITE},
                      // A checkpoint that empties the WAL truncates it.
                      vfs_case{"sqlite.vfs.truncate#1=error(io_error)", SQLITE_IOERR_TRUNCATE,
                               "PRAGMA wal_checkpoint(TRUNCATE)"},
                      vfs_case{"sqlite.vfs.truncate#1=error(no_space)", SQLITE_FULL,
                               "PRAGMA wal_checkpoint(TRUNCATE)"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

// SQLite explains a failed open with the errno the VFS left, so an injected
// failure leaves the fault's, as a real failing call leaves its own.
TEST(SqliteHooks, AnInjectedOpenFailureGivesTheFaultsReason) {
  for (const auto& [plan, reason] :
       {std::pair{"sqlite.vfs.open#1=error(no_space)", "No space left on device"},
        std::pair{"sqlite.vfs.open#1=error(io_error)", "Input/output error"}}) {
    std::string what;
    auto r = faultscope::replay(
        [&what](run_context& ctx) -> awaitable<void> {
          auto& db = sq::test_database::create(ctx, schema);
          sq::connection_options o;
          o.vfs_faults = true;
          try {
            auto c = co_await sq::connection::open(db.path(), o);
            co_await c.close();
          } catch (const sq::error& e) {
            what = e.what();
          }
        },
        fault_plan::parse(plan));
    EXPECT_TRUE(r.passed()) << r.describe();
    EXPECT_THAT(what, HasSubstr(std::string("unable to open database file: ") + reason)) << plan;
  }
}

// sqlite3_realloc passes the same point as sqlite3_malloc, so an
// out-of-memory sweep also fails the growth of a buffer SQLite already holds.
TEST(SqliteHooks, AnAllocationFaultFailsAReallocationToo) {
  bool grew = false;
  auto scenario = [&grew](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    sq::connection_options o;
    o.memory_faults = true;
    auto conn = co_await sq::connection::open(db.path(), o);
    co_await conn.call([&grew](sqlite3*) {
      faultscope::fault_check("test.grow");  // the next two allocations are these
      void* p = sqlite3_malloc(16);
      void* q = p ? sqlite3_realloc(p, 1 << 16) : nullptr;
      grew = q != nullptr;
      sqlite3_free(q ? q : p);  // a failed realloc leaves p to its owner
    });
    co_await conn.close();
  };
  auto clean = faultscope::run(scenario);
  ASSERT_TRUE(clean.passed()) << clean.describe();
  ASSERT_TRUE(grew);
  auto at = std::find_if(clean.trace.begin(), clean.trace.end(),
                         [](const faultscope::point_hit& h) { return h.point == "test.grow"; });
  auto allocation = [&clean](auto from) {
    return std::find_if(std::next(from), clean.trace.end(),
                        [](const faultscope::point_hit& h) { return h.point == "sqlite.malloc"; });
  };
  ASSERT_NE(at, clean.trace.end());
  auto malloc_hit = allocation(at);
  ASSERT_NE(malloc_hit, clean.trace.end());
  auto realloc_hit = allocation(malloc_hit);
  ASSERT_NE(realloc_hit, clean.trace.end());

  const std::string plan =
      "sqlite.malloc#" + std::to_string(realloc_hit->hit) + "=error(no_memory)";
  auto r = faultscope::replay(scenario, fault_plan::parse(plan));
  EXPECT_TRUE(r.passed()) << r.describe();  // and the block it could not grow was freed
  EXPECT_FALSE(grew) << plan;
}

TEST(SqliteHooks, TransientWriteErrorFailsOnceAPersistentOneEveryTime) {
  // Two attempts at the same transaction: a transient fault fails the first
  // only; a persistent one (#1+) fails both.
  int failures = 0;
  auto twice = [&failures](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    sq::connection_options o;
    o.vfs_faults = true;
    auto c = co_await sq::connection::open(db.path(), o);
    for (int id = 1; id <= 2; ++id) {
      try {
        co_await sq::with_transaction(c, [&db, id](sq::transaction& tx) -> awaitable<void> {
          co_await tx.execute("INSERT INTO log(id, v) VALUES(?, 'x')", id);
          db.wrote(tx, "log", id);
        });
      } catch (const sq::error& e) {
        EXPECT_EQ(e.code(), SQLITE_IOERR);
        ++failures;
      }
    }
    co_await c.close();
  };
  auto once = faultscope::replay(twice, fault_plan::parse("sqlite.vfs.write#1=error(io_error)"));
  EXPECT_TRUE(once.passed()) << once.describe();
  EXPECT_EQ(failures, 1);
  failures = 0;
  auto always = faultscope::replay(twice, fault_plan::parse("sqlite.vfs.write#1+=error(io_error)"));
  EXPECT_TRUE(always.passed()) << always.describe();
  EXPECT_EQ(failures, 2);
}

TEST(SqliteHooks, FilesAreTrackedAndClosed) {
  workload w;
  w.vfs = w.memory = false;
  auto r = faultscope::run(w.fn());
  ASSERT_TRUE(r.passed()) << r.describe();
  auto files = std::count_if(r.timeline.begin(), r.timeline.end(), [](const faultscope::event& e) {
    return e.type == faultscope::event_type::acquire && e.kind == "sqlite.file";
  });
  EXPECT_GE(files, 2);  // the database and its WAL
  // Each shown where the caller's code opened the connection they belong to.
  for (const auto& e : r.timeline) {
    if (e.type == faultscope::event_type::acquire && e.kind == "sqlite.file") {
      EXPECT_EQ(e.where.file(), "tests/sqlite/hooks_test.cpp") << e.label << " " << e.where.str();
    }
  }
}

TEST(SqliteHooks, CanaryMemoryNotGivenBackIsReported) {
  void* leaked = nullptr;
  auto r = faultscope::run([&leaked](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.call([&leaked](sqlite3*) { leaked = sqlite3_malloc(100); });
    co_await conn.close();
  });
  sqlite3_free(leaked);
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(r.describe(), HasSubstr("sqlite memory: 104 bytes in 1 allocations"));
}

TEST(SqliteHooks, OutOfMemorySweepOverATransactionFindsNothing) {
  workload w;
  w.vfs = false;
  faultscope::explore_options o;
  o.kinds = {faultscope::fault::make_error(ENOMEM)};
  o.only = {"sqlite.malloc"};
  o.jobs = 2;
  auto e = faultscope::explore("oom", w.fn(), o);
  EXPECT_TRUE(e.passed()) << e.summary();
  EXPECT_GT(e.schedules_run, 100u);
}

}  // namespace
