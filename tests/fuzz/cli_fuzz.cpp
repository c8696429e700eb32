// Fuzz target: the command line. The input is split at NUL bytes into
// arguments; every command line is either well-formed or rejected with exactly
// one line on standard error and exit status 2. Nothing is run.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"faultscope"};
  std::string arg;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(arg);
      arg.clear();
    } else {
      arg += static_cast<char>(data[i]);
    }
  }
  if (!arg.empty() || size == 0) args.push_back(arg);
  if (args.size() > 64) return 0;  // a command line, not a file
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream err;
  const int status = faultscope::cli::check(static_cast<int>(argv.size()), argv.data(), err);
  const std::string text = err.str();
  FUZZ_CHECK(status == 0 || status == 2, "exit status is 0 or 2");
  if (status == 2) {
    FUZZ_CHECK(text.rfind("faultscope: ", 0) == 0, "an error starts with 'faultscope: '");
    FUZZ_CHECK(text.find('\n') == text.size() - 1, "an error is exactly one line");
  } else {
    FUZZ_CHECK(text.empty(), "a well-formed command line prints nothing");
  }
  return 0;
}
