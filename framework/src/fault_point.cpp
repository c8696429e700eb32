#include "faultscope/fault_point.hpp"

#include <new>

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/detail/clock_hold.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/run.hpp"
#include "faultscope/tracker.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::detail {

std::atomic<int> armed_sessions{0};

fault_session::fault_session(fault_plan plan, faultscope::tracker* tracker,
                             virtual_scheduler* clock)
    : plan_(std::move(plan)), tracker_(tracker), clock_(clock) {
  fired_per_rule_.resize(plan_.rules.size());
  trace_.reserve(256);
  armed_sessions.fetch_add(1, std::memory_order_relaxed);
}

fault_session::~fault_session() {
  armed_sessions.fetch_sub(1, std::memory_order_relaxed);
}

std::optional<fault_session::decision> fault_session::on_hit(std::string_view point) {
  std::lock_guard lock(mutex_);
  auto it = points_.find(point);
  if (it == points_.end()) {
    it = points_
             .emplace(std::string(point), point_state{static_cast<std::uint32_t>(names_.size()), 0})
             .first;
    names_.emplace_back(point);
  }
  std::uint64_t hit = ++it->second.hits;
  raw_hit record{it->second.index, 0, hit, clock_ ? clock_->now() : std::chrono::nanoseconds{}};
  std::optional<decision> out;
  for (std::size_t i = 0; i < plan_.rules.size(); ++i) {
    const auto& r = plan_.rules[i];
    if (!r.matches(point, hit)) continue;
    if (r.count && fired_per_rule_[i] >= r.count) continue;
    if (r.probability < 1.0 && seeded_uniform(plan_.seed, point, hit) >= r.probability) continue;
    ++fired_per_rule_[i];
    out = decision{r.fault, fmt::format("{}#{}", point, hit)};
    record.rule = static_cast<std::uint32_t>(i + 1);
    break;
  }
  if (out) {
    std::string what = fmt::format("{}={}", out->label, out->fault.to_string());
    injected_.push_back(what);
    if (tracker_) tracker_->record(event_type::fault, "injected " + what);
  }
  trace_.push_back(record);
  return out;
}

std::vector<point_hit> fault_session::take_trace() {
  std::lock_guard lock(mutex_);
  std::vector<point_hit> out;
  out.reserve(trace_.size());
  for (const auto& h : trace_)
    out.push_back({names_[h.point], h.hit, h.at,
                   h.rule ? plan_.rules[h.rule - 1].fault.to_string() : std::string(), h.rule});
  trace_.clear();
  return out;
}

std::vector<std::string> fault_session::take_injected() {
  std::lock_guard lock(mutex_);
  return std::move(injected_);
}

namespace {

thread_local fault_session* current = nullptr;

[[noreturn]] void throw_fault(const fault_session::decision& d) {
  if (d.fault.kind == fault_kind::bad_alloc) throw std::bad_alloc();
  if (d.fault.kind == fault_kind::throw_ && d.fault.code == 0) throw injected_fault(d.label);
  throw boost::system::system_error(d.fault.error_code(), "injected fault at " + d.label);
}

}  // namespace

fault_session* current_fault_session() noexcept {
  if (current == nullptr) claim_held_run();
  return current;
}

current_fault_session_scope::current_fault_session_scope(fault_session& s) noexcept
    : previous_(current) {
  current = &s;
}
current_fault_session_scope::~current_fault_session_scope() {
  current = previous_;
}

std::unique_ptr<fault_session::decision> fault_point_enter(std::string_view name) {
  auto* session = current_fault_session();
  if (!session) return nullptr;
  auto d = session->on_hit(name);
  if (!d) return nullptr;
  switch (d->fault.kind) {
    case fault_kind::throw_:
    case fault_kind::error:
    case fault_kind::bad_alloc:
      throw_fault(*d);
    case fault_kind::cancel:
    case fault_kind::timeout:
    case fault_kind::delay:
      break;
  }
  return std::make_unique<fault_session::decision>(std::move(*d));
}

boost::asio::awaitable<void> fault_point_suspend(const fault_session::decision& d) {
  switch (d.fault.kind) {
    case fault_kind::cancel: {
      // Emit at the root once this point is suspended, so the cancellation
      // travels down the slots to the wait below, as a caller's would.
      auto ex = co_await boost::asio::this_coro::executor;
      timer wait(ex, virtual_clock::now());
      wait.set_label(fmt::format("fault point {} (cancel)", d.label));
      // On the run's own executor: the point may be in work on a pool's thread.
      if (auto* run = current_run())
        boost::asio::post(run->executor(),
                          [run, type = d.fault.cancel_type] { run->cancel(type); });
      // A cancellation the code's filter ignores leaves the wait to finish at
      // once: the point then simply continues.
      co_await wait.async_wait(boost::asio::use_awaitable);
      co_return;
    }
    case fault_kind::timeout: {
      timer wait(co_await boost::asio::this_coro::executor, virtual_clock::time_point::max());
      wait.set_label(
          fmt::format("fault point {} (timeout: waits until a deadline cancels it)", d.label));
      co_await wait.async_wait(boost::asio::use_awaitable);
      co_return;
    }
    case fault_kind::delay: {
      timer wait(co_await boost::asio::this_coro::executor, d.fault.delay);
      wait.set_label(fmt::format("fault point {} (delay)", d.label));
      co_await wait.async_wait(boost::asio::use_awaitable);
      co_return;
    }
    case fault_kind::throw_:
    case fault_kind::error:
    case fault_kind::bad_alloc:
      co_return;  // thrown by fault_point_enter
  }
}

void fault_check_slow(std::string_view name) {
  boost::system::error_code ec;
  fault_check_slow(name, ec);
  if (ec) throw boost::system::system_error(ec, fmt::format("injected fault at {}", name));
}

void fault_check_slow(std::string_view name, boost::system::error_code& ec) {
  auto* session = current_fault_session();
  if (!session) return;
  auto d = session->on_hit(name);
  if (!d) return;
  switch (d->fault.kind) {
    case fault_kind::bad_alloc:
      // As Asio's error-code overloads do: memory running out is never an ec.
      throw std::bad_alloc();
    case fault_kind::throw_:
      if (d->fault.code == 0) throw injected_fault(d->label);
      [[fallthrough]];
    case fault_kind::error:
      ec = d->fault.error_code();
      return;
    case fault_kind::cancel:
      // Work on a pool's thread (hold_clock) fails as a job that finds its
      // stop flag set: a cancellation emitted there would reach its own
      // coroutine while it runs, and Asio 1.81 then throws out of the pool's
      // thread when it finishes (README, trap 5).
      if (acting_through_claim()) {
        ec = boost::asio::error::operation_aborted;
        return;
      }
      if (auto* run = current_run()) run->cancel(d->fault.cancel_type);
      return;
    case fault_kind::timeout:
      ec = boost::asio::error::timed_out;
      return;
    case fault_kind::delay:
      return;
  }
}

}  // namespace faultscope::detail
