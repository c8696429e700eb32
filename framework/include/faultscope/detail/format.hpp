// Formatting shared by reports and error messages.
#pragma once

#include <chrono>
#include <string>

namespace faultscope::detail {

/// The shortest exact rendering: "30s", "1.5s", "250ms", "12us", "7ns", "forever".
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

}  // namespace faultscope::detail
