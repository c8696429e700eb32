// The fake byte stream.
#include "faultscope/fakes/stream.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "faultscope/exit_stack.hpp"
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

namespace {

using ends = std::pair<fakes::stream, fakes::stream>;

// Both ends are closed by an exit stack: a close that fails or hangs does not
// stop the other from being closed.
awaitable<void> request_response(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await faultscope::with_timeout(
      1s, faultscope::with_exit_stack([&t](faultscope::async_exit_stack& stack) -> awaitable<void> {
        ends& e = co_await stack.enter([&t] { return fakes::stream::connect_pair(t, "api"); },
                                       [](ends&) -> awaitable<void> { co_return; });
        stack.push([&e] { return e.second.close(); });
        stack.push([&e] { return e.first.close(); });
        co_await e.first.write("ping");
        auto got = co_await e.second.read();
        co_await e.second.write(got == "ping" ? "pong" : "?");
        (void)co_await e.first.read();
      }));
}

TEST(Stream, CorrectUseNeverLeaksUnderAnyDepthOneFault) {
  ft::expect_fake_never_leaks(faultscope::explore("stream", request_response, ft::all_kinds()));
}

TEST(Stream, PeerCloseGivesEndOfFile) {
  std::string first;
  bool eof = false;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    auto serve = [&](fakes::stream s) -> awaitable<void> {
      first = co_await s.read();
      try {
        co_await s.read();
      } catch (const boost::system::system_error& e) {
        eof = e.code() == boost::asio::error::eof;
      }
      co_await s.close();
    };
    boost::asio::co_spawn(ctx.executor(), serve(server), boost::asio::detached);
    co_await client.write("hello");
    co_await faultscope::sleep_for(5ms);
    co_await client.close();
    co_await faultscope::sleep_for(5ms);
  });
  EXPECT_EQ(first, "hello");
  EXPECT_TRUE(eof);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Stream, ReadWithNoWriterIsAHangNamingIt) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    (void)client;
    co_await server.read();
  });
  EXPECT_EQ(r.end, faultscope::run_end::hung);
  EXPECT_THAT(r.describe(), ::testing::HasSubstr("stream.read waiting for the peer"));
  EXPECT_THAT(r, HasViolation(violation_kind::leak)) << "both ends were stranded";
}

awaitable<void> closes_only_one_end_on_error(run_context& ctx) {
  auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker(), "api");
  std::exception_ptr error;
  try {
    co_await client.write("ping");
  } catch (...) {
    error = std::current_exception();
  }
  co_await client.close();
  if (error) std::rethrow_exception(error);  // the server end is forgotten
  co_await server.close();
}

TEST(Stream, CanaryForgottenEndIsReported) {
  auto ex = faultscope::explore("one_end", closes_only_one_end_on_error);
  EXPECT_TRUE(ft::any_failure_has(ex, violation_kind::leak)) << ex.summary();
  EXPECT_THAT(ex.summary(), ::testing::HasSubstr("\"api:server\""));
}

awaitable<void> close_only_on_success(run_context& ctx) {
  auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker(), "api");
  co_await client.write("ping");
  co_await client.close();
  co_await server.close();
}

TEST(Stream, CanaryCloseOnlyOnSuccessIsCaughtUnderThrowCancelAndTimeout) {
  ft::expect_misuse_caught_under_every_kind("stream", close_only_on_success);
}

TEST(Stream, CanaryDoubleCloseIsReported) {
  auto r = faultscope::run([](run_context& ctx) -> awaitable<void> {
    auto [a, b] = co_await fakes::stream::connect_pair(ctx.tracker());
    co_await a.close();
    co_await a.close();
    co_await b.close();
  });
  EXPECT_THAT(r, HasViolation(violation_kind::double_release));
}

}  // namespace
