#include "faultscope/detail/format.hpp"

#include <fmt/format.h>

namespace faultscope::detail {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 sequence at text[i] (Unicode's table
// 3-7: no overlong forms, no surrogates, nothing past U+10FFFF), or, negated,
// the length of the part that begins one and breaks off, which a decoder
// replaces with a single U+FFFD.
int sequence_at(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  int n = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < n; ++k) {
    const std::size_t at = i + static_cast<std::size_t>(k);
    if (at >= text.size() || byte(at) < low || byte(at) > high) return -k;
    low = 0x80;
    high = 0xBF;
  }
  return n;
}

// Calls `emit` with each character of `text` as its bytes, an ill-formed part
// as U+FFFD.
template <typename Emit>
void each_character(std::string_view text, Emit emit) {
  for (std::size_t i = 0; i < text.size();) {
    const int n = sequence_at(text, i);
    emit(n > 0 ? text.substr(i, static_cast<std::size_t>(n)) : replacement);
    i += static_cast<std::size_t>(n > 0 ? n : -n);
  }
}

// What XML 1.0 cannot hold even escaped: controls besides tab and the line
// breaks, and the two noncharacters U+FFFE and U+FFFF.
bool outside_xml(std::string_view ch) {
  if (ch.size() == 1) {
    const auto c = static_cast<unsigned char>(ch[0]);
    return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
  }
  return ch == "\xEF\xBF\xBE" || ch == "\xEF\xBF\xBF";
}

}  // namespace

std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t cut = max;
  // Back to the lead byte of the sequence the cut falls in, if it falls in one.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

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
  each_character(text, [&](std::string_view ch) {
    if (outside_xml(ch)) return;
    switch (ch[0]) {
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
        out += ch;
    }
  });
  return out;
}

std::string xml_cdata(std::string_view text) {
  std::string held;
  held.reserve(text.size());
  each_character(text, [&](std::string_view ch) {
    if (!outside_xml(ch)) held += ch;
  });
  std::string_view rest = held;
  std::string out = "<![CDATA[";
  for (std::size_t at; (at = rest.find("]]>")) != std::string_view::npos;
       rest.remove_prefix(at + 2)) {
    out.append(rest.substr(0, at + 2));
    out += "]]><![CDATA[";
  }
  out.append(rest);
  return out + "]]>";
}

std::string json_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  each_character(text, [&](std::string_view ch) {
    const auto c = static_cast<unsigned char>(ch[0]);
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
          out += ch;
    }
  });
  return out;
}

}  // namespace faultscope::detail
