// Formatting shared by reports and error messages.
#pragma once

#include <chrono>
#include <string>

namespace faultscope::detail {

/// The largest unit that renders exactly: "30s", "1500ms", "12us", "7ns", "forever".
/// Fault plans parse it back.
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

}  // namespace faultscope::detail
