#include "faultscope/detail/virtual_scheduler.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/error.hpp>

#include "faultscope/detail/clock_hold.hpp"
#include "faultscope/detail/spin_wait.hpp"

namespace faultscope::detail {

virtual_scheduler::~virtual_scheduler() {
  discard_all();
}

std::uint64_t virtual_scheduler::add(timed_wait* w) {
  w->seq = next_seq_++;
  // A deadline in the past is due now: it never moves the clock backwards.
  w->deadline = std::max(w->deadline, now_);
  by_deadline_.emplace(std::pair{w->deadline, w->seq}, w);
  by_key_.emplace(w->seq, w);
  return w->seq;
}

bool virtual_scheduler::cancel(std::uint64_t key) {
  return finish(key, boost::asio::error::operation_aborted);
}

bool virtual_scheduler::finish(std::uint64_t key, boost::system::error_code ec) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return false;
  timed_wait* w = it->second;
  by_key_.erase(it);
  by_deadline_.erase({w->deadline, w->seq});
  w->complete(ec);
  return true;
}

std::size_t virtual_scheduler::cancel_owner(const void* owner) {
  std::vector<std::uint64_t> keys;
  for (const auto& [key, w] : by_deadline_)
    if (w->owner == owner) keys.push_back(w->seq);
  for (auto k : keys) cancel(k);
  return keys.size();
}

vtime virtual_scheduler::next_deadline() const noexcept {
  return by_deadline_.empty() ? vtime::max() : by_deadline_.begin()->first.first;
}

vtime virtual_scheduler::next_jump() {
  vtime next = next_deadline();
  if (clock_parked()) {
    std::lock_guard lock(turn_mutex_);
    for (const auto& c : clock_parked_) next = std::min(next, c.until);
  }
  return next;
}

std::size_t virtual_scheduler::advance() {
  if (by_deadline_.empty() && !clock_parked()) return 0;
  now_ = std::max(now_, next_jump());
  std::size_t n = 0;
  while (!by_deadline_.empty() && by_deadline_.begin()->first.first <= now_) {
    timed_wait* w = by_deadline_.begin()->second;
    by_deadline_.erase(by_deadline_.begin());
    by_key_.erase(w->seq);
    w->complete({});
    ++n;
  }
  // The clock moved: whatever a call waited for may have come (its lock let
  // go, its busy timeout out).
  if (clock_parked()) {
    std::lock_guard lock(turn_mutex_);
    release_clock_parked([](const clock_waiting_call&) { return true; });
  }
  return n;
}

std::vector<std::string> virtual_scheduler::pending() const {
  std::vector<std::string> out;
  for (const auto& [key, w] : by_deadline_) out.push_back(w->what);
  return out;
}

void virtual_scheduler::discard_all() {
  auto waits = std::move(by_deadline_);
  by_deadline_.clear();
  by_key_.clear();
  for (auto& [key, w] : waits) w->discard();
  for (auto* list :
       {std::exchange(ready_, nullptr), finished_.exchange(nullptr, std::memory_order_acquire)}) {
    while (list) {
      auto* next = list->next;
      list->discard_finished();
      list = next;
    }
  }
}

void virtual_scheduler::wake_run() noexcept {
  if (sleeping_.load(std::memory_order_seq_cst) && wake_) wake_();
}

void virtual_scheduler::finish_external(finished_external* f, bool holds_turn) noexcept {
  auto* head = finished_.load(std::memory_order_relaxed);
  do {
    f->next = head;
  } while (!finished_.compare_exchange_weak(head, f, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
  // Seq_cst with sleep_begin: either the run's thread sees `f` before it
  // blocks, or this sees it blocking and wakes it.
  wake_run();
  // Last, and only now may the clock move (and the next call start): the
  // run's thread reads the count, and the turn, before it takes the finished
  // ones, so none in flight means it sees them all. After this the run may
  // end: nothing here may touch it.
  end_external(holds_turn);
}

virtual_scheduler::ticket virtual_scheduler::issue_turn(const void* lane) {
  if (turns_open_) return no_ticket;
  const ticket t = next_ticket_++;
  fresh_.push_back({t, lane});
  return t;
}

void virtual_scheduler::drop_turn(ticket t) {
  std::erase_if(fresh_, [t](const waiting_call& c) { return c.t == t; });
}

bool virtual_scheduler::grant_turn() {
  if (!turn_free()) return false;
  if (clock_parked()) {
    // A call finished since these parked: the lock they wait for may be free.
    std::lock_guard lock(turn_mutex_);
    const auto done = turns_done_.load(std::memory_order_relaxed);
    release_clock_parked([done](const clock_waiting_call& c) { return c.turns_done != done; });
  }
  waiting_call next{};
  if (parked_count_.load(std::memory_order_seq_cst) == 0) {
    if (fresh_.empty()) return false;
    next = fresh_.front();
    fresh_.pop_front();
  } else {
    std::lock_guard lock(turn_mutex_);
    // The oldest call whose lane can reach it: not behind a parked call of
    // its own lane. Failing that, a parked call tries again.
    auto reachable = std::find_if(fresh_.begin(), fresh_.end(), [this](const waiting_call& c) {
      return std::none_of(parked_.begin(), parked_.end(),
                          [&c](const waiting_call& p) { return p.lane == c.lane; });
    });
    if (reachable != fresh_.end()) {
      next = *reachable;
      fresh_.erase(reachable);
    } else {
      next = parked_.front();
      parked_.pop_front();
      parked_count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  granted_lane_ = next.lane;
  // Before the grant: the claim's holder clears it before it gives the turn back.
  if (next.t >= first_claim) claimed_.store(true, std::memory_order_seq_cst);
  granted_.store(next.t, std::memory_order_seq_cst);
  wake_turn_sleepers();
  return true;
}

bool virtual_scheduler::may_grant() const noexcept {
  return turn_free() && (!fresh_.empty() || parked_count_.load(std::memory_order_seq_cst) > 0);
}

void virtual_scheduler::wake_turn_sleepers() noexcept {
  // Seq_cst with wait_turn's count of sleepers: either the sleeper sees the
  // change before it sleeps, or this sees it sleeping and wakes it.
  if (turn_sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard lock(turn_mutex_);
    turn_cv_.notify_all();
  }
}

template <typename Ready>
bool virtual_scheduler::wait_turn(Ready ready, std::chrono::microseconds spin,
                                  std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (ready()) return true;
  spin_for(spin, ready);
  if (ready()) return true;
  std::unique_lock lock(turn_mutex_);
  turn_sleepers_.fetch_add(1, std::memory_order_seq_cst);
  bool done = true;
  if (deadline)
    done = turn_cv_.wait_until(lock, *deadline, ready);
  else
    turn_cv_.wait(lock, ready);
  turn_sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return done;
}

virtual_scheduler::ticket virtual_scheduler::wait_for_grant(
    ticket t, std::optional<std::chrono::steady_clock::time_point> deadline) {
  ticket g = no_ticket;
  auto mine = [this, t, &g] {
    g = granted_.load(std::memory_order_seq_cst);
    return g == t || g == all_tickets;
  };
  // The run's thread grants a turn within microseconds of going idle.
  return wait_turn(mine, std::chrono::microseconds(50), deadline) ? g : no_ticket;
}

bool virtual_scheduler::await_turn(ticket t) {
  return wait_for_grant(t, std::nullopt) == t;
}

void virtual_scheduler::release_turn() noexcept {
  // Only the holder writes it, and the turn orders the holders.
  turns_done_.store(turns_done_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  ticket g = granted_.load(std::memory_order_relaxed);
  if (g != all_tickets) granted_.compare_exchange_strong(g, no_ticket, std::memory_order_seq_cst);
  wake_run();
}

bool virtual_scheduler::park_turn(ticket t) {
  const std::uint64_t done_before = turns_done_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(turn_mutex_);
    if (parking_closed_) return false;
    parked_.push_back({t, granted_lane_});
    parked_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  ticket g = t;
  granted_.compare_exchange_strong(g, no_ticket, std::memory_order_seq_cst);
  wake_run();
  await_turn(t);
  return turns_done_.load(std::memory_order_relaxed) != done_before;
}

template <typename Pred>
bool virtual_scheduler::release_clock_parked(Pred pred) {
  bool any = false;
  for (auto it = clock_parked_.begin(); it != clock_parked_.end();) {
    if (!pred(*it)) {
      ++it;
      continue;
    }
    // In flight again before it can be granted: the clock must not move on
    // while it waits for its turn.
    external_.fetch_add(1, std::memory_order_seq_cst);
    parked_.push_back(it->call);
    parked_count_.fetch_add(1, std::memory_order_seq_cst);
    clock_parked_count_.fetch_sub(1, std::memory_order_seq_cst);
    it = clock_parked_.erase(it);
    any = true;
  }
  return any;
}

bool virtual_scheduler::park_for_clock(ticket t, vtime until, const std::atomic<bool>* cancelled) {
  {
    // The cancelled check under the lock unpark_for_clock takes: a cancel
    // either finds the call parked or keeps it from parking.
    std::lock_guard lock(turn_mutex_);
    if (parking_closed_ || clock_parking_closed_ ||
        (cancelled && cancelled->load(std::memory_order_relaxed)))
      return false;
    clock_parked_.push_back(
        {{t, granted_lane_}, until, turns_done_.load(std::memory_order_relaxed)});
    clock_parked_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  ticket g = t;
  granted_.compare_exchange_strong(g, no_ticket, std::memory_order_seq_cst);
  // Last: once none is in flight, the run's thread may jump the clock.
  external_.fetch_sub(1, std::memory_order_seq_cst);
  wake_run();
  return wait_for_grant(t, std::nullopt) == t;
}

void virtual_scheduler::unpark_for_clock(ticket t) {
  {
    std::lock_guard lock(turn_mutex_);
    if (!release_clock_parked([t](const clock_waiting_call& c) { return c.call.t == t; })) return;
  }
  wake_run();
}

bool virtual_scheduler::stop_clock_parking() {
  std::lock_guard lock(turn_mutex_);
  clock_parking_closed_ = true;
  return release_clock_parked([](const clock_waiting_call&) { return true; });
}

void virtual_scheduler::open_turns() {
  turns_open_ = true;
  fresh_.clear();
  std::lock_guard lock(turn_mutex_);
  parking_closed_ = true;
  release_clock_parked([](const clock_waiting_call&) { return true; });
  parked_.clear();
  parked_count_.store(0, std::memory_order_relaxed);
  granted_.store(all_tickets, std::memory_order_seq_cst);
  turn_cv_.notify_all();
}

virtual_scheduler::claim_result virtual_scheduler::claim(
    std::chrono::steady_clock::time_point deadline) {
  const ticket t = next_claim_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(turn_mutex_);
    if (parking_closed_) return claim_result::run_over;
    // No lane: a claim waits behind no call, and no call behind it.
    parked_.push_back({t, nullptr});
    parked_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  wake_run();
  ticket g = wait_for_grant(t, deadline);
  if (g == no_ticket) {
    std::unique_lock lock(turn_mutex_);
    auto it = std::find_if(parked_.begin(), parked_.end(),
                           [t](const waiting_call& c) { return c.t == t; });
    if (it != parked_.end()) {
      parked_.erase(it);
      parked_count_.fetch_sub(1, std::memory_order_relaxed);
      return claim_result::timed_out;
    }
    // grant_turn took it off the list and is about to store the grant.
    lock.unlock();
    g = wait_for_grant(t, std::nullopt);
  }
  return g == t ? claim_result::granted : claim_result::run_over;
}

void virtual_scheduler::release_claim() noexcept {
  claimed_.store(false, std::memory_order_seq_cst);
  release_turn();
  wake_turn_sleepers();  // the run's thread, in wait_unclaimed
}

bool virtual_scheduler::wait_unclaimed(std::chrono::steady_clock::time_point deadline) {
  // Held work is usually short (it is what a pool is for): spin first.
  return wait_turn([this] { return !claimed(); }, std::chrono::microseconds(100), deadline);
}

std::size_t virtual_scheduler::run_finished() {
  if (!ready_) {
    // Pushed last first: reverse into the order they finished.
    for (auto* f = finished_.exchange(nullptr, std::memory_order_acquire); f;) {
      auto* next = f->next;
      f->next = ready_;
      ready_ = f;
      f = next;
    }
  }
  std::size_t n = 0;
  // One at a time off the list: should a completion throw, the rest stay
  // for the next call (or discard_all), as a context keeps its queue.
  while (auto* f = ready_) {
    ready_ = f->next;
    f->run_finished();
    ++n;
  }
  return n;
}

bool virtual_scheduler::sleep_begin() noexcept {
  // Seq_cst with finish_external's push: either this load sees the call that
  // finished, or that thread sees the flag and wakes the context.
  sleeping_.store(true, std::memory_order_seq_cst);
  if (finished_.load(std::memory_order_seq_cst) != nullptr || may_grant()) {
    sleeping_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

namespace {
thread_local virtual_scheduler* current = nullptr;
}

virtual_scheduler* current_scheduler() noexcept {
  if (current == nullptr) claim_held_run();
  return current;
}

current_scheduler_scope::current_scheduler_scope(virtual_scheduler& s) noexcept
    : previous_(current) {
  current = &s;
}
current_scheduler_scope::~current_scheduler_scope() {
  current = previous_;
}

}  // namespace faultscope::detail
