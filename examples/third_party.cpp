// Verifying third-party async code without changing it. `vendor::count_orders`
// stands for a library function written against a pool interface (here a
// template parameter, as a vendor's code often is). faultscope drives it with
// its fake pool, explores every fault point the pool and connection pass, and
// reports the leak the function has on its error path.
#include <fmt/format.h>

#include "faultscope/explore.hpp"
#include "faultscope/fakes/pool.hpp"

using boost::asio::awaitable;

namespace vendor {

// Third-party code, unchanged: returns the connection only on success.
template <typename Pool>
awaitable<std::size_t> count_orders(Pool& pool) {
  auto conn = co_await pool.acquire();
  auto rows = co_await conn.query("select * from orders");
  co_await pool.release(conn);
  co_return rows.size();
}

}  // namespace vendor

awaitable<void> drive(faultscope::run_context& ctx) {
  faultscope::fakes::pool pool(ctx.tracker(), {.max_size = 1});
  std::exception_ptr error;
  try {
    co_await vendor::count_orders(pool);
  } catch (...) {
    error = std::current_exception();
  }
  // The pool is ours; close it whatever the vendor code did (shielded from a
  // cancellation by clearing the flag this harness owns).
  co_await boost::asio::this_coro::reset_cancellation_state();
  co_await pool.close();
  if (error) std::rethrow_exception(error);
}

int main() {
  auto report = faultscope::explore("vendor.count_orders", drive, {.skip = {"conn.close"}});
  fmt::print("{}", report.summary());
  // The point of this example is the leak: finding it is success.
  bool found = !report.passed();
  fmt::print("\n{}\n", found ? "faultscope found the vendor function's leak."
                             : "ERROR: the vendor function's leak went unreported.");
  return found ? 0 : 1;
}
