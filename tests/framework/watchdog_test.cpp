// The watchdog: the one hang a run cannot report itself, a call that blocks the
// run's thread, ends the process with a line that names the run.
#include "faultscope/detail/watchdog.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/detail/format.hpp"
#include "faultscope/run.hpp"
#include "support/test_resource.hpp"

namespace detail = faultscope::detail;
namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using clock_type = std::chrono::steady_clock;

namespace {

class Watchdog : public ::testing::Test {
 protected:
  // A death test re-runs the binary for its child, so the child starts its
  // own watchdog thread (fork() would copy this process's without its thread).
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Watchdog, LabelsNestAndUnwind) {
  EXPECT_EQ(detail::current_run_label(), "");
  {
    detail::run_label_scope outer("outer");
    {
      detail::run_label_scope inner("inner");
      EXPECT_EQ(detail::current_run_label(), "inner");
    }
    EXPECT_EQ(detail::current_run_label(), "outer");
  }
  EXPECT_EQ(detail::current_run_label(), "");
}

TEST_F(Watchdog, ARunGoneBeforeItsDeadlineIsForgotten) {
  {
    const faultscope::fault_plan none;
    detail::watched_run quick(none, clock_type::now(), clock_type::now() + 50ms);
  }
  std::this_thread::sleep_for(150ms);  // the process is still here to say so
  SUCCEED();
}

TEST_F(Watchdog, CanaryARunPastItsDeadlineEndsTheProcessNamingIt) {
  EXPECT_EXIT(
      {
        detail::run_label_scope named("stuck");
        const auto plan = faultscope::fault_plan::parse("a#1=throw");
        detail::watched_run stuck(plan, clock_type::now(), clock_type::now() + 50ms);
        std::this_thread::sleep_for(30s);
      },
      ::testing::ExitedWithCode(1),
      "faultscope: 'stuck@a#1=throw' has held its thread for [0-9]+ s without getting back to its "
      "event loop");
}

TEST_F(Watchdog, AnUnlabelledRunIsNamedByItsPlan) {
  EXPECT_EXIT(
      {
        const auto plan = faultscope::fault_plan::parse("db.commit#2=cancel");
        detail::watched_run stuck(plan, clock_type::now(), clock_type::now() + 50ms);
        std::this_thread::sleep_for(30s);
      },
      ::testing::ExitedWithCode(1), "faultscope: a run under plan 'db.commit#2=cancel' has held");
}

TEST_F(Watchdog, LastWordsHearWhichRunBlockedAfterTheLineIsOut) {
  EXPECT_EXIT(
      {
        detail::set_last_words([](std::string_view label, const faultscope::fault_plan& plan,
                                  const std::string& line) {
          std::fprintf(stderr, "last words: %s / %s / %s\n", std::string(label).c_str(),
                       plan.to_string().c_str(), line.substr(0, 22).c_str());
        });
        detail::run_label_scope named("Orders.Save");
        const auto plan = faultscope::fault_plan::parse("db.commit#1=throw");
        detail::watched_run stuck(plan, clock_type::now(), clock_type::now() + 50ms);
        std::this_thread::sleep_for(30s);
      },
      ::testing::ExitedWithCode(1),
      "interrupt\nlast words: Orders.Save / db.commit#1=throw / 'Orders.Save@db.commit\n"
      "faultscope: exiting\n");
}

// No destructor runs as the watchdog ends the process: what would outlive it
// (a run's scratch files) is removed by a cleanup, before last words, which
// may start the program again in its place.
TEST_F(Watchdog, ExitCleanupsRunBeforeLastWords) {
  EXPECT_EXIT(
      {
        detail::at_watchdog_exit(+[]() noexcept { std::fputs("cleaned up\n", stderr); });
        detail::set_last_words([](std::string_view, const faultscope::fault_plan&,
                                  const std::string&) { std::fputs("last words\n", stderr); });
        const faultscope::fault_plan none;
        detail::watched_run stuck(none, clock_type::now(), clock_type::now() + 50ms);
        std::this_thread::sleep_for(30s);
      },
      ::testing::ExitedWithCode(1), "has held its thread.*\ncleaned up\nlast words\n");
}

// On a terminal, a runner's progress bar may hold the line when the run
// blocks: the watchdog's line clears it rather than run on after it. What the
// terminal received is shown on the death test's own standard error.
void block_with_a_bar_on_a_terminal() {
  int terminal = -1, stderr_end = -1;
  if (::openpty(&terminal, &stderr_end, nullptr, nullptr, nullptr) != 0) std::_Exit(3);
  const int captured = ::dup(STDERR_FILENO);
  ::dup2(stderr_end, STDERR_FILENO);
  std::fputs("  [####....] 1/2 schedules  orders", stderr);
  std::fflush(stderr);
  detail::set_last_words(
      [terminal, captured](std::string_view, const faultscope::fault_plan&, const std::string&) {
        std::string seen;
        char chunk[256];
        for (ssize_t n = 1; n > 0 && seen.find('\n') == std::string::npos;)
          if ((n = ::read(terminal, chunk, sizeof chunk)) > 0)
            seen.append(chunk, static_cast<std::size_t>(n));
        ::dprintf(captured, "terminal: %s\n", detail::one_line(seen).c_str());
      });
  detail::run_label_scope named("stuck");
  const auto plan = faultscope::fault_plan::parse("a#1=throw");
  detail::watched_run stuck(plan, clock_type::now(), clock_type::now() + 50ms);
  std::this_thread::sleep_for(30s);
}

TEST_F(Watchdog, OnATerminalTheLineClearsWhatTheLineHeld) {
  EXPECT_EXIT(block_with_a_bar_on_a_terminal(), ::testing::ExitedWithCode(1),
              "terminal: .*orders\\\\x0d\\\\x1b\\[Kfaultscope: 'stuck@a#1=throw' has held");
}

// The thread a test binary registers its tests on cannot end the process when
// one body blocks at start-up: the line goes to the scope's function instead,
// and the run, should its thread come back, ends as if never watched.
TEST_F(Watchdog, UnderAnOnBlockScopeTheLineGoesToItsFunctionAndTheProcessLives) {
  std::promise<std::string> heard;
  std::promise<void> let_go;
  std::thread blocked([&] {
    detail::run_label_scope named("Orders.AtStart");
    detail::on_block_scope on_block([&](const std::string& line) { heard.set_value(line); });
    const faultscope::fault_plan none;
    detail::watched_run stuck(none, clock_type::now(), clock_type::now() + 50ms);
    let_go.get_future().wait();
  });
  auto line = heard.get_future();
  ASSERT_EQ(line.wait_for(30s), std::future_status::ready);
  EXPECT_THAT(line.get(), ::testing::StartsWith("'Orders.AtStart@none' has held its thread for "));
  let_go.set_value();
  blocked.join();  // its watched_run, off the watchdog's list, goes quietly
  // Another blocked run after it still ends the process: the scope is gone.
  EXPECT_EXIT(
      {
        detail::run_label_scope named("Orders.Later");
        const faultscope::fault_plan none;
        detail::watched_run stuck(none, clock_type::now(), clock_type::now() + 50ms);
        std::this_thread::sleep_for(30s);
      },
      ::testing::ExitedWithCode(1), "faultscope: 'Orders.Later@none' has held its thread");
}

TEST_F(Watchdog, AnExtendedDeadlineHoldsTheWatchdogOff) {
  EXPECT_EXIT(
      {
        const faultscope::fault_plan none;
        detail::watched_run finishing(none, clock_type::now(), clock_type::now() + 50ms);
        finishing.extend(clock_type::now() + 30s);
        std::this_thread::sleep_for(300ms);
        std::fputs("still here\n", stderr);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "still here");
}

// The classic Asio deadlock: waiting on a future that only the waiting thread
// could fulfil. The run never gets back to its loop, so it cannot report it.
TEST_F(Watchdog, CanaryAScenarioThatBlocksItsThreadEndsTheProcessNamingTheRun) {
  EXPECT_EXIT(
      {
        detail::run_label_scope named("Orders.Deadlock");
        (void)faultscope::run(
            [](run_context& ctx) -> awaitable<void> {
              auto done =
                  boost::asio::co_spawn(ctx.executor(), ft::sleep_for(1s), boost::asio::use_future);
              done.get();  // blocks the only thread that runs the coroutine
              co_return;
            },
            {.wall_limit = 100ms});
      },
      ::testing::ExitedWithCode(1),
      "faultscope: 'Orders.Deadlock@none' has held its thread for [0-9]+ s without getting back to "
      "its event loop: a call in it blocks the thread");
}

}  // namespace
