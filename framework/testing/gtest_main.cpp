// faultscope::gtest_main: GoogleTest's main, plus the leak listener.
#include <gtest/gtest.h>

#include "faultscope/testing/gtest.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new faultscope::testing::leak_listener);
  return RUN_ALL_TESTS();
}
