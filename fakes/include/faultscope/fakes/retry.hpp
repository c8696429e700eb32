// Retries an operation with exponential backoff on the virtual clock. A
// cancellation is never retried: it ends the retrying too.
//
//   auto rows = co_await faultscope::fakes::retry(
//       [&] { return conn.query("select 1"); }, {.attempts = 3, .backoff = 10ms});
#pragma once

#include <chrono>
#include <exception>

#include <boost/asio/awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::fakes {

struct retry_options {
  int attempts = 3;
  std::chrono::nanoseconds backoff = std::chrono::milliseconds(10);
  double multiplier = 2.0;
};

/// Fault point: retry.backoff (before each wait).
template <typename Operation>
auto retry(Operation op, retry_options options = {}) -> boost::asio::awaitable<
    faultscope::detail::awaitable_value_t<std::invoke_result_t<Operation&>>> {
  auto backoff = options.backoff;
  for (int attempt = 1;; ++attempt) {
    std::exception_ptr error;
    try {
      co_return co_await op();
    } catch (...) {
      error = std::current_exception();
    }
    if (attempt >= options.attempts || faultscope::detail::is_cancellation(error))
      std::rethrow_exception(error);
    co_await faultscope::fault_point("retry.backoff");
    co_await faultscope::sleep_for(backoff);
    backoff = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff * options.multiplier);
  }
}

}  // namespace faultscope::fakes
