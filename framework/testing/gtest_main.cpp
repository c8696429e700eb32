// faultscope::gtest_main: GoogleTest's main, plus the leak listener, plus
// --faultscope_replay=TOKEN, which reruns one schedule of a FAULTSCOPE_TEST
// and prints its timeline instead of running the tests, plus an XML report
// even when the watchdog ends the binary.
#include <gtest/gtest.h>

#include <iostream>
#include <string_view>

#include "faultscope/testing/gtest.hpp"

int main(int argc, char** argv) {
  constexpr std::string_view flag = "--faultscope_replay";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with(flag) && arg.size() > flag.size() && arg[flag.size()] == '=')
      return faultscope::testing::replay_main(arg.substr(flag.size() + 1), std::cout, std::cerr);
    if (arg != flag) continue;
    if (i + 1 < argc) return faultscope::testing::replay_main(argv[i + 1], std::cout, std::cerr);
    std::cerr << "faultscope: --faultscope_replay needs a replay token (SCENARIO@PLAN)\n";
    return 2;
  }
  faultscope::testing::set_replay_program(argc > 0 ? argv[0] : "");
  ::testing::InitGoogleTest(&argc, argv);
  faultscope::testing::write_report_when_the_watchdog_ends(argc > 0 ? argv[0] : "");
  ::testing::UnitTest::GetInstance()->listeners().Append(new faultscope::testing::leak_listener);
  return RUN_ALL_TESTS();
}
