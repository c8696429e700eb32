// Fuzz target: a corrupt or truncated database file opened through the
// adapter. Whatever the bytes, the adapter reports an sqlite::error (or reads
// the data), and the run ends clean: the connection closed, its files closed,
// SQLite's memory given back, no statement left behind.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "faultscope/context_manager.hpp"
#include "faultscope/run.hpp"
#include "faultscope/sqlite/connection.hpp"
#include "faultscope/sqlite/error.hpp"
#include "fuzz_check.hpp"

namespace sq = faultscope::sqlite;
using boost::asio::awaitable;

namespace {

std::string quoted(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void remove_database(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}

// One file per process, rewritten for every input and removed at exit.
const std::string& database_path() {
  static const struct file {
    std::string path = fmt::format("/tmp/faultscope-fuzz-{}.db", getpid());
    ~file() { remove_database(path); }
  } f;
  return f.path;
}

awaitable<void> read_everything(sq::connection& c) {
  co_await c.query("PRAGMA integrity_check");
  auto tables = co_await c.query("SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 8");
  for (const auto& t : tables) {
    if (t.is_null(0)) continue;
    co_await c.query("SELECT * FROM " + quoted(t.get<std::string>(0)) + " LIMIT 200");
  }
}

// Named, not a lambda in the extern "C" function: g++ 12 emits a coroutine
// lambda there twice under one symbol.
awaitable<void> open_and_read(faultscope::run_context&) {
  auto body = [](sq::connection& c) -> awaitable<void> {
    co_await read_everything(c);
  };
  try {
    co_await faultscope::async_with(sq::connect(database_path()), body);
  } catch (const sq::error&) {
    // A corrupt file is reported as an error: what the adapter promises.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = database_path();
  remove_database(path);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  faultscope::run_options options;
  options.wall_limit = std::chrono::seconds(20);
  auto r = faultscope::run(open_and_read, options);
  if (!r.passed()) {
    std::fprintf(stderr, "%s\n", r.describe().c_str());
    FUZZ_CHECK(false, "a corrupt database file leaves the run clean");
  }
  return 0;
}
