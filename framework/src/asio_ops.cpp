#include "faultscope/detail/asio_ops.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#if defined(BOOST_ASIO_CUSTOM_HANDLER_TRACKING)
#include "faultscope/detail/asio_tracking.hpp"
#endif

namespace faultscope::detail {

struct asio_op_watch::table {
  // Pointers only: Asio's names and the sites' strings are literals (or a
  // source_location's), and an operation is recorded far more often than a
  // run reads it back, so it is described only then.
  struct op {
    std::uint64_t order;
    const char* object_type;
    const char* name;
    const char* composed;     // the composed operation that started it, if any
    const char* caller_file;  // the caller's site, if its token recorded one
    int caller_line;
  };
  const boost::asio::execution_context* context;
  std::unordered_map<const void*, op> ops;
  std::uint64_t started = 0;
};

namespace {

// The contexts being watched: as many as runs in progress, so a short list.
// Operations are created on other contexts (a thread pool's) and on other
// threads too; the count lets every one of them pass with one load while no
// run watches.
std::mutex watched_mutex;
std::vector<asio_op_watch::table*> watched;
std::atomic<std::size_t> watched_count{0};

}  // namespace

#if defined(BOOST_ASIO_CUSTOM_HANDLER_TRACKING)
const bool asio_op_watch::enabled = true;
#else
const bool asio_op_watch::enabled = false;
#endif

asio_op_watch::asio_op_watch(const boost::asio::execution_context& context) {
  if (!enabled) return;
  table_ = std::make_unique<table>();
  table_->context = &context;
  std::lock_guard lock(watched_mutex);
  watched.push_back(table_.get());
  watched_count.store(watched.size(), std::memory_order_relaxed);
}

asio_op_watch::~asio_op_watch() {
  if (!table_) return;
  std::lock_guard lock(watched_mutex);
  std::erase(watched, table_.get());
  watched_count.store(watched.size(), std::memory_order_relaxed);
}

std::vector<std::string> asio_op_watch::pending() const {
  if (!table_) return {};
  std::vector<table::op> ops;
  {
    // Copied under the lock: another thread may complete one meanwhile.
    std::lock_guard lock(watched_mutex);
    for (const auto& [address, o] : table_->ops) ops.push_back(o);
  }
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<std::pair<std::string, int>> counted;
  for (const auto& o : ops) {
    // "Asio channel async_receive (async_read_until) at vendor.cpp:19"
    std::string_view type = o.object_type;
    if (type == "deadline_timer") type = "timer";  // steady_timer, system_timer, deadline_timer
    std::string what = fmt::format("Asio {} {}", type, o.name);
    if (o.composed != nullptr) what += fmt::format(" ({})", o.composed);
    if (o.caller_file != nullptr) what += fmt::format(" at {}:{}", o.caller_file, o.caller_line);
    auto same = std::find_if(counted.begin(), counted.end(),
                             [&](const auto& c) { return c.first == what; });
    if (same == counted.end())
      counted.emplace_back(std::move(what), 1);
    else
      ++same->second;
  }
  std::vector<std::string> out;
  for (auto& [what, n] : counted)
    out.push_back(n == 1 ? std::move(what) : fmt::format("{} (×{})", what, n));
  return out;
}

#if defined(BOOST_ASIO_CUSTOM_HANDLER_TRACKING)
namespace asio_tracking {

namespace {

thread_local const location* innermost = nullptr;

bool in_boost(const char* file) {
  return std::strstr(file, "boost/asio/") != nullptr;
}

// What the thread's call sites say of the operation it starts: the composed
// operation that started it and the caller's line, when Asio knows them. A
// co_await's token pushes a site as it starts the operation — the caller's
// line for a `use_awaitable_t{}`, none for the global `use_awaitable` — and
// sites further out belong to other coroutines (one that dispatched into this
// one inline) or handlers, so the walk stops there.
void add_sites(asio_op_watch::table::op& o) {
  for (const location* l = innermost; l != nullptr && l->line != invocation::boundary;
       l = l->outer) {
    if (l->file != nullptr && in_boost(l->file)) {
      o.composed = l->function;
      continue;
    }
    if (l->file != nullptr) {
      o.caller_file = l->file;
      o.caller_line = l->line;
    }
    break;
  }
}

}  // namespace

location::location(const char* file_, int line_, const char* function_) noexcept
    : file(file_), line(line_), function(function_), outer(innermost) {
  innermost = this;
}

location::~location() {
  innermost = outer;
}

void creation(const boost::asio::execution_context& context, const void* operation,
              const char* object_type, std::uintmax_t /*native_handle*/,
              const char* operation_name) noexcept {
  if (watched_count.load(std::memory_order_relaxed) == 0) return;
  try {
    std::lock_guard lock(watched_mutex);
    for (auto* t : watched) {
      // An address is one live operation: an entry left by one destroyed
      // without Asio saying so must not outlive its memory's next use.
      if (t->context != &context) {
        t->ops.erase(operation);
        continue;
      }
      asio_op_watch::table::op o{t->started++, object_type, operation_name, nullptr, nullptr, 0};
      add_sites(o);
      t->ops.insert_or_assign(operation, o);
    }
  } catch (...) {
    // Out of memory while recording an operation: the run then reports it as
    // one faultscope cannot see, as it would without tracking.
  }
}

void completion(const void* operation) noexcept {
  if (watched_count.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(watched_mutex);
  for (auto* t : watched)
    if (t->ops.erase(operation) != 0) return;
}

}  // namespace asio_tracking
#endif

}  // namespace faultscope::detail
