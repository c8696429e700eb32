// The @asynccontextmanager port: exit status, suppression, misuse, scope paths,
// and the leak patterns it exists to prevent (each a canary that must be reported).
#include "faultscope/context_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/run.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::exit_kind;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
using faultscope::yield;
using ::testing::HasSubstr;

namespace {

struct conn {
  faultscope::tracker* t;
  faultscope::resource_id id;
};

// The seed's shape: get_connection is a manager, get_all_users uses it.
faultscope::context_manager<conn> get_connection(faultscope::tracker& t,
                                                 exit_kind* seen = nullptr) {
  return [&t, seen](yield<conn> yield) -> awaitable<void> {
    co_await ft::sleep_for(5ms);
    conn c{&t, t.acquire("connection", "db")};
    auto exit = co_await yield(c);
    if (seen) *seen = exit.kind();
    co_await ft::sleep_for(5ms);
    t.release(c.id);
  };
}

awaitable<int> get_all_users(faultscope::tracker& t, bool fail = false) {
  co_return co_await faultscope::async_with(get_connection(t), [fail](conn& c) -> awaitable<int> {
    c.t->touch(c.id);
    co_await ft::sleep_for(10ms);
    if (fail) throw ft::planted_error("query failed", 7);
    co_return 3;
  });
}

TEST(ContextManager, ExitStatusTellsHowTheBodyEnded) {
  for (auto expected : {exit_kind::ok, exit_kind::exception, exit_kind::cancelled}) {
    exit_kind seen = exit_kind::ok;
    auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      if (expected == exit_kind::cancelled) ctx.cancel_after(8ms);
      co_await faultscope::async_with(get_connection(ctx.tracker(), &seen),
                                      [&](conn&) -> awaitable<void> {
                                        co_await ft::sleep_for(10ms);
                                        if (expected == exit_kind::exception)
                                          throw std::runtime_error("x");
                                      });
    });
    EXPECT_EQ(seen, expected);
    EXPECT_TRUE(r.passed()) << r.describe();
  }
}

TEST(ContextManager, ManagerCanSuppressTheBodysException) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::async_with<conn>(
        [&t](yield<conn> yield) -> awaitable<void> {
          conn c{&t, t.acquire("connection")};
          auto exit = co_await yield(c);
          if (!exit.ok()) exit.suppress();
          t.release(c.id);
        },
        [](conn&) -> awaitable<void> {
          throw std::runtime_error("ignored");
          co_return;
        });
  });
  EXPECT_EQ(r.end, run_end::ok);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(ContextManager, ManagerThatNeverYieldsIsAClearError) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    co_await faultscope::async_with<int>([](yield<int>) -> awaitable<void> { co_return; },
                                         [](int&) -> awaitable<void> { co_return; });
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("finished without yielding"));
}

TEST(ContextManager, ManagerThatYieldsTwiceIsAClearError) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    co_await faultscope::async_with<int>(
        [](yield<int> y) -> awaitable<void> {
          int v = 1;
          co_await y(v);
          co_await y(v);
        },
        [](int&) -> awaitable<void> { co_return; });
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("yielded twice"));
}

TEST(ContextManager, ValueAndExceptionPassThrough) {
  int users = 0;
  auto ok = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> { users = co_await get_all_users(ctx.tracker()); });
  EXPECT_EQ(users, 3);
  EXPECT_TRUE(ok.passed()) << ok.describe();

  int tag = 0;
  auto failed = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    try {
      co_await get_all_users(ctx.tracker(), true);
    } catch (const ft::planted_error& e) {
      tag = e.tag;
    }
  });
  EXPECT_EQ(tag, 7);
  EXPECT_TRUE(failed.passed()) << failed.describe();
}

// --- canaries: each plants a leak that must be reported ---------------------

// A manager that forgets to clean up when the body fails.
faultscope::context_manager<conn> leaky_on_error(faultscope::tracker& t) {
  return [&t](yield<conn> yield) -> awaitable<void> {
    conn c{&t, t.acquire("connection", "db")};
    auto exit = co_await yield(c);
    if (exit.ok()) t.release(c.id);  // the bug: no release on the error path
  };
}

TEST(ContextManager, CanaryScopeThatForgetsCleanupOnOnePathIsReported) {
  auto clean = faultscope::run([](run_context& ctx) -> awaitable<void> {
    co_await faultscope::async_with(leaky_on_error(ctx.tracker()),
                                    [](conn&) -> awaitable<void> { co_return; });
  });
  EXPECT_TRUE(clean.passed()) << "the leak hides on the happy path";

  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    co_await faultscope::async_with(leaky_on_error(ctx.tracker()), [](conn&) -> awaitable<void> {
      throw std::runtime_error("query failed");
      co_return;
    });
  });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(
      r.violations[0].message,
      HasSubstr("connection #1 \"db\" acquired at tests/framework/context_manager_test.cpp:"));
  EXPECT_THAT(r.violations[0].message, HasSubstr("in TestBody › leaky_on_error"));
}

// The naive pattern: catch, then await the release. After a cancellation the
// cancelled flag is sticky, so the release's first co_await throws: it leaks.
awaitable<void> naive_get_all_users(faultscope::tracker& t) {
  faultscope::scope s{"naive_get_all_users"};
  auto id = t.acquire("connection", "db");
  std::exception_ptr error;
  try {
    co_await ft::sleep_for(10ms);
  } catch (...) {
    error = std::current_exception();
  }
  co_await ft::sleep_for(1ms);  // "await conn.close()": throws operation_aborted
  t.release(id);
  if (error) std::rethrow_exception(error);
}

TEST(ContextManager, CanaryNaiveCatchThenAwaitReleaseLeaksUnderCancellation) {
  auto ok = faultscope::run(
      [](run_context& ctx) -> awaitable<void> { co_await naive_get_all_users(ctx.tracker()); });
  EXPECT_TRUE(ok.passed()) << "without a cancellation the naive pattern works";

  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    ctx.cancel_after(5ms);
    co_await naive_get_all_users(ctx.tracker());
  });
  EXPECT_EQ(r.end, run_end::cancelled);
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(r.violations[0].message, HasSubstr("in naive_get_all_users"));
  EXPECT_THAT(r.violations[0].message, HasSubstr("context_manager_test.cpp:"));
}

faultscope::resource_id open_cursor(faultscope::tracker& t) {
  return t.acquire("cursor");
}

awaitable<void> load_report(faultscope::tracker& t) {
  co_await faultscope::async_with(get_connection(t), [&t](conn&) -> awaitable<void> {
    (void)open_cursor(t);  // planted: never released
    co_return;
  });
}

TEST(ContextManager, ScopePathNamesTheCallerOfTheScope) {
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> { co_await load_report(ctx.tracker()); });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_THAT(r.violations[0].message, HasSubstr("cursor #2"));
  EXPECT_THAT(r.violations[0].message, HasSubstr("in load_report › open_cursor"));
}

faultscope::context_manager<conn> leaky_get_connection(faultscope::tracker& t) {
  return [&t](yield<conn> yield) -> awaitable<void> {
    conn c{&t, t.acquire("connection", "db")};
    co_await yield(c);  // the bug: never released at all
  };
}

awaitable<void> get_all_users_leaky(faultscope::tracker& t) {
  co_await faultscope::async_with(leaky_get_connection(t),
                                  [](conn&) -> awaitable<void> { co_return; });
}

TEST(ContextManager, ScopePathNamesCallerAndManager) {
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> { co_await get_all_users_leaky(ctx.tracker()); });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_THAT(r.violations[0].message, HasSubstr("leak: connection #1 \"db\" acquired at "
                                                 "tests/framework/context_manager_test.cpp:"));
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("in get_all_users_leaky › leaky_get_connection, never released"));
}

}  // namespace

namespace {

// An acquire that completes even when cancelled (as a call on another thread
// that cannot be interrupted does): the cancellation lands during setup, the
// setup completes anyway. The body must not start, and the release must run.
TEST(ContextManager, SetupThatCompletesDespiteCancellationIsStillReleased) {
  bool body_ran = false;
  auto r = faultscope::run([&body_ran](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    auto manager = [&t, &ctx](yield<faultscope::resource_id> y) -> awaitable<void> {
      ctx.cancel();  // arrives while setup is still under way
      co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                                 boost::asio::use_awaitable);  // not cancellable
      auto id = t.acquire("connection", "db");
      auto exit = co_await y(id);
      EXPECT_TRUE(exit.cancelled());
      t.release(id);
    };
    auto body = [&body_ran](faultscope::resource_id&) -> awaitable<void> {
      body_ran = true;
      co_return;
    };
    co_await faultscope::async_with<faultscope::resource_id>(manager, body);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.end, run_end::cancelled);
  EXPECT_FALSE(body_ran);
}

}  // namespace
