#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faultscope/detail/failure_groups.hpp"
#include "faultscope/detail/format.hpp"

namespace faultscope::cli {
namespace {

// As invoked: a user's runner (faultscope::main) is not called faultscope.
std::string replay_command(const result& r, const fault_plan& plan) {
  return registry::instance().replay_command(r.scenario->name, plan) + r.replay_flags;
}

// The clean run and every failing schedule, as (plan, minimal, run) triples.
template <typename F>
void each_failure(const exploration& e, F f) {
  if (!e.clean.passed()) f(fault_plan{}, fault_plan{}, e.clean);
  for (const auto& s : e.failures) f(s.plan, s.minimal, s.run);
}

// One failing run as an SVG: a bar per resource from acquire to release on the
// virtual clock (red and marked when it never ended), faults as dashed lines.
std::string lifetime_svg(const run_result& run) {
  struct life {
    std::uint64_t id;
    std::string name;
    double from;
    double to = -1;
  };
  std::vector<life> lives;
  std::vector<std::pair<double, std::string>> faults;
  double end = std::chrono::duration<double, std::milli>(run.virtual_elapsed).count();
  for (const auto& e : run.timeline) {
    double at = std::chrono::duration<double, std::milli>(e.at).count();
    end = std::max(end, at);
    if (e.type == event_type::acquire) {
      lives.push_back({e.resource, fmt::format("{} #{} {}", e.kind, e.resource, e.label), at});
    } else if (e.type == event_type::release) {
      for (auto& l : lives)
        if (l.id == e.resource && l.to < 0) l.to = at;
    } else if (e.type == event_type::fault) {
      faults.emplace_back(at, e.detail);
    }
  }
  if (end <= 0) end = 1;
  // The axis runs a little past the end of the run, so that a resource still
  // held at the end shows as a bar running off it, even one acquired last.
  const double left = 230, width = 560, right = 190, row = 22, top = 24;
  const double span = end * 1.12;
  double height = top + row * static_cast<double>(lives.size()) + 30;
  auto x = [&](double ms) {
    return left + width * ms / span;
  };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "role=\"img\"><title>resource lifetimes</title>\n",
      left + width + right, height);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"14\" class=\"axis\">0 ms</text><text x=\"{:.1f}\" y=\"14\" "
      "class=\"axis\" text-anchor=\"end\">{:.3f} ms (virtual): run ended</text>\n"
      "<line class=\"end\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"18\" y2=\"{}\"/>\n",
      left, x(end), end, x(end), x(end), height - 18);
  for (std::size_t i = 0; i < lives.size(); ++i) {
    const auto& l = lives[i];
    double y = top + row * static_cast<double>(i);
    bool leaked = l.to < 0;
    double to_x = leaked ? left + width : x(l.to);
    svg += fmt::format("<text x=\"4\" y=\"{}\" class=\"name\">{}</text>\n", y + 14,
                       detail::xml_text(l.name));
    svg += fmt::format(
        "<rect class=\"life{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"14\">"
        "<title>{}: acquired at {:.3f} ms, {}</title></rect>\n",
        leaked ? " leaked" : "", x(l.from), y + 3, std::max(2.0, to_x - x(l.from)),
        detail::xml_text(l.name), l.from,
        leaked ? std::string("never released") : fmt::format("released at {:.3f} ms", l.to));
    if (leaked)
      svg +=
          fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"leak\">leaked: never released</text>\n",
                      left + width + 6, y + 14);
  }
  for (const auto& [at, what] : faults)
    svg += fmt::format(
        "<line class=\"fault\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"18\" y2=\"{1}\">"
        "<title>{2}</title></line><text x=\"{0:.1f}\" y=\"{3}\" class=\"fault\" "
        "text-anchor=\"middle\">{2}</text>\n",
        x(at), height - 18, detail::xml_text(what), height - 6);
  svg += "</svg>\n";
  return svg;
}

constexpr std::string_view not_run_why = "the runner ended at a schedule that blocked its thread";

std::string names_of(const not_run_list& not_run) {
  std::string names;
  for (const auto* s : not_run) names += (names.empty() ? "" : ", ") + s->name;
  return names;
}

// The text report's lines, which the GitHub annotations repeat.
std::string not_run_text(const not_run_list& not_run) {
  return fmt::format("{} scenario{}, as {}: {}", not_run.size(), not_run.size() == 1 ? "" : "s",
                     not_run_why, names_of(not_run));
}

std::string missed_text(const scenario_info& s) {
  return fmt::format("a canary plants a violation on purpose ({}): no schedule reported one",
                     planted_text(s));
}

}  // namespace

std::string planted_text(const scenario_info& s) {
  std::string text;
  for (auto kind : s.planted())
    text += fmt::format("{}{}", text.empty() ? "" : " or ", to_string(kind));
  return text;
}

bool result::caught() const {
  const auto planted = scenario->planted();
  auto reports = [&](const run_result& run) {
    return std::any_of(run.violations.begin(), run.violations.end(), [&](const violation& v) {
      return std::find(planted.begin(), planted.end(), v.kind) != planted.end();
    });
  };
  return reports(report.clean) || std::any_of(report.failures.begin(), report.failures.end(),
                                              [&](const auto& f) { return reports(f.run); });
}

std::string paint(std::string_view text, std::string_view code, bool colour) {
  return colour ? fmt::format("\x1b[{}m{}\x1b[0m", code, text) : std::string(text);
}

std::string text_report(const std::vector<result>& results, bool colour,
                        const not_run_list& not_run) {
  std::string out;
  std::size_t schedules = 0, failed = 0;
  for (const auto& r : results) {
    schedules += r.report.schedules_run + 1;
    std::string status =
        r.canary() ? (r.ok() ? paint("CAUGHT", "32", colour) : paint("MISSED", "31;1", colour))
                   : (r.ok() ? paint("PASS", "32", colour) : paint("FAIL", "31;1", colour));
    std::size_t n = r.report.failures.size() + (r.report.clean.passed() ? 0 : 1);
    out += fmt::format("  {:<6} {:<28} {:>5} schedules  {:>3} failing  {:>8.1f} ms\n", status,
                       r.scenario->name, r.report.schedules_run + 1, n,
                       std::chrono::duration<double, std::milli>(r.report.wall).count());
    if (!r.ok()) ++failed;
    if (r.canary() && !r.ok()) out += fmt::format("         {}\n", missed_text(*r.scenario));
    // One bug many faults reach is shown once; --format json lists each run.
    for (const auto& g : detail::group_failures(r.report)) {
      out += fmt::format("         {} {}\n", paint("under", "2", colour), g.plan->to_string());
      for (const auto& v : g.run->violations)
        out += fmt::format("           {}\n", paint(v.message, r.canary() ? "33" : "31", colour));
      out += fmt::format("           replay: {}\n", replay_command(r, *g.minimal));
      if (!g.same.empty())
        out += fmt::format("         {} {}: the same violations\n", paint("under", "2", colour),
                           detail::plan_list(g.same));
    }
  }
  if (!not_run.empty())
    out += fmt::format("  {} {}\n", paint("NOT RUN", "31;1", colour), not_run_text(not_run));
  std::size_t canaries = 0, caught = 0;
  for (const auto& r : results)
    if (r.canary()) {
      ++canaries;
      caught += r.ok() ? 1 : 0;
    }
  std::size_t regular_failed = failed - (canaries - caught);
  const std::size_t chosen = results.size() + not_run.size();
  out += fmt::format("\nsummary: {} scenario{}, {} schedules explored", chosen,
                     chosen == 1 ? "" : "s", schedules);
  if (canaries < results.size())
    out +=
        fmt::format(", violations: {}",
                    regular_failed == 0 ? paint("none", "32", colour)
                                        : paint(fmt::format("{} scenario{} failed", regular_failed,
                                                            regular_failed == 1 ? "" : "s"),
                                                "31;1", colour));
  if (canaries)
    out += fmt::format(", canaries caught: {}", paint(fmt::format("{}/{}", caught, canaries),
                                                      caught == canaries ? "32" : "31;1", colour));
  if (!not_run.empty())
    out += fmt::format(", {}", paint(fmt::format("not run: {}", not_run.size()), "31;1", colour));
  out += "\n";
  return out;
}

std::string json_report(const std::vector<result>& results, const not_run_list& not_run) {
  std::string out = fmt::format("{{\"faultscope\":\"{}\",\"scenarios\":[", version);
  std::size_t schedules = 0, failed = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    schedules += r.report.schedules_run + 1;
    failed += r.ok() ? 0 : 1;
    out += fmt::format(
        "{}{{\"name\":\"{}\",\"canary\":{},\"ok\":{},\"schedules\":{},\"points\":{},\"hits\":{},"
        "\"wall_ms\":{:.3f},\"failures\":[",
        i ? "," : "", detail::json_text(r.scenario->name), r.canary(), r.ok(),
        r.report.schedules_run + 1, r.report.points, r.report.hits,
        std::chrono::duration<double, std::milli>(r.report.wall).count());
    bool first = true;
    each_failure(r.report, [&](const fault_plan& plan, const fault_plan& minimal,
                               const run_result& run) {
      out += fmt::format(
          "{}{{\"plan\":\"{}\",\"minimal\":\"{}\",\"end\":\"{}\",\"replay\":\"{}\","
          "\"acquired\":{},\"violations\":[",
          first ? "" : ",", detail::json_text(plan.to_string()),
          detail::json_text(minimal.to_string()), to_string(run.end),
          detail::json_text(replay_command(r, minimal)), run.acquired);
      first = false;
      for (std::size_t k = 0; k < run.violations.size(); ++k)
        out += fmt::format("{}{{\"kind\":\"{}\",\"message\":\"{}\",\"file\":\"{}\",\"line\":{}}}",
                           k ? "," : "", identifier(run.violations[k].kind),
                           detail::json_text(run.violations[k].message),
                           detail::json_text(run.violations[k].file), run.violations[k].line);
      out += "]}";
    });
    out += "]}";
  }
  std::string names;
  for (const auto* s : not_run)
    names += fmt::format("{}\"{}\"", names.empty() ? "" : ",", detail::json_text(s->name));
  out += fmt::format(
      "],\"summary\":{{\"scenarios\":{},\"schedules\":{},\"failed\":{},\"not_run\":[{}]}}}}\n",
      results.size(), schedules, failed, names);
  return out;
}

std::string junit_report(const std::vector<result>& results, const not_run_list& not_run) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultscope\">\n";
  for (const auto& r : results) {
    std::map<std::string, std::string> failure_text;
    each_failure(r.report,
                 [&](const fault_plan& plan, const fault_plan& minimal, const run_result& run) {
                   std::string text;
                   for (const auto& v : run.violations) text += v.message + "\n";
                   text += "replay: " + replay_command(r, minimal) + "\n";
                   failure_text[plan.to_string()] = text;
                 });
    std::vector<std::string> names{"none"};
    names.insert(names.end(), r.report.ran.begin(), r.report.ran.end());
    std::size_t failures = 0;
    for (auto& n : names)
      if (failure_text.count(n) && !r.canary()) ++failures;
    // A missed canary fails one testcase more, its own: "canary caught".
    const bool missed = r.canary() && !r.ok();
    if (missed) failures = 1;
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.6f}\">\n",
                       detail::xml_text(r.scenario->name), names.size() + (missed ? 1 : 0),
                       failures, std::chrono::duration<double>(r.report.wall).count());
    for (auto& n : names) {
      out += fmt::format("    <testcase classname=\"{}\" name=\"{}\"",
                         detail::xml_text(r.scenario->name), detail::xml_text(n));
      auto it = failure_text.find(n);
      if (it != failure_text.end() && !r.canary()) {
        auto first_line = it->second.substr(0, it->second.find('\n'));
        out += fmt::format(">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                           detail::xml_text(first_line), detail::xml_text(it->second));
      } else {
        out += "/>\n";
      }
    }
    if (missed)
      out += fmt::format(
          "    <testcase classname=\"{}\" name=\"canary caught\">\n      <failure "
          "message=\"a canary's planted violation ({}) went unreported\"/>\n    </testcase>\n",
          detail::xml_text(r.scenario->name), detail::xml_text(planted_text(*r.scenario)));
    out += "  </testsuite>\n";
  }
  for (const auto* s : not_run)
    out += fmt::format(
        "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" skipped=\"1\" time=\"0\">\n"
        "    <testcase classname=\"{0}\" name=\"not run\">\n      <skipped message=\"{1}\"/>\n"
        "    </testcase>\n  </testsuite>\n",
        detail::xml_text(s->name), not_run_why);
  out += "</testsuites>\n";
  return out;
}

namespace {

// GitHub's workflow-command escapes: a message keeps its newlines as %0A; a
// property (file, title) may hold neither ':' nor ','.
std::string github_text(std::string_view text, bool property = false) {
  std::string out;
  for (char c : text) {
    if (c == '%')
      out += "%25";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else if (property && c == ':')
      out += "%3A";
    else if (property && c == ',')
      out += "%2C";
    else
      out += c;
  }
  return out;
}

// Error annotations GitHub Actions shows per step.
constexpr std::size_t github_shown = 10;

std::string github_error(std::string_view title, std::string_view message,
                         std::string_view file = {}, std::uint32_t line = 0) {
  std::string where;
  if (line != 0) where = fmt::format("file={},line={},", github_text(file, true), line);
  return fmt::format("::error {}title={}::{}\n", where, github_text(title, true),
                     github_text(message));
}

}  // namespace

std::string github_annotations(const std::vector<result>& results, const not_run_list& not_run,
                               std::string_view workspace) {
  std::vector<std::string> errors;
  if (!not_run.empty())
    errors.push_back(github_error("faultscope: not run", not_run_text(not_run)));
  auto relative = [&](std::string_view file) {
    if (!workspace.empty() && file.starts_with(workspace) &&
        file.substr(workspace.size()).starts_with('/'))
      file.remove_prefix(workspace.size() + 1);
    return file;
  };
  for (const auto& r : results) {
    const auto& name = r.scenario->name;
    if (r.canary()) {
      // What a caught canary reports is what it planted: no annotation.
      if (!r.ok())
        errors.push_back(github_error(fmt::format("faultscope {}: canary missed", name),
                                      missed_text(*r.scenario)));
      continue;
    }
    // One annotation per violation message, under every schedule that
    // reported it, replayed as the first of them: GitHub shows a few per step.
    struct bug {
      const violation* v;
      const fault_plan* replay;
      std::vector<detail::failure_ref> under;
    };
    std::vector<bug> bugs;
    std::map<std::string_view, std::size_t> by_message;
    for (const auto& g : detail::group_failures(r.report))
      for (const auto& v : g.run->violations) {
        auto [at, first] = by_message.try_emplace(v.message, bugs.size());
        if (first) bugs.push_back({&v, g.minimal, {}});
        auto& plans = bugs[at->second].under;
        plans.push_back(g);
        plans.insert(plans.end(), g.same.begin(), g.same.end());
      }
    for (const auto& b : bugs)
      errors.push_back(
          github_error(fmt::format("faultscope {}: {}", name, to_string(b.v->kind)),
                       fmt::format("{}\nunder {}\nreplay: {}", b.v->message,
                                   detail::plan_list(b.under), replay_command(r, *b.replay)),
                       relative(b.v->file), b.v->line));
  }
  // GitHub drops a step's error annotations past the tenth without a word:
  // say how many it would not show, as a warning (counted apart).
  std::string out;
  for (std::size_t i = 0; i < errors.size() && i < github_shown; ++i) out += errors[i];
  if (errors.size() > github_shown)
    out += fmt::format(
        "::warning title=faultscope::{} more violation{} not annotated, as GitHub shows {} "
        "error annotations per step: the report above lists every one\n",
        errors.size() - github_shown, errors.size() - github_shown == 1 ? "" : "s", github_shown);
  return out;
}

std::string html_report(const std::vector<result>& results, const not_run_list& not_run) {
  std::string out = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>faultscope report</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px} h3{font-size:14px;font-weight:600}
.pass{color:#1a7f37} .fail{color:#cf222e} code{background:#f3f3f3;padding:1px 4px}
svg{display:block;margin:8px 0 16px} .name,.axis{font:12px monospace;fill:#444}
rect.life{fill:#4c8bf5} rect.life.leaked{fill:#cf222e} text.leak{font:12px monospace;fill:#cf222e}
line.fault{stroke:#e36209;stroke-dasharray:4 3} line.end{stroke:#999} text.fault{font:11px monospace;fill:#e36209}
li{margin:2px 0} h4{font-size:13px;font-weight:600}
details{margin:0 0 16px} summary{cursor:pointer;color:#555}
</style></head><body>
<h1>faultscope report</h1>
)";
  for (const auto& r : results) {
    out += fmt::format(
        "<h2>{} <span class=\"{}\">{}</span></h2>\n<p>{} schedules over {} fault "
        "points ({} hits).</p>\n",
        detail::xml_text(r.scenario->name), r.ok() ? "pass" : "fail",
        r.canary() ? (r.ok() ? "canary caught" : "canary missed")
                   : (r.ok() ? "no violation" : "violations"),
        r.report.schedules_run + 1, r.report.points, r.report.hits);
    auto replay = [&](const detail::failure_ref& f) {
      return fmt::format("replay: <code>{}</code>",
                         detail::xml_text(replay_command(r, *f.minimal)));
    };
    // As in the text report, a bug many schedules reach is read once; the
    // others' runs, whose timelines may differ, are folded under it.
    for (const auto& g : detail::group_failures(r.report)) {
      out += fmt::format("<h3>under <code>{}</code>: {}</h3>\n<ul>\n",
                         detail::xml_text(g.plan->to_string()), to_string(g.run->end));
      for (const auto& v : g.run->violations)
        out += fmt::format("<li>{}</li>\n", detail::xml_text(v.message));
      out += fmt::format("<li>{}</li>\n</ul>\n", replay(g));
      out += lifetime_svg(*g.run);
      if (g.same.empty()) continue;
      out += fmt::format("<details><summary>under <code>{}</code>: the same violations</summary>\n",
                         detail::xml_text(detail::plan_list(g.same)));
      for (const auto& f : g.same)
        out += fmt::format("<h4>under <code>{}</code>: {}</h4>\n<p>{}</p>\n{}",
                           detail::xml_text(f.plan->to_string()), to_string(f.run->end), replay(f),
                           lifetime_svg(*f.run));
      out += "</details>\n";
    }
  }
  if (!not_run.empty())
    out += fmt::format("<h2 class=\"fail\">not run</h2>\n<p>As {}: {}.</p>\n", not_run_why,
                       detail::xml_text(names_of(not_run)));
  out += "</body></html>\n";
  return out;
}

}  // namespace faultscope::cli
