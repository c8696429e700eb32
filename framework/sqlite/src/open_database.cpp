#include "open_database.hpp"

#include <sqlite3.h>

#include <cstring>

#include "faultscope/sqlite/error.hpp"

namespace faultscope::sqlite::detail {

sqlite3* open_database(const std::string& path, int flags, const char* vfs) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs);
  if (rc == SQLITE_OK) {
    sqlite3_extended_result_codes(db, 1);
    return db;
  }
  // Extended codes are not on yet, so rc is the primary code; the failed handle
  // still knows which operation failed, and the errno behind it. "unable to
  // open database file" alone does not say whether the directory is missing.
  std::string message = sqlite3_errstr(rc);
  if (db) {
    rc = sqlite3_extended_errcode(db);
    message = sqlite3_errmsg(db);
    if (int sys = sqlite3_system_errno(db)) message += std::string(": ") + std::strerror(sys);
  }
  sqlite3_close(db);
  throw error(rc, message, "open " + path);
}

}  // namespace faultscope::sqlite::detail
