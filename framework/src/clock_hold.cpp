#include "faultscope/detail/clock_hold.hpp"

#include <fmt/format.h>

#include <optional>

#include "faultscope/detail/run_locals.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/run.hpp"

namespace faultscope::detail {

clock_hold::clock_hold()
    : scheduler_(current_scheduler()),
      locals_(std::make_unique<run_locals>(current_run_locals())),
      wall_deadline_(current_run()->wall_deadline()) {}

clock_hold::~clock_hold() = default;

bool clock_hold::begin() noexcept {
  std::lock_guard lock(mutex_);
  if (scheduler_ == nullptr) return false;
  scheduler_->begin_external();
  ++in_flight_;
  return true;
}

void clock_hold::end() noexcept {
  std::lock_guard lock(mutex_);
  // Detached with work in flight: the run left its state in memory, and no
  // longer counts.
  if (scheduler_ != nullptr) scheduler_->end_external();
  if (--in_flight_ == 0) idle_.notify_all();
}

bool clock_hold::detach(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  const bool idle = idle_.wait_until(lock, deadline, [this] { return in_flight_ == 0; });
  scheduler_ = nullptr;
  return idle;
}

int clock_hold::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

bool clock_hold::claim(run_locals& out) {
  virtual_scheduler* scheduler = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (scheduler_ == nullptr) return false;
    scheduler = scheduler_;
  }
  // Outside the lock, which the run's end takes: the run's state stays, as
  // the work making this claim still counts in in_flight_.
  const auto got = scheduler->claim(wall_deadline_);
  if (got == virtual_scheduler::claim_result::granted) {
    out = *locals_;
    return true;
  }
  std::lock_guard lock(mutex_);
  if (got == virtual_scheduler::claim_result::timed_out && missed_.empty())
    missed_ =
        "work queued on a faultscope::hold_clock executor reached a fault point or the tracker "
        "and waited until run_options::wall_limit for the run's thread to be idle: does the "
        "run's thread block on that work (a future's get())? It went on unseen by the run";
  return false;
}

std::string clock_hold::missed_claim() const {
  std::lock_guard lock(mutex_);
  return missed_;
}

namespace {

// The hold of the function this thread runs for a run, if any, and what its
// claim installed. One per thread: nested held functions run inside the
// outermost's scope.
thread_local clock_hold* held = nullptr;
thread_local bool held_tried = false;  // claim once per function: a failed one is not retried
thread_local std::optional<run_locals_scope> held_locals;
thread_local virtual_scheduler* held_scheduler = nullptr;  // the claim's, to give back

}  // namespace

held_work_scope::held_work_scope(clock_hold* hold) noexcept {
  if (hold == nullptr || held != nullptr || current_run() != nullptr) return;
  active_ = true;
  held = hold;
  held_tried = false;
}

held_work_scope::~held_work_scope() {
  if (!active_) return;
  held = nullptr;
  if (!held_locals) return;
  held_locals.reset();
  std::exchange(held_scheduler, nullptr)->release_claim();
}

bool acting_through_claim() noexcept {
  return held_locals.has_value();
}

bool claim_held_run() noexcept {
  if (held == nullptr || held_tried) return false;
  held_tried = true;
  run_locals locals;
  if (!held->claim(locals)) return false;
  held_locals.emplace(locals);
  held_scheduler = locals.scheduler;
  return true;
}

namespace {

// Owns the run's hold: at the run's end, waits for the work in flight, as the
// SQLite adapter waits for its calls, since that work posts into the run's
// context.
struct clock_hold_extension final : run_extension {
  clock_hold_ref hold;
  std::chrono::milliseconds wall_limit{};

  void finish(tracker& tr) override {
    if (!hold) return;
    if (auto missed = hold->missed_claim(); !missed.empty())
      tr.report(violation_kind::hang, std::move(missed));
    if (hold->detach(std::chrono::steady_clock::now() + wall_limit)) return;
    tr.report(violation_kind::not_quiescent,
              fmt::format("work queued on a faultscope::hold_clock executor was still running {} "
                          "ms of wall time after the run ended; the run's state stays in memory "
                          "for it",
                          wall_limit.count()));
  }
  [[nodiscard]] bool still_in_use() const noexcept override {
    return hold && hold->in_flight() > 0;
  }
};

}  // namespace

clock_hold_ref current_clock_hold() {
  run_context* run = current_run();
  virtual_scheduler* scheduler = current_scheduler();
  if (run == nullptr || scheduler == nullptr) return {};
  auto& e = run->extension<clock_hold_extension>();
  if (!e.hold) {
    e.hold = clock_hold_ref(new clock_hold());
    e.wall_limit = run->options().wall_limit;
  }
  return e.hold;
}

}  // namespace faultscope::detail
