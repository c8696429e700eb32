#include "faultscope/tracker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "faultscope/detail/clock_hold.hpp"
#include "faultscope/scope.hpp"

namespace faultscope {

std::string_view to_string(violation_kind kind) noexcept {
  switch (kind) {
    case violation_kind::leak:
      return "leak";
    case violation_kind::double_release:
      return "double release";
    case violation_kind::unknown_release:
      return "unknown release";
    case violation_kind::use_after_release:
      return "use after release";
    case violation_kind::release_failed:
      return "release failed";
    case violation_kind::release_timeout:
      return "release timeout";
    case violation_kind::hang:
      return "hang";
    case violation_kind::not_quiescent:
      return "not quiescent";
    case violation_kind::outcome:
      return "outcome";
    case violation_kind::invariant:
      return "invariant";
    case violation_kind::unhandled_exception:
      return "unhandled exception";
    case violation_kind::nothing_explored:
      return "nothing explored";
    case violation_kind::nondeterministic:
      return "nondeterministic";
  }
  return "unknown";
}

std::string identifier(violation_kind kind) {
  std::string name(to_string(kind));
  std::replace(name.begin(), name.end(), ' ', '_');
  return name;
}

std::string_view to_string(event_type type) noexcept {
  switch (type) {
    case event_type::acquire:
      return "acquire";
    case event_type::release:
      return "release";
    case event_type::touch:
      return "touch";
    case event_type::fault:
      return "fault";
    case event_type::violation:
      return "violation";
    case event_type::note:
      return "note";
  }
  return "unknown";
}

namespace {

// Points `v` at the line of `where`; a default site names no line.
violation at(const site& where, violation v) {
  if (where.line() != 0) {
    v.file = where.file();
    v.line = where.line();
  }
  return v;
}

// A live resource as the tracker keeps it: the scope path is shared with every
// other acquisition under the same scopes, and nothing is formatted until a
// report needs it.
struct live_record {
  resource_id id;
  std::string kind;
  std::string label;
  site where;
  std::shared_ptr<const std::string> scopes;
  std::chrono::nanoseconds acquired_at;
};

// The open scopes, then the acquiring function itself unless it already names
// the innermost scope.
std::string scope_path(const live_record& r) {
  constexpr std::string_view sep = " › ";
  std::string out = r.scopes ? *r.scopes : std::string();
  auto fn = r.where.function();
  auto last_sep = out.rfind(sep);
  std::string_view innermost = last_sep == std::string::npos
                                   ? std::string_view(out)
                                   : std::string_view(out).substr(last_sep + sep.size());
  if (!fn.empty() && innermost != fn) {
    if (!out.empty()) out += " › ";
    out += fn;
  }
  return out;
}

resource_info to_info(const live_record& r) {
  return {r.id, r.kind, r.label, r.where, scope_path(r), r.acquired_at};
}

// `connection #1 "db"`: how every report names a resource.
std::string resource_name(std::string_view kind, resource_id id, std::string_view label) {
  std::string out = fmt::format("{} #{}", kind, id);
  if (!label.empty()) out += fmt::format(" \"{}\"", label);
  return out;
}

std::string describe(const resource_info& r) {
  std::string out = resource_name(r.kind, r.id, r.label);
  out += fmt::format(" acquired at {}", r.site.str());
  if (!r.scope_path.empty()) out += fmt::format(" in {}", r.scope_path);
  return out;
}

}  // namespace

struct tracker::impl {
  options opts;
  mutable std::mutex mutex;
  std::function<std::chrono::nanoseconds()> clock;
  resource_id next_id = 1;
  std::unordered_map<resource_id, live_record> live;
  // Released records are kept only with the timeline, so a double release can
  // name the resource and both releases; without it, memory is bounded by the
  // live set.
  struct released_record {
    site where;
    std::string kind;
    std::string label;
  };
  std::unordered_map<resource_id, released_record> released;
  std::unordered_set<resource_id> baseline;
  std::vector<violation> violations;
  std::uint64_t violation_total = 0;
  std::uint64_t released_total = 0;
  // A deque: appending never moves the events already recorded (a vector's
  // regrowth copied them and paged in fresh memory, 20x the cost of the pair).
  std::deque<event> timeline;

  std::chrono::nanoseconds now() const { return clock ? clock() : std::chrono::nanoseconds{}; }

  void add_event(event_type type, resource_id id, std::string_view kind, std::string_view label,
                 site where, std::string detail) {
    if (!opts.record_timeline) return;
    timeline.push_back(
        {now(), type, id, std::string(kind), std::string(label), where, std::move(detail)});
  }

  void add_violation(violation_kind kind, std::string body, resource_id id, const site& where) {
    add_violation(at(where, {kind, std::move(body), id}));
  }
  // `v.message` is the body: the kind goes in front of it here.
  void add_violation(violation v) {
    ++violation_total;
    v.message = fmt::format("{}: {}", to_string(v.kind), v.message);
    add_event(event_type::violation, v.resource, {}, {}, {}, v.message);
    if (violations.size() < opts.max_violations) violations.push_back(std::move(v));
  }

  // A release or use of a non-live id: was it released already, or never issued?
  void report_dead(resource_id id, const site& where, std::string_view verb) {
    if (id == 0 || id >= next_id) {
      add_violation(
          violation_kind::unknown_release,
          fmt::format("{} of resource #{} at {}, which was never acquired", verb, id, where.str()),
          id, where);
      return;
    }
    auto kind =
        verb == "release" ? violation_kind::double_release : violation_kind::use_after_release;
    std::string name = fmt::format("resource #{}", id);
    std::string earlier;
    if (auto it = released.find(id); it != released.end()) {
      const auto& r = it->second;
      name = resource_name(r.kind, id, r.label);
      earlier = fmt::format(" (released at {})", r.where.str());
    }
    add_violation(kind,
                  fmt::format("{} {} at {} after its release{}", name,
                              verb == "release" ? "released again" : "used", where.str(), earlier),
                  id, where);
  }
};

tracker::tracker() : tracker(options{}) {}
tracker::tracker(options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = opts;
}
tracker::~tracker() = default;

resource_id tracker::acquire(std::string_view kind, std::string_view label,
                             std::source_location loc) {
  // Work on a pool's thread takes the run's turn first (see hold_clock): ids
  // and timestamps then follow the same order in every run of a plan.
  detail::claim_held_run();
  auto scopes = detail::shared_scope_path();
  std::lock_guard lock(impl_->mutex);
  resource_id id = impl_->next_id++;
  impl_->add_event(event_type::acquire, id, kind, label, site{loc}, {});
  impl_->live.emplace(id, live_record{id, std::string(kind), std::string(label), site{loc},
                                      std::move(scopes), impl_->now()});
  return id;
}

void tracker::release(resource_id id, std::source_location loc) {
  detail::claim_held_run();
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->live.find(id);
  if (it == impl_->live.end()) {
    impl_->report_dead(id, site::from(loc), "release");
    return;
  }
  impl_->add_event(event_type::release, id, it->second.kind, it->second.label, site{loc}, {});
  if (impl_->opts.record_timeline)
    impl_->released.emplace(id, impl::released_record{site::from(loc), std::move(it->second.kind),
                                                      std::move(it->second.label)});
  impl_->baseline.erase(id);
  impl_->live.erase(it);
  ++impl_->released_total;
}

void tracker::touch(resource_id id, std::source_location loc) {
  detail::claim_held_run();
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->live.find(id);
  if (it == impl_->live.end()) {
    impl_->report_dead(id, site::from(loc), "use");
    return;
  }
  impl_->add_event(event_type::touch, id, it->second.kind, it->second.label, site{loc}, {});
}

void tracker::report(violation_kind kind, std::string message, resource_id resource,
                     const site& where) {
  detail::claim_held_run();
  std::lock_guard lock(impl_->mutex);
  impl_->add_violation(kind, std::move(message), resource, where);
}

void tracker::report(violation_kind kind, std::string message, std::string file,
                     std::uint32_t line) {
  file = folded_file(file);
  detail::claim_held_run();
  std::lock_guard lock(impl_->mutex);
  impl_->add_violation({kind, std::move(message), 0, std::move(file), line});
}

void tracker::record(event_type type, std::string detail) {
  detail::claim_held_run();
  std::lock_guard lock(impl_->mutex);
  impl_->add_event(type, 0, {}, {}, {}, std::move(detail));
}

void tracker::set_baseline() {
  std::lock_guard lock(impl_->mutex);
  for (const auto& [id, info] : impl_->live) impl_->baseline.insert(id);
}

void tracker::set_clock(std::function<std::chrono::nanoseconds()> now) {
  std::lock_guard lock(impl_->mutex);
  impl_->clock = std::move(now);
}

std::vector<violation> tracker::violations() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->violations;
}

std::vector<violation> tracker::check() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<violation> out = impl_->violations;
  std::vector<const live_record*> leaked;
  for (const auto& [id, r] : impl_->live)
    if (!impl_->baseline.contains(id)) leaked.push_back(&r);
  // Acquisition order, so reports are stable whatever the hash map does.
  std::sort(leaked.begin(), leaked.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const auto* r : leaked)
    out.push_back(
        at(r->where, {violation_kind::leak,
                      fmt::format("leak: {}, never released", describe(to_info(*r))), r->id}));
  return out;
}

bool tracker::balanced() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->violation_total == 0 && impl_->live.size() == impl_->baseline.size();
}

std::vector<resource_info> tracker::live_resources() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<resource_info> out;
  for (const auto& [id, r] : impl_->live) out.push_back(to_info(r));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

std::size_t tracker::live_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->live.size();
}
std::uint64_t tracker::acquired_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->next_id - 1;
}
std::uint64_t tracker::released_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->released_total;
}
std::uint64_t tracker::violation_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->violation_total;
}
std::vector<event> tracker::timeline() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->timeline.begin(), impl_->timeline.end()};
}

namespace {
thread_local tracker* current = nullptr;
}

tracker* current_tracker() noexcept {
  if (current == nullptr) detail::claim_held_run();
  return current;
}

current_tracker_scope::current_tracker_scope(tracker& t) noexcept : previous_(current) {
  current = &t;
}
current_tracker_scope::~current_tracker_scope() {
  current = previous_;
}

}  // namespace faultscope
