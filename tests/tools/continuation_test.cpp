// What a runner going on past a blocked schedule hands to the process that
// replaces it: every report made from the scenarios read back is the report
// made from the ones written, and a file this program did not write (cut
// short, altered, of another version) is one error, never a crash.
#include "continuation.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "faultscope/registry.hpp"
#include "faultscope/scenarios/library.hpp"

namespace {

using faultscope::cli::continuation;
using faultscope::cli::continuation_error;
using faultscope::cli::from_text;
using faultscope::cli::to_text;

// The canaries' explorations: failing runs with leaks, faults and timelines.
continuation explored_canaries() {
  faultscope::scenarios::register_builtins();
  continuation c;
  for (const auto* s : faultscope::registry::instance().match("canary"))
    c.finished.push_back({s, faultscope::explore(s->name, s->fn, s->options), " --check-fds"});
  c.blocked.push_back({"scope.nested", "conn.open#1=throw", "held its thread\nfor 2 s — ‘quoted’"});
  c.spent = std::chrono::milliseconds(70'123);
  return c;
}

const continuation& canaries() {
  static const continuation c = explored_canaries();
  return c;
}

TEST(Continuation, EveryReportOfTheScenariosReadBackIsTheSame) {
  const auto& written = canaries();
  ASSERT_FALSE(written.finished.empty());
  const continuation read = from_text(to_text(written));
  using namespace faultscope::cli;
  EXPECT_EQ(text_report(read.finished, false), text_report(written.finished, false));
  EXPECT_EQ(json_report(read.finished), json_report(written.finished));
  EXPECT_EQ(junit_report(read.finished), junit_report(written.finished));
  EXPECT_EQ(html_report(read.finished), html_report(written.finished));
  ASSERT_EQ(read.blocked.size(), 1u);
  EXPECT_EQ(read.blocked[0].line, written.blocked[0].line);
  EXPECT_EQ(read.blocked[0].plan, "conn.open#1=throw");
  EXPECT_EQ(read.spent, written.spent);
}

TEST(Continuation, WhatNoReportShowsIsReadBackToo) {
  const auto& written = canaries();
  const continuation read = from_text(to_text(written));
  ASSERT_EQ(read.finished.size(), written.finished.size());
  for (std::size_t i = 0; i < read.finished.size(); ++i) {
    const auto& a = read.finished[i].report;
    const auto& b = written.finished[i].report;
    EXPECT_EQ(read.finished[i].scenario, written.finished[i].scenario);
    EXPECT_EQ(a.clean.trace.size(), b.clean.trace.size());
    EXPECT_EQ(a.clean.virtual_elapsed, b.clean.virtual_elapsed);
    EXPECT_EQ(a.ran, b.ran);
    EXPECT_EQ(a.total_schedules, b.total_schedules);
    ASSERT_EQ(a.failures.size(), b.failures.size());
    for (std::size_t k = 0; k < a.failures.size(); ++k) {
      EXPECT_EQ(a.failures[k].run.injected, b.failures[k].run.injected);
      EXPECT_EQ(a.failures[k].run.timeline.size(), b.failures[k].run.timeline.size());
      EXPECT_EQ(a.failures[k].index, b.failures[k].index);
    }
  }
}

TEST(Continuation, TextCutShortAnywhereIsAnError) {
  const std::string text = to_text(canaries());
  // Every cut in the first kilobyte, then one in 97 (each a whole parse).
  for (std::size_t size = 0; size < text.size(); size += size < 1024 ? 1 : 97)
    EXPECT_THROW((void)from_text(text.substr(0, size)), continuation_error) << size;
  EXPECT_THROW((void)from_text(text + "1:x"), continuation_error) << "text after the end";
}

TEST(Continuation, AlteredTextIsReadOrAnErrorNeverACrash) {
  const std::string text = to_text(canaries());
  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> at(0, text.size() - 1);
  const std::string bytes = "0123456789:x\xff";
  std::size_t errors = 0;
  for (int i = 0; i < 300; ++i) {
    std::string altered = text;
    altered[at(random)] = bytes[random() % bytes.size()];
    try {
      (void)from_text(altered);
    } catch (const continuation_error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0u);
}

TEST(Continuation, AnotherProgramsTextIsOneLineNamingWhereItStops) {
  try {
    (void)from_text("25:faultscope-continuation/2");
    FAIL() << "another version was read";
  } catch (const continuation_error& e) {
    EXPECT_STREQ(e.what(), "expected 'faultscope-continuation/1' at byte 28");
  }
  EXPECT_THROW((void)from_text(""), continuation_error);
  EXPECT_THROW((void)from_text("{\"scenarios\":[]}"), continuation_error);
}

// Lengths, numbers and flags are read whole: digits with anything after
// them, or a flag other than 0 or 1, is text this program did not write.
TEST(Continuation, ALengthNumberOrFlagWithAnythingMoreIsAnError) {
  continuation c;
  c.finished.push_back({canaries().finished.front().scenario, {}, ""});
  c.finished[0].report.truncated = true;
  const std::string text = to_text(c);
  ASSERT_NO_THROW((void)from_text(text));
  auto altered = [&text](std::size_t at, std::string_view was, std::string_view now) {
    EXPECT_EQ(text.substr(at, was.size()), was);
    return std::string(text).replace(at, was.size(), now);
  };
  EXPECT_THROW((void)from_text(altered(0, "25:", "25x:")), continuation_error);  // the tag's length
  const auto count = text.find("1:1");  // of finished scenarios
  EXPECT_THROW((void)from_text(altered(count, "1:1", "2:1x")), continuation_error);
  const auto flag = text.rfind("1:1");  // truncated
  ASSERT_NE(flag, count);
  EXPECT_THROW((void)from_text(altered(flag, "1:1", "1:2")), continuation_error);
  // A list longer than what is left is refused before any item is read.
  const std::string none = to_text(continuation{});
  ASSERT_TRUE(none.ends_with("1:01:0"));  // no blocked schedule, no time spent
  try {
    (void)from_text(none.substr(0, none.size() - 6) + "2:991:0");
    FAIL() << "a list of 99 items in 3 bytes was read";
  } catch (const continuation_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("expected a list no longer than the text"));
  }
}

TEST(Continuation, AScenarioThisRunnerDoesNotHaveIsAnError) {
  continuation c = canaries();
  c.finished.resize(1);
  std::string text = to_text(c);
  const std::string& name = c.finished[0].scenario->name;
  const auto at = text.find(name);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, name.size(), std::string(name.size(), 'z'));
  try {
    (void)from_text(text);
    FAIL() << "an unknown scenario was read";
  } catch (const continuation_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no scenario named 'zzz"));
  }
}

TEST(Continuation, ABlockedScheduleWhosePlanDoesNotParseIsAnError) {
  continuation c;
  c.blocked.push_back({"scope.nested", "conn.open#0=throw", "held"});
  try {
    (void)from_text(to_text(c));
    FAIL() << "a plan that does not parse was read";
  } catch (const continuation_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("a blocked schedule's plan: "));
  }
}

TEST(Continuation, AKindThisProgramDoesNotKnowIsAnError) {
  continuation c;
  c.finished.push_back(canaries().finished.front());
  c.finished[0].report.failures.clear();
  c.finished[0].report.clean.violations = {{faultscope::violation_kind::leak, "leak: x"}};
  std::string text = to_text(c);
  // The kind is the token just before the message.
  const auto at = text.find("7:leak: x");
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(text.substr(at - 3, 3), "1:0");
  text.replace(at - 3, 3, "3:200");
  EXPECT_THROW((void)from_text(text), continuation_error);
}

}  // namespace
