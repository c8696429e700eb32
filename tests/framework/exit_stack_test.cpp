// async_exit_stack: reverse order, every release attempted, first error rethrown;
// context managers entered into it see how the stack's body ended.
#include "faultscope/exit_stack.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "faultscope/run.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::async_exit_stack;
using faultscope::exit_kind;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
using faultscope::yield;
using ::testing::HasSubstr;

namespace {

TEST(ExitStack, ReleasesInReverseOrder) {
  std::vector<int> released;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      for (int i = 0; i < 4; ++i) {
        co_await stack.enter(
            [&t]() -> awaitable<faultscope::resource_id> { co_return t.acquire("file"); },
            [&t, &released, i](faultscope::resource_id& id) -> awaitable<void> {
              co_await ft::sleep_for(1ms);
              t.release(id);
              released.push_back(i);
            });
      }
    });
  });
  EXPECT_EQ(released, (std::vector<int>{3, 2, 1, 0}));
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(ExitStack, EveryReleaseIsAttemptedAndTheFirstErrorRethrown) {
  std::vector<int> attempted;
  std::string error;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    try {
      co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
        for (int i = 0; i < 4; ++i)
          stack.push([&attempted, i]() -> awaitable<void> {
            attempted.push_back(i);
            if (i == 1 || i == 2) throw std::runtime_error("close " + std::to_string(i));
            co_return;
          });
        co_return;
      });
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  EXPECT_EQ(attempted, (std::vector<int>{3, 2, 1, 0}));
  EXPECT_EQ(error, "close 2") << "the first failure, in release order";
  ASSERT_EQ(r.violations.size(), 2u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::release_failed);
  EXPECT_THAT(r.violations[0].message, HasSubstr("close 2"));
  EXPECT_THAT(r.violations[1].message, HasSubstr("close 1"));
  // Each points at the line that registered its release.
  EXPECT_EQ(r.violations[0].file, "tests/framework/exit_stack_test.cpp");
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("exit_stack_test.cpp:" + std::to_string(r.violations[0].line) + " "));
}

TEST(ExitStack, PartialSetupIsUnwound) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&t](async_exit_stack& stack) -> awaitable<void> {
      for (int i = 0; i < 5; ++i) {
        co_await stack.enter(
            [&t, i]() -> awaitable<faultscope::resource_id> {
              if (i == 3) throw std::runtime_error("third open failed");
              co_return t.acquire("file");
            },
            [&t](faultscope::resource_id& id) -> awaitable<void> {
              t.release(id);
              co_return;
            });
      }
    });
  });
  EXPECT_EQ(r.error_message, "third open failed");
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(ExitStack, CloseOutsideAScopeWorksToo) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    async_exit_stack stack;
    auto id = t.acquire("lock");
    stack.push([&t, id]() -> awaitable<void> {
      t.release(id);
      co_return;
    });
    EXPECT_EQ(stack.size(), 1u);
    co_await stack.close();
    EXPECT_EQ(stack.size(), 0u);
    co_await stack.close();  // closing twice releases nothing twice
  });
  EXPECT_TRUE(r.passed()) << r.describe();
}

// Each release has the whole cleanup deadline (5 s) to itself: two of 3 s
// each pass, and the one that overruns is reported under its own site.
// A stack closed by hand is not shielded: a cancellation reaches the release
// in progress, which fails with it (it did not overrun a deadline), and the
// older releases still run. close() then leaves the coroutine as it found it:
// its next wait throws the cancellation.
TEST(ExitStack, CancellingAStackClosedByHandInterruptsTheReleaseInProgress) {
  std::vector<int> ran;
  bool close_threw = false;
  bool went_on = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    async_exit_stack stack;
    stack.push([&ran]() -> awaitable<void> {
      ran.push_back(0);
      co_return;
    });
    stack.push([&ran]() -> awaitable<void> {
      co_await ft::sleep_for(1h);
      ran.push_back(1);
    });
    ctx.cancel_after(10ms);
    try {
      co_await stack.close();
    } catch (const boost::system::system_error&) {
      close_threw = true;
    }
    co_await ft::sleep_for(1ms);
    went_on = true;
  });
  EXPECT_TRUE(close_threw);
  EXPECT_FALSE(went_on);
  EXPECT_EQ(r.end, run_end::cancelled) << r.error_message;
  EXPECT_EQ(ran, std::vector<int>{0});
  EXPECT_EQ(r.virtual_elapsed, 10ms);
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::release_failed);
}

// A release that shields itself from that cancellation finishes, and did not
// overrun anything: the deadline's wait ended at the cancellation too.
TEST(ExitStack, AReleaseThatIgnoresTheCancellationOfAStackClosedByHandFinishes) {
  bool released = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    async_exit_stack stack;
    stack.push([&released]() -> awaitable<void> {
      co_await boost::asio::this_coro::reset_cancellation_state(
          boost::asio::disable_cancellation());
      co_await ft::sleep_for(5ms);
      released = true;
    });
    ctx.cancel_after(1ms);
    co_await stack.close();
  });
  EXPECT_TRUE(released);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 5ms);
}

// Asio checks for a cancellation at every co_await: a coroutine already
// cancelled never starts close(), and what the stack holds is reported leaked.
TEST(ExitStack, CanaryACancelledCoroutineClosingAStackByHandLeaks) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    async_exit_stack stack;
    auto id = t.acquire("connection", "db");
    stack.push([&t, id]() -> awaitable<void> {
      t.release(id);
      co_return;
    });
    ctx.cancel();
    co_await stack.close();
  });
  EXPECT_EQ(r.end, run_end::cancelled) << r.error_message;
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(r.violations[0].message, HasSubstr("connection #1 \"db\""));
}

TEST(ExitStack, EachReleaseHasItsOwnDeadlineAndAnOverrunNamesIt) {
  int overrunning_line = 0;
  std::vector<int> released;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      auto hung = t.acquire("lock");
      overrunning_line = __LINE__ + 1;
      stack.push([&t, hung]() -> awaitable<void> {
        co_await ft::sleep_for(1h);
        t.release(hung);
      });
      for (int i = 0; i < 2; ++i) {
        auto id = t.acquire("file");
        stack.push([&t, &released, id, i]() -> awaitable<void> {
          co_await ft::sleep_for(3s);
          t.release(id);
          released.push_back(i);
        });
      }
      co_return;
    });
  });
  EXPECT_EQ(released, (std::vector<int>{1, 0}));
  EXPECT_EQ(r.virtual_elapsed, 3s + 3s + 5s);
  EXPECT_THAT(r.error_message, HasSubstr("deadline"));
  std::vector<std::string> timeouts;
  for (auto& v : r.violations) {
    if (v.kind == violation_kind::release_timeout) timeouts.push_back(v.message);
    // Its cleanup ended by the deadline's cancellation has not failed as well.
    EXPECT_NE(v.kind, violation_kind::release_failed) << v.message;
  }
  EXPECT_THAT(timeouts, ::testing::ElementsAre(HasSubstr(
                            "exit_stack_test.cpp:" + std::to_string(overrunning_line) + " ")))
      << r.describe();
}

// --- enter_context: a context manager whose body is the rest of the stack ----

struct conn {
  faultscope::resource_id id;
  std::string name;
};

// Logs "open name" / "close name", and how its body ended into `seen`.
faultscope::context_manager<conn> named_connection(faultscope::tracker& t, std::string name,
                                                   std::vector<std::string>& log,
                                                   exit_kind* seen = nullptr,
                                                   bool suppress = false) {
  return [&t, name, &log, seen, suppress](yield<conn> y) -> awaitable<void> {
    co_await ft::sleep_for(2ms);
    conn c{t.acquire("connection", name), name};
    log.push_back("open " + name);
    auto exit = co_await y(c);
    if (seen) *seen = exit.kind();
    if (suppress && !exit.ok()) exit.suppress();
    co_await ft::sleep_for(2ms);
    t.release(c.id);
    log.push_back("close " + name);
  };
}

TEST(ExitStackContext, ManagersAndCallbacksUnwindTogetherNewestFirst) {
  std::vector<std::string> log;
  std::string used;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      conn& a = co_await stack.enter_context(named_connection(t, "a", log));
      stack.push([&log]() -> awaitable<void> {
        log.push_back("callback");
        co_return;
      });
      conn& b = co_await stack.enter_context(named_connection(t, "b", log));
      EXPECT_EQ(stack.size(), 3u);
      t.touch(a.id);
      t.touch(b.id);
      used = a.name + b.name;
      co_await ft::sleep_for(10ms);
    });
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(used, "ab") << "each reference stays valid until close";
  EXPECT_EQ(log, (std::vector<std::string>{"open a", "open b", "close b", "callback", "close a"}));
  EXPECT_EQ(r.virtual_elapsed, 2ms + 2ms + 10ms + 2ms + 2ms);
}

TEST(ExitStackContext, ManagerSeesHowTheStacksBodyEnded) {
  for (auto expected : {exit_kind::ok, exit_kind::exception, exit_kind::cancelled}) {
    std::vector<std::string> log;
    exit_kind seen = exit_kind::ok;
    auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      if (expected == exit_kind::cancelled) ctx.cancel_after(8ms);
      co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
        co_await stack.enter_context(named_connection(ctx.tracker(), "db", log, &seen));
        co_await ft::sleep_for(10ms);
        if (expected == exit_kind::exception) throw ft::planted_error("query failed", 4);
      });
    });
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(r.end, expected == exit_kind::ok          ? run_end::ok
                     : expected == exit_kind::exception ? run_end::exception
                                                        : run_end::cancelled);
    EXPECT_TRUE(r.passed()) << r.describe();
  }
}

TEST(ExitStackContext, SuppressionHidesTheExceptionFromOlderManagers) {
  std::vector<std::string> log;
  exit_kind older = exit_kind::exception;
  exit_kind newer = exit_kind::ok;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      co_await stack.enter_context(named_connection(t, "older", log, &older));
      co_await stack.enter_context(named_connection(t, "newer", log, &newer, true));
      throw std::runtime_error("handled by the newer manager");
    });
  });
  EXPECT_EQ(r.end, run_end::ok) << r.error_message;
  EXPECT_EQ(newer, exit_kind::exception);
  EXPECT_EQ(older, exit_kind::ok) << "what a newer manager suppressed, older ones never see";
  EXPECT_TRUE(r.passed()) << r.describe();
}

// As Python's AsyncExitStack: a manager that suppresses when nothing was
// raised has suppressed nothing.
TEST(ExitStackContext, ManualCloseWithoutAnErrorSuppressedNothing) {
  bool suppressed = true;
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    async_exit_stack stack;
    co_await stack.enter_context<int>([](yield<int> y) -> awaitable<void> {
      int value = 1;
      auto exit = co_await y(value);
      exit.suppress();
    });
    suppressed = co_await stack.close(nullptr);
  });
  EXPECT_FALSE(suppressed);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(ExitStackContext, ManualCloseTellsWhetherTheErrorWasSuppressed) {
  std::vector<std::string> log;
  bool suppressed = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    async_exit_stack stack;
    co_await stack.enter_context(named_connection(ctx.tracker(), "db", log, nullptr, true));
    suppressed = co_await stack.close(std::make_exception_ptr(std::runtime_error("x")));
    EXPECT_EQ(stack.size(), 0u);
  });
  EXPECT_TRUE(suppressed);
  EXPECT_TRUE(r.passed()) << r.describe();
}

// A run whose exit stack holds one tracked connection from a manager whose
// code after its yield is `cleanup(tracker, id)`; `where` is the manager's site.
template <typename Cleanup>
faultscope::run_result run_one_context(Cleanup cleanup, std::source_location where) {
  return faultscope::run([cleanup, where](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      co_await stack.enter_context<faultscope::resource_id>(
          [&](yield<faultscope::resource_id> y) -> awaitable<void> {
            auto id = t.acquire("connection");
            co_await y(id);
            co_await cleanup(t, id);
          },
          where);
    });
  });
}

TEST(ExitStackContext, CleanupFailureIsReportedOnceAndRethrown) {
  auto r = run_one_context(
      [](faultscope::tracker& t, faultscope::resource_id id) -> awaitable<void> {
        t.release(id);
        throw std::runtime_error("close(2) failed");
        co_return;
      },
      std::source_location::current());
  EXPECT_EQ(r.error_message, "close(2) failed");
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::release_failed);
  EXPECT_THAT(r.violations[0].message, HasSubstr("exit_stack_test.cpp"));
  EXPECT_THAT(r.violations[0].message, HasSubstr("close(2) failed"));
}

TEST(ExitStackContext, CancellationDuringSetupReachesTheManager) {
  std::vector<std::string> log;
  bool after_enter = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    ctx.cancel_after(1ms);  // the manager's setup sleeps 2 ms
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      co_await stack.enter_context(named_connection(ctx.tracker(), "db", log));
      after_enter = true;
    });
  });
  EXPECT_EQ(r.end, run_end::cancelled) << r.error_message;
  EXPECT_TRUE(log.empty());
  EXPECT_FALSE(after_enter);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 1ms);
}

TEST(ExitStackContext, SetupThatCompletesDespiteCancellationIsStillCleanedUp) {
  bool after_enter = false;
  bool released = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
      co_await stack.enter_context<faultscope::resource_id>(
          [&](yield<faultscope::resource_id> y) -> awaitable<void> {
            ctx.cancel();  // arrives while setup is still under way
            co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                                       boost::asio::use_awaitable);  // not cancellable
            auto id = t.acquire("connection");
            auto exit = co_await y(id);
            EXPECT_TRUE(exit.cancelled());
            t.release(id);
            released = true;
          });
      after_enter = true;
    });
  });
  EXPECT_EQ(r.end, run_end::cancelled) << r.error_message;
  EXPECT_FALSE(after_enter);
  EXPECT_TRUE(released);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(ExitStackContext, ManagerThatNeverYieldsIsAClearError) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    async_exit_stack stack;
    co_await stack.enter_context<int>([](yield<int>) -> awaitable<void> { co_return; });
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("finished without yielding"));
}

// The manager's cleanup has a deadline of its own, started when the stack
// resumes it; the stack's scope leaves the deadline to its entries, so the
// overrun is reported once, under the manager's site.
TEST(ExitStackContext, CleanupOverrunningItsDeadlineIsReportedOnceNotAHang) {
  const auto here = std::source_location::current();
  auto r = run_one_context(
      [](faultscope::tracker& t, faultscope::resource_id id) -> awaitable<void> {
        co_await ft::sleep_for(1h);
        t.release(id);
      },
      here);
  EXPECT_NE(r.end, run_end::hung);
  EXPECT_THAT(r.error_message, HasSubstr("deadline"));
  std::vector<std::string> timeouts;
  for (auto& v : r.violations) {
    if (v.kind == violation_kind::release_timeout) timeouts.push_back(v.message);
    // Its cleanup ended by the deadline's cancellation has not failed as well.
    EXPECT_NE(v.kind, violation_kind::release_failed) << v.message;
  }
  EXPECT_THAT(timeouts, ::testing::ElementsAre(
                            HasSubstr("exit_stack_test.cpp:" + std::to_string(here.line()) + " ")))
      << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 5s);
}

// Scopes are plain Asio code: outside a run (no tracker, no virtual clock, no
// deadline) a stack with an entered manager unwinds the same way.
TEST(ExitStackContext, WorksOutsideARun) {
  boost::asio::io_context io;
  std::vector<std::string> log;
  std::exception_ptr error = std::make_exception_ptr(std::runtime_error("not run"));
  auto body = [&log]() -> awaitable<void> {
    co_await faultscope::with_exit_stack([&log](async_exit_stack& stack) -> awaitable<void> {
      std::string& name = co_await stack.enter_context<std::string>(
          [&log](yield<std::string> y) -> awaitable<void> {
            std::string db = "db";
            log.push_back("open");
            auto exit = co_await y(db);
            log.push_back(exit.ok() ? "close" : "rollback and close");
            exit.suppress();
          });
      stack.push([&log]() -> awaitable<void> {
        log.push_back("callback");
        co_return;
      });
      log.push_back("use " + name);
      throw std::runtime_error("query failed");
    });
  };
  boost::asio::co_spawn(io, body(), [&error](std::exception_ptr e) { error = e; });
  io.run();
  EXPECT_FALSE(error) << "the manager suppressed the body's exception";
  EXPECT_EQ(log, (std::vector<std::string>{"open", "use db", "callback", "rollback and close"}));
}

// A stack dropped without close: the manager's cleanup never runs, so what it
// holds is a leak, and the parked manager must not keep the run (or the
// memory: ASan checks) alive.
TEST(ExitStackContext, StackDroppedUnclosedReportsTheLeakAndDoesNotHang) {
  std::vector<std::string> log;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    async_exit_stack stack;
    co_await stack.enter_context(named_connection(ctx.tracker(), "forgotten", log));
  });
  EXPECT_NE(r.end, run_end::hung) << r.describe();
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(r.violations[0].message, HasSubstr("\"forgotten\""));
}

// Canary: the detector must see a manager that skips its cleanup on one path,
// when it sits in a stack as much as under async_with.
faultscope::context_manager<conn> leaky_on_error(faultscope::tracker& t) {
  return [&t](yield<conn> y) -> awaitable<void> {
    conn c{t.acquire("connection", "db"), "db"};
    auto exit = co_await y(c);
    if (exit.ok()) t.release(c.id);  // the bug: no release on the error path
  };
}

TEST(ExitStackContext, CanaryManagerThatSkipsCleanupOnErrorIsReported) {
  auto use = [](bool fail) {
    return faultscope::run([fail](run_context& ctx) -> awaitable<void> {
      co_await faultscope::with_exit_stack([&](async_exit_stack& stack) -> awaitable<void> {
        co_await stack.enter_context(leaky_on_error(ctx.tracker()));
        if (fail) throw std::runtime_error("query failed");
      });
    });
  };
  EXPECT_TRUE(use(false).passed()) << "the leak hides on the happy path";
  auto r = use(true);
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(r.violations[0].message, HasSubstr("exit_stack_test.cpp"));
}

}  // namespace
