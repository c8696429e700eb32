// The single run: virtual time, outcome, leak check, quiescence and hang detection.
#include "faultscope/run.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>

#include "faultscope/detail/asio_ops.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/scope.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/pipe_end.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using boost::asio::use_awaitable;
using boost::asio::ip::tcp;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
using faultscope::testing::HasViolation;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace {

TEST(Run, EmptyScenarioPasses) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> { co_return; });
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.end, run_end::ok);
  EXPECT_EQ(r.virtual_elapsed, 0ns);
}

TEST(Run, ThirtySecondTimeoutTakesThirtyVirtualSeconds) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    co_await faultscope::with_timeout(30s, ft::sleep_for(1h));
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("timed out"));
  EXPECT_EQ(r.virtual_elapsed, 30s);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Run, TimersFireInDeadlineOrderThenStartOrder) {
  std::vector<int> order;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto ex = ctx.executor();
    auto sleeper = [&](int id, std::chrono::nanoseconds d) -> awaitable<void> {
      co_await ft::sleep_for(d);
      order.push_back(id);
    };
    boost::asio::co_spawn(ex, sleeper(1, 3s), boost::asio::detached);
    boost::asio::co_spawn(ex, sleeper(2, 1s), boost::asio::detached);
    boost::asio::co_spawn(ex, sleeper(3, 1s), boost::asio::detached);
    co_await ft::sleep_for(5s);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(r.virtual_elapsed, 5s);
}

// A deadline already past is due now, like one set for now: such waits
// complete in the order they were started, not in the order of their deadlines.
TEST(Run, WaitsAlreadyDueCompleteInStartOrder) {
  std::vector<int> order;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    co_await ft::sleep_for(2s);
    faultscope::timer now(ctx.executor(), 0s);
    faultscope::timer past(ctx.executor(), faultscope::virtual_clock::time_point(1s));
    now.async_wait([&](boost::system::error_code) { order.push_back(1); });
    past.async_wait([&](boost::system::error_code) { order.push_back(2); });
    co_await ft::sleep_for(1s);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(r.virtual_elapsed, 3s) << "a past deadline never moves the clock back";
}

TEST(Run, VirtualClockNowFollowsTheRun) {
  faultscope::virtual_clock::time_point seen{};
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    co_await ft::sleep_for(1500ms);
    seen = faultscope::virtual_clock::now();
  });
  EXPECT_EQ(seen.time_since_epoch(), 1500ms);
  EXPECT_EQ(faultscope::virtual_clock::now().time_since_epoch(), 0ns) << "outside a run";
}

TEST(Run, TimerCancelCompletesWaitWithOperationAborted) {
  boost::system::error_code seen;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    faultscope::timer t(ctx.executor(), 10s);
    t.async_wait([&](boost::system::error_code ec) { seen = ec; });
    co_await ft::sleep_for(1s);
    EXPECT_EQ(t.cancel(), 1u);
    co_await ft::sleep_for(1s);
  });
  EXPECT_EQ(seen, boost::asio::error::operation_aborted);
  EXPECT_EQ(r.virtual_elapsed, 2s);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Run, TimerOutsideARunIsAClearError) {
  boost::asio::io_context io;
  EXPECT_THROW(faultscope::timer(io.get_executor()), faultscope::no_virtual_clock);
}

TEST(Run, ExceptionOutcomeIsRecorded) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_EQ(r.error_message, "boom");
  EXPECT_TRUE(r.passed()) << "an exception is an outcome, not a violation";
}

TEST(Run, CancellationOutcomeIsRecorded) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    ctx.cancel_after(2s);
    co_await ft::sleep_for(10s);
  });
  EXPECT_EQ(r.end, run_end::cancelled);
  EXPECT_EQ(r.virtual_elapsed, 2s);
}

TEST(Run, CancelAfterCountsFromNow) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    co_await ft::sleep_for(5s);
    ctx.cancel_after(2s);
    co_await ft::sleep_for(10s);
  });
  EXPECT_EQ(r.end, run_end::cancelled);
  EXPECT_EQ(r.virtual_elapsed, 7s);
}

// A scenario need not be a coroutine itself: a plain function may check its
// arguments and throw before it returns the coroutine it runs.
awaitable<void> throws_before_its_coroutine(int attempts) {
  if (attempts < 1) throw std::invalid_argument("attempts must be at least 1");
  return ft::sleep_for(std::chrono::seconds(attempts));
}

TEST(Run, AScenarioThatThrowsBeforeItsCoroutineExistsEndsTheRootWithThatException) {
  auto r = faultscope::run([](run_context&) { return throws_before_its_coroutine(0); });
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_EQ(r.error_message, "attempts must be at least 1");
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(faultscope::current_run(), nullptr) << "the run's context is uninstalled";
}

TEST(Run, CanaryAnExceptionAHandlerThrowsIntoTheEventLoopIsReportedAndTheRunGoesOn) {
  // Asio's own examples complete a spawned coroutine with a handler that
  // rethrows its exception: io_context::run() then throws it to its caller.
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  auto background = []() -> awaitable<void> {
    co_await ft::sleep_for(1s);
    throw std::runtime_error("background task failed");
  };
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto id = ctx.tracker().acquire("connection", "db");
    boost::asio::co_spawn(ctx.executor(), background(), rethrow);
    co_await ft::sleep_for(2s);
    ctx.tracker().release(id);
  });
  ASSERT_THAT(r, HasViolation(violation_kind::unhandled_exception));
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].message,
            "unhandled exception: \"background task failed\" escaped a completion handler at "
            "1.000000s virtual; io_context::run() would throw it to its caller");
  EXPECT_EQ(r.end, run_end::ok) << "the root went on to release its connection";
  EXPECT_EQ(r.virtual_elapsed, 2s);
  EXPECT_EQ(faultscope::current_run(), nullptr);
}

// Asio 1.81's co_spawn throws from its own last co_await if the coroutine was
// cancelled and never suspended; a cancel fault at a plain-code point cancels
// the root while it runs. The run must end the way the scenario did.
TEST(Run, ACancelFaultBeforeTheScenarioEverSuspendsEndsTheRootAsTheScenarioDoes) {
  faultscope::run_options o;
  o.plan = faultscope::fault_plan::parse("config.read#1=cancel");
  auto finishes = faultscope::run(
      [](run_context&) -> awaitable<void> {
        faultscope::fault_check("config.read");
        co_return;
      },
      o);
  EXPECT_EQ(finishes.end, run_end::ok);
  EXPECT_TRUE(finishes.passed()) << finishes.describe();
  auto waits = faultscope::run(
      [](run_context&) -> awaitable<void> {
        faultscope::fault_check("config.read");
        co_await ft::sleep_for(1s);
      },
      o);
  EXPECT_EQ(waits.end, run_end::cancelled);
  EXPECT_TRUE(waits.passed()) << waits.describe();
}

TEST(Run, CanaryLeakInARunIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto id = ctx.tracker().acquire("connection", "db");
    (void)id;
    co_return;
  });
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].kind, violation_kind::leak);
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("leak: connection #1 \"db\" acquired at tests/framework/run_test.cpp:"));
}

TEST(Run, TimelineRecordsVirtualTimestamps) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    co_await ft::sleep_for(1s);
    auto id = ctx.tracker().acquire("file", "log");
    co_await ft::sleep_for(2s);
    ctx.tracker().release(id);
  });
  ASSERT_EQ(r.timeline.size(), 2u);
  EXPECT_EQ(r.timeline[0].at, 1s);
  EXPECT_EQ(r.timeline[1].at, 3s);
}

TEST(Run, CanaryWaitingForeverIsAHangNamingThePendingOperation) {
  int line = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    faultscope::timer t(ctx.executor(), faultscope::timer::time_point::max());
    line = __LINE__ + 1;
    co_await t.async_wait(use_awaitable);
  });
  EXPECT_EQ(r.end, run_end::hung);
  ASSERT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("timer wait at tests/framework/run_test.cpp:" + std::to_string(line)));
  EXPECT_THAT(r.violations[0].message, HasSubstr("forever"));
}

TEST(Run, CanaryAHangNamesEveryPendingWait) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    boost::asio::co_spawn(ctx.executor(), ft::sleep_for(48h), boost::asio::detached);
    co_await ft::sleep_for(72h);
  });
  ASSERT_THAT(r, HasViolation(violation_kind::hang));
  const std::string wait = "timer wait at tests/support/test_resource\\.hpp:[0-9]+";
  EXPECT_THAT(r.violations[0].message,
              ::testing::ContainsRegex("; pending: " + wait + ", " + wait + "$"));
}

// Where the run stood: the scopes still open when it could go no further.
TEST(Run, CanaryAHangNamesTheScopesLeftOpen) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    faultscope::scope checkout{"checkout"};
    faultscope::scope payment{"payment"};
    faultscope::timer t(ctx.executor(), faultscope::timer::time_point::max());
    co_await t.async_wait(use_awaitable);
  });
  ASSERT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r.violations[0].message, ::testing::EndsWith("; open scopes: checkout › payment"));
}

// The limit is the last moment a run may reach, not the first it may not.
TEST(Run, ADeadlineAtTheTimeLimitIsNotAHang) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> { co_await ft::sleep_for(24h); },
                           {.time_limit = 24h});
  EXPECT_EQ(r.end, run_end::ok);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Run, CanaryHangOnAForeignOperationIsReported) {
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        boost::asio::experimental::channel<void(boost::system::error_code, int)> ch(ctx.executor());
        co_await ch.async_receive(use_awaitable);  // nobody ever sends
      },
      {.foreign_grace = 20ms});
  EXPECT_EQ(r.end, run_end::hung);
  ASSERT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("cannot see (a channel, socket or foreign timer, or work on a thread pool "
                        "not queued through faultscope::hold_clock) did not complete within "
                        "run_options::foreign_grace (20 ms of wall time)"));
  // Named in a build with Asio handler tracking; otherwise, how to get one.
  EXPECT_THAT(r.violations[0].message,
              HasSubstr(faultscope::detail::asio_op_watch::enabled
                            ? "; pending: Asio channel async_receive"
                            : "; a build with FAULTSCOPE_ASIO_TRACKING=ON names the Asio "
                              "operations among them"));
}

// A reply that another thread posts to the run after `delay` of wall time,
// awaited under a 1 s virtual deadline: what a client sees of a server on
// another thread. Returns the reply, or -1 if the deadline fired first.
awaitable<int> reply_from_another_thread(run_context& ctx, std::chrono::milliseconds delay) {
  using reply_channel = boost::asio::experimental::channel<void(boost::system::error_code, int)>;
  auto ex = ctx.executor();
  auto ch = std::make_shared<reply_channel>(ex);
  auto reply = [ex, ch, delay] {
    std::this_thread::sleep_for(delay);
    boost::asio::post(ex, [ch] { ch->try_send(boost::system::error_code{}, 42); });
  };
  std::jthread server(reply);
  int got = -1;
  try {
    got = co_await faultscope::with_timeout(1s, ch->async_receive(use_awaitable));
  } catch (const boost::system::system_error& e) {
    if (e.code() != boost::asio::error::timed_out) throw;
  }
  server.join();
  co_await boost::asio::post(ex, use_awaitable);  // after the reply's post: the run ends quiet
  co_return got;
}

TEST(Run, AtJumpThresholdZeroADeadlineFiresBeforeAReplyFromAnotherThread) {
  int got = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    got = co_await reply_from_another_thread(ctx, 100ms);  // far later than the jump
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(got, -1);
  EXPECT_EQ(r.virtual_elapsed, 1s);
}

TEST(Run, JumpThresholdLetsAReplyFromAnotherThreadBeatTheDeadline) {
  int got = 0;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        got = co_await reply_from_another_thread(ctx, 5ms);
      },
      {.jump_threshold = 10s});  // an upper bound: the reply ends the wait
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(got, 42);
  EXPECT_EQ(r.virtual_elapsed, 0s);
}

TEST(Run, UnderAJumpThresholdADeadlineStillFiresWhenNoReplyComes) {
  auto r = faultscope::run(
      [](run_context&) -> awaitable<void> {
        co_await faultscope::with_timeout(30s, ft::sleep_for(1h));
      },
      {.jump_threshold = 1ms});
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r.error_message, HasSubstr("timed out"));
  EXPECT_EQ(r.virtual_elapsed, 30s);
}

TEST(Run, CanaryBusyLoopHitsTheWallLimit) {
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        for (;;) co_await boost::asio::post(ctx.executor(), use_awaitable);
      },
      {.wall_limit = 100ms});
  EXPECT_EQ(r.end, run_end::hung);
  EXPECT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r.violations[0].message, HasSubstr("busy loop"));
}

TEST(Run, DeadlinePastTheTimeLimitIsAHang) {
  auto r = faultscope::run([](run_context&) -> awaitable<void> { co_await ft::sleep_for(48h); },
                           {.time_limit = 24h});
  EXPECT_EQ(r.end, run_end::hung);
  EXPECT_THAT(r.violations[0].message, HasSubstr("past the"));
}

TEST(Run, CanaryDetachedWaitAfterRootEndsIsNotQuiescent) {
  int line = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    line = __LINE__ + 1;
    boost::asio::co_spawn(ctx.executor(), ft::sleep_for(1h), boost::asio::detached);
    co_return;
  });
  ASSERT_THAT(r, HasViolation(violation_kind::not_quiescent));
  EXPECT_THAT(r.violations[0].message, HasSubstr("timer wait at tests/support/test_resource.hpp:"));
  EXPECT_THAT(r.violations[0].message, HasSubstr("after the root coroutine ended"));
  EXPECT_EQ(r.violations.size(), 1u)
      << "the spawned coroutine's own count of work is no foreign operation: " << r.describe();
  EXPECT_EQ(r.virtual_elapsed, 0ns) << "the clock does not jump for leftovers";
}

TEST(Run, CanaryForeignOperationLeftAfterRootEndsIsNotQuiescent) {
  auto waiter = [](boost::asio::any_io_executor ex) -> awaitable<void> {
    boost::asio::experimental::channel<void(boost::system::error_code, int)> ch(ex);
    co_await ch.async_receive(use_awaitable);  // nobody ever sends
  };
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    boost::asio::co_spawn(ctx.executor(), waiter(ctx.executor()), boost::asio::detached);
    co_return;
  });
  ASSERT_THAT(r, HasViolation(violation_kind::not_quiescent));
  // A build with Asio handler tracking names it (asio_ops_test); one without
  // says how to get such a build.
  EXPECT_THAT(r.violations[0].message,
              HasSubstr(faultscope::detail::asio_op_watch::enabled
                            ? "Asio channel async_receive"
                            : "cannot see (a channel, socket or foreign timer, or work on a "
                              "thread pool) is still pending after the root coroutine ended; a "
                              "build with FAULTSCOPE_ASIO_TRACKING=ON names the Asio operations "
                              "among them"));
}

// Work on a thread pool that the run awaits, not queued through hold_clock:
// the run calls it hung after the grace, and the work then completes into the
// run's context. Freed, that context would be written after its end.
TEST(Run, ForeignWorkFinishingAfterItsRunHungDoesNotCrash) {
  boost::asio::thread_pool pool(1);
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  // Named, not written inside the co_await: g++ 12 miscounts a class-type
  // capture there (README, coroutine trap 2).
  auto blocked = [released]() -> awaitable<void> {
    released.wait();
    co_return;
  };
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        co_await boost::asio::co_spawn(pool, blocked, use_awaitable);
      },
      {.foreign_grace = 10ms});
  EXPECT_EQ(r.end, run_end::hung);
  EXPECT_THAT(r.violations[0].message, HasSubstr("not queued through faultscope::hold_clock"));
  go.set_value();
  pool.join();  // the completion lands in the run's context, kept for it
}

// co_spawn onto a pool lets go of the run's work on the pool's thread after
// the completion it posted has run: the root's last await of it ends the root
// a moment before the count drops, which is no leftover operation.
TEST(Run, ARootWhoseLastAwaitWasOnAThreadPoolIsQuiescent) {
  boost::asio::thread_pool pool(1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto r = faultscope::run(
        [&](run_context&) -> awaitable<void> {
          auto step = []() -> awaitable<int> {
            co_return 1;
          };
          for (int i = 0; i < 100; ++i) co_await boost::asio::co_spawn(pool, step, use_awaitable);
        },
        {.record_timeline = false});
    ASSERT_TRUE(r.passed()) << "attempt " << attempt << ": " << r.describe();
  }
}

TEST(Run, HangAlsoReportsTheResourcesItStrands) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto id = ctx.tracker().acquire("lock", "table");
    (void)id;
    faultscope::timer t(ctx.executor(), faultscope::timer::time_point::max());
    co_await t.async_wait(use_awaitable);
  });
  EXPECT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r, HasViolation(violation_kind::leak));
}

// Work done on another thread for the run, as the SQLite worker does it: the
// clock holds while it is away, and the thread hands its completion back
// through the scheduler, which the run's loop runs on the run's thread.
struct handed_back final : faultscope::detail::finished_external {
  std::function<void()> fn;
  void run_finished() override {
    fn();
    delete this;
  }
  void discard_finished() override { delete this; }
};

// Completes after `delay` of real time on a thread of its own, handing back
// through the run's scheduler.
awaitable<std::thread::id> away_for(std::chrono::milliseconds delay,
                                    std::vector<std::thread>& threads) {
  auto* clock = faultscope::detail::current_scheduler();
  co_return co_await boost::asio::async_initiate<decltype(use_awaitable),
                                                 void(std::exception_ptr, std::thread::id)>(
      [clock, delay, &threads](auto handler) {
        clock->begin_external();
        auto* done = new handed_back;
        done->fn = [h = std::make_shared<decltype(handler)>(std::move(handler))]() mutable {
          (*h)(nullptr, std::this_thread::get_id());
        };
        threads.emplace_back([clock, delay, done] {
          std::this_thread::sleep_for(delay);
          clock->finish_external(done);
        });
      },
      use_awaitable);
}

TEST(Run, WorkHandedBackFromAnotherThreadResumesOnTheRunsThreadInOrder) {
  std::vector<std::thread> threads;
  std::vector<int> order;
  const auto runs_thread = std::this_thread::get_id();
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto away = [&](int id, std::chrono::milliseconds delay) -> awaitable<void> {
      EXPECT_EQ(co_await away_for(delay, threads), runs_thread);
      order.push_back(id);
    };
    // 30 ms: past the run's spin, so its thread blocks and must be woken.
    boost::asio::co_spawn(ctx.executor(), away(1, 30ms), boost::asio::detached);
    boost::asio::co_spawn(ctx.executor(), away(2, 1ms), boost::asio::detached);
    co_await away(3, 60ms);
  });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(order, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(r.virtual_elapsed, 0ns) << "the clock moved while work was away";
}

// A call that takes turns, as the SQLite worker's calls do: its thread waits
// for the run's turn, logs its start, works for `delay` of real time (parking
// first if `park`), logs its end and hands back through the scheduler.
struct turn_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
  }
};

struct turn_call {
  std::string name;
  std::chrono::milliseconds delay{0};
  const void* lane = nullptr;
  bool park = false;
};

awaitable<void> in_turn(turn_call call, turn_log& log, std::vector<std::thread>& threads) {
  auto* clock = faultscope::detail::current_scheduler();
  // By pointer: `call` stays in this frame until the thread is done with it,
  // and g++ 12 destroys a class-type capture of the initiation twice.
  co_await boost::asio::async_initiate<decltype(use_awaitable), void(std::exception_ptr)>(
      [clock, &call, &log, &threads](auto handler) {
        clock->begin_external();
        const auto ticket = clock->issue_turn(call.lane);
        auto* done = new handed_back;
        done->fn = [h = std::make_shared<decltype(handler)>(std::move(handler))]() mutable {
          (*h)(nullptr);
        };
        threads.emplace_back([clock, c = &call, ticket, done, &log] {
          clock->await_turn(ticket);
          log.add("start " + c->name);
          if (c->park)
            log.add(c->name + (clock->park_turn(ticket) ? " resumed after another call"
                                                        : " resumed at once"));
          std::this_thread::sleep_for(c->delay);
          log.add("end " + c->name);
          clock->finish_external(done, true);
        });
      },
      use_awaitable);
  log.add("back " + call.name);
}

TEST(Run, CallsThatTakeTurnsRunOneAtATimeInTheOrderTheyWereMade) {
  std::vector<std::thread> threads;
  turn_log log;
  const int lanes[3] = {};
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    // The first takes longest: without turns, the second would end first.
    // Named calls, not braced temporaries in the call: g++ 12 frees those twice.
    const turn_call a{"a", 30ms, &lanes[0]}, b{"b", 1ms, &lanes[1]}, c{"c", 0ms, &lanes[2]};
    boost::asio::co_spawn(ctx.executor(), in_turn(a, log, threads), boost::asio::detached);
    boost::asio::co_spawn(ctx.executor(), in_turn(b, log, threads), boost::asio::detached);
    co_await in_turn(c, log, threads);
  });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_THAT(log.lines, ::testing::ElementsAre("start a", "end a", "back a", "start b", "end b",
                                                "back b", "start c", "end c", "back c"));
}

TEST(Run, ACallStartsOnlyOnceTheRunsThreadHasNothingLeftToRun) {
  std::vector<std::thread> threads;
  turn_log log;
  const int lane = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    // Work the run's thread still has when the call is made: a chain of posts.
    std::function<void(int)> step = [&](int k) {
      std::this_thread::sleep_for(2ms);  // time enough for a call that did not wait to start
      log.add("step " + std::to_string(k));
      if (k < 3) boost::asio::post(ctx.executor(), [&step, k] { step(k + 1); });
    };
    boost::asio::post(ctx.executor(), [&step] { step(1); });
    const turn_call call{"call", 0ms, &lane};
    co_await in_turn(call, log, threads);
  });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_THAT(log.lines, ::testing::ElementsAre("step 1", "step 2", "step 3", "start call",
                                                "end call", "back call"));
}

TEST(Run, AParkedCallLetsTheOtherCallsGoFirst) {
  std::vector<std::thread> threads;
  turn_log log;
  const int lanes[2] = {};
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    const turn_call waiter{"waiter", 0ms, &lanes[0], true}, holder{"holder", 0ms, &lanes[1]},
        alone{"alone", 0ms, &lanes[0], true};
    boost::asio::co_spawn(ctx.executor(), in_turn(waiter, log, threads), boost::asio::detached);
    co_await in_turn(holder, log, threads);
    // Alone, a parked call gets the turn straight back.
    co_await in_turn(alone, log, threads);
  });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_THAT(log.lines, ::testing::ElementsAre(
                             "start waiter", "start holder", "end holder", "back holder",
                             "waiter resumed after another call", "end waiter", "back waiter",
                             "start alone", "alone resumed at once", "end alone", "back alone"));
}

// A library's per-run state: finish runs after the root ends, before the
// tracker is checked, so what it reports is in the result.
struct reporting_extension final : faultscope::run_extension {
  void finish(faultscope::tracker& t) override {
    t.report(violation_kind::leak, "left behind by the extension");
  }
};

TEST(Run, AnExtensionFinishesBeforeTheTrackerIsChecked) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    static_cast<void>(ctx.extension<reporting_extension>());
    co_return;
  });
  EXPECT_THAT(r, HasViolation(violation_kind::leak));
  EXPECT_THAT(r.describe(), HasSubstr("left behind by the extension"));
}

// Two libraries' state in one run: each finds its own.
struct count_a final : faultscope::run_extension {
  int n = 0;
};
struct count_b final : faultscope::run_extension {
  int n = 0;
};

TEST(Run, EachExtensionTypeHasItsOwnInstance) {
  int a = 0, b = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    ++ctx.extension<count_a>().n;
    ++ctx.extension<count_b>().n;
    ++ctx.extension<count_a>().n;
    a = ctx.extension<count_a>().n;
    b = ctx.extension<count_b>().n;
    co_return;
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 1);
}

// A thread of an extension that goes on using the run after it ended (a call
// that ignored its interrupt).
struct late_thread final : faultscope::run_extension {
  std::atomic<bool> done{false};
  [[nodiscard]] bool still_in_use() const noexcept override { return !done; }
};

TEST(Run, AnExtensionStillInUseKeepsTheRunsStateForItsThread) {
  std::atomic<bool> go{false};
  std::thread late;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto* ext = &ctx.extension<late_thread>();
    auto* tracker = &ctx.tracker();
    late = std::thread([ext, tracker, &go] {
      while (!go) std::this_thread::sleep_for(1ms);
      tracker->release(tracker->acquire("late"));  // freed, this was a use after free
      ext->done = true;
    });
    co_return;
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  go = true;
  late.join();
}

// --- run_options::check_fds -------------------------------------------------

// A C-style wrapper, as a vendor library might have: the descriptor is closed
// only when the write point passes. `leaked` gets it, for the test to close.
awaitable<void> write_through_pipe(int& leaked) {
  leaked = ft::pipe_write_end();
  co_await faultscope::fault_point("legacy.write");
  ::close(leaked);
  leaked = -1;
}

awaitable<void> keep_a_pipe_open(int& leaked) {
  leaked = ft::pipe_write_end();
  co_return;
}

TEST(Run, CanaryADescriptorLeftOpenIsALeakWhenCheckFdsIsOn) {
  int leaked = -1;
  auto r =
      faultscope::run([&](run_context&) { return keep_a_pipe_open(leaked); }, {.check_fds = true});
  ASSERT_GE(leaked, 0);
  ::close(leaked);
  EXPECT_THAT(r, HasViolation(violation_kind::leak));
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_THAT(r.violations[0].message,
              StartsWith("leak: file descriptor " + std::to_string(leaked) + " (pipe:["));
  EXPECT_THAT(r.violations[0].message, EndsWith("]) opened during the run, never closed"));
}

// A descriptor the run left open that, within the grace, another thread
// closed and opened another file as (dup2 does both at once) is not the
// run's any more.
TEST(Run, ADescriptorThatNamesAnotherFileWithinTheGraceIsNotTheRuns) {
  int leaked = -1;
  std::atomic<bool> reused = false;
  std::jthread other;
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        leaked = ft::pipe_write_end();
        // After the run has ended and its descriptors were listed, well
        // within the grace.
        other = std::jthread([&reused, fd = leaked] {
          std::this_thread::sleep_for(500ms);
          const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          reused = ::dup2(null, fd) == fd;
          ::close(null);
        });
        co_return;
      },
      {.check_fds = true, .fd_grace = 10s});
  other.join();
  ASSERT_GE(leaked, 0);
  ::close(leaked);
  ASSERT_TRUE(reused);
  EXPECT_TRUE(r.passed()) << r.describe();
}

// A file's name may hold a line break; the report's line may not.
TEST(Run, CanaryALeakedDescriptorsTargetIsReportedOnOneLine) {
  const std::string path = ::testing::TempDir() + "faultscope_fd\nleak";
  int leaked = -1;
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        leaked = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
        co_return;
      },
      {.check_fds = true, .fd_grace = 0ms});
  ASSERT_GE(leaked, 0);
  ::close(leaked);
  ::unlink(path.c_str());
  ASSERT_THAT(r, HasViolation(violation_kind::leak));
  EXPECT_THAT(r.violations[0].message, HasSubstr("faultscope_fd\\x0aleak)"));
  EXPECT_EQ(r.violations[0].message.find('\n'), std::string::npos);
}

TEST(Run, ADescriptorLeftOpenIsNotCheckedUnlessAskedFor) {
  int leaked = -1;
  auto r = faultscope::run([&](run_context&) { return keep_a_pipe_open(leaked); });
  ASSERT_GE(leaked, 0);
  ::close(leaked);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Run, CheckFdsPassesARunThatClosesWhatItOpensAndUsesAsiosOwn) {
  int leaked = -1;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        // A real timer makes Asio open its reactor's descriptors in the run.
        boost::asio::steady_timer t(ctx.executor(), 1ms);
        co_await t.async_wait(use_awaitable);
        co_await write_through_pipe(leaked);
      },
      {.check_fds = true});
  EXPECT_EQ(leaked, -1);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Run, CheckFdsLooksAfterTheFramesAreDestroyed) {
  // A detached coroutine holds a socket while it waits forever: not
  // quiescent, but destroying its frame closes the socket, so no leak.
  auto r = faultscope::run(
      [](run_context& ctx) -> awaitable<void> {
        auto holder = [](boost::asio::any_io_executor ex) -> awaitable<void> {
          boost::asio::local::stream_protocol::socket a(ex), b(ex);
          boost::asio::local::connect_pair(a, b);
          faultscope::timer forever(ex, 24h);
          co_await forever.async_wait(use_awaitable);
        };
        boost::asio::co_spawn(ctx.executor(), holder(ctx.executor()), boost::asio::detached);
        co_return;
      },
      {.check_fds = true});
  EXPECT_THAT(r, HasViolation(violation_kind::not_quiescent));
  EXPECT_THAT(r, Not(HasViolation(violation_kind::leak))) << r.describe();
}

TEST(Run, CheckFdsReportsTheDescriptorAFaultPathLeaks) {
  int leaked = -1;
  faultscope::run_options o{.check_fds = true};
  o.plan = faultscope::fault_plan::parse("legacy.write#1=throw");
  auto r = faultscope::run([&](run_context&) { return write_through_pipe(leaked); }, o);
  ASSERT_GE(leaked, 0);
  ::close(leaked);
  EXPECT_EQ(r.end, run_end::exception);
  EXPECT_THAT(r, HasViolation(violation_kind::leak));
  EXPECT_THAT(r.describe(), HasSubstr("file descriptor " + std::to_string(leaked) + " (pipe:["));
}

TEST(Run, IgnoreFdLeavesOutTheDescriptorsItNames) {
  int pipe_end = -1;
  int file = -1;
  faultscope::run_options o{.check_fds = true};
  o.ignore_fd = [](std::string_view target) {
    return target.starts_with("pipe:");
  };
  auto r = faultscope::run(
      [&](run_context&) -> awaitable<void> {
        pipe_end = ft::pipe_write_end();
        file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        co_return;
      },
      o);
  ::close(pipe_end);
  ::close(file);
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_EQ(r.violations[0].message, "leak: file descriptor " + std::to_string(file) +
                                         " (/dev/null) opened during the run, never closed");
}

TEST(Run, AnIgnoreFdThatThrowsIsReportedAndTheDescriptorToo) {
  int leaked = -1;
  faultscope::run_options o{.check_fds = true};
  o.ignore_fd = [](std::string_view) -> bool {
    throw std::runtime_error("no pattern");
  };
  auto r = faultscope::run([&](run_context&) { return keep_a_pipe_open(leaked); }, o);
  ::close(leaked);
  EXPECT_THAT(r, HasViolation(violation_kind::leak));
  EXPECT_THAT(r.describe(),
              HasSubstr("invariant: run_options::ignore_fd threw on file descriptor " +
                        std::to_string(leaked) + " (pipe:["));
  EXPECT_THAT(r.describe(), HasSubstr("]): no pattern"));
}

// A test server on a thread of its own, as a client's tests often have: it
// accepts one connection, greets it with one byte, and then either holds it
// until let_go() or closes it a little after the client closes its end.
class test_server {
 public:
  enum mode { hold, close_after_client };

  explicit test_server(mode m) : mode_(m) {
    thread_ = std::thread([this] { serve(); });
  }
  ~test_server() {
    let_go();
    // Ends an accept still waiting, had the client never connected.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }

  [[nodiscard]] tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

  void let_go() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  void serve() {
    boost::system::error_code ec;
    tcp::socket s = acceptor_.accept(ec);
    if (ec) return;
    boost::asio::write(s, boost::asio::buffer("!", 1), ec);
    if (mode_ == hold) {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return released_; });
    } else {
      char c;
      while (!ec) s.read_some(boost::asio::buffer(&c, 1), ec);
      std::this_thread::sleep_for(20ms);  // past the end of the run that connected
    }
  }

  mode mode_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_{io_, {boost::asio::ip::address_v4::loopback(), 0}};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  std::thread thread_;
};

// Leaves out the server's side of its connections ("tcp 127.0.0.1:PORT ->
// …"); the client's socket, were it leaked, is "tcp 127.0.0.1:… ->
// 127.0.0.1:PORT", and still reported.
std::function<bool(std::string_view)> ignoring_servers_side(tcp::endpoint server) {
  return [side = fmt::format("tcp 127.0.0.1:{} -> ", server.port())](std::string_view target) {
    return target.find(side) != std::string_view::npos;
  };
}

// The client under test: connects, reads the greeting (so the server has
// accepted by then), and closes its socket as it goes.
awaitable<void> greeted_client(run_context& ctx, tcp::endpoint server) {
  tcp::socket s(ctx.executor());
  co_await s.async_connect(server, use_awaitable);
  char c;
  co_await boost::asio::async_read(s, boost::asio::buffer(&c, 1), use_awaitable);
}

TEST(Run, CanaryWithoutGraceAServersSideOfTheConnectionIsTheRuns) {
  test_server server(test_server::hold);
  const auto at = server.endpoint();
  auto r = faultscope::run([at](run_context& ctx) { return greeted_client(ctx, at); },
                           {.check_fds = true, .fd_grace = 0ms});
  server.let_go();
  ASSERT_EQ(r.violations.size(), 1u) << r.describe();
  EXPECT_THAT(r.violations[0].message, HasSubstr(fmt::format(", tcp 127.0.0.1:{} -> ", at.port())));
}

TEST(Run, IgnoreFdLeavesOutAServersSideButNotTheClients) {
  test_server server(test_server::hold);
  const auto at = server.endpoint();
  // Ignored, it is not waited for either: each run would cost the grace.
  faultscope::run_options o{.check_fds = true, .fd_grace = 60s};
  o.ignore_fd = ignoring_servers_side(at);
  const auto start = std::chrono::steady_clock::now();
  auto r = faultscope::run([at](run_context& ctx) { return greeted_client(ctx, at); }, o);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_TRUE(r.passed()) << r.describe();

  o.fd_grace = 50ms;
  test_server second(test_server::hold);
  int kept = -1;
  const auto leaky = [&kept, to = second.endpoint()](run_context& ctx) -> awaitable<void> {
    tcp::socket s(ctx.executor());
    co_await s.async_connect(to, use_awaitable);
    kept = s.release();  // as a vendor client might, and never closes it
  };
  o.ignore_fd = ignoring_servers_side(second.endpoint());
  auto leaked = faultscope::run(leaky, o);
  ::close(kept);
  ASSERT_EQ(leaked.violations.size(), 1u) << leaked.describe();
  EXPECT_THAT(leaked.violations[0].message,
              EndsWith(fmt::format("-> 127.0.0.1:{}) opened during the run, never closed",
                                   second.endpoint().port())));
}

TEST(Run, FdGraceWaitsForAnotherThreadToCloseItsSide) {
  test_server server(test_server::close_after_client);
  const auto at = server.endpoint();
  // Generous: the server closes 20 ms after the client, and a loaded machine
  // may take longer; a run waits only until it has.
  auto r = faultscope::run([at](run_context& ctx) { return greeted_client(ctx, at); },
                           {.check_fds = true, .fd_grace = 10s});
  EXPECT_TRUE(r.passed()) << r.describe();
}

}  // namespace
