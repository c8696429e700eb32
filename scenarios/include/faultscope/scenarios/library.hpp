// The scenario library: reusable shapes of async code, each parameterised over a
// subject and declaring what it accepts, plus the built-ins over the fakes that
// `faultscope run` explores by default, and canaries that must always fail.
//
//   auto s = faultscope::scenarios::every_suspension("orders.load", [](run_context& ctx) {
//     return load_orders(ctx.tracker());
//   });
//   faultscope::registry::instance().add(s);
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "faultscope/registry.hpp"

namespace faultscope::scenarios {

using subject_fn = scenario_fn;
/// One child of a fan-out: `child(ctx, index)`.
using child_fn = std::function<boost::asio::awaitable<void>(run_context&, std::size_t)>;

/// The subject under a deadline, explored with throw, cancel and timeout at every
/// suspension (so throw in acquire, body and release are all covered). Faults
/// must propagate: a subject that swallows one is reported.
[[nodiscard]] scenario_info every_suspension(
    std::string name, subject_fn subject,
    std::chrono::nanoseconds deadline = std::chrono::seconds(10));

/// `children` copies of `child` run concurrently; when one fails, the rest are
/// cancelled and must clean up before the failure propagates.
[[nodiscard]] scenario_info fan_out(std::string name, std::size_t children, child_fn child);

/// Explores at depth 2, so that a release fails while unwinding from the first
/// fault. The failing release is expected (accepted); a leak is not.
[[nodiscard]] scenario_info failing_release_while_unwinding(std::string name, subject_fn subject);

/// The built-in scenarios over SQLite (tag "sqlite"): the seed's get_all_users,
/// a money transfer, connection churn, and complete out-of-memory and I/O-error
/// sweeps over the transfer; plus a canary that leaks a statement.
[[nodiscard]] std::vector<scenario_info> sqlite_builtins();

/// The built-in scenarios over the fakes and over SQLite, and the canaries
/// (tag "canary").
[[nodiscard]] std::vector<scenario_info> builtins();

/// Adds `builtins()` to `r`, skipping names already there.
void register_builtins(registry& r = registry::instance());

}  // namespace faultscope::scenarios
