// Asio handler tracking (FAULTSCOPE_ASIO_TRACKING=ON; this binary exists only in
// such a build): a run names the Asio operations it leaves pending or hangs on,
// and only those of its own context that never completed.
#include "faultscope/detail/asio_ops.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include "faultscope/run.hpp"
#include "faultscope/testing/gtest.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::awaitable;
using asio::use_awaitable;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
using faultscope::testing::HasNoViolations;
using faultscope::testing::HasViolation;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

using channel = asio::experimental::channel<void(boost::system::error_code, int)>;
constexpr const char* here = "tests/framework/asio_ops_test.cpp:";

std::string at(int line) {
  return here + std::to_string(line);
}

std::vector<std::string> messages(const faultscope::run_result& r) {
  std::vector<std::string> out;
  for (const auto& v : r.violations) out.push_back(v.message);
  return out;
}

TEST(AsioOps, BuiltWithTracking) {
  EXPECT_TRUE(faultscope::detail::asio_op_watch::enabled);
}

// The canary: a consumer left waiting on a channel nobody sends to.
TEST(AsioOps, CanaryReceiveLeftPendingIsNamedWithItsLine) {
  int line = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto ch = std::make_shared<channel>(ctx.executor());
    auto consume = [ch, &line]() -> awaitable<void> {
      line = __LINE__ + 1;
      co_await ch->async_receive(asio::use_awaitable_t<>{});
    };
    asio::co_spawn(ctx.executor(), consume, asio::detached);
    co_return;
  });
  ASSERT_THAT(r, HasViolation(violation_kind::not_quiescent));
  EXPECT_THAT(messages(r), ElementsAre("not quiescent: Asio channel async_receive at " + at(line) +
                                       " still pending after the root coroutine ended"));
}

// The global `use_awaitable` records no line; the operation is still named,
// and identical ones are counted rather than repeated.
TEST(AsioOps, OperationsWithoutALineAreNamedAndCounted) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto ch = std::make_shared<channel>(ctx.executor());
    auto timer = std::make_shared<asio::steady_timer>(ctx.executor(), 1h);
    auto consume = [ch]() -> awaitable<void> {
      co_await ch->async_receive(use_awaitable);
    };
    asio::co_spawn(ctx.executor(), consume, asio::detached);
    asio::co_spawn(ctx.executor(), consume, asio::detached);
    timer->async_wait([timer](boost::system::error_code) {});
    co_return;
  });
  EXPECT_THAT(messages(r),
              ElementsAre("not quiescent: Asio channel async_receive (×2) still pending after "
                          "the root coroutine ended",
                          "not quiescent: Asio timer async_wait still pending after the root "
                          "coroutine ended"));
}

// A hang on real I/O names the read, the composed operation that started it
// and the caller's line.
TEST(AsioOps, CanaryHangNamesTheReadItWaitsFor) {
  int line = 0;
  auto r = faultscope::run(
      [&](run_context& ctx) -> awaitable<void> {
        asio::ip::tcp::acceptor acceptor(ctx.executor(), {asio::ip::address_v4::loopback(), 0});
        asio::ip::tcp::socket client(ctx.executor());
        co_await client.async_connect(acceptor.local_endpoint(), use_awaitable);
        auto server = co_await acceptor.async_accept(use_awaitable);  // never writes
        std::string reply;
        line = __LINE__ + 2;  // the token's line
        co_await asio::async_read_until(client, asio::dynamic_buffer(reply), '\n',
                                        asio::use_awaitable_t<>{});
      },
      {.foreign_grace = 20ms});
  EXPECT_EQ(r.end, run_end::hung);
  ASSERT_THAT(r, HasViolation(violation_kind::hang));
  EXPECT_THAT(r.violations[0].message,
              HasSubstr("; pending: Asio socket async_receive (async_read_until) at " + at(line)));
}

// What completed — a send and its receive, a real timer, a receive ended by
// closing its channel — is not pending.
TEST(AsioOps, CompletedOperationsAreNotReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    channel ch(ctx.executor(), 1);
    co_await ch.async_send(boost::system::error_code{}, 1, use_awaitable);
    EXPECT_EQ(co_await ch.async_receive(use_awaitable), 1);
    asio::steady_timer timer(ctx.executor(), 1ms);
    co_await timer.async_wait(use_awaitable);
    auto closed = std::make_shared<channel>(ctx.executor());
    auto consume = [closed]() -> awaitable<void> {
      boost::system::error_code ec;
      co_await closed->async_receive(asio::redirect_error(use_awaitable, ec));
    };
    asio::co_spawn(ctx.executor(), consume, asio::detached);
    co_await asio::post(ctx.executor(), use_awaitable);
    closed->close();
  });
  EXPECT_THAT(r, HasNoViolations());
}

// An operation on another context (here an io_context nobody runs) is not the
// run's to report, though the run's coroutine started it.
TEST(AsioOps, OperationsOfOtherContextsAreNotTheRuns) {
  asio::io_context other;
  asio::steady_timer elsewhere(other, 1h);
  auto r = faultscope::run([&](run_context&) -> awaitable<void> {
    elsewhere.async_wait([](boost::system::error_code) {});
    co_return;
  });
  EXPECT_THAT(r, HasNoViolations());
}

// Runs on several threads at once each name only their own operations.
TEST(AsioOps, ConcurrentRunsNameOnlyTheirOwn) {
  auto leave = [](int id) {
    return [id](run_context& ctx) -> awaitable<void> {
      auto ch = std::make_shared<channel>(ctx.executor());
      auto timer = std::make_shared<asio::steady_timer>(ctx.executor(), 1h);
      for (int i = 0; i < 50; ++i) {  // completed ones, created and erased meanwhile
        asio::steady_timer t(ctx.executor(), 0ms);
        co_await t.async_wait(use_awaitable);
      }
      if (id == 0)
        timer->async_wait([timer](boost::system::error_code) {});
      else
        ch->async_receive([ch](boost::system::error_code, int) {});
    };
  };
  faultscope::run_result results[2];
  {
    std::jthread a([&] { results[0] = faultscope::run(leave(0), {.foreign_grace = 20ms}); });
    std::jthread b([&] { results[1] = faultscope::run(leave(1), {.foreign_grace = 20ms}); });
  }
  EXPECT_THAT(messages(results[0]),
              ElementsAre("not quiescent: Asio timer async_wait still pending after the root "
                          "coroutine ended"));
  EXPECT_THAT(messages(results[1]),
              ElementsAre("not quiescent: Asio channel async_receive still pending after the "
                          "root coroutine ended"));
}

}  // namespace
