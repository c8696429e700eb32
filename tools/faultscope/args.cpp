#include "args.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <tuple>

#include "faultscope/explore.hpp"

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
  --format text|json|junit|github
                       report format on standard output or --output (default text);
                       github is the text report followed by an annotation per bug
                       for GitHub Actions, on standard output only
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

// `word` as one word of a POSIX shell command line.
std::string shell_quoted(std::string_view word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
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
      if (a.format != "text" && a.format != "json" && a.format != "junit" && a.format != "github")
        throw usage_error{
            fmt::format("--format must be text, json, junit or github, got '{}'", a.format)};
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
  if (a.format == "github" && !a.output.empty())
    throw usage_error{
        "--format github writes commands GitHub Actions reads from standard output: drop "
        "--output"};
  return a;
}

}  // namespace

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

std::string replay_flags(const fd_args& f) {
  std::string out = f.check ? " --check-fds" : "";
  if (f.grace) out += fmt::format(" --fd-grace {}", f.grace->count());
  for (const auto& p : f.ignore) out += " --ignore-fd " + shell_quoted(p);
  return out;
}

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

}  // namespace faultscope::cli
