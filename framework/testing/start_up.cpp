#include "start_up.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "faultscope/detail/watchdog.hpp"

namespace faultscope::testing::start_up {

namespace {

// Can `pattern` match some string that begins with `prefix`? Once the prefix
// is used up, whatever is left of the pattern matches some ending.
bool could_match(std::string_view pattern, std::string_view prefix) {
  while (!prefix.empty()) {
    if (pattern.empty()) return false;
    if (pattern.front() == '*')
      return could_match(pattern.substr(1), prefix) || could_match(pattern, prefix.substr(1));
    if (pattern.front() != '?' && pattern.front() != prefix.front()) return false;
    pattern.remove_prefix(1);
    prefix.remove_prefix(1);
  }
  return true;
}

std::vector<std::string> command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::string> args;
  std::string_view rest = all;
  while (!rest.empty()) {
    auto end = rest.find('\0');
    args.emplace_back(rest.substr(0, end));
    rest = end == rest.npos ? std::string_view{} : rest.substr(end + 1);
  }
  return args;
}

// The filter GoogleTest will apply, as it reads it: the last --gtest_filter=
// (or -gtest_filter=) on the command line, else GTEST_FILTER. Empty when every
// start-up run is needed: no filter, a flag file (which may hold one), or a
// replay, which needs none (set in `replaying`).
struct start_up_flags {
  std::optional<std::string> filter;
  bool replaying = false;
};

start_up_flags read_flags() {
  start_up_flags flags;
  if (const char* env = std::getenv("GTEST_FILTER")) flags.filter = env;
  auto args = command_line();
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.starts_with("--faultscope_replay")) flags.replaying = true;
    if (arg.starts_with("--")) arg.remove_prefix(1);
    if (arg.starts_with("-gtest_filter=")) flags.filter = std::string(arg.substr(14));
    if (arg.starts_with("-gtest_flagfile")) return {};
  }
  return flags;
}

}  // namespace

bool filter_could_match(std::string_view filter, std::string_view prefix) {
  std::string_view positive = filter.substr(0, filter.find('-'));
  if (positive.empty()) return true;  // "-NEGATIVE" alone: every test but those
  while (true) {
    auto colon = positive.find(':');
    if (could_match(positive.substr(0, colon), prefix)) return true;
    if (colon == positive.npos) return false;
    positive.remove_prefix(colon + 1);
  }
}

bool run_needed(std::string_view suite, std::string_view name) {
  static const start_up_flags flags = read_flags();
  if (flags.replaying) return false;
  if (!flags.filter) return true;
  std::string prefix;
  prefix.append(suite).append(".").append(name).append("/");
  return filter_could_match(*flags.filter, prefix);
}

outcome run_clean(const std::string& label, const scenario_fn& fn, const run_options& options,
                  std::chrono::nanoseconds notice_after) {
  // Shared with the thread, which outlives this call when it blocks.
  struct shared {
    std::mutex mutex;
    std::condition_variable ended;
    bool done = false;
    start_up::outcome outcome;
  };
  auto state = std::make_shared<shared>();
  std::thread thread([state, label, fn, options] {
    faultscope::detail::run_label_scope named(label);
    faultscope::detail::on_block_scope on_block([state](const std::string& line) {
      std::lock_guard lock(state->mutex);
      if (state->done) return;  // the run ended just as the watchdog gave up on it
      state->outcome.blocked = line;
      state->done = true;
      state->ended.notify_all();
    });
    run_result r = run(fn, options);
    std::lock_guard lock(state->mutex);
    if (state->done) return;  // given up on: it blocked, and came back after all
    state->outcome.result = std::move(r);
    state->done = true;
    state->ended.notify_all();
  });
  std::unique_lock lock(state->mutex);
  if (!state->ended.wait_for(lock, notice_after, [&] { return state->done; })) {
    auto seconds = [](std::chrono::nanoseconds d) {
      return std::chrono::duration<double>(d).count();
    };
    const auto limit = faultscope::detail::block_limit(options);
    lock.unlock();  // standard error may be a pipe that is slow to drain
    fmt::print(stderr,
               "faultscope: {} has not ended its clean run after {:g} s (a FAULTSCOPE_TEST "
               "runs its body once as the binary starts, to list its schedules); if it has "
               "blocked its thread, it is given up on {:g} s after it started{}\n",
               label, seconds(notice_after), seconds(limit),
               limit > std::chrono::seconds(5)
                   ? ", after CMake's gtest_discover_tests has given up on the listing (5 s "
                     "unless DISCOVERY_TIMEOUT says otherwise): give the body a shorter "
                     ".run.wall_limit"
                   : "");
    lock.lock();
    state->ended.wait(lock, [&] { return state->done; });
  }
  outcome out = std::move(state->outcome);
  lock.unlock();
  if (out.blocked)
    thread.detach();  // blocked for good, as far as anyone can tell
  else
    thread.join();
  return out;
}

}  // namespace faultscope::testing::start_up
