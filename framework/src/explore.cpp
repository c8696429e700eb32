#include "faultscope/explore.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "faultscope/detail/failure_groups.hpp"
#include "faultscope/detail/format.hpp"
#include "faultscope/detail/watchdog.hpp"
#include "faultscope/registry.hpp"

namespace faultscope {

std::string_view to_string(expected_outcome o) noexcept {
  switch (o) {
    case expected_outcome::any:
      return "any";
    case expected_outcome::propagates:
      return "propagates";
    case expected_outcome::absorbed:
      return "absorbed";
    case expected_outcome::retried:
      return "retried";
  }
  return "?";
}

std::string replay_token(std::string_view scenario, const fault_plan& plan) {
  return fmt::format("{}@{}", scenario, plan.to_string());
}

std::pair<std::string, fault_plan> parse_replay_token(std::string_view token) {
  auto at = token.find('@');
  if (at == std::string_view::npos)
    throw plan_error(1, "a replay token is SCENARIO@PLAN, as printed on failure (no '@' found)");
  if (at == 0) throw plan_error(1, "the replay token names no scenario before '@'");
  try {
    return {std::string(token.substr(0, at)), fault_plan::parse(token.substr(at + 1))};
  } catch (const plan_error& e) {
    // Columns count from the start of the whole token, which is what the user typed.
    std::string msg = e.what();
    auto colon = msg.find(": ");
    throw plan_error(e.column() + at + 1, colon == std::string::npos ? msg : msg.substr(colon + 2));
  }
}

// Did the run end the way the scenario declared for the first fault that fired?
void apply_outcome_rules(run_result& r, const std::vector<outcome_rule>& expect) {
  if (expect.empty()) return;
  auto fired =
      std::find_if(r.trace.begin(), r.trace.end(), [](auto& h) { return !h.fired.empty(); });
  if (fired == r.trace.end()) return;
  const std::string& f = fired->fired;
  // A cancellation or a delay is not a fault an outcome rule speaks of. The
  // trace spells the fault as the plan does, so the plan's grammar reads it.
  const fault_kind kind = fault::parse(f).kind;
  if (kind == fault_kind::cancel || kind == fault_kind::delay) return;
  auto rule = std::find_if(expect.begin(), expect.end(),
                           [&](auto& e) { return glob_match(e.pattern, fired->point); });
  if (rule == expect.end() || rule->outcome == expected_outcome::any) return;
  std::string where = fmt::format("{}#{}={}", fired->point, fired->hit, f);
  bool ok = r.end == run_end::ok;
  if (r.end == run_end::hung) return;  // already a violation of its own
  switch (rule->outcome) {
    case expected_outcome::propagates:
      if (ok)
        r.violations.push_back(
            {violation_kind::outcome,
             fmt::format("outcome: the fault {} was swallowed: the run ended ok, but faults at "
                         "'{}' must propagate",
                         where, rule->pattern)});
      break;
    case expected_outcome::absorbed:
    case expected_outcome::retried:
      if (!ok) {
        r.violations.push_back(
            {violation_kind::outcome,
             fmt::format("outcome: the fault {} propagated ({}: {}), but faults at '{}' must be {}",
                         where, to_string(r.end), r.error_message, rule->pattern,
                         to_string(rule->outcome))});
      } else if (rule->outcome == expected_outcome::retried) {
        bool again = std::any_of(std::next(fired), r.trace.end(),
                                 [&](auto& h) { return h.point == fired->point; });
        if (!again)
          r.violations.push_back(
              {violation_kind::outcome,
               fmt::format("outcome: the fault {} was not retried: '{}' was never passed again",
                           where, fired->point)});
      }
      break;
    case expected_outcome::any:
      break;
  }
}

namespace {

// A run retraces the run its plan was derived from until the plan's first new
// fault fires; only something besides the plan can make it leave that path.
std::optional<violation> left_path(const run_result& r, const fault_plan& plan,
                                   const std::vector<point_hit>& parent) {
  auto planned = [&](const point_hit& h) {
    return std::any_of(plan.rules.begin(), plan.rules.end(),
                       [&](const fault_rule& rule) { return rule.matches(h.point, h.hit); });
  };
  auto fires = std::find_if(parent.begin(), parent.end(),
                            [&](const point_hit& h) { return h.fired.empty() && planned(h); });
  if (fires == parent.end()) return std::nullopt;
  const auto k = static_cast<std::size_t>(fires - parent.begin());
  std::size_t i = 0;
  while (i <= k && i < r.trace.size() && r.trace[i].point == parent[i].point &&
         r.trace[i].hit == parent[i].hit)
    ++i;
  if (i > k) return std::nullopt;

  std::string under;  // the parent's own faults, as the plan spells them
  for (const auto& rule : plan.rules)
    if (std::any_of(parent.begin(), parent.end(), [&](const point_hit& h) {
          return !h.fired.empty() && rule.matches(h.point, h.hit);
        }))
      under += (under.empty() ? "" : ";") + rule.to_string();
  std::string from = under.empty() ? "the clean run" : "the run under " + under;
  auto hit = [](const point_hit& h) {
    return fmt::format("{}#{}", h.point, h.hit);
  };
  std::string fault = i == k ? std::string("where the plan's fault was to fire")
                             : "before the plan's fault at " + hit(*fires) + " fired";
  std::string what =
      i < r.trace.size()
          ? fmt::format("fault point {} of this run was {}, of {} it extends {}, {}", i + 1,
                        hit(r.trace[i]), from, hit(parent[i]), fault)
          : fmt::format("this run ended after {} fault points; {} it extends went on to {}, {}", i,
                        from, hit(parent[i]), fault);
  return violation{violation_kind::nondeterministic,
                   fmt::format("nondeterministic: {}; something besides the plan (a thread, the "
                               "wall clock, a random number, state an earlier run left) steers "
                               "the scenario, so this schedule tested another path and its "
                               "replay may differ",
                               what)};
}

run_result checked_schedule(const scenario_fn& scenario, const fault_plan& plan,
                            const explore_options& options,
                            const std::vector<point_hit>* derived_from) {
  // Running it again would block this process too: it is reported as it was.
  if (const std::string* line = detail::blocked_before(plan)) return detail::blocked_run(*line);
  run_options o = options.run;
  o.plan = plan;
  run_result r = run(scenario, o);
  apply_outcome_rules(r, options.expect);
  if (derived_from)
    if (auto v = left_path(r, plan, *derived_from)) r.violations.push_back(std::move(*v));
  std::erase_if(r.violations, [&](const violation& v) {
    return std::find(options.accept.begin(), options.accept.end(), v.kind) != options.accept.end();
  });
  // Every schedule is measured against the run without faults: if that one
  // already fails, an exploration would pass over a scenario that never works.
  if (plan.rules.empty() && r.end != run_end::ok && r.end != run_end::hung)
    r.violations.push_back(
        {violation_kind::outcome,
         fmt::format("outcome: the run without faults ended {} ({}); a scenario must succeed "
                     "when nothing is injected",
                     to_string(r.end), r.error_message)});
  return r;
}

}  // namespace

run_result run_schedule(const scenario_fn& scenario, const fault_plan& plan,
                        const explore_options& options) {
  return checked_schedule(scenario, plan, options, nullptr);
}

run_result run_schedule(const scenario_fn& scenario, const fault_plan& plan,
                        const explore_options& options,
                        const std::vector<point_hit>& derived_from) {
  return checked_schedule(scenario, plan, options, &derived_from);
}

namespace {

// A run's failure, as shrink compares it. Leaving the path of a run it was
// derived from is left out: the plans shrink tries are derived from nothing.
std::set<violation_kind> signature(const run_result& r) {
  std::set<violation_kind> out;
  for (auto& v : r.violations)
    if (v.kind != violation_kind::nondeterministic) out.insert(v.kind);
  return out;
}

// Counts finished schedules for explore_options::progress.
struct progress_counter {
  explicit progress_counter(const explore_options& o) : opts(o) {}
  const explore_options& opts;
  std::size_t known = 0;
  std::size_t done = 0;
  std::mutex mutex;
  // Set, under the mutex, by the call that threw: another thread that finishes
  // a schedule while the thrower is still on its way out (or preempted) must
  // neither call the callback again nor start another schedule.
  std::atomic<bool> failed{false};
  void tick() {
    if (!opts.progress) return;
    std::lock_guard lock(mutex);
    if (failed) return;
    try {
      opts.progress(++done, known);
    } catch (...) {
      failed = true;
      throw;
    }
  }
};

// Runs `plans[i]` for every i in `indices`, over `jobs` threads; results land at
// their index, so the order never depends on the number of threads.
std::vector<std::optional<run_result>> run_all(const scenario_fn& fn,
                                               const std::vector<fault_plan>& plans,
                                               const std::vector<const run_result*>& parents,
                                               const std::vector<std::size_t>& indices,
                                               const explore_options& opts,
                                               progress_counter& progress) {
  std::vector<std::optional<run_result>> out(plans.size());
  std::atomic<std::size_t> next{0};
  {
    std::lock_guard lock(progress.mutex);
    progress.known += indices.size();
  }
  // The first exception (a progress callback's, an allocation's) stops every
  // thread and reaches explore's caller once they are joined.
  std::exception_ptr failed;
  std::mutex failed_mutex;
  const std::string_view label = detail::current_run_label();
  auto worker = [&] {
    detail::run_label_scope named(label);
    try {
      for (;;) {
        std::size_t k = next.fetch_add(1);
        if (k >= indices.size() || progress.failed) return;
        std::size_t i = indices[k];
        out[i] = run_schedule(fn, plans[i], opts, parents[i]->trace);
        progress.tick();
      }
    } catch (...) {
      next.store(indices.size());
      std::lock_guard lock(failed_mutex);
      if (!failed) failed = std::current_exception();
    }
  };
  // Another thread's run would open and close descriptors under this one's check.
  unsigned jobs =
      opts.run.check_fds
          ? 1u
          : std::max(1u, std::min<unsigned>(opts.jobs, static_cast<unsigned>(indices.size())));
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < jobs; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failed) std::rethrow_exception(failed);
  return out;
}

}  // namespace

void check_options(std::string_view name, const explore_options& o) {
  auto bad = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("explore '{}': {}", name, why));
  };
  if (o.depth != 1 && o.depth != 2) bad(fmt::format("depth must be 1 or 2, got {}", o.depth));
  if (o.kinds.empty()) bad("no fault kinds to inject");
  if (o.shard_count == 0) bad("shard_count must be at least 1");
  if (o.shard_index >= o.shard_count)
    bad(fmt::format("shard_index {} is not below shard_count {}", o.shard_index, o.shard_count));
}

bool skipped(const explore_options& o, std::string_view point) {
  auto matches = [&](const std::string& p) {
    return glob_match(p, point);
  };
  if (!o.only.empty() && std::none_of(o.only.begin(), o.only.end(), matches)) return true;
  if (!o.focus.empty() && std::none_of(o.focus.begin(), o.focus.end(), matches)) return true;
  return std::any_of(o.skip.begin(), o.skip.end(), matches) ||
         std::any_of(o.focus_skip.begin(), o.focus_skip.end(), matches);
}

std::optional<violation> explored_nothing(const run_result& clean, const explore_options& options) {
  const auto& accept = options.accept;
  if (clean.end != run_end::ok ||
      std::find(accept.begin(), accept.end(), violation_kind::nothing_explored) != accept.end())
    return std::nullopt;
  explore_options own = options;
  own.focus.clear();
  own.focus_skip.clear();
  std::vector<std::string_view> names;  // in the order first reached
  for (const auto& h : clean.trace) {
    if (!skipped(own, h.point)) return std::nullopt;
    if (h.hit == 1) names.push_back(h.point);
  }
  if (names.empty())
    return violation{violation_kind::nothing_explored,
                     "nothing explored: the run without faults passed no fault point, so no "
                     "schedule injects a fault; put fault points where the code can fail "
                     "(co_await faultscope::fault_point(\"db.query\")), or run it over the "
                     "fakes or the SQLite adapter"};
  std::string filters;
  if (!own.only.empty()) filters = fmt::format("only '{}'", fmt::join(own.only, ","));
  if (!own.skip.empty())
    filters += fmt::format("{}skip '{}'", filters.empty() ? "" : " and ", fmt::join(own.skip, ","));
  return violation{
      violation_kind::nothing_explored,
      fmt::format("nothing explored: the scenario's {} exclude{} every fault point its run "
                  "without faults passed ({}), so no schedule injects a fault",
                  filters, own.only.empty() != own.skip.empty() ? "s" : "",
                  detail::name_list(names))};
}

std::vector<fault_plan> single_fault_plans(const run_result& clean,
                                           const explore_options& options) {
  std::vector<fault_plan> plans;
  for (const auto& h : clean.trace)
    if (!skipped(options, h.point))
      for (const auto& k : options.kinds) {
        plans.push_back(fault_plan::single(h.point, h.hit, k));
        if (options.persistent) plans.back().rules.back().last = 0;
      }
  return plans;
}

namespace {

// Seeded random plans over the clean trace: 1 to 3 faults each, at distinct hits.
std::vector<fault_plan> swarm_plans(std::vector<point_hit> trace, const explore_options& o) {
  std::erase_if(trace, [&](const point_hit& h) { return skipped(o, h.point); });
  std::vector<fault_plan> plans;
  if (trace.empty() || o.kinds.empty()) return plans;
  for (std::size_t i = 0; i < o.swarm; ++i) {
    std::uint64_t state = detail::mix64(o.seed ^ detail::mix64(i + 1));
    auto next = [&] {
      return state = detail::mix64(state);
    };
    std::size_t faults = 1 + next() % 3;
    std::set<std::size_t> at;
    while (at.size() < std::min(faults, trace.size())) at.insert(next() % trace.size());
    fault_plan p;
    for (std::size_t pos : at)
      p.rules.push_back(
          {trace[pos].point, trace[pos].hit, trace[pos].hit, o.kinds[next() % o.kinds.size()]});
    plans.push_back(std::move(p));
  }
  return plans;
}

}  // namespace

std::vector<fault_plan> first_level_plans(const run_result& clean, const explore_options& options) {
  return options.swarm > 0 ? swarm_plans(clean.trace, options) : single_fault_plans(clean, options);
}

std::vector<fault_plan> second_fault_plans(const fault_plan& first, const run_result& first_run,
                                           const explore_options& options) {
  std::vector<fault_plan> plans;
  const auto& trace = first_run.trace;
  auto fired = std::find_if(trace.begin(), trace.end(), [](auto& h) { return !h.fired.empty(); });
  if (fired == trace.end()) return plans;
  for (auto e = std::next(fired); e != trace.end(); ++e) {
    if (skipped(options, e->point)) continue;
    for (const auto& k : options.kinds) {
      fault_plan p = first;
      p.rules.push_back({e->point, e->hit, e->hit, k});
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

std::string replay_report(std::string_view scenario, const fault_plan& plan, const run_result& r) {
  std::string out =
      fmt::format("{} under {}: {} after {:.6f}s virtual{}\n", scenario, plan.to_string(),
                  to_string(r.end), std::chrono::duration<double>(r.virtual_elapsed).count(),
                  r.error_message.empty() ? "" : " (" + r.error_message + ")");
  out += "timeline:\n";
  for (const auto& e : r.timeline)
    out += fmt::format("  {:>12.6f}s  {:<9} {}\n", std::chrono::duration<double>(e.at).count(),
                       to_string(e.type),
                       e.resource ? fmt::format("{} #{} {} {}", e.kind, e.resource, e.label,
                                                e.where.loc.line() ? e.where.str() : "")
                                  : e.detail);
  out += r.violations.empty() ? "violations: none\n" : "violations:\n";
  for (const auto& v : r.violations) out += fmt::format("  {}\n", v.message);
  // A rule that fired nowhere (a typo, a token from an older build, a path
  // that changed) replayed nothing; say so rather than only "none".
  for (std::size_t i = 0; i < plan.rules.size(); ++i) {
    const auto& rule = plan.rules[i];
    if (std::any_of(r.trace.begin(), r.trace.end(), [&](auto& h) { return h.rule == i + 1; }))
      continue;
    auto passes =
        static_cast<std::size_t>(std::count_if(r.trace.begin(), r.trace.end(), [&](auto& h) {
          return glob_match(rule.pattern, h.point);
        }));
    std::string seen;
    if (passes == 0) {
      std::set<std::string> names;
      for (const auto& h : r.trace) names.insert(h.point);
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      seen = fmt::format("no point matching '{}' ({})", rule.pattern,
                         names.empty() ? "nor any other" : "it passed " + list);
    } else {
      seen = fmt::format("{}'{}' {} time{}",
                         rule.pattern.find('*') == std::string::npos ? "" : "points matching ",
                         rule.pattern, passes, passes == 1 ? "" : "s");
    }
    out += fmt::format("note: {} never fired: the run passed {}\n", rule.to_string(), seen);
  }
  return out;
}

namespace {

// The run without faults, as explore() measures it: a replay of it must fail
// as the exploration did, including when it explored nothing.
run_result clean_schedule(const scenario_fn& scenario, const explore_options& options) {
  run_result r = run_schedule(scenario, {}, options);
  if (auto v = explored_nothing(r, options)) r.violations.push_back(std::move(*v));
  return r;
}

}  // namespace

run_result replay_schedule(const scenario_fn& scenario, const fault_plan& plan,
                           const explore_options& options) {
  if (plan.rules.empty()) return clean_schedule(scenario, options);
  run_options before = options.run;
  before.plan = plan;
  before.plan.rules.pop_back();
  before.record_timeline = false;
  return run_schedule(scenario, plan, options, run(scenario, before).trace);
}

run_result replay(const scenario_fn& scenario, const fault_plan& plan, const run_options& options) {
  return replay_schedule(scenario, plan, {.run = options});
}

fault_plan shrink(const scenario_fn& scenario, const fault_plan& failing,
                  const explore_options& options) {
  return shrink(scenario, failing, options, run_schedule(scenario, failing, options));
}

fault_plan shrink(const scenario_fn& scenario, const fault_plan& failing,
                  const explore_options& options, const run_result& failed) {
  auto want = signature(failed);
  fault_plan best = failing;
  if (want.empty()) return best;
  bool progress = true;
  while (progress && best.rules.size() > 1) {
    progress = false;
    for (std::size_t i = 0; i < best.rules.size(); ++i) {
      fault_plan candidate = best;
      candidate.rules.erase(candidate.rules.begin() + static_cast<std::ptrdiff_t>(i));
      if (signature(run_schedule(scenario, candidate, options)) == want) {
        best = std::move(candidate);
        progress = true;
        break;
      }
    }
  }
  bool random = std::any_of(best.rules.begin(), best.rules.end(),
                            [](auto& r) { return r.probability < 1.0; });
  if (!random) best.seed = 0;
  return best;
}

exploration explore(std::string_view name, const scenario_fn& scenario,
                    const explore_options& opts) {
  check_options(name, opts);
  detail::run_label_scope named(name);
  auto wall_start = std::chrono::steady_clock::now();
  exploration ex;
  ex.scenario = std::string(name);
  ex.clean = clean_schedule(scenario, opts);
  ex.hits = ex.clean.trace.size();
  {
    std::set<std::string> names;
    for (auto& h : ex.clean.trace) names.insert(h.point);
    ex.points = names.size();
  }

  auto owned = [&](std::size_t i) {
    return i % opts.shard_count == opts.shard_index;
  };

  // Level 1: one fault per run (or the swarm's random plans).
  std::vector<fault_plan> plans = first_level_plans(ex.clean, opts);
  if (plans.size() > opts.max_schedules) {
    plans.resize(opts.max_schedules);
    ex.truncated = true;
  }
  // Depth 2 needs every level-1 trace to know its schedules; otherwise a shard
  // runs only its own.
  bool deeper = opts.depth >= 2 && opts.swarm == 0;
  std::vector<std::size_t> first_level;
  for (std::size_t i = 0; i < plans.size(); ++i)
    if (deeper || owned(i)) first_level.push_back(i);
  // Each plan with the run it was derived from, whose path it must retrace.
  std::vector<const run_result*> parents(plans.size(), &ex.clean);
  progress_counter progress(opts);
  auto results = run_all(scenario, plans, parents, first_level, opts, progress);

  // Level 2: a second fault at each point reached after the first fired.
  std::size_t level_one = plans.size();
  if (deeper) {
    for (std::size_t j = 0; j < level_one && !ex.truncated; ++j)
      for (auto& p : second_fault_plans(plans[j], *results[j], opts)) {
        if (plans.size() >= opts.max_schedules) {
          ex.truncated = true;
          break;
        }
        plans.push_back(std::move(p));
        parents.push_back(&*results[j]);
      }
    std::vector<std::size_t> second_level;
    for (std::size_t i = level_one; i < plans.size(); ++i)
      if (owned(i)) second_level.push_back(i);
    auto more = run_all(scenario, plans, parents, second_level, opts, progress);
    results.resize(plans.size());
    for (std::size_t i : second_level) results[i] = std::move(more[i]);
  }

  ex.total_schedules = plans.size();
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (!owned(i)) continue;
    ++ex.schedules_run;
    ex.ran.push_back(plans[i].to_string());
    if (results[i]->passed()) continue;
    schedule_result s{i, plans[i], plans[i], std::move(*results[i])};
    if (opts.shrink && s.plan.rules.size() > 1) s.minimal = shrink(scenario, s.plan, opts, s.run);
    ex.failures.push_back(std::move(s));
  }
  ex.wall = std::chrono::steady_clock::now() - wall_start;
  return ex;
}

namespace detail {

std::vector<failure_group> group_failures(const exploration& e) {
  static const fault_plan none{};
  std::vector<failure_group> groups;
  std::map<std::vector<std::string>, std::size_t> by_violations;
  auto add = [&](const fault_plan& plan, const fault_plan& minimal, const run_result& run) {
    std::vector<std::string> key;
    for (const auto& v : run.violations) key.push_back(v.message);
    auto [at, first] = by_violations.try_emplace(std::move(key), groups.size());
    if (first)
      groups.push_back({{&plan, &minimal, &run}});
    else
      groups[at->second].same.push_back({&plan, &minimal, &run});
  };
  if (!e.clean.passed()) add(none, none, e.clean);
  for (const auto& f : e.failures) add(f.plan, f.minimal, f.run);
  return groups;
}

std::string plan_list(const std::vector<failure_ref>& same, std::size_t shown) {
  std::string out;
  for (std::size_t i = 0; i < same.size() && i < shown; ++i)
    out += (i ? ", " : "") + same[i].plan->to_string();
  if (same.size() > shown) out += fmt::format(" and {} more", same.size() - shown);
  return out;
}

}  // namespace detail

std::string exploration::summary() const {
  std::string out =
      fmt::format("{}: 1 clean run + {} schedules over {} fault points ({} hits): ", scenario,
                  schedules_run, points, hits);
  std::size_t failed = failures.size() + (clean.passed() ? 0 : 1);
  out += failed == 0 ? "no violation\n" : fmt::format("{} failed\n", failed);
  if (truncated) out += "  (the schedule space was cut at max_schedules)\n";
  auto show = [&](const fault_plan& plan, const fault_plan& minimal, const run_result& r) {
    out += fmt::format("  FAIL {}\n", plan.to_string());
    for (auto& v : r.violations) out += fmt::format("    {}\n", v.message);
    if (!(minimal == plan)) out += fmt::format("    shrunk to: {}\n", minimal.to_string());
    // A runner replays only the scenarios it knows; any other is replayed in code.
    const auto& reg = registry::instance();
    if (!reg.runner().empty() && reg.find(scenario))
      out += fmt::format("    replay: {}\n", reg.replay_command(scenario, minimal));
    else
      out += fmt::format(
          "    replay: faultscope::replay(scenario, faultscope::fault_plan::parse(\"{}\"))\n",
          minimal.to_string());
  };
  for (const auto& g : detail::group_failures(*this)) {
    show(*g.plan, *g.minimal, *g.run);
    if (!g.same.empty())
      out += fmt::format("  FAIL {}: the same violations\n", detail::plan_list(g.same));
  }
  return out;
}

}  // namespace faultscope
