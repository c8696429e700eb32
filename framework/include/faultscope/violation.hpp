// A violation is one thing a run proved wrong: a leak, a double release, a hang.
// Every violation renders as one line a user can act on.
//
//   for (const faultscope::violation& v : result.violations)
//     std::puts(v.message.c_str());
//   // leak: connection #3 "db" acquired at examples/seed.cpp:42 in get_all_users › get_connection,
//   // never released
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace faultscope {

/// What went wrong. The names are stable: reports and JSON use `to_string`.
enum class violation_kind : std::uint8_t {
  leak,                 ///< acquired, never released
  double_release,       ///< released a second time
  unknown_release,      ///< released an id the tracker never handed out
  use_after_release,    ///< touched after its release
  release_failed,       ///< the release itself threw
  release_timeout,      ///< the release overran its cleanup deadline
  hang,                 ///< the run could make no progress
  not_quiescent,        ///< work was still pending when the root coroutine ended
  outcome,              ///< the run ended in a way the scenario did not accept
  invariant,            ///< a scenario's own check failed
  unhandled_exception,  ///< a completion handler threw into the event loop
  nothing_explored,     ///< an exploration had no fault point to inject a fault at
  nondeterministic,     ///< a schedule left the path of the run it was derived from
  // nondeterministic stays last: the registry walks the kinds up to it.
};

[[nodiscard]] std::string_view to_string(violation_kind kind) noexcept;
/// The kind as its enumerator spells it (`release_failed`): the JSON report's
/// key, and the tag by which a canary names what it plants.
[[nodiscard]] std::string identifier(violation_kind kind);

/// One violation. `message` is the whole one-line rendering, kind first.
struct violation {
  violation_kind kind;
  std::string message;
  std::uint64_t resource = 0;  ///< the resource id, 0 when none is involved
  /// The line it points at, for an editor or a CI annotation: where a leaked
  /// resource was acquired, where a second release or a late use was called,
  /// the scope whose cleanup failed. Empty and 0 when it points at no line.
  std::string file{};
  std::uint32_t line = 0;
};

}  // namespace faultscope
