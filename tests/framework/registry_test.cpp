// The scenario registry: names, tags, options given with the macro, and what
// a registration that cannot be added leaves for the runner to report.
#include "faultscope/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faultscope/fault_point.hpp"

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FAULTSCOPE_SCENARIO(registry_test_plain, "db, slow") {
  co_await faultscope::fault_point("step");
}

FAULTSCOPE_SCENARIO_WITH(registry_test_with, "db",
                         {.depth = 2, .kinds = {faultscope::fault::make_throw()}}) {
  co_await faultscope::fault_point("step");
}

namespace {

TEST(Registry, AScenarioIsFoundByNameAndByTag) {
  auto& r = faultscope::registry::instance();
  const auto* s = r.find("registry_test_plain");
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(s->tags, ElementsAre("db", "slow"));
  EXPECT_THAT(faultscope::detail::split_tags(" db ,, slow  ,"), ElementsAre("db", "slow"));
  EXPECT_THAT(s->where.str(), HasSubstr("registry_test.cpp:13"));
  EXPECT_EQ(r.match("slow").size(), 1u);
  EXPECT_EQ(r.match("registry_test_*").size(), 2u);
}

TEST(Registry, ScenarioWithKeepsItsExplorationOptions) {
  const auto* s = faultscope::registry::instance().find("registry_test_with");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->options.depth, 2);
  ASSERT_EQ(s->options.kinds.size(), 1u);
  auto e = faultscope::explore(s->name, s->fn, s->options);
  EXPECT_EQ(e.schedules_run, 1u);  // one hit, throw only
}

TEST(Registry, AddRefusesABadOrDuplicateName) {
  faultscope::registry r;
  auto body = [](faultscope::run_context&) -> boost::asio::awaitable<void> {
    co_return;
  };
  r.add({.name = "once", .fn = body});
  EXPECT_NO_THROW(r.add({.name = "orders-v2.save_1", .fn = body}));
  try {
    r.add({.name = "once", .fn = body});  // no line known for either: none named
    ADD_FAILURE() << "added twice";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "scenario 'once' is registered twice");
  }
  EXPECT_THROW(r.add({.name = "a@b", .fn = body}), std::invalid_argument);
  EXPECT_THROW(r.add({.name = "", .fn = body}), std::invalid_argument);
  EXPECT_THROW(r.add({.name = "no_body"}), std::invalid_argument);
}

// Before main a throw would abort the program: the reason is kept instead,
// naming both places, for the runner to print.
TEST(Registry, ARegistrationThatFailsIsKeptAsAnErrorNamingBothPlaces) {
  auto& r = faultscope::registry::instance();
  const auto* first = r.find("registry_test_plain");
  ASSERT_NE(first, nullptr);
  auto before = r.errors().size();
  faultscope::detail::register_scenario("registry_test_plain", "", first->fn,
                                        faultscope::site::here());
  ASSERT_EQ(r.errors().size(), before + 1);
  EXPECT_THAT(r.errors().back(),
              HasSubstr("scenario 'registry_test_plain' is registered twice: at "));
  EXPECT_THAT(r.errors().back(), HasSubstr("registry_test.cpp:13 and at "));
  EXPECT_EQ(r.match("registry_test_plain").size(), 1u);
}

}  // namespace

namespace {

TEST(Registry, ACanaryPlantsALeakUnlessItsTagsNameOtherKinds) {
  using faultscope::violation_kind;
  faultscope::scenario_info s;
  s.tags = {"canary"};
  EXPECT_THAT(s.planted(), ElementsAre(violation_kind::leak));
  s.tags = {"canary", "double_release", "db"};
  EXPECT_THAT(s.planted(), ElementsAre(violation_kind::double_release));
  s.tags = {"not_quiescent", "canary", "leak"};
  EXPECT_THAT(s.planted(), ElementsAre(violation_kind::leak, violation_kind::not_quiescent));
  s.tags = {"canary", "double release"};  // the spelling for people is not a tag
  EXPECT_THAT(s.planted(), ElementsAre(violation_kind::leak));
  s.tags = {"canary", "nondeterministic"};  // the last kind there is
  EXPECT_THAT(s.planted(), ElementsAre(violation_kind::nondeterministic));
}

}  // namespace

namespace {

faultscope::scenario_info canary_tagged(std::vector<std::string> tags) {
  faultscope::scenario_info s;
  s.name = "registry_test_canary";
  s.tags = std::move(tags);
  s.fn = [](faultscope::run_context&) -> boost::asio::awaitable<void> {
    co_return;
  };
  return s;
}

TEST(Registry, ACanaryTagASlipAwayFromAKindIsRefusedNamingTheKind) {
  const std::pair<const char*, const char*> slips[] = {{"double_relase", "double_release"},
                                                       {"double release", "double_release"},
                                                       {"Not-Quiescent", "not_quiescent"},
                                                       {"leaks", "leak"},
                                                       {"not_queiscent", "not_quiescent"}};
  for (const auto& [slip, kind] : slips) {
    faultscope::registry r;
    try {
      r.add(canary_tagged({"canary", slip}));
      ADD_FAILURE() << "accepted the tag '" << slip << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(),
                  HasSubstr(std::string("canary 'registry_test_canary' has the tag '") + slip +
                            "', which names no violation kind: did you mean '" + kind + "'?"));
    }
    EXPECT_EQ(r.find("registry_test_canary"), nullptr);
  }
}

TEST(Registry, OtherTagsOfACanaryAndAnyTagOfOtherScenariosAreTheirOwn) {
  faultscope::registry r;
  EXPECT_NO_THROW(r.add(canary_tagged({"canary", "double_release", "db", "sqlite", "manual"})));
  auto plain = canary_tagged({"leaks", "double release"});
  plain.name = "registry_test_not_a_canary";
  EXPECT_NO_THROW(r.add(std::move(plain)));
}

}  // namespace
