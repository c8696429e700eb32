#include "faultscope/scope.hpp"

#include <algorithm>
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
}

scope::~scope() {
  // Interleaved coroutines may close scopes out of order: remove by identity.
  auto& e = stack().entries;
  auto it = std::find_if(e.rbegin(), e.rend(), [&](const entry& x) { return x.token == token_; });
  if (it != e.rend()) e.erase(std::next(it).base());
}

std::vector<std::string> current_scopes() {
  std::vector<std::string> out;
  for (const auto& e : stack().entries) out.push_back(e.name);
  return out;
}

std::string current_scope_path() {
  std::string out;
  for (const auto& e : stack().entries) {
    if (!out.empty()) out += " › ";
    out += e.name;
  }
  return out;
}

}  // namespace faultscope
