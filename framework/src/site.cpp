#include "faultscope/site.hpp"

#include <fmt/format.h>

#include <filesystem>

namespace faultscope {

std::string_view short_function_name(std::string_view pretty) noexcept {
  // Cut the parameter list, then keep what follows the last "::" or space.
  // Template arguments of the return type contain neither "(" before the name
  // nor unbalanced "::" after it, so the last separator before "(" is the name's.
  auto paren = pretty.find('(');
  if (paren == std::string_view::npos) return pretty;
  std::string_view head = pretty.substr(0, paren);
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    char c = head[i];
    if (c == '<') ++depth;
    if (c == '>') --depth;
    if (depth == 0 && (c == ' ' || c == ':' || c == '*' || c == '&')) start = i + 1;
  }
  head = head.substr(start);
  return head.empty() ? pretty.substr(0, paren) : head;
}

std::string folded_file(std::string_view file) {
  return std::filesystem::path(file).lexically_normal().generic_string();
}

std::string site::file() const {
  return folded_file(loc.file_name());
}

std::string_view site::function() const noexcept {
  // FAULTSCOPE_SCENARIO and FAULTSCOPE_TEST name their functions with a prefix
  // the user never wrote: report the name they did write.
  auto name = short_function_name(loc.function_name());
  for (std::string_view prefix : {"faultscope_scenario_", "faultscope_test_"})
    if (name.starts_with(prefix)) name.remove_prefix(prefix.size());
  return name;
}

std::string site::str() const {
  return fmt::format("{}:{}", file(), line());
}

}  // namespace faultscope
