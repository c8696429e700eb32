#include "faultscope/testing/gtest.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "faultscope/detail/watchdog.hpp"
#include "start_up.hpp"

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

namespace {

// The FAULTSCOPE_TESTs of this binary, by "Suite.Name", for replay_main.
struct registered_exploration {
  scenario_fn fn;
  explore_options options;
};
std::map<std::string, registered_exploration, std::less<>>& explorations() {
  static std::map<std::string, registered_exploration, std::less<>> all;
  return all;
}

std::string& replay_program() {
  static std::string program;
  return program;
}

// The command that reruns the schedule, when this binary can (gtest_main, or
// a main that called set_replay_program, and a FAULTSCOPE_TEST of this binary).
std::optional<std::string> replay_command(const std::string& name, const fault_plan& plan) {
  if (replay_program().empty() || !explorations().contains(name)) return std::nullopt;
  return fmt::format("replay: {} --faultscope_replay='{}'", replay_program(),
                     replay_token(name, plan));
}

// That command, else the token alone.
std::string replay_line(const std::string& name, const fault_plan& plan) {
  return replay_command(name, plan)
      .value_or(fmt::format("replay token: '{}'", replay_token(name, plan)));
}

// How assertion_listener words the violation it makes of a GoogleTest failure,
// which check_schedule recognises: GoogleTest has counted and printed it already.
constexpr std::string_view assertion_failed = "GoogleTest assertion failed at ";

bool from_assertion(const violation& v) {
  static const std::string prefix =
      fmt::format("{}: {}", to_string(violation_kind::invariant), assertion_failed);
  return v.kind == violation_kind::invariant && v.message.starts_with(prefix);
}

}  // namespace

void assertion_listener::OnTestPartResult(const ::testing::TestPartResult& result) {
  if (!result.failed()) return;
  run_context* run = current_run();
  if (run == nullptr) return;
  // A violation is one line: GoogleTest's message spans several.
  std::string message;
  for (const char* c = result.message(); *c != '\0'; ++c) {
    const bool space = *c == '\n' || *c == ' ';
    if (space && (message.empty() || message.back() == ' ')) continue;
    message += space ? ' ' : *c;
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  const std::string where = result.file_name() != nullptr
                                ? fmt::format("{}:{}", result.file_name(), result.line_number())
                                : std::string("an unknown place");
  // The assertion's line, so a JSON report or a GitHub annotation points at it.
  const bool has_line = result.file_name() != nullptr && result.line_number() > 0;
  run->tracker().report(violation_kind::invariant,
                        fmt::format("{}{}: {}", assertion_failed, where, message),
                        has_line ? result.file_name() : "",
                        has_line ? static_cast<std::uint32_t>(result.line_number()) : 0);
  const std::string label(detail::current_run_label());
  const fault_plan& plan = run->options().plan;
  std::string which;
  if (label.empty())
    which = fmt::format("a run under plan '{}'", plan.empty() ? "none" : plan.to_string());
  else if (plan.empty())
    which = fmt::format("the clean run of '{}'", label);
  else
    which = fmt::format("run '{}'", replay_token(label, plan));
  // A FAULTSCOPE_TEST's schedule adds no failure of its own for this one, so
  // the command that reruns it is given here.
  const auto replay = replay_command(label, plan);
  fmt::print("faultscope: the failure above happened in {}{}\n", which,
             replay ? "; " + *replay : "");
}

bool install_assertion_listener() {
  static const bool installed = [] {
    ::testing::UnitTest::GetInstance()->listeners().Append(new assertion_listener);
    return true;
  }();
  return installed;
}

void set_replay_program(std::string program) {
  replay_program() = std::move(program);
}

int replay_main(std::string_view token, std::ostream& out, std::ostream& err) {
  std::pair<std::string, fault_plan> parsed;
  try {
    parsed = parse_replay_token(token);
  } catch (const plan_error& e) {
    err << "faultscope: " << e.what() << "\n";
    return 2;
  }
  auto found = explorations().find(parsed.first);
  if (found == explorations().end()) {
    err << fmt::format("faultscope: no FAULTSCOPE_TEST named '{}' in this binary\n", parsed.first);
    return 2;
  }
  detail::run_label_scope named(parsed.first);
  run_result r = replay_schedule(found->second.fn, parsed.second, found->second.options);
  out << replay_report(parsed.first, parsed.second, r);
  return r.violations.empty() ? 0 : 1;
}

namespace {

// A failure at the line a violation points at, so that an IDE or a CI log
// links to the user's code, not to this file; one that points at no line is
// put at `file`:`line` (the FAULTSCOPE_TEST), if given.
void add_failure(const violation& v, const char* file, int line, const std::string& text) {
  if (v.line != 0)
    ADD_FAILURE_AT(v.file.c_str(), static_cast<int>(v.line)) << text;
  else if (file != nullptr)
    ADD_FAILURE_AT(file, line) << text;
  else
    ADD_FAILURE() << text;
}

void check_schedule_at(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                       const explore_options& options, const std::vector<point_hit>& derived_from,
                       const char* file, int line) {
  auto report = [&](const run_result& r, const fault_plan& as_run) {
    if (r.passed()) return;
    // As explore does: a multi-fault failure replays through its shrunk plan.
    fault_plan minimal =
        options.shrink && as_run.rules.size() > 1 ? shrink(fn, as_run, options, r) : as_run;
    bool from_assertions = false;
    for (const auto& v : r.violations) {
      if (from_assertion(v)) {
        from_assertions = true;  // GoogleTest counted and printed it, the listener its replay
        continue;
      }
      add_failure(v, file, line,
                  fmt::format("{}\n  under {}\n  {}", v.message, as_run.to_string(),
                              replay_line(name, minimal)));
    }
    // Once, however many assertions failed in the run.
    if (from_assertions && minimal != as_run)
      fmt::print("faultscope: the failure above also happens under '{}'; {}\n", minimal.to_string(),
                 replay_line(name, minimal));
  };
  detail::run_label_scope named(name);
  run_result first = run_schedule(fn, plan, options, derived_from);
  report(first, plan);
  if (options.depth < 2 || options.swarm > 0 || plan.rules.empty()) return;
  for (const auto& second : second_fault_plans(plan, first, options))
    report(run_schedule(fn, second, options, first.trace), second);
}

}  // namespace

void check_schedule(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                    const explore_options& options) {
  check_schedule_at(name, fn, plan, options, {}, nullptr, 0);
}

void check_schedule(const std::string& name, const scenario_fn& fn, const fault_plan& plan,
                    const explore_options& options, const std::vector<point_hit>& derived_from) {
  check_schedule_at(name, fn, plan, options, derived_from, nullptr, 0);
}

namespace {

class schedule_test : public ::testing::Test {
 public:
  schedule_test(std::string name, scenario_fn fn, fault_plan plan, explore_options options,
                std::shared_ptr<const std::vector<point_hit>> clean,
                std::optional<std::string> nothing_explored, const char* file, int line)
      : name_(std::move(name)),
        fn_(std::move(fn)),
        plan_(std::move(plan)),
        options_(options),
        clean_(std::move(clean)),
        nothing_explored_(std::move(nothing_explored)),
        file_(file),
        line_(line) {}
  void TestBody() override {
    check_schedule_at(name_, fn_, plan_, options_, *clean_, file_, line_);
    // Known from the run that registered the schedules: with none registered,
    // this test is the only one left to say so.
    if (nothing_explored_) ADD_FAILURE_AT(file_, line_) << *nothing_explored_;
  }

 private:
  std::string name_;
  scenario_fn fn_;
  fault_plan plan_;
  explore_options options_;
  std::shared_ptr<const std::vector<point_hit>> clean_;  // the path every plan was derived from
  std::optional<std::string> nothing_explored_;
  const char* file_;  // the FAULTSCOPE_TEST's
  int line_;
};

// Stands in for the schedules of a FAULTSCOPE_TEST that registers none: one
// failing test with the reason, at the FAULTSCOPE_TEST's line. Its options are
// unusable (where a throw would end the program before main), or its clean
// run blocked its thread when the binary started (its schedules are unknown,
// and running it again would block again).
class stand_in_test : public ::testing::Test {
 public:
  stand_in_test(std::string why, const char* file, int line)
      : why_(std::move(why)), file_(file), line_(line) {}
  void TestBody() override { ADD_FAILURE_AT(file_, line_) << why_; }

 private:
  std::string why_;
  const char* file_;
  int line_;
};

}  // namespace

int register_exploration(const char* suite, const char* name, const char* file, int line,
                         scenario_fn fn, explore_options options) {
  std::string scenario = fmt::format("{}.{}", suite, name);
  auto clean_trace = std::make_shared<std::vector<point_hit>>();
  auto add = [&](const fault_plan& plan, const std::string& label,
                 std::optional<std::string> nothing_explored = std::nullopt) {
    ::testing::RegisterTest(suite, fmt::format("{}/{}", name, label).c_str(), nullptr,
                            plan.to_string().c_str(), file, line, [=]() -> ::testing::Test* {
                              return new schedule_test(scenario, fn, plan, options, clean_trace,
                                                       nothing_explored, file, line);
                            });
  };
  std::string why;
  try {
    check_options(scenario, options);
  } catch (const std::invalid_argument& e) {
    why = e.what();
  }
  if (why.empty() && options.shard_count > 1)
    why = fmt::format(
        "explore '{}': shard_count splits explore(); shard tests with GTEST_TOTAL_SHARDS and "
        "GTEST_SHARD_INDEX",
        scenario);
  if (!why.empty()) {
    ::testing::RegisterTest(
        suite, fmt::format("{}/options", name).c_str(), nullptr, nullptr, file, line,
        [=]() -> ::testing::Test* { return new stand_in_test(why, file, line); });
    return 0;
  }
  explorations().insert_or_assign(scenario, registered_exploration{fn, options});
  // A process that runs none of this body's tests (CTest runs one per process)
  // registers none: its start-up run would only cost time.
  if (!start_up::run_needed(suite, name)) return 0;
  // One test per first-level schedule, known from a clean run; at depth 2 each
  // also runs the schedules that add a second fault to its own.
  run_options clean = options.run;
  clean.plan = {};
  auto first_run = start_up::run_clean(scenario, fn, clean);
  if (first_run.blocked) {
    std::string why = fmt::format(
        "hang: {} (when the binary started and registered its tests, so no fault schedule of "
        "'{}' is registered)",
        *first_run.blocked, scenario);
    fmt::print(stderr, "faultscope: {}; its test {}.{}/clean fails with this\n", *first_run.blocked,
               suite, name);
    ::testing::RegisterTest(
        suite, fmt::format("{}/clean", name).c_str(), nullptr, "none", file, line,
        [=]() -> ::testing::Test* { return new stand_in_test(why, file, line); });
    return 0;
  }
  run_result clean_run = std::move(first_run.result);
  auto nothing = explored_nothing(clean_run, options);
  add(fault_plan{}, "clean", nothing ? std::optional(nothing->message) : std::nullopt);
  auto plans = first_level_plans(clean_run, options);
  *clean_trace = std::move(clean_run.trace);
  if (plans.size() > options.max_schedules) plans.resize(options.max_schedules);
  // A swarm's plans hold several rules, joined by ';', which CTest would split
  // a test's name at: they go by their number, the plan shown as the parameter.
  for (std::size_t i = 0; i < plans.size(); ++i)
    add(plans[i], options.swarm > 0 ? fmt::format("swarm{}", i + 1) : plans[i].to_string());
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

void PrintTo(run_end end, std::ostream* os) {
  *os << to_string(end);
}

void PrintTo(violation_kind kind, std::ostream* os) {
  *os << to_string(kind);
}

}  // namespace faultscope
