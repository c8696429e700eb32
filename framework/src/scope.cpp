#include "faultscope/scope.hpp"

#include <algorithm>
#include <memory>
#include <utility>

namespace faultscope {
namespace {

struct entry {
  std::size_t token;
  std::string name;
};

struct scope_stack {
  std::vector<entry> entries;
  std::size_t next_token = 1;
  // The joined path, rebuilt when a scope opens or closes so that every
  // acquisition in between shares it instead of building its own.
  std::shared_ptr<const std::string> path = std::make_shared<const std::string>();

  // Only the innermost scopes: the stack is per thread, so thousands of
  // interleaved coroutines would otherwise give every record a path of
  // thousands of names (quadratic memory, found by the 10,000-scope load test).
  static constexpr std::size_t shown = 8;

  void rebuild() {
    std::string out = entries.size() > shown ? "…" : "";
    for (std::size_t i = entries.size() > shown ? entries.size() - shown : 0; i < entries.size();
         ++i) {
      if (!out.empty()) out += " › ";
      out += entries[i].name;
    }
    path = std::make_shared<const std::string>(std::move(out));
  }
};

scope_stack& stack() {
  thread_local scope_stack s;
  return s;
}

}  // namespace

scope::scope(std::string name) {
  auto& s = stack();
  token_ = s.next_token++;
  s.entries.push_back({token_, std::move(name)});
  s.rebuild();
}

scope::~scope() {
  // Interleaved coroutines may close scopes out of order: remove by identity.
  auto& s = stack();
  auto& e = s.entries;
  auto it = std::find_if(e.rbegin(), e.rend(), [&](const entry& x) { return x.token == token_; });
  if (it != e.rend()) e.erase(std::next(it).base());
  s.rebuild();
}

std::vector<std::string> current_scopes() {
  std::vector<std::string> out;
  for (const auto& e : stack().entries) out.push_back(e.name);
  return out;
}

std::string current_scope_path() {
  return *stack().path;
}

std::shared_ptr<const std::string> detail::shared_scope_path() {
  return stack().path;
}

}  // namespace faultscope
