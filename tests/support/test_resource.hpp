// A small tracked resource for the framework's own tests: acquire and release
// take virtual time and can be told to fail, so every way a scope can end is
// reachable without the fakes library.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/tracker.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::test {

using namespace std::chrono_literals;
using boost::asio::awaitable;
using boost::asio::use_awaitable;

/// A distinct exception type, so a test can tell *its* exception arrived unchanged.
struct planted_error : std::runtime_error {
  planted_error(std::string what, int tag) : std::runtime_error(std::move(what)), tag(tag) {}
  int tag;
};

inline awaitable<void> sleep_for(std::chrono::nanoseconds d) {
  timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}

struct behaviour {
  bool acquire_throws = false;
  bool body_throws = false;
  bool release_throws = false;  ///< after the release itself happened, like close(2) failing
  std::chrono::nanoseconds acquire_latency = 10ms;
  std::chrono::nanoseconds body_latency = 100ms;
  std::chrono::nanoseconds release_latency = 10ms;
};

struct handle {
  resource_id id = 0;
};

/// Counts what reached the resource, independent of the tracker.
struct counters {
  int acquired = 0;
  int released = 0;
  int body_ran = 0;
};

inline awaitable<handle> acquire(tracker& t, const behaviour& b, counters& c) {
  co_await sleep_for(b.acquire_latency);
  if (b.acquire_throws) throw planted_error("acquire failed", 1);
  ++c.acquired;
  co_return handle{t.acquire("connection", "db")};
}

inline awaitable<void> release(tracker& t, const behaviour& b, counters& c, handle h) {
  co_await sleep_for(b.release_latency);
  t.release(h.id);
  ++c.released;
  if (b.release_throws) throw planted_error("release failed", 3);
}

inline awaitable<int> body(tracker& t, const behaviour& b, counters& c, handle& h) {
  ++c.body_ran;
  t.touch(h.id);
  co_await sleep_for(b.body_latency);
  if (b.body_throws) throw planted_error("body failed", 2);
  co_return 42;
}

}  // namespace faultscope::test
