// A runner (faultscope::main) whose scenarios, on their error paths, wait on a
// future that only their own thread could fulfil: the run blocks inside a
// handler, where it cannot report itself. The watchdog must name the schedule
// in one line, not leave CI waiting forever; the runner must go on past it in
// a new process, and the report show every scenario, the blocked schedules
// failed as hangs, with exit status 1. If it cannot go on, the report still
// shows what it finished and names what it never got to.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "faultscope/fault_point.hpp"
#include "faultscope/registry.hpp"
#include "support/blocks_its_thread.hpp"

FAULTSCOPE_SCENARIO(checks_first, "manual") {
  co_await faultscope::fault_point("order.check");
}

FAULTSCOPE_SCENARIO_WITH(blocks_on_error, "manual",
                         {.kinds = {faultscope::fault::make_throw()},
                          .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  co_await faultscope::test::save_blocking_on_error(ctx);
}

FAULTSCOPE_SCENARIO(never_reached, "manual") {
  co_await faultscope::fault_point("order.ship");
}

// Blocks under either of its two schedules: the runner goes on twice.
FAULTSCOPE_SCENARIO_WITH(blocks_twice, "manual",
                         {.kinds = {faultscope::fault::make_throw()},
                          .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  co_await faultscope::test::save_blocking_on_error(ctx);
  co_await faultscope::test::save_blocking_on_error(ctx);
}

// Blocks with no fault at all: nothing of it can be explored.
FAULTSCOPE_SCENARIO_WITH(blocks_unfaulted, "manual",
                         {.run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  co_await faultscope::fault_point("order.check");
  boost::asio::co_spawn(ctx.executor(), faultscope::test::flush_log(), boost::asio::use_future)
      .get();
}

FAULTSCOPE_SCENARIO(reached_last, "manual") {
  co_await faultscope::fault_point("order.close");
}

// Holds a lock on a file while it blocks: the process that goes on must not
// inherit the descriptor, or its own run without faults finds the lock taken.
FAULTSCOPE_SCENARIO_WITH(locks_then_blocks, "manual",
                         {.kinds = {faultscope::fault::make_throw()},
                          .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/faultscope-blocked-runner.lock";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(
        "the lock is still held: a descriptor of the blocked process lived on");
  }
  co_await faultscope::test::save_blocking_on_error(ctx);
  ::unlink(path.c_str());
  ::close(fd);
}
