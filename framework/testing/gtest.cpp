#include "faultscope/testing/gtest.hpp"

#include <fmt/format.h>

namespace faultscope::testing {

tracker& test_tracker() {
  static tracker t(tracker::options{.record_timeline = false});
  return t;
}

void leak_listener::OnTestStart(const ::testing::TestInfo&) {
  test_tracker().set_baseline();
  violations_before_ = test_tracker().violation_count();
}

void leak_listener::OnTestEnd(const ::testing::TestInfo&) {
  auto& t = test_tracker();
  std::string text;
  auto all = t.check();
  // Only what this test added: reported violations past the count at its start,
  // and leaks (the baseline hides earlier ones).
  std::size_t skip = violations_before_ < all.size() ? violations_before_ : 0;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].kind == violation_kind::leak || i >= skip) text += all[i].message + "\n";
  EXPECT_TRUE(text.empty()) << "faultscope: this test left its resources unbalanced:\n" << text;
  t.set_baseline();  // report a leak once, not after every later test
}

std::string violations_text(const run_result& r) {
  return r.describe();
}

std::string violations_text(const exploration& e) {
  return e.passed() ? "" : e.summary();
}

std::string violations_text(const tracker& t) {
  std::string out;
  for (const auto& v : t.check()) out += v.message + "\n";
  return out;
}

void check_schedule(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                    const explore_options& options) {
  for (const auto& v : run_schedule(fn, plan, options).violations)
    ADD_FAILURE() << v.message << "\n  replay: faultscope replay '" << replay_token(name, plan)
                  << "'";
}

namespace {

class schedule_test : public ::testing::Test {
 public:
  schedule_test(std::string name, scenario_fn fn, fault_plan plan, explore_options options)
      : name_(std::move(name)), fn_(std::move(fn)), plan_(std::move(plan)), options_(options) {}
  void TestBody() override { check_schedule(name_, fn_, plan_, options_); }

 private:
  std::string name_;
  scenario_fn fn_;
  fault_plan plan_;
  explore_options options_;
};

}  // namespace

int register_exploration(const char* suite, const char* name, const char* file, int line,
                         scenario_fn fn, explore_options options) {
  std::string scenario = fmt::format("{}.{}", suite, name);
  auto add = [&](const fault_plan& plan, const std::string& label) {
    ::testing::RegisterTest(
        suite, fmt::format("{}/{}", name, label).c_str(), nullptr, plan.to_string().c_str(), file,
        line, [=]() -> ::testing::Test* { return new schedule_test(scenario, fn, plan, options); });
  };
  add(fault_plan{}, "clean");
  // The schedule space is that of a depth-1 exploration, known from a clean run.
  run_options clean = options.run;
  clean.plan = {};
  for (const auto& plan : single_fault_plans(run(fn, clean), options)) add(plan, plan.to_string());
  return 0;
}

}  // namespace faultscope::testing

namespace faultscope {

void PrintTo(const run_result& r, std::ostream* os) {
  *os << fmt::format("a run with {} violation(s)", r.violations.size());
}

void PrintTo(const exploration& e, std::ostream* os) {
  *os << fmt::format("an exploration of the clean run and {} schedule(s), {} failing",
                     e.schedules_run, e.failures.size() + (e.clean.passed() ? 0 : 1));
}

void PrintTo(const scenario_info& s, std::ostream* os) {
  *os << s.name;
}

}  // namespace faultscope
