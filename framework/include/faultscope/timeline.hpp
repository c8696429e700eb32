// The timeline of a run: every acquire, release, use and injected fault with its
// virtual timestamp, in the order it happened. Reports draw resource lifetimes from it.
//
//   for (const faultscope::event& e : result.timeline)
//     fmt::print("{:>10} {} #{}\n", e.at.count(), to_string(e.type), e.resource);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "faultscope/site.hpp"

namespace faultscope {

enum class event_type : std::uint8_t { acquire, release, touch, fault, violation, note };

[[nodiscard]] std::string_view to_string(event_type type) noexcept;

struct event {
  std::chrono::nanoseconds at{};  ///< virtual time since the run started
  event_type type = event_type::note;
  std::uint64_t resource = 0;  ///< 0 when the event is not about one resource
  std::string kind;            ///< resource kind, e.g. "connection"
  std::string label;           ///< resource label, e.g. "db"
  faultscope::site where{};    ///< acquire, release, touch: where in the code
  std::string detail;          ///< fault description or violation text
};

/// One pass through a fault point, in the order the run made them.
struct point_hit {
  std::string point;              ///< "pool.acquire"
  std::uint64_t hit = 0;          ///< 1 for the first pass through this point
  std::chrono::nanoseconds at{};  ///< virtual time
  std::string fired;              ///< the fault injected here ("cancel"), or empty
  std::uint32_t rule = 0;         ///< which of the plan's rules fired here, from 1; 0: none
};

}  // namespace faultscope
