// Formatting shared by reports and error messages.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace faultscope::detail {

/// The largest unit that renders exactly: "30s", "1500ms", "12us", "7ns", "forever".
/// Fault plans parse it back.
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

/// `text` with its control characters shown as "\x0a": an error that quotes
/// what a user typed (a pasted newline) stays one line.
[[nodiscard]] std::string one_line(std::string_view text);

}  // namespace faultscope::detail
