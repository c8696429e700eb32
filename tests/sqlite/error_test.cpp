// What a failing SQLite call throws reads without a code table at hand: the
// extended code by name, SQLite's message (or the adapter's), the statement.
#include "faultscope/sqlite/error.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace sq = faultscope::sqlite;

namespace {

TEST(SqliteError, NamesTheExtendedCodeWithSqlitesMessageAndTheStatement) {
  const sq::error e(SQLITE_IOERR_WRITE, "disk I/O error", "INSERT INTO t VALUES(1)");
  EXPECT_STREQ(e.what(), "sqlite: SQLITE_IOERR_WRITE (disk I/O error) in: INSERT INTO t VALUES(1)");
  EXPECT_EQ(e.code(), SQLITE_IOERR);
  EXPECT_EQ(e.extended_code(), SQLITE_IOERR_WRITE);
  EXPECT_EQ(e.sql(), "INSERT INTO t VALUES(1)");
}

TEST(SqliteError, APrimaryCodeIsNamedToo) {
  EXPECT_STREQ(sq::error(SQLITE_ERROR, "no such table: t").what(),
               "sqlite: SQLITE_ERROR (no such table: t)");
  EXPECT_STREQ(sq::error(SQLITE_CANTOPEN, "unable to open database file").what(),
               "sqlite: SQLITE_CANTOPEN (unable to open database file)");
}

TEST(SqliteError, WithoutAMessageSqlitesTextForTheCodeStandsIn) {
  EXPECT_STREQ(sq::error(SQLITE_BUSY, "").what(), "sqlite: SQLITE_BUSY (database is locked)");
}

// Built against one SQLite, run against a newer one: a code the table does not
// know still names its kind.
TEST(SqliteError, AnExtendedCodeNewerThanTheTableNamesItsPrimaryCode) {
  const int newer = SQLITE_IOERR | (99 << 8);
  EXPECT_STREQ(sq::error(newer, "disk I/O error").what(),
               "sqlite: SQLITE_IOERR, extended code 25354 (disk I/O error)");
  EXPECT_STREQ(sq::error(250, "what").what(), "sqlite: code 250 (what)");
}

TEST(SqliteError, ALongStatementIsCutInTheMessageButKeptWhole) {
  const std::string sql = "SELECT '" + std::string(300, 'x') + "'";
  const sq::error e(SQLITE_TOOBIG, "string or blob too big", sql);
  const std::string what = e.what();
  EXPECT_EQ(what, "sqlite: SQLITE_TOOBIG (string or blob too big) in: " + sql.substr(0, 200) + "…");
  EXPECT_EQ(e.sql(), sql);
  const std::string fits = "SELECT '" + std::string(191, 'x') + "'";  // 200 bytes
  EXPECT_EQ(std::string(sq::error(SQLITE_TOOBIG, "", fits).what()).find("…"), std::string::npos);
}

// 199 bytes and a two-byte character: the cut falls before the character.
TEST(SqliteError, AStatementIsCutBetweenCharacters) {
  const std::string sql = "SELECT '" + std::string(191, 'x') + "\xc3\xa9'";
  const sq::error e(SQLITE_TOOBIG, "string or blob too big", sql);
  EXPECT_EQ(std::string(e.what()),
            "sqlite: SQLITE_TOOBIG (string or blob too big) in: " + sql.substr(0, 199) + "…");
}

}  // namespace
