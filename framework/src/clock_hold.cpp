#include "faultscope/detail/clock_hold.hpp"

#include <fmt/format.h>

#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/run.hpp"

namespace faultscope::detail {

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

namespace {

// Owns the run's hold: at the run's end, waits for the work in flight, as the
// SQLite adapter waits for its calls, since that work posts into the run's
// context.
struct clock_hold_extension final : run_extension {
  clock_hold_ref hold;
  std::chrono::milliseconds wall_limit{};

  void finish(tracker& tr) override {
    if (!hold || hold->detach(std::chrono::steady_clock::now() + wall_limit)) return;
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
    e.hold = clock_hold_ref(new clock_hold(*scheduler));
    e.wall_limit = run->options().wall_limit;
  }
  return e.hold;
}

}  // namespace faultscope::detail
