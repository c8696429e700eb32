// faultscope::main — the runner's main(). Link it with your own scenarios
// (FAULTSCOPE_SCENARIO) to get a runner over them and the built-ins.
#include <iostream>

#include "cli.hpp"

int main(int argc, char** argv) {
  return faultscope::cli::main(argc, argv, std::cout, std::cerr);
}
