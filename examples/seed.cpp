// The seed this project grew from, ported: aiosqlite's
//
//   @asynccontextmanager
//   async def get_connection():
//       db = await aiosqlite.connect(PATH)
//       try: yield db
//       finally: await db.close()
//
//   async def get_all_users():
//       async with get_connection() as db:
//           return await db.execute_fetchall("SELECT * FROM users")
//
// written with faultscope's context-manager port and run under the four ways the
// scope can end. The database here is a small stand-in with virtual latencies.
#include <fmt/format.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/run.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_timeout.hpp"

using namespace std::chrono_literals;
using boost::asio::awaitable;

namespace seed {

awaitable<void> sleep_for(std::chrono::nanoseconds d) {
  faultscope::timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

// A connection whose lifetime the run's tracker follows.
struct connection {
  faultscope::tracker* tracker;
  faultscope::resource_id id;
  std::chrono::nanoseconds query_latency;
  bool query_fails;

  awaitable<std::vector<std::string>> fetch_all_users() {
    tracker->touch(id);
    co_await sleep_for(query_latency);
    if (query_fails) throw std::runtime_error("no such table: users");
    co_return std::vector<std::string>{"ada", "grace", "barbara"};
  }
};

struct database {
  faultscope::tracker& tracker;
  std::chrono::nanoseconds query_latency = 20ms;
  bool query_fails = false;

  awaitable<connection> connect() {
    co_await sleep_for(5ms);
    co_return connection{&tracker, tracker.acquire("connection", "example.db"), query_latency,
                         query_fails};
  }
  awaitable<void> close(connection& c) {
    co_await sleep_for(2ms);
    tracker.release(c.id);
  }
};

faultscope::context_manager<connection> get_connection(database& db) {
  return [&db](faultscope::yield<connection> yield) -> awaitable<void> {
    connection conn = co_await db.connect();
    co_await yield(conn);  // whatever ends the body, the line below runs
    co_await db.close(conn);
  };
}

awaitable<std::vector<std::string>> get_all_users(database& db) {
  co_return co_await faultscope::async_with(get_connection(db),
                                            [](connection& c) { return c.fetch_all_users(); });
}

// What the scope replaces: close after catching. A cancellation is sticky, so
// the close's own co_await throws before it starts, and the connection leaks.
awaitable<std::vector<std::string>> get_all_users_naive(database& db) {
  connection conn = co_await db.connect();
  std::exception_ptr error;
  std::vector<std::string> users;
  try {
    users = co_await conn.fetch_all_users();
  } catch (...) {
    error = std::current_exception();
  }
  co_await db.close(conn);
  if (error) std::rethrow_exception(error);
  co_return users;
}

}  // namespace seed

namespace {

int report(std::string_view ending, const faultscope::run_result& r) {
  std::string how = r.end == faultscope::run_end::ok
                        ? "returned"
                        : fmt::format("{} ({})", to_string(r.end), r.error_message);
  int released = 0;
  for (const auto& e : r.timeline) released += e.type == faultscope::event_type::release;
  fmt::print("  {:<32} {:<44} connections released: {}/{}  virtual time {:>6.3f}s\n", ending, how,
             released, r.acquired, std::chrono::duration<double>(r.virtual_elapsed).count());
  for (const auto& v : r.violations) fmt::print("      {}\n", v.message);
  return r.passed() ? 0 : 1;
}

}  // namespace

int main() {
  fmt::print("faultscope: the seed's get_all_users() under every way its scope can end\n\n");
  int failures = 0;

  failures +=
      report("normal exit", faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
               seed::database db{ctx.tracker()};
               auto users = co_await seed::get_all_users(db);
               if (users.size() != 3) throw std::logic_error("wrong user count");
             }));

  failures += report("exception in the body",
                     faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
                       seed::database db{ctx.tracker(), 20ms, true};
                       co_await seed::get_all_users(db);
                     }));

  failures += report("cancelled during the query",
                     faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
                       seed::database db{ctx.tracker()};
                       ctx.cancel_after(10ms);
                       co_await seed::get_all_users(db);
                     }));

  failures += report("timeout (30 s query, 1 s limit)",
                     faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
                       seed::database db{ctx.tracker(), 30s};
                       co_await faultscope::with_timeout(1s, seed::get_all_users(db));
                     }));

  fmt::print("\nThe same, written the naive way (catch, then co_await close), when cancelled:\n");
  auto naive = faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
    seed::database db{ctx.tracker()};
    ctx.cancel_after(10ms);
    co_await seed::get_all_users_naive(db);
  });
  bool caught = report("cancelled during the query", naive) == 1;
  fmt::print("\n{}\n", caught ? "faultscope caught the naive version's leak, as it must."
                              : "ERROR: the naive version's leak went unreported.");
  return failures == 0 && caught ? 0 : 1;
}
