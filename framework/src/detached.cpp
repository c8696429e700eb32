#include "faultscope/detached.hpp"

#include <fmt/format.h>

#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::detail {

void report_detached_exception(const std::exception_ptr& e, const site& spawned_at) noexcept {
  run_context* run = current_run();
  if (run == nullptr || is_cancellation(e)) return;
  try {
    const std::string where =
        spawned_at.line() != 0 ? fmt::format(" spawned at {}", spawned_at.str()) : std::string();
    run->tracker().report(
        violation_kind::unhandled_exception,
        fmt::format("\"{}\" ended the coroutine{} with faultscope::detached; nothing "
                    "awaits it, so outside a run the exception is lost",
                    describe_exception(e), where),
        0, spawned_at);
  } catch (...) {
    // Out of memory while reporting: a completion handler must not throw.
  }
}

}  // namespace faultscope::detail
