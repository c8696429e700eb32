#include "faultscope/sqlite/connection.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/sqlite/hooks.hpp"
#include "faultscope/sqlite/statement.hpp"
#include "faultscope/sqlite/transaction.hpp"
#include "open_database.hpp"
#include "rows_builder.hpp"
#include "run_data.hpp"

using boost::asio::awaitable;

namespace faultscope::sqlite {
namespace detail {

void check(int rc, sqlite3* db, const std::string& sql) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  if ((rc & 0xff) == SQLITE_INTERRUPT)
    throw boost::system::system_error(boost::asio::error::operation_aborted,
                                      "sqlite statement interrupted");
  throw error(rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), sql);
}

namespace {

struct finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, finalizer>;

// One statement. SQL with a second one after it is refused, as Python's
// sqlite3 refuses it: running the first alone would drop the rest unseen.
// Only `execute` without parameters runs several.
stmt_ptr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size() + 1), &s, &tail);
  stmt_ptr owned(s);
  check(rc, db, sql);
  if (tail && *tail) {
    // Whitespace and comments prepare to no statement; anything else is a
    // second one, even one that would not prepare (its table not created yet,
    // say). Out of memory or an I/O error is what it is.
    sqlite3_stmt* next = nullptr;
    rc = sqlite3_prepare_v2(db, tail, -1, &next, nullptr);
    stmt_ptr second(next);
    if (rc != SQLITE_OK && rc != SQLITE_ERROR) check(rc, db, sql);
    if (second || rc != SQLITE_OK)
      throw error(SQLITE_MISUSE,
                  "one statement at a time here; execute() without parameters runs several", sql);
  }
  return owned;
}

// A statement from the connection's cache (or newly prepared) for one call:
// back into the cache when the call ends normally, finalized if it threw.
class cached_statement {
 public:
  cached_statement(statement_cache& cache, sqlite3* db, const std::string& sql)
      : cache_(cache), sql_(sql), e_(cache.take(sql)) {
    if (!e_.stmt) e_.stmt = prepare(db, sql).release();
  }
  ~cached_statement() {
    if (std::uncaught_exceptions() > exceptions_)
      sqlite3_finalize(e_.stmt);
    else
      cache_.give_back(sql_, std::move(e_));
  }
  cached_statement(const cached_statement&) = delete;
  cached_statement& operator=(const cached_statement&) = delete;
  [[nodiscard]] sqlite3_stmt* get() const noexcept { return e_.stmt; }
  /// Kept with the statement, for rows_builder.
  [[nodiscard]] column_names& columns() noexcept { return e_.columns; }

 private:
  statement_cache& cache_;
  const std::string& sql_;
  statement_cache::entry e_;
  int exceptions_ = std::uncaught_exceptions();
};

void bind_all(sqlite3_stmt* s, const std::vector<value>& params, sqlite3* db,
              const std::string& sql) {
  const int expected = sqlite3_bind_parameter_count(s);
  if (static_cast<int>(params.size()) != expected)
    throw error(SQLITE_RANGE,
                fmt::format("{} parameters given, the statement has {}", params.size(), expected),
                sql);
  for (int i = 0; i < expected; ++i) {
    const value& v = params[static_cast<std::size_t>(i)];
    int rc = std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            return sqlite3_bind_null(s, i + 1);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            return sqlite3_bind_int64(s, i + 1, x);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(s, i + 1, x);
          } else if constexpr (std::is_same_v<T, std::string>) {
            return sqlite3_bind_text64(s, i + 1, x.data(), x.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
          } else {
            return sqlite3_bind_blob64(s, i + 1, x.data(), x.size(), SQLITE_TRANSIENT);
          }
        },
        v);
    check(rc, db, sql);
  }
}

// Copies the row `s` is on; a failure (out of memory converting text) leaves
// the statement reset, as a failed step does.
void take_row(rows_builder& out, sqlite3_stmt* s) {
  try {
    out.add(s);
  } catch (...) {
    sqlite3_reset(s);
    throw;
  }
}

// Steps on, copying rows into `out`, until it holds `n` or the statement ends:
// `done` once it ends. A NOMEM or I/O error mid-way throws with the statement
// reset, and `done` set: the cursor ends, as on a failed step.
void step_into(rows_builder& out, sqlite3_stmt* s, sqlite3* db, const std::string& sql,
               std::size_t n, bool& done) {
  while (out.size() < n) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      done = true;  // if the copy fails
      take_row(out, s);
      done = false;
      continue;
    }
    done = true;
    if (rc != SQLITE_DONE) {
      sqlite3_reset(s);
      check(rc, db, sql);
    }
    return;
  }
}

// Every row, in a buffer the size of the connection's last result.
rows step_all(sqlite3_stmt* s, sqlite3* db, const std::string& sql, column_names& columns,
              result_hint& hint) {
  rows_builder out(columns, hint.bytes, hint.rows);
  bool done = false;
  step_into(out, s, db, sql, SIZE_MAX, done);
  hint = {out.bytes(), out.size()};
  return std::move(out).finish(s);
}

// Up to `n` rows: `done` once the statement ends.
rows step_some(sqlite3_stmt* s, sqlite3* db, const std::string& sql, column_names& columns,
               std::size_t n, bool& done) {
  // A few rows reserved, not `n`: a caller may ask for "all" as SIZE_MAX.
  rows_builder out(columns, 0, std::min<std::size_t>(n, 64));
  step_into(out, s, db, sql, n, done);
  return std::move(out).finish(s);
}

// Keeps the connection's last insert rowid where the caller's thread reads it,
// when a call that may insert ends, however it ends: a run that failed part-way
// may have inserted rows before it failed.
class rowid_keeper {
 public:
  rowid_keeper(sqlite3* db, std::atomic<std::int64_t>& to) : db_(db), to_(to) {}
  ~rowid_keeper() { to_.store(sqlite3_last_insert_rowid(db_), std::memory_order_relaxed); }
  rowid_keeper(const rowid_keeper&) = delete;
  rowid_keeper& operator=(const rowid_keeper&) = delete;

 private:
  sqlite3* db_;
  std::atomic<std::int64_t>& to_;
};

// Back to the start, with `params` bound in place of the old ones.
void rebind(sqlite3_stmt* stmt, const std::vector<value>& params, sqlite3* db,
            const std::string& sql) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  bind_all(stmt, params, db, sql);
}

std::int64_t run_to_end(sqlite3_stmt* s, sqlite3* db, const std::string& sql) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    sqlite3_reset(s);
    check(rc, db, sql);
  }
  return sqlite3_changes64(db);
}

int exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

}  // namespace

statement_cache::entry statement_cache::take(const std::string& sql) {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->first != sql) continue;
    entry e = std::move(it->second);
    entries_.erase(std::next(it).base());
    return e;
  }
  return {};
}

void statement_cache::give_back(const std::string& sql, entry e) {
  if (!e.stmt) return;
  sqlite3_reset(e.stmt);
  sqlite3_clear_bindings(e.stmt);
  if (entries_.size() >= capacity) {
    sqlite3_finalize(entries_.front().second.stmt);
    entries_.erase(entries_.begin());
  }
  entries_.emplace_back(sql, std::move(e));
}

void statement_cache::clear() {
  for (auto& e : entries_) sqlite3_finalize(e.second.stmt);
  entries_.clear();
}

connection_state::connection_state(std::string p, connection_options o)
    : path(std::move(p)), options(std::move(o)) {
  if (options.label.empty()) options.label = std::filesystem::path(path).filename().string();
  if (options.flags == 0) options.flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
}

connection_state::~connection_state() {
  // An open connection abandoned without close(): the tracker already holds it
  // as a leak; the worker closes the handle itself as it stops.
  if (open && bind.run) --bind.run->connections;
}

void connection_state::require_open(const char* what) const {
  if (!open)
    throw error(SQLITE_MISUSE, fmt::format("{} on a closed connection to {}", what, options.label));
}

outcome transaction_state::effective() const noexcept {
  if (state != outcome::committed) return state;
  return parent ? parent->effective() : outcome::committed;
}

}  // namespace detail

// ---- connection ------------------------------------------------------------

namespace {
// The state of a connection about to run `what`: not moved-from, still open.
std::shared_ptr<detail::connection_state> live(const std::shared_ptr<detail::connection_state>& st,
                                               const char* what) {
  if (!st) throw std::logic_error(fmt::format("sqlite: {} on an empty connection", what));
  st->require_open(what);
  return st;
}
}  // namespace

awaitable<connection> connection::open(std::string path, connection_options options,
                                       std::source_location loc) {
  install();
  FAULTSCOPE_FAULT_POINT("sqlite.open");
  auto st = std::make_shared<detail::connection_state>(std::move(path), std::move(options));
  st->bind.tracker = current_tracker();
  st->bind.faults = faultscope::detail::current_fault_session();
  st->bind.run = detail::run_data::of_current_run();
  st->bind.vfs_faults = st->options.vfs_faults;
  st->bind.memory_faults = st->options.memory_faults;
  st->bind.opened_at = loc;
  auto* w = &st->w;
  const std::string* p = &st->path;
  const int flags = st->options.flags | SQLITE_OPEN_NOMUTEX;
  const int busy = st->options.busy_timeout_ms;
  co_await detail::submit<detail::none>(st->w, st->bind, [w, p, flags, busy](sqlite3*) {
    w->set_db(detail::open_database(*p, flags, vfs_name));
    w->set_busy_timeout(std::chrono::milliseconds(busy));
  });
  if (st->bind.tracker)
    st->id = st->bind.tracker->acquire("sqlite.connection", st->options.label, loc);
  st->open = true;
  if (st->bind.run) ++st->bind.run->connections;
  co_return connection(std::move(st));
}

awaitable<void> connection::close(std::source_location loc) {
  if (!state_ || !state_->open) co_return;
  auto st = state_;
  st->open = false;
  st->bind.closing_at = loc;  // the last job: only its files' releases see it
  const bool adapter_transaction = st->open_transactions > 0;
  auto* w = &st->w;
  auto* known = &st->statements;
  auto* cache = &st->cache;
  const std::string* label = &st->options.label;
  // What close() finds left behind (a statement prepared through call(), a
  // BEGIN run by hand) the adapter never saw made: point at the connection's open.
  const site opened = site::from(st->bind.opened_at);
  co_await detail::submit<detail::none>(
      st->w, st->bind,
      [w, known, cache, label, adapter_transaction, opened](sqlite3* db) {
        cache->clear();
        tracker* t = current_tracker();
        // Statements the adapter prepared are tracked already (a leak names
        // them); any other one was prepared through call() and never finalized.
        for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s))
          if (!known->contains(s) && t)
            t->report(violation_kind::leak,
                      fmt::format("statement never finalized when {} was closed: {}", *label,
                                  sqlite3_sql(s) ? sqlite3_sql(s) : "?"),
                      0, opened);
        while (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr)) sqlite3_finalize(s);
        known->clear();
        if (!sqlite3_get_autocommit(db)) {
          if (!adapter_transaction && t)
            t->report(violation_kind::leak,
                      fmt::format("transaction still open when {} was closed (SQLite rolls it "
                                  "back): a BEGIN without COMMIT or ROLLBACK",
                                  *label),
                      0, opened);
          detail::exec(db, "ROLLBACK");
        }
        if (sqlite3_close(db) != SQLITE_OK) sqlite3_close_v2(db);
        w->set_db(nullptr);
      },
      detail::call_kind::last);
  if (st->bind.tracker) st->bind.tracker->release(st->id, loc);
  if (st->bind.run) --st->bind.run->connections;
}

awaitable<std::int64_t> connection::execute_values(std::string sql, std::vector<value> params) {
  auto st = live(state_, "execute");
  FAULTSCOPE_FAULT_POINT("sqlite.execute");
  const std::string* q = &sql;
  const std::vector<value>* ps = &params;
  auto* cache = &st->cache;
  auto* rowid = &st->last_rowid;
  const auto* w = &st->w;
  co_return co_await detail::submit<std::int64_t>(
      st->w, st->bind, [q, ps, cache, rowid, w](sqlite3* db) {
        detail::rowid_keeper keep(db, *rowid);
        if (!ps->empty()) {
          detail::cached_statement s(*cache, db, *q);
          detail::bind_all(s.get(), *ps, db, *q);
          return detail::run_to_end(s.get(), db, *q);
        }
        // Several statements separated by ';', as sqlite3_exec runs them.
        std::int64_t changes = 0;
        const char* rest = q->c_str();
        while (rest && *rest) {
          // As in execute_many: an interrupt between statements is forgotten.
          if (w->interrupted()) detail::check(SQLITE_INTERRUPT, db, *q);
          sqlite3_stmt* raw = nullptr;
          const char* tail = nullptr;
          int rc = sqlite3_prepare_v2(db, rest, -1, &raw, &tail);
          detail::stmt_ptr s(raw);
          detail::check(rc, db, *q);
          rest = tail;
          if (!s) continue;  // whitespace or a comment
          changes += detail::run_to_end(s.get(), db, *q);
        }
        return changes;
      });
}

awaitable<std::int64_t> connection::execute_many_values(std::string sql,
                                                        std::vector<std::vector<value>> sets) {
  auto st = live(state_, "execute_many");
  FAULTSCOPE_FAULT_POINT("sqlite.execute");
  const std::string* q = &sql;
  const auto* ps = &sets;
  auto* cache = &st->cache;
  auto* rowid = &st->last_rowid;
  const auto* w = &st->w;
  co_return co_await detail::submit<std::int64_t>(
      st->w, st->bind, [q, ps, cache, rowid, w](sqlite3* db) {
        detail::rowid_keeper keep(db, *rowid);
        detail::cached_statement s(*cache, db, *q);
        std::int64_t changes = 0;
        for (const auto& params : *ps) {
          // SQLite clears an interrupt that came between two runs when the
          // next one starts; the progress handler may not fire in a short one.
          if (w->interrupted()) detail::check(SQLITE_INTERRUPT, db, *q);
          detail::rebind(s.get(), params, db, *q);
          changes += detail::run_to_end(s.get(), db, *q);
        }
        return changes;
      });
}

awaitable<rows> connection::query_values(std::string sql, std::vector<value> params) {
  auto st = live(state_, "query");
  FAULTSCOPE_FAULT_POINT("sqlite.query");
  const std::string* q = &sql;
  const std::vector<value>* ps = &params;
  auto* cache = &st->cache;
  auto* hint = &st->hint;
  co_return co_await detail::submit<rows>(st->w, st->bind, [q, ps, cache, hint](sqlite3* db) {
    detail::cached_statement s(*cache, db, *q);
    detail::bind_all(s.get(), *ps, db, *q);
    return detail::step_all(s.get(), db, *q, s.columns(), *hint);
  });
}

awaitable<statement> connection::cursor_values(std::string sql, std::vector<value> params,
                                               std::source_location loc) {
  auto st = live(state_, "prepare");
  FAULTSCOPE_FAULT_POINT("sqlite.prepare");
  const std::string* q = &sql;
  const std::vector<value>* ps = &params;
  auto* known = &st->statements;
  auto* cache = &st->cache;
  // From the connection's cache, as execute() and query() take theirs: a
  // cursor over the same SQL again skips the parse (Python's sqlite3 keeps
  // aiosqlite's cursors the same way). finalize() gives it back.
  auto taken = co_await detail::submit<detail::statement_cache::entry>(
      st->w, st->bind, [q, ps, known, cache](sqlite3* db) {
        detail::statement_cache::entry e = cache->take(*q);
        if (!e.stmt) {
          auto s = detail::prepare(db, *q);
          if (!s) throw error(SQLITE_MISUSE, "no statement in the SQL", *q);
          e.stmt = s.release();
        }
        try {
          if (!ps->empty()) detail::bind_all(e.stmt, *ps, db, *q);
        } catch (...) {
          cache->give_back(*q, std::move(e));
          throw;
        }
        known->insert(e.stmt);
        return e;
      });
  auto ss = std::make_shared<detail::statement_state>();
  ss->conn = st;
  ss->stmt = taken.stmt;
  ss->columns = std::move(taken.columns);
  ss->sql = std::move(sql);
  if (st->bind.tracker) ss->id = st->bind.tracker->acquire("sqlite.statement", ss->sql, loc);
  co_return statement(std::move(ss));
}

awaitable<transaction> connection::begin_impl(std::string mode, std::source_location loc) {
  auto st = live(state_, "begin");
  // SQL keywords are case-blind: "immediate" is IMMEDIATE.
  for (char& ch : mode) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (mode != "DEFERRED" && mode != "IMMEDIATE" && mode != "EXCLUSIVE")
    throw std::invalid_argument(fmt::format(
        "sqlite: transaction mode '{}' (expected DEFERRED, IMMEDIATE or EXCLUSIVE)", mode));
  FAULTSCOPE_FAULT_POINT("sqlite.begin");
  std::string sql = "BEGIN " + mode;
  const std::string* q = &sql;
  co_await detail::submit<detail::none>(
      st->w, st->bind, [q](sqlite3* db) { detail::check(detail::exec(db, q->c_str()), db, *q); });
  auto ts = std::make_shared<detail::transaction_state>();
  ts->conn = st;
  ts->state = outcome::open;
  ts->where = site::from(loc);
  if (st->bind.tracker)
    ts->id = st->bind.tracker->acquire("sqlite.transaction",
                                       fmt::format("{} on {}", sql, st->options.label), loc);
  ++st->open_transactions;
  co_return transaction(*this, std::move(ts));
}

awaitable<statement> connection::prepare(std::string_view sql, std::source_location loc) {
  return cursor_values(std::string(sql), {}, loc);
}
awaitable<statement> connection::cursor(std::string_view sql, std::vector<value> params,
                                        std::source_location loc) {
  return cursor_values(std::string(sql), std::move(params), loc);
}
awaitable<statement> connection::cursor(std::string_view sql, std::source_location loc) {
  return cursor_values(std::string(sql), {}, loc);
}
awaitable<transaction> connection::begin(std::string_view mode, std::source_location loc) {
  return begin_impl(std::string(mode), loc);
}

std::int64_t connection::last_insert_rowid() const noexcept {
  return state_ ? state_->last_rowid.load(std::memory_order_relaxed) : 0;
}
bool connection::is_open() const noexcept {
  return state_ && state_->open;
}
const std::string& connection::path() const noexcept {
  static const std::string none;
  return state_ ? state_->path : none;
}
const std::string& connection::label() const noexcept {
  static const std::string none;
  return state_ ? state_->options.label : none;
}

context_manager<connection> connect(std::string path, connection_options options,
                                    std::source_location loc) {
  return [path = std::move(path), options = std::move(options),
          loc](yield<connection> y) -> awaitable<void> {
    connection db = co_await connection::open(path, options, loc);
    co_await y(db);
    co_await db.close(loc);
  };
}

// ---- statement ---------------------------------------------------------------

namespace {
// A statement about to be used: live on an open connection, and marked used.
detail::statement_state& use(const std::shared_ptr<detail::statement_state>& s, const char* what,
                             const std::source_location& loc = std::source_location::current()) {
  if (!s || !s->stmt) throw error(SQLITE_MISUSE, fmt::format("{} on a finalized statement", what));
  s->conn->require_open(what);
  if (s->conn->bind.tracker) s->conn->bind.tracker->touch(s->id, loc);
  return *s;
}
}  // namespace

awaitable<std::int64_t> statement::execute_values(std::vector<value> params) {
  auto ss = state_;
  auto& s = use(ss, "execute");
  FAULTSCOPE_FAULT_POINT("sqlite.execute");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  const std::vector<value>* ps = &params;
  auto* rowid = &s.conn->last_rowid;
  bool* done = &s.done;
  co_return co_await detail::submit<std::int64_t>(s.conn->w, s.conn->bind,
                                                  [stmt, q, ps, rowid, done](sqlite3* db) {
                                                    detail::rowid_keeper keep(db, *rowid);
                                                    // Run to its end, or failed: a fetch now finds
                                                    // the end; SQLite would run the statement
                                                    // again, an INSERT a second time.
                                                    *done = true;
                                                    detail::rebind(stmt, *ps, db, *q);
                                                    return detail::run_to_end(stmt, db, *q);
                                                  });
}

awaitable<rows> statement::query_values(std::vector<value> params) {
  auto ss = state_;
  auto& s = use(ss, "query");
  FAULTSCOPE_FAULT_POINT("sqlite.query");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  const std::vector<value>* ps = &params;
  auto* c = &s.columns;
  auto* hint = &s.conn->hint;
  bool* done = &s.done;
  co_return co_await detail::submit<rows>(s.conn->w, s.conn->bind,
                                          [stmt, q, ps, c, hint, done](sqlite3* db) {
                                            *done = true;  // as after execute
                                            detail::rebind(stmt, *ps, db, *q);
                                            return detail::step_all(stmt, db, *q, *c, *hint);
                                          });
}

awaitable<void> statement::bind_values(std::vector<value> params) {
  auto ss = state_;
  auto& s = use(ss, "bind");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  const std::vector<value>* ps = &params;
  bool* done = &s.done;
  co_await detail::submit<detail::none>(s.conn->w, s.conn->bind, [stmt, q, ps, done](sqlite3* db) {
    *done = false;
    detail::rebind(stmt, *ps, db, *q);
  });
}

awaitable<std::optional<row>> statement::fetch_one(std::source_location loc) {
  auto ss = state_;
  auto& s = use(ss, "fetch_one", loc);
  FAULTSCOPE_FAULT_POINT("sqlite.fetch");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  auto* c = &s.columns;
  bool* done = &s.done;
  co_return co_await detail::submit<std::optional<row>>(
      s.conn->w, s.conn->bind, [stmt, q, c, done](sqlite3* db) -> std::optional<row> {
        if (*done) return std::nullopt;
        rows one = detail::step_some(stmt, db, *q, *c, 1, *done);
        if (one.empty()) return std::nullopt;
        return one[0];
      });
}

awaitable<rows> statement::fetch_many(std::size_t n, std::source_location loc) {
  auto ss = state_;
  auto& s = use(ss, "fetch_many", loc);
  FAULTSCOPE_FAULT_POINT("sqlite.fetch");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  auto* c = &s.columns;
  bool* done = &s.done;
  co_return co_await detail::submit<rows>(s.conn->w, s.conn->bind,
                                          [stmt, q, c, done, n](sqlite3* db) {
                                            if (*done || n == 0) return rows{};
                                            return detail::step_some(stmt, db, *q, *c, n, *done);
                                          });
}

awaitable<rows> statement::fetch_all(std::source_location loc) {
  auto ss = state_;
  auto& s = use(ss, "fetch_all", loc);
  FAULTSCOPE_FAULT_POINT("sqlite.fetch");
  sqlite3_stmt* stmt = s.stmt;
  const std::string* q = &s.sql;
  auto* c = &s.columns;
  bool* done = &s.done;
  auto* hint = &s.conn->hint;
  co_return co_await detail::submit<rows>(s.conn->w, s.conn->bind,
                                          [stmt, q, c, done, hint](sqlite3* db) {
                                            if (*done) return rows{};
                                            *done = true;
                                            return detail::step_all(stmt, db, *q, *c, *hint);
                                          });
}

awaitable<void> statement::finalize(std::source_location loc) {
  auto ss = state_;
  if (!ss || !ss->stmt) co_return;
  sqlite3_stmt* stmt = ss->stmt;
  ss->stmt = nullptr;
  auto& conn = *ss->conn;
  // Closing the connection finalized it already.
  if (conn.open) {
    auto* known = &conn.statements;
    auto* cache = &conn.cache;
    const std::string* q = &ss->sql;
    auto* c = &ss->columns;
    co_await detail::submit<detail::none>(
        conn.w, conn.bind,
        [stmt, known, cache, q, c](sqlite3*) {
          known->erase(stmt);
          cache->give_back(*q, {stmt, std::move(*c)});
        },
        detail::call_kind::release);
  }
  if (conn.bind.tracker) conn.bind.tracker->release(ss->id, loc);
}

bool statement::is_open() const noexcept {
  return state_ && state_->stmt;
}
const std::string& statement::sql() const noexcept {
  static const std::string none;
  return state_ ? state_->sql : none;
}

context_manager<statement> cursor(connection& db, std::string sql, std::vector<value> params,
                                  std::source_location loc) {
  return [&db, sql = std::move(sql), params = std::move(params),
          loc](yield<statement> y) -> awaitable<void> {
    statement s = co_await db.cursor(sql, params, loc);
    co_await y(s);
    co_await s.finalize(loc);
  };
}

context_manager<statement> prepared(connection& db, std::string sql, std::source_location loc) {
  return [&db, sql = std::move(sql), loc](yield<statement> y) -> awaitable<void> {
    statement s = co_await db.prepare(sql, loc);
    co_await y(s);
    co_await s.finalize(loc);
  };
}

// ---- transaction ---------------------------------------------------------------

std::string_view to_string(outcome o) noexcept {
  switch (o) {
    case outcome::open:
      return "open";
    case outcome::committed:
      return "committed";
    case outcome::rolled_back:
      return "rolled back";
    case outcome::unknown:
      return "unknown";
  }
  return "?";
}

outcome transaction::state() const noexcept {
  return state_ ? state_->state : outcome::open;
}

void transaction::require_open(const char* what) const {
  // A savepoint is open only while every transaction around it is.
  for (auto* t = state_.get(); t; t = t->parent.get())
    if (t->state != outcome::open)
      throw error(SQLITE_MISUSE, fmt::format("{} in an ended transaction", what));
  if (!state_) throw error(SQLITE_MISUSE, fmt::format("{} in no transaction", what));
}

awaitable<void> transaction::commit(std::source_location loc) {
  auto ts = state_;
  if (!ts || ts->state != outcome::open)
    throw std::logic_error("sqlite: commit of an ended transaction");
  ts->conn->require_open("commit");
  FAULTSCOPE_FAULT_POINT(ts->savepoint.empty() ? "sqlite.commit" : "sqlite.savepoint");
  co_await end(true, loc);
}

awaitable<void> transaction::rollback(std::source_location loc) {
  auto ts = state_;
  if (!ts || ts->state != outcome::open) co_return;
  if (!ts->conn->open) {
    // close() rolled it back (and the tracker reports the transaction).
    ts->state = outcome::rolled_back;
    co_return;
  }
  co_await end(false, loc);
}

namespace {
struct end_result {
  int rc = SQLITE_OK;
  std::string message;
  bool still_open = false;  // the transaction (or savepoint) is still there
  // The savepoint was gone while its transaction was open: the caller's own
  // SQL ended it, with a RELEASE (its rows kept) or a ROLLBACK TO one further
  // out (undone). The adapter cannot tell which.
  bool vanished = false;
};

// SQLite ends every savepoint inside a transaction or savepoint that ends: a
// COMMIT or RELEASE keeps their work, a ROLLBACK undoes it. Handles to them
// still held end with them, rather than stay open on nothing.
void end_within(detail::transaction_state& t, outcome o, tracker* tr,
                const std::source_location& loc) {
  for (auto& w : t.savepoints) {
    auto sp = w.lock();
    if (!sp || sp->state != outcome::open) continue;
    sp->state = o;
    if (tr) tr->release(sp->id, loc);
    end_within(*sp, o, tr, loc);
  }
  t.savepoints.clear();
}
}  // namespace

awaitable<void> transaction::end(bool commit, std::source_location loc) {
  auto ts = state_;
  auto& conn = *ts->conn;
  std::string sp = ts->savepoint;
  const std::string* name = &ts->savepoint;
  const bool nested = !sp.empty();
  end_result r = co_await detail::submit<end_result>(
      conn.w, conn.bind,
      [commit, name, nested](sqlite3* db) {
        end_result out;
        // Still open? A top-level transaction is while autocommit is off; a
        // savepoint as long as its transaction is (SQLite may have rolled the
        // whole transaction back after an I/O or out-of-memory error).
        auto open = [&] {
          return sqlite3_get_autocommit(db) == 0;
        };
        if (commit) {
          std::string sql = nested ? "RELEASE " + *name : "COMMIT";
          out.rc = detail::exec(db, sql.c_str());
          if (out.rc != SQLITE_OK) out.message = sqlite3_errmsg(db);
          out.still_open = open();
          return out;
        }
        // A transient failure (out of memory, busy, an I/O hiccup) must not
        // leave the transaction open: try again a few times.
        std::string sql = nested ? "ROLLBACK TO " + *name + "; RELEASE " + *name : "ROLLBACK";
        for (int attempt = 0; attempt < 4 && open(); ++attempt) {
          out.rc = detail::exec(db, sql.c_str());
          if (out.rc == SQLITE_OK) break;
          out.message = sqlite3_errmsg(db);
          if (nested && out.message.find("no such savepoint") != std::string::npos) break;
        }
        out.vanished = nested && out.rc != SQLITE_OK &&
                       out.message.find("no such savepoint") != std::string::npos;
        out.still_open = open() && !(nested && out.rc == SQLITE_OK) && !out.vanished;
        return out;
      },
      detail::call_kind::release);

  auto finish = [&](outcome o) {
    ts->state = o;
    if (conn.bind.tracker) conn.bind.tracker->release(ts->id, loc);
    if (!nested) --conn.open_transactions;
    end_within(*ts, o, conn.bind.tracker, loc);
  };
  if (commit) {
    if (r.rc == SQLITE_OK) {
      finish(outcome::committed);
      co_return;
    }
    // The savepoint (or transaction) still open: the commit did not happen and
    // the caller's scope rolls back. Gone: SQLite rolled back after an error
    // during COMMIT, and may or may not have made it durable first.
    if (!r.still_open) finish(outcome::unknown);
    throw error(r.rc, r.message, nested ? "RELEASE " + sp : "COMMIT");
  }
  if (r.still_open) throw error(r.rc, r.message, nested ? "ROLLBACK TO " + sp : "ROLLBACK");
  finish(r.vanished ? outcome::unknown : outcome::rolled_back);
}

awaitable<transaction> transaction::savepoint(std::source_location loc) {
  auto ts = state_;
  if (!ts || ts->state != outcome::open)
    throw std::logic_error("sqlite: savepoint in an ended transaction");
  auto& conn = *ts->conn;
  conn.require_open("savepoint");
  FAULTSCOPE_FAULT_POINT("sqlite.savepoint");
  std::string name = fmt::format("faultscope_sp{}", ++conn.savepoints);
  std::string sql = "SAVEPOINT " + name;
  const std::string* q = &sql;
  co_await detail::submit<detail::none>(
      conn.w, conn.bind, [q](sqlite3* db) { detail::check(detail::exec(db, q->c_str()), db, *q); });
  auto sp = std::make_shared<detail::transaction_state>();
  sp->conn = ts->conn;
  sp->parent = ts;
  sp->savepoint = name;
  sp->state = outcome::open;
  sp->where = site::from(loc);
  if (conn.bind.tracker)
    sp->id = conn.bind.tracker->acquire("sqlite.transaction",
                                        fmt::format("SAVEPOINT on {}", conn.options.label), loc);
  // Only open ones are kept: a loop of savepoints in one long transaction
  // must not pile up the states of those it ended.
  std::erase_if(ts->savepoints, [](const std::weak_ptr<detail::transaction_state>& w) {
    auto p = w.lock();
    return !p || p->state != outcome::open;
  });
  ts->savepoints.push_back(sp);
  co_return transaction(conn_, std::move(sp));
}

namespace detail {

context_manager<transaction> transaction_manager(connection& db, std::string mode,
                                                 std::source_location loc) {
  return [&db, mode = std::move(mode), loc](yield<transaction> y) -> awaitable<void> {
    transaction tx = co_await db.begin(mode, loc);
    co_await y(tx);
    co_await tx.rollback(loc);  // nothing to do if the body committed
  };
}

context_manager<transaction> savepoint_manager(transaction& outer, std::source_location loc) {
  return [&outer, loc](yield<transaction> y) -> awaitable<void> {
    transaction tx = co_await outer.savepoint(loc);
    co_await y(tx);
    co_await tx.rollback(loc);
  };
}

}  // namespace detail

}  // namespace faultscope::sqlite
