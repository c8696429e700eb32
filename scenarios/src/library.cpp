#include "faultscope/scenarios/library.hpp"

#include "common.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "faultscope/context_manager.hpp"
#include "faultscope/detached.hpp"
#include "faultscope/exit_stack.hpp"
#include "faultscope/fakes/file.hpp"
#include "faultscope/fakes/pool.hpp"
#include "faultscope/fakes/retry.hpp"
#include "faultscope/fakes/semaphore.hpp"
#include "faultscope/fakes/stream.hpp"
#include "faultscope/with_resource.hpp"
#include "faultscope/with_timeout.hpp"

namespace faultscope::scenarios {

using boost::asio::awaitable;
using namespace std::chrono_literals;

namespace detail {

const std::vector<fault> all_kinds = {fault::make_throw(), fault::make_cancel(),
                                      fault::make_timeout()};
const std::vector<std::string> release_points = {"*.close", "pool.release"};

subject_fn under_deadline(subject_fn subject, std::chrono::nanoseconds deadline) {
  return [subject = std::move(subject), deadline](run_context& ctx) -> awaitable<void> {
    co_await with_timeout(deadline, subject(ctx));
  };
}

scenario_info make(std::string name, std::vector<std::string> tags, std::string description,
                   subject_fn fn, explore_options options, site where) {
  bool timeouts = std::any_of(options.kinds.begin(), options.kinds.end(),
                              [](const fault& f) { return f.kind == fault_kind::timeout; });
  if (timeouts) fn = under_deadline(std::move(fn), 10s);
  return {std::move(name), std::move(tags),    std::move(description),
          std::move(fn),   std::move(options), where};
}

}  // namespace detail

namespace {

using detail::all_kinds;
using detail::make;
using detail::release_points;
using detail::under_deadline;

// Runs `body` with a pool that is closed afterwards whatever happens. (The size
// is a plain number: g++ 12 mis-destroys class-type temporaries written inside
// a co_await expression, as `{.max_size = 1}` would be.)
template <typename Body>
awaitable<void> with_pool(run_context& ctx, std::size_t size, Body body) {
  fakes::pool p(ctx.tracker(), {.max_size = size});
  co_await with_exit_stack([&p, &body](async_exit_stack& stack) -> awaitable<void> {
    stack.push([&p] { return p.close(); });
    co_await body(p);
  });
}

awaitable<void> query_once(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await with_resource([&t] { return fakes::connection::open(t); },
                         [](fakes::connection& c) -> awaitable<void> {
                           co_await c.query("select * from users");
                           co_await c.execute("update users set seen = 1");
                         },
                         [](fakes::connection& c) { return c.close(); });
}

// The seed, over the pool: get_connection is a context manager.
context_manager<fakes::connection> get_connection(fakes::pool& p) {
  return [&p](yield<fakes::connection> yield) -> awaitable<void> {
    fakes::connection c = co_await p.acquire();
    co_await yield(c);
    co_await p.release(c);
  };
}

awaitable<void> get_all_users(run_context& ctx) {
  co_await with_pool(ctx, 1, [](fakes::pool& p) -> awaitable<void> {
    auto rows = co_await async_with(
        get_connection(p), [](fakes::connection& c) { return c.query("select * from users"); });
    (void)rows;
  });
}

awaitable<void> nested(run_context& ctx) {
  auto& t = ctx.tracker();
  fakes::async_mutex lock(t, "report");
  fakes::filesystem fs(t);
  co_await with_resource([&lock] { return lock.lock(); },
                         [&](resource_id&) -> awaitable<void> {
                           co_await with_resource(
                               [&t] { return fakes::connection::open(t); },
                               [&](fakes::connection& c) -> awaitable<void> {
                                 auto rows = co_await c.query("select * from orders");
                                 co_await with_resource([&fs] { return fs.open("report.csv"); },
                                                        [&rows](fakes::file& f) -> awaitable<void> {
                                                          for (auto& r : rows)
                                                            co_await f.write(r + "\n");
                                                        },
                                                        [](fakes::file& f) { return f.close(); });
                               },
                               [](fakes::connection& c) { return c.close(); });
                         },
                         [&lock](resource_id& held) -> awaitable<void> {
                           lock.unlock(held);
                           co_return;
                         });
}

awaitable<void> pool_exhaustion(run_context& ctx) {
  co_await with_pool(ctx, 2, [&ctx](fakes::pool& p) -> awaitable<void> {
    auto user = [&p](run_context&, std::size_t i) -> awaitable<void> {
      co_await with_resource([&p] { return with_timeout(40ms, p.acquire()); },
                             [i](fakes::connection& c) -> awaitable<void> {
                               co_await c.query("select " + std::to_string(i));
                               co_await sleep_for(30ms);
                             },
                             [&p](fakes::connection& c) { return p.release(c); });
    };
    // Four users, two connections: the last waiters time out and must leave
    // the queue without ever holding a connection.
    auto ex = co_await boost::asio::this_coro::executor;
    using op = decltype(boost::asio::co_spawn(ex, user(ctx, 0), boost::asio::deferred));
    std::vector<op> ops;
    for (std::size_t i = 0; i < 4; ++i)
      ops.push_back(boost::asio::co_spawn(ex, user(ctx, i), boost::asio::deferred));
    auto [order, errors] =
        co_await boost::asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    (void)order;
    (void)errors;  // a user that timed out absorbed it; leaks are what matter here
  });
}

// A pooled connection entered as a context manager, then four files: a fault
// anywhere unwinds what was entered, the manager seeing how the body ended.
awaitable<void> partial_setup(run_context& ctx) {
  fakes::filesystem fs(ctx.tracker());
  co_await with_pool(ctx, 1, [&fs](fakes::pool& p) -> awaitable<void> {
    co_await with_exit_stack([&fs, &p](async_exit_stack& stack) -> awaitable<void> {
      fakes::connection& db = co_await stack.enter_context(get_connection(p));
      std::vector<fakes::file*> files;
      for (auto name : {"a.log", "b.log", "c.log", "d.log"}) {
        fakes::file& f = co_await stack.enter([&fs, name] { return fs.open(name); },
                                              [](fakes::file& x) { return x.close(); });
        files.push_back(&f);
      }
      for (auto* f : files) co_await f->write("entry\n");
      co_await db.execute("insert into rotations default values");
    });
  });
}

awaitable<void> request_response(run_context& ctx) {
  auto& t = ctx.tracker();
  using ends = std::pair<fakes::stream, fakes::stream>;
  co_await with_exit_stack([&t](async_exit_stack& stack) -> awaitable<void> {
    ends& e = co_await stack.enter([&t] { return fakes::stream::connect_pair(t, "api"); },
                                   [](ends&) -> awaitable<void> { co_return; });
    stack.push([&e] { return e.second.close(); });
    stack.push([&e] { return e.first.close(); });
    co_await e.first.write("ping");
    auto got = co_await e.second.read();
    co_await e.second.write(got);
    (void)co_await e.first.read();
  });
}

awaitable<void> retried_query(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await with_resource(
      [&t] { return fakes::retry([&t] { return fakes::connection::open(t); }); },
      [](fakes::connection& c) -> awaitable<void> { co_await c.query("select 1"); },
      [](fakes::connection& c) { return c.close(); });
}

// --- canaries: planted leaks that must be found --------------------------------

awaitable<void> naive_cleanup(run_context& ctx) {
  auto c = co_await fakes::connection::open(ctx.tracker());
  std::exception_ptr error;
  try {
    co_await c.query("select * from users");
  } catch (...) {
    error = std::current_exception();
  }
  co_await c.close();  // after a cancellation this await throws: the connection leaks
  if (error) std::rethrow_exception(error);
}

awaitable<void> forgotten_error_path(run_context& ctx) {
  auto& t = ctx.tracker();
  co_await async_with<fakes::connection>(
      [&t](yield<fakes::connection> yield) -> awaitable<void> {
        auto c = co_await fakes::connection::open(t);
        auto exit = co_await yield(c);
        if (exit.ok()) co_await c.close();  // no close when the body failed
      },
      [](fakes::connection& c) -> awaitable<void> { co_await c.query("select 1"); });
}

awaitable<void> lock_not_released(run_context& ctx) {
  fakes::async_mutex m(ctx.tracker(), "accounts");
  auto held = co_await m.lock();
  co_await fault_point("transfer.debit");
  co_await sleep_for(1ms);
  m.unlock(held);  // skipped by any failure above
}

// Cleans up after itself; only its caller loses its errors.
awaitable<void> refresh_prices(tracker& t) {
  co_await with_resource(
      [&t] { return fakes::connection::open(t); },
      [](fakes::connection& c) -> awaitable<void> { co_await c.query("select * from prices"); },
      [](fakes::connection& c) { return c.close(); });
}

awaitable<void> lost_background_error(run_context& ctx) {
  boost::asio::co_spawn(ctx.executor(), refresh_prices(ctx.tracker()), faultscope::detached());
  co_await sleep_for(1s);  // the refresh has long ended, and nothing saw how
}

}  // namespace

scenario_info every_suspension(std::string name, subject_fn subject,
                               std::chrono::nanoseconds deadline) {
  scenario_info s = make(std::move(name), {"scope"},
                         "throw, cancel and timeout at every suspension, under a deadline",
                         under_deadline(std::move(subject), deadline),
                         {.kinds = {fault::make_throw(), fault::make_cancel()},
                          .expect = {{"*", expected_outcome::propagates}},
                          .skip = release_points});
  s.options.kinds = all_kinds;  // the deadline is already there
  return s;
}

scenario_info fan_out(std::string name, std::size_t children, child_fn child) {
  auto fn = [children, child = std::move(child)](run_context& ctx) -> awaitable<void> {
    auto ex = co_await boost::asio::this_coro::executor;
    using op = decltype(boost::asio::co_spawn(ex, child(ctx, 0), boost::asio::deferred));
    std::vector<op> ops;
    for (std::size_t i = 0; i < children; ++i)
      ops.push_back(boost::asio::co_spawn(ex, child(ctx, i), boost::asio::deferred));
    // The first failure cancels the others; all are awaited before it propagates.
    auto [order, errors] = co_await boost::asio::experimental::make_parallel_group(std::move(ops))
                               .async_wait(boost::asio::experimental::wait_for_one_error(),
                                           boost::asio::use_awaitable);
    for (auto i : order)
      if (errors[i] && !faultscope::detail::is_cancellation(errors[i]))
        std::rethrow_exception(errors[i]);
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  };
  return make(std::move(name), {"scope", "fan-out"},
              "children run concurrently; one fails, the rest are cancelled and clean up",
              std::move(fn), {.kinds = all_kinds, .skip = release_points});
}

scenario_info failing_release_while_unwinding(std::string name, subject_fn subject) {
  return make(std::move(name), {"scope", "depth-2"},
              "a second fault inside the cleanup of the first: releases fail while unwinding",
              std::move(subject),
              {.depth = 2,
               .kinds = {fault::make_throw(), fault::make_cancel()},
               .accept = {violation_kind::release_failed}});
}

std::vector<scenario_info> builtins() {
  std::vector<scenario_info> out;
  out.push_back(every_suspension("scope.with_resource", query_once));
  auto seed = every_suspension("seed.get_all_users", get_all_users);
  seed.description = "the seed's get_connection / get_all_users, over a pool";
  out.push_back(std::move(seed));
  out.push_back(every_suspension("scope.nested", nested));
  out.push_back(
      fan_out("scope.fan_out", 3, [](run_context& ctx, std::size_t) { return query_once(ctx); }));
  out.push_back(make("pool.exhaustion", {"pool"},
                     "four users, two connections; waiters time out and leave the queue",
                     pool_exhaustion, {.kinds = all_kinds, .skip = release_points}));
  out.push_back(failing_release_while_unwinding("scope.failing_release", query_once));
  out.push_back(make("exit_stack.partial_setup", {"exit-stack"},
                     "a pooled connection entered as a context manager, then four files; a "
                     "failure anywhere unwinds what was entered",
                     partial_setup, {.kinds = all_kinds, .skip = release_points}));
  out.push_back(every_suspension("stream.request_response", request_response));
  out.push_back(make("retry.open", {"retry"}, "open with retry and backoff, then query",
                     retried_query, {.kinds = all_kinds, .skip = release_points}));
  for (auto& s : sqlite_builtins())
    if (!s.has_tag("canary")) out.push_back(std::move(s));
  out.push_back(make("canary.naive_cleanup", {"canary"},
                     "catch, then co_await close: leaks when cancelled", naive_cleanup, {}));
  out.push_back(make("canary.forgotten_error_path", {"canary"},
                     "a context manager that closes only on success", forgotten_error_path, {}));
  out.push_back(make("canary.lock_not_released", {"canary"},
                     "a lock released only when nothing fails", lock_not_released, {}));
  out.push_back(make("canary.lost_background_error", {"canary", "unhandled_exception"},
                     "a background refresh whose failure nobody awaits", lost_background_error,
                     // A cancel fault is emitted at the root, which the detached
                     // refresh does not hear.
                     {.kinds = {fault::make_throw()}}));
  for (auto& s : sqlite_builtins())
    if (s.has_tag("canary")) out.push_back(std::move(s));
  return out;
}

void register_builtins(registry& r) {
  for (auto& s : builtins())
    if (!r.find(s.name)) r.add(std::move(s));
}

}  // namespace faultscope::scenarios
