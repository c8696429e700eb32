// The fake connection and pool: semantics, exploration, misuse canaries.
#include "faultscope/fakes/pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/exit_stack.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/fake_checks.hpp"

namespace fakes = faultscope::fakes;
namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::violation_kind;
using faultscope::testing::HasViolation;
using ::testing::HasSubstr;

namespace {

// Correct use: every lease returned through a scope, and the pool closed by an
// exit stack, so even a cancelled run closes it.
awaitable<void> correct_use(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  co_await faultscope::with_exit_stack(
      [&p](faultscope::async_exit_stack& stack) -> awaitable<void> {
        stack.push([&p] { return p.close(); });
        co_await faultscope::with_timeout(
            1s, faultscope::with_resource([&p] { return p.acquire(); },
                                          [](fakes::connection& c) -> awaitable<void> {
                                            co_await c.query("select * from users");
                                            co_await c.execute("update users set seen = 1");
                                          },
                                          [&p](fakes::connection& c) { return p.release(c); }));
      });
}

TEST(Pool, CorrectUseNeverLeaksUnderAnyDepthOneFault) {
  auto ex = faultscope::explore("pool.correct", correct_use, ft::all_kinds());
  EXPECT_GE(ex.hits, 5u);
  ft::expect_fake_never_leaks(ex);
}

TEST(Pool, ReusesIdleConnections) {
  std::size_t size = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 2});
    for (int i = 0; i < 3; ++i) {
      auto c = co_await p.acquire();
      co_await p.release(c);
    }
    size = p.size();
    co_await p.close();
  });
  EXPECT_EQ(size, 1u);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Pool, WaitersAreServedInFifoOrder) {
  std::vector<int> order;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto held = co_await p.acquire();
    auto ex = ctx.executor();
    auto waiter = [&](int id) -> awaitable<void> {
      auto c = co_await p.acquire();
      order.push_back(id);
      co_await faultscope::sleep_for(1ms);
      co_await p.release(c);
    };
    for (int i = 1; i <= 3; ++i) boost::asio::co_spawn(ex, waiter(i), boost::asio::detached);
    co_await faultscope::sleep_for(10ms);
    co_await p.release(held);
    co_await faultscope::sleep_for(100ms);
    co_await p.close();
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Pool, CancelledWaiterLeavesTheQueueAndNeverReceivesAConnection) {
  bool first_got_one = false;
  int second_got = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto held = co_await p.acquire();
    auto ex = ctx.executor();
    boost::asio::cancellation_signal cancel_first;
    // Named, so the closures outlive the coroutines that use their captures.
    auto first = [&]() -> awaitable<void> {
      auto c = co_await p.acquire();
      first_got_one = true;
      co_await p.release(c);
    };
    auto second = [&]() -> awaitable<void> {
      auto c = co_await p.acquire();
      ++second_got;
      co_await p.release(c);
    };
    boost::asio::co_spawn(
        ex, first(),
        boost::asio::bind_cancellation_slot(cancel_first.slot(), boost::asio::detached));
    boost::asio::co_spawn(ex, second(), boost::asio::detached);
    co_await faultscope::sleep_for(5ms);
    cancel_first.emit(boost::asio::cancellation_type::terminal);
    co_await faultscope::sleep_for(5ms);
    co_await p.release(held);
    co_await faultscope::sleep_for(50ms);
    co_await p.close();
  });
  EXPECT_FALSE(first_got_one);
  EXPECT_EQ(second_got, 1) << "the connection went to the next waiter";
  EXPECT_TRUE(r.passed()) << r.describe();
}

// Closing fails each waiter and closes the idle connections, whose places
// are free again: the bound counts only the connections still open.
TEST(Pool, CloseFailsEveryWaiterAndFreesThePlacesOfWhatItClosed) {
  boost::system::error_code waiter_saw;
  bool lent_again = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto held = co_await p.acquire();
    auto waiter = [&]() -> awaitable<void> {
      try {
        auto c = co_await p.acquire();
        co_await p.release(c);
      } catch (const boost::system::system_error& e) {
        waiter_saw = e.code();
      }
    };
    boost::asio::co_spawn(ctx.executor(), waiter(), boost::asio::detached);
    co_await faultscope::sleep_for(5ms);
    co_await p.close();
    co_await faultscope::sleep_for(5ms);
    co_await p.release(held);  // idle now: no waiter is left to take it
    co_await p.close();
    auto c = co_await faultscope::with_timeout(1s, p.acquire());
    lent_again = c.is_open();
    co_await p.release(c);
    co_await p.close();
  });
  EXPECT_EQ(waiter_saw, boost::asio::error::operation_aborted);
  EXPECT_TRUE(lent_again);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Pool, BrokenConnectionIsDiscardedNotReused) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("conn.query#1=throw(io_error)");
  std::size_t size_after = 99;
  faultscope::resource_id first = 0, second = 0;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        fakes::pool p(ctx.tracker(), {.max_size = 1});
        auto c = co_await p.acquire();
        first = c.id();
        try {
          co_await c.query("select 1");
        } catch (...) {
        }
        EXPECT_TRUE(c.broken());
        co_await p.release(c);
        size_after = p.size();
        auto d = co_await p.acquire();
        second = d.id();
        co_await p.release(d);
        co_await p.close();
      },
      o);
  EXPECT_EQ(size_after, 0u);
  EXPECT_NE(first, second);
  EXPECT_TRUE(r.passed()) << r.describe();
}

// The pool closes connections on the caller's behalf: a broken one when it is
// returned, the idle ones when the pool closes. The timeline shows those
// releases at the caller's release and close, not inside the pool.
TEST(Pool, ConnectionsItClosesAreReleasedAtTheCallersLines) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("conn.query#1=throw(io_error)");
  std::uint32_t returned_broken = 0, closed = 0;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        fakes::pool p(ctx.tracker(), {.max_size = 1});
        auto c = co_await p.acquire();
        try {
          co_await c.query("select 1");
        } catch (...) {
        }
        returned_broken = __LINE__ + 1;
        co_await p.release(c);
        auto d = co_await p.acquire();
        co_await p.release(d);
        closed = __LINE__ + 1;
        co_await p.close();
      },
      o);
  ASSERT_TRUE(r.passed()) << r.describe();
  std::vector<std::pair<std::string, std::uint32_t>> releases;
  for (const auto& e : r.timeline)
    if (e.type == faultscope::event_type::release && e.kind == "connection") {
      EXPECT_EQ(e.where.file(), "tests/fakes/pool_test.cpp");
      releases.emplace_back(e.kind, e.where.line());
    }
  EXPECT_THAT(releases, ::testing::ElementsAre(std::pair{"connection", returned_broken},
                                               std::pair{"connection", closed}));
}

// A slot is reserved before the open suspends; an open that fails must give it
// back, or a pool that met max_size failures would make every later acquirer
// wait forever.
TEST(Pool, AFailedOpenGivesItsSlotBack) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("conn.open#1=throw(connection_refused)");
  bool first_failed = false;
  std::size_t size_after = 99;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        fakes::pool p(ctx.tracker(), {.max_size = 1});
        try {
          co_await p.acquire();
        } catch (const boost::system::system_error&) {
          first_failed = true;
        }
        size_after = p.size();
        auto c = co_await p.acquire();  // the slot is free again: opens, does not wait
        co_await p.release(c);
        co_await p.close();
      },
      o);
  EXPECT_TRUE(first_failed);
  EXPECT_EQ(size_after, 0u);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Pool, ExhaustedPoolWithNoReturnIsAHangNamingTheWaiter) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto held = co_await p.acquire();
    (void)held;
    co_await p.acquire();  // nobody returns the first
  });
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  EXPECT_THAT(r.describe(), HasSubstr("pool.acquire waiting for one of 1 connections"));
}

// --- misuse canaries: each must be reported by exploration ------------------

// Leaks the lease when the query throws.
awaitable<void> leaks_on_throw(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  std::exception_ptr error;
  try {
    co_await c.query("select 1");
  } catch (const faultscope::injected_fault&) {
    error = std::current_exception();
  }
  if (!error) co_await p.release(c);  // the bug: the lease is not returned on error
  co_await p.close();
  if (error) std::rethrow_exception(error);
}

// Returns the lease with an await after catching: dead after a cancellation.
awaitable<void> leaks_on_cancel(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  std::exception_ptr e;
  try {
    co_await c.query("select 1");
  } catch (...) {
    e = std::current_exception();
  }
  co_await p.release(c);
  co_await p.close();
  if (e) std::rethrow_exception(e);
}

// A deadline around the query only: the timeout path forgets the lease.
awaitable<void> leaks_on_timeout(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  std::exception_ptr error;
  bool timed_out = false;
  try {
    co_await faultscope::with_timeout(1s, c.query("select 1"));
  } catch (const boost::system::system_error& e) {
    timed_out = e.code() == boost::asio::error::timed_out;
    error = std::current_exception();
  } catch (...) {
    error = std::current_exception();
  }
  if (!timed_out) co_await p.release(c);
  co_await p.close();
  if (error) std::rethrow_exception(error);
}

awaitable<void> double_release(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  co_await p.release(c);
  co_await p.release(c);
  co_await p.close();
}

TEST(Pool, CanaryMisuseIsReportedByExploration) {
  auto kinds = ft::all_kinds();
  auto on_throw = faultscope::explore("leaks_on_throw", leaks_on_throw, kinds);
  EXPECT_TRUE(ft::any_failure_has(on_throw, violation_kind::leak)) << on_throw.summary();
  auto on_cancel = faultscope::explore("leaks_on_cancel", leaks_on_cancel, kinds);
  EXPECT_TRUE(ft::any_failure_has(on_cancel, violation_kind::leak)) << on_cancel.summary();
  auto on_timeout = faultscope::explore("leaks_on_timeout", leaks_on_timeout, kinds);
  EXPECT_TRUE(ft::any_failure_has(on_timeout, violation_kind::leak)) << on_timeout.summary();
  auto twice = faultscope::run(double_release);
  EXPECT_THAT(twice, HasViolation(violation_kind::double_release));
}

TEST(Pool, CanaryALeaseReturnedTwiceIsReportedAtBothReturns) {
  std::uint32_t first = 0, second = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto c = co_await p.acquire();
    first = __LINE__ + 1;
    co_await p.release(c);
    second = __LINE__ + 1;
    co_await p.release(c);
    EXPECT_EQ(p.idle(), 1u) << "the pool holds its one connection once";
    co_await p.close();
  });
  // #1 is the pool's connection, #2 the lease.
  ft::expect_misuse_at(r, violation_kind::double_release, "pool.lease #2 \"db\"", "released again",
                       "tests/fakes/pool_test.cpp", second, first);
}

// A handle kept after its return stands for the returned lease, not for
// whoever holds the connection now.
TEST(Pool, CanaryAHandleUsedAfterItsReturnIsAUseOfTheReturnedLease) {
  std::uint32_t returned = 0, used = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto c = co_await p.acquire();
    returned = __LINE__ + 1;
    co_await p.release(c);
    used = __LINE__ + 1;
    co_await c.query("select 1");
    co_await p.close();
  });
  ft::expect_misuse_at(r, violation_kind::use_after_release, "pool.lease #2 \"db\"", "used",
                       "tests/fakes/pool_test.cpp", used, returned);
}

TEST(Pool, CanaryACopyReturnedAfterTheConnectionWasLentAgainLeavesTheNewLeaseAlone) {
  std::uint32_t returned = 0, stale = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto c = co_await p.acquire();
    fakes::connection kept = c;
    returned = __LINE__ + 1;
    co_await p.release(c);
    auto d = co_await p.acquire();  // the same connection, lent again
    EXPECT_EQ(d.id(), kept.id());
    stale = __LINE__ + 1;
    co_await p.release(kept);
    EXPECT_EQ(p.idle(), 0u) << "the new holder still has the connection";
    co_await d.query("select 1");  // the new lease is live: no violation
    co_await p.release(d);
    EXPECT_EQ(p.idle(), 1u);
    co_await p.close();
  });
  // #1 is the pool's connection, #2 the first lease, #3 the second.
  ft::expect_misuse_at(r, violation_kind::double_release, "pool.lease #2 \"db\"", "released again",
                       "tests/fakes/pool_test.cpp", stale, returned);
}

TEST(Pool, CanaryAConnectionItNeverLentIsReportedAndNotTaken) {
  std::uint32_t returned = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::pool p(ctx.tracker(), {.max_size = 1});
    auto own = co_await fakes::connection::open(ctx.tracker());
    returned = __LINE__ + 1;
    co_await p.release(own);
    EXPECT_EQ(p.idle(), 0u);
    EXPECT_EQ(p.size(), 0u);
    co_await own.close();
    co_await p.close();
  });
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  const auto& v = r.violations[0];
  EXPECT_EQ(v.kind, violation_kind::unknown_release);
  EXPECT_EQ(v.line, returned);
  EXPECT_THAT(v.message,
              HasSubstr(fmt::format("connection #1 \"db\" returned at tests/fakes/pool_test.cpp:{} "
                                    "to a pool that never lent it",
                                    returned)));
}

TEST(Connection, UseAfterCloseAndDoubleCloseAreReportedAtTheCallersLines) {
  std::uint32_t closed = 0, again = 0;
  auto twice = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto c = co_await fakes::connection::open(ctx.tracker());
    closed = __LINE__ + 1;
    co_await c.close();
    again = __LINE__ + 1;
    co_await c.close();
  });
  ft::expect_misuse_at(twice, violation_kind::double_release, "connection #1 \"db\"",
                       "released again", "tests/fakes/pool_test.cpp", again, closed);
  for (bool query : {true, false}) {
    std::uint32_t used = 0;
    auto late = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      auto c = co_await fakes::connection::open(ctx.tracker());
      closed = __LINE__ + 1;
      co_await c.close();
      if (query) {
        used = __LINE__ + 1;
        co_await c.query("select 1");
      } else {
        used = __LINE__ + 1;
        co_await c.execute("delete from users");
      }
    });
    SCOPED_TRACE(query ? "query" : "execute");
    ft::expect_misuse_at(late, violation_kind::use_after_release, "connection #1 \"db\"", "used",
                         "tests/fakes/pool_test.cpp", used, closed);
  }
}

awaitable<void> pool_release_only_on_success(run_context& ctx) {
  fakes::pool p(ctx.tracker(), {.max_size = 1});
  auto c = co_await p.acquire();
  co_await c.query("select 1");
  co_await p.release(c);
  co_await p.close();
}

TEST(Pool, CanaryReleaseOnlyOnSuccessIsCaughtUnderThrowCancelAndTimeout) {
  ft::expect_misuse_caught_under_every_kind("pool", pool_release_only_on_success);
}

awaitable<void> connection_close_only_on_success(run_context& ctx) {
  auto c = co_await fakes::connection::open(ctx.tracker());
  co_await c.execute("delete from sessions");
  co_await c.close();
}

TEST(Connection, CanaryCloseOnlyOnSuccessIsCaughtUnderThrowCancelAndTimeout) {
  ft::expect_misuse_caught_under_every_kind("connection", connection_close_only_on_success);
}

}  // namespace
