// The report of a test binary the watchdog ends. GoogleTest writes its XML or
// JSON report after the last test, so a binary ended inside a test that
// blocked its thread leaves none, and CI shows a crash with nothing in it.
// This writes the report GoogleTest would have: the tests that ran with their
// failures, the blocked test failed with the watchdog's line, and the rest as
// skipped (not passed: they never ran).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faultscope/detail/format.hpp"
#include "faultscope/detail/watchdog.hpp"
#include "faultscope/testing/gtest.hpp"

namespace faultscope::testing {
namespace {

constexpr std::string_view not_run = "not run: the watchdog ended the test binary before it";

std::string seconds(::testing::TimeInMillis ms) {
  return fmt::format("{:.3f}", static_cast<double>(ms) / 1000);
}

// GoogleTest's choice of file: --gtest_output=FORMAT, FORMAT:FILE or FORMAT:DIR/.
std::string report_path(std::string_view output, std::string_view format,
                        std::string_view program) {
  std::string path(output.substr(std::min(output.size(), format.size() + 1)));
  if (path.empty()) return fmt::format("test_detail.{}", format);
  if (path.back() == '/') {
    std::string_view name = program.substr(program.find_last_of('/') + 1);
    path += fmt::format("{}.{}", name.substr(0, name.rfind(".exe")), format);
  }
  return path;
}

struct failure {
  std::string message;  // a line: where, and the assertion's summary
  std::string text;     // where, and the whole message
};

// How a test stands when the watchdog ends the binary: the blocked one is the
// test running now; one that never started has no start time.
struct test_case {
  const ::testing::TestInfo* info;
  bool blocked;
  bool ran;
  bool failed;
  bool skipped;  // skipped by the test itself, or never run
  std::vector<failure> failures;
};

struct test_suite {
  std::string name;
  std::vector<test_case> cases;
  int failed = 0;
  int skipped = 0;
};

// Both formats are drawn from one reading of GoogleTest's results.
struct results {
  std::vector<test_suite> suites;
  int tests = 0;
  int failures = 0;
  int skipped = 0;
};

test_case read_test(const ::testing::TestInfo& t, const std::string& blocked_line) {
  const ::testing::TestResult& r = *t.result();
  test_case c{
      &t, &t == ::testing::UnitTest::GetInstance()->current_test_info(), false, false, false, {}};
  c.ran = c.blocked || r.start_timestamp() != 0;
  c.failed = c.blocked || r.Failed();
  c.skipped = !c.ran || r.Skipped();
  for (int i = 0; i < r.total_part_count(); ++i) {
    const ::testing::TestPartResult& part = r.GetTestPartResult(i);
    if (!part.failed()) continue;
    const std::string where =
        part.file_name() ? fmt::format("{}:{}\n", part.file_name(), part.line_number()) : "";
    c.failures.push_back({where + part.summary(), where + part.message()});
  }
  if (c.blocked) c.failures.push_back({blocked_line, blocked_line});
  return c;
}

results read_results(const std::string& blocked_line) {
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  results all;
  for (int i = 0; i < u.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& s = *u.GetTestSuite(i);
    if (s.test_to_run_count() == 0) continue;
    test_suite suite{s.name(), {}};
    for (int j = 0; j < s.total_test_count(); ++j) {
      const ::testing::TestInfo& t = *s.GetTestInfo(j);
      if (!t.should_run()) continue;
      suite.cases.push_back(read_test(t, blocked_line));
      suite.failed += suite.cases.back().failed ? 1 : 0;
      suite.skipped += suite.cases.back().skipped ? 1 : 0;
    }
    all.tests += static_cast<int>(suite.cases.size());
    all.failures += suite.failed;
    all.skipped += suite.skipped;
    all.suites.push_back(std::move(suite));
  }
  // Outside any test (a suite's or an environment's set-up), the line would
  // be nowhere: it gets a test case of its own.
  if (u.current_test_info() == nullptr) {
    test_case watchdog{nullptr, true, true, true, false, {{blocked_line, blocked_line}}};
    all.suites.push_back({"faultscope", {std::move(watchdog)}, 1, 0});
    ++all.tests;
    ++all.failures;
  }
  return all;
}

std::string xml_failure(const failure& f) {
  return fmt::format(R"(      <failure message="{}" type="">{}</failure>)"
                     "\n",
                     detail::xml_text(f.message, true), detail::xml_cdata(f.text));
}

std::string xml_testcase(const test_case& c, const std::string& suite) {
  std::string out =
      c.info ? fmt::format(R"(    <testcase name="{}" file="{}" line="{}" status="run" )"
                           R"(result="{}" time="{}" classname="{}">)"
                           "\n",
                           detail::xml_text(c.info->name()), detail::xml_text(c.info->file()),
                           c.info->line(), c.skipped ? "skipped" : "completed",
                           seconds(c.info->result()->elapsed_time()), detail::xml_text(suite))
             : fmt::format(R"(    <testcase name="watchdog" status="run" result="completed" )"
                           R"(time="0.000" classname="{}">)"
                           "\n",
                           detail::xml_text(suite));
  for (const failure& f : c.failures) out += xml_failure(f);
  if (!c.ran)
    out += fmt::format(R"(      <skipped message="{}"/>)"
                       "\n",
                       not_run);
  else if (c.skipped && !c.blocked)
    out += "      <skipped message=\"skipped\"/>\n";
  return out + "    </testcase>\n";
}

std::string xml_report(const results& all) {
  std::string suites;
  for (const test_suite& s : all.suites) {
    std::string cases;
    for (const test_case& c : s.cases) cases += xml_testcase(c, s.name);
    suites += fmt::format(
        R"(  <testsuite name="{}" tests="{}" failures="{}" disabled="0" skipped="{}" errors="0">)"
        "\n{}  </testsuite>\n",
        detail::xml_text(s.name), s.cases.size(), s.failed, s.skipped, cases);
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      R"(<testsuites tests="{}" failures="{}" disabled="0" skipped="{}" )"
      R"(errors="0" name="AllTests">)"
      "\n{}</testsuites>\n",
      all.tests, all.failures, all.skipped, suites);
}

// GoogleTest's JSON keys and values ("RUN", "COMPLETED", "SKIPPED", "0.001s");
// a test the binary never reached also says why, under "skipped".
std::string json_testcase(const test_case& c, const std::string& suite) {
  std::string out = "        {\n";
  if (c.info)
    out += fmt::format(R"(          "name": "{}",)"
                       "\n"
                       R"(          "file": "{}",)"
                       "\n"
                       R"(          "line": {},)"
                       "\n",
                       detail::json_text(c.info->name()), detail::json_text(c.info->file()),
                       c.info->line());
  else
    out += "          \"name\": \"watchdog\",\n";
  out +=
      fmt::format(R"(          "status": "RUN",)"
                  "\n"
                  R"(          "result": "{}",)"
                  "\n"
                  R"(          "time": "{}s",)"
                  "\n"
                  R"(          "classname": "{}")",
                  c.skipped ? "SKIPPED" : "COMPLETED",
                  seconds(c.info ? c.info->result()->elapsed_time() : 0), detail::json_text(suite));
  if (!c.failures.empty()) {
    out += ",\n          \"failures\": [\n";
    for (std::size_t i = 0; i < c.failures.size(); ++i)
      out +=
          fmt::format(R"(            {{"failure": "{}", "type": ""}}{})"
                      "\n",
                      detail::json_text(c.failures[i].text), i + 1 < c.failures.size() ? "," : "");
    out += "          ]";
  }
  if (!c.ran)
    out += fmt::format(
        ",\n"
        R"(          "skipped": [{{"message": "{}"}}])",
        not_run);
  return out + "\n        }";
}

// The counts GoogleTest gives a suite and the whole report, in its order.
std::string json_counts(std::string_view indent, std::size_t tests, int failures) {
  return fmt::format(R"({0}"tests": {1},)"
                     "\n"
                     R"({0}"failures": {2},)"
                     "\n"
                     R"({0}"disabled": 0,)"
                     "\n"
                     R"({0}"errors": 0,)"
                     "\n",
                     indent, tests, failures);
}

std::string json_report(const results& all) {
  std::string suites;
  for (const test_suite& s : all.suites) {
    std::string cases;
    for (const test_case& c : s.cases)
      cases += fmt::format("{}{}", cases.empty() ? "" : ",\n", json_testcase(c, s.name));
    suites += fmt::format(
        "{}    {{\n"
        R"(      "name": "{}",)"
        "\n{}"
        R"(      "testsuite": [)"
        "\n{}\n      ]\n    }}",
        suites.empty() ? "" : ",\n", detail::json_text(s.name),
        json_counts("      ", s.cases.size(), s.failed), cases);
  }
  return fmt::format(
      "{{\n{}"
      R"(  "name": "AllTests",)"
      "\n"
      R"(  "testsuites": [)"
      "\n{}\n  ]\n}}\n",
      json_counts("  ", static_cast<std::size_t>(all.tests), all.failures), suites);
}

void write_report(const std::string& path, bool json, const std::string& blocked_line) {
  const results all = read_results(blocked_line);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fputs(
        fmt::format("faultscope: cannot write the {} report to '{}'\n", json ? "JSON" : "XML", path)
            .c_str(),
        stderr);
    return;
  }
  std::fputs((json ? json_report(all) : xml_report(all)).c_str(), f);
  std::fclose(f);
}

}  // namespace

void write_report_when_the_watchdog_ends(std::string program) {
  const std::string output = GTEST_FLAG_GET(output);
  std::string_view format;
  for (std::string_view f : {"xml", "json"})
    if (output == f || output.starts_with(fmt::format("{}:", f))) format = f;
  if (format.empty()) {
    detail::set_last_words({});
    return;
  }
  detail::set_last_words([path = report_path(output, format, program), json = format == "json"](
                             std::string_view, const fault_plan&, const std::string& line) {
    write_report(path, json, "hang: " + line);
  });
}

}  // namespace faultscope::testing
