// Where something happened in the user's code, captured by `std::source_location`
// and kept as owned strings so a record outlives the frame that made it.
//
//   auto s = faultscope::site::here();
//   fmt::print("{}\n", s.str());   // "examples/seed.cpp:42"
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>

namespace faultscope {

/// A source position plus the short name of the function it is in.
struct site {
  std::string file;
  std::uint32_t line = 0;
  std::string function;  ///< unqualified name, e.g. "get_connection"

  [[nodiscard]] static site from(const std::source_location& loc);
  [[nodiscard]] static site here(std::source_location loc = std::source_location::current()) {
    return from(loc);
  }
  /// "file:line"
  [[nodiscard]] std::string str() const;
};

/// The unqualified name of a function from a compiler's pretty signature:
/// "boost::asio::awaitable<void> demo::get_connection(db&)" → "get_connection".
[[nodiscard]] std::string_view short_function_name(std::string_view pretty) noexcept;

}  // namespace faultscope
