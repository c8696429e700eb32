// A GoogleTest suite over faultscope, as a team would keep one in CI: each
// schedule of a FAULTSCOPE_TEST is a test case of its own (`ctest` lists them),
// a coroutine stops at a failed CO_ASSERT_*, and a plain TEST checks one run.
// Link faultscope::gtest_main; a failing case prints the command that replays it.
#include <faultscope/exit_stack.hpp>
#include <faultscope/fakes/pool.hpp>
#include <faultscope/testing/gtest.hpp>
#include <faultscope/with_resource.hpp>

#include <string>
#include <vector>

using boost::asio::awaitable;
using faultscope::fakes::connection;

namespace {

// The code under test: a query on a pooled connection, which it always returns.
awaitable<std::vector<std::string>> all_users(faultscope::fakes::pool& pool) {
  co_return co_await faultscope::with_resource(
      [&pool] { return pool.acquire(); },
      [](connection& c) { return c.query("select name from users"); },
      [&pool](connection& c) { return pool.release(c); });
}

}  // namespace

// Users.AllUsers/clean, Users.AllUsers/pool.acquire#1=throw, … /conn.query#1=cancel:
// every way the query can end badly, each checked for leaks. Returning a lease
// and closing a connection cannot fail in a real pool, so they are not faulted
// (`skip`): a release that throws is always reported.
FAULTSCOPE_TEST_WITH(Users, AllUsers, {.skip = {"pool.release", "conn.close"}}) {
  faultscope::fakes::pool pool(ctx.tracker(), {.max_size = 1, .connection = {.rows = 2}});
  co_await faultscope::with_exit_stack(
      [&pool](faultscope::async_exit_stack& stack) -> awaitable<void> {
        stack.push([&pool] { return pool.close(); });  // however the body ends, even cancelled
        auto users = co_await all_users(pool);
        CO_ASSERT_EQ(users.size(), 2u);  // a failure ends the body here; the pool still closes
        CO_ASSERT_THAT(users[1], ::testing::EndsWith("row 2"));
      });
}

// One run, no faults: a plain test with faultscope's assertions.
TEST(Users, OneRunReturnsItsConnection) {
  auto r = faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
    faultscope::fakes::pool pool(ctx.tracker());
    auto users = co_await all_users(pool);
    EXPECT_EQ(users.size(), 3u);  // the fake's default
    co_await pool.close();
  });
  EXPECT_NO_LEAKS(r);
}
