// The XML report of a test binary the watchdog ends. GoogleTest writes its
// report after the last test, so a binary ended inside a test that blocked its
// thread leaves none, and CI shows a crash with nothing in it. This writes the
// report GoogleTest would have: the tests that ran with their failures, the
// blocked test failed with the watchdog's line, and the rest as skipped (not
// passed: they never ran).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "faultscope/detail/format.hpp"
#include "faultscope/detail/watchdog.hpp"
#include "faultscope/testing/gtest.hpp"

namespace faultscope::testing {
namespace {

std::string seconds(::testing::TimeInMillis ms) {
  return fmt::format("{:.3f}", static_cast<double>(ms) / 1000);
}

// GoogleTest's choice of file: --gtest_output=xml, xml:FILE or xml:DIR/.
std::string report_path(std::string_view output, std::string_view program) {
  std::string path(output.substr(std::min<std::size_t>(output.size(), 4)));
  if (path.empty()) return "test_detail.xml";
  if (path.back() == '/') {
    std::string_view name = program.substr(program.find_last_of('/') + 1);
    path += fmt::format("{}.xml", name.substr(0, name.rfind(".exe")));
  }
  return path;
}

// How a test stands when the watchdog ends the binary: the blocked one is the
// test running now; one that never started has no start time.
struct test_state {
  bool blocked;
  bool ran;
  bool failed;
  bool skipped;  // skipped by the test itself, or never run
};

test_state state_of(const ::testing::TestInfo& t) {
  const bool blocked = &t == ::testing::UnitTest::GetInstance()->current_test_info();
  const bool ran = blocked || t.result()->start_timestamp() != 0;
  return {blocked, ran, blocked || t.result()->Failed(), !ran || t.result()->Skipped()};
}

std::string failure(const std::string& message, const std::string& text) {
  return fmt::format(R"(      <failure message="{}" type="">{}</failure>)"
                     "\n",
                     detail::xml_text(message, true), detail::xml_cdata(text));
}

std::string testcase(const ::testing::TestInfo& t, const test_state& st,
                     const std::string& blocked_line) {
  const ::testing::TestResult& r = *t.result();
  std::string out = fmt::format(
      R"(    <testcase name="{}" file="{}" line="{}" status="run" result="{}" time="{}" )"
      R"(classname="{}">)"
      "\n",
      detail::xml_text(t.name()), detail::xml_text(t.file()), t.line(),
      st.skipped ? "skipped" : "completed", seconds(r.elapsed_time()),
      detail::xml_text(t.test_suite_name()));
  for (int i = 0; i < r.total_part_count(); ++i) {
    const ::testing::TestPartResult& part = r.GetTestPartResult(i);
    if (!part.failed()) continue;
    const std::string where =
        part.file_name() ? fmt::format("{}:{}\n", part.file_name(), part.line_number()) : "";
    out += failure(where + part.summary(), where + part.message());
  }
  if (st.blocked)
    out += failure(blocked_line, blocked_line);
  else if (!st.ran)
    out += R"(      <skipped message="not run: the watchdog ended the test binary before it"/>)"
           "\n";
  else if (st.skipped)
    out += "      <skipped message=\"skipped\"/>\n";
  return out + "    </testcase>\n";
}

void write_report(const std::string& path, const std::string& blocked_line) {
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  std::string suites;
  int tests = 0, failures = 0, skipped = 0;
  for (int i = 0; i < u.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& s = *u.GetTestSuite(i);
    if (s.test_to_run_count() == 0) continue;
    std::string cases;
    int n = 0, failed = 0, not_run = 0;
    for (int j = 0; j < s.total_test_count(); ++j) {
      const ::testing::TestInfo& t = *s.GetTestInfo(j);
      if (!t.should_run()) continue;
      const test_state st = state_of(t);
      ++n;
      failed += st.failed ? 1 : 0;
      not_run += st.skipped ? 1 : 0;
      cases += testcase(t, st, blocked_line);
    }
    suites += fmt::format(
        R"(  <testsuite name="{}" tests="{}" failures="{}" disabled="0" skipped="{}" errors="0">)"
        "\n{}  </testsuite>\n",
        detail::xml_text(s.name()), n, failed, not_run, cases);
    tests += n;
    failures += failed;
    skipped += not_run;
  }
  // Outside any test (a suite's or an environment's set-up), the line would
  // be nowhere: it gets a test case of its own.
  if (u.current_test_info() == nullptr) {
    suites += fmt::format(
        R"(  <testsuite name="faultscope" tests="1" failures="1" disabled="0" skipped="0" )"
        R"(errors="0">)"
        "\n"
        R"(    <testcase name="watchdog" status="run" result="completed" time="0.000" )"
        R"(classname="faultscope">)"
        "\n{}    </testcase>\n  </testsuite>\n",
        failure(blocked_line, blocked_line));
    ++tests;
    ++failures;
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fputs(fmt::format("faultscope: cannot write the XML report to '{}'\n", path).c_str(),
               stderr);
    return;
  }
  std::fputs(fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         R"(<testsuites tests="{}" failures="{}" disabled="0" skipped="{}" )"
                         R"(errors="0" name="AllTests">)"
                         "\n{}</testsuites>\n",
                         tests, failures, skipped, suites)
                 .c_str(),
             f);
  std::fclose(f);
}

}  // namespace

void write_xml_when_the_watchdog_ends(std::string program) {
  const std::string output = GTEST_FLAG_GET(output);
  if (output != "xml" && !output.starts_with("xml:")) {
    detail::set_last_words({});
    return;
  }
  detail::set_last_words([path = report_path(output, program)](std::string_view, const fault_plan&,
                                                               const std::string& line) {
    write_report(path, "hang: " + line);
  });
}

}  // namespace faultscope::testing
