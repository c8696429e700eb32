// The command-line runner: exit codes, help, reports, and one-line errors for
// bad flags and arguments.
#include "cli.hpp"
#include "continuation.hpp"

#include "faultscope/fault_point.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/scenarios/library.hpp"
#include "support/pipe_end.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

using ::testing::HasSubstr;

// A scenario that really leaks, tagged `manual` so the default run leaves it
// out: it shows how the runner reports an ordinary (non-canary) failure. Its
// label needs escaping in every report format.
FAULTSCOPE_SCENARIO(cli_test_leaky, "manual") {
  auto id = ctx.tracker().acquire("handle", "<\"odd\" & label>");
  co_await faultscope::fault_point("cli_test.step");
  ctx.tracker().release(id);
}

// Two points, three hits, a handle held across them: every throw or cancel
// leaks it, so each faulted schedule shows in the report with its plan.
FAULTSCOPE_SCENARIO(cli_test_points, "manual") {
  auto id = ctx.tracker().acquire("handle", "h");
  co_await faultscope::fault_point("cli_test.a");
  co_await faultscope::fault_point("cli_test.b");
  co_await faultscope::fault_point("cli_test.b");
  ctx.tracker().release(id);
}

// Fails before it reaches a point, with no fault injected.
FAULTSCOPE_SCENARIO(cli_test_broken, "manual") {
  co_await faultscope::fault_point("cli_test.never");
  throw std::runtime_error("broken\nsetup");
}

// Fails with a message in Latin-1 ("café"), as a C library's may.
FAULTSCOPE_SCENARIO(cli_test_latin1, "manual") {
  co_await faultscope::fault_point("cli_test.never");
  throw std::runtime_error("caf\xe9");
}

// Balanced, through no fault point: its exploration proves nothing, and fails.
FAULTSCOPE_SCENARIO(cli_test_blind, "manual") {
  auto id = ctx.tracker().acquire("connection", "db");
  ctx.tracker().release(id);
  co_return;
}

// Under a thrown fault it keeps working without ever finishing (a retry loop
// with no wait): only the wall limit ends it.
FAULTSCOPE_SCENARIO(cli_test_spins, "manual") {
  bool failed = false;
  try {
    co_await faultscope::fault_point("cli_test.spin");
  } catch (const std::exception&) {
    failed = true;
  }
  auto ex = co_await boost::asio::this_coro::executor;
  while (failed) co_await boost::asio::post(ex, boost::asio::use_awaitable);
}

// A C-style wrapper that closes its pipe only when the point passes; the
// test closes what it left (`cli_test_open_fds`).
std::vector<int> cli_test_open_fds;
struct closes_leftover_pipes {
  ~closes_leftover_pipes() {
    for (int fd : cli_test_open_fds) ::close(fd);
    cli_test_open_fds.clear();
  }
};
FAULTSCOPE_SCENARIO(cli_test_descriptor, "manual") {
  const int fd = faultscope::test::pipe_write_end();
  cli_test_open_fds.push_back(fd);
  co_await faultscope::fault_point("cli_test.fd");
  ::close(fd);
  cli_test_open_fds.pop_back();
}
// The same, with a scenario's own choice of descriptors to leave out.
bool cli_test_is_pipe(std::string_view target) {
  return target.starts_with("pipe:");
}
FAULTSCOPE_SCENARIO_WITH(cli_test_descriptor_own_ignore, "manual",
                         {.run = {.ignore_fd = cli_test_is_pipe}}) {
  const int fd = faultscope::test::pipe_write_end();
  cli_test_open_fds.push_back(fd);
  co_await faultscope::fault_point("cli_test.fd");
  ::close(fd);
  cli_test_open_fds.pop_back();
}

// Hands its pipe to a thread that closes it a second later (another thread's
// side of a connection); the test joins the threads (`cli_test_closers`).
std::vector<std::thread> cli_test_closers;
// It checks descriptors only: it passes no fault point, and says so.
FAULTSCOPE_SCENARIO_WITH(cli_test_closed_later, "manual",
                         {.accept = {faultscope::violation_kind::nothing_explored}}) {
  const int fd = faultscope::test::pipe_write_end();
  cli_test_closers.emplace_back([fd] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ::close(fd);
  });
  co_return;
}

// Passes no fault point, and says it need not: --only takes nothing from it.
FAULTSCOPE_SCENARIO_WITH(cli_test_pointless, "manual",
                         {.accept = {faultscope::violation_kind::nothing_explored}}) {
  co_return;
}

// Registered with options no exploration can honour.
[[maybe_unused]] const bool cli_test_bad_depth_registered = [] {
  faultscope::scenario_info s;
  s.name = "cli_test_bad_depth";
  s.tags = {"manual"};
  s.fn = [](faultscope::run_context&) -> boost::asio::awaitable<void> {
    co_return;
  };
  s.options.depth = 3;
  s.options.accept = {faultscope::violation_kind::nothing_explored};
  faultscope::registry::instance().add(std::move(s));
  return true;
}();

namespace {

struct outcome {
  int status;
  std::string out;
  std::string err;
};

outcome cli(std::vector<const char*> args) {
  args.insert(args.begin(), "faultscope");
  std::ostringstream out, err;
  int status = faultscope::cli::main(static_cast<int>(args.size()), args.data(), out, err);
  return {status, out.str(), err.str()};
}

TEST(Cli, RunOverTheBuiltinsFindsNoViolation) {
  auto r = cli({"run"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("violations: none"));
  EXPECT_THAT(r.out, HasSubstr("seed.get_all_users"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("canary.")));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("cli_test_leaky")))
      << "a manual scenario stays out of the default run";
}

TEST(Cli, CanarySuiteIsCaughtAndShowsTheLeakAndItsReplay) {
  auto r = cli({"run", "canary"});
  EXPECT_EQ(r.status, 0) << "every canary was caught";
  EXPECT_THAT(r.out, HasSubstr("CAUGHT canary.naive_cleanup"));
  EXPECT_THAT(r.out, HasSubstr("leak: connection #1 \"db\""));
  EXPECT_THAT(r.out,
              HasSubstr("replay: faultscope replay 'canary.naive_cleanup@conn.query#1=cancel'"));
}

TEST(Cli, AUsersRunnerNamesItselfInTheReplayCommand) {
  // faultscope::main linked into a user's binary: `faultscope` would not know
  // the user's scenarios, so the command names the binary as it was invoked.
  std::vector<const char*> args = {"build/orders_runner", "run", "canary.naive_cleanup", "--format",
                                   "json"};
  std::ostringstream out, err;
  EXPECT_EQ(faultscope::cli::main(static_cast<int>(args.size()), args.data(), out, err), 0);
  EXPECT_THAT(out.str(), HasSubstr("\"replay\":\"build/orders_runner replay "
                                   "'canary.naive_cleanup@conn.query#1=cancel'\""));
  faultscope::registry::instance().set_runner("faultscope");
}

TEST(Cli, ReplayReproducesTheViolationAndExitsOne) {
  auto r = cli({"replay", "canary.naive_cleanup@conn.query#1=cancel"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("leak: connection #1"));
  EXPECT_THAT(r.out, HasSubstr("injected conn.query#1=cancel"));
  EXPECT_EQ(cli({"replay", "scope.with_resource@none"}).status, 0);
}

TEST(Cli, AReplayWhoseFaultNeverFiresSaysSo) {
  auto r = cli({"replay", "canary.naive_cleanup@conn.qurey#1=cancel"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("violations: none"));
  EXPECT_THAT(r.out, HasSubstr("note: conn.qurey#1=cancel never fired: the run passed no point "
                               "matching 'conn.qurey' (it passed conn.close, conn.open, "
                               "conn.query)\n"));
}

// The plans a text report shows under its failing schedules, in the order
// shown: a failure printed in full, then those that failed the same way.
std::vector<std::string> failing_plans(const std::string& report) {
  std::vector<std::string> plans;
  static const std::regex under(R"(under (\S+)\n|under (.+): the same violations\n)");
  for (auto it = std::sregex_iterator(report.begin(), report.end(), under);
       it != std::sregex_iterator(); ++it) {
    if ((*it)[1].matched) {
      plans.push_back((*it)[1]);
      continue;
    }
    const std::string same = (*it)[2];
    EXPECT_THAT(same, ::testing::Not(HasSubstr(" more"))) << "a list cut short cannot be compared";
    for (std::size_t from = 0, to = 0; to != std::string::npos; from = to + 2) {
      to = same.find(", ", from);
      plans.push_back(same.substr(from, to == std::string::npos ? to : to - from));
    }
  }
  return plans;
}

using plans = std::vector<std::string>;

TEST(Cli, OnlyAndSkipChooseThePointsFaulted) {
  auto all = cli({"run", "cli_test_points"});
  EXPECT_EQ(all.status, 1);
  EXPECT_EQ(failing_plans(all.out).size(), 6u) << all.out;
  auto only = cli({"run", "cli_test_points", "--only", "cli_test.b"});
  EXPECT_EQ(failing_plans(only.out), (plans{"cli_test.b#1=throw", "cli_test.b#1=cancel",
                                            "cli_test.b#2=throw", "cli_test.b#2=cancel"}))
      << only.out;
  auto skip = cli({"run", "cli_test_points", "--skip=cli_test.b"});
  EXPECT_EQ(failing_plans(skip.out), (plans{"cli_test.a#1=throw", "cli_test.a#1=cancel"}));
  auto both = cli({"run", "cli_test_points", "--only", "cli_test.*,other", "--skip", "*.a"});
  EXPECT_EQ(failing_plans(both.out), failing_plans(only.out));
}

TEST(Cli, OnlyThatLeavesNothingToFaultIsAUsageError) {
  auto r = cli({"run", "cli_test_points", "--only", "cli_test.c"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_THAT(r.err, HasSubstr("--only 'cli_test.c' leaves no fault point to explore"));
  EXPECT_THAT(r.err, HasSubstr("they pass through cli_test.a, cli_test.b"));
  // It narrows a scenario's own choice, never widens it: the out-of-memory
  // sweep passes through sqlite.commit but faults allocations only.
  auto widen = cli({"run", "sqlite.oom_sweep", "--only", "sqlite.commit"});
  EXPECT_EQ(widen.status, 2);
  EXPECT_THAT(widen.err, HasSubstr("leaves no fault point"));
  EXPECT_THAT(widen.err, HasSubstr("sqlite.commit"));
}

// The flags are blamed only when they took away every point there was.
TEST(Cli, NarrowingIsAUsageErrorOnlyWhereItTookEveryPointAway) {
  auto skip = cli({"run", "cli_test_points", "--skip", "cli_test.*"});
  EXPECT_EQ(skip.status, 2);
  EXPECT_THAT(skip.err, ::testing::StartsWith("faultscope: --skip 'cli_test.*' leaves no fault"));
  // A run without faults that failed is reported as it is.
  auto broken = cli({"run", "cli_test_broken", "--only", "nowhere.*"});
  EXPECT_EQ(broken.status, 1) << broken.err;
  EXPECT_THAT(broken.out, HasSubstr("FAIL   cli_test_broken"));
  // A scenario that passes through no point fails on that, not on the flags;
  // one that may pass through none passes.
  auto blind = cli({"run", "cli_test_blind", "--only", "nowhere.*"});
  EXPECT_EQ(blind.status, 1) << blind.err;
  EXPECT_THAT(blind.out, HasSubstr("nothing explored"));
  auto pointless = cli({"run", "cli_test_pointless", "--only", "nowhere.*"});
  EXPECT_EQ(pointless.status, 0) << pointless.err;
}

TEST(Cli, AScenarioThatExploresNothingFailsButNarrowingFromTheCommandLineNeverMakesItSo) {
  auto blind = cli({"run", "cli_test_blind"});
  EXPECT_EQ(blind.status, 1);
  EXPECT_THAT(blind.out, HasSubstr("FAIL   cli_test_blind"));
  EXPECT_THAT(blind.out,
              HasSubstr("nothing explored: the run without faults passed no fault point"));
  auto replayed = cli({"replay", "cli_test_blind@none"});
  EXPECT_EQ(replayed.status, 1);
  EXPECT_THAT(replayed.out, HasSubstr("nothing explored"));
  auto json = cli({"run", "cli_test_blind", "--format", "json"});
  EXPECT_THAT(json.out, HasSubstr("\"kind\":\"nothing_explored\""));
  // --skip takes every point of retry.open away, not every point of the seed:
  // the user narrowed the run, retry.open did not go blind.
  auto skip = cli({"run", "retry.open", "seed.get_all_users", "--skip", "conn.*"});
  EXPECT_EQ(skip.status, 0) << skip.out;
  EXPECT_THAT(skip.out, ::testing::ContainsRegex("PASS +retry.open +1 schedules"));
  auto only = cli({"run", "retry.open", "seed.get_all_users", "--only", "pool.*"});
  EXPECT_EQ(only.status, 0) << only.out;
}

TEST(Cli, GithubFormatIsTheTextReportThenAnAnnotationPerBugOnItsLine) {
  auto r = cli({"run", "cli_test_points", "--format", "github"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("FAIL   cli_test_points"));
  EXPECT_THAT(r.out, HasSubstr("\nsummary: 1 scenario"));
  // Every faulted schedule leaks the one handle: one annotation, at its acquisition.
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "\n::error file=tests/tools/cli_test\\.cpp,line=[0-9]+,title=faultscope "
                         "cli_test_points%3A leak::leak: handle #1 \"h\" acquired at "
                         "tests/tools/cli_test\\.cpp:[0-9]+ in cli_test_points, never "
                         "released%0Aunder cli_test\\.a#1=throw, "));
  std::size_t annotations = 0;
  for (auto at = r.out.find("::error"); at != std::string::npos; at = r.out.find("::error", at + 1))
    ++annotations;
  EXPECT_EQ(annotations, 1u) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "no colour";
  // Nothing to annotate: the text report alone.
  auto pass = cli({"run", "scope.with_resource", "--format=github"});
  EXPECT_EQ(pass.status, 0);
  EXPECT_EQ(pass.out.find("::"), std::string::npos) << pass.out;
}

TEST(Cli, KindsReplaceTheScenariosFaults) {
  auto r = cli({"run", "cli_test_points", "--kinds", "error(io_error),delay(5ms)"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("7 schedules"));  // 3 hits x 2 kinds, and the clean run
  // A delay leaks nothing; an error at any hit does.
  EXPECT_EQ(failing_plans(r.out),
            (plans{"cli_test.a#1=error(io_error)", "cli_test.b#1=error(io_error)",
                   "cli_test.b#2=error(io_error)"}));
}

TEST(Cli, PersistentFaultsFireAtTheirHitAndEveryLaterOne) {
  auto r =
      cli({"run", "cli_test_points", "--persistent", "--only", "cli_test.b", "--kinds", "throw"});
  // From the first hit on is every hit: a plan writes that without a selector.
  EXPECT_EQ(failing_plans(r.out), (plans{"cli_test.b=throw", "cli_test.b#2+=throw"}));
  // The text report shows that one as failing the same way; JSON has its replay.
  auto json = cli({"run", "cli_test_points", "--persistent", "--only", "cli_test.b", "--kinds",
                   "throw", "--format", "json"});
  EXPECT_THAT(json.out, HasSubstr("faultscope replay 'cli_test_points@cli_test.b#2+=throw'"));
}

TEST(Cli, ShardsSplitTheSchedulesAndTogetherRunThemAll) {
  plans together;
  for (const char* k : {"1/3", "2/3", "3/3"}) {
    auto r = cli({"run", "cli_test_points", "--shard", k});
    EXPECT_THAT(r.out, HasSubstr(std::string("shard ") + k)) << r.out;
    auto mine = failing_plans(r.out);
    EXPECT_EQ(mine.size(), 2u) << k;
    together.insert(together.end(), mine.begin(), mine.end());
  }
  auto all = failing_plans(cli({"run", "cli_test_points"}).out);
  std::sort(together.begin(), together.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(together, all);
}

TEST(Cli, ListPointsShowsEveryPointWithItsHits) {
  auto r = cli({"list", "cli_test_points", "--points"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n    cli_test\\.a +1 hit\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n    cli_test\\.b +2 hits\n"));
  // Points the scenario's own options leave out say so.
  auto nested = cli({"list", "--points", "scope.nested"});
  EXPECT_THAT(nested.out, ::testing::ContainsRegex("file\\.close +1 hit +not faulted"));
  EXPECT_THAT(nested.out, ::testing::ContainsRegex("file\\.write +3 hits\n"));
  EXPECT_THAT(cli({"list", "cli_test_points"}).out, ::testing::Not(HasSubstr("hit")));
  // A run without faults that fails is shown, on one line.
  auto broken = cli({"list", "cli_test_broken", "--points"});
  EXPECT_THAT(broken.out, HasSubstr("cli_test.never"));
  EXPECT_THAT(broken.out, HasSubstr("the run without faults ended exception: broken\\x0asetup"));
  EXPECT_THAT(broken.out, ::testing::Not(HasSubstr("exploring it fails")));
  // One whose exploration would inject nothing says so before it is run.
  EXPECT_THAT(cli({"list", "cli_test_blind", "--points"}).out,
              HasSubstr("    (no fault point)\n    exploring it fails: nothing explored: the run "
                        "without faults passed no fault point"));
  EXPECT_THAT(cli({"list", "sqlite.oom_sweep", "--points"}).out,
              ::testing::Not(HasSubstr("exploring it fails")));
}

TEST(Cli, HelpAndVersion) {
  for (auto args : std::vector<std::vector<const char*>>{{"--help"},
                                                         {"-h"},
                                                         {"help"},
                                                         {"run", "--help"},
                                                         {"list", "--help"},
                                                         {"replay", "--help"}}) {
    auto r = cli(args);
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.out, HasSubstr("usage: faultscope"));
  }
  EXPECT_THAT(cli({"--version"}).out, HasSubstr("faultscope 0.1.0"));
}

TEST(Cli, ListShowsScenariosAndTags) {
  auto r = cli({"list"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("pool.exhaustion"));
  EXPECT_THAT(r.out, HasSubstr("[canary]"));
  EXPECT_THAT(r.out, HasSubstr("a lock released only when nothing fails (plants: leak)"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("leave the queue (plants")));
  EXPECT_EQ(cli({"list", "canary"}).out.find("pool.exhaustion"), std::string::npos);
}

TEST(Cli, SeveralFiltersRunEachScenarioTheyMatchOnceInRegistrationOrder) {
  // canary.naive_cleanup matches both; the manual scenario only the second.
  auto r = cli({"run", "cli_test_points", "canary.naive_cleanup", "canary"});
  EXPECT_EQ(r.status, 1) << r.err;  // cli_test_points leaks, the canaries are caught
  EXPECT_THAT(r.out, HasSubstr("exploring 6 scenarios"));
  const auto first = r.out.find("cli_test_points");
  const auto canary = r.out.find("CAUGHT canary.naive_cleanup");
  ASSERT_NE(canary, std::string::npos) << r.out;
  EXPECT_LT(first, canary) << "registered first, reported first";
  EXPECT_EQ(r.out.find("CAUGHT canary.naive_cleanup", canary + 1), std::string::npos)
      << "reported once";
  auto listed = cli({"list", "seed.*", "seed", "canary.lock_*"});
  EXPECT_EQ(listed.status, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("seed.get_all_users"));
  EXPECT_THAT(listed.out, HasSubstr("sqlite.get_all_users"));  // tagged seed
  EXPECT_THAT(listed.out, HasSubstr("canary.lock_not_released"));
  EXPECT_EQ(listed.out.find("canary.naive_cleanup"), std::string::npos);
}

TEST(Cli, JsonAndJunitReports) {
  auto json = cli({"run", "canary.naive_cleanup", "--format", "json"});
  EXPECT_EQ(json.status, 0);
  EXPECT_THAT(json.out, HasSubstr("\"name\":\"canary.naive_cleanup\",\"canary\":true,\"ok\":true"));
  EXPECT_THAT(json.out, HasSubstr("\"kind\":\"leak\""));
  EXPECT_THAT(json.out, HasSubstr("\"message\":\"leak: connection #1 \\\"db\\\""));
  auto attached = cli({"run", "canary.naive_cleanup", "--format=json", "--jobs=2"});
  EXPECT_EQ(attached.status, 0) << attached.err;
  EXPECT_THAT(attached.out, HasSubstr("\"kind\":\"leak\"")) << "--opt=value as --opt value";
  auto junit = cli({"run", "scope.with_resource", "--format", "junit"});
  EXPECT_EQ(junit.status, 0);
  EXPECT_THAT(
      junit.out,
      HasSubstr("<testsuite name=\"scope.with_resource\" tests=\"10\" failures=\"0\" time=\""));
  EXPECT_THAT(
      junit.out,
      HasSubstr("<testcase classname=\"scope.with_resource\" name=\"conn.open#1=throw\"/>"));
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Wall times are the only part of a report that changes from run to run.
std::string without_times(std::string s) {
  s = std::regex_replace(s, std::regex(R"( +\d+\.\d+ ms\n)"), " <time> ms\n");
  s = std::regex_replace(s, std::regex(R"("wall_ms":\d+\.\d+)"), R"("wall_ms":0)");
  return std::regex_replace(s, std::regex(R"(time="\d+\.\d+")"), R"(time="0")");
}

// The report of a fixed run, against a file under tests/tools/golden.
// FAULTSCOPE_UPDATE_GOLDEN=1 rewrites the files after a deliberate change (a
// moved line in a canary changes its "acquired at").
void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(FAULTSCOPE_GOLDEN_DIR) + "/" + name;
  const std::string got = without_times(actual);
  if (const char* update = std::getenv("FAULTSCOPE_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path) << got;
    return;
  }
  const std::string want = slurp(path);
  ASSERT_FALSE(want.empty()) << path << " is missing (FAULTSCOPE_UPDATE_GOLDEN=1 writes it)";
  EXPECT_EQ(got, want) << "the report differs from " << path
                       << "; if the change is meant, rerun with FAULTSCOPE_UPDATE_GOLDEN=1";
}

TEST(CliGolden, TextReportOfTheCanaries) {
  auto r = cli({"run", "canary"});
  EXPECT_EQ(r.status, 0);
  expect_golden("canary.txt", r.out);
}

TEST(CliGolden, JsonReportOfTheCanaries) {
  auto r = cli({"run", "canary", "--format", "json"});
  EXPECT_EQ(r.status, 0);
  expect_golden("canary.json", r.out);
}

TEST(CliGolden, JunitReportOfTheCanaries) {
  auto r = cli({"run", "canary", "--format", "junit"});
  EXPECT_EQ(r.status, 0);
  expect_golden("canary.junit.xml", r.out);
}

// The page and its lifetime charts: a bar's place and length come from the
// virtual clock, which a replay repeats, so the page is the same every run.
TEST(CliGolden, HtmlReportOfTheCanaries) {
  const std::string path = ::testing::TempDir() + "faultscope_golden.html";
  auto r = cli({"run", "canary", "--html", path.c_str()});
  EXPECT_EQ(r.status, 0);
  expect_golden("canary.html", slurp(path));
}

TEST(CliGolden, TimesAreTheOnlyPartMasked) {
  // The mask must not hide a change in anything but wall time.
  EXPECT_EQ(without_times("  CAUGHT x      7 schedules    1 failing      58.3 ms\n"),
            "  CAUGHT x      7 schedules    1 failing <time> ms\n");
  EXPECT_NE(without_times("7 schedules"), without_times("8 schedules"));
}

TEST(Cli, AFailingScenarioExitsOneAndShowsItsReplay) {
  auto r = cli({"run", "cli_test_leaky"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("FAIL"));
  EXPECT_THAT(r.out, HasSubstr("leak: handle #1 \"<\"odd\" & label>\""));
  EXPECT_THAT(r.out, HasSubstr("replay: faultscope replay 'cli_test_leaky@cli_test.step#1=throw'"));
}

TEST(Cli, CheckFdsReportsADescriptorLeftOpenAndItsReplayChecksItToo) {
  closes_leftover_pipes closer;
  EXPECT_EQ(cli({"run", "cli_test_descriptor", "--kinds", "throw"}).status, 0)
      << "not checked unless asked for";
  auto r = cli({"run", "cli_test_descriptor", "--kinds", "throw", "--check-fds", "--jobs", "2"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("leak: file descriptor"));
  EXPECT_THAT(r.out, HasSubstr("(pipe:["));
  EXPECT_THAT(r.out,
              HasSubstr("replay: faultscope replay 'cli_test_descriptor@cli_test.fd#1=throw' "
                        "--check-fds\n"));
  auto again = cli({"replay", "cli_test_descriptor@cli_test.fd#1=throw", "--check-fds"});
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.out, HasSubstr("leak: file descriptor"));
  EXPECT_EQ(cli({"replay", "cli_test_descriptor@cli_test.fd#1=throw"}).status, 0);
}

// --ignore-fd adds to what a scenario leaves out itself, never replaces it.
TEST(Cli, IgnoreFdKeepsTheScenariosOwnChoice) {
  closes_leftover_pipes closer;
  auto r = cli({"run", "cli_test_descriptor_own_ignore", "--kinds", "throw", "--check-fds",
                "--ignore-fd", "/dev/*"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST(Cli, IgnoreFdLeavesOutTheDescriptorsItMatchesAndTheReplayCarriesIt) {
  closes_leftover_pipes closer;
  EXPECT_EQ(cli({"run", "cli_test_descriptor", "--kinds", "throw", "--check-fds", "--ignore-fd",
                 "pipe:*"})
                .status,
            0);
  auto r = cli({"run", "cli_test_descriptor", "--kinds", "throw", "--check-fds", "--ignore-fd",
                "/dev/*", "--ignore-fd=it's *"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("leak: file descriptor"));
  EXPECT_THAT(r.out,
              HasSubstr("replay: faultscope replay 'cli_test_descriptor@cli_test.fd#1=throw' "
                        "--check-fds --ignore-fd '/dev/*' --ignore-fd 'it'\\''s *'\n"));
  EXPECT_EQ(cli({"replay", "cli_test_descriptor@cli_test.fd#1=throw", "--check-fds", "--ignore-fd",
                 "pipe:*"})
                .status,
            0);
  EXPECT_EQ(
      cli({"replay", "cli_test_descriptor@cli_test.fd#1=throw", "--check-fds", "--ignore-fd", "x*"})
          .status,
      1);
}

TEST(Cli, FdGraceWaitsForADescriptorAnotherThreadClosesLater) {
  struct join_closers {
    ~join_closers() {
      for (auto& t : cli_test_closers) t.join();
      cli_test_closers.clear();
    }
  };
  {
    join_closers joined;
    auto r = cli({"run", "cli_test_closed_later", "--check-fds", "--fd-grace", "0"});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("leak: file descriptor"));
    EXPECT_THAT(r.out, HasSubstr("replay: faultscope replay 'cli_test_closed_later@none' "
                                 "--check-fds --fd-grace 0\n"));
  }
  join_closers joined;
  auto r = cli({"run", "cli_test_closed_later", "--check-fds", "--fd-grace=10000"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST(Cli, AScenarioWhoseOptionsCannotBeExploredIsAOneLineError) {
  auto r = cli({"run", "cli_test_bad_depth"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "faultscope: explore 'cli_test_bad_depth': depth must be 1 or 2, got 3\n");
  EXPECT_EQ(cli({"run", "cli_test_bad_depth", "--depth", "2"}).status, 0)
      << "--depth overrides the scenario's own";
}

TEST(Cli, WallLimitCutsABusyLoopShortInRunAndReplay) {
  auto r = cli({"run", "cli_test_spins", "--kinds", "throw", "--wall-limit", "100"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("still running after 100 ms of wall time"));
  auto again = cli({"replay", "cli_test_spins@cli_test.spin#1=throw", "--wall-limit=100"});
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.out, HasSubstr("hung"));
  EXPECT_THAT(again.out, HasSubstr("still running after 100 ms of wall time"));
}

// A report's reader decodes it as UTF-8 (Python's json, an XML parser): a
// stray byte in a message must not make the whole report unreadable.
TEST(Cli, AMessageThatIsNotUtf8ReachesTheReportsAsReplacementCharacters) {
  for (const char* format : {"json", "junit"}) {
    auto r = cli({"run", "cli_test_latin1", "--format", format});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("caf\xEF\xBF\xBD")) << format;
    EXPECT_THAT(r.out, Not(HasSubstr("caf\xe9"))) << format;
  }
}

TEST(Cli, JunitReportParsesAsXml) {
  // A run with real failures (text that needs escaping), the canaries, and a
  // clean one: each parses, and each suite holds as many cases as it says.
  for (auto args :
       std::vector<std::vector<const char*>>{{"run", "cli_test_leaky", "--format", "junit"},
                                             {"run", "canary", "--format", "junit"},
                                             {"run", "scope.*", "--format", "junit"}}) {
    auto r = cli(args);
    std::istringstream in(r.out);
    boost::property_tree::ptree tree;
    ASSERT_NO_THROW(boost::property_tree::read_xml(in, tree)) << r.out;
    std::size_t suites = 0, cases = 0;
    for (const auto& [tag, suite] : tree.get_child("testsuites")) {
      if (tag != "testsuite") continue;
      ++suites;
      std::size_t here = 0;
      for (const auto& [t, c] : suite)
        if (t == "testcase") ++here;
      EXPECT_EQ(here, suite.get<std::size_t>("<xmlattr>.tests"));
      cases += here;
    }
    EXPECT_GT(suites, 0u);
    EXPECT_GT(cases, suites);
  }
  auto r = cli({"run", "cli_test_leaky", "--format", "junit"});
  std::istringstream in(r.out);
  boost::property_tree::ptree tree;
  boost::property_tree::read_xml(in, tree);
  const auto& suite = tree.get_child("testsuites.testsuite");
  EXPECT_EQ(suite.get<int>("<xmlattr>.failures"), 2);  // throw and cancel at the step
  std::size_t with_failure = 0;
  for (const auto& [t, c] : suite) {
    if (t != "testcase" || !c.get_child_optional("failure")) continue;
    ++with_failure;
    EXPECT_THAT(c.get<std::string>("failure.<xmlattr>.message"),
                HasSubstr("leak: handle #1 \"<\"odd\" & label>\""));
    EXPECT_THAT(c.get<std::string>("failure"), HasSubstr("replay: faultscope replay"));
  }
  EXPECT_EQ(with_failure, 2u);
}

TEST(Cli, ProgressBarIsDrawnOnRequestAndErasedBeforeTheReport) {
  setenv("FAULTSCOPE_PROGRESS", "always", 1);
  auto r = cli({"run", "scope.with_resource"});
  unsetenv("FAULTSCOPE_PROGRESS");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("9/9 schedules  scope.with_resource"));
  EXPECT_THAT(r.err, ::testing::EndsWith("\r\x1b[K")) << "erased at the end";
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << "the report itself has no bar";
  // Off a terminal it stays quiet by default.
  EXPECT_TRUE(cli({"run", "scope.with_resource"}).err.empty());
  setenv("FAULTSCOPE_PROGRESS", "", 1);  // set but empty: the default
  EXPECT_EQ(cli({"run", "scope.with_resource"}).status, 0);
  setenv("FAULTSCOPE_PROGRESS", "sometimes", 1);
  auto bad = cli({"run", "scope.with_resource"});
  unsetenv("FAULTSCOPE_PROGRESS");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.err, HasSubstr("FAULTSCOPE_PROGRESS must be always, never or auto"));
}

// Checks that every tag opened is closed in order ("<x/>" and "<!…>" stand
// alone): enough to catch a malformed page without an XML library.
bool tags_balance(const std::string& html, std::string& problem) {
  std::vector<std::string> open;
  for (std::size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    std::size_t end = html.find('>', i);
    if (end == std::string::npos) {
      problem = "unterminated tag";
      return false;
    }
    std::string tag = html.substr(i + 1, end - i - 1);
    if (tag.empty() || tag[0] == '!' || tag.back() == '/') continue;
    std::string name = tag.substr(0, tag.find_first_of(" \n"));
    if (name[0] == '/') {
      if (open.empty() || open.back() != name.substr(1)) {
        problem = "</" + name.substr(1) + "> closes " + (open.empty() ? "nothing" : open.back());
        return false;
      }
      open.pop_back();
    } else {
      open.push_back(name);
    }
  }
  if (!open.empty()) problem = "<" + open.back() + "> never closed";
  return open.empty();
}

TEST(Cli, HtmlReportIsWellFormedWithOneLifetimeBarPerResource) {
  std::string path = ::testing::TempDir() + "faultscope_report.html";
  auto r = cli({"run", "canary", "--html", path.c_str()});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream f(path);
  std::string html((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string problem;
  EXPECT_TRUE(tags_balance(html, problem)) << problem;
  // The page is XHTML-clean, so an XML parser takes it as a second opinion.
  std::istringstream in(html);
  boost::property_tree::ptree tree;
  EXPECT_NO_THROW(boost::property_tree::read_xml(in, tree));
  EXPECT_TRUE(tree.get_child_optional("html.body"));
  // Each failing run of the canaries: one bar per resource it acquired.
  auto json = cli({"run", "canary", "--format", "json"});
  std::size_t resources = 0;
  for (std::size_t at = json.out.find("\"acquired\":"); at != std::string::npos;
       at = json.out.find("\"acquired\":", at + 1))
    resources += std::stoul(json.out.substr(at + 11));
  std::size_t bars = 0, leaked = 0;
  for (std::size_t at = html.find("<rect class=\"life"); at != std::string::npos;
       at = html.find("<rect class=\"life", at + 1)) {
    ++bars;
    leaked += html.compare(at, 25, "<rect class=\"life leaked\"") == 0;
  }
  std::size_t leaking_runs = 0;
  for (std::size_t at = json.out.find("\"kind\":\"leak\""); at != std::string::npos;
       at = json.out.find("\"kind\":\"leak\"", at + 1))
    ++leaking_runs;
  // One bar per resource each failing run acquired; the leaked ones marked.
  EXPECT_EQ(bars, resources);
  EXPECT_EQ(leaked, leaking_runs);
  EXPECT_GT(leaked, 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("class=\"fault\""), std::string::npos) << "injected faults are marked";
}

// A file as a runner going on past a blocked schedule leaves for the process
// that replaces it, holding the exploration of `finished` (a wall time of
// 4242 ms marks it in a report: it was read, not explored again).
std::string continuation_file(const char* finished, std::string_view name) {
  faultscope::cli::continuation c;
  const auto* s = faultscope::registry::instance().find(finished);
  auto report = faultscope::explore(s->name, s->fn, s->options);
  report.wall = std::chrono::milliseconds(4242);
  c.finished.push_back({s, std::move(report)});
  const std::string path = ::testing::TempDir() + std::string(name);
  std::ofstream(path) << faultscope::cli::to_text(c);
  return path;
}

bool exists(const std::string& path) {
  return std::ifstream(path).good();
}

TEST(Cli, ContinueFromReportsTheScenariosTheFileHoldsAndExploresTheRest) {
  faultscope::scenarios::register_builtins();
  const auto path = continuation_file("canary.naive_cleanup", "faultscope_continue_ok");
  auto r = cli({"run", "canary.naive_cleanup", "canary.forgotten_error_path", "--continue-from",
                path.c_str()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("exploring 2 scenarios"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("CAUGHT canary.naive_cleanup .* 4242.0 ms"));
  EXPECT_THAT(r.out, HasSubstr("CAUGHT canary.forgotten_error_path"));
  EXPECT_THAT(r.out, HasSubstr("canaries caught: 2/2"));
  EXPECT_FALSE(exists(path)) << "the file is removed once read";
}

TEST(Cli, ContinueFromCountsTheTimeEarlierProcessesSpentOnTheBlockedScenario) {
  faultscope::scenarios::register_builtins();
  faultscope::cli::continuation c;
  c.spent = std::chrono::hours(1);
  const std::string path = ::testing::TempDir() + "faultscope_continue_spent";
  std::ofstream(path) << faultscope::cli::to_text(c);
  auto r = cli({"run", "canary.naive_cleanup", "--continue-from", path.c_str()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("CAUGHT canary.naive_cleanup .* 3600[0-9]{3}\\.[0-9] ms"));
}

TEST(Cli, ContinueFromAFileForOtherScenariosIsAnErrorAndKeepsTheFile) {
  faultscope::scenarios::register_builtins();
  const auto path = continuation_file("canary.naive_cleanup", "faultscope_continue_other");
  auto r = cli({"run", "canary.forgotten_error_path", "--continue-from", path.c_str()});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("was written for another choice of scenarios"));
  EXPECT_TRUE(r.out.empty());
  EXPECT_TRUE(exists(path)) << "a file it did not use is not removed";
  std::remove(path.c_str());
}

TEST(Cli, ContinueFromAFileNoRunnerWroteIsAnErrorAndKeepsTheFile) {
  const std::string path = ::testing::TempDir() + "faultscope_continue_bad";
  std::ofstream(path) << "{\"scenarios\": []}\n";
  auto r = cli({"run", "canary", "--continue-from", path.c_str()});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "faultscope: --continue-from: '" + path +
                       "' is not a file a runner going on past a blocked schedule wrote "
                       "(expected a token's length at byte 0)\n");
  EXPECT_TRUE(exists(path));
  std::remove(path.c_str());
}

struct bad {
  std::vector<const char*> args;
  const char* says;
};

void PrintTo(const bad& b, std::ostream* os) {
  *os << "faultscope";
  for (const char* a : b.args) *os << ' ' << a;
}

class BadInput : public ::testing::TestWithParam<bad> {};

TEST_P(BadInput, IsAOneLineErrorWithExitTwo) {
  auto r = cli(GetParam().args);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_THAT(r.err, HasSubstr(GetParam().says));
  EXPECT_THAT(r.err, ::testing::StartsWith("faultscope: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInput,
    ::testing::Values(
        bad{{}, "no command given"}, bad{{"frobnicate"}, "unknown command"},
        bad{{"frob\nnicate"}, "unknown command 'frob\\x0anicate'"},
        bad{{"run", "--dpeth", "2"}, "unknown option '--dpeth'"},
        bad{{"run", "--depth", "3"}, "from 1 to 2"}, bad{{"run", "--depth", "two"}, "got 'two'"},
        bad{{"run", "--jobs"}, "--jobs needs a value"},
        bad{{"run", "--jobs", "0"}, "from 1 to 256"},
        bad{{"run", "--jobs="}, "--jobs needs a whole number from 1 to 256, got ''"},
        bad{{"run", "--format=xml"}, "text, json, junit or github, got 'xml'"},
        bad{{"run", "--dpeth=2"}, "unknown option '--dpeth=2'"},
        bad{{"run", "--swarm", "-5"}, "--swarm needs a whole number"},
        bad{{"run", "--format", "xml"}, "text, json, junit or github"},
        bad{{"run", "--output", "x.txt", "--format=github"}, "standard output: drop --output"},
        bad{{"run", "canary", "nosuch"}, "no scenario matches 'nosuch'"},
        bad{{"run", "nosuch"}, "no scenario matches 'nosuch'"},
        bad{{"run", "no.such=filter"}, "no scenario matches 'no.such=filter'"},  // not an option
        bad{{"list", "canary", "nosuch"}, "no scenario matches 'nosuch'"},
        bad{{"list", "--pionts"}, "unknown option '--pionts' for list"},
        bad{{"list", "--points", "nosuch", "canary"}, "no scenario matches 'nosuch'"},
        bad{{"replay"}, "exactly one TOKEN"}, bad{{"replay", "no-at-sign"}, "SCENARIO@PLAN"},
        bad{{"replay", "nobody@none"}, "no scenario named 'nobody'"},
        bad{{"replay", "scope.nested@conn.open#0=throw"}, "hit numbers start at 1"},
        bad{{"run", "--output", "/nonexistent-dir/x.json"}, "cannot write"},
        bad{{"run", "--html"}, "--html needs a value"},
        bad{{"run", "--html="}, "--html needs a file name"},
        bad{{"run", "--output="}, "--output needs a file name"},
        bad{{"run", "canary", "--html", "/nonexistent-dir/x.html"}, "cannot write"},
        bad{{"run", "--only"}, "--only needs a value"},
        bad{{"run", "--only", "a,,b"}, "non-empty list"}, bad{{"run", "--skip="}, "non-empty list"},
        bad{{"run", "--kinds", "throw,thorw"},
            "--kinds: bad fault at column 1: unknown fault kind 'thorw'"},
        bad{{"run", "--kinds", "delay(5)"}, "duration unit"},
        bad{{"run", "--persistent=yes"}, "--persistent takes no value"},
        bad{{"run", "--check-fds=yes"}, "--check-fds takes no value"},
        bad{{"replay", "a@b#1=throw", "--check-fds=1"}, "--check-fds takes no value"},
        bad{{"run", "--shard", "0/2"}, "--shard needs K/N"},
        bad{{"run", "--shard", "3/2"}, "got '3/2'"}, bad{{"run", "--shard", "2"}, "got '2'"},
        bad{{"run", "--shard", "1/x"}, "got '1/x'"},
        bad{{"run", "--shard", "1/100001"}, "got '1/100001'"},
        bad{{"run", "--wall-limit", "0"}, "--wall-limit needs a whole number from 1 to 86400000"},
        bad{{"run", "--wall-limit=1s"}, "got '1s'"},
        bad{{"run", "--max-blocked", "x"}, "--max-blocked needs a whole number from 0 to 100000"},
        bad{{"run", "--fd-grace", "1s"}, "--fd-grace needs a whole number from 0 to 600000"},
        bad{{"run", "--ignore-fd="}, "--ignore-fd needs a pattern"},
        bad{{"replay", "a@b#1=throw", "--fd-grace"}, "--fd-grace needs a value"},
        bad{{"run", "--continue-from"}, "--continue-from needs a value"},
        bad{{"run", "--continue-from="}, "--continue-from needs a file name"},
        bad{{"run", "--continue-from", "/nonexistent-dir/state"},
            "--continue-from: cannot read '/nonexistent-dir/state'"},
        bad{{"replay", "cli_test_spins@cli_test.spin#1=throw", "--wall-limit"},
            "--wall-limit needs a value"},
        bad{{"replay", "cli_test_spins@cli_test.spin#1=throw", "--wall-limit=x"}, "got 'x'"},
        bad{{"replay", "a@b#1=throw", "--jobs", "2"}, "unknown option '--jobs' for replay"}));

}  // namespace
