// One scenario, one run: a fresh io_context, virtual clock and tracker; the root
// coroutine runs to the end, then the run checks that every resource was released
// and that nothing is left pending. A run that cannot make progress is reported
// as a hang, and `run` returns.
//
//   auto result = faultscope::run([](faultscope::run_context& ctx) -> awaitable<void> {
//     auto id = ctx.tracker().acquire("connection", "db");
//     co_return;                                   // forgot to release
//   });
//   // result.violations[0].message == "leak: connection #1 \"db\" acquired at …, never released"
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_type.hpp>

#include "faultscope/fault_plan.hpp"
#include "faultscope/timeline.hpp"
#include "faultscope/tracker.hpp"
#include "faultscope/violation.hpp"

namespace faultscope {

struct run_options {
  /// Virtual time after which a run that still waits is a hang.
  std::chrono::nanoseconds time_limit = std::chrono::hours(24);
  /// Wall time after which a run that still works (a busy loop) is a hang.
  std::chrono::milliseconds wall_limit = std::chrono::seconds(60);
  /// How long, in wall time, to wait for an operation faultscope cannot see
  /// (a real socket, a foreign timer) before calling the run hung.
  std::chrono::milliseconds foreign_grace = std::chrono::milliseconds(200);
  /// Wall time the run waits, with nothing ready to run, before it jumps the
  /// virtual clock to the next deadline (0: at once; Trio's MockClock calls it
  /// autojump_threshold). Set it when the scenario does real I/O — a socket to
  /// a server on another thread — whose reply faultscope cannot see coming: at
  /// 0, a pending deadline (a `with_timeout`) fires before the reply arrives.
  /// A reply ends the wait, so a generous value (50 ms) costs wall time only
  /// at jumps that no reply precedes.
  std::chrono::microseconds jump_threshold{0};
  /// Deadline for each cleanup (release) run by faultscope's scopes.
  std::chrono::nanoseconds cleanup_deadline = std::chrono::seconds(5);
  bool record_timeline = true;
  /// Also check the process's file descriptors, for code that holds them
  /// outside the tracker (a C library, a raw `::socket`): one the run opened
  /// and left open once its frames are destroyed is a leak (`leak: file
  /// descriptor 9 (socket:[4242], tcp 127.0.0.1:40112 -> 127.0.0.1:5432)
  /// opened during the run, never closed`).
  /// Descriptors are the process's: an exploration that checks them runs on
  /// one thread, and a descriptor another thread opens meanwhile is the run's,
  /// unless that thread closes it within `fd_grace` or `ignore_fd` names it.
  bool check_fds = false;
  /// With check_fds, how long in wall time a descriptor still open at the end
  /// may take to close before it is reported: another thread may be about to
  /// close it (a server thread closing its side of a connection the run's
  /// client closed). Only a run that found one waits, and not for those
  /// `ignore_fd` names.
  std::chrono::milliseconds fd_grace = std::chrono::milliseconds(50);
  /// With check_fds, descriptors never reported, chosen by what they refer to
  /// (as the report names them: "/var/log/app.log", "socket:[4242], tcp
  /// 127.0.0.1:8080 -> 127.0.0.1:40112"): those another thread opens during a
  /// run and keeps, such as a test server's accepted connections.
  std::function<bool(std::string_view target)> ignore_fd{};
  /// Which faults fire where; empty: none fire, but every fault point is still
  /// counted into the result's trace (exploration starts from that).
  fault_plan plan{};
};

/// How the root coroutine ended.
enum class run_end : std::uint8_t { ok, exception, cancelled, hung };
[[nodiscard]] std::string_view to_string(run_end end) noexcept;

struct run_result {
  std::vector<violation> violations;  ///< empty: the run passed
  run_end end = run_end::ok;
  std::exception_ptr error;  ///< what the root coroutine threw, if it threw
  std::string error_message;
  std::chrono::nanoseconds virtual_elapsed{};
  std::chrono::nanoseconds wall_elapsed{};
  std::vector<event> timeline;
  std::uint64_t acquired = 0;         ///< resources acquired during the run
  std::vector<point_hit> trace;       ///< every pass through a fault point, in order
  std::vector<std::string> injected;  ///< faults that fired: "pool.acquire#2=cancel"

  [[nodiscard]] bool passed() const noexcept { return violations.empty(); }
  /// Every violation message, one per line.
  [[nodiscard]] std::string describe() const;
};

namespace detail {
struct run_state;
}

/// Per-run state of a library built on faultscope (the SQLite adapter keeps its
/// memory account and end-of-run checks here). One instance per run and type,
/// made on first use; `finish` runs after the root coroutine has ended (or hung)
/// and before the tracker is checked, so it can still report; the instance is
/// destroyed after every coroutine frame of the run (never, if `still_in_use`).
class run_extension {
 public:
  virtual ~run_extension() = default;
  virtual void finish(faultscope::tracker& /*tracker*/) {}
  /// Asked after `finish`: does a thread of the extension still use the run's
  /// state (a call that ignored the interrupt of a hung run)? Then the run
  /// leaves that state, its frames included, in memory for good instead of
  /// freeing it under the thread; `finish` should have reported why.
  [[nodiscard]] virtual bool still_in_use() const noexcept { return false; }
};

/// What a scenario can reach of its run.
class run_context {
 public:
  explicit run_context(detail::run_state& state) noexcept : state_(&state) {}

  [[nodiscard]] faultscope::tracker& tracker() const noexcept;
  [[nodiscard]] boost::asio::any_io_executor executor() const;
  [[nodiscard]] const run_options& options() const noexcept;
  /// Virtual time since the run started.
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept;
  /// When the run is cut off as hung: its start plus run_options::wall_limit.
  [[nodiscard]] std::chrono::steady_clock::time_point wall_deadline() const noexcept;

  /// Emits a cancellation at the root coroutine, as a caller cancelling the
  /// whole operation would. The default filter of a coroutine lets only
  /// terminal cancellation through.
  void cancel(boost::asio::cancellation_type type = boost::asio::cancellation_type::terminal);
  /// The same, once the virtual clock reaches now + `after`.
  void cancel_after(std::chrono::nanoseconds after,
                    boost::asio::cancellation_type type = boost::asio::cancellation_type::terminal);

  /// This run's instance of `T` (a `run_extension` with a default constructor).
  template <typename T>
  T& extension() {
    static_assert(std::is_base_of_v<run_extension, T>);
    if (run_extension* e = find_extension(typeid(T))) return static_cast<T&>(*e);
    return static_cast<T&>(add_extension(typeid(T), std::make_unique<T>()));
  }

 private:
  run_extension* find_extension(const std::type_info& type) const;
  run_extension& add_extension(const std::type_info& type, std::unique_ptr<run_extension> e);
  detail::run_state* state_;
};

/// The run on this thread, or nullptr.
[[nodiscard]] run_context* current_run() noexcept;

using scenario_fn = std::function<boost::asio::awaitable<void>(run_context&)>;

/// Runs `scenario` to the end and checks it. Never throws for what the scenario
/// does; a hang, a leak or an exception is in the result.
[[nodiscard]] run_result run(const scenario_fn& scenario, const run_options& options = {});

}  // namespace faultscope
