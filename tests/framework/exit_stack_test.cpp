// async_exit_stack: reverse order, every release attempted, first error rethrown.
#include "faultscope/exit_stack.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faultscope/run.hpp"
#include "support/test_resource.hpp"

namespace ft = faultscope::test;
using namespace std::chrono_literals;
using boost::asio::awaitable;
using faultscope::async_exit_stack;
using faultscope::run_context;
using faultscope::run_end;
using faultscope::violation_kind;
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

}  // namespace
