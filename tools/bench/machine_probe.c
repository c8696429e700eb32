/* What a hand-off between two threads costs on this machine, so that SQLite
   figures from two machines can be told apart: the adapter hands every call to
   a worker thread, and its speed against raw SQLite follows these two costs
   more than anything in faultscope.

     machine_probe      prints one JSON line:
       core_round_trip_ns  one atomic flag passed to a thread on another CPU
                           and back (null with one CPU)
       yield_ns            one sched_yield with nothing else to run: a system
                           call, dearer under page-table isolation
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { TRIPS = 200000, YIELDS = 200000 };

static _Alignas(64) atomic_int flag;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int other_cpu;

static void* echo(void* arg) {
  (void)arg;
  pin(other_cpu);
  for (int i = 0; i < TRIPS; ++i) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

int main(void) {
  cpu_set_t allowed;
  sched_getaffinity(0, sizeof allowed, &allowed);
  int cpus[2], found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;

  double round_trip = -1;
  if (found == 2) {
    other_cpu = cpus[1];
    pin(cpus[0]);
    pthread_t t;
    pthread_create(&t, NULL, echo, NULL);
    const double start = now_ns();
    for (int i = 0; i < TRIPS; ++i) {
      atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2) {
      }
    }
    round_trip = (now_ns() - start) / TRIPS;
    pthread_join(t, NULL);
  }

  const double start = now_ns();
  for (int i = 0; i < YIELDS; ++i) sched_yield();
  const double yield = (now_ns() - start) / YIELDS;

  if (round_trip < 0)
    printf("{\"core_round_trip_ns\": null, \"yield_ns\": %.0f}\n", yield);
  else
    printf("{\"core_round_trip_ns\": %.0f, \"yield_ns\": %.0f}\n", round_trip, yield);
  return 0;
}
