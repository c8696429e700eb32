// One run over a real SQLite connection and a fake pool: links the adapter and
// the fakes as a user's program does, and exits 0 only if the run is clean.
#include <cstdio>

#include "faultscope/fakes/pool.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"

int main() {
  auto result = faultscope::run([](faultscope::run_context&) -> boost::asio::awaitable<void> {
    auto db = co_await faultscope::sqlite::connection::open(":memory:");
    co_await db.execute("CREATE TABLE t(x)");
    co_await db.close();
  });
  std::puts(result.passed() ? "consumer: run passed" : "consumer: run failed");
  return result.passed() ? 0 : 1;
}
