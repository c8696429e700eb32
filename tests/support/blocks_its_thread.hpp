// A scenario body that blocks its run's thread under one fault: on its error
// path it waits on a future that only that very thread could fulfil, so the
// run never gets back to its event loop and only the watchdog can end it.
#pragma once

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/run.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::test {

inline boost::asio::awaitable<void> flush_log() {
  timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(5));
  co_await t.async_wait(boost::asio::use_awaitable);
}

/// Saves an order; when `order.save` throws, "synchronously" flushes a log.
inline boost::asio::awaitable<void> save_blocking_on_error(run_context& ctx) {
  try {
    co_await fault_point("order.save");
  } catch (const injected_fault&) {
    boost::asio::co_spawn(ctx.executor(), flush_log(), boost::asio::use_future).get();
  }
}

}  // namespace faultscope::test
