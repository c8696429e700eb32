#include "faultscope/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace faultscope {

bool scenario_info::has_tag(std::string_view tag) const {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

std::vector<violation_kind> scenario_info::planted() const {
  std::vector<violation_kind> kinds;
  for (auto k = static_cast<int>(violation_kind::leak);
       k <= static_cast<int>(violation_kind::nondeterministic); ++k) {
    const auto kind = static_cast<violation_kind>(k);
    if (has_tag(identifier(kind))) kinds.push_back(kind);
  }
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
