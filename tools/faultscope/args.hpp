// The faultscope runner's command line, parsed into what to do before anything
// is done: every usage error is found here, as one line. Machinery of cli.cpp.
//
//   command c = parse(argc, argv);   // throws usage_error
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faultscope/fault_plan.hpp"
#include "faultscope/run.hpp"

namespace faultscope::cli {

struct usage_error {
  std::string message;
};

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

/// The command line `argv` holds; throws usage_error.
command parse(int argc, const char* const* argv);

/// The descriptor flags on a scenario's run options: they add to the
/// scenario's own ignore_fd, and apply wherever the check is on (the flag or
/// its options).
void apply(const fd_args& f, run_options& o);

/// What a replay needs after the token, to check what the run checked
/// (--wall-limit only changes when a run is cut off).
std::string replay_flags(const fd_args& f);

}  // namespace faultscope::cli
