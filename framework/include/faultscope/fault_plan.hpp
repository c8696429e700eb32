// A fault plan says which fault fires where. It prints as, and parses from, one
// short line — the replay token — so every failure can be reproduced by pasting it.
//
//   auto plan = faultscope::fault_plan::parse("pool.acquire#2=cancel;db.*=throw@p0.1;seed=42");
//   plan.to_string();   // the same line, canonical
//
// Grammar (whitespace is not allowed; rules are separated by ';'):
//   plan      := 'none' | item (';' item)*
//   item      := 'seed=' N  |  rule
//   rule      := pattern selector? '=' fault ('@p' probability)? ('x' count)?
//   pattern   := [A-Za-z0-9_.:/*-]+   ('*' matches any run of characters)
//   selector  := '#' N        the N-th hit of a matching point (1-based)
//              | '#' N '+'    the N-th hit and every later one
//              | '#' N '-' M  hits N to M
//              (no selector: every hit)
//   fault     := 'throw' | 'throw(' code ')' | 'error(' code ')' | 'bad_alloc'
//              | 'cancel' | 'cancel(' ('terminal'|'partial'|'total') ')'
//              | 'timeout' | 'delay(' duration ')'
//   code      := io_error | timed_out | connection_reset | connection_refused | broken_pipe
//              | no_space | busy | no_memory | access_denied | not_found | would_block | N (errno)
//   duration  := N ('ns'|'us'|'ms'|'s'|'min'|'h')
//   probability in (0, 1]; count = at most that many firings of the rule.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/cancellation_type.hpp>
#include <boost/system/error_code.hpp>

namespace faultscope {

enum class fault_kind : std::uint8_t { throw_, error, cancel, timeout, delay, bad_alloc };

/// One fault: what happens at a point when a rule fires.
struct fault {
  fault_kind kind = fault_kind::throw_;
  /// throw(code) / error(code): the errno-style code; 0 for plain `throw`.
  int code = 0;
  boost::asio::cancellation_type cancel_type = boost::asio::cancellation_type::terminal;
  std::chrono::nanoseconds delay{};

  [[nodiscard]] std::string to_string() const;
  /// The code an operation fails with; never success: EIO for a fault without one.
  [[nodiscard]] boost::system::error_code error_code() const;
  friend bool operator==(const fault&, const fault&) = default;

  /// Parses one fault as a plan writes it (`cancel(partial)`, `error(io_error)`,
  /// `delay(5ms)`). Throws `plan_error` naming the offending column.
  [[nodiscard]] static fault parse(std::string_view text);

  static fault make_throw(int code = 0) { return {fault_kind::throw_, code}; }
  static fault make_error(int code) { return {fault_kind::error, code}; }
  static fault make_cancel(
      boost::asio::cancellation_type t = boost::asio::cancellation_type::terminal) {
    return {fault_kind::cancel, 0, t};
  }
  static fault make_timeout() { return {fault_kind::timeout}; }
  /// Throws `std::bad_alloc`, as `new` does when memory runs out.
  static fault make_bad_alloc() { return {fault_kind::bad_alloc}; }
  static fault make_delay(std::chrono::nanoseconds d) {
    return {fault_kind::delay, 0, boost::asio::cancellation_type::terminal, d};
  }
};

struct fault_rule {
  std::string pattern;      ///< point name, '*' wildcards
  std::uint64_t first = 1;  ///< first hit that may fire (1-based)
  std::uint64_t last = 0;   ///< last hit that may fire; 0 = no limit
  faultscope::fault fault;
  double probability = 1.0;  ///< seeded; 1 = always
  std::uint64_t count = 0;   ///< at most this many firings; 0 = no limit

  [[nodiscard]] bool matches(std::string_view point, std::uint64_t hit) const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const fault_rule&, const fault_rule&) = default;
};

/// Thrown by `fault_plan::parse`; `what()` is one line naming the column.
class plan_error : public std::invalid_argument {
 public:
  /// "bad fault plan at column N: message"; `subject` replaces "fault plan".
  plan_error(std::size_t column, const std::string& message,
             std::string_view subject = "fault plan");
  [[nodiscard]] std::size_t column() const noexcept { return column_; }

 private:
  std::size_t column_;
};

class fault_plan {
 public:
  std::vector<fault_rule> rules;
  std::uint64_t seed = 0;

  /// Parses a replay token. Throws `plan_error` naming the offending column.
  [[nodiscard]] static fault_plan parse(std::string_view text);
  /// The canonical one-line form; `parse(p.to_string()) == p`.
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] bool empty() const noexcept { return rules.empty(); }
  friend bool operator==(const fault_plan&, const fault_plan&) = default;

  /// A plan with one rule: `point#hit=fault`.
  [[nodiscard]] static fault_plan single(std::string point, std::uint64_t hit, faultscope::fault f);
};

/// '*' matches any run of characters, everything else itself.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text) noexcept;

namespace detail {
/// splitmix64's finaliser: the one mixing function behind every seeded choice.
[[nodiscard]] std::uint64_t mix64(std::uint64_t x) noexcept;
}  // namespace detail

/// The seeded coin for probabilistic rules: a pure function of (seed, point,
/// hit), so adding a point elsewhere changes no other choice.
[[nodiscard]] double seeded_uniform(std::uint64_t seed, std::string_view point,
                                    std::uint64_t hit) noexcept;

}  // namespace faultscope
