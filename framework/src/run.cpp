#include "faultscope/run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "faultscope/detail/asio_ops.hpp"
#include "faultscope/detail/awaitable_traits.hpp"
#include "faultscope/detail/clock_hold.hpp"
#include "faultscope/detail/descriptors.hpp"
#include "faultscope/detail/fault_session.hpp"
#include "faultscope/detail/format.hpp"
#include "faultscope/detail/run_locals.hpp"
#include "faultscope/detail/spin_wait.hpp"
#include "faultscope/detail/virtual_scheduler.hpp"
#include "faultscope/detail/watchdog.hpp"
#include "faultscope/scope.hpp"

namespace faultscope {

std::string_view to_string(run_end end) noexcept {
  switch (end) {
    case run_end::ok:
      return "ok";
    case run_end::exception:
      return "exception";
    case run_end::cancelled:
      return "cancelled";
    case run_end::hung:
      return "hung";
  }
  return "unknown";
}

std::string run_result::describe() const {
  std::string out;
  for (const auto& v : violations) {
    out += v.message;
    out += '\n';
  }
  return out;
}

namespace detail {

struct run_state {
  run_options options;
  // Destruction order matters: the context (and every coroutine frame in it) must
  // go before the scheduler and tracker its frames still point at.
  detail::virtual_scheduler scheduler;
  faultscope::tracker tracker;
  boost::asio::cancellation_signal root_signal;
  // In here, not on run()'s stack: a run's state can outlive the call (park).
  std::chrono::steady_clock::time_point wall_deadline{};
  bool root_done = false;
  std::exception_ptr root_error;
  detail::fault_session faults;
  // After the context: a frame may still hold on to an extension's state.
  std::vector<std::pair<const std::type_info*, std::unique_ptr<run_extension>>> extensions;
  std::unique_ptr<boost::asio::io_context> io;
  run_context context{*this};

  explicit run_state(const run_options& o)
      : options(o),
        tracker(faultscope::tracker::options{o.record_timeline}),
        faults(options.plan, &tracker, &scheduler) {}
};

// The states of runs that a thread still used when they ended, never freed:
// reachable from here, they are not leaks to a leak checker either.
void park(std::unique_ptr<run_state> state) {
  static std::mutex mutex;
  static auto* parked = new std::vector<std::unique_ptr<run_state>>;
  std::lock_guard lock(mutex);
  parked->push_back(std::move(state));
}

namespace {

// Runs an action when the virtual clock reaches its deadline.
template <typename F>
struct timed_action final : timed_wait {
  explicit timed_action(F f) : fn(std::move(f)) {}
  void complete(boost::system::error_code ec) override {
    const std::unique_ptr<timed_action> self(this);  // freed should fn throw too
    if (!ec) fn();
  }
  void discard() override { delete this; }
  F fn;
};

thread_local run_context* current = nullptr;

// The scenario is called inside the root coroutine, so that one written as a
// plain function returning an awaitable, which throws before it has one, ends
// the root with that exception instead of escaping run().
//
// The root first suspends once. Asio 1.81's co_spawn ends a coroutine that
// never suspended with one more co_await, which throws if the coroutine was
// cancelled meanwhile: the exception then escapes io_context::run() and the
// completion handler never runs. A cancel fault at a plain-code point
// (fault_check) cancels the root while it runs, before it may ever suspend.
boost::asio::awaitable<void> start_root(const scenario_fn& scenario, run_context& ctx) {
  co_await boost::asio::post(ctx.executor(), boost::asio::use_awaitable);
  co_await scenario(ctx);
}

std::string format_vtime(std::chrono::nanoseconds t) {
  return fmt::format("{:.6f}s", std::chrono::duration<double>(t).count());
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

current_run_scope::current_run_scope(run_context* run) noexcept : previous_(current) {
  current = run;
}
current_run_scope::~current_run_scope() {
  current = previous_;
}

run_locals current_run_locals() noexcept {
  return {current_tracker(), current_fault_session(), current_scheduler(), current_run()};
}

}  // namespace detail

tracker& run_context::tracker() const noexcept {
  return state_->tracker;
}
boost::asio::any_io_executor run_context::executor() const {
  return state_->io->get_executor();
}
const run_options& run_context::options() const noexcept {
  return state_->options;
}
std::chrono::nanoseconds run_context::now() const noexcept {
  return state_->scheduler.now();
}

void run_context::cancel(boost::asio::cancellation_type type) {
  state_->root_signal.emit(type);
}

void run_context::cancel_after(std::chrono::nanoseconds after,
                               boost::asio::cancellation_type type) {
  auto* s = state_;
  auto fire = [s, type] {
    s->root_signal.emit(type);
  };
  auto* w = new detail::timed_action<decltype(fire)>(std::move(fire));
  w->deadline = s->scheduler.now() + after;
  w->what = fmt::format("cancellation scheduled at {}", detail::format_vtime(w->deadline));
  s->scheduler.add(w);
}

run_extension* run_context::find_extension(const std::type_info& type) const {
  for (auto& [t, e] : state_->extensions)
    if (*t == type) return e.get();
  return nullptr;
}

run_extension& run_context::add_extension(const std::type_info& type,
                                          std::unique_ptr<run_extension> e) {
  state_->extensions.emplace_back(&type, std::move(e));
  return *state_->extensions.back().second;
}

std::chrono::steady_clock::time_point run_context::wall_deadline() const noexcept {
  return state_->wall_deadline;
}

run_context* current_run() noexcept {
  if (detail::current == nullptr) detail::claim_held_run();
  return detail::current;
}

namespace {

// run(), but for the descriptor check; `kept` says whether the run's state was
// left in memory (a thread still uses it), its descriptors with it.
run_result run_once(const scenario_fn& scenario, const run_options& options, bool& kept) {
  using clock = std::chrono::steady_clock;
  const auto wall_start = clock::now();
  const auto wall_deadline = wall_start + options.wall_limit;
  // The loop below ends a busy run at wall_deadline, after at most one of its
  // waits in the context; a run still in it well after that is blocked inside
  // a handler, where only the watchdog sees it.
  detail::watched_run watch(options.plan, wall_start, wall_start + detail::block_limit(options));

  auto owned = std::make_unique<detail::run_state>(options);
  auto& state = *owned;
  state.wall_deadline = wall_deadline;
  state.io = std::make_unique<boost::asio::io_context>(1);
  auto& io = *state.io;
  // Names the Asio operations (a channel's, a socket's) left pending, in a
  // build with FAULTSCOPE_ASIO_TRACKING.
  std::optional<detail::asio_op_watch> asio_ops(std::in_place, io);
  // Where this build cannot name them, the report says how to get one that can.
  const std::string_view naming_hint =
      detail::asio_op_watch::enabled
          ? ""
          : "; a build with FAULTSCOPE_ASIO_TRACKING=ON names the Asio operations among them";
  auto& sched = state.scheduler;
  auto& tr = state.tracker;
  tr.set_clock([&sched] { return sched.now(); });
  sched.attach(&io, [&io] { boost::asio::post(io, [] {}); });

  detail::current_scheduler_scope sched_scope(sched);
  current_tracker_scope tracker_scope(tr);
  auto& faults = state.faults;
  detail::current_fault_session_scope faults_scope(faults);
  detail::current_run_scope run_scope(&state.context);

  run_result result;
  bool& done = state.root_done;
  std::exception_ptr& root_error = state.root_error;
  auto on_root_end = [s = &state](std::exception_ptr e) {
    s->root_done = true;
    s->root_error = e;
  };
  boost::asio::co_spawn(io, detail::start_root(scenario, state.context),
                        boost::asio::bind_cancellation_slot(state.root_signal.slot(), on_root_end));

  // Drive the context: run what is ready; when nothing is, jump the clock to the
  // next deadline. Work on another thread (the SQLite worker) holds the clock.
  std::optional<std::string> hang;
  auto foreign_never_completed = [&options] {
    return fmt::format(
        "work on another thread never completed (a SQLite call, or work queued on a "
        "faultscope::hold_clock executor) within run_options::wall_limit ({} ms)",
        options.wall_limit.count());
  };
  bool has_work = true;           // does the context still count outstanding work?
  bool foreign_left = false;      // work faultscope cannot see was still counted at the end
  bool root_end_drained = false;  // foreign work had its grace after the root ended
  for (;;) {
    try {
      if (sched.claimed()) {
        // Work on another thread holds the run (see hold_clock): nothing
        // here may run until it returns, its completion included.
        if (!sched.wait_unclaimed(wall_deadline)) {
          hang = fmt::format(
              "work queued on a faultscope::hold_clock executor reached a fault point or the "
              "tracker, which makes the run wait for it, and did not return within "
              "run_options::wall_limit ({} ms); does it wait for the run's thread, or for other "
              "such work?",
              options.wall_limit.count());
          break;
        }
        continue;
      }
      // poll() would also run what the handlers post, so a busy loop would never
      // return from it: run a bounded batch, then look at the wall clock.
      // Read before polling: a worker hands back (or posts) its completion
      // before it stops counting as in flight, so "none in flight" read here
      // means the run_finished and poll below see every completion. Read after,
      // a completion between the poll and the read would be missed, and the
      // clock would jump past it.
      const bool external = sched.external_in_flight();
      const bool turn_was_free = sched.turn_free();  // read before polling, likewise
      std::size_t n = sched.run_finished();
      bool drained = false;
      for (; n < 256; ++n)
        if (io.poll_one() == 0) {
          drained = true;
          break;
        }
      has_work = !io.stopped();
      if (!has_work) io.restart();
      if (clock::now() > wall_deadline) {
        // The limit can pass between two of the sleeps below: with nothing
        // run here and a call still away, that call is what never came back.
        hang = n == 0 && (external || sched.external_in_flight())
                   ? foreign_never_completed()
                   : fmt::format("still running after {} ms of wall time (a busy loop?)",
                                 options.wall_limit.count());
        break;
      }
      // Nothing left to run here: the one moment a call on another thread may
      // start (see the scheduler's turns), and the sooner the better. Granted
      // only if the turn was free before the poll, which then saw what the last
      // call handed back.
      if (drained && turn_was_free && sched.grant_turn()) continue;
      if (n > 0) continue;
      if (external || sched.external_in_flight()) {
        // A call on another thread usually comes back within a few hundred
        // microseconds: spin before sleeping, since a wake-up costs up to 100 µs
        // here. The spin reads the in-flight count, one cache line the worker
        // writes once per call, and a worker hands back its completion before
        // it stops counting, so a drop means something to run; a turn given
        // back means a call to start.
        detail::spin_wait spin(std::chrono::microseconds(250));
        std::size_t got = 0;
        for (bool spinning = true; spinning;) {
          const int seen = sched.externals();   // read before each poll, as above
          const bool free = sched.turn_free();  // likewise
          got = sched.run_finished() + io.poll_one();
          if (got == 0 && free && sched.grant_turn()) got = 1;
          if (got > 0 || seen == 0) break;
          do {
            spinning = spin.turn();
          } while (spinning && sched.externals() == seen && sched.turn_free() == free &&
                   !sched.may_grant());
        }
        if (io.stopped()) io.restart();
        if (got > 0 || !sched.external_in_flight()) continue;
        // Block in the context: a post wakes it, and so does a call finished
        // through the scheduler while sleep_begin holds.
        if (sched.sleep_begin()) {
          std::size_t ran = 0;
          try {
            ran = io.run_one_for(std::chrono::milliseconds(1));
          } catch (...) {
            sched.sleep_done();
            throw;
          }
          sched.sleep_done();
          if (ran == 0 && clock::now() > wall_deadline) {
            hang = foreign_never_completed();
            break;
          }
        }
        if (io.stopped()) io.restart();
        continue;
      }
      if (done) {
        // A call waiting for the clock (a lock held across a wait) goes on
        // in real time: past the root, the clock stays where it ended.
        if (sched.stop_clock_parking()) continue;
        // A co_spawn onto another executor (a thread pool) lets go of the
        // run's work only after the completion it posted here has run, so the
        // root may end a moment before the count drops: give foreign work the
        // grace to drain before calling it left over.
        if (has_work && !root_end_drained && !sched.has_pending()) {
          root_end_drained = true;
          const auto grace_end = clock::now() + options.foreign_grace;
          for (auto now = clock::now(); now < grace_end; now = clock::now())
            if (io.run_one_for(grace_end - now) == 0) break;
          has_work = !io.stopped();
          if (!has_work) io.restart();
        }
        break;
      }
      if (sched.has_pending() || sched.clock_parked()) {
        auto next = sched.next_jump();
        if (next > options.time_limit) {
          hang = next == detail::vtime::max()
                     ? std::string("every pending wait is forever")
                     : fmt::format("the next deadline, {}, is past the {} virtual time limit",
                                   detail::format_vtime(next),
                                   detail::format_duration(options.time_limit));
          break;
        }
        // Real I/O completes through the context without faultscope seeing it
        // coming: give it the threshold before the clock jumps past it.
        if (options.jump_threshold > std::chrono::microseconds::zero()) {
          if (io.run_one_for(options.jump_threshold) > 0) continue;
          if (io.stopped()) io.restart();
        }
        sched.advance();
        continue;
      }
      if (has_work) {
        // Nothing faultscope knows of is pending, yet the context counts work:
        // something foreign (a real socket, a steady_timer) may still complete.
        if (io.run_one_for(options.foreign_grace) > 0) continue;
        if (io.stopped()) io.restart();
        foreign_left = true;
        // Name the knob: a real timer or a slow peer needs a longer grace.
        hang = fmt::format(
            "an operation faultscope cannot see (a channel, socket or foreign timer, or work on "
            "a thread pool not queued through faultscope::hold_clock) did not complete within "
            "run_options::foreign_grace ({} ms of wall time){}",
            options.foreign_grace.count(), naming_hint);
      } else {
        hang = "nothing is pending, yet the root coroutine never finished";
      }
      break;
    } catch (...) {
      // A completion handler threw: io_context::run() throws that to its
      // caller, which in a service ends the event loop. The context stays
      // usable (the handler is consumed), so the run goes on to its end.
      tr.report(violation_kind::unhandled_exception,
                fmt::format("\"{}\" escaped a completion handler at {} virtual; "
                            "io_context::run() would throw it to its caller",
                            detail::describe_exception(std::current_exception()),
                            detail::format_vtime(sched.now())));
    }
  }

  if (hang) {
    std::vector<std::string> pending = sched.pending();
    for (auto& what : asio_ops->pending()) pending.push_back(std::move(what));
    std::string scopes = current_scope_path();
    tr.report(
        violation_kind::hang,
        fmt::format("no progress possible at {} virtual: {}{}{}", detail::format_vtime(sched.now()),
                    *hang, pending.empty() ? "" : "; pending: " + detail::join(pending, ", "),
                    scopes.empty() ? "" : "; open scopes: " + scopes));
    result.end = run_end::hung;
  } else {
    // The root ended: anything still pending was leaked by a detached operation.
    const std::vector<std::string> left = sched.pending();
    const std::vector<std::string> left_asio = asio_ops->pending();
    for (const auto* names : {&left, &left_asio})
      for (const auto& what : *names)
        tr.report(violation_kind::not_quiescent,
                  fmt::format("{} still pending after the root coroutine ended", what));
    // A spawned coroutine counts as the context's work while it lives, so a
    // wait of its accounts for the count; only work no wait explains is foreign.
    foreign_left = has_work && left.empty();
    if (foreign_left && left_asio.empty())
      tr.report(violation_kind::not_quiescent,
                fmt::format("an operation faultscope cannot see (a channel, socket or foreign "
                            "timer, or work on a thread pool) is still pending after the root "
                            "coroutine ended{}",
                            naming_hint));
  }

  // Read above. Not watched while the extensions finish and the context is
  // torn down: each operation they end would take the watch's lock for nothing.
  asio_ops.reset();

  if (done && root_error) {
    result.error = root_error;
    result.end = detail::is_cancellation(root_error) ? run_end::cancelled : run_end::exception;
    result.error_message = detail::describe_exception(root_error);
  }

  // Calls still waiting for a turn (a hung run's) stop waiting and abort, so
  // that extensions find them done (the SQLite adapter waits for its calls).
  sched.open_turns();
  // Extensions may wait for their threads' calls, each up to the wall limit.
  if (!state.extensions.empty())
    watch.extend(clock::now() + options.wall_limit + detail::block_margin(options));
  // Extensions may add an extension while finishing: index, not iterators.
  for (std::size_t i = 0; i < state.extensions.size(); ++i) state.extensions[i].second->finish(tr);

  result.virtual_elapsed = sched.now();
  result.violations = tr.check();
  result.timeline = tr.timeline();
  result.acquired = tr.acquired_count();
  result.trace = faults.take_trace();
  result.injected = faults.take_injected();

  // A thread still runs against this state (and may hold frames of it):
  // freeing any of it would crash the program when that thread goes on. Work
  // faultscope cannot see may be such a thread's too: a thread pool's, holding
  // the context's work count until it posts its completion into it.
  if (foreign_left || std::any_of(state.extensions.begin(), state.extensions.end(),
                                  [](const auto& e) { return e.second->still_in_use(); })) {
    detail::park(std::move(owned));
    kept = true;
    result.wall_elapsed = clock::now() - wall_start;
    return result;
  }

  // Tear down with the run's thread-locals still installed: destroying suspended
  // frames runs destructors that may reach the tracker or the clock.
  sched.discard_all();
  io.stop();
  state.io.reset();
  sched.discard_all();
  result.wall_elapsed = clock::now() - wall_start;
  return result;
}

// Of `found` (descriptors listed in `after`, with their targets), those
// still open on the same files once fd_grace has passed or all are closed:
// another thread may be about to close one. Looks again after 1, 2, 4… ms,
// so a prompt close costs about a millisecond.
using found_descriptors = std::vector<std::pair<int, std::string>>;
found_descriptors still_open(found_descriptors found, const detail::descriptor_table& after,
                             const run_options& options) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + options.fd_grace;
  for (auto pause = std::chrono::milliseconds(1); !found.empty();) {
    const auto left = deadline - clock::now();
    if (left <= clock::duration::zero()) break;
    std::this_thread::sleep_for(std::min<clock::duration>(pause, left));
    pause *= 2;
    const auto now = detail::open_descriptors();
    if (!now) break;
    std::erase_if(found, [&](const auto& f) {
      const auto it = now->find(f.first);
      return it == now->end() || it->second != after.at(f.first);
    });
  }
  return found;
}

// Whether the caller's ignore_fd names the descriptor; one that throws is
// reported, and the descriptor with it, so that an exploration goes on.
bool ignored(const run_options& options, int fd, const std::string& target, run_result& result) {
  if (!options.ignore_fd) return false;
  try {
    return options.ignore_fd(target);
  } catch (...) {
    result.violations.push_back(
        {violation_kind::invariant,
         fmt::format("invariant: run_options::ignore_fd threw on file descriptor {} ({}): {}", fd,
                     target, detail::describe_exception(std::current_exception()))});
    return false;
  }
}

}  // namespace

run_result run(const scenario_fn& scenario, const run_options& options) {
  bool kept = false;
  if (!options.check_fds) return run_once(scenario, options, kept);
  // Before the run's context exists and after it is gone: Asio's own
  // descriptors (epoll, eventfd, timerfd) come and go with it.
  const auto before = detail::open_descriptors();
  run_result result = run_once(scenario, options, kept);
  // A kept run is hung or still running foreign work, and reported so; its
  // descriptors are still its own.
  if (kept) return result;
  const auto after = detail::open_descriptors();
  if (!before || !after) {
    result.violations.push_back(
        {violation_kind::invariant,
         "invariant: run_options::check_fds cannot read /proc/self/fd here, so the run's file "
         "descriptors went unchecked"});
    return result;
  }
  // Those ignore_fd names first: a server that keeps its side of every
  // connection would otherwise cost each run the whole grace.
  found_descriptors found;
  for (const int fd : detail::opened_since(*before, *after)) {
    std::string target = detail::one_line(detail::descriptor_target(fd));
    if (!ignored(options, fd, target, result)) found.emplace_back(fd, std::move(target));
  }
  for (const auto& [fd, target] : still_open(std::move(found), *after, options))
    result.violations.push_back(
        {violation_kind::leak,
         fmt::format("leak: file descriptor {} ({}) opened during the run, never closed", fd,
                     target)});
  return result;
}

}  // namespace faultscope
