// Formatting shared by reports and error messages.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace faultscope::detail {

/// The largest unit that renders exactly: "30s", "1500ms", "12us", "7ns", "forever".
/// Fault plans parse it back.
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

/// The first `shown` of `names` joined with ", ", then ", …" if there are
/// more: a line that could name thousands of fault points stays a line.
[[nodiscard]] std::string name_list(const std::vector<std::string_view>& names,
                                    std::size_t shown = 8);

/// `text` with its control characters shown as "\x0a": an error that quotes
/// what a user typed (a pasted newline) stays one line.
[[nodiscard]] std::string one_line(std::string_view text);

/// At most `max` bytes of `text`, cut where no UTF-8 sequence is split: a
/// shortened message keeps whole characters.
[[nodiscard]] std::string_view utf8_prefix(std::string_view text, std::size_t max);

// The report writers below take text from anywhere (an exception's message, a
// statement, a path) and must still write a file a parser accepts: each byte
// that is not well-formed UTF-8 becomes U+FFFD, as a decoder shows it.

/// `text` as XML character data or an attribute value: the five entities
/// escaped; characters XML 1.0 cannot hold, even escaped (controls, U+FFFE,
/// U+FFFF), dropped; with `attribute`, line breaks kept as "&#x0A;" (a parser
/// turns a raw one in an attribute into a space).
[[nodiscard]] std::string xml_text(std::string_view text, bool attribute = false);

/// `text` as one or more CDATA sections: a "]]>" inside is split across two;
/// what XML cannot hold dropped, as in xml_text.
[[nodiscard]] std::string xml_cdata(std::string_view text);

/// `text` as the inside of a JSON string: quotes, backslashes and control
/// characters escaped.
[[nodiscard]] std::string json_text(std::string_view text);

}  // namespace faultscope::detail
