// What faultscope installs into SQLite: a pass-through VFS ("faultscope") that
// tracks every file and lets plans fail its reads, writes, syncs and locks, and
// an allocator (SQLITE_CONFIG_MALLOC) that accounts memory per run and lets
// plans fail the n-th allocation. `connection::open` installs both; SQLite only
// accepts an allocator before it initialises, so a program that touches SQLite
// before its first faultscope connection calls `install()` first.
//
//   int main() { faultscope::sqlite::install(); … }
//
// How a fault fires at a VFS point: error(no_space) → SQLITE_FULL (writes),
// error(busy) → SQLITE_BUSY (locks), any other fault → the operation's
// SQLITE_IOERR_* code. A rule on one hit (`sqlite.vfs.write#3`) is a transient
// error; on every later hit too (`sqlite.vfs.write#3+`), a persistent one.
#pragma once

#include <cstdint>

namespace faultscope::sqlite {

/// The VFS name; `sqlite3_open_v2(path, &db, flags, faultscope::sqlite::vfs_name)`
/// tracks a raw connection's files too.
inline constexpr const char* vfs_name = "faultscope";

/// Idempotent and thread-safe. Returns false if SQLite had already been
/// initialised: the VFS works, the allocator hook (memory accounting and
/// out-of-memory faults) is then off.
bool install();

/// Whether the allocator hook is in place.
[[nodiscard]] bool memory_hook_installed() noexcept;

struct memory_usage {
  std::int64_t bytes = 0;
  std::int64_t blocks = 0;
};

}  // namespace faultscope::sqlite
