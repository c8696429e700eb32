// The connection: calls on its worker thread, their results on the caller's
// executor, errors, cancellation of a running call, and virtual time.
#include "faultscope/sqlite/connection.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/with_timeout.hpp"
#include "sqlite/support.hpp"

namespace sq = faultscope::sqlite;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::fault_plan;
using faultscope::run_context;
using faultscope::violation_kind;
using ::testing::HasSubstr;
using namespace faultscope_sqlite_test;

namespace {

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
      EXPECT_THAT(e.what(), HasSubstr("sqlite: SQLITE_CONSTRAINT_PRIMARYKEY (UNIQUE constraint "
                                      "failed: users.id) in: INSERT INTO users"));
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

// Misuse of a connection is a clear exception, never a crash: a call after
// close() is SQLite's MISUSE, one on a moved-from connection a logic_error.
TEST(SqliteConnection, CallsOnAClosedOrMovedFromConnectionAreClearErrors) {
  std::vector<std::string> errors;
  auto r = faultscope::run([&errors](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto moved = std::move(conn);
    try {
      co_await conn.query("SELECT 1");  // NOLINT(bugprone-use-after-move): the point
    } catch (const std::logic_error& e) {
      errors.emplace_back(e.what());
    }
    co_await moved.close();
    try {
      co_await moved.execute("DELETE FROM users");
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_MISUSE);
      errors.emplace_back(e.what());
    }
  });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_THAT(errors, ::testing::ElementsAre(HasSubstr("sqlite: query on an empty connection"),
                                             HasSubstr("execute on a closed connection")));
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

// The run's timeline shows each release at the caller's line, not the
// adapter's: a scope's at the line that opened it, a close (and the files it
// closes) at the close.
TEST(SqliteConnection, TheTimelineShowsReleasesAtTheCallersLines) {
  std::uint32_t scope = 0, cursor = 0, finalized = 0, closed = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    scope = __LINE__ + 2;  // sq::connect's line
    co_await faultscope::async_with(
        sq::connect(db.path()), [&](sq::connection& c) -> awaitable<void> {
          cursor = __LINE__ + 1;
          co_await faultscope::async_with(sq::cursor(c, "SELECT 1"),
                                          [](sq::statement&) -> awaitable<void> { co_return; });
          auto s = co_await c.cursor("SELECT 2");
          finalized = __LINE__ + 1;
          co_await s.finalize();
        });
    auto c = co_await sq::connection::open(db.path());
    closed = __LINE__ + 1;
    co_await c.close();
  });
  ASSERT_TRUE(r.passed()) << r.describe();
  std::vector<std::pair<std::string, std::uint32_t>> releases;
  for (const auto& e : r.timeline)
    if (e.type == faultscope::event_type::release) {
      EXPECT_EQ(e.where.file(), "tests/sqlite/connection_test.cpp") << e.kind;
      releases.emplace_back(e.kind, e.where.line());
    }
  // The database file is closed on the worker by the close, before the
  // connection's own release.
  EXPECT_THAT(releases,
              ::testing::ElementsAre(
                  std::pair{"sqlite.statement", cursor}, std::pair{"sqlite.statement", finalized},
                  std::pair{"sqlite.file", scope}, std::pair{"sqlite.connection", scope},
                  std::pair{"sqlite.file", closed}, std::pair{"sqlite.connection", closed}));
}

// A fetch is a use of its statement, shown at the caller's line.
TEST(SqliteConnection, TheTimelineShowsFetchesAtTheCallersLines) {
  std::vector<std::uint32_t> fetched;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto c = co_await sq::connection::open(db.path());
    auto s = co_await c.cursor("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3");
    fetched.push_back(__LINE__ + 1);
    co_await s.fetch_one();
    fetched.push_back(__LINE__ + 1);
    co_await s.fetch_many(1);
    fetched.push_back(__LINE__ + 1);
    co_await s.fetch_all();
    co_await s.finalize();
    co_await c.close();
  });
  ASSERT_TRUE(r.passed()) << r.describe();
  std::vector<std::uint32_t> uses;
  for (const auto& e : r.timeline)
    if (e.type == faultscope::event_type::touch && e.kind == "sqlite.statement") {
      EXPECT_EQ(e.where.file(), "tests/sqlite/connection_test.cpp");
      uses.push_back(e.where.line());
    }
  EXPECT_EQ(uses, fetched);
}

TEST(SqliteConnection, OpenFailureThrowsAndLeavesNothing) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    try {
      co_await sq::connection::open("/nonexistent-dir/x.db");
      ADD_FAILURE() << "opened";
    } catch (const sq::error& e) {
      EXPECT_EQ(e.code(), SQLITE_CANTOPEN);
      // SQLite's message alone does not say why; the system's reason does.
      EXPECT_THAT(e.what(), HasSubstr("unable to open database file: No such file or directory"));
    }
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// Cancels the run from another thread once `ready()`, through the run's
// executor: a handler of the run itself could not, since a call starts only
// when the run's thread has nothing left to run (its turn), and then runs
// alone. What does reach a running call is a completion from outside, such
// as a socket's; this stands for one.
// `arrived`, if given, is set once the cancellation has reached the run's calls.
class cancel_from_outside {
 public:
  template <typename Ready>
  cancel_from_outside(run_context& ctx, Ready ready, std::atomic<bool>* arrived = nullptr)
      : thread_([&ctx, ready, arrived](std::stop_token stop) {
          while (!ready()) {
            if (stop.stop_requested()) return;
            std::this_thread::yield();
          }
          boost::asio::post(ctx.executor(), [&ctx, arrived] {
            ctx.cancel();  // reaches the worker's interrupt before it returns
            if (arrived != nullptr) *arrived = true;
          });
        }) {}

 private:
  std::jthread thread_;
};

// A statement that takes real time in proportion to `n`: a recursive CTE
// counting to it.
std::string count_to(int n) {
  return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < " +
         std::to_string(n) + ") SELECT count(*) FROM c";
}
// One that runs long in real time.
const std::string slow_sql = count_to(100'000'000);
// One long enough for SQLite to look for an interrupt many times (every 100
// steps), short enough to run to its end: tens of milliseconds here.
const std::string counting_sql = count_to(200'000);

TEST(SqliteConnection, CancellationInterruptsTheRunningStatement) {
  bool counted = false;
  auto r = faultscope::run([&counted](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    co_await faultscope::async_with(
        sq::connect(db.path()), [&](sq::connection& c) -> awaitable<void> {
          // The clock cannot jump while the query runs on the worker, so the
          // cancellation comes from the fault machinery's root signal instead.
          auto start = std::chrono::steady_clock::now();
          cancel_from_outside cancel(ctx, [start] {
            return std::chrono::steady_clock::now() - start > 50ms;  // the query is under way
          });
          try {
            co_await c.query(slow_sql);
            ADD_FAILURE() << "the query ran to the end";
          } catch (const boost::system::system_error& e) {
            EXPECT_EQ(e.code(), boost::asio::error::operation_aborted);
          }
          EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
          // The interrupt ended with that call: the next one runs to its end.
          co_await boost::asio::this_coro::reset_cancellation_state();
          auto rows = co_await c.query(counting_sql);
          EXPECT_EQ(rows[0].get<std::int64_t>(0), 200000);
          counted = true;
        });
  });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_TRUE(counted) << "the call after the cancelled one failed: " << messages(r);
}

// A call cancelled while it waits behind another on its connection is dropped
// there; the one running is not interrupted in its place.
TEST(SqliteConnection, CancellingAQueuedCallLeavesTheRunningOneAlone) {
  std::atomic<bool> cancelled{false};
  auto r = faultscope::run([&cancelled](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    boost::asio::cancellation_signal stop_queued;
    std::exception_ptr queued_error;
    bool queued_done = false;
    auto ex = co_await boost::asio::this_coro::executor;
    // Starts once this coroutine waits for the long call below: queued behind it.
    boost::asio::co_spawn(
        ex, [&conn]() -> awaitable<void> { co_await conn.query("SELECT 1"); },
        boost::asio::bind_cancellation_slot(stop_queued.slot(), [&](std::exception_ptr e) {
          queued_error = e;
          queued_done = true;
        }));
    auto start = std::chrono::steady_clock::now();
    std::jthread outside([&] {
      std::this_thread::sleep_until(start + 20ms);  // the long call is under way
      boost::asio::post(ctx.executor(), [&] {
        stop_queued.emit(boost::asio::cancellation_type::terminal);
        cancelled = true;
      });
    });
    auto rows = co_await conn.query(count_to(1'000'000));
    EXPECT_EQ(rows[0].get<std::int64_t>(0), 1000000);
    EXPECT_TRUE(cancelled) << "the call ended before the cancellation came: no test";
    outside.join();
    while (!queued_done) co_await faultscope::sleep_for(1ms);
    try {
      if (queued_error) std::rethrow_exception(queued_error);
      ADD_FAILURE() << "the queued call ran";
    } catch (const boost::system::system_error& e) {
      EXPECT_EQ(e.code(), boost::asio::error::operation_aborted) << e.what();
    }
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// A batch is many short statements. SQLite catches an interrupt that comes
// in while a statement runs, but forgets one that comes between two: the next
// statement clears it as it starts. The progress handler, every 100 VM steps,
// comes only every 17th run of this six-step statement, and never in one
// short statement of a script. So the batch checks for a cancellation
// between its statements, whether it is one statement run for many parameter
// sets or a script of many. Here a statement is a call to a counting function,
// whose result SQLite frees after the statement's last interrupt check: that
// of the 101st waits there until the cancellation has reached the worker, and
// no 102nd statement may start.
class SqliteCancelledBatch : public ::testing::TestWithParam<bool> {};

TEST_P(SqliteCancelledBatch, StopsAtTheStatementTheCancellationReached) {
  const bool script = GetParam();
  constexpr int statements = 100'000;
  // Not the 100th: a run of this statement is six VM steps in SQLite 3.40, so
  // the progress handler's 600th step comes in the 100th's last one and would
  // stop the batch there even without the check between statements.
  constexpr int cancelled_in = 101;
  static std::atomic<int> runs;
  static std::atomic<bool> arrived;
  runs = 0;
  arrived = false;
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
              auto freed_after_the_statement = [](void*) {
                if (runs.load(std::memory_order_relaxed) != cancelled_in) return;
                const auto give_up = std::chrono::steady_clock::now() + 10s;
                while (!arrived && std::chrono::steady_clock::now() < give_up)
                  std::this_thread::yield();
              };
              sqlite3_result_text(f, "counted", -1, freed_after_the_statement);
            };
            return sqlite3_create_function(h, "count_run", 1, SQLITE_UTF8, nullptr, count, nullptr,
                                           nullptr);
          });
          cancel_from_outside cancel(
              ctx,
              [] {  // once the batch is under way
                return runs.load(std::memory_order_relaxed) >= cancelled_in;
              },
              &arrived);
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
  EXPECT_TRUE(arrived) << "the cancellation never reached the batch";
  EXPECT_EQ(runs.load(), cancelled_in) << "the batch ran on after the cancellation";
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
    cancel_from_outside cancel(ctx, [&started] { return started.load(); });
    auto start = std::chrono::steady_clock::now();
    int rc = -1;
    auto slow = [&rc, &started](sqlite3* h) {
      started.store(true);
      std::this_thread::sleep_for(100ms);
      rc = sqlite3_exec(h, slow_sql.c_str(), nullptr, nullptr, nullptr);
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

// Runs `make(0)` … `make(n - 1)` at once on this coroutine's executor, and
// returns the exception each ended with (null if none), in that order.
template <typename Make>
awaitable<std::vector<std::exception_ptr>> all_at_once(int n, Make make) {
  auto ex = co_await boost::asio::this_coro::executor;
  using op = decltype(boost::asio::co_spawn(ex, make(0), boost::asio::deferred));
  std::vector<op> ops;
  for (int i = 0; i < n; ++i)
    ops.push_back(boost::asio::co_spawn(ex, make(i), boost::asio::deferred));
  auto [order, errors] =
      co_await boost::asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
  static_cast<void>(order);
  co_return errors;
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
    for (const auto& e : co_await all_at_once(4, writer)) EXPECT_FALSE(e);
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

// Everything a run did, in order: its resources (numbered as the tracker
// numbers them), the fault points it passed and how it ended.
std::string what_happened(const faultscope::run_result& r) {
  std::string out;
  for (const auto& e : r.timeline)
    out += fmt::format("{} {} #{} {} {} {}\n", e.at.count(), faultscope::to_string(e.type),
                       e.resource, e.kind, e.label, e.detail);
  for (const auto& h : r.trace) out += fmt::format("{}#{}={}\n", h.point, h.hit, h.fired);
  return out + r.describe();
}

// Three clients open, query and close connections at once, as sqlite.churn's
// do: their calls take the run's turns, so every replay of a plan does the same
// things in the same order, down to which client's call a fault hits.
TEST(SqliteConnection, ConcurrentConnectionsDoTheSameInEveryReplay) {
  auto churn = [](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto client = [&db](int i) -> awaitable<void> {
      auto body = [i](sq::connection& c) -> awaitable<void> {
        co_await c.query("SELECT * FROM users WHERE id = ?", 1 + i % 2);
      };
      sq::connection_options o;
      o.vfs_faults = o.memory_faults = true;
      for (int round = 0; round < 2; ++round)
        co_await faultscope::async_with(sq::connect(db.path(), o), body);
    };
    for (const auto& e : co_await all_at_once(3, client))
      if (e) std::rethrow_exception(e);
  };
  for (const char* plan : {"sqlite.query#4=throw", "sqlite.vfs.read#9=error(io_error)",
                           "sqlite.malloc#300=error(no_memory)"}) {
    const auto first = what_happened(faultscope::replay(churn, fault_plan::parse(plan)));
    EXPECT_THAT(first, HasSubstr(plan)) << "the plan never fired";
    for (int again = 0; again < 10; ++again)
      ASSERT_EQ(what_happened(faultscope::replay(churn, fault_plan::parse(plan))), first)
          << plan << ", replay " << again + 2;
  }
}

// Two connections of one run write to one database. The second's INSERT waits
// for the write lock the first holds across its calls: it gives the run's
// turn back meanwhile, so the first can insert and commit, and then the second
// goes on, instead of holding the turn until its busy timeout ends in
// SQLITE_BUSY.
TEST(SqliteConnection, ACallWaitingForALockLetsTheConnectionHoldingItGoOn) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto holder = co_await sq::connection::open(db.path());
    sq::connection_options o;
    o.busy_timeout_ms = 2000;  // the bound on how long this test takes if it fails
    auto waiter = co_await sq::connection::open(db.path(), o);
    co_await holder.execute("BEGIN IMMEDIATE");
    auto hold = [&holder]() -> awaitable<void> {
      co_await holder.execute("INSERT INTO users(name) VALUES('holder')");
      co_await holder.execute("COMMIT");
    };
    auto wait = [&waiter]() -> awaitable<void> {
      co_await waiter.execute("INSERT INTO users(name) VALUES('waiter')");
    };
    auto ex = co_await boost::asio::this_coro::executor;
    // The waiter's call is made first, so it takes the turn first.
    auto [order, wait_error, hold_error] =
        co_await boost::asio::experimental::make_parallel_group(
            boost::asio::co_spawn(ex, wait(), boost::asio::deferred),
            boost::asio::co_spawn(ex, hold(), boost::asio::deferred))
            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    EXPECT_THAT(order, ::testing::ElementsAre(1u, 0u)) << "the holder commits first";
    for (const auto& e : {wait_error, hold_error}) {
      try {
        if (e) std::rethrow_exception(e);
      } catch (const std::exception& x) {
        ADD_FAILURE() << x.what();
      }
    }
    auto rows = co_await holder.query("SELECT name FROM users WHERE id > 2 ORDER BY id");
    EXPECT_EQ(rows.size(), 2u);
    if (rows.size() == 2) {
      EXPECT_EQ(rows[0].get<std::string>(0), "holder");
      EXPECT_EQ(rows[1].get<std::string>(0), "waiter");
    }
    co_await waiter.close();
    co_await holder.close();
  });
  EXPECT_TRUE(r.passed()) << messages(r);
}

// The holder takes the write lock and keeps it across a sleep of the run's,
// then commits (a transaction scope); meanwhile the waiter, its busy timeout
// `busy_ms` and its call bounded by `deadline` if set, inserts. What each
// saw, and when.
struct lock_race {
  std::chrono::nanoseconds committed{-1}, inserted{-1}, failed{-1};
  int code = SQLITE_OK;
  bool timed_out = false;
};

awaitable<void> race_for_the_lock(run_context& ctx, std::chrono::nanoseconds held, int busy_ms,
                                  std::optional<std::chrono::nanoseconds> deadline,
                                  lock_race& out) {
  auto& db = sq::test_database::create(ctx, schema);
  sq::connection_options o;
  o.busy_timeout_ms = busy_ms;
  auto race = [&](sq::connection& holder, sq::connection& waiter) -> awaitable<void> {
    auto hold = [&]() -> awaitable<void> {
      // Started first, so its BEGIN IMMEDIATE takes the lock first.
      co_await sq::with_transaction(
          holder, "IMMEDIATE", [&](sq::transaction& tx) -> awaitable<void> {
            co_await tx.execute("INSERT INTO users(name) VALUES('holder')");
            co_await faultscope::sleep_for(held);
          });
      out.committed = ctx.now();
    };
    auto wait = [&]() -> awaitable<void> {
      try {
        auto insert = waiter.execute("INSERT INTO users(name) VALUES('waiter')");
        if (deadline)
          co_await faultscope::with_timeout(*deadline, std::move(insert));
        else
          co_await std::move(insert);
        out.inserted = ctx.now();
      } catch (const sq::error& e) {
        out.code = e.code();
        out.failed = ctx.now();
      } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::timed_out) throw;
        out.timed_out = true;
        out.failed = ctx.now();
      }
    };
    auto ex = co_await boost::asio::this_coro::executor;
    auto [order, hold_error, wait_error] =
        co_await boost::asio::experimental::make_parallel_group(
            boost::asio::co_spawn(ex, hold(), boost::asio::deferred),
            boost::asio::co_spawn(ex, wait(), boost::asio::deferred))
            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    (void)order;
    if (hold_error) std::rethrow_exception(hold_error);
    if (wait_error) std::rethrow_exception(wait_error);
  };
  auto with_waiter = [&](sq::connection& holder) -> awaitable<void> {
    co_await faultscope::async_with(sq::connect(db.path(), o),
                                    [&](sq::connection& waiter) { return race(holder, waiter); });
  };
  co_await faultscope::async_with(sq::connect(db.path()), with_waiter);
}

// The lock is let go only when the clock moves past the holder's sleep; the
// waiting call lets it move rather than hold it for its whole busy timeout in
// real time and then fail: both rows are in, at 1 s of virtual time.
TEST(SqliteConnection, ALockHeldAcrossASleepIsWaitedForOnTheVirtualClock) {
  lock_race race;
  auto r = faultscope::run(
      [&race](run_context& ctx) { return race_for_the_lock(ctx, 1s, 2000, std::nullopt, race); });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_EQ(race.code, SQLITE_OK);
  EXPECT_EQ(race.committed, 1s);
  EXPECT_EQ(race.inserted, 1s);
  EXPECT_EQ(r.virtual_elapsed, 1s);
}

// Held past the waiter's busy timeout, the lock is waited for that long on the
// virtual clock, as it would be in production, and no longer.
TEST(SqliteConnection, ABusyTimeoutRunsOutOnTheVirtualClock) {
  lock_race race;
  auto r = faultscope::run(
      [&race](run_context& ctx) { return race_for_the_lock(ctx, 10s, 2000, std::nullopt, race); });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_EQ(race.code, SQLITE_BUSY);
  EXPECT_EQ(race.failed, 2s);
  EXPECT_EQ(race.committed, 10s);
}

// A deadline on the waiting call fires while it waits for the lock: the call
// is cancelled there and then, and the holder goes on.
TEST(SqliteConnection, ACallWaitingForALockOnTheClockCanTimeOut) {
  lock_race race;
  auto r = faultscope::run(
      [&race](run_context& ctx) { return race_for_the_lock(ctx, 10s, 5000, 500ms, race); });
  EXPECT_TRUE(r.passed()) << messages(r);
  EXPECT_TRUE(race.timed_out) << "SQLite code " << race.code;
  EXPECT_EQ(race.failed, 500ms);
  EXPECT_EQ(race.committed, 10s);
}

// Under every fault at every call of the race, nothing leaks and every replay
// retraces its run: the waits on the clock are the run's own decisions.
TEST(SqliteConnection, ALockRaceOnTheClockIsExploredAndReplays) {
  lock_race race;
  auto e = faultscope::explore("lock_race", [&race](run_context& ctx) {
    return race_for_the_lock(ctx, 1s, 2000, 1500ms, race);
  });
  EXPECT_TRUE(e.passed()) << e.summary();
  // Each of the six calls (two opens, BEGIN, two INSERTs, COMMIT) thrown at and cancelled.
  EXPECT_GE(e.schedules_run, 12u);
}

// A call cancelled while it waits for its turn is dropped, not interrupted:
// sqlite3_interrupt then would land on the cursor the connection has open,
// and its next fetch would fail with SQLITE_INTERRUPT.
TEST(SqliteConnection, ACallCancelledBeforeItsTurnLeavesOpenCursorsAlone) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto cur = co_await conn.cursor("SELECT name FROM users ORDER BY id");
    auto first = co_await cur.fetch_one();
    auto racer = [&](int i) -> awaitable<void> {
      if (i == 0) {
        co_await conn.query("SELECT 1");
      } else {
        // Long enough for the worker to take the query and wait for its turn.
        std::this_thread::sleep_for(5ms);
        throw std::runtime_error("the sibling fails first");
      }
    };
    auto ex = co_await boost::asio::this_coro::executor;
    auto [order, query_error, sibling_error] =
        co_await boost::asio::experimental::make_parallel_group(
            boost::asio::co_spawn(ex, racer(0), boost::asio::deferred),
            boost::asio::co_spawn(ex, racer(1), boost::asio::deferred))
            .async_wait(boost::asio::experimental::wait_for_one_error(),
                        boost::asio::use_awaitable);
    EXPECT_TRUE(query_error) << "the query ran though its sibling failed first";
    EXPECT_TRUE(sibling_error);
    auto second = co_await cur.fetch_one();
    EXPECT_TRUE(first && second);
    if (second) {
      EXPECT_EQ(second->get<std::string>(0), "grace");
    }
    co_await cur.finalize();
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
  EXPECT_THAT(r, faultscope::testing::HasViolation(violation_kind::hang));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(SqliteConnection, ACallStillWaitingForItsTurnWhenARunHangsNeverRuns) {
  // One connection's query hangs the run; another's call waits for the turn
  // behind it. The run's end must abort that call, not let it run against
  // the state of a run that is gone.
  faultscope::run_options options;
  options.wall_limit = 300ms;
  static std::atomic<bool> ran;
  ran = false;
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto& db = sq::test_database::create(ctx, schema);
        auto slow = co_await sq::connection::open(db.path());
        auto behind = co_await sq::connection::open(db.path());
        auto call = [&](int i) -> awaitable<void> {
          if (i == 0)
            co_await slow.query(slow_sql);
          else
            co_await behind.call([](sqlite3*) { ran = true; });
        };
        co_await all_at_once(2, call);
      },
      options);
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  std::this_thread::sleep_for(50ms);  // time enough for a call let loose to run
  EXPECT_FALSE(ran) << "a call of the hung run ran after its end";
}

TEST(SqliteConnection, ACallQueuedBehindAHungCallOnItsConnectionEndsWithTheRun) {
  // Coroutines share one connection: their calls queue on the worker behind
  // the first one's hung query. The run's end must abort them while the run's
  // state still exists; one the worker took after the end found a scheduler
  // and a context already destroyed.
  faultscope::run_options options;
  options.wall_limit = 1s;
  static std::atomic<bool> ran;
  static std::weak_ptr<int> calls;  // each queued call holds it
  ran = false;
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto& db = sq::test_database::create(ctx, schema);
        auto conn = co_await sq::connection::open(db.path());
        auto held = std::make_shared<int>();
        calls = held;
        auto call = [&](int i) -> awaitable<void> {
          if (i == 0) {
            co_await conn.query(slow_sql);
            co_return;
          }
          // Named: g++ 12 destroys a closure with class-type captures twice
          // when it is a temporary inside a co_await expression (README).
          auto fn = [held](sqlite3*) {
            ran = true;
          };
          co_await conn.call(std::move(fn));
        };
        // Many, so that the worker is between two of them when the run ends:
        // it used to take the rest after the end. Spawned a thousand at a time
        // with the loop visited in between: all in one handler took over 2 s
        // in an unoptimised ThreadSanitizer build, and the watchdog, which
        // allows the wall limit plus 1 s, ended the test binary.
        auto ex = co_await boost::asio::this_coro::executor;
        for (int i = 0; i < 40000; ++i) {
          boost::asio::co_spawn(ex, call(i), boost::asio::detached);
          if (i % 1000 == 999) co_await boost::asio::post(ex, boost::asio::use_awaitable);
        }
        co_await faultscope::sleep_for(24h);  // the hung first call ends the run before
      },
      options);
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  EXPECT_EQ(calls.use_count(), 0) << "calls of the hung run outlived it";
  std::this_thread::sleep_for(50ms);  // time enough for a call let loose to run
  EXPECT_FALSE(ran) << "a call of the hung run ran after its end";
}

TEST(SqliteConnection, ACallThatIgnoresTheInterruptOfAHungRunFinishesLaterWithoutHarm) {
  // The call holds the write lock and waits for the test, deaf to the
  // interrupt, past the grace the run's end gives it (the wall limit here).
  // The run must report it and leave its state to the call: freed, the call's
  // completion wrote into a scheduler gone (a heap-use-after-free under ASan
  // once the test let it go). Then the worker must close the connection, which
  // no one else ever will: it used to keep the lock, and its thread, for good.
  // The wall limit leaves the open time to finish first under a loaded
  // ThreadSanitizer build: at 100 ms it once ran out before the call began.
  faultscope::run_options options;
  options.wall_limit = 400ms;
  static std::atomic<bool> let_go, finished;
  static std::string path;
  let_go = finished = false;
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto& db = sq::test_database::create(ctx, schema);
        path = db.path();
        auto conn = co_await sq::connection::open(db.path());
        co_await conn.call([](sqlite3* h) {
          ASSERT_EQ(sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
          while (!let_go) std::this_thread::sleep_for(1ms);
          finished = true;
        });
      },
      options);
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  EXPECT_THAT(messages(r), HasSubstr("did not stop within 400 ms of an interrupt"));
  let_go = true;
  // Bounded: a call the run's end aborted before it began never finishes.
  for (int i = 0; i < 10'000 && !finished; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(finished) << "the deaf call never ran";
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 2000);
  EXPECT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE; ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK)
      << "the deaf call's connection still holds its lock: " << sqlite3_errmsg(other);
  sqlite3_close(other);
  // The adapter still works for the next run.
  auto after = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    co_await conn.query("SELECT 1");
    co_await conn.close();
  });
  EXPECT_TRUE(after.passed()) << messages(after);
}

TEST(SqliteConnection, VirtualClockWaitsForTheWorker) {
  // A 1 ms virtual timeout around a real-time query: the clock may not jump to
  // the deadline while the query is on the worker, so the query wins.
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, schema);
    auto conn = co_await sq::connection::open(db.path());
    auto query = conn.query(counting_sql);
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
