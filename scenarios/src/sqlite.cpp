// The built-in scenarios over the real SQLite adapter.
#include <fmt/format.h>

#include "common.hpp"
#include "faultscope/context_manager.hpp"
#include "faultscope/scenarios/library.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/test_database.hpp"
#include "faultscope/sqlite/transaction.hpp"

namespace faultscope::scenarios {

using boost::asio::awaitable;
using namespace std::chrono_literals;
namespace sq = faultscope::sqlite;

namespace {

constexpr const char* users_schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT);"
    "INSERT INTO users VALUES(1, 'ada', 'ada@example.com'), (2, 'grace', 'grace@example.com'),"
    " (3, 'barbara', 'barbara@example.com');";

// --- the seed, ported: aiosqlite's get_connection / get_all_users ----------------

context_manager<sq::connection> get_connection(const std::string& path) {
  return sq::connect(path);
}

awaitable<sq::rows> get_all_users(const std::string& path) {
  co_return co_await async_with(
      get_connection(path), [](sq::connection& db) -> awaitable<sq::rows> {
        co_return co_await async_with(sq::cursor(db, "SELECT * FROM users"),
                                      [](sq::statement& cur) { return cur.fetch_all(); });
      });
}

awaitable<void> seed_users(run_context& ctx) {
  auto& db = sq::test_database::create(ctx, users_schema);
  auto users = co_await get_all_users(db.path());
  if (users.size() != 3) throw std::logic_error(fmt::format("{} users, expected 3", users.size()));
}

// --- a money transfer ------------------------------------------------------------

constexpr int accounts = 4;
constexpr int opening_balance = 100;

std::string bank_schema() {
  std::string sql =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK(balance >= 0));"
      "CREATE TABLE transfers(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER);";
  for (int i = 1; i <= accounts; ++i)
    sql += fmt::format("INSERT INTO accounts VALUES({}, {});", i, opening_balance);
  return sql;
}

// Every account's balance follows from the transfers that committed: money is
// neither made nor lost, whatever failed where.
void declare_bank_invariants(sq::test_database& db) {
  db.expect("SELECT sum(balance) FROM accounts", accounts * opening_balance);
  db.expect(fmt::format("SELECT count(*) FROM accounts a WHERE a.balance != {} "
                        "- (SELECT coalesce(sum(amount), 0) FROM transfers WHERE src = a.id) "
                        "+ (SELECT coalesce(sum(amount), 0) FROM transfers WHERE dst = a.id)",
                        opening_balance),
            0);
}

awaitable<void> transfer(sq::connection& conn, sq::test_database& db, std::int64_t id,
                         std::int64_t src, std::int64_t dst, std::int64_t amount) {
  co_await sq::with_transaction(conn, "IMMEDIATE", [&](sq::transaction& tx) -> awaitable<void> {
    co_await tx.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", amount, src);
    co_await tx.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, dst);
    co_await tx.execute("INSERT INTO transfers(id, src, dst, amount) VALUES(?, ?, ?, ?)", id, src,
                        dst, amount);
    db.wrote(tx, "transfers", id);
  });
}

awaitable<void> bank(run_context& ctx, sq::connection_options options, int transfers) {
  auto& db = sq::test_database::create(ctx, bank_schema());
  declare_bank_invariants(db);
  co_await async_with(
      sq::connect(db.path(), options), [&db, transfers](sq::connection& conn) -> awaitable<void> {
        for (int i = 1; i <= transfers; ++i)
          co_await transfer(conn, db, i, 1 + i % accounts, 1 + (i + 1) % accounts, 10 * i);
        auto rows = co_await conn.query("SELECT sum(balance) FROM accounts");
        (void)rows;
      });
}

// Options are passed as named locals: g++ 12 mis-destroys a braced temporary
// written inside a co_await expression.
awaitable<void> money_transfer(run_context& ctx) {
  sq::connection_options o;
  co_await bank(ctx, o, 3);
}

awaitable<void> oom_sweep(run_context& ctx) {
  sq::connection_options o;
  o.memory_faults = true;
  co_await bank(ctx, o, 1);
}

awaitable<void> io_sweep(run_context& ctx) {
  sq::connection_options o;
  o.vfs_faults = true;
  co_await bank(ctx, o, 2);
}

// --- connection churn ---------------------------------------------------------------

awaitable<void> churn_child(run_context& ctx, std::size_t i) {
  auto& db = sq::test_database::create(ctx, users_schema);
  // Named, not a temporary inside the co_await: g++ 12 mis-handles those.
  auto body = [i](sq::connection& conn) -> awaitable<void> {
    auto rows = co_await conn.query("SELECT * FROM users WHERE id = ?", 1 + i % 3);
    if (rows.size() != 1) throw std::logic_error("user missing");
  };
  for (int round = 0; round < 2; ++round) co_await async_with(sq::connect(db.path()), body);
}

// --- canary --------------------------------------------------------------------------

// A cursor finalized only on the happy path: any fault while fetching leaks it.
awaitable<void> statement_leak(run_context& ctx) {
  auto& db = sq::test_database::create(ctx, users_schema);
  co_await async_with(sq::connect(db.path()), [](sq::connection& conn) -> awaitable<void> {
    auto cur = co_await conn.cursor("SELECT name FROM users");
    auto rows = co_await cur.fetch_all();
    co_await cur.finalize();
  });
}

}  // namespace

std::vector<scenario_info> sqlite_builtins() {
  using detail::make;
  std::vector<scenario_info> out;
  const std::vector<fault> call_kinds = {fault::make_throw(), fault::make_error(EIO),
                                         fault::make_cancel(), fault::make_timeout()};
  out.push_back(make("sqlite.get_all_users", {"sqlite", "seed"},
                     "the seed's get_connection / get_all_users over a real SQLite database",
                     seed_users,
                     {.kinds = call_kinds, .expect = {{"*", expected_outcome::propagates}}}));
  out.push_back(make("sqlite.transfer", {"sqlite"},
                     "three money transfers in IMMEDIATE transactions; money is never made or "
                     "lost, committed transfers survive, rolled-back ones do not",
                     money_transfer,
                     {.kinds = call_kinds, .expect = {{"*", expected_outcome::propagates}}}));
  out.push_back(make("sqlite.churn", {"sqlite", "fan-out"},
                     "three clients open, query and close connections concurrently, twice",
                     scenarios::fan_out("sqlite.churn", 3, churn_child).fn, {.kinds = call_kinds}));
  out.push_back(make("sqlite.oom_sweep", {"sqlite", "sweep"},
                     "every SQLite allocation of a transfer fails in turn (SQLITE_NOMEM)",
                     oom_sweep, {.kinds = {fault::make_error(ENOMEM)}, .only = {"sqlite.malloc"}}));
  out.push_back(
      make("sqlite.io_sweep", {"sqlite", "sweep"},
           "every read, write, sync, truncate and lock of two transfers fails in turn: "
           "I/O error, disk full, busy",
           io_sweep,
           {.kinds = {fault::make_error(EIO), fault::make_error(ENOSPC), fault::make_error(EBUSY)},
            .only = {"sqlite.vfs.*"}}));
  out.push_back(make("sqlite.io_sweep_persistent", {"sqlite", "sweep"},
                     "from each file operation of two transfers on, every later one fails too",
                     io_sweep,
                     {.kinds = {fault::make_error(EIO), fault::make_error(ENOSPC)},
                      .only = {"sqlite.vfs.*"},
                      .persistent = true}));
  out.push_back(make("canary.sqlite_statement_leak", {"canary", "sqlite"},
                     "a cursor finalized only when fetching succeeds", statement_leak, {}));
  return out;
}

}  // namespace faultscope::scenarios
