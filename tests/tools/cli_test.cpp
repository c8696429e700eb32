// The command-line runner: exit codes, help, reports, and one-line errors for
// bad flags and arguments.
#include "cli.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>

using ::testing::HasSubstr;

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
}

TEST(Cli, CanarySuiteIsCaughtAndShowsTheLeakAndItsReplay) {
  auto r = cli({"run", "canary"});
  EXPECT_EQ(r.status, 0) << "every canary was caught";
  EXPECT_THAT(r.out, HasSubstr("CAUGHT canary.naive_cleanup"));
  EXPECT_THAT(r.out, HasSubstr("leak: connection #1 \"db\""));
  EXPECT_THAT(r.out,
              HasSubstr("replay: faultscope replay 'canary.naive_cleanup@conn.query#1=cancel'"));
}

TEST(Cli, ReplayReproducesTheViolationAndExitsOne) {
  auto r = cli({"replay", "canary.naive_cleanup@conn.query#1=cancel"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("leak: connection #1"));
  EXPECT_THAT(r.out, HasSubstr("injected conn.query#1=cancel"));
  EXPECT_EQ(cli({"replay", "scope.with_resource@none"}).status, 0);
}

TEST(Cli, HelpAndVersion) {
  for (auto args : std::vector<std::vector<const char*>>{
           {"--help"}, {"run", "--help"}, {"list", "--help"}, {"replay", "--help"}}) {
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
  EXPECT_EQ(cli({"list", "canary"}).out.find("pool.exhaustion"), std::string::npos);
}

TEST(Cli, JsonAndJunitReports) {
  auto json = cli({"run", "canary.naive_cleanup", "--format", "json"});
  EXPECT_EQ(json.status, 0);
  EXPECT_THAT(json.out, HasSubstr("\"name\":\"canary.naive_cleanup\",\"canary\":true,\"ok\":true"));
  EXPECT_THAT(json.out, HasSubstr("\"kind\":\"leak\""));
  EXPECT_THAT(json.out, HasSubstr("\"message\":\"leak: connection #1 \\\"db\\\""));
  auto junit = cli({"run", "scope.with_resource", "--format", "junit"});
  EXPECT_EQ(junit.status, 0);
  EXPECT_THAT(junit.out,
              HasSubstr("<testsuite name=\"scope.with_resource\" tests=\"10\" failures=\"0\">"));
  EXPECT_THAT(
      junit.out,
      HasSubstr("<testcase classname=\"scope.with_resource\" name=\"conn.open#1=throw\"/>"));
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
    ::testing::Values(bad{{}, "no command given"}, bad{{"frobnicate"}, "unknown command"},
                      bad{{"run", "--dpeth", "2"}, "unknown option '--dpeth'"},
                      bad{{"run", "--depth", "3"}, "from 1 to 2"},
                      bad{{"run", "--depth", "two"}, "got 'two'"},
                      bad{{"run", "--jobs"}, "--jobs needs a value"},
                      bad{{"run", "--jobs", "0"}, "from 1 to 256"},
                      bad{{"run", "--swarm", "-5"}, "--swarm needs a whole number"},
                      bad{{"run", "--format", "xml"}, "text, json or junit"},
                      bad{{"run", "a", "b"}, "one FILTER"},
                      bad{{"run", "nosuch"}, "no scenario matches 'nosuch'"},
                      bad{{"list", "a", "b"}, "at most one FILTER"},
                      bad{{"replay"}, "exactly one TOKEN"},
                      bad{{"replay", "no-at-sign"}, "SCENARIO@PLAN"},
                      bad{{"replay", "nobody@none"}, "no scenario named 'nobody'"},
                      bad{{"replay", "scope.nested@conn.open#0=throw"}, "hit numbers start at 1"},
                      bad{{"run", "--output", "/nonexistent-dir/x.json"}, "cannot write"},
                      bad{{"run", "--html"}, "--html needs a value"},
                      bad{{"run", "canary", "--html", "/nonexistent-dir/x.html"}, "cannot write"}));

}  // namespace
