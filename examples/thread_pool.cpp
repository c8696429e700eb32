// Code that hands blocking work to a thread pool, verified under a virtual
// deadline. `vendor::password_hasher` co_spawns its hashing onto whatever
// executor it is given; handed the pool's executor wrapped in hold_clock, the
// hashing holds the run's virtual clock, so the 1 s deadline around it fires
// only if the hashing truly overruns.
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/explore.hpp"
#include "faultscope/fault_point.hpp"
#include "faultscope/hold_clock.hpp"
#include "faultscope/with_timeout.hpp"

using boost::asio::awaitable;
using namespace std::chrono_literals;

namespace vendor {

// Third-party code, unchanged: CPU-bound work kept off the caller's thread.
template <typename Executor>
class password_hasher {
 public:
  explicit password_hasher(Executor ex) : ex_(std::move(ex)) {}

  awaitable<std::size_t> hash(std::string password) {
    return boost::asio::co_spawn(
        ex_,
        [password = std::move(password)]() -> awaitable<std::size_t> {
          std::this_thread::sleep_for(5ms);  // a deliberately slow key derivation
          co_return std::hash<std::string>{}(password);
        },
        boost::asio::use_awaitable);
  }

 private:
  Executor ex_;
};

}  // namespace vendor

int main() {
  boost::asio::thread_pool pool(2);
  auto scenario = [&pool](faultscope::run_context&) -> awaitable<void> {
    co_await faultscope::fault_point("auth.lookup");
    vendor::password_hasher hasher(faultscope::hold_clock(pool.get_executor()));
    co_await faultscope::with_timeout(1s, hasher.hash("secret"));
    co_await faultscope::fault_point("auth.store");
  };
  auto report = faultscope::explore("auth.hash_in_time", scenario);
  fmt::print("{} schedules, virtual time of the clean run: {} ns\n{}", report.schedules_run,
             report.clean.virtual_elapsed.count(), report.summary());
  return report.passed() && report.clean.virtual_elapsed == 0ns ? 0 : 1;
}
