// What the SQLite adapter's tests share: the schema of their scratch
// databases and small readers of a run's result.
#pragma once

#include <sqlite3.h>

#include <string>

#include "faultscope/run.hpp"

namespace faultscope_sqlite_test {

inline constexpr const char* schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT);"
    "INSERT INTO users VALUES(1, 'ada', 'ada@example.com'), (2, 'grace', NULL);";

inline std::string messages(const faultscope::run_result& r) {
  return r.describe();
}

// Statements the connection holds prepared right now (its cache, here).
inline int prepared_count(sqlite3* h) {
  int n = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(h, nullptr); s; s = sqlite3_next_stmt(h, s)) ++n;
  return n;
}

}  // namespace faultscope_sqlite_test
