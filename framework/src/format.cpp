#include "faultscope/detail/format.hpp"

#include <fmt/format.h>

namespace faultscope::detail {

std::string format_duration(std::chrono::nanoseconds d) {
  if (d == std::chrono::nanoseconds::max()) return "forever";
  auto ns = d.count();
  struct unit {
    long long scale;
    const char* name;
  };
  for (unit u : {unit{3'600'000'000'000LL, "h"}, unit{60'000'000'000LL, "min"},
                 unit{1'000'000'000LL, "s"}, unit{1'000'000LL, "ms"}, unit{1'000LL, "us"}}) {
    if (ns % u.scale == 0 && ns != 0) return fmt::format("{}{}", ns / u.scale, u.name);
  }
  return fmt::format("{}ns", ns);
}

std::string name_list(const std::vector<std::string_view>& names, std::size_t shown) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i)
    out += fmt::format("{}{}", i ? ", " : "", names[i]);
  if (names.size() > shown) out += ", …";
  return out;
}

std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out;
}

std::string xml_text(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += attribute ? "&#x0A;" : "\n";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\r') out += c;
    }
  }
  return out;
}

std::string xml_cdata(std::string_view text) {
  std::string out = "<![CDATA[";
  for (std::size_t at; (at = text.find("]]>")) != std::string_view::npos;
       text.remove_prefix(at + 2)) {
    out.append(text.substr(0, at + 2));
    out += "]]><![CDATA[";
  }
  out.append(text);
  return out + "]]>";
}

std::string json_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace faultscope::detail
