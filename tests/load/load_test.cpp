// Load: many scopes at once, a million acquire/release pairs from two threads,
// and a depth-2 exploration of a 50-point scenario. Each ends with every
// resource released, and memory stays bounded: with the timeline off the
// tracker keeps only what is live. Peak RSS is printed ("load: …") for
// tools/bench/run.sh and bounded here — memory, never time, is asserted.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_resource.hpp"

using boost::asio::awaitable;
using namespace std::chrono_literals;

namespace {

// Sanitizers multiply time and memory; the shapes stay, the counts shrink.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
// Sanitizers' shadow memory and redzones inflate RSS: the bounds loosen with them.
constexpr long rss_scale = sanitized ? 4 : 1;

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::string(key).size()));
  return -1;
}

// Peak RSS from here on: resets the kernel's high-water mark (clear_refs 5).
struct peak_rss {
  long base_kb;
  peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    base_kb = status_kb("VmRSS:");
  }
  [[nodiscard]] long growth_mb() const { return (status_kb("VmHWM:") - base_kb) / 1024; }
  void report(const char* what) const {
    std::printf("load: %s: peak RSS %ld MB (+%ld MB over the start)\n", what,
                status_kb("VmHWM:") / 1024, growth_mb());
    ::testing::Test::RecordProperty("peak_rss_growth_mb", std::to_string(growth_mb()));
  }
};

TEST(Load, TenThousandConcurrentScopesOnOneContext) {
  constexpr int scopes = 10'000;
  peak_rss rss;
  std::atomic<int> inside{0}, most{0};
  auto r = faultscope::run([&](faultscope::run_context& ctx) -> awaitable<void> {
    auto& t = ctx.tracker();
    auto ex = co_await boost::asio::this_coro::executor;
    std::atomic<int> done{0};
    for (int i = 0; i < scopes; ++i)
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            co_await faultscope::with_resource(
                [&t]() -> awaitable<faultscope::resource_id> {
                  co_return t.acquire("connection", "load");
                },
                [&](faultscope::resource_id&) -> awaitable<void> {
                  most.store(std::max(most.load(), ++inside));
                  co_await faultscope::sleep_for(10ms);  // all are open at once
                  --inside;
                },
                [&t](faultscope::resource_id& id) -> awaitable<void> {
                  t.release(id);
                  co_return;
                });
            ++done;
          },
          boost::asio::detached);
    while (done.load() < scopes) co_await faultscope::sleep_for(1ms);
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.acquired, static_cast<std::uint64_t>(scopes));
  EXPECT_EQ(most.load(), scopes) << "every scope was open at the same time";
  rss.report("10,000 concurrent scopes");
  EXPECT_LT(rss.growth_mb(), 128 * rss_scale);  // 49 MB measured; a quadratic path took 708
}

TEST(Load, AMillionPairsFromATwoThreadContext) {
  const long pairs = sanitized ? 100'000 : 1'000'000;
  constexpr int tasks = 1'000;
  peak_rss rss;
  faultscope::tracker t(faultscope::tracker::options{.record_timeline = false});
  boost::asio::io_context io(2);
  for (int k = 0; k < tasks; ++k)
    boost::asio::co_spawn(
        io,
        [&t, per = pairs / tasks]() -> awaitable<void> {
          for (long i = 0; i < per; ++i) {
            auto id = t.acquire("buffer", "load");
            t.touch(id);
            t.release(id);
            if (i % 64 == 0) co_await boost::asio::post(boost::asio::use_awaitable);
          }
        },
        boost::asio::detached);
  std::thread other([&io] { io.run(); });
  io.run();
  other.join();
  EXPECT_EQ(t.acquired_count(), static_cast<std::uint64_t>(pairs));
  EXPECT_EQ(t.released_count(), static_cast<std::uint64_t>(pairs));
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_TRUE(t.balanced());
  rss.report(sanitized ? "100,000 pairs, 2 threads (sanitized build)"
                       : "1,000,000 pairs, 2 threads");
  // What stays is bounded by what is live, not by what was ever acquired.
  EXPECT_LT(rss.growth_mb(), 32 * rss_scale);
}

// 50 fault points in a row; each failure is absorbed so the run goes on, and a
// depth-2 schedule therefore meets every later point.
awaitable<void> fifty_points(faultscope::run_context& ctx) {
  auto& t = ctx.tracker();
  for (int i = 0; i < 50; ++i) {
    try {
      co_await faultscope::with_resource(
          [&t]() -> awaitable<faultscope::resource_id> { co_return t.acquire("step", "load"); },
          [](faultscope::resource_id&) -> awaitable<void> {
            co_await faultscope::fault_point("load.step");
          },
          [&t](faultscope::resource_id& id) -> awaitable<void> {
            t.release(id);
            co_return;
          });
    } catch (const std::exception&) {
      // absorbed: the next step still runs
    }
  }
}

TEST(Load, DepthTwoExplorationOfAFiftyPointScenario) {
  peak_rss rss;
  faultscope::explore_options o;
  o.depth = 2;
  o.kinds = {faultscope::fault::make_throw()};
  o.jobs = 2;
  o.run.record_timeline = false;
  auto report = faultscope::explore("fifty", fifty_points, o);
  EXPECT_TRUE(report.passed()) << report.summary();
  EXPECT_EQ(report.points, 1u);
  EXPECT_EQ(report.hits, 50u);
  // 50 single faults, then for the fault at hit i a second at each later hit.
  EXPECT_EQ(report.total_schedules, 50u + 50u * 49u / 2u);
  std::printf("load: depth-2 exploration of 50 points: %zu schedules in %.0f ms\n",
              report.total_schedules,
              std::chrono::duration<double, std::milli>(report.wall).count());
  rss.report("depth-2 exploration, 50 points");
  EXPECT_LT(rss.growth_mb(), 256 * rss_scale);
}

}  // namespace
