#include "cli.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "args.hpp"
#include "continuation.hpp"
#include "faultscope/detail/descriptors.hpp"
#include "faultscope/detail/format.hpp"
#include "faultscope/detail/watchdog.hpp"
#include "faultscope/fault_plan.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/scenarios/library.hpp"
#include "report.hpp"

namespace faultscope::cli {
namespace {

// An error is one line whatever the user typed.
void say(std::ostream& err, std::string_view message) {
  err << "faultscope: " << detail::one_line(message) << "\n";
}

// The scenarios any of `filters` matches (all for none), each once, in the
// order they were registered; or why not: a filter that matches nothing is a
// typo, not a smaller run.
struct match_result {
  std::vector<const scenario_info*> scenarios;
  std::string error;
  explicit operator bool() const { return error.empty(); }
};

match_result matching(const std::vector<std::string>& filters) {
  const auto& reg = registry::instance();
  if (filters.empty()) return {reg.match(""), {}};
  std::set<const scenario_info*> picked;
  for (const auto& f : filters) {
    auto found = reg.match(f);
    if (found.empty()) return {{}, fmt::format("no scenario matches '{}'", f)};
    picked.insert(found.begin(), found.end());
  }
  match_result out;
  for (const auto* s : reg.match(""))
    if (picked.contains(s)) out.scenarios.push_back(s);
  return out;
}

bool use_colour() {
  return isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
}

// A one-line bar on standard error while a scenario explores, drawn once its
// exploration has taken a second: short runs stay quiet, long sweeps show life.
// FAULTSCOPE_PROGRESS=always draws at once (and off a terminal), =never never.
class progress_bar {
 public:
  progress_bar(std::ostream& err, bool enabled, std::chrono::milliseconds delay)
      : err_(err), enabled_(enabled), delay_(delay) {}

  void start(std::string_view name) {
    name_ = name;
    started_ = clock::now();
    last_ = {};
    drawn_ = false;
  }

  void update(std::size_t done, std::size_t known) {
    if (!enabled_) return;
    auto now = clock::now();
    if (now - started_ < delay_ ||
        (drawn_ && now - last_ < std::chrono::milliseconds(100) && done < known))
      return;
    constexpr std::size_t width = 24;
    std::size_t filled = known ? std::min(width, done * width / known) : 0;
    err_ << fmt::format("\r\x1b[K  [{}{}] {:>6}/{} schedules  {}", std::string(filled, '#'),
                        std::string(width - filled, '.'), done, known, name_)
         << std::flush;
    last_ = now;
    drawn_ = true;
  }

  /// Erases the bar, so the report starts on a clean line.
  void finish() {
    if (drawn_) err_ << "\r\x1b[K" << std::flush;
    drawn_ = false;
  }

 private:
  using clock = std::chrono::steady_clock;
  std::ostream& err_;
  bool enabled_;
  std::chrono::milliseconds delay_;
  std::string name_;
  clock::time_point started_{}, last_{};
  bool drawn_ = false;
};

progress_bar make_progress(std::ostream& err) {
  const char* mode = std::getenv("FAULTSCOPE_PROGRESS");
  std::string_view m = mode ? mode : "auto";
  if (m == "always") return {err, true, std::chrono::milliseconds(0)};
  if (m == "never") return {err, false, {}};
  if (m != "auto" && !m.empty())
    throw usage_error{
        fmt::format("FAULTSCOPE_PROGRESS must be always, never or auto, got '{}'", m)};
  return {err, &err == &std::cerr && isatty(STDERR_FILENO), std::chrono::seconds(1)};
}

// Fault points with their hits, in the order first reached.
using point_hits = std::vector<std::pair<std::string, std::size_t>>;

// Adds the points `run` passed through to `into`.
void tally_points(const run_result& run, point_hits& into) {
  for (const auto& h : run.trace) {
    auto it =
        std::find_if(into.begin(), into.end(), [&](const auto& p) { return p.first == h.point; });
    if (it == into.end())
      into.emplace_back(h.point, 1);
    else
      ++it->second;
  }
}

// --only or --skip that leaves no point to fault would pass vacuously: a typo
// must not look like a clean run. (A scenario whose run without faults failed
// is reported as it is; scenarios that pass through no point at all have
// nothing the flags could have taken away.)
std::optional<std::string> nothing_to_explore(const run_args& a,
                                              const std::vector<result>& results) {
  if (a.only.empty() && a.skip.empty()) return std::nullopt;
  for (const auto& r : results)
    if (r.report.total_schedules > 0 || !r.report.clean.passed()) return std::nullopt;
  point_hits seen;
  for (const auto& r : results) tally_points(r.report.clean, seen);
  if (seen.empty()) return std::nullopt;  // nothing to fault with or without the flags
  std::vector<std::string_view> names;
  for (const auto& p : seen) names.push_back(p.first);
  std::string flags;
  if (!a.only.empty()) flags += fmt::format("--only '{}'", fmt::join(a.only, ","));
  if (!a.skip.empty())
    flags += fmt::format("{}--skip '{}'", flags.empty() ? "" : " with ", fmt::join(a.skip, ","));
  return fmt::format(
      "{} leaves no fault point to explore in the chosen scenarios (they pass through {})", flags,
      detail::name_list(names));
}

// The report in the format asked for, to standard output or --output, and the
// HTML page if asked for.
void write_reports(const run_args& a, const std::vector<result>& results, bool colour,
                   std::ostream& out, std::ostream& output_file, std::ostream& html_file,
                   const not_run_list& not_run = {}) {
  const bool github = a.format == "github";
  std::string report = a.format == "json"    ? json_report(results, not_run)
                       : a.format == "junit" ? junit_report(results, not_run)
                                             : text_report(results, colour && !github, not_run);
  const std::size_t chosen = results.size() + not_run.size();
  if (a.format != "json" && a.format != "junit" && a.output.empty())
    report = fmt::format("faultscope {}: exploring {} scenario{}{}\n", version, chosen,
                         chosen == 1 ? "" : "s",
                         a.shard_count > 1
                             ? fmt::format(", shard {}/{}", a.shard_index + 1, a.shard_count)
                             : "") +
             report;
  if (github) {
    const char* workspace = std::getenv("GITHUB_WORKSPACE");
    report += github_annotations(results, not_run, workspace ? workspace : "");
  }
  (a.output.empty() ? out : output_file) << report << std::flush;
  if (!a.html.empty()) html_file << html_report(results, not_run) << std::flush;
}

// What the runner ending at a blocked schedule reports of its scenario: the
// schedules of it that blocked (this process's and those an earlier one went
// on past), each failed with the watchdog's line as a hang; the other schedules
// explored so far are lost with the process.
result blocked_result(const scenario_info* s, const std::vector<detail::blocked_schedule>& blocked,
                      std::string flags) {
  result r{s, {}, std::move(flags)};
  r.report.scenario = s->name;
  for (const auto& b : blocked) {
    if (b.label != s->name) continue;
    const auto plan = fault_plan::parse(b.plan);  // read back when the runner started
    if (plan.rules.empty()) {
      r.report.clean = detail::blocked_run(b.line);
      continue;
    }
    r.report.ran.push_back(b.plan);
    r.report.failures.push_back(
        {r.report.schedules_run++, plan, plan, detail::blocked_run(b.line)});
  }
  r.report.total_schedules = r.report.schedules_run;
  return r;
}

// The state a process left in `path` for this one, which goes on from it; the
// file is removed once read. Scenarios it finished must be the first chosen.
std::optional<continuation> carried_over(const std::string& path,
                                         const std::vector<const scenario_info*>& chosen,
                                         std::ostream& err) {
  std::ifstream file(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file) {
    say(err, fmt::format("--continue-from: cannot read '{}'", path));
    return std::nullopt;
  }
  continuation c;
  try {
    c = from_text(text);
  } catch (const continuation_error& e) {
    say(err, fmt::format("--continue-from: '{}' is not a file a runner going on past a blocked "
                         "schedule wrote ({})",
                         path, e.what()));
    return std::nullopt;
  }
  bool same = c.finished.size() <= chosen.size();
  for (std::size_t i = 0; same && i < c.finished.size(); ++i)
    same = c.finished[i].scenario == chosen[i];
  if (!same) {
    say(err,
        fmt::format("--continue-from: '{}' was written for another choice of scenarios", path));
    return std::nullopt;
  }
  std::remove(path.c_str());
  return c;
}

// Replaces this process with the same runner, given `next` to go on from: a
// process cannot take back a thread a call blocks, but a new program image
// ends every thread. Descriptors opened since `startup` (the runs', the report
// files) close on the way. Returns only if that failed, having said why.
void go_on(const run_args& a, const std::string& program, const continuation& next,
           const std::optional<detail::descriptor_table>& startup, std::ostream& err) {
  const std::string text = to_text(next);
  const char* tmp = std::getenv("TMPDIR");
  std::string path = fmt::format("{}/faultscope-continue-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  const int fd = mkstemp(path.data());
  int error = fd < 0 ? errno : 0;
  for (std::size_t at = 0; !error && at < text.size();) {
    const auto n = ::write(fd, text.data() + at, text.size() - at);
    if (n <= 0) error = n < 0 ? errno : EIO;  // a write of nothing would loop
    at += n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  if (fd >= 0 && ::close(fd) != 0 && !error) error = errno;
  if (error) {
    say(err, fmt::format("cannot go on past the blocked schedule: cannot write '{}': {}", path,
                         std::strerror(error)));
    if (fd >= 0) std::remove(path.c_str());
    return;
  }
  if (startup)
    if (auto now = detail::open_descriptors())
      for (int d : detail::opened_since(*startup, *now))
        ::fcntl(d, F_SETFD, ::fcntl(d, F_GETFD) | FD_CLOEXEC);
  std::vector<std::string> args{program, "run", "--continue-from", path};
  args.insert(args.end(), a.passed_on.begin(), a.passed_on.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  say(err, "going on in a new process, past that schedule (reported as a hang)");
  err.flush();
  std::fflush(nullptr);
  ::execv("/proc/self/exe", argv.data());
  say(err, fmt::format("cannot go on past the blocked schedule: cannot start '{}' again: {}",
                       program, std::strerror(errno)));
  std::remove(path.c_str());
}

int run_command(const run_args& a, const std::string& program, std::ostream& out,
                std::ostream& err) {
  // What the runner was started with: a process that goes on in its place keeps those.
  const auto startup = detail::open_descriptors();
  auto found = matching(a.filters);
  if (!found) {
    say(err, found.error + " (see faultscope list)");
    return 2;
  }
  std::vector<const scenario_info*> chosen;
  for (const auto* s : found.scenarios)
    if (!a.filters.empty() || !(s->has_tag("canary") || s->has_tag("manual"))) chosen.push_back(s);
  continuation carried;
  if (!a.continue_from.empty()) {
    auto c = carried_over(a.continue_from, chosen, err);
    if (!c) return 2;
    carried = std::move(*c);
  }
  progress_bar bar = make_progress(err);
  // Open the files first: a bad path is a usage error before any work is done.
  std::ofstream output_file, html_file;
  for (auto [path, file] : {std::pair{&a.output, &output_file}, std::pair{&a.html, &html_file}}) {
    if (path->empty()) continue;
    file->open(*path);
    if (!*file) {
      say(err, fmt::format("cannot write '{}'", *path));
      return 2;
    }
  }
  bool colour = a.output.empty() && a.format == "text" && use_colour();
  std::vector<result> results = std::move(carried.finished);
  detail::set_blocked_schedules(carried.blocked);
  // A scenario that blocks its thread ends the process from the watchdog's
  // thread. The runner then goes on in a new process, past that schedule, when
  // it writes to standard output (not a caller's stream); if it cannot, the
  // report of the scenarios done, and of the blocked schedule, is written
  // there first, so CI keeps it. `results` grows only between explorations,
  // which register runs with the watchdog under its lock.
  const scenario_info* current = nullptr;
  // When this process started on it, and the time earlier ones spent on it.
  std::chrono::steady_clock::time_point current_started;
  std::chrono::nanoseconds current_before{};
  detail::set_last_words([&](std::string_view, const fault_plan& plan, const std::string& line) {
    if (!current) return;
    continuation next{results, carried.blocked,
                      current_before + (std::chrono::steady_clock::now() - current_started)};
    const detail::blocked_schedule blocked{current->name, plan.to_string(), line};
    const bool again = std::any_of(next.blocked.begin(), next.blocked.end(), [&](const auto& b) {
      return b.label == blocked.label && b.plan == blocked.plan;
    });
    next.blocked.push_back(blocked);
    auto done = results;
    done.push_back(blocked_result(current, next.blocked, replay_flags(a.fds)));
    done.back().report.wall = next.spent;
    // The clean run blocked: the scenario is done, as far as it can be.
    if (plan.rules.empty()) {
      next.finished.push_back(done.back());
      next.spent = {};
    }
    if (&out == &std::cout && !again && next.finished.size() < chosen.size()) {
      if (carried.blocked.size() < a.max_blocked)
        go_on(a, program, next, startup, err);
      else
        say(err,
            fmt::format("not going on past it: {} schedule{} blocked (--max-blocked {})",
                        next.blocked.size(), next.blocked.size() == 1 ? "" : "s", a.max_blocked));
    }
    const not_run_list not_run(chosen.begin() + static_cast<std::ptrdiff_t>(done.size()),
                               chosen.end());
    write_reports(a, done, colour, out, output_file, html_file, not_run);
  });
  struct forget {
    ~forget() {
      detail::set_last_words({});
      detail::set_blocked_schedules({});
    }
  } forget;
  const std::size_t resumed = results.size();
  for (std::size_t i = resumed; i < chosen.size(); ++i) {
    const auto* s = chosen[i];
    explore_options o = s->options;
    if (a.depth) o.depth = *a.depth;
    if (a.swarm) {
      o.swarm = a.swarm;
      o.seed = a.seed;
    }
    o.jobs = a.jobs;
    o.focus = a.only;
    o.focus_skip = a.skip;
    if (a.kinds) o.kinds = *a.kinds;
    if (a.persistent) o.persistent = true;
    o.shard_index = a.shard_index;
    o.shard_count = a.shard_count;
    if (a.wall_limit) o.run.wall_limit = *a.wall_limit;
    apply(a.fds, o.run);
    bar.start(s->name);
    o.progress = [&bar](std::size_t done, std::size_t known) {
      bar.update(done, known);
    };
    current_before = i == resumed ? carried.spent : std::chrono::nanoseconds{};
    current_started = std::chrono::steady_clock::now();
    current = s;
    auto explored = explore(s->name, s->fn, o);
    current = nullptr;
    explored.wall += current_before;
    results.push_back({s, std::move(explored), replay_flags(a.fds)});
    bar.finish();
  }
  if (auto why = nothing_to_explore(a, results)) {
    say(err, *why);
    return 2;
  }
  write_reports(a, results, colour, out, output_file, html_file);
  bool ok = std::all_of(results.begin(), results.end(), [](const result& r) { return r.ok(); });
  return ok ? 0 : 1;
}

// The points a scenario's run without faults passes through, in the order
// first reached, with their hits; those its own options never fault say so.
void list_points(const scenario_info& s, std::ostream& out) {
  detail::run_label_scope named(s.name);
  run_result clean = run_schedule(s.fn, fault_plan{}, s.options);
  point_hits points;
  tally_points(clean, points);
  for (const auto& [name, hits] : points) {
    out << fmt::format("    {:<32} {:>5} {}", detail::one_line(name), hits,
                       hits == 1 ? "hit" : "hits");
    if (skipped(s.options, name))
      out << (hits == 1 ? "   " : "  ") << "not faulted by this scenario";
    out << "\n";
  }
  if (points.empty()) out << "    (no fault point)\n";
  if (clean.end != run_end::ok)
    out << fmt::format(
        "    the run without faults ended {}{}\n", to_string(clean.end),
        clean.error_message.empty() ? "" : ": " + detail::one_line(clean.error_message));
  // A forgotten option shows here, before an exploration fails on it.
  if (auto blind = explored_nothing(clean, s.options))
    out << fmt::format("    exploring it fails: {}\n", blind->message);
}

int list_command(const std::vector<std::string>& filters, bool points, std::ostream& out,
                 std::ostream& err) {
  auto found = matching(filters);
  if (!found) {
    say(err, found.error);
    return 2;
  }
  for (const auto* s : found.scenarios) {
    // A canary says what must catch it, so a misspelt kind tag shows here.
    const std::string plants =
        s->has_tag("canary") ? fmt::format(" (plants: {})", planted_text(*s)) : "";
    out << fmt::format("{:<28} [{}] {}{}\n", s->name, fmt::join(s->tags, ","), s->description,
                       plants);
    if (points) list_points(*s, out);
  }
  return 0;
}

int replay_command_run(const std::pair<std::string, fault_plan>& parsed,
                       std::optional<std::chrono::milliseconds> limit, const fd_args& fds,
                       std::ostream& out, std::ostream& err) {
  const auto* s = registry::instance().find(parsed.first);
  if (!s) {
    say(err, fmt::format("no scenario named '{}' (see faultscope list)", parsed.first));
    return 2;
  }
  explore_options o = s->options;
  if (limit) o.run.wall_limit = *limit;
  apply(fds, o.run);
  detail::run_label_scope named(s->name);
  run_result r = replay_schedule(s->fn, parsed.second, o);
  out << replay_report(s->name, parsed.second, r);
  return r.violations.empty() ? 0 : 1;
}

}  // namespace

int check(int argc, const char* const* argv, std::ostream& err) {
  try {
    parse(argc, argv);
    return 0;
  } catch (const usage_error& e) {
    say(err, e.message + " (see faultscope --help)");
    return 2;
  }
}

int main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  // Scenarios register before main, where a throw would abort the program.
  if (const auto& bad = registry::instance().errors(); !bad.empty()) {
    for (const auto& e : bad) say(err, e);
    return 2;
  }
  scenarios::register_builtins();
  const std::string program = argc > 0 && argv[0] && *argv[0] ? argv[0] : "faultscope";
  registry::instance().set_runner(program);
  try {
    command c = parse(argc, argv);
    switch (c.what) {
      case command::kind::help:
        out << c.text;
        return 0;
      case command::kind::version:
        out << "faultscope " << version << "\n";
        return 0;
      case command::kind::run:
        return run_command(c.run, program, out, err);
      case command::kind::list:
        return list_command(c.filters, c.points, out, err);
      case command::kind::replay:
        return replay_command_run(c.replay, c.replay_wall_limit, c.replay_fds, out, err);
    }
    return 2;
  } catch (const usage_error& e) {
    say(err, e.message + " (see faultscope --help)");
    return 2;
  } catch (const std::exception& e) {
    // A scenario registered with options that cannot be explored (depth 3),
    // or a report that cannot be written: one line, never an abort.
    say(err, e.what());
    return 2;
  }
}

}  // namespace faultscope::cli
