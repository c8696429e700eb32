#include "faultscope/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace faultscope {

bool scenario_info::has_tag(std::string_view tag) const {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

namespace {

// Every violation kind with the identifier a canary's tag names it by.
const std::vector<std::pair<violation_kind, std::string>>& kind_identifiers() {
  static const auto all = [] {
    std::vector<std::pair<violation_kind, std::string>> kinds;
    for (auto k = static_cast<int>(violation_kind::leak);
         k <= static_cast<int>(violation_kind::nondeterministic); ++k)
      kinds.emplace_back(static_cast<violation_kind>(k),
                         identifier(static_cast<violation_kind>(k)));
    return kinds;
  }();
  return all;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A canary's tag a slip away from a kind's identifier ("double_relase", or
// "double release" as reports print it) would leave the canary planting a
// leak it does not plant, and a detector unproven: the kind it meant.
std::optional<std::string> misspelt_kind(std::string_view tag) {
  std::string plain(tag);
  for (char& c : plain)
    c = c == ' ' || c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto& kinds = kind_identifiers();
  if (std::any_of(kinds.begin(), kinds.end(), [&](const auto& k) { return k.second == tag; }))
    return std::nullopt;
  for (const auto& [kind, id] : kinds)
    if (edit_distance(plain, id) <= std::max<std::size_t>(1, id.size() / 4)) return id;
  return std::nullopt;
}

}  // namespace

std::vector<violation_kind> scenario_info::planted() const {
  std::vector<violation_kind> kinds;
  for (const auto& [kind, id] : kind_identifiers())
    if (has_tag(id)) kinds.push_back(kind);
  if (kinds.empty()) kinds.push_back(violation_kind::leak);
  return kinds;
}

registry& registry::instance() {
  static registry r;
  return r;
}

void registry::add(scenario_info s) {
  if (s.name.empty()) throw std::invalid_argument("a scenario needs a name");
  for (char c : s.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw std::invalid_argument(
          fmt::format("scenario name '{}' may use only letters, digits, '_', '.' and '-'", s.name));
  if (const auto* first = find(s.name)) {
    std::string both = first->where.line() && s.where.line()
                           ? fmt::format(": at {} and at {}", first->where.str(), s.where.str())
                           : std::string();
    throw std::invalid_argument(fmt::format("scenario '{}' is registered twice{}", s.name, both));
  }
  if (!s.fn) throw std::invalid_argument(fmt::format("scenario '{}' has no body", s.name));
  if (s.has_tag("canary"))
    for (const auto& tag : s.tags)
      if (auto kind = misspelt_kind(tag))
        throw std::invalid_argument(fmt::format(
            "canary '{}' has the tag '{}', which names no violation kind: did you mean '{}'? "
            "(its tags name what it plants, as the JSON report spells it)",
            s.name, tag, *kind));
  scenarios_.push_back(std::move(s));
}

std::vector<const scenario_info*> registry::match(std::string_view filter) const {
  std::vector<const scenario_info*> out;
  for (const auto& s : scenarios_)
    if (filter.empty() || glob_match(filter, s.name) || s.has_tag(filter)) out.push_back(&s);
  return out;
}

const scenario_info* registry::find(std::string_view name) const {
  for (const auto& s : scenarios_)
    if (s.name == name) return &s;
  return nullptr;
}

std::string registry::replay_command(std::string_view scenario, const fault_plan& plan) const {
  return fmt::format("{} replay '{}'", runner_.empty() ? "faultscope" : runner_,
                     replay_token(scenario, plan));
}

namespace detail {

std::vector<std::string> split_tags(std::string_view tags) {
  std::vector<std::string> out;
  while (!tags.empty()) {
    auto comma = tags.find(',');
    auto part = tags.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    tags.remove_prefix(comma + 1);
  }
  return out;
}

int register_scenario(const char* name, const char* tags, scenario_fn fn, site where,
                      explore_options options) {
  auto& r = registry::instance();
  try {
    r.add({name, split_tags(tags), {}, std::move(fn), std::move(options), where});
  } catch (const std::exception& e) {
    r.errors_.emplace_back(e.what());
  }
  return 0;
}

int register_scenario(const char* name, const char* tags, scenario_fn fn, site where) {
  return register_scenario(name, tags, std::move(fn), where, {});
}

}  // namespace detail
}  // namespace faultscope
