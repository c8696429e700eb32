#include "continuation.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "faultscope/registry.hpp"

namespace faultscope::cli {
namespace {

// The text is a run of tokens, each its length in decimal, a colon and its bytes
// (a netstring without the comma): messages hold any byte, newlines included,
// and a reader never has to unescape anything. Only this program reads it, from
// a file it wrote a moment before; a version tag still turns away anything else.
constexpr std::string_view tag = "faultscope-continuation/1";

// Every field of one structure, in one order for writing and reading: `a` is
// a writer or a reader, `v` the structure (const when written).
template <typename A, typename T>
void each_field(A& a, T& v) {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, violation>) {
    a(v.kind, v.message, v.resource, v.file, v.line);
  } else if constexpr (std::is_same_v<U, event>) {
    a(v.at, v.type, v.resource, v.kind, v.label, v.detail);
  } else if constexpr (std::is_same_v<U, point_hit>) {
    a(v.point, v.hit, v.at, v.fired, v.rule);
  } else if constexpr (std::is_same_v<U, run_result>) {
    a(v.violations, v.end, v.error_message, v.virtual_elapsed, v.wall_elapsed, v.timeline,
      v.acquired, v.trace, v.injected);
  } else if constexpr (std::is_same_v<U, schedule_result>) {
    a(v.index, v.plan, v.minimal, v.run);
  } else if constexpr (std::is_same_v<U, exploration>) {
    a(v.scenario, v.clean, v.points, v.hits, v.total_schedules, v.schedules_run, v.truncated,
      v.failures, v.ran, v.wall);
  } else if constexpr (std::is_same_v<U, detail::blocked_schedule>) {
    a(v.label, v.plan, v.line);
  } else {
    static_assert(sizeof(U) == 0, "no fields listed for this type");
  }
}

template <typename T>
concept number_like = std::integral<T> || std::is_enum_v<T>;

class writer {
 public:
  template <typename... T>
  void operator()(const T&... values) {
    (put(values), ...);
  }
  std::string text;

 private:
  void put(std::string_view s) { text += fmt::format("{}:{}", s.size(), s); }
  void put(const std::string& s) { put(std::string_view(s)); }
  void put(const fault_plan& p) { put(p.to_string()); }
  template <number_like T>
  void put(const T& v) {
    if constexpr (std::is_enum_v<T>)
      put(static_cast<std::underlying_type_t<T>>(v));
    else if constexpr (std::is_same_v<T, bool>)
      put(std::string_view(v ? "1" : "0"));
    else
      put(std::to_string(v));
  }
  template <typename Rep, typename Period>
  void put(const std::chrono::duration<Rep, Period>& d) {
    put(d.count());
  }
  template <typename T>
  void put(const std::vector<T>& list) {
    put(list.size());
    for (const auto& item : list) put(item);
  }
  template <typename T>
  void put(const T& structure) {
    each_field(*this, structure);
  }
};

// An enum read back must be one the program knows: its name is not "unknown".
template <typename T>
bool known(T v) {
  if constexpr (std::is_enum_v<T>)
    return to_string(v) != "unknown";
  else
    return true;
}

class reader {
 public:
  explicit reader(std::string_view text) : text_(text), rest_(text) {}

  template <typename... T>
  void operator()(T&... values) {
    (get(values), ...);
  }

  [[nodiscard]] bool done() const { return rest_.empty(); }

  std::string_view token() {
    const auto colon = rest_.find(':');
    std::size_t size = 0;
    const auto digits = rest_.substr(0, colon);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
    if (colon == rest_.npos || digits.empty() || ec != std::errc() ||
        end != digits.data() + digits.size() || size > rest_.size() - colon - 1)
      fail("a token's length");
    auto out = rest_.substr(colon + 1, size);
    rest_.remove_prefix(colon + 1 + size);
    return out;
  }

  [[noreturn]] void fail(std::string_view expected) const {
    throw continuation_error(
        fmt::format("expected {} at byte {}", expected, text_.size() - rest_.size()));
  }

 private:
  void get(std::string& s) { s = std::string(token()); }
  void get(fault_plan& p) {
    try {
      p = fault_plan::parse(token());
    } catch (const plan_error&) {
      fail("a fault plan");
    }
  }
  template <number_like T>
  void get(T& v) {
    using N = typename std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>,
                                          std::type_identity<T>>::type;
    const auto t = token();
    N n{};
    if constexpr (std::is_same_v<N, bool>) {
      if (t != "0" && t != "1") fail("0 or 1");
      n = t == "1";
    } else {
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
      if (ec != std::errc() || end != t.data() + t.size()) fail("a number");
    }
    v = static_cast<T>(n);
    if (!known(v)) fail("a known name");
  }
  template <typename Rep, typename Period>
  void get(std::chrono::duration<Rep, Period>& d) {
    Rep count{};
    get(count);
    d = std::chrono::duration<Rep, Period>(count);
  }
  template <typename T>
  void get(std::vector<T>& list) {
    std::size_t size = 0;
    get(size);
    list.clear();
    // Each item takes at least a byte: a size larger than the rest is a bad
    // file, not a reason to loop or allocate.
    if (size > rest_.size()) fail("a list no longer than the text");
    for (std::size_t i = 0; i < size; ++i) get(list.emplace_back());
  }
  template <typename T>
  void get(T& structure) {
    each_field(*this, structure);
  }

  std::string_view text_;
  std::string_view rest_;
};

}  // namespace

std::string to_text(const continuation& c) {
  writer w;
  w(tag);
  w(c.finished.size());
  for (const auto& r : c.finished) w(r.scenario->name, r.report, r.replay_flags);
  w(c.blocked, c.spent);
  return std::move(w.text);
}

continuation from_text(std::string_view text) {
  reader r(text);
  if (r.token() != tag) r.fail(fmt::format("'{}'", tag));
  continuation c;
  std::size_t finished = 0;
  r(finished);
  for (std::size_t i = 0; i < finished; ++i) {
    std::string name;
    result done{nullptr, {}, {}};
    r(name, done.report, done.replay_flags);
    done.scenario = registry::instance().find(name);
    if (!done.scenario) throw continuation_error(fmt::format("no scenario named '{}'", name));
    c.finished.push_back(std::move(done));
  }
  r(c.blocked, c.spent);
  if (!r.done()) r.fail("the end");
  // A runner that ends at its next blocked schedule reports these by plan.
  for (const auto& b : c.blocked) {
    try {
      (void)fault_plan::parse(b.plan);
    } catch (const plan_error& e) {
      throw continuation_error(fmt::format("a blocked schedule's plan: {}", e.what()));
    }
  }
  return c;
}

}  // namespace faultscope::cli
