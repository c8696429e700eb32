// The per-thread scope path: order, removal by identity, and the bound on its
// length that keeps thousands of interleaved scopes from costing quadratic memory.
#include "faultscope/scope.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace {

TEST(ScopePath, OutermostFirstAndClosedByIdentity) {
  auto a = std::make_unique<faultscope::scope>("a");
  auto b = std::make_unique<faultscope::scope>("b");
  auto c = std::make_unique<faultscope::scope>("c");
  EXPECT_EQ(faultscope::current_scope_path(), "a › b › c");
  b.reset();  // an interleaved coroutine closes out of order
  EXPECT_EQ(faultscope::current_scope_path(), "a › c");
  c.reset();
  a.reset();
  EXPECT_EQ(faultscope::current_scope_path(), "");
}

TEST(ScopePath, ShowsOnlyTheInnermostEight) {
  std::vector<std::unique_ptr<faultscope::scope>> open;
  for (int i = 0; i < 10'000; ++i)
    open.push_back(std::make_unique<faultscope::scope>("s" + std::to_string(i)));
  EXPECT_EQ(faultscope::current_scope_path(),
            "… › s9992 › s9993 › s9994 › s9995 › s9996 › s9997 › s9998 › s9999");
  EXPECT_EQ(faultscope::current_scopes().size(), 10'000u) << "every scope is still known";
  open.resize(8);
  EXPECT_EQ(faultscope::current_scope_path(), "s0 › s1 › s2 › s3 › s4 › s5 › s6 › s7");
  while (!open.empty()) open.pop_back();
}

}  // namespace
