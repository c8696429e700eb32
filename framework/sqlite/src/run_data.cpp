#include "run_data.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "faultscope/detail/watchdog.hpp"
#include "faultscope/sqlite/detail/worker.hpp"
#include "faultscope/sqlite/error.hpp"
#include "faultscope/sqlite/hooks.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "open_database.hpp"

namespace faultscope::sqlite {
namespace detail {

namespace {

// The scratch directories of runs not yet over. A run_data is never destroyed
// when the watchdog ends the process, nor when a call it left running keeps
// it alive to the end, yet its directory may be in /dev/shm, which is memory
// until the machine restarts: removed at either exit.
struct live_scratch {
  std::mutex mutex;
  std::set<std::string> dirs;

  // Never destroyed: a run_data may end after static destructors have run.
  static live_scratch& instance() {
    static auto* live = new live_scratch;
    return *live;
  }
  static void remove_all() noexcept {
    auto& live = instance();
    // A thread stopped while it held the lock must not keep the process from
    // ending: its directories are left behind instead.
    std::unique_lock lock(live.mutex, std::try_to_lock);
    if (!lock) return;
    for (const auto& dir : live.dirs) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

}  // namespace

void keep_scratch_dir(const std::string& dir) {
  auto& live = live_scratch::instance();
  static const bool at_exit = [] {
    faultscope::detail::at_watchdog_exit(live_scratch::remove_all);
    std::atexit(live_scratch::remove_all);
    return true;
  }();
  static_cast<void>(at_exit);
  std::lock_guard lock(live.mutex);
  live.dirs.insert(dir);
}

void forget_scratch_dir(const std::string& dir) {
  auto& live = live_scratch::instance();
  {
    std::lock_guard lock(live.mutex);
    live.dirs.erase(dir);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

run_data::run_data() : account(new memory_account), files(std::make_shared<file_registry>()) {}

run_data::~run_data() {
  {
    std::lock_guard lock(files->mutex);
    files->tracker = nullptr;
  }
  account->unref();
  if (!scratch.empty()) forget_scratch_dir(scratch);
}

run_data* run_data::of_current_run() {
  run_context* ctx = current_run();
  if (!ctx) return nullptr;
  auto& d = ctx->extension<run_data>();
  if (!d.tracker) {
    d.tracker = &ctx->tracker();
    // A run told to give up after less wall time waits no longer for its calls.
    d.stop_grace = std::min(d.stop_grace, ctx->options().wall_limit);
    std::lock_guard lock(d.files->mutex);
    d.files->tracker = d.tracker;
  }
  return &d;
}

void run_data::finish(faultscope::tracker& t) {
  // A run that hung, or was abandoned with a call on a worker, must not end
  // while that call still reads this state: stop it first.
  if (!worker::interrupt_run(this, stop_grace)) {
    call_left_running = true;
    t.report(violation_kind::hang,
             fmt::format("sqlite: a call on a connection's worker thread did not stop within {} ms "
                         "of an interrupt after the run ended (the run's state stays in memory for "
                         "it, and its database files on disk)",
                         stop_grace.count()));
  }
  for (const auto& db : databases) db->verify(t);
  // Only once every connection is closed must SQLite have given back what it
  // took for this run; a connection still open is reported as a leak already.
  const auto bytes = account->bytes.load();
  if (connections == 0 && bytes != 0 && memory_hook_installed())
    t.report(violation_kind::leak,
             fmt::format("sqlite memory: {} bytes in {} allocations still held after every "
                         "connection of the run closed",
                         bytes, account->blocks.load()));
}

}  // namespace detail

namespace {

// A connection outside faultscope's VFS (the default one) and accounting:
// setup and verification are not part of what a run tests.
struct plain_db {
  sqlite3* db = nullptr;
  void open(const std::string& path, int flags) {
    db = detail::open_database(path, flags, nullptr);
  }
  ~plain_db() { sqlite3_close_v2(db); }
};

// A run's database is thrown away when the run ends, so unless the user chose
// a place ($TMPDIR) it goes where a sync costs nothing: /dev/shm, which is
// memory on Linux. Faults come from the VFS shim wherever the file is; on a
// disk, SQLite's syncs made the built-in out-of-memory sweep 4× slower.
std::string make_scratch_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::vector<std::string> places;
  if (tmp && *tmp)
    places = {tmp};
  else
    places = {"/dev/shm", "/tmp"};
  int err = 0;
  for (const auto& place : places) {
    std::string pattern = fmt::format("{}/faultscope-XXXXXX", place);
    if (mkdtemp(pattern.data())) {
      detail::keep_scratch_dir(pattern);
      return pattern;
    }
    err = errno;
  }
  throw std::runtime_error(fmt::format("cannot make a scratch directory in {}: {}",
                                       fmt::join(places, " or "), std::strerror(err)));
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

test_database& test_database::create(run_context& ctx, std::string_view setup_sql,
                                     std::string_view name) {
  install();
  auto& d = ctx.extension<detail::run_data>();
  if (!d.tracker) detail::run_data::of_current_run();
  if (d.scratch.empty()) d.scratch = make_scratch_dir();
  std::string path = fmt::format("{}/{}", d.scratch, name);
  for (const auto& db : d.databases)
    if (db->path() == path) return *db;
  plain_db p;
  p.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!setup_sql.empty()) {
    std::string sql(setup_sql);
    char* msg = nullptr;
    int rc = sqlite3_exec(p.db, sql.c_str(), nullptr, nullptr, &msg);
    std::string text = msg ? msg : "";
    sqlite3_free(msg);
    if (rc != SQLITE_OK) throw error(rc, text, sql);
  }
  d.databases.push_back(std::make_unique<test_database>(path));
  return *d.databases.back();
}

void test_database::wrote(const transaction& tx, std::string_view table, std::int64_t rowid,
                          std::source_location loc) {
  entries_.push_back({std::string(table), rowid, tx.shared_state(), site::from(loc)});
}

void test_database::committed(std::string_view table, std::int64_t rowid,
                              std::source_location loc) {
  entries_.push_back({std::string(table), rowid, nullptr, site::from(loc)});
}

void test_database::expect(std::string_view sql, std::int64_t expected, std::source_location loc) {
  invariants_.push_back({std::string(sql), expected, site::from(loc)});
}

void test_database::verify(faultscope::tracker& t) const {
  const std::string name = std::filesystem::path(path_).filename().string();
  plain_db p;
  try {
    p.open(path_, SQLITE_OPEN_READWRITE);
  } catch (const error& e) {
    t.report(violation_kind::invariant,
             fmt::format("{} cannot be opened after the run: {}", name, e.what()));
    return;
  }
  auto scalar = [&](const std::string& sql, auto bind) -> std::optional<std::int64_t> {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(p.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return std::nullopt;
    bind(s);
    std::optional<std::int64_t> out;
    if (sqlite3_step(s) == SQLITE_ROW) out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return out;
  };

  // integrity_check: one row "ok", or the problems found.
  {
    sqlite3_stmt* s = nullptr;
    std::string problems;
    if (sqlite3_prepare_v2(p.db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK) {
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        std::string line = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
      }
      if (rc != SQLITE_DONE)
        problems += (problems.empty() ? "" : "; ") + std::string(sqlite3_errmsg(p.db));
    } else {
      problems = sqlite3_errmsg(p.db);
    }
    sqlite3_finalize(s);
    if (!problems.empty()) {
      t.report(violation_kind::invariant,
               fmt::format("integrity_check of {} after the run: {}", name, problems));
      return;
    }
  }

  // Rows whose outcome is unknown (a failed commit, a savepoint the caller's
  // SQL ended): all present or all absent, counted per transaction or
  // savepoint the outcome comes from.
  std::map<const detail::transaction_state*, std::pair<int, int>> uncertain;  // present, absent
  for (const entry& e : entries_) {
    auto present =
        scalar(fmt::format("SELECT count(*) FROM {} WHERE rowid = ?", quote_identifier(e.table)),
               [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, e.rowid); });
    if (!present) {
      t.report(violation_kind::invariant,
               fmt::format(
                   "lost: table {} of {} (row {} written at {}) cannot be read after the run: {}",
                   e.table, name, e.rowid, e.where.str(), sqlite3_errmsg(p.db)),
               0, e.where);
      continue;
    }
    const outcome o = e.tx ? e.tx->effective() : outcome::committed;
    const std::string by = e.tx ? fmt::format("by transaction #{} ({})", e.tx->id, to_string(o))
                                : std::string("outside a transaction, believed committed");
    if (o == outcome::committed && *present == 0)
      t.report(violation_kind::invariant,
               fmt::format("lost: row {} of {} written at {} {} is missing after the run", e.rowid,
                           e.table, e.where.str(), by),
               0, e.where);
    else if ((o == outcome::rolled_back || o == outcome::open) && *present != 0)
      t.report(violation_kind::invariant,
               fmt::format("survived: row {} of {} written at {} {} is present after the run",
                           e.rowid, e.table, e.where.str(), by),
               0, e.where);
    else if (o == outcome::unknown) {
      const detail::transaction_state* from = e.tx.get();
      while (from->state == outcome::committed) from = from->parent.get();
      auto& [yes, no] = uncertain[from];
      (*present ? yes : no) += 1;
    }
  }
  for (const auto& [tx, counts] : uncertain)
    if (counts.first > 0 && counts.second > 0)
      t.report(violation_kind::invariant,
               fmt::format("torn: transaction #{} (its commit failed) left {} of its {} rows in {}",
                           tx->id, counts.first, counts.first + counts.second, name),
               0, tx->where);

  for (const invariant& inv : invariants_) {
    auto got = scalar(inv.sql, [](sqlite3_stmt*) {});
    if (!got || *got != inv.expected)
      t.report(violation_kind::invariant,
               fmt::format("after the run, {} = {} in {}, expected {} (declared at {})", inv.sql,
                           got ? std::to_string(*got) : std::string(sqlite3_errmsg(p.db)), name,
                           inv.expected, inv.where.str()),
               0, inv.where);
  }
}

}  // namespace faultscope::sqlite
