// Machinery for the short waits between a run's thread and the threads it
// hands calls to (the SQLite worker): spin, but give the core away. Not part of
// the public API.
//
//   detail::spin_wait spin(std::chrono::microseconds(50));
//   while (!ready() && spin.turn()) {}
#pragma once

#include <chrono>
#include <thread>

namespace faultscope::detail {

// Tells the core this thread only waits, so the VM's host or a sibling
// hyper-thread gets the execution resources.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A hand-off between two threads takes a few microseconds when each has a core,
// and a wake-up from sleep costs 20-100 µs here, hence the spin. But when both
// threads share one core (a one-CPU container, a busy machine, or the scheduler
// placing a waker next to its wakee) the spinner holds the core the other
// thread needs to make the progress it waits for: with spins that never
// yielded, the SQLite adapter ran transactions of 50 inserts 11 times slower on
// one CPU than it does with this one. So the spin yields every
// couple of microseconds, and at once while its yields show that another
// thread ran in them (the core is shared) — unless a yield shows that another
// program took the core for a whole time slice (a loaded machine), where
// yields only give the core away: then it blocks, and spins without yielding
// for a while.
class spin_wait {
 public:
  using clock = std::chrono::steady_clock;

  explicit spin_wait(clock::duration limit) noexcept : spin_wait(limit, clock::now()) {}

  /// One turn of the wait; false once the limit has passed, or now and then
  /// while the core is shared: the waiter should then block.
  bool turn() noexcept {
    cpu_relax();
    const auto now = clock::now();
    if (now >= until_) return false;
    if (now >= next_yield_ && now >= no_yield_until()) {
      // On a shared core, blocking now and then lets the scheduler, when it
      // wakes this thread, place it on an idle core if there is one: yields
      // alone keep two threads on one core for good.
      if (core_shared() && ++shared_turns() % block_every == 0) return false;
      std::this_thread::yield();
      const auto after = clock::now();
      // A yield with nothing else to run returns in about half a microsecond.
      core_shared() = after - now > shared_core_yield;
      next_yield_ = core_shared() ? after : after + yield_period;
      // A yield that lost the core for a scheduler's time slice gave it to
      // another program, not to the thread this one waits for (whose calls
      // are shorter). On a loaded machine every yield costs that much: with
      // two busy programs on two cores, yielding made the SQLite adapter 30 to
      // 500 times slower than spinning. So block now, where the other
      // thread's wake-up gets this one the core back at once, and for a while
      // only spin before blocking.
      if (after - now > stranger_yield) {
        no_yield_until() = after + quiet_period;
        return false;
      }
    }
    return true;
  }

 private:
  spin_wait(clock::duration limit, clock::time_point now) noexcept
      : until_(now + limit), next_yield_(core_shared() ? now : now + yield_period) {}

  static constexpr auto yield_period = std::chrono::microseconds(2);
  static constexpr auto shared_core_yield = std::chrono::microseconds(3);
  static constexpr unsigned block_every = 32;
  static constexpr auto stranger_yield = std::chrono::microseconds(500);
  static constexpr auto quiet_period = std::chrono::milliseconds(100);

  // Per thread, across waits: a thread that shared its core in the last wait
  // likely shares it in the next.
  static bool& core_shared() noexcept {
    thread_local bool shared = false;
    return shared;
  }
  static unsigned& shared_turns() noexcept {
    thread_local unsigned turns = 0;
    return turns;
  }
  static clock::time_point& no_yield_until() noexcept {
    thread_local clock::time_point until{};
    return until;
  }

  clock::time_point until_;
  clock::time_point next_yield_;
};

/// Spins until `ready()` or for `limit`, whichever is first: a wake-up from
/// sleep costs more than the hand-offs that usually follow within microseconds.
template <typename Ready>
void spin_for(std::chrono::microseconds limit, Ready ready) {
  spin_wait spin(limit);
  while (!ready() && spin.turn()) {
  }
}

}  // namespace faultscope::detail
