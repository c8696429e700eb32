// Where something happened in the user's code. A site keeps the
// `std::source_location` itself (static strings, no allocation) and formats it
// only when a report needs it.
//
//   auto s = faultscope::site::here();
//   fmt::print("{} in {}\n", s.str(), s.function());   // "examples/seed.cpp:42 in main"
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>

namespace faultscope {

struct site {
  std::source_location loc;

  [[nodiscard]] static site from(const std::source_location& l) noexcept { return site{l}; }
  [[nodiscard]] static site here(
      std::source_location l = std::source_location::current()) noexcept {
    return site{l};
  }
  /// The file, with "dir/../" folded away.
  [[nodiscard]] std::string file() const;
  [[nodiscard]] std::uint32_t line() const noexcept { return loc.line(); }
  /// The unqualified function name, e.g. "get_connection".
  [[nodiscard]] std::string_view function() const noexcept;
  /// "file:line"
  [[nodiscard]] std::string str() const;
};

/// A source file's path as faultscope reports it, with "dir/../" folded away:
/// `site::file()`, and a file known only as text (a GoogleTest failure's).
[[nodiscard]] std::string folded_file(std::string_view file);

/// The unqualified name of a function from a compiler's pretty signature:
/// "boost::asio::awaitable<void> demo::get_connection(db&)" → "get_connection".
[[nodiscard]] std::string_view short_function_name(std::string_view pretty) noexcept;

}  // namespace faultscope
