// The faultscope command-line runner, as a function so that `faultscope::main`
// can give users a runner over their own registered scenarios (the way
// gtest_main gives them a test binary).
#pragma once

#include <ostream>

namespace faultscope::cli {

/// Runs the command line; returns the exit status: 0 no violation, 1 violations
/// found, 2 usage error.
int main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

/// Parses the command line without running anything: 0 if it is well-formed, 2
/// with the one-line error on `err` if not. What needs the registry (a FILTER
/// that matches nothing, an unknown scenario) is found only by `main`.
int check(int argc, const char* const* argv, std::ostream& err);

}  // namespace faultscope::cli
