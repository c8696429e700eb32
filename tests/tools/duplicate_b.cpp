// The other half of duplicate_a.cpp's runner.
#include "faultscope/registry.hpp"

FAULTSCOPE_SCENARIO(registered_twice) {
  co_return;
}
