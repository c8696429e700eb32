// The fake file system.
#include "faultscope/fakes/file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "faultscope/exit_stack.hpp"
#include "faultscope/run.hpp"
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

awaitable<void> copy_files(run_context& ctx) {
  fakes::filesystem fs(ctx.tracker());
  co_await faultscope::with_timeout(
      1s,
      faultscope::with_exit_stack([&fs](faultscope::async_exit_stack& stack) -> awaitable<void> {
        fakes::file& in = co_await stack.enter([&] { return fs.open("in.txt"); },
                                               [](fakes::file& f) { return f.close(); });
        fakes::file& out = co_await stack.enter([&] { return fs.open("out.txt"); },
                                                [](fakes::file& f) { return f.close(); });
        co_await in.write("hello");
        co_await out.write(co_await in.read());
      }));
}

TEST(File, CorrectUseNeverLeaksUnderAnyDepthOneFault) {
  ft::expect_fake_never_leaks(faultscope::explore("file.copy", copy_files, ft::all_kinds()));
}

TEST(File, WritesAreReadBack) {
  std::string seen;
  std::vector<std::size_t> written;
  std::vector<bool> open;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::filesystem fs(ctx.tracker());
    auto f = co_await fs.open("log");
    open.push_back(f.is_open());
    written.push_back(co_await f.write("a"));
    written.push_back(co_await f.write("bc"));
    seen = co_await f.read();
    co_await f.close();
    open.push_back(f.is_open());
  });
  EXPECT_EQ(seen, "abc");
  EXPECT_EQ(written, (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(open, (std::vector<bool>{true, false}));
  EXPECT_TRUE(r.passed()) << r.describe();
}

awaitable<void> leaks_file_on_error(run_context& ctx) {
  fakes::filesystem fs(ctx.tracker());
  auto f = co_await fs.open("users.csv");
  co_await f.write("ada\n");  // a failure here leaves the file open
  co_await f.close();
}

TEST(File, CanaryFileLeftOpenOnAFailedWriteIsReported) {
  auto ex = faultscope::explore("leaks_file", leaks_file_on_error);
  EXPECT_TRUE(ft::any_failure_has(ex, violation_kind::leak)) << ex.summary();
  EXPECT_THAT(ex.summary(), ::testing::HasSubstr("file #1 \"users.csv\""));
}

TEST(File, CanaryCloseOnlyOnSuccessIsCaughtUnderThrowCancelAndTimeout) {
  ft::expect_misuse_caught_under_every_kind("file", leaks_file_on_error);
}

TEST(File, CanaryDoubleCloseIsReportedAtBothCloses) {
  std::uint32_t first = 0, second = 0;
  auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
    fakes::filesystem fs(ctx.tracker());
    auto f = co_await fs.open("x");
    first = __LINE__ + 1;
    co_await f.close();
    second = __LINE__ + 1;
    co_await f.close();
  });
  EXPECT_THAT(r, HasViolation(violation_kind::double_release));
  ft::expect_misuse_at(r, violation_kind::double_release, "file #1 \"x\"", "released again",
                       "tests/fakes/file_test.cpp", second, first);
}

TEST(File, CanaryReadAndWriteAfterCloseAreReported) {
  for (bool write : {false, true}) {
    std::uint32_t closed = 0, used = 0;
    auto r = faultscope::run([&](run_context& ctx) -> awaitable<void> {
      fakes::filesystem fs(ctx.tracker());
      auto f = co_await fs.open("x");
      closed = __LINE__ + 1;
      co_await f.close();
      if (write) {
        used = __LINE__ + 1;
        co_await f.write("late");
      } else {
        used = __LINE__ + 1;
        co_await f.read();
      }
    });
    SCOPED_TRACE(write ? "write" : "read");
    ft::expect_misuse_at(r, violation_kind::use_after_release, "file #1 \"x\"", "used",
                         "tests/fakes/file_test.cpp", used, closed);
  }
}

}  // namespace
