// Result sets: every SQLite type copied out of the statement and read back,
// conversions and their errors, rows that outlive their result set, buffers
// that grow past their first guess, and an allocation failure while a text
// column is converted.
#include "faultscope/sqlite/rows.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <ranges>

#include "faultscope/explore.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/test_database.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using faultscope::run_context;

namespace {

static_assert(std::ranges::random_access_range<sq::rows>);

constexpr const char* schema =
    "CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n);"
    "INSERT INTO t VALUES(-7, 2.5, 'ada', x'00ff10', NULL);"
    "INSERT INTO t VALUES(9007199254740993, 0.0, '', x'', 'x');";

// Runs `body` on a fresh database with `schema`; fails the test if the run does.
template <typename Body>
void with_db(const char* sql, Body body) {
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& db = sq::test_database::create(ctx, sql);
    auto conn = co_await sq::connection::open(db.path());
    co_await body(conn);
    co_await conn.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(SqliteRows, EveryTypeReadsBackAsStored) {
  with_db(schema, [](sq::connection& c) -> awaitable<void> {
    const sq::rows rs = co_await c.query("SELECT i, r, s, b, n FROM t ORDER BY rowid");
    EXPECT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs.columns(), (std::vector<std::string>{"i", "r", "s", "b", "n"}));
    const sq::row a = rs[0];
    EXPECT_EQ(a.size(), 5u);
    EXPECT_EQ(a.get<std::int64_t>(0), -7);
    EXPECT_EQ(a.get<int>("i"), -7);
    EXPECT_DOUBLE_EQ(a.get<double>(1), 2.5);
    EXPECT_EQ(a.get<std::string>(2), "ada");
    EXPECT_EQ(a.get<std::string_view>("s"), "ada");
    EXPECT_EQ(a.get<sq::blob>(3), (sq::blob{std::byte{0}, std::byte{0xff}, std::byte{0x10}}));
    EXPECT_TRUE(a.is_null(4));
    EXPECT_EQ(a.get<std::optional<std::string>>(4), std::nullopt);
    EXPECT_EQ(a[4], sq::value(nullptr));

    const sq::row b = rs.at(1);
    EXPECT_EQ(b.get<std::int64_t>(0), 9007199254740993);  // beyond a double's precision
    EXPECT_EQ(b.get<std::string>(2), "");
    EXPECT_EQ(b.get<sq::blob>(3), sq::blob{});
    EXPECT_EQ(b.get<std::optional<std::string>>("n"), "x");
    EXPECT_EQ(b.values(), (std::vector<sq::value>{std::int64_t{9007199254740993}, 0.0,
                                                  std::string(), sq::blob{}, std::string("x")}));
    co_return;
  });
}

TEST(SqliteRows, TextKeepsEmbeddedNulsAndBlobsKeepEveryByte) {
  with_db("CREATE TABLE t(s TEXT, b BLOB);", [](sq::connection& c) -> awaitable<void> {
    const std::string text("a\0b", 3);
    sq::blob bytes(300);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i);
    co_await c.execute("INSERT INTO t VALUES(?, ?)", text, bytes);
    const auto rs = co_await c.query("SELECT s, b FROM t");
    EXPECT_EQ(rs[0].get<std::string>(0), text);
    EXPECT_EQ(rs[0].get<sq::blob>(1), bytes);
  });
}

TEST(SqliteRows, MismatchesAndMissingColumnsThrow) {
  with_db(schema, [](sq::connection& c) -> awaitable<void> {
    const auto rs = co_await c.query("SELECT i, r, s, b, n FROM t ORDER BY rowid");
    const sq::row a = rs[0];
    EXPECT_THROW(static_cast<void>(a.get<std::string>(0)), std::bad_variant_access);
    EXPECT_THROW(static_cast<void>(a.get<std::int64_t>(1)), std::bad_variant_access);
    EXPECT_THROW(static_cast<void>(a.get<sq::blob>(2)), std::bad_variant_access);
    EXPECT_THROW(static_cast<void>(a.get<std::string>(3)), std::bad_variant_access);
    EXPECT_THROW(static_cast<void>(a.get<std::int64_t>(4)), std::bad_variant_access);
    EXPECT_DOUBLE_EQ(a.get<double>(0), -7.0);  // integers read as double
    EXPECT_THROW(static_cast<void>(a.get<int>(5)), std::out_of_range);
    EXPECT_THROW(static_cast<void>(a.get<unsigned>(0)), std::out_of_range) << "-7 as unsigned";
    EXPECT_THROW(static_cast<void>(a.get<std::uint8_t>("i")), std::out_of_range);
    try {
      static_cast<void>(rs[1].get<int>("i"));
      ADD_FAILURE() << "a 64-bit value read as int";
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(),
                   "column 'i' holds 9007199254740993, out of the range of the integer type it "
                   "is read as");
    }
    EXPECT_EQ(rs[1].get<std::int64_t>("i"), 9007199254740993);
    EXPECT_EQ(rs[0].get<short>("i"), -7);
    EXPECT_EQ(rs[0].get<signed char>("i"), -7);
    EXPECT_THROW(static_cast<void>(rs[1].get<char>("i")), std::out_of_range);
    EXPECT_THROW(static_cast<void>(a.get<std::uint64_t>(0)), std::out_of_range) << "-7";
    const auto low = co_await c.query("SELECT -9007199254740993, -200");
    EXPECT_THROW(static_cast<void>(low[0].get<int>(0)), std::out_of_range);
    EXPECT_THROW(static_cast<void>(low[0].get<signed char>(1)), std::out_of_range);
    EXPECT_EQ(low[0].get<short>(1), -200);
    EXPECT_THROW(static_cast<void>(a["missing"]), std::out_of_range);
    EXPECT_THROW(static_cast<void>(rs.at(2)), std::out_of_range);
    const sq::row empty;
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.columns().empty());
    EXPECT_THROW(static_cast<void>(empty[0]), std::out_of_range);
    const sq::rows none;
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.begin(), none.end());
    for (const bool back : {false, true}) {
      try {
        static_cast<void>(back ? none.back() : none.front());
        ADD_FAILURE() << "no throw";
      } catch (const std::out_of_range& e) {
        EXPECT_STREQ(e.what(), back ? "back() of an empty result" : "front() of an empty result");
      }
    }
    EXPECT_EQ(rs.front().get<int>("i"), -7);
    EXPECT_EQ(rs.back().get<std::int64_t>("i"), 9007199254740993);
  });
}

TEST(SqliteRows, IteratesInOrderAndARowOutlivesItsResultSet) {
  with_db("CREATE TABLE t(k INTEGER, v TEXT);", [](sq::connection& c) -> awaitable<void> {
    for (int k = 0; k < 5; ++k)
      co_await c.execute("INSERT INTO t VALUES(?, ?)", k, fmt::format("value {}", k));
    sq::row kept;
    {
      const auto rs = co_await c.query("SELECT k, v FROM t ORDER BY k");
      std::int64_t expected = 0;
      for (const sq::row& r : rs) EXPECT_EQ(r.get<std::int64_t>(0), expected++);
      EXPECT_EQ(expected, 5);
      EXPECT_EQ((*std::ranges::find_if(
                     rs, [](const sq::row& r) { return r.get<std::string_view>(1) == "value 3"; }))
                    .get<int>(0),
                3);
      EXPECT_EQ(rs.end() - rs.begin(), 5);
      EXPECT_EQ(rs.begin()[4].get<int>(0), 4);
      kept = rs.back();
    }
    EXPECT_EQ(kept.get<std::string>("v"), "value 4");
    EXPECT_EQ(kept.columns(), (std::vector<std::string>{"k", "v"}));
  });
}

// The first result on a connection guesses small; later ones reserve what the
// last one took. Both a big result after a small one and a small one after a
// big one must come back whole.
TEST(SqliteRows, ResultsLargerAndSmallerThanTheLastComeBackWhole) {
  with_db("CREATE TABLE t(k INTEGER, v TEXT);", [](sq::connection& c) -> awaitable<void> {
    co_await c.execute(
        "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 9999) "
        "INSERT INTO t SELECT k, substr(printf('%.200c', 'x'), 1, k % 200) FROM n");
    for (const int limit : {1, 10000, 3, 10000}) {
      const auto rs = co_await c.query("SELECT k, v FROM t ORDER BY k LIMIT ?", limit);
      EXPECT_EQ(rs.size(), static_cast<std::size_t>(limit));
      bool whole = true;
      for (const sq::row& r : rs) {
        const auto k = r.get<std::int64_t>(0);
        whole = whole &&
                r.get<std::string_view>(1) == std::string(static_cast<std::size_t>(k % 200), 'x');
      }
      EXPECT_TRUE(whole) << "limit " << limit;
    }
  });
}

// SQLite re-prepares a statement whose schema changed when it next steps, and
// `SELECT *` then returns the new columns. A statement the connection kept
// prepared, and a cursor prepared before the change, must both bring them.
TEST(SqliteRows, ColumnsFollowASchemaChangeUnderAKeptStatement) {
  with_db("CREATE TABLE t(a INTEGER); INSERT INTO t VALUES(1);",
          [](sq::connection& c) -> awaitable<void> {
            const auto before = co_await c.query("SELECT * FROM t");
            EXPECT_EQ(before.columns(), (std::vector<std::string>{"a"}));
            auto cur = co_await c.cursor("SELECT * FROM t");
            co_await c.execute("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'");
            // Named locals: g++ 12 mis-destroys braced temporaries in a co_await.
            const sq::rows kept = co_await c.query("SELECT * FROM t");
            const sq::rows fetched = co_await cur.fetch_all();
            for (const sq::rows* after : {&kept, &fetched}) {
              EXPECT_EQ(after->columns(), (std::vector<std::string>{"a", "b"}));
              EXPECT_EQ(after->at(0).size(), 2u);
              EXPECT_EQ(after->at(0).get<std::string>("b"), "x");
            }
            co_await cur.finalize();
            EXPECT_EQ(before.columns(), (std::vector<std::string>{"a"}));  // its own names
            // As many columns as before, every one renamed.
            co_await c.execute("ALTER TABLE t RENAME COLUMN a TO c; ALTER TABLE t RENAME b TO d");
            const sq::rows renamed = co_await c.query("SELECT * FROM t");
            EXPECT_EQ(renamed.columns(), (std::vector<std::string>{"c", "d"}));
          });
}

// aiosqlite's cursor.description names the columns of a query that found
// nothing; so do rows.
TEST(SqliteRows, AnEmptyResultStillNamesItsColumns) {
  with_db("CREATE TABLE t(a INTEGER, b TEXT);", [](sq::connection& c) -> awaitable<void> {
    const sq::rows none = co_await c.query("SELECT a, b AS bee FROM t WHERE a > 0");
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.columns(), (std::vector<std::string>{"a", "bee"}));
    auto cur = co_await c.cursor("SELECT b FROM t");
    const sq::rows fetched = co_await cur.fetch_all();
    EXPECT_EQ(fetched.columns(), (std::vector<std::string>{"b"}));
    co_await cur.finalize();
  });
}

// In a UTF-16 database SQLite converts each text value to UTF-8 as it is read,
// and that allocates. An allocation failure there must surface as
// SQLITE_NOMEM, never as an empty string. fetch_one shows it: it returns the
// row before SQLite's next step would report the failure.
TEST(SqliteRows, OutOfMemoryConvertingTextIsAnErrorNotAnEmptyString) {
  std::atomic<int> nomem{0};
  std::atomic<int> wrong{0};
  std::atomic<int> restarted{0};
  auto scenario = [&](run_context& ctx) -> awaitable<void> {
    auto& db =
        sq::test_database::create(ctx,
                                  "PRAGMA encoding='UTF-16le'; CREATE TABLE t(v TEXT);"
                                  "INSERT INTO t VALUES(substr(printf('%.2000c', 'a'), 1, 2000));");
    sq::connection_options o;
    o.memory_faults = true;
    co_await faultscope::async_with(
        sq::connect(db.path(), o), [&](sq::connection& c) -> awaitable<void> {
          co_await faultscope::async_with(
              sq::cursor(c, "SELECT v FROM t"), [&](sq::statement& cur) -> awaitable<void> {
                bool failed = false;
                try {
                  const auto r = co_await cur.fetch_one();
                  if (!r || r->get<std::string>(0) != std::string(2000, 'a')) ++wrong;
                } catch (const sq::error& e) {
                  if (std::string_view(e.what()).find("reading a column") == std::string_view::npos)
                    throw;
                  ++nomem;
                  failed = true;
                }
                // The cursor ended with the failure, as on a failed step: it
                // must not start again from the first row.
                if (failed && co_await cur.fetch_one()) ++restarted;
              });
        });
  };
  faultscope::explore_options o;
  o.kinds = {faultscope::fault::make_error(ENOMEM)};
  o.only = {"sqlite.malloc"};
  auto e = faultscope::explore("utf16", scenario, o);
  EXPECT_TRUE(e.passed()) << e.summary();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(restarted, 0);
  EXPECT_GT(nomem, 0);
}

}  // namespace
