// The runner's reports: the verdict on a canary, in every format — caught only
// by a violation of a kind it plants; a canary that only hangs, blocks or
// throws has proven no detector works — and the scenarios a runner ended by
// a blocked schedule never explored, which every format names.
#include "report.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

using faultscope::violation_kind;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

faultscope::scenario_info canary(std::vector<std::string> tags) {
  faultscope::scenario_info s;
  s.name = "canary.planted";
  s.tags = std::move(tags);
  return s;
}

// An exploration whose one failing schedule reports `kinds`.
faultscope::exploration failing_with(std::vector<violation_kind> kinds) {
  faultscope::exploration e;
  e.scenario = "canary.planted";
  e.schedules_run = 1;
  faultscope::schedule_result f;
  f.plan = f.minimal = faultscope::fault_plan::parse("conn.query#1=throw");
  for (auto kind : kinds)
    f.run.violations.push_back({kind, std::string(faultscope::to_string(kind)) + ": planted"});
  e.failures.push_back(f);
  e.ran = {"conn.query#1=throw"};
  return e;
}

TEST(Report, ACanaryIsCaughtByTheLeakItPlants) {
  const auto s = canary({"canary"});
  const faultscope::cli::result r{&s, failing_with({violation_kind::leak})};
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(faultscope::cli::text_report({r}, false), HasSubstr("CAUGHT canary.planted"));
}

TEST(Report, CanaryACanaryThatOnlyHangsIsMissedInEveryFormat) {
  const auto s = canary({"canary"});
  const faultscope::cli::result r{&s, failing_with({violation_kind::hang})};
  EXPECT_FALSE(r.ok());
  const auto text = faultscope::cli::text_report({r}, false);
  EXPECT_THAT(text, HasSubstr("MISSED canary.planted"));
  EXPECT_THAT(text, HasSubstr("a canary plants a violation on purpose (leak): no schedule "
                              "reported one"));
  EXPECT_THAT(text, HasSubstr("hang: planted")) << "what it did report is shown";
  EXPECT_THAT(text, HasSubstr("canaries caught: 0/1"));
  EXPECT_THAT(faultscope::cli::json_report({r}),
              HasSubstr("\"name\":\"canary.planted\",\"canary\":true,\"ok\":false"));
  const auto junit = faultscope::cli::junit_report({r});
  EXPECT_THAT(junit, HasSubstr("tests=\"3\" failures=\"1\""));  // clean, the schedule, caught
  EXPECT_THAT(junit, HasSubstr("a canary's planted violation (leak) went unreported"));
  EXPECT_THAT(faultscope::cli::html_report({r}), HasSubstr("canary missed"));
}

TEST(Report, CanaryACanaryThatOnlyThrowsIsMissed) {
  const auto s = canary({"canary"});
  EXPECT_FALSE((faultscope::cli::result{&s, failing_with({violation_kind::outcome,
                                                          violation_kind::unhandled_exception})})
                   .ok());
}

TEST(Report, ACanaryTaggedWithAKindIsCaughtByThatKindOnly) {
  const auto s = canary({"canary", "double_release"});
  EXPECT_FALSE((faultscope::cli::result{&s, failing_with({violation_kind::leak})}).ok());
  const faultscope::cli::result r{&s, failing_with({violation_kind::double_release})};
  EXPECT_TRUE(r.ok());
  const auto missed = faultscope::cli::text_report(
      {faultscope::cli::result{&s, failing_with({violation_kind::leak})}}, false);
  EXPECT_THAT(missed, HasSubstr("(double release): no schedule reported one"));
}

TEST(Report, ACanaryCaughtInItsCleanRunIsCaught) {
  const auto s = canary({"canary"});
  faultscope::exploration e;
  e.clean.violations.push_back({violation_kind::leak, "leak: planted"});
  EXPECT_TRUE((faultscope::cli::result{&s, e}).ok());
  EXPECT_FALSE((faultscope::cli::result{&s, faultscope::exploration{}}).ok())
      << "a canary that passes is missed";
}

TEST(Report, AScenarioThatIsNotACanaryPassesOnlyWithoutViolations) {
  const auto s = canary({"db"});
  EXPECT_FALSE((faultscope::cli::result{&s, failing_with({violation_kind::hang})}).ok());
  EXPECT_TRUE((faultscope::cli::result{&s, faultscope::exploration{}}).ok());
}

TEST(Report, TheHtmlReportFoldsRunsThatFailedTheSameWayUnderTheFirst) {
  const auto s = canary({"db"});
  faultscope::exploration e;
  e.scenario = s.name;
  for (const char* token : {"a#1=throw", "b#1=throw", "c#1=throw", "d#1=cancel"}) {
    faultscope::schedule_result f;
    f.plan = f.minimal = faultscope::fault_plan::parse(token);
    f.run.violations.push_back(
        {violation_kind::leak, token[0] == 'c' ? "leak: another" : "leak: the same"});
    e.failures.push_back(f);
  }
  const auto html = faultscope::cli::html_report({{&s, e}});
  const auto folded = html.find(
      "<details><summary>under <code>b#1=throw, d#1=cancel</code>: "
      "the same violations</summary>");
  ASSERT_NE(folded, std::string::npos) << html;
  const auto fold_end = html.find("</details>", folded);
  ASSERT_NE(fold_end, std::string::npos);
  auto inside = [&](std::string_view text) {
    const auto at = html.find(text);
    return at > folded && at < fold_end;
  };
  EXPECT_FALSE(inside("<h3>under <code>a#1=throw</code>"));
  EXPECT_TRUE(inside("<h4>under <code>b#1=throw</code>: ok</h4>"));
  EXPECT_TRUE(inside("<h4>under <code>d#1=cancel</code>: ok</h4>"));
  EXPECT_TRUE(
      inside("replay: <code>faultscope replay &apos;canary.planted@d#1=cancel&apos;</code>"));
  EXPECT_FALSE(inside("<h3>under <code>c#1=throw</code>")) << "another bug is not folded";
  EXPECT_NE(html.find("<h3>under <code>c#1=throw</code>"), std::string::npos);
  // Every run is still drawn, each timeline once.
  std::size_t timelines = 0;
  for (auto at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    ++timelines;
  EXPECT_EQ(timelines, 4u);
  EXPECT_EQ(html.find("leak: the same"), html.rfind("leak: the same")) << "its violations once";
}

TEST(Report, GithubAnnotationsPointAtTheLineOnceForEachBug) {
  const auto s = canary({"db"});
  faultscope::exploration e;
  e.scenario = s.name;
  for (const char* token : {"a#1=throw", "b#1=throw", "c#1=cancel"}) {
    faultscope::schedule_result f;
    f.plan = f.minimal = faultscope::fault_plan::parse(token);
    f.run.violations.push_back(
        {violation_kind::leak, "leak: conn #1, never released", 1, "/ws/app/orders.cpp", 42});
    if (token[0] == 'c')
      f.run.violations.push_back({violation_kind::outcome, "outcome: 100% done,\r\nthen not"});
    e.failures.push_back(f);
  }
  const auto out = faultscope::cli::github_annotations({{&s, e}}, {}, "/ws");
  // The leak all three reported, once, relative to the workspace; the outcome
  // only one reported, on no line. Properties escape ':' and ','; a message
  // its line breaks and '%'.
  EXPECT_EQ(out,
            "::error file=app/orders.cpp,line=42,title=faultscope canary.planted%3A leak::leak: "
            "conn #1, never released%0Aunder a#1=throw, b#1=throw, c#1=cancel%0Areplay: "
            "faultscope replay 'canary.planted@a#1=throw'\n"
            "::error title=faultscope canary.planted%3A outcome::outcome: 100%25 done,%0D%0Athen "
            "not%0Aunder c#1=cancel%0Areplay: faultscope replay 'canary.planted@c#1=cancel'\n");
  // A file outside the workspace keeps its path, as does any file without one.
  EXPECT_THAT(faultscope::cli::github_annotations({{&s, e}}, {}, "/w"),
              HasSubstr("file=/ws/app/orders.cpp,line=42,"));
  EXPECT_THAT(faultscope::cli::github_annotations({{&s, e}}, {}, ""),
              HasSubstr("file=/ws/app/orders.cpp,line=42,"));
}

// Annotations for `n` violations of one scenario.
std::string github_annotations_of(int n) {
  const auto s = canary({"db"});
  auto e = failing_with({});
  for (int i = 0; i < n; ++i)
    e.failures[0].run.violations.push_back(
        {violation_kind::leak, "leak: handle #" + std::to_string(i + 1)});
  return faultscope::cli::github_annotations({{&s, e}});
}

TEST(Report, GithubAnnotationsPastTheTenGithubShowsAreCountedInAWarning) {
  const auto out = github_annotations_of(12);
  std::size_t errors = 0;
  for (auto at = out.find("::error "); at != std::string::npos; at = out.find("::error ", at + 1))
    ++errors;
  EXPECT_EQ(errors, 10u);
  EXPECT_THAT(out, HasSubstr("leak: handle #10%0A"));
  EXPECT_THAT(out, ::testing::EndsWith(
                       "::warning title=faultscope::2 more violations not annotated, as GitHub "
                       "shows 10 error annotations per step: the report above lists every one\n"));
  EXPECT_THAT(github_annotations_of(10), Not(HasSubstr("::warning")));
  EXPECT_THAT(github_annotations_of(11), HasSubstr("::1 more violation not annotated,"));
}

TEST(Report, GithubAnnotationsLeaveACaughtCanaryAloneAndNameAMissedOne) {
  const auto s = canary({"canary"});
  EXPECT_EQ(faultscope::cli::github_annotations(
                {faultscope::cli::result{&s, failing_with({violation_kind::leak})}}),
            "");
  auto eu = s;
  eu.name = "canary.planted,eu";  // a property escapes ',' too
  EXPECT_EQ(faultscope::cli::github_annotations(
                {faultscope::cli::result{&eu, failing_with({violation_kind::hang})}}),
            "::error title=faultscope canary.planted%2Ceu%3A canary missed::a canary plants a "
            "violation on purpose (leak): no schedule reported one\n");
  auto later = canary({"db"});
  later.name = "orders.ship";
  EXPECT_THAT(faultscope::cli::github_annotations({}, {&later}),
              HasSubstr("::error title=faultscope%3A not run::1 scenario, as the runner ended at "
                        "a schedule that blocked its thread: orders.ship\n"));
}

TEST(Report, EveryFormatNamesTheScenariosNotRun) {
  const auto done = canary({"db"});
  auto later = canary({"db"});
  later.name = "orders.<ship>";
  const std::vector<faultscope::cli::result> results{{&done, faultscope::exploration{}}};
  const faultscope::cli::not_run_list not_run{&later};
  const auto text = faultscope::cli::text_report(results, false, not_run);
  EXPECT_THAT(text, HasSubstr("NOT RUN 1 scenario, as the runner ended at a schedule that blocked "
                              "its thread: orders.<ship>"));
  EXPECT_THAT(text, HasSubstr("summary: 2 scenarios, 1 schedules explored, violations: none, "
                              "not run: 1"));
  EXPECT_THAT(faultscope::cli::json_report(results, not_run),
              HasSubstr("\"failed\":0,\"not_run\":[\"orders.<ship>\"]}"));
  EXPECT_THAT(faultscope::cli::junit_report(results, not_run),
              HasSubstr("<testsuite name=\"orders.&lt;ship&gt;\" tests=\"1\" failures=\"0\" "
                        "skipped=\"1\""));
  EXPECT_THAT(faultscope::cli::html_report(results, not_run),
              HasSubstr("blocked its thread: orders.&lt;ship&gt;."));
  // Without any, nothing is said of them but the JSON's empty list.
  EXPECT_THAT(faultscope::cli::text_report(results, false), Not(HasSubstr("NOT RUN")));
  EXPECT_THAT(faultscope::cli::json_report(results), HasSubstr("\"not_run\":[]"));
}

TEST(Report, ACanaryPlantingTwoKindsNamesBoth) {
  EXPECT_EQ(faultscope::cli::planted_text(canary({"canary", "double_release", "leak"})),
            "leak or double release");
}

// A failing scenario, not a canary: its run without faults failed too, and its
// one failing schedule shrank to the fault that matters, which every format
// replays.
TEST(Report, EveryFormatReplaysTheShrunkPlanOfAFailingScenario) {
  const auto s = canary({"db"});
  faultscope::exploration e = failing_with({violation_kind::leak, violation_kind::hang});
  e.failures[0].plan = faultscope::fault_plan::parse("a#1=throw;b#2=cancel");
  e.failures[0].minimal = faultscope::fault_plan::parse("b#2=cancel");
  e.ran = {"a#1=throw;b#2=cancel"};
  e.clean.violations.push_back({violation_kind::leak, "leak: without faults"});
  const std::vector<faultscope::cli::result> results{{&s, e}};
  const auto text = faultscope::cli::text_report(results, false);
  EXPECT_THAT(text, HasSubstr("2 failing"));  // the run without faults counts
  EXPECT_THAT(text, HasSubstr("under a#1=throw;b#2=cancel\n"));
  EXPECT_THAT(text, HasSubstr("@b#2=cancel'\n"));
  EXPECT_THAT(text, Not(HasSubstr("@a#1=throw")));
  EXPECT_THAT(text, Not(HasSubstr("a canary plants")));
  EXPECT_THAT(faultscope::cli::json_report(results),
              HasSubstr("\"plan\":\"a#1=throw;b#2=cancel\",\"minimal\":\"b#2=cancel\""));
  const auto junit = faultscope::cli::junit_report(results);
  // The attribute holds the first violation; the text, all and the replay.
  EXPECT_THAT(junit, HasSubstr("<failure message=\"leak: planted\">leak: planted\nhang: planted\n"
                               "replay: "));
  EXPECT_THAT(junit, HasSubstr("@b#2=cancel&apos;\n</failure>"));
  EXPECT_THAT(junit, Not(HasSubstr("@a#1=throw")));
  const auto html = faultscope::cli::html_report(results);
  EXPECT_THAT(html, HasSubstr("<span class=\"fail\">violations</span>"));
  EXPECT_THAT(html, HasSubstr("@b#2=cancel&apos;</code>"));
  EXPECT_THAT(html, Not(HasSubstr("@a#1=throw")));
}

// Canaries beside other scenarios: the summary counts each apart, a missed
// canary is not a scenario that failed, and colour tells them apart.
TEST(Report, TheSummaryCountsCanariesApartFromTheScenariosBesideThem) {
  const auto plain = canary({"db"});
  const auto caught = canary({"canary"});
  const auto missed = canary({"canary", "double_release"});
  const std::vector<faultscope::cli::result> results{
      {&plain, faultscope::exploration{}},
      {&caught, failing_with({violation_kind::leak})},
      {&missed, failing_with({violation_kind::leak})}};
  const auto text = faultscope::cli::text_report(results, true);
  EXPECT_THAT(text, HasSubstr("violations: \x1b[32mnone\x1b[0m, canaries caught: "
                              "\x1b[31;1m1/2\x1b[0m"));
  EXPECT_THAT(text, HasSubstr("\x1b[33mleak: planted\x1b[0m")) << "a canary's, in yellow";
  const std::vector<faultscope::cli::result> all_caught{results[0], results[1]};
  EXPECT_THAT(faultscope::cli::text_report(all_caught, true),
              HasSubstr("canaries caught: \x1b[32m1/1\x1b[0m"));
  const faultscope::cli::result failing{&plain, failing_with({violation_kind::leak})};
  EXPECT_THAT(faultscope::cli::text_report({failing}, true),
              HasSubstr("\x1b[31mleak: planted\x1b[0m"));
}

}  // namespace
