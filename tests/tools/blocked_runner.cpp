// A runner (faultscope::main) whose second scenario, on its error path, waits
// on a future that only its own thread could fulfil: the run blocks inside a
// handler, where it cannot report itself. The watchdog must name the schedule
// in one line and end the runner with status 1, not leave CI waiting forever,
// and the report must still show the first scenario and the blocked schedule,
// and name the third, which the runner never got to.
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/virtual_time.hpp"

namespace {

boost::asio::awaitable<void> flush_log() {
  faultscope::timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(5));
  co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace

FAULTSCOPE_SCENARIO(checks_first, "manual") {
  co_await faultscope::fault_point("order.check");
}

FAULTSCOPE_SCENARIO_WITH(blocks_on_error, "manual",
                         {.kinds = {faultscope::fault::make_throw()},
                          .run = {.wall_limit = std::chrono::milliseconds(100)}}) {
  try {
    co_await faultscope::fault_point("order.save");
  } catch (const faultscope::injected_fault&) {
    // A "synchronous" flush on the error path: the future waits for a
    // coroutine that this very thread would have to run.
    boost::asio::co_spawn(ctx.executor(), flush_log(), boost::asio::use_future).get();
  }
}

FAULTSCOPE_SCENARIO(never_reached, "manual") {
  co_await faultscope::fault_point("order.ship");
}
