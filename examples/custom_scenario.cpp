// A custom scenario in a few lines: register it, explore it, read the report.
#include <fmt/format.h>

#include "faultscope/fakes/pool.hpp"
#include "faultscope/registry.hpp"
#include "faultscope/with_resource.hpp"

using boost::asio::awaitable;

FAULTSCOPE_SCENARIO(checkout, "orders") {
  faultscope::fakes::pool pool(ctx.tracker(), {.max_size = 1});
  co_await faultscope::with_resource(
      [&] { return pool.acquire(); },
      [](faultscope::fakes::connection& c) -> awaitable<void> {
        co_await c.execute("insert into orders values (1)");
        co_await c.execute("update stock set n = n - 1");
      },
      [&](faultscope::fakes::connection& c) { return pool.release(c); });
  co_await pool.close();  // a bug: skipped when the scope above throws
}

int main() {
  const auto* s = faultscope::registry::instance().find("checkout");
  auto report = faultscope::explore(s->name, s->fn);
  fmt::print("{}", report.summary());
  return report.passed() ? 0 : 1;
}
