// The scenario library: every built-in passes its whole exploration (leaving
// no file descriptor open), every canary is caught, and the registry behaves.
#include "faultscope/scenarios/library.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faultscope/fault_point.hpp"
#include "faultscope/testing/gtest.hpp"
#include "faultscope/virtual_time.hpp"

using boost::asio::awaitable;
using faultscope::registry;
using faultscope::scenario_info;
using ::testing::HasSubstr;

namespace {

class Builtin : public ::testing::TestWithParam<scenario_info> {};

TEST_P(Builtin, ExploresAsDeclared) {
  const auto& s = GetParam();
  // With the descriptor check too: the SQLite sweeps fail opens, reads and
  // closes, and no path of theirs may leave a file open.
  auto o = s.options;
  o.run.check_fds = true;
  auto ex = faultscope::explore(s.name, s.fn, o);
  EXPECT_GT(ex.schedules_run, 0u) << s.name;
  if (s.has_tag("canary")) {
    EXPECT_FALSE(ex.passed()) << s.name << ": a canary must always be caught";
  } else {
    EXPECT_TRUE(ex.passed()) << ex.summary();
  }
}

INSTANTIATE_TEST_SUITE_P(Library, Builtin, ::testing::ValuesIn(faultscope::scenarios::builtins()),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(Library, CoversTheShapesItPromises) {
  std::vector<std::string> names;
  for (auto& s : faultscope::scenarios::builtins()) names.push_back(s.name);
  for (auto want : {"scope.with_resource", "seed.get_all_users", "scope.nested", "scope.fan_out",
                    "pool.exhaustion", "scope.failing_release", "exit_stack.partial_setup",
                    "canary.naive_cleanup"})
    EXPECT_THAT(names, ::testing::Contains(want));
}

TEST(Library, FanOutCancelsTheSiblingsOfAFailingChild) {
  std::vector<bool> finished(3, false);
  auto s = faultscope::scenarios::fan_out(
      "fan", 3, [&](faultscope::run_context& ctx, std::size_t i) -> awaitable<void> {
        auto id = ctx.tracker().acquire("job");
        try {
          co_await faultscope::sleep_for(i == 0 ? std::chrono::milliseconds(1)
                                                : std::chrono::milliseconds(100));
          if (i == 0) throw std::runtime_error("child 0 failed");
        } catch (...) {
          ctx.tracker().release(id);
          throw;
        }
        ctx.tracker().release(id);
        finished[i] = true;
      });
  auto r = faultscope::run(s.fn);
  EXPECT_EQ(r.error_message, "child 0 failed");
  EXPECT_EQ(r.virtual_elapsed, std::chrono::milliseconds(1)) << "siblings were cancelled";
  EXPECT_FALSE(finished[1]);
  EXPECT_TRUE(r.passed()) << r.describe();
}

TEST(Registry, AddsMatchesAndRejects) {
  registry r;
  auto body = [](faultscope::run_context&) -> awaitable<void> {
    co_return;
  };
  r.add({"db.load", {"db", "slow"}, "", body});
  r.add({"cache.warm", {"cache"}, "", body});
  EXPECT_EQ(r.match("").size(), 2u);
  EXPECT_EQ(r.match("db.*").size(), 1u);
  EXPECT_EQ(r.match("slow").size(), 1u);
  EXPECT_EQ(r.match("nothing").size(), 0u);
  EXPECT_NE(r.find("cache.warm"), nullptr);
  EXPECT_THROW(r.add({"db.load", {}, "", body}), std::invalid_argument);
  EXPECT_THROW(r.add({"", {}, "", body}), std::invalid_argument);
  EXPECT_THROW(r.add({"has@at", {}, "", body}), std::invalid_argument);
  EXPECT_THROW(r.add({"no.body", {}, "", nullptr}), std::invalid_argument);
}

TEST(Registry, BuiltinsRegisterOnce) {
  registry r;
  faultscope::scenarios::register_builtins(r);
  auto n = r.all().size();
  faultscope::scenarios::register_builtins(r);
  EXPECT_EQ(r.all().size(), n);
  EXPECT_EQ(r.match("canary").size(), 5u);
  EXPECT_EQ(r.match("sqlite").size(), 7u);
}

}  // namespace

FAULTSCOPE_SCENARIO(user_registered, "mine, demo") {
  co_await faultscope::fault_point("user.step");
}

TEST(Registry, MacroRegistersAUserScenarioWithTags) {
  auto* s = registry::instance().find("user_registered");
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(s->tags, ::testing::ElementsAre("mine", "demo"));
  EXPECT_THAT(s->where.str(), HasSubstr("tests/scenarios/library_test.cpp"));
  auto ex = faultscope::explore(s->name, s->fn);
  EXPECT_EQ(ex.schedules_run, 2u);
}
