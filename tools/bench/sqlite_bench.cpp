// The SQLite adapter on the workloads of the peers in ../shared/bench
// (raw_sqlite.c, seed_aiosqlite.py): same schema, same counts, one JSON line
// with the same keys. Runs inside a faultscope run, so every connection,
// statement, transaction and file is tracked and every call is a fault point.
//
//   sqlite_bench [N] [query|churn|txn]
//     N = 200 by default: N queries, 5N churns, N transactions. Naming one
//     workload runs only that one (for profiling); the others report 0.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "faultscope/context_manager.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/transaction.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int rows = 1000;

double per_second(int n, clock_type::time_point start) {
  return n / std::chrono::duration<double>(clock_type::now() - start).count();
}

awaitable<void> setup(const std::string& path) {
  auto db = co_await sq::connection::open(path);
  co_await db.execute(
      "PRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT)");
  co_await sq::with_transaction(db, [](sq::transaction& tx) -> awaitable<void> {
    auto insert = co_await tx.db().prepare("INSERT INTO users(id, name, email) VALUES(?, ?, ?)");
    for (int i = 0; i < rows; ++i)
      co_await insert.execute(i, fmt::format("user{}", i), fmt::format("user{}@example.com", i));
    co_await insert.finalize();
  });
  co_await db.close();
}

// One connection, N x `SELECT * FROM users` fetched whole through a cursor.
awaitable<double> query(const std::string& path, int n) {
  auto db = co_await sq::connection::open(path);
  const auto start = clock_type::now();
  std::size_t got = 0;
  for (int i = 0; i < n; ++i)
    co_await faultscope::async_with(sq::cursor(db, "SELECT * FROM users"),
                                    [&got](sq::statement& cur) -> awaitable<void> {
                                      got += (co_await cur.fetch_all()).size();
                                    });
  const double ops = per_second(n, start);
  co_await db.close();
  if (got != static_cast<std::size_t>(n) * rows) throw std::logic_error("rows missing");
  co_return ops;
}

// N x (connect, SELECT one user by id, close): the seed's get_connection.
awaitable<double> churn(const std::string& path, int n) {
  const auto start = clock_type::now();
  for (int i = 0; i < n; ++i) {
    co_await faultscope::async_with(sq::connect(path), [i](sq::connection& db) -> awaitable<void> {
      // A named local: g++ 12 mis-destroys braced temporaries in a co_await.
      std::vector<sq::value> id{sq::to_value(i % rows)};
      co_await faultscope::async_with(sq::cursor(db, "SELECT * FROM users WHERE id = ?", id),
                                      [](sq::statement& cur) -> awaitable<void> {
                                        if ((co_await cur.fetch_all()).size() != 1)
                                          throw std::logic_error("user missing");
                                      });
    });
  }
  co_return per_second(n, start);
}

// N transactions of 50 INSERTs each, committed.
awaitable<double> txn(const std::string& path, int n) {
  auto db = co_await sq::connection::open(path);
  co_await db.execute(
      "PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS log(k INTEGER, v TEXT)");
  const auto start = clock_type::now();
  for (int i = 0; i < n; ++i)
    co_await sq::with_transaction(db, [i](sq::transaction& tx) -> awaitable<void> {
      for (int j = 0; j < 50; ++j)
        co_await tx.execute("INSERT INTO log(k, v) VALUES(?, ?)", i, "xxxxxxxxxxxxxxxx");
    });
  const double ops = per_second(n, start);
  co_await db.close();
  co_return ops;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::string only = argc > 2 ? argv[2] : "";
  if (n <= 0 || argc > 3 ||
      !(only.empty() || only == "query" || only == "churn" || only == "txn")) {
    std::fputs("usage: sqlite_bench [N > 0] [query|churn|txn]\n", stderr);
    return 2;
  }
  auto wanted = [&only](const char* name) {
    return only.empty() || only == name;
  };
  char dir[] = "/tmp/faultscope-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  const std::string path = std::string(dir) + "/example.db";
  double q = 0, c = 0, x = 0;
  faultscope::run_options options;
  options.wall_limit = std::chrono::minutes(30);
  auto result = faultscope::run(
      [&](faultscope::run_context&) -> awaitable<void> {
        co_await setup(path);
        if (wanted("query")) q = co_await query(path, n);
        if (wanted("churn")) c = co_await churn(path, n * 5);
        if (wanted("txn")) x = co_await txn(path, n);
      },
      options);
  std::filesystem::remove_all(dir);
  if (!result.passed() || result.error) {
    std::fprintf(stderr, "sqlite_bench: %s%s\n", result.error_message.c_str(),
                 result.describe().c_str());
    return 1;
  }
  fmt::print(
      "{{\"peer\": \"faultscope sqlite adapter (tracked, {} resources)\", \"query_ops_s\": {:.1f}, "
      "\"churn_ops_s\": {:.1f}, \"txn_ops_s\": {:.1f}}}\n",
      result.acquired, q, c, x);
}
