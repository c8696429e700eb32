// What a failing SQLite call throws: SQLite's primary and extended result codes
// and its message, with the statement that failed. A call that was cancelled
// throws Asio's operation_aborted instead, so scopes see a cancellation.
//
//   try { co_await db.execute("INSERT INTO users VALUES(1)"); }
//   catch (const faultscope::sqlite::error& e) { if (e.code() == SQLITE_CONSTRAINT) … }
#pragma once

#include <stdexcept>
#include <string>

namespace faultscope::sqlite {

class error : public std::runtime_error {
 public:
  /// `what()`: "sqlite: SQLITE_IOERR_WRITE (disk I/O error) in: INSERT INTO …"
  error(int extended_code, const std::string& message, const std::string& sql = {});

  /// SQLITE_IOERR, SQLITE_FULL, SQLITE_BUSY, SQLITE_NOMEM, …
  [[nodiscard]] int code() const noexcept { return extended_code_ & 0xff; }
  /// SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC, … (the primary code when there is none)
  [[nodiscard]] int extended_code() const noexcept { return extended_code_; }
  [[nodiscard]] const std::string& sql() const noexcept { return sql_; }

 private:
  int extended_code_;
  std::string sql_;
};

}  // namespace faultscope::sqlite
