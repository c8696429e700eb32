// The fake byte stream.
#include "faultscope/fakes/stream.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "faultscope/exit_stack.hpp"
#include "faultscope/run.hpp"
#include "faultscope/virtual_time.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/fake_checks.hpp"

namespace fakes = faultscope::fakes;
namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::fault;
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

TEST(Stream, CanaryDoubleCloseIsReportedAtBothCloses) {
  std::uint32_t first = 0, second = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [a, b] = co_await fakes::stream::connect_pair(ctx.tracker());
    first = __LINE__ + 1;
    co_await a.close();
    second = __LINE__ + 1;
    co_await a.close();
    co_await b.close();
  });
  ft::expect_misuse_at(r, violation_kind::double_release, "stream #1 \"stream:client\"",
                       "released again", "tests/fakes/stream_test.cpp", second, first);
}

TEST(Stream, CanaryReadAndWriteAfterCloseAreReportedAtTheCallersLines) {
  for (bool write : {false, true}) {
    std::uint32_t closed = 0, used = 0;
    auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      auto [a, b] = co_await fakes::stream::connect_pair(ctx.tracker());
      co_await b.write("hello");
      closed = __LINE__ + 1;
      co_await a.close();
      if (write) {
        used = __LINE__ + 1;
        co_await a.write("late");
      } else {
        used = __LINE__ + 1;
        co_await a.read();
      }
      co_await b.close();
    });
    SCOPED_TRACE(write ? "write" : "read");
    ft::expect_misuse_at(r, violation_kind::use_after_release, "stream #1 \"stream:client\"",
                         "used", "tests/fakes/stream_test.cpp", used, closed);
  }
}

// --- Asio's AsyncReadStream / AsyncWriteStream -------------------------------

namespace asio = boost::asio;
using asio::use_awaitable;

TEST(StreamAsAsio, ComposedOperationsOfAsioRunOverTheFake) {
  std::string line, word;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    co_await asio::async_write(client, asio::buffer(std::string_view("hello\nworld!")),
                               use_awaitable);
    std::string in;
    std::size_t n =
        co_await asio::async_read_until(server, asio::dynamic_buffer(in), '\n', use_awaitable);
    line = in.substr(0, n);
    in.erase(0, n);
    word.resize(6);
    std::size_t already = asio::buffer_copy(asio::buffer(word), asio::buffer(in));
    co_await asio::async_read(server, asio::buffer(word.data() + already, 6 - already),
                              use_awaitable);
    co_await client.close();
    co_await server.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.end, faultscope::run_end::ok) << r.error_message;
  EXPECT_EQ(line, "hello\n");
  EXPECT_EQ(word, "world!");
}

TEST(StreamAsAsio, AReadAfterThePeerClosedCompletesWithEof) {
  boost::system::error_code ec;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    co_await client.close();
    char buf[4];
    std::tie(ec, std::ignore) =
        co_await server.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
    co_await server.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(ec, asio::error::eof);
}

// Writing to an end whose peer closed fails as a socket's write would.
TEST(StreamAsAsio, AWriteAfterThePeerClosedCompletesWithBrokenPipe) {
  boost::system::error_code ec;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    co_await server.close();
    std::tie(ec, std::ignore) =
        co_await client.async_write_some(asio::buffer("x", 1), asio::as_tuple(use_awaitable));
    co_await client.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(ec, asio::error::broken_pipe);
}

// Asio's rule for a write of nothing, as for a read into no space: it
// completes at once with nothing, and is no operation: no fault point, no
// error even towards a closed peer.
TEST(StreamAsAsio, AWriteOfNothingCompletesAtOnce) {
  std::size_t n = 99;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    co_await server.close();
    n = co_await client.async_write_some(asio::const_buffer(), use_awaitable);
    co_await client.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(n, 0u);
  for (const auto& hit : r.trace) EXPECT_NE(hit.point, "stream.write");
}

// A fault at the point completes the operation with an error code, as a socket's would.
TEST(StreamAsAsio, AFaultCompletesTheOperationWithItsCode) {
  for (auto [plan, want] :
       {std::pair{"stream.read#1=error(connection_reset)",
                  boost::system::error_code(asio::error::connection_reset)},
        std::pair{"stream.read#1=throw", make_error_code(boost::system::errc::io_error)}}) {
    boost::system::error_code ec;
    auto r = faultscope::run(
        [&](run_context& ctx) -> awaitable<void> {
          auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
          co_await client.write("x");
          char buf[4];
          std::tie(ec, std::ignore) =
              co_await server.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
          co_await client.close();
          co_await server.close();
        },
        {.plan = faultscope::fault_plan::parse(plan)});
    EXPECT_TRUE(r.passed()) << plan << ": " << r.describe();
    EXPECT_EQ(ec, want) << plan;
  }
}

// The handler's cancellation slot reaches the read's wait: a read raced
// against a deadline ends with operation_aborted, and leaves nothing pending.
TEST(StreamAsAsio, APerOperationCancellationAbortsTheReadAndTheStreamStaysUsable) {
  using namespace asio::experimental::awaitable_operators;
  bool timed_out = false;
  std::string later;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
    char buf[8];
    auto read = server.async_read_some(asio::buffer(buf), use_awaitable);
    auto deadline = faultscope::sleep_for(1s);
    auto first = co_await (std::move(read) || std::move(deadline));
    timed_out = first.index() == 1;
    co_await client.write("late");
    std::size_t n = co_await server.async_read_some(asio::buffer(buf), use_awaitable);
    later.assign(buf, n);
    co_await client.close();
    co_await server.close();
  });
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(later, "late");
}

// Beast's HTTP operations, a real library written against the concepts.
TEST(StreamAsAsio, BeastSpeaksHttpOverTheFakeAndSeesItsFaults) {
  namespace http = boost::beast::http;
  for (std::string plan : {"none", "stream.read#2=error(connection_reset)"}) {
    std::string target, body;
    boost::system::error_code ec;
    auto r = faultscope::run(
        [&](run_context& ctx) -> awaitable<void> {
          auto [client, server] = co_await fakes::stream::connect_pair(ctx.tracker());
          auto serve = [&server, &target]() -> awaitable<void> {
            boost::beast::flat_buffer buf;
            http::request<http::string_body> in;
            co_await http::async_read(server, buf, in, use_awaitable);
            target = std::string(in.target());
            http::response<http::string_body> out{http::status::ok, 11};
            out.body() = "ada,grace";
            out.prepare_payload();
            co_await http::async_write(server, out, use_awaitable);
          };
          http::request<http::string_body> req{http::verb::get, "/users", 11};
          req.prepare_payload();
          co_await http::async_write(client, req, use_awaitable);
          co_await serve();
          boost::beast::flat_buffer buf;
          http::response<http::string_body> res;
          std::tie(ec, std::ignore) =
              co_await http::async_read(client, buf, res, asio::as_tuple(use_awaitable));
          body = res.body();
          co_await client.close();
          co_await server.close();
        },
        {.plan = faultscope::fault_plan::parse(plan)});
    EXPECT_TRUE(r.passed()) << plan << ": " << r.describe();
    EXPECT_EQ(target, "/users") << plan;
    if (plan == "none") {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(body, "ada,grace");
    } else {
      EXPECT_EQ(ec, asio::error::connection_reset) << plan;
    }
  }
}

// Third-party code written against Asio's stream concepts, unchanged: it
// opens a tracked session and closes it only when the exchange succeeds.
template <typename AsyncStream>
awaitable<std::string> vendor_ping(AsyncStream& s, faultscope::tracker& t) {
  auto session = t.acquire("session", "ping");
  co_await asio::async_write(s, asio::buffer(std::string_view("ping\n")), use_awaitable);
  std::string reply;
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', use_awaitable);
  t.release(session);
  co_return reply;
}

awaitable<void> drive_vendor_ping(run_context& ctx) {
  auto& t = ctx.tracker();
  auto [client, server] = co_await fakes::stream::connect_pair(t, "api");
  auto echo = [&server]() -> awaitable<void> {
    std::string got;
    co_await asio::async_read_until(server, asio::dynamic_buffer(got), '\n', use_awaitable);
    co_await asio::async_write(server, asio::buffer(got), use_awaitable);
  };
  std::exception_ptr error;
  try {
    using namespace asio::experimental::awaitable_operators;
    auto e = echo();
    auto v = vendor_ping(client, t);
    co_await (std::move(e) && std::move(v));
  } catch (...) {
    error = std::current_exception();
  }
  co_await asio::this_coro::reset_cancellation_state();
  co_await client.close();
  co_await server.close();
  if (error) std::rethrow_exception(error);
}

TEST(StreamAsAsio, CanaryAnExplorationFindsTheLeakOfCodeWrittenAgainstAsioStreams) {
  auto ex = faultscope::explore(
      "vendor.ping", drive_vendor_ping,
      {.kinds = {fault::make_throw(), fault::make_cancel()}, .skip = {"stream.close"}});
  EXPECT_TRUE(ex.clean.passed()) << ex.clean.describe();
  ASSERT_TRUE(ft::any_failure_has(ex, violation_kind::leak)) << ex.summary();
  for (const auto& f : ex.failures)
    for (const auto& v : f.run.violations) {
      EXPECT_EQ(v.kind, violation_kind::leak) << f.plan.to_string() << ": " << v.message;
      EXPECT_THAT(v.message, ::testing::HasSubstr("session #"));
    }
}

}  // namespace
