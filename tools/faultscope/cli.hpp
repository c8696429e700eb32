// The faultscope command-line runner, as a function so that `faultscope::main`
// can give users a runner over their own registered scenarios (the way
// gtest_main gives them a test binary).
#pragma once

#include <ostream>

namespace faultscope::cli {

/// Runs the command line; returns the exit status: 0 no violation, 1 violations
/// found, 2 usage error.
int main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace faultscope::cli
