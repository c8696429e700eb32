#include "faultscope/detail/spin_wait.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

using faultscope::detail::spin_wait;
using namespace std::chrono_literals;

namespace {

// Pins the calling thread to one CPU for the life of the object.
class pinned {
 public:
  explicit pinned(int cpu) {
    CPU_ZERO(&before_);
    ok_ = pthread_getaffinity_np(pthread_self(), sizeof before_, &before_) == 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = ok_ && pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
  }
  ~pinned() {
    if (ok_) pthread_setaffinity_np(pthread_self(), sizeof before_, &before_);
  }
  bool ok() const { return ok_; }

 private:
  cpu_set_t before_;
  bool ok_ = false;
};

int first_allowed_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) return cpu;
  return -1;
}

}  // namespace

// Ends by its limit, not at it: on a shared core it may give up sooner.
TEST(SpinWait, EndsByItsLimit) {
  spin_wait none(0us);
  EXPECT_FALSE(none.turn());

  const auto start = spin_wait::clock::now();
  spin_wait spin(2ms);
  while (spin.turn()) {
  }
  EXPECT_LT(spin_wait::clock::now() - start, 5s);
}

// The canary for the yields: a thread that never yields shares the spinner's
// core. A spin that never yielded, or yielded without ever blocking, would run
// to its 20 s limit; a spin that sees its yields take the other thread's time
// gives up so that its caller blocks.
TEST(SpinWait, GivesUpEarlyWhenItsCoreIsShared) {
  const int cpu = first_allowed_cpu();
  ASSERT_GE(cpu, 0);
  pinned me(cpu);
  if (!me.ok()) GTEST_SKIP() << "cannot set this thread's CPU affinity here";

  enum { starting, on_the_cpu, not_pinned };
  std::atomic<int> state{starting};
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    pinned there(cpu);
    state = there.ok() ? on_the_cpu : not_pinned;
    while (!stop.load(std::memory_order_relaxed)) faultscope::detail::cpu_relax();
  });
  while (state == starting) std::this_thread::sleep_for(1ms);
  if (state == not_pinned) {
    stop = true;
    busy.join();
    GTEST_SKIP() << "cannot set a thread's CPU affinity here";
  }

  const auto start = spin_wait::clock::now();
  spin_wait spin(20s);
  while (spin.turn()) {
  }
  const auto spun = spin_wait::clock::now() - start;
  stop = true;
  busy.join();
  EXPECT_LT(spun, 10s);
}
