#include "faultscope/fault_plan.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <limits>

#include "faultscope/detail/format.hpp"

namespace faultscope {
namespace {

struct named_code {
  std::string_view name;
  int value;
};
constexpr std::array<named_code, 11> codes{{{"io_error", EIO},
                                            {"timed_out", ETIMEDOUT},
                                            {"connection_reset", ECONNRESET},
                                            {"connection_refused", ECONNREFUSED},
                                            {"broken_pipe", EPIPE},
                                            {"no_space", ENOSPC},
                                            {"busy", EBUSY},
                                            {"no_memory", ENOMEM},
                                            {"access_denied", EACCES},
                                            {"not_found", ENOENT},
                                            {"would_block", EWOULDBLOCK}}};

std::string code_name(int code) {
  for (auto& c : codes)
    if (c.value == code) return std::string(c.name);
  return std::to_string(code);
}

std::string_view cancel_name(boost::asio::cancellation_type t) {
  using boost::asio::cancellation_type;
  if (t == cancellation_type::partial) return "partial";
  if (t == cancellation_type::total) return "total";
  return "terminal";
}

// A cursor over the token that knows its column, for errors a user can act on.
class parser {
 public:
  parser(std::string_view text, std::string_view subject) : text_(text), subject_(subject) {}

  fault_plan parse() {
    fault_plan plan;
    if (text_.empty())
      fail(0,
           "the plan is empty (write 'none' for a run without faults, or a rule such as "
           "'pool.acquire#1=throw')");
    if (text_ == "none") return plan;
    bool seen_seed = false;
    for (;;) {
      if (at_end() || peek() == ';')
        fail(pos_, "empty rule (two ';' in a row, or a ';' at an end)");
      if (text_.substr(pos_).starts_with("seed=")) {
        if (seen_seed) fail(pos_, "seed given twice");
        seen_seed = true;
        pos_ += 5;
        plan.seed = number("a seed (a non-negative integer) after 'seed='");
      } else {
        plan.rules.push_back(rule());
      }
      if (at_end()) break;
      if (peek() != ';')
        fail(pos_, fmt::format("unexpected '{}' (expected ';' between rules)", peek()));
      ++pos_;
    }
    return plan;
  }

  fault single_fault() {
    if (text_.empty()) fail(0, "empty (expected throw, error(code), cancel, timeout or delay(d))");
    fault f = fault_spec();
    if (!at_end()) fail(pos_, fmt::format("unexpected '{}' after the fault", peek()));
    return f;
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& message) const {
    throw plan_error(at + 1, message, subject_);
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  bool accept(std::string_view s) {
    if (text_.substr(pos_).starts_with(s)) {
      pos_ += s.size();
      return true;
    }
    return false;
  }
  void expect(char c, std::string_view what) {
    if (at_end() || peek() != c)
      fail(pos_,
           fmt::format("expected '{}' {}{}", c, what,
                       at_end() ? " but the plan ended" : fmt::format(", found '{}'", peek())));
    ++pos_;
  }

  std::uint64_t number(std::string_view what) {
    std::size_t start = pos_;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), v);
    if (ec == std::errc::result_out_of_range)
      fail(start, fmt::format("number too large for {}", what));
    if (ec != std::errc() || p == text_.data() + pos_)
      fail(start, fmt::format("expected {}", what));
    pos_ = static_cast<std::size_t>(p - text_.data());
    return v;
  }

  static bool pattern_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
           c == '/' || c == '*' || c == '-';
  }

  fault_rule rule() {
    fault_rule r;
    std::size_t start = pos_;
    while (!at_end() && pattern_char(peek())) ++pos_;
    r.pattern = std::string(text_.substr(start, pos_ - start));
    // Never at the end: parse() has seen a character here.
    if (r.pattern.empty()) fail(start, fmt::format("expected a point name, found '{}'", peek()));
    if (accept("#")) {
      r.first = number("a hit number after '#'");
      if (r.first == 0) fail(pos_ - 1, "hit numbers start at 1");
      r.last = r.first;
      if (accept("+")) {
        r.last = 0;
      } else if (accept("-")) {
        r.last = number("the last hit of a range after '-'");
        if (r.last < r.first) fail(pos_ - 1, fmt::format("empty hit range {}-{}", r.first, r.last));
      }
    }
    expect('=', "after the point (as in 'pool.acquire#2=throw')");
    r.fault = fault_spec();
    if (accept("@p")) {
      std::size_t at = pos_;
      double p = 0;
      auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), p);
      if (ec != std::errc() || end == text_.data() + pos_)
        fail(at, "expected a probability after '@p'");
      pos_ = static_cast<std::size_t>(end - text_.data());
      if (!(p > 0.0 && p <= 1.0)) fail(at, "a probability must be in (0, 1]");
      r.probability = p;
    }
    if (accept("x")) {
      r.count = number("a count after 'x'");
      if (r.count == 0) fail(pos_ - 1, "a count must be at least 1");
    }
    return r;
  }

  int code() {
    std::size_t start = pos_;
    if (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      auto v = number("an error code");
      if (v == 0 || v > 4095) fail(start, "an errno code must be between 1 and 4095");
      return static_cast<int>(v);
    }
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_')) ++pos_;
    auto name = text_.substr(start, pos_ - start);
    for (auto& c : codes)
      if (c.name == name) return c.value;
    fail(start,
         fmt::format("unknown error code '{}' (expected io_error, timed_out, connection_reset, "
                     "connection_refused, broken_pipe, no_space, busy, no_memory, "
                     "access_denied, not_found, would_block or an errno number)",
                     name));
  }

  std::chrono::nanoseconds duration() {
    std::size_t start = pos_;
    auto n = number("a duration such as 5ms");
    struct unit {
      std::string_view name;
      std::uint64_t ns;
    };
    // Longest suffix first: "min" before "ms" before "s".
    for (unit u :
         {unit{"min", 60'000'000'000ULL}, unit{"ms", 1'000'000ULL}, unit{"us", 1'000ULL},
          unit{"ns", 1ULL}, unit{"s", 1'000'000'000ULL}, unit{"h", 3'600'000'000'000ULL}}) {
      if (accept(u.name)) {
        if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / u.ns)
          fail(start, "duration too long");
        return std::chrono::nanoseconds(static_cast<std::int64_t>(n * u.ns));
      }
    }
    fail(pos_, "expected a duration unit (ns, us, ms, s, min or h)");
  }

  fault fault_spec() {
    std::size_t start = pos_;
    if (accept("throw")) {
      if (accept("(")) {
        int c = code();
        expect(')', "to close 'throw('");
        return fault::make_throw(c);
      }
      return fault::make_throw();
    }
    if (accept("error")) {
      expect('(', "after 'error' (as in 'error(io_error)')");
      int c = code();
      expect(')', "to close 'error('");
      return fault::make_error(c);
    }
    if (accept("cancel")) {
      if (!accept("(")) return fault::make_cancel();
      using boost::asio::cancellation_type;
      fault f;
      std::size_t at = pos_;
      if (accept("terminal"))
        f = fault::make_cancel(cancellation_type::terminal);
      else if (accept("partial"))
        f = fault::make_cancel(cancellation_type::partial);
      else if (accept("total"))
        f = fault::make_cancel(cancellation_type::total);
      else
        fail(at, "expected terminal, partial or total inside 'cancel(...)'");
      expect(')', "to close 'cancel('");
      return f;
    }
    if (accept("timeout")) return fault::make_timeout();
    if (accept("bad_alloc")) return fault::make_bad_alloc();
    if (accept("delay")) {
      expect('(', "after 'delay' (as in 'delay(5ms)')");
      auto d = duration();
      expect(')', "to close 'delay('");
      return fault::make_delay(d);
    }
    std::size_t end = start;
    while (end < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_'))
      ++end;
    fail(start, fmt::format("unknown fault kind '{}' (expected throw, error, bad_alloc, cancel, "
                            "timeout or delay)",
                            text_.substr(start, end - start)));
  }

  std::string_view text_;
  std::string_view subject_;  // what an error calls the text: "fault plan", "fault"
  std::size_t pos_ = 0;
};

}  // namespace

std::uint64_t detail::mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

plan_error::plan_error(std::size_t column, const std::string& message, std::string_view subject)
    : std::invalid_argument(fmt::format("bad {} at column {}: {}", detail::one_line(subject),
                                        column, detail::one_line(message))),
      column_(column) {}

fault fault::parse(std::string_view text) {
  return parser(text, "fault").single_fault();
}

std::string fault::to_string() const {
  switch (kind) {
    case fault_kind::throw_:
      return code ? fmt::format("throw({})", code_name(code)) : "throw";
    case fault_kind::error:
      return fmt::format("error({})", code_name(code));
    case fault_kind::cancel:
      return cancel_type == boost::asio::cancellation_type::terminal
                 ? "cancel"
                 : fmt::format("cancel({})", cancel_name(cancel_type));
    case fault_kind::timeout:
      return "timeout";
    case fault_kind::delay:
      return fmt::format("delay({})", detail::format_duration(delay));
    case fault_kind::bad_alloc:
      return "bad_alloc";
  }
  return "?";
}

boost::system::error_code fault::error_code() const {
  return {code ? code : EIO, boost::system::system_category()};
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative wildcard match with one backtrack point: linear in practice.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

double seeded_uniform(std::uint64_t seed, std::string_view point, std::uint64_t hit) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the point name
  for (unsigned char c : point) h = (h ^ c) * 0x100000001b3ULL;
  std::uint64_t x = detail::mix64(detail::mix64(seed) ^ h ^ detail::mix64(hit));
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

bool fault_rule::matches(std::string_view point, std::uint64_t hit) const noexcept {
  if (hit < first || (last != 0 && hit > last)) return false;
  return glob_match(pattern, point);
}

std::string fault_rule::to_string() const {
  std::string out = pattern;
  bool every = first == 1 && last == 0;
  if (!every) {
    out += fmt::format("#{}", first);
    if (last == 0)
      out += "+";
    else if (last != first)
      out += fmt::format("-{}", last);
  }
  out += "=" + fault.to_string();
  if (probability < 1.0) out += fmt::format("@p{}", probability);
  if (count) out += fmt::format("x{}", count);
  return out;
}

fault_plan fault_plan::parse(std::string_view text) {
  return parser(text, "fault plan").parse();
}

std::string fault_plan::to_string() const {
  if (rules.empty() && !seed) return "none";
  std::string out;
  for (const auto& r : rules) {
    if (!out.empty()) out += ';';
    out += r.to_string();
  }
  if (seed) {
    if (!out.empty()) out += ';';
    out += fmt::format("seed={}", seed);
  }
  return out;
}

fault_plan fault_plan::single(std::string point, std::uint64_t hit, faultscope::fault f) {
  fault_plan p;
  p.rules.push_back({std::move(point), hit, hit, f});
  return p;
}

}  // namespace faultscope
