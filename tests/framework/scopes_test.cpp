// with_resource, async_with and async_exit_stack under every way a scope can end.
// Each case asserts: the resource is released exactly once (or never acquired),
// the original exception arrives unchanged, and the tracker is balanced.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/cancellation_type.hpp>
#include <string>

#include "faultscope/context_manager.hpp"
#include "faultscope/exit_stack.hpp"
#include "faultscope/run.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
using ::testing::HasSubstr;

namespace {

enum class scope_kind { with_resource, async_with, exit_stack, exit_stack_context };

std::string name_of(scope_kind k) {
  switch (k) {
    case scope_kind::with_resource:
      return "with_resource";
    case scope_kind::async_with:
      return "async_with";
    case scope_kind::exit_stack:
      return "exit_stack";
    case scope_kind::exit_stack_context:
      return "exit_stack_context";
  }
  return "?";
}

faultscope::context_manager<ft::handle> connection_manager(faultscope::tracker& t,
                                                           const ft::behaviour& b,
                                                           ft::counters& c) {
  return [&t, &b, &c](faultscope::yield<ft::handle> yield) -> awaitable<void> {
    ft::handle h = co_await ft::acquire(t, b, c);
    co_await yield(h);
    co_await ft::release(t, b, c, h);
  };
}

// One use of a scope of kind `k`, with acquire/body/release behaving as `b`.
awaitable<int> use_scope(scope_kind k, faultscope::tracker& t, const ft::behaviour& b,
                         ft::counters& c) {
  switch (k) {
    case scope_kind::with_resource:
      co_return co_await faultscope::with_resource(
          [&] { return ft::acquire(t, b, c); }, [&](ft::handle& h) { return ft::body(t, b, c, h); },
          [&](ft::handle& h) { return ft::release(t, b, c, h); });
    case scope_kind::async_with:
      co_return co_await faultscope::async_with(
          connection_manager(t, b, c), [&](ft::handle& h) { return ft::body(t, b, c, h); });
    case scope_kind::exit_stack:
      co_return co_await faultscope::with_exit_stack(
          [&](faultscope::async_exit_stack& stack) -> awaitable<int> {
            ft::handle& h =
                co_await stack.enter([&] { return ft::acquire(t, b, c); },
                                     [&](ft::handle& x) { return ft::release(t, b, c, x); });
            co_return co_await ft::body(t, b, c, h);
          });
    case scope_kind::exit_stack_context:
      co_return co_await faultscope::with_exit_stack(
          [&](faultscope::async_exit_stack& stack) -> awaitable<int> {
            ft::handle& h = co_await stack.enter_context(connection_manager(t, b, c));
            co_return co_await ft::body(t, b, c, h);
          });
  }
  co_return -1;
}

struct outcome {
  faultscope::run_result run;
  ft::counters counters;
  int value = 0;
  int error_tag = 0;  // tag of the planted_error that reached the root, 0 if none
};

outcome run_case(scope_kind k, ft::behaviour b, std::function<void(run_context&)> setup = {},
                 std::chrono::nanoseconds timeout = 0ns) {
  outcome o;
  o.run = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    if (setup) setup(ctx);
    try {
      if (timeout > 0ns)
        o.value =
            co_await faultscope::with_timeout(timeout, use_scope(k, ctx.tracker(), b, o.counters));
      else
        o.value = co_await use_scope(k, ctx.tracker(), b, o.counters);
    } catch (const ft::planted_error& e) {
      o.error_tag = e.tag;
      throw;
    }
  });
  return o;
}

void PrintTo(scope_kind k, std::ostream* os) {
  *os << name_of(k);
}

class Scopes : public ::testing::TestWithParam<scope_kind> {};

TEST_P(Scopes, NormalExit) {
  auto o = run_case(GetParam(), {});
  EXPECT_EQ(o.run.end, run_end::ok) << o.run.error_message;
  EXPECT_EQ(o.value, 42);
  EXPECT_EQ(o.counters.acquired, 1);
  EXPECT_EQ(o.counters.released, 1);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
  EXPECT_EQ(o.run.virtual_elapsed, 120ms);
}

TEST_P(Scopes, ThrowInAcquire) {
  auto o = run_case(GetParam(), {.acquire_throws = true});
  EXPECT_EQ(o.run.end, run_end::exception);
  EXPECT_EQ(o.error_tag, 1);
  EXPECT_EQ(o.counters.body_ran, 0);
  EXPECT_EQ(o.counters.released, 0);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
}

TEST_P(Scopes, ThrowInBody) {
  auto o = run_case(GetParam(), {.body_throws = true});
  EXPECT_EQ(o.run.end, run_end::exception);
  EXPECT_EQ(o.error_tag, 2) << "the body's own exception must propagate unchanged";
  EXPECT_EQ(o.run.error_message, "body failed");
  EXPECT_EQ(o.counters.released, 1);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
}

TEST_P(Scopes, ThrowInReleaseIsReportedAndPropagates) {
  auto o = run_case(GetParam(), {.release_throws = true});
  EXPECT_EQ(o.error_tag, 3);
  EXPECT_EQ(o.counters.released, 1);
  ASSERT_EQ(o.run.violations.size(), 1u) << o.run.describe();
  EXPECT_EQ(o.run.violations[0].kind, violation_kind::release_failed);
  EXPECT_THAT(o.run.violations[0].message, HasSubstr("release failed"));
  EXPECT_THAT(o.run.violations[0].message, HasSubstr("scopes_test.cpp"));
  // It points at the scope's line, the one its message names.
  EXPECT_EQ(o.run.violations[0].file, "tests/framework/scopes_test.cpp");
  EXPECT_THAT(o.run.violations[0].message,
              HasSubstr("scopes_test.cpp:" + std::to_string(o.run.violations[0].line) + " "));
}

TEST_P(Scopes, ThrowInBodyAndReleaseKeepsTheBodysException) {
  auto o = run_case(GetParam(), {.body_throws = true, .release_throws = true});
  EXPECT_EQ(o.error_tag, 2);
  EXPECT_EQ(o.counters.released, 1);
  ASSERT_EQ(o.run.violations.size(), 1u) << o.run.describe();
  EXPECT_EQ(o.run.violations[0].kind, violation_kind::release_failed);
}

TEST_P(Scopes, TerminalCancellationDuringBody) {
  auto o = run_case(GetParam(), {}, [](run_context& ctx) { ctx.cancel_after(50ms); });
  EXPECT_EQ(o.run.end, run_end::cancelled) << o.run.error_message;
  EXPECT_EQ(o.counters.released, 1) << "the release must run, shielded, after the cancellation";
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
  // cancelled at 10 + 40 ms into the body, then a 10 ms release
  EXPECT_EQ(o.run.virtual_elapsed, 60ms);
}

TEST_P(Scopes, CancellationDuringAcquire) {
  auto o = run_case(GetParam(), {}, [](run_context& ctx) { ctx.cancel_after(5ms); });
  EXPECT_EQ(o.run.end, run_end::cancelled);
  EXPECT_EQ(o.counters.acquired, 0);
  EXPECT_EQ(o.counters.body_ran, 0);
  EXPECT_EQ(o.counters.released, 0);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
}

TEST_P(Scopes, SecondCancellationDuringReleaseDoesNotInterruptIt) {
  auto o = run_case(GetParam(), {.release_latency = 20ms}, [](run_context& ctx) {
    ctx.cancel_after(50ms);
    ctx.cancel_after(55ms);  // lands while the release is waiting
  });
  EXPECT_EQ(o.run.end, run_end::cancelled);
  EXPECT_EQ(o.counters.released, 1);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
  EXPECT_EQ(o.run.virtual_elapsed, 70ms);
}

TEST_P(Scopes, TimeoutDuringBody) {
  auto o = run_case(GetParam(), {}, {}, 50ms);
  EXPECT_EQ(o.run.end, run_end::exception);
  EXPECT_THAT(o.run.error_message, HasSubstr("timed out"));
  EXPECT_EQ(o.counters.released, 1);
  EXPECT_TRUE(o.run.passed()) << o.run.describe();
  EXPECT_EQ(o.run.virtual_elapsed, 60ms);
}

TEST_P(Scopes, ReleaseOverrunningTheCleanupDeadlineIsReportedNotAHang) {
  auto o = run_case(GetParam(), {.release_latency = 1h});
  EXPECT_EQ(o.counters.released, 0) << "the overrunning release was cancelled";
  bool timeout_reported = false;
  for (auto& v : o.run.violations) {
    // The cancellation that ended the release is how it was timed out, not a
    // failure of its own.
    EXPECT_NE(v.kind, violation_kind::release_failed) << v.message;
    if (v.kind == violation_kind::release_timeout) {
      timeout_reported = true;
      // It points at the scope's line, the one its message names.
      EXPECT_EQ(v.file, "tests/framework/scopes_test.cpp");
      EXPECT_THAT(v.message, HasSubstr("scopes_test.cpp:" + std::to_string(v.line) + " "));
    }
  }
  EXPECT_TRUE(timeout_reported) << o.run.describe();
  EXPECT_NE(o.run.end, run_end::hung);
  EXPECT_EQ(o.run.virtual_elapsed, 110ms + 5s);
}

INSTANTIATE_TEST_SUITE_P(AllScopes, Scopes,
                         ::testing::Values(scope_kind::with_resource, scope_kind::async_with,
                                           scope_kind::exit_stack, scope_kind::exit_stack_context),
                         [](const auto& info) { return name_of(info.param); });

}  // namespace
