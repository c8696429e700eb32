#include "faultscope/tracker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "faultscope/scope.hpp"

using faultscope::tracker;
using faultscope::violation_kind;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Tracker, BalancedAcquireReleaseHasNoViolations) {
  tracker t;
  auto a = t.acquire("connection", "db");
  auto b = t.acquire("file", "users.csv");
  t.touch(a);
  t.release(b);
  t.release(a);
  EXPECT_TRUE(t.check().empty());
  EXPECT_TRUE(t.balanced());
  EXPECT_EQ(t.acquired_count(), 2u);
  EXPECT_EQ(t.released_count(), 2u);
}

TEST(Tracker, CanaryLeakIsReportedWithSiteAndScopePath) {
  tracker t;
  faultscope::resource_id id;
  int line;
  {
    faultscope::scope outer{"get_all_users"};
    faultscope::scope inner{"get_connection"};
    line = __LINE__ + 1;
    id = t.acquire("connection", "db");
  }
  auto v = t.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].kind, violation_kind::leak);
  EXPECT_EQ(v[0].resource, id);
  EXPECT_THAT(v[0].message,
              HasSubstr("leak: connection #1 \"db\" acquired at tests/framework/tracker_test.cpp:" +
                        std::to_string(line)));
  // The acquiring function closes the path.
  EXPECT_THAT(v[0].message, HasSubstr("in get_all_users › get_connection › TestBody"));
  EXPECT_THAT(v[0].message, HasSubstr("never released"));
  // The line an editor or a CI annotation points at: the acquisition.
  EXPECT_EQ(v[0].file, "tests/framework/tracker_test.cpp");
  EXPECT_EQ(v[0].line, static_cast<std::uint32_t>(line));
  EXPECT_FALSE(t.balanced());
}

TEST(Tracker, CanaryDoubleReleaseNamesBothReleases) {
  tracker t;
  auto id = t.acquire("connection");
  t.release(id);
  const auto line = static_cast<std::uint32_t>(__LINE__ + 1);
  t.release(id);
  auto v = t.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].kind, violation_kind::double_release);
  EXPECT_EQ(v[0].line, line) << "it points at the second release";
  EXPECT_EQ(v[0].file, "tests/framework/tracker_test.cpp");
  EXPECT_THAT(v[0].message,
              HasSubstr("connection #1 released again at tests/framework/tracker_test.cpp:"));
  EXPECT_THAT(v[0].message, HasSubstr("(released at tests/framework/tracker_test.cpp:"));
}

// Without the timeline the tracker forgets a resource once released, so the
// report can give only its id.
TEST(Tracker, CanaryDoubleReleaseWithoutTheTimelineGivesTheId) {
  tracker t(tracker::options{.record_timeline = false});
  auto id = t.acquire("connection", "db");
  t.release(id);
  t.release(id);
  auto v = t.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].kind, violation_kind::double_release);
  EXPECT_THAT(v[0].message, HasSubstr("double release: resource #1 released again at "));
  EXPECT_THAT(v[0].message, Not(HasSubstr("(released at")));
}

// Id 0 (a handle never given an id) and the next id to be handed out were
// never acquired, however many ids were: neither is a double release.
TEST(Tracker, CanaryUnknownRelease) {
  tracker t;
  t.release(t.acquire("connection"));
  t.release(42);
  t.release(0);
  t.release(2);
  auto v = t.check();
  ASSERT_EQ(v.size(), 3u);
  for (const auto& x : v) {
    EXPECT_EQ(x.kind, violation_kind::unknown_release) << x.message;
    EXPECT_THAT(x.message, HasSubstr("never acquired"));
  }
  EXPECT_THAT(v[0].message, HasSubstr("release of resource #42 at "));
  EXPECT_THAT(v[1].message, HasSubstr("release of resource #0 at "));
  EXPECT_THAT(v[2].message, HasSubstr("release of resource #2 at "));
}

TEST(Tracker, CanaryUseAfterRelease) {
  tracker t;
  auto id = t.acquire("file", "log");
  t.release(id);
  t.touch(id);
  auto v = t.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].kind, violation_kind::use_after_release);
  EXPECT_THAT(v[0].message, HasSubstr("use after release: file #1 \"log\" used at "));
  EXPECT_THAT(v[0].message, HasSubstr("after its release (released at "));
}

TEST(Tracker, BaselineIgnoresResourcesThatExistedBefore) {
  tracker t;
  auto before = t.acquire("connection", "pooled");
  t.set_baseline();
  EXPECT_TRUE(t.check().empty());
  auto after = t.acquire("connection", "new");
  auto v = t.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].resource, after);
  t.release(before);  // releasing a baseline resource is fine
  t.release(after);
  EXPECT_TRUE(t.check().empty());
  EXPECT_TRUE(t.balanced());
  // The baseline forgot `before` when it was released: a new leak counts.
  const auto leaked = t.acquire("connection", "leaked");
  EXPECT_FALSE(t.balanced());
  ASSERT_EQ(t.check().size(), 1u);
  EXPECT_EQ(t.check()[0].resource, leaked);
}

TEST(Tracker, AReportedViolationUnbalancesATrackerWithNothingLive) {
  tracker t;
  t.report(violation_kind::hang, "no progress");
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_FALSE(t.balanced());
}

// Leaks and live resources come in the order they were acquired, whatever
// order the tracker keeps them in, so two runs report alike.
TEST(Tracker, LeaksAndLiveResourcesAreInAcquisitionOrder) {
  tracker t;
  std::vector<faultscope::resource_id> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(t.acquire("buffer"));
  auto v = t.check();
  ASSERT_EQ(v.size(), ids.size());
  auto live = t.live_resources();
  ASSERT_EQ(live.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(v[i].resource, ids[i]);
    EXPECT_EQ(live[i].id, ids[i]);
  }
}

TEST(Tracker, ReportedViolationsAreKeptInOrder) {
  tracker t;
  t.report(violation_kind::release_failed, "close of #1 threw: disk full");
  t.report(violation_kind::hang, "no progress");
  auto v = t.violations();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].message, "release failed: close of #1 threw: disk full");
  EXPECT_EQ(v[1].kind, violation_kind::hang);
  EXPECT_EQ(v[1].file, "");
  EXPECT_EQ(v[1].line, 0u) << "a violation reported without a site points at no line";
}

TEST(Tracker, AReportedViolationPointsAtTheSiteItIsGiven) {
  tracker t;
  const auto where = faultscope::site::here();
  t.report(violation_kind::release_failed, "close threw", 0, where);
  auto v = t.violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].file, "tests/framework/tracker_test.cpp");
  EXPECT_EQ(v[0].line, where.line());
}

TEST(Tracker, AReportedViolationPointsAtALineGivenAsText) {
  tracker t;
  t.report(violation_kind::invariant, "balance is negative", "app/../app/orders.cpp", 12);
  auto v = t.violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].message, "invariant: balance is negative");
  EXPECT_EQ(v[0].file, "app/orders.cpp") << "folded as a site's file is";
  EXPECT_EQ(v[0].line, 12u);
  ASSERT_EQ(t.timeline().size(), 1u) << "on the timeline too, as every violation is";
  EXPECT_EQ(t.timeline()[0].detail, "invariant: balance is negative");
}

TEST(Tracker, ViolationStorageIsBoundedButCounted) {
  tracker t(tracker::options{.record_timeline = false, .max_violations = 3});
  for (int i = 0; i < 10; ++i) t.release(1000 + i);
  EXPECT_EQ(t.violations().size(), 3u);
  EXPECT_EQ(t.violation_count(), 10u);
}

TEST(Tracker, TimelineCarriesVirtualTimestamps) {
  tracker t;
  std::chrono::nanoseconds now{0};
  t.set_clock([&] { return now; });
  auto id = t.acquire("timer");
  now = std::chrono::seconds(3);
  t.release(id);
  auto events = t.timeline();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, faultscope::event_type::acquire);
  EXPECT_EQ(events[0].at, std::chrono::nanoseconds{0});
  EXPECT_EQ(events[1].type, faultscope::event_type::release);
  EXPECT_EQ(events[1].at, std::chrono::seconds(3));
}

TEST(Tracker, WithoutTimelineReleasedRecordsAreNotKept) {
  tracker t(tracker::options{.record_timeline = false});
  for (int i = 0; i < 1000; ++i) t.release(t.acquire("x"));
  EXPECT_TRUE(t.timeline().empty());
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_TRUE(t.balanced());
}

TEST(Tracker, TwoThreadsHammeringGiveConsistentCounts) {
  tracker t(tracker::options{.record_timeline = false});
  constexpr int per_thread = 50000;
  auto work = [&] {
    for (int i = 0; i < per_thread; ++i) {
      auto id = t.acquire("conn");
      t.touch(id);
      t.release(id);
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(t.acquired_count(), 2u * per_thread);
  EXPECT_EQ(t.released_count(), 2u * per_thread);
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_TRUE(t.check().empty());
}

TEST(Tracker, ShortFunctionName) {
  using faultscope::short_function_name;
  EXPECT_EQ(short_function_name("boost::asio::awaitable<void> demo::get_connection(db&)"),
            "get_connection");
  EXPECT_EQ(short_function_name("void f()"), "f");
  EXPECT_EQ(short_function_name("std::vector<std::pair<int, int> > ns::g(int)"), "g");
  EXPECT_EQ(short_function_name("main"), "main");
}

TEST(Tracker, AViolationKindsIdentifierIsItsEnumeratorsSpelling) {
  EXPECT_EQ(faultscope::identifier(faultscope::violation_kind::use_after_release),
            "use_after_release");
  EXPECT_EQ(faultscope::identifier(faultscope::violation_kind::hang), "hang");
}
