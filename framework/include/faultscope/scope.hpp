// The scope path: which named scopes were open when a resource was acquired
// ("get_all_users › get_connection"). faultscope's async scopes open one
// automatically, named after the calling function; `scope` opens one by hand.
//
//   faultscope::scope s{"load_users"};
//   auto id = tracker.acquire("connection", "db");   // path: "load_users › …"
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace faultscope {

/// RAII: names a scope for everything acquired while it is open.
///
/// The path is kept per thread, and a faultscope run owns its thread. Coroutines of
/// one run that interleave (a fan-out) can see each other's names in their paths;
/// scopes close by identity, so the path never corrupts, it only over-reports.
class scope {
 public:
  explicit scope(std::string name);
  ~scope();
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  std::size_t token_;
};

/// The innermost eight open scopes of this thread joined with " › ", outermost
/// first; "… › " in front when more are open (thousands of interleaved
/// coroutines must not give every record a path of thousands of names).
[[nodiscard]] std::string current_scope_path();

/// The open scope names of this thread, outermost first.
[[nodiscard]] std::vector<std::string> current_scopes();

namespace detail {
/// The current path, shared: what the tracker keeps per acquisition.
[[nodiscard]] std::shared_ptr<const std::string> shared_scope_path();
}  // namespace detail

}  // namespace faultscope
