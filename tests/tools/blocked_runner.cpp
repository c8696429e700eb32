// A runner (faultscope::main) whose second scenario, on its error path, waits
// on a future that only its own thread could fulfil: the run blocks inside a
// handler, where it cannot report itself. The watchdog must name the schedule
// in one line and end the runner with status 1, not leave CI waiting forever,
// and the report must still show the first scenario and the blocked schedule,
// and name the third, which the runner never got to.
#include <chrono>

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
