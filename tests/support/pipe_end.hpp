// A descriptor the tracker never hears of, for the tests of
// run_options::check_fds: the write end of a new pipe, whose read end is
// already closed, for the code under test to close or to leak.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

namespace faultscope::test {

inline int pipe_write_end() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  ::close(ends[0]);
  return ends[1];
}

}  // namespace faultscope::test
