// Half of a runner with one scenario name registered in two files (the other
// half is duplicate_b.cpp): it must say so in one line and exit 2, not abort
// before main.
#include "faultscope/registry.hpp"

FAULTSCOPE_SCENARIO(registered_twice) {
  co_return;
}
