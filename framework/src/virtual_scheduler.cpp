#include "faultscope/detail/virtual_scheduler.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/error.hpp>

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

std::size_t virtual_scheduler::advance() {
  if (by_deadline_.empty()) return 0;
  now_ = std::max(now_, by_deadline_.begin()->first.first);
  std::size_t n = 0;
  while (!by_deadline_.empty() && by_deadline_.begin()->first.first <= now_) {
    timed_wait* w = by_deadline_.begin()->second;
    by_deadline_.erase(by_deadline_.begin());
    by_key_.erase(w->seq);
    w->complete({});
    ++n;
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

void virtual_scheduler::finish_external(finished_external* f) noexcept {
  auto* head = finished_.load(std::memory_order_relaxed);
  do {
    f->next = head;
  } while (!finished_.compare_exchange_weak(head, f, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
  // Seq_cst with sleep_begin: either the run's thread sees `f` before it
  // blocks, or this sees it blocking and wakes it.
  if (sleeping_.load(std::memory_order_seq_cst) && wake_) wake_();
  // Last, and only now may the clock move: the run's thread reads the count
  // before it takes the finished ones, so none in flight means it sees them
  // all. After this the run may end: nothing here may touch it.
  end_external();
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
  if (finished_.load(std::memory_order_seq_cst) != nullptr) {
    sleeping_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

namespace {
thread_local virtual_scheduler* current = nullptr;
}

virtual_scheduler* current_scheduler() noexcept {
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
