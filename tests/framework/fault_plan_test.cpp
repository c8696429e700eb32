// The replay-token grammar: round trips, matching, seeded choices, and clear
// errors for malformed plans.
#include "faultscope/fault_plan.hpp"

#include <cerrno>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using faultscope::fault;
using faultscope::fault_kind;
using faultscope::fault_plan;
using faultscope::plan_error;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

TEST(FaultPlan, ParsesTheIssueExample) {
  auto p = fault_plan::parse("pool.acquire#2=cancel(terminal);db.*=throw@p0.1;seed=42");
  ASSERT_EQ(p.rules.size(), 2u);
  EXPECT_EQ(p.rules[0].pattern, "pool.acquire");
  EXPECT_EQ(p.rules[0].first, 2u);
  EXPECT_EQ(p.rules[0].last, 2u);
  EXPECT_EQ(p.rules[0].fault.kind, fault_kind::cancel);
  EXPECT_EQ(p.rules[1].pattern, "db.*");
  EXPECT_DOUBLE_EQ(p.rules[1].probability, 0.1);
  EXPECT_EQ(p.seed, 42u);
  // Canonical form drops the default "(terminal)".
  EXPECT_EQ(p.to_string(), "pool.acquire#2=cancel;db.*=throw@p0.1;seed=42");
}

TEST(FaultPlan, EveryFormRoundTrips) {
  for (std::string token :
       {"none", "a=throw", "a#1=throw", "a#3+=throw(io_error)", "a#2-5=error(no_space)",
        "x.y:z/w-v=cancel(partial)", "p#1=cancel(total)", "p=timeout", "p#4=delay(250ms)",
        "p=delay(1500ms)", "p=error(77)", "p=error(4095)", "db.*=throw@p0.25x3;seed=7",
        "*=delay(2min)", "a#1=throw;b#2=cancel;c#3=timeout", "new.*#2=bad_alloc", "seed=9"}) {
    auto p = fault_plan::parse(token);
    EXPECT_EQ(p.to_string(), token);
    EXPECT_EQ(fault_plan::parse(p.to_string()), p) << token;
  }
}

TEST(FaultPlan, OneFaultParsesAsAPlanWritesIt) {
  for (std::string text :
       {"throw", "throw(io_error)", "error(no_space)", "error(77)", "cancel", "cancel(partial)",
        "cancel(total)", "timeout", "delay(250ms)", "bad_alloc"}) {
    auto f = fault::parse(text);
    EXPECT_EQ(f.to_string(), text);
    EXPECT_EQ(fault_plan::parse("p=" + text).rules.at(0).fault, f) << text;
  }
}

TEST(FaultPlan, AMalformedFaultNamesItselfAndTheColumn) {
  auto rejects = [](std::string_view text, std::size_t column, std::string_view says) {
    try {
      (void)fault::parse(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const plan_error& e) {
      EXPECT_EQ(e.column(), column) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("bad fault at column"));
      EXPECT_THAT(e.what(), HasSubstr(says));
    }
  };
  rejects("", 1, "empty");
  rejects("thorw", 1, "unknown fault kind 'thorw'");
  rejects("throw;b", 6, "unexpected ';' after the fault");
  rejects("cancel(sideways)", 8, "terminal, partial or total");
  rejects("p=throw", 1, "unknown fault kind 'p'");
  rejects("bad_aloc", 1, "unknown fault kind 'bad_aloc' (expected throw, error, bad_alloc,");
  rejects("bad_allocs", 10, "unexpected 's' after the fault");
}

TEST(FaultPlan, AFaultsErrorCodeIsNeverSuccess) {
  EXPECT_EQ(fault::make_error(ENOSPC).error_code(), boost::system::errc::no_space_on_device);
  EXPECT_EQ(fault::make_error(0).error_code(), boost::system::errc::io_error);
  EXPECT_EQ(fault::make_throw().error_code(), boost::system::errc::io_error);
}

// Forms a user may write that the canonical form spells another way.
TEST(FaultPlan, OtherSpellingsReadAsTheirCanonicalForm) {
  EXPECT_EQ(fault_plan::parse("a#3-3=throw").to_string(), "a#3=throw");
  EXPECT_EQ(fault_plan::parse("a=throw@p1").to_string(), "a=throw");
  EXPECT_EQ(fault_plan::parse("a=throw@p1").rules.at(0).probability, 1.0);
  auto delay_of = [](std::string_view d) {
    return fault::parse("delay(" + std::string(d) + ")").delay;
  };
  EXPECT_EQ(delay_of("7ns"), 7ns);
  EXPECT_EQ(delay_of("7us"), 7us);
  EXPECT_EQ(delay_of("7ms"), 7ms);
  EXPECT_EQ(delay_of("7s"), 7s);
  EXPECT_EQ(delay_of("7min"), 7min);
  EXPECT_EQ(delay_of("7h"), 7h);
}

TEST(FaultPlan, SelectorsMatchHits) {
  auto p = fault_plan::parse("a#2=throw;b#3+=throw;c#2-4=throw;d=throw;e.*.f=throw");
  EXPECT_FALSE(p.rules[0].matches("a", 1));
  EXPECT_TRUE(p.rules[0].matches("a", 2));
  EXPECT_FALSE(p.rules[0].matches("a", 3));
  EXPECT_FALSE(p.rules[1].matches("b", 2));
  EXPECT_TRUE(p.rules[1].matches("b", 300));
  EXPECT_TRUE(p.rules[2].matches("c", 4));
  EXPECT_FALSE(p.rules[2].matches("c", 5));
  EXPECT_TRUE(p.rules[3].matches("d", 1));
  EXPECT_TRUE(p.rules[3].matches("d", 99));
  EXPECT_TRUE(p.rules[4].matches("e.x.y.f", 1));
  EXPECT_FALSE(p.rules[4].matches("e.f", 1));
  EXPECT_FALSE(p.rules[0].matches("ab", 2));
}

TEST(FaultPlan, GlobMatching) {
  using faultscope::glob_match;
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("db.*", "db.query"));
  EXPECT_TRUE(glob_match("*.close", "file.close"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_FALSE(glob_match("db.*", "pool.acquire"));
}

TEST(FaultPlan, SeededChoicesDependOnlyOnSeedPointAndHit) {
  using faultscope::seeded_uniform;
  double a = seeded_uniform(42, "db.query", 3);
  EXPECT_EQ(a, seeded_uniform(42, "db.query", 3));
  EXPECT_NE(a, seeded_uniform(43, "db.query", 3));
  EXPECT_NE(a, seeded_uniform(42, "db.query", 4));
  EXPECT_NE(a, seeded_uniform(42, "db.exec", 3));
  EXPECT_NE(a, seeded_uniform(42, "db.qeury", 3));  // same length, same letters
  // Roughly uniform: the fraction below 0.1 over many hits is near 0.1.
  int below = 0;
  for (int i = 1; i <= 10000; ++i) below += seeded_uniform(1, "p", i) < 0.1;
  EXPECT_NEAR(below / 10000.0, 0.1, 0.02);
}

struct malformed {
  const char* token;
  std::size_t column;
  const char* says;
};

void PrintTo(const malformed& m, std::ostream* os) {
  *os << '"' << m.token << '"';
}

class MalformedPlan : public ::testing::TestWithParam<malformed> {};

TEST_P(MalformedPlan, IsRejectedWithTheColumnAndAReason) {
  const auto& m = GetParam();
  try {
    (void)fault_plan::parse(m.token);
    FAIL() << "accepted: " << m.token;
  } catch (const plan_error& e) {
    EXPECT_EQ(e.column(), m.column) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("bad fault plan at column"));
    EXPECT_THAT(e.what(), HasSubstr(m.says));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedPlan,
    ::testing::Values(
        malformed{"", 1, "the plan is empty"},
        malformed{"pool.acquire", 13, "expected '=' after the point"},
        malformed{"=throw", 1, "expected a point name, found '='"},
        malformed{"a=thorw", 3, "unknown fault kind 'thorw'"},
        malformed{"a#0=throw", 3, "hit numbers start at 1"},
        malformed{"a#x=throw", 3, "hit number"}, malformed{"a#5-2=throw", 5, "empty hit range"},
        malformed{"a=cancel(sideways)", 10, "terminal, partial or total"},
        malformed{"a=delay(5)", 10, "duration unit"}, malformed{"a=delay(ms)", 9, "duration"},
        malformed{"a=error(ebadness)", 9, "unknown error code 'ebadness'"},
        malformed{"a=error", 8, "expected '('"}, malformed{"a=throw@p1.5", 10, "(0, 1]"},
        malformed{"a=throw@p0", 10, "(0, 1]"}, malformed{"a=throw;;b=throw", 9, "empty rule"},
        malformed{"a=throw;", 9, "empty rule"}, malformed{"seed=x", 6, "seed"},
        malformed{"seed=1;seed=2", 8, "seed given twice"},
        malformed{"a=throw b=throw", 8, "unexpected ' '"},
        malformed{"a=cancel(total", 15, "expected ')' to close 'cancel(' but the plan ended"},
        malformed{"a=error(busy]", 13, "expected ')' to close 'error(', found ']'"},
        malformed{"a#99999999999999999999=throw", 3, "too large"},
        malformed{"a=throwx0", 9, "count"}, malformed{"a=error(0)", 9, "between 1 and 4095"},
        malformed{"a=error(4096)", 9, "between 1 and 4095"},
        malformed{"a=delay(2562048h)", 9, "duration too long"},
        // Found by the plan fuzzer: a newline echoed in the message split it.
        malformed{"ee\n", 3, "found '\\x0a'"}));

}  // namespace
