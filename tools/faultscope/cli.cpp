#include "cli.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

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

constexpr std::string_view top_help = R"(faultscope — proves that async code cleans up after itself

usage: faultscope <command> [options]

commands:
  list [FILTER...]     list registered scenarios (FILTER: a name with '*' wildcards, or a tag)
  run [FILTER...]      explore scenarios under injected faults; report every violation
  replay TOKEN         rerun one failing schedule, as printed on failure (SCENARIO@PLAN)

options:
  --help               this text; `faultscope <command> --help` for a command's options
  --version            print the version

exit status: 0 no violation, 1 violations found, 2 usage error
)";

constexpr std::string_view run_help = R"(usage: faultscope run [FILTER...] [options]

Explores every registered scenario matching a FILTER, once each, in the order
they were registered (when omitted: all but those tagged canary or manual;
`faultscope run canary` runs the canaries, which must be caught). A FILTER that
matches nothing is an error.

options (each also as --option=VALUE):
  --depth 1|2          faults per schedule (default: each scenario's own, usually 1)
  --swarm N            N seeded random plans per scenario instead of enumeration
  --seed S             seed for --swarm (default 1)
  --jobs N             threads (default 1); the report is the same for any N
  --only PATTERN       fault only points matching PATTERN ('*' wildcards; several
                       separated by commas, or the option repeated). Narrows each
                       scenario's own choice of points, never widens it
  --skip PATTERN       never fault points matching PATTERN (as for --only)
  --kinds LIST         the faults to inject, separated by commas, as a plan writes
                       them: throw, throw(code), error(code), bad_alloc,
                       cancel, cancel(partial|total), timeout, delay(d)
                       (default: each scenario's own, usually throw,cancel)
  --persistent         each fault fires at its hit and at every later one (a full
                       disk) instead of once
  --shard K/N          run only the K-th of N shares of every scenario's schedules
                       (K from 1): N machines with K = 1..N together run them all
  --format text|json|junit
                       report format on standard output or --output (default text)
  --output FILE        write the report to FILE instead of standard output
  --html FILE          also write a self-contained HTML page: for every failing run, a
                       timeline of each resource's lifetime on the virtual clock
  --wall-limit MS      wall time a run may keep working (a busy loop) before it is
                       reported as a hang (default 60000); a run that blocks its
                       thread is reported a margin later, and the runner goes on
                       past it in a new process (status 1)
  --max-blocked N      go on past at most N schedules that block their thread
                       (default 5); at the next, end there, naming the scenarios
                       never run (0: end at the first)
  --check-fds          also report a file descriptor a run opened and left open
                       (the process's descriptors: each scenario then explores
                       on one thread, whatever --jobs says)
  --fd-grace MS        with the descriptor check, how long a descriptor still open
                       at the end may take to close (another thread's side of a
                       connection) before it is reported (default: each
                       scenario's own, usually 50)
  --ignore-fd PATTERN  with the descriptor check, leave out descriptors whose
                       target, as a report names it, matches PATTERN ('*'
                       wildcards; the option repeated for more), e.g.
                       '*tcp 127.0.0.1:8080 -> *' for a test server's side
  --help               this text

environment:
  NO_COLOR             no colour even on a terminal
  FAULTSCOPE_PROGRESS  auto (default: a progress bar on a terminal once a scenario
                       has explored for a second), always, or never
)";

constexpr std::string_view list_help = R"(usage: faultscope list [FILTER...] [--points]

Lists registered scenarios (those matching a FILTER) with their tags and
descriptions.

options:
  --points             also run each scenario once without faults and list the
                       fault points it passes through, with their hits: the
                       names `run --only` and `--skip` take
)";

constexpr std::string_view replay_help =
    R"(usage: faultscope replay SCENARIO@PLAN [--wall-limit MS] [--check-fds]
                        [--fd-grace MS] [--ignore-fd PATTERN]

Reruns one schedule exactly as printed on failure, e.g.
  faultscope replay 'canary.naive_cleanup@conn.query#1=cancel'
and prints its violations and the timeline of the run.

options:
  --wall-limit MS      as for run (default 60000)
  --check-fds          as for run
  --fd-grace MS        as for run
  --ignore-fd PATTERN  as for run
)";

struct usage_error {
  std::string message;
};

// An error is one line whatever the user typed.
void say(std::ostream& err, std::string_view message) {
  err << "faultscope: " << detail::one_line(message) << "\n";
}

// The descriptor check's flags, for run and replay alike.
struct fd_args {
  bool check = false;
  std::optional<std::chrono::milliseconds> grace;
  std::vector<std::string> ignore;  // '*' patterns over a descriptor's target
};

struct run_args {
  std::vector<std::string> filters;
  std::optional<int> depth;
  std::size_t swarm = 0;
  std::uint64_t seed = 1;
  unsigned jobs = 1;
  std::string format = "text";
  std::string output;
  std::string html;
  std::vector<std::string> only;  // explore_options::focus
  std::vector<std::string> skip;
  std::optional<std::vector<fault>> kinds;
  bool persistent = false;
  fd_args fds;
  std::size_t shard_index = 0;  // from 0, as explore_options counts
  std::size_t shard_count = 1;
  std::optional<std::chrono::milliseconds> wall_limit;
  std::size_t max_blocked = 5;
  std::string continue_from;  // written by the process this one goes on from
  // The arguments as given, but --continue-from: what a process started in
  // this one's place is given.
  std::vector<std::string> passed_on;
};

// `value` read as a whole number: digits only, nothing after them, in range.
std::optional<std::uint64_t> whole_number(std::string_view value) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size()) return std::nullopt;
  return v;
}

std::uint64_t number(std::string_view flag, std::string_view value, std::uint64_t min,
                     std::uint64_t max) {
  const auto v = whole_number(value);
  if (!v || *v < min || *v > max)
    throw usage_error{
        fmt::format("{} needs a whole number from {} to {}, got '{}'", flag, min, max, value)};
  return *v;
}

// "a,b,c" as its parts; an empty part is a usage error.
std::vector<std::string> comma_list(std::string_view flag, std::string_view value) {
  std::vector<std::string> out;
  for (std::size_t start = 0;;) {
    const auto comma = value.find(',', start);
    auto part = value.substr(start, comma == std::string_view::npos ? value.npos : comma - start);
    if (part.empty())
      throw usage_error{
          fmt::format("{} needs a non-empty list separated by commas, got '{}'", flag, value)};
    out.emplace_back(part);
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::chrono::milliseconds wall_limit(std::string_view flag, std::string_view value) {
  return std::chrono::milliseconds(number(flag, value, 1, 86'400'000));
}

std::vector<fault> fault_list(std::string_view value) {
  std::vector<fault> out;
  for (const auto& part : comma_list("--kinds", value)) {
    try {
      out.push_back(fault::parse(part));
    } catch (const plan_error& e) {
      throw usage_error{fmt::format("--kinds: {} (in '{}')", e.what(), part)};
    }
  }
  return out;
}

// "K/N" with 1 <= K <= N: the K-th share, counted from 1 as people count
// machines (as `jest --shard=1/3` does).
std::pair<std::size_t, std::size_t> shard(std::string_view value) {
  const auto slash = value.find('/');
  std::optional<std::uint64_t> k, n;
  if (slash != std::string_view::npos) {
    k = whole_number(value.substr(0, slash));
    n = whole_number(value.substr(slash + 1));
  }
  if (!k || !n || *k < 1 || *n > 100000 || *k > *n)
    throw usage_error{
        fmt::format("--shard needs K/N with 1 <= K <= N <= 100000 (as in 2/4), got '{}'", value)};
  return {static_cast<std::size_t>(*k - 1), static_cast<std::size_t>(*n)};
}

// The argument at `i`, read as an option: `--jobs=4` as well as `--jobs 4`, as
// most command-line tools take both.
struct option_at {
  option_at(const std::vector<std::string_view>& args, std::size_t& i)
      : name(args[i]), args_(args), i_(i) {
    if (const auto eq = name.find('='); name.starts_with("--") && eq != std::string_view::npos) {
      attached = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
  }
  /// Its value: attached, or the next argument (then consumed).
  std::string_view value() {
    if (attached) return *attached;
    if (i_ + 1 >= args_.size()) throw usage_error{fmt::format("{} needs a value", name)};
    return args_[++i_];
  }

  /// A flag takes no value: `--persistent=yes` is a usage error.
  void no_value() const {
    if (attached) throw usage_error{fmt::format("{} takes no value", name)};
  }

  std::string_view name;
  std::optional<std::string_view> attached;

 private:
  const std::vector<std::string_view>& args_;
  std::size_t& i_;
};

// Reads `opt` if it is one of the descriptor check's flags.
bool parse_fd_option(option_at& opt, fd_args& f) {
  if (opt.name == "--check-fds") {
    opt.no_value();
    f.check = true;
  } else if (opt.name == "--fd-grace") {
    f.grace = std::chrono::milliseconds(number(opt.name, opt.value(), 0, 600'000));
  } else if (opt.name == "--ignore-fd") {
    // One pattern per flag: a socket's target has a comma of its own.
    auto pattern = std::string(opt.value());
    if (pattern.empty()) throw usage_error{"--ignore-fd needs a pattern"};
    f.ignore.push_back(std::move(pattern));
  } else {
    return false;
  }
  return true;
}

// The flags on a scenario's run options: they add to the scenario's own
// ignore_fd, and apply wherever the check is on (the flag or its options).
void apply(const fd_args& f, run_options& o) {
  if (f.check) o.check_fds = true;
  if (f.grace) o.fd_grace = *f.grace;
  if (f.ignore.empty()) return;
  o.ignore_fd = [patterns = f.ignore, own = std::move(o.ignore_fd)](std::string_view target) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return glob_match(p, target); }) ||
           (own && own(target));
  };
}

// `word` as one word of a POSIX shell command line.
std::string shell_quoted(std::string_view word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// What a replay needs after the token, to check what the run checked
// (--wall-limit only changes when a run is cut off).
std::string replay_flags(const fd_args& f) {
  std::string out = f.check ? " --check-fds" : "";
  if (f.grace) out += fmt::format(" --fd-grace {}", f.grace->count());
  for (const auto& p : f.ignore) out += " --ignore-fd " + shell_quoted(p);
  return out;
}

run_args parse_run(const std::vector<std::string_view>& args) {
  run_args a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::size_t first = i;
    option_at opt(args, i);
    const std::string_view arg = opt.name;
    if (arg == "--continue-from") {
      a.continue_from = std::string(opt.value());
      if (a.continue_from.empty()) throw usage_error{"--continue-from needs a file name"};
      continue;
    }
    if (arg == "--depth") {
      a.depth = static_cast<int>(number(arg, opt.value(), 1, 2));
    } else if (arg == "--swarm") {
      a.swarm = number(arg, opt.value(), 1, 1'000'000);
    } else if (arg == "--seed") {
      a.seed = number(arg, opt.value(), 0, UINT64_MAX);
    } else if (arg == "--jobs") {
      a.jobs = static_cast<unsigned>(number(arg, opt.value(), 1, 256));
    } else if (arg == "--only") {
      for (auto& p : comma_list(arg, opt.value())) a.only.push_back(std::move(p));
    } else if (arg == "--skip") {
      for (auto& p : comma_list(arg, opt.value())) a.skip.push_back(std::move(p));
    } else if (arg == "--kinds") {
      a.kinds = fault_list(opt.value());
    } else if (arg == "--persistent") {
      opt.no_value();
      a.persistent = true;
    } else if (parse_fd_option(opt, a.fds)) {
    } else if (arg == "--shard") {
      std::tie(a.shard_index, a.shard_count) = shard(opt.value());
    } else if (arg == "--wall-limit") {
      a.wall_limit = wall_limit(arg, opt.value());
    } else if (arg == "--max-blocked") {
      a.max_blocked = number(arg, opt.value(), 0, 100000);
    } else if (arg == "--format") {
      a.format = std::string(opt.value());
      if (a.format != "text" && a.format != "json" && a.format != "junit")
        throw usage_error{fmt::format("--format must be text, json or junit, got '{}'", a.format)};
    } else if (arg == "--html") {
      a.html = std::string(opt.value());
      if (a.html.empty()) throw usage_error{"--html needs a file name"};
    } else if (arg == "--output") {
      a.output = std::string(opt.value());
      if (a.output.empty()) throw usage_error{"--output needs a file name"};
    } else if (arg.starts_with("-")) {
      throw usage_error{fmt::format("unknown option '{}' for run", args[i])};
    } else {
      a.filters.emplace_back(arg);
    }
    a.passed_on.insert(a.passed_on.end(), args.begin() + static_cast<std::ptrdiff_t>(first),
                       args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
  return a;
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
  // The first few: thousands of points must not make a line of thousands of names.
  constexpr std::size_t shown = 8;
  std::vector<std::string_view> names;
  for (const auto& p : seen)
    if (names.size() < shown) names.push_back(p.first);
  std::string flags;
  if (!a.only.empty()) flags += fmt::format("--only '{}'", fmt::join(a.only, ","));
  if (!a.skip.empty())
    flags += fmt::format("{}--skip '{}'", flags.empty() ? "" : " with ", fmt::join(a.skip, ","));
  return fmt::format(
      "{} leaves no fault point to explore in the chosen scenarios (they pass through {}{})", flags,
      fmt::join(names, ", "), seen.size() > shown ? ", …" : "");
}

// The report in the format asked for, to standard output or --output, and the
// HTML page if asked for.
void write_reports(const run_args& a, const std::vector<result>& results, bool colour,
                   std::ostream& out, std::ostream& output_file, std::ostream& html_file,
                   const not_run_list& not_run = {}) {
  std::string report = a.format == "json"    ? json_report(results, not_run)
                       : a.format == "junit" ? junit_report(results, not_run)
                                             : text_report(results, colour, not_run);
  const std::size_t chosen = results.size() + not_run.size();
  if (a.format == "text" && a.output.empty())
    report = fmt::format("faultscope {}: exploring {} scenario{}{}\n", version, chosen,
                         chosen == 1 ? "" : "s",
                         a.shard_count > 1
                             ? fmt::format(", shard {}/{}", a.shard_index + 1, a.shard_count)
                             : "") +
             report;
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
    o.skip.insert(o.skip.end(), a.skip.begin(), a.skip.end());
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

namespace {

// A command line, parsed: what to do, before anything is done.
struct command {
  enum class kind { help, version, run, list, replay } what = kind::help;
  std::string_view text;             // help: which text; replay: the token
  std::vector<std::string> filters;  // list
  bool points = false;               // list --points
  run_args run;
  std::pair<std::string, fault_plan> replay;
  std::optional<std::chrono::milliseconds> replay_wall_limit;
  fd_args replay_fds;
};

command parse(int argc, const char* const* argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) throw usage_error{"no command given"};
  std::string_view cmd = args.front();
  std::vector<std::string_view> rest(args.begin() + 1, args.end());
  bool help = std::find(rest.begin(), rest.end(), "--help") != rest.end();
  command c;
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    c.text = top_help;
  } else if (cmd == "--version") {
    c.what = command::kind::version;
  } else if (cmd == "run") {
    if (help) {
      c.text = run_help;
    } else {
      c.what = command::kind::run;
      c.run = parse_run(rest);
    }
  } else if (cmd == "list") {
    if (help) {
      c.text = list_help;
    } else {
      for (std::string_view arg : rest) {
        if (arg == "--points")
          c.points = true;
        else if (arg.starts_with("-"))
          throw usage_error{fmt::format("unknown option '{}' for list", arg)};
        else
          c.filters.emplace_back(arg);
      }
      c.what = command::kind::list;
    }
  } else if (cmd == "replay") {
    if (help) {
      c.text = replay_help;
    } else {
      std::vector<std::string_view> tokens;
      for (std::size_t i = 0; i < rest.size(); ++i) {
        option_at opt(rest, i);
        if (opt.name == "--wall-limit") {
          c.replay_wall_limit = wall_limit(opt.name, opt.value());
        } else if (parse_fd_option(opt, c.replay_fds)) {
        } else if (opt.name.starts_with("-")) {
          throw usage_error{fmt::format("unknown option '{}' for replay", rest[i])};
        } else {
          tokens.push_back(rest[i]);
        }
      }
      if (tokens.size() != 1)
        throw usage_error{"replay takes exactly one TOKEN, as printed on failure: SCENARIO@PLAN"};
      c.what = command::kind::replay;
      c.text = tokens[0];
      try {
        c.replay = parse_replay_token(tokens[0]);
      } catch (const plan_error& e) {
        throw usage_error{e.what()};
      }
    }
  } else {
    throw usage_error{fmt::format("unknown command '{}'", cmd)};
  }
  return c;
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
